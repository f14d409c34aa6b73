import { it as eit } from "@effect/vitest"
import { Config, HealthChecker, Metrics, Probe } from "@lvs-ts/checkers"
import { Effect, Metric } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect, it } from "vitest"

describe("Config default cascade (keepalived check_api.c)", () => {
  const rs = (extra: Partial<Config.RealServer> = {}): Config.RealServer => ({
    address: "10.0.0.2",
    port: 80,
    checkers: [],
    ...extra
  })

  it("per-type defaults", () => {
    const vs: Config.VirtualServer = { realServers: [] }
    const tcp = Config.resolve(vs, rs(), { type: "TCP_CHECK" })
    expect([tcp.retry, tcp.delayBeforeRetryMs, tcp.delayLoopMs, tcp.connectTimeoutMs, tcp.warmupMs]).toEqual([
      1, 1000, 60000, 5000, 60000
    ])
    const http = Config.resolve(vs, rs(), { type: "SSL_GET", urls: [{ path: "/" }] })
    expect([http.retry, http.delayBeforeRetryMs]).toEqual([1, 3000])
    const misc = Config.resolve(vs, rs(), { type: "MISC_CHECK", path: ["/bin/true"] })
    expect(misc.retry).toBe(0)
    const dns = Config.resolve({ realServers: [], delayLoop: "7 seconds" }, rs(), { type: "DNS_CHECK" })
    expect([dns.retry, dns.delayBeforeRetryMs]).toEqual([3, 7000])
  })

  it("virtual_server value is the default for real_server, real_server for the checker", () => {
    const vs: Config.VirtualServer = { realServers: [], retry: 5, delayLoop: "10 seconds", alpha: true }
    const r = Config.resolve(vs, rs({ retry: 4, warmup: 0 }), { type: "TCP_CHECK", retry: 2 })
    expect([r.retry, r.delayLoopMs, r.alpha, r.warmupMs]).toEqual([2, 10000, true, 0])
    expect(Config.resolve(vs, rs({ retry: 4 }), { type: "TCP_CHECK" }).retry).toBe(4)
    expect(Config.resolve(vs, rs(), { type: "MISC_CHECK", path: ["/x"] }).retry).toBe(5)
    const c = Config.resolve(vs, rs(), { type: "TCP_CHECK", connectIp: "10.9.9.9", connectPort: 8080 })
    expect([c.host, c.port]).toEqual(["10.9.9.9", 8080])
  })

  it("validate names the field and value", () => {
    const errors = Config.validate({
      realServers: [
        {
          address: "10.0.0.2",
          port: 80,
          checkers: [
            { type: "HTTP_GET", urls: [{ path: "/", digest: "abc", statusCode: [600, "200-299"], regex: "(" }] },
            { type: "UDP_CHECK", payload: "zz" },
            { type: "TCP_CHECK", connectPort: 70000 }
          ]
        }
      ]
    })
    expect(errors).toContain("digest 'abc' character length should be 32 rather than 3")
    expect(errors).toContain("Invalid HTTP_GET status code '600'")
    expect(errors.some((e) => e.startsWith("Invalid regex '('"))).toBe(true)
    expect(errors).toContain("payload 'zz' is not hex")
    expect(errors).toContain("connect_port '70000' outside range [0, 65535]")
  })
})

describe("latency histograms", () => {
  eit.effect("every attempt is recorded in lvs_checker_latency_ms{type}", () =>
    Effect.gen(function* () {
      yield* HealthChecker.make({
        log: false,
        virtualServers: [
          {
            address: "192.0.2.1",
            port: 80,
            protocol: "tcp",
            delayLoop: "1 second",
            warmup: 0,
            realServers: [
              {
                address: "10.0.0.1",
                port: 80,
                checkers: [
                  {
                    type: "CUSTOM",
                    name: "SLOW",
                    probe: Effect.sleep("250 millis").pipe(Effect.as(Probe.success()))
                  }
                ]
              }
            ]
          }
        ]
      })
      yield* TestClock.adjust("5 seconds")
      const h = yield* Metric.value(Metrics.latency("SLOW"))
      expect(h.count).toBeGreaterThanOrEqual(4)
      expect(h.min).toBe(250)
      expect(h.max).toBe(250)
    })
  )

  eit.effect("HealthChecker.make rejects an invalid configuration with a typed error naming the field", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(
        HealthChecker.make({
          log: false,
          virtualServers: [
            {
              realServers: [
                {
                  address: "10.0.0.1",
                  port: 80,
                  checkers: [{ type: "HTTP_GET", urls: [{ path: "/", digest: "xyz" }] }]
                }
              ]
            }
          ]
        })
      )
      expect(e._tag).toBe("ConfigError")
      expect(e.errors).toEqual(["digest 'xyz' character length should be 32 rather than 3"])
    })
  )
})
