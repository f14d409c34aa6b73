import { describe, expect, it } from "@effect/vitest"
import { type Config, HealthChecker } from "@lvs-ts/checkers"
import { Effect } from "effect"
import * as S from "./helpers/servers.ts"

const logs = (events: ReadonlyArray<HealthChecker.Event>) =>
  events.flatMap((e) => (e._tag === "Log" ? [e.message] : []))

describe("HealthChecker against real servers (live clock)", () => {
  it.live("HTTP_GET: all urls must pass, one url per cycle; a failing url brings the checker down", () =>
    Effect.gen(function* () {
      const http = yield* Effect.promise(() => S.httpServer())
      const events: Array<HealthChecker.Event> = []
      let running: Array<HealthChecker.Event> = []
      const rs = (n: number, paths: Array<string>): Config.RealServer => ({
        address: `10.0.0.${n}`,
        port: 80,
        checkers: [
          { type: "HTTP_GET", connectIp: "127.0.0.1", connectPort: http.port, urls: paths.map((path) => ({ path })) }
        ]
      })
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* HealthChecker.make({
            virtualServers: [
              {
                address: "192.0.2.1",
                port: 80,
                protocol: "tcp",
                delayLoop: "40 millis",
                delayBeforeRetry: "40 millis",
                warmup: 0,
                realServers: [rs(1, ["/", "/host"]), rs(2, ["/", "/fail"])]
              }
            ],
            onEvent: (e) => events.push(e),
            log: false
          })
          yield* Effect.sleep("700 millis")
          running = [...events]
        })
      )
      yield* Effect.promise(() => http.close())
      const l = logs(running)
      expect(l).toContain(`Remote Web server [127.0.0.1]:tcp:${http.port} succeed on service.`)
      expect(l).toContain(`HTTP_CHECK on service [127.0.0.1]:tcp:${http.port} failed after 1 retries.`)
      expect(l).toContain("Removing service [10.0.0.2]:tcp:80 from VS [192.0.2.1]:tcp:80")
      expect(l).not.toContain("Removing service [10.0.0.1]:tcp:80 from VS [192.0.2.1]:tcp:80")
      // url cycling: RS 1 alternates "/" and "/host"; once down, RS 2 polls only "/fail"
      const urls1 = http.seen.filter((s) => s.host.startsWith("127.0.0.1")).map((s) => s.url)
      expect(urls1.filter((u) => u === "/host").length).toBeGreaterThan(1)
      const failing = http.seen.map((s) => s.url).filter((u) => u !== "/host")
      expect(failing.lastIndexOf("/")).toBeLessThan(failing.lastIndexOf("/fail"))
      // shutdown removed every destination
      expect(events.at(-1)?._tag).toBe("RemoveDestination")
    })
  )

  it.live("TCP_CHECK: first-ever failure says 'failed.'; log_all_failures adds the per-attempt line", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(() => S.closedTcpPort())
      const events: Array<HealthChecker.Event> = []
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* HealthChecker.make({
            virtualServers: [
              {
                address: "192.0.2.1",
                port: 80,
                protocol: "tcp",
                delayLoop: "1 second",
                warmup: 0,
                realServers: [{ address: "127.0.0.1", port, logAllFailures: true, checkers: [{ type: "TCP_CHECK" }] }]
              }
            ],
            onEvent: (e) => events.push(e),
            log: false
          })
          yield* Effect.sleep("100 millis")
        })
      )
      expect(logs(events).slice(0, 6)).toEqual([
        `Activating healthchecker for service [127.0.0.1]:tcp:${port} for VS [192.0.2.1]:tcp:80`,
        `Adding service [127.0.0.1]:tcp:${port} to VS [192.0.2.1]:tcp:80`,
        "Gained quorum 1+0=1 <= 1 for VS [192.0.2.1]:tcp:80",
        `TCP connection to [127.0.0.1]:tcp:${port} failed.`,
        `TCP_CHECK on service [127.0.0.1]:tcp:${port} failed.`,
        `Removing service [127.0.0.1]:tcp:${port} from VS [192.0.2.1]:tcp:80`
      ])
    })
  )

  it.live("HTTP_GET with alpha: each url's success is logged until a full pass brings the server in", () =>
    Effect.gen(function* () {
      const http = yield* Effect.promise(() => S.httpServer())
      const events: Array<HealthChecker.Event> = []
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* HealthChecker.make({
            virtualServers: [
              {
                address: "192.0.2.1",
                port: 80,
                protocol: "tcp",
                delayLoop: "30 millis",
                warmup: 0,
                alpha: true,
                realServers: [
                  {
                    address: "127.0.0.1",
                    port: http.port,
                    checkers: [{ type: "HTTP_GET", urls: [{ path: "/" }, { path: "/host", regex: "host=" }] }]
                  }
                ]
              }
            ],
            onEvent: (e) => events.push(e),
            log: false
          })
          yield* Effect.sleep("300 millis")
        })
      )
      yield* Effect.promise(() => http.close())
      const label = `[127.0.0.1]:tcp:${http.port}`
      expect(logs(events).slice(1, 5)).toEqual([
        `HTTP status code success to ${label} url(/)`,
        `Regex match success to ${label} url(/host)`,
        `Remote Web server ${label} succeed on service.`,
        `Adding service ${label} to VS [192.0.2.1]:tcp:80`
      ])
    })
  )
})
