import * as fs from "node:fs"
import * as net from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { HealthChecker } from "@lvs-ts/checkers"
import { Effect } from "effect"

const fds = () => fs.readdirSync("/proc/self/fd").length

describe("scale smoke (the 20,000-server run is bench/scale.ts)", () => {
  it.live(
    "400 real servers on 127.1.x.y: all checked repeatedly, none failed, no descriptor left open afterwards",
    () =>
      Effect.gen(function* () {
        const server = net.createServer((s) => {
          s.on("error", () => {})
          s.destroy()
        })
        yield* Effect.promise(() => new Promise<void>((r) => server.listen(0, "0.0.0.0", () => r())))
        const port = (server.address() as net.AddressInfo).port
        const before = fds()
        let failures = 0
        const perServer = new Map<string, number>()
        let maxFds = 0
        yield* Effect.scoped(
          Effect.gen(function* () {
            const hc = yield* HealthChecker.make({
              log: false,
              maxConcurrentChecks: 64,
              onEvent: (e) => {
                if (e._tag !== "CheckResult") return
                if (!e.result.ok) failures++
                perServer.set(e.destination, (perServer.get(e.destination) ?? 0) + 1)
              },
              virtualServers: [
                {
                  address: "192.0.2.1",
                  port: 80,
                  protocol: "tcp",
                  delayLoop: "500 millis",
                  warmup: "500 millis",
                  realServers: Array.from({ length: 400 }, (_, i) => ({
                    address: `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`,
                    port,
                    checkers: [{ type: "TCP_CHECK" as const }]
                  }))
                }
              ]
            })
            for (let i = 0; i < 30; i++) {
              yield* Effect.sleep("100 millis")
              maxFds = Math.max(maxFds, fds())
            }
            const stats = yield* hc.stats
            expect(stats.maxInFlight).toBeLessThanOrEqual(64)
          })
        )
        yield* Effect.sleep("100 millis")
        yield* Effect.promise(() => new Promise<void>((r) => server.close(() => r())))
        expect(failures).toBe(0)
        expect(perServer.size).toBe(400)
        expect(Math.min(...perServer.values())).toBeGreaterThanOrEqual(2)
        // in-flight sockets are bounded by the gate (64 client + accepted server sockets)
        expect(maxFds - before).toBeLessThan(64 * 2 + 16)
        expect(fds()).toBeLessThanOrEqual(before)
      }),
    60_000
  )
})
