/**
 * Property tests of the pure engine: hostile input never changes state, and whatever happens the
 * address actions stay consistent with the state (VIPs owned exactly while MASTER).
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Config, Datagram, Engine } from "../src/index.ts"

const instance = Config.make({
  name: "VI",
  vrid: 51,
  priority: 100,
  primaryAddress: "10.9.0.2",
  authentication: { type: "PASS", password: "secret12" },
  virtualAddresses: ["10.9.0.100"]
}).instance

const advert = (priority: number, source = "10.9.0.1", password = "secret12"): Uint8Array => {
  const out = new Uint8Array(64)
  const n = Datagram.encodeIpv4(
    {
      version: 2,
      vrid: 51,
      priority,
      interval: 100,
      authType: 1,
      authData: new TextEncoder().encode(password.padEnd(8, "\0")),
      addresses: ["10.9.0.100"]
    },
    { source, destination: "224.0.0.18", id: 1 },
    out,
    0
  )
  return out.slice(0, n)
}

const received = (bytes: Uint8Array): Datagram.Received | undefined => {
  const r = Datagram.decodeIpv4(bytes, 0, bytes.length)
  return "_tag" in r ? undefined : r
}

describe("Engine properties", () => {
  it("a corrupted advert (any byte changed, or truncated/extended) never changes state or timers", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 255 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: -8, max: 8 }),
        fc.boolean(),
        (priority, flips, resize, asMaster) => {
          const e = new Engine.Engine(instance)
          e.start(0)
          if (asMaster) e.tick(10_000_000)
          const bytes = advert(priority)
          for (const [at, x] of flips) {
            // Only the VRRP message and the IP fields the validator reads (TTL, total length, addresses).
            const targets = [8, 2, 3, 12, 13, 14, 15, 16, 17, 18, 19, ...Array.from({ length: 20 }, (_, i) => 20 + i)]
            const i = targets[at % targets.length]!
            bytes[i] = bytes[i]! ^ x
          }
          const sized =
            resize >= 0 ? Uint8Array.from([...bytes, ...new Array(resize).fill(0)]) : bytes.slice(0, 40 + resize)
          const r = received(sized)
          if (r === undefined) return
          const before = { state: e.state, deadline: e.nextDeadline(), prio: e.priority, master: e.masterSource }
          const rcvd = e.counters.advertRcvd
          const actions = e.receive(r, 10_500_000)
          if (e.counters.advertRcvd === rcvd) {
            expect({ state: e.state, deadline: e.nextDeadline(), prio: e.priority, master: e.masterSource }).toEqual(
              before
            )
            expect(actions.every((a) => a._tag === "Log")).toBe(true)
          }
        }
      ),
      { numRuns: 2000 }
    )
  })

  it("VIPs are added exactly on entering MASTER and removed exactly on leaving it, whatever the events", () => {
    const event = fc.oneof(
      fc.record({ kind: fc.constant("advert" as const), prio: fc.integer({ min: 0, max: 255 }), good: fc.boolean() }),
      fc.record({ kind: fc.constant("time" as const), us: fc.integer({ min: 1, max: 5_000_000 }) }),
      fc.record({ kind: fc.constant("fault" as const), on: fc.boolean() }),
      fc.record({ kind: fc.constant("adjust" as const), by: fc.integer({ min: -300, max: 300 }) })
    )
    fc.assert(
      fc.property(fc.array(event, { maxLength: 60 }), fc.boolean(), (events, stopAtEnd) => {
        const e = new Engine.Engine(instance)
        let now = 0
        let owned = false
        const apply = (actions: ReadonlyArray<Engine.Action>) => {
          for (const a of actions) {
            if (a._tag === "AddAddresses") {
              expect(owned).toBe(false)
              owned = true
            }
            if (a._tag === "RemoveAddresses") {
              expect(owned).toBe(true)
              owned = false
            }
          }
          expect(owned).toBe(e.state === "MASTER")
          expect(e.priority).toBeGreaterThanOrEqual(1)
          expect(e.priority).toBeLessThanOrEqual(254)
        }
        apply(e.start(now))
        for (const ev of events) {
          if (ev.kind === "advert") {
            const r = received(advert(ev.prio, "10.9.0.1", ev.good ? "secret12" : "badpass1"))!
            apply(e.receive(r, now))
          } else if (ev.kind === "time") {
            now += ev.us
            while ((e.nextDeadline() ?? Number.POSITIVE_INFINITY) <= now) apply(e.tick(e.nextDeadline()!))
            apply(e.tick(now))
          } else if (ev.kind === "fault") apply(e.setFault("x", ev.on, now))
          else apply(e.setAdjustment(ev.by, now))
        }
        if (stopAtEnd) {
          apply(e.stop(now))
          expect(owned).toBe(false)
        }
      }),
      { numRuns: 500 }
    )
  })
})
