import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import { describe, expect, it } from "@effect/vitest"
import { HealthChecker } from "@lvs-ts/checkers"
import { Effect } from "effect"
import { TestClock } from "effect/testing"

/** Real time passes (the engine's worker threads answer in real time) while the TestClock stands still. */
const realPause = (ms: number) => Effect.promise(() => new Promise<void>((r) => setTimeout(r, ms)))

/** Let real time pass until no attempt is in flight (robust on a loaded machine), then let the fibers run. */
const settle = (hc: HealthChecker.Service) =>
  Effect.gen(function* () {
    for (let i = 0; i < 400 && (yield* hc.stats).inFlight > 0; i++) yield* realPause(5)
    yield* realPause(10)
  })

const listen = (server: net.Server, port: number) =>
  Effect.promise(() => new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r())))
const close = (server: net.Server) => Effect.promise(() => new Promise<void>((r) => server.close(() => r())))

describe("engine-driven TCP_CHECK under TestClock", () => {
  it.effect(
    "keepalived's schedule with real connects: first result, retries while up, delay_loop while down",
    () =>
      Effect.gen(function* () {
        const server = net.createServer((s) => s.destroy())
        yield* listen(server, 0)
        const port = (server.address() as net.AddressInfo).port
        const events: Array<HealthChecker.Event> = []
        yield* Effect.scoped(
          Effect.gen(function* () {
            const hc = yield* HealthChecker.make({
              tcpEngine: "engine",
              log: false,
              onEvent: (e) => events.push(e),
              virtualServers: [
                {
                  address: "192.0.2.1",
                  port: 80,
                  protocol: "tcp",
                  delayLoop: "10 seconds",
                  retry: 2,
                  delayBeforeRetry: "1 second",
                  warmup: 0,
                  connectTimeout: "3 seconds",
                  realServers: [{ address: "127.0.0.1", port, checkers: [{ type: "TCP_CHECK" }] }]
                }
              ]
            })
            // Server up for t < 5 s, down (refused) from 5 s, up again from 27 s; 45 virtual seconds in 1 s steps.
            yield* realPause(100)
            for (let t = 1; t <= 45; t++) {
              if (t === 5) yield* close(server)
              if (t === 27) yield* listen(server, port)
              yield* TestClock.adjust("1 second")
              yield* settle(hc)
            }
          })
        )
        yield* close(server)
        const results = events.flatMap((e) => (e._tag === "CheckResult" ? [e] : []))
        const t0 = results[0]!.startedAt
        expect(results.map((r) => [(r.startedAt - t0) / 1000, r.result.ok])).toEqual([
          [0, true],
          [10, false], // retry 1
          [11, false], // retry 2
          [12, false], // retries exhausted -> down
          [22, false], // down: delay_loop
          [32, true], // up again
          [42, true]
        ])
        const logs = events.flatMap((e) => (e._tag === "Log" ? [e.message] : []))
        expect(logs).toEqual([
          `Activating healthchecker for service [127.0.0.1]:tcp:${port} for VS [192.0.2.1]:tcp:80`,
          `Adding service [127.0.0.1]:tcp:${port} to VS [192.0.2.1]:tcp:80`,
          "Gained quorum 1+0=1 <= 1 for VS [192.0.2.1]:tcp:80",
          `TCP connection to [127.0.0.1]:tcp:${port} success.`,
          `TCP_CHECK on service [127.0.0.1]:tcp:${port} failed after 2 retries.`,
          `Removing service [127.0.0.1]:tcp:${port} from VS [192.0.2.1]:tcp:80`,
          "Lost quorum 1-0=1 > 0 for VS [192.0.2.1]:tcp:80",
          `TCP connection to [127.0.0.1]:tcp:${port} success.`,
          `Adding service [127.0.0.1]:tcp:${port} to VS [192.0.2.1]:tcp:80`,
          "Gained quorum 1+0=1 <= 1 for VS [192.0.2.1]:tcp:80",
          // shutdown (Pool.stop)
          `Removing service [127.0.0.1]:tcp:${port} from VS [192.0.2.1]:tcp:80`
        ])
      }),
    30_000
  )

  it.effect(
    "suspend stops a server's engine-driven checks",
    () =>
      Effect.gen(function* () {
        const server = net.createServer((s) => s.destroy())
        yield* listen(server, 0)
        const port = (server.address() as net.AddressInfo).port
        let checks = 0
        yield* Effect.scoped(
          Effect.gen(function* () {
            const hc = yield* HealthChecker.make({
              log: false,
              onEvent: (e) => {
                if (e._tag === "CheckResult") checks++
              },
              virtualServers: [
                {
                  address: "192.0.2.1",
                  port: 80,
                  protocol: "tcp",
                  delayLoop: "1 second",
                  warmup: 0,
                  realServers: [{ address: "127.0.0.1", port, checkers: [{ type: "TCP_CHECK" }] }]
                }
              ]
            })
            for (let t = 0; t < 3; t++) {
              yield* TestClock.adjust("1 second")
              yield* settle(hc)
            }
            expect(checks).toBeGreaterThanOrEqual(3)
            yield* hc.suspend("[192.0.2.1]:tcp:80", `[127.0.0.1]:tcp:${port}`)
            const after = checks
            for (let t = 0; t < 3; t++) {
              yield* TestClock.adjust("1 second")
              yield* settle(hc)
            }
            expect(checks).toBe(after)
            expect((yield* hc.stats).inFlight).toBe(0)
          })
        )
        yield* close(server)
      }),
    30_000
  )
})

describe("checker_priority", () => {
  /** Nice value per thread of this process (Linux /proc). */
  const niceByThread = () =>
    fs.readdirSync("/proc/self/task").map((tid) => {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, "utf8")
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16])
    })

  it.live("sets the checker thread's and the engine threads' nice value, and restores the checker's", () =>
    Effect.gen(function* () {
      const before = os.getPriority(0)
      const target = Math.min(19, before + 3)
      const during = yield* Effect.scoped(
        Effect.gen(function* () {
          yield* HealthChecker.make({
            log: false,
            priority: target,
            virtualServers: [
              {
                address: "192.0.2.1",
                port: 80,
                protocol: "tcp",
                delayLoop: "1 second",
                realServers: [{ address: "127.0.0.1", port: 9, checkers: [{ type: "TCP_CHECK" }] }]
              }
            ]
          })
          return { main: os.getPriority(0), threads: niceByThread() }
        })
      )
      expect(during.main).toBe(target)
      // the main thread plus the two engine threads
      expect(during.threads.filter((n) => n === target).length).toBeGreaterThanOrEqual(3)
      expect(os.getPriority(0)).toBe(before)
    })
  )
})
