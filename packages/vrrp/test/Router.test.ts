/**
 * The router end to end over the TAP transport: the first adverts it builds are keepalived's captured
 * frames byte for byte (IP ID 1), unicast, IPv6 with unsolicited NAs, dispatcher rules, interface tracking.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { Address, Advert, Config, Frame, Notify, Router, Transport } from "../src/index.ts"
import { Link, lines, node } from "./helpers/Link.ts"

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")
const clean = (s: string) => s.replace(/[^0-9a-f]/gi, "")

describe("the engine's first adverts are keepalived's captured frames (reference §2.16)", () => {
  it.effect("v2 VRID 51, v2 PASS VRID 53, v3 VRID 52 multicast, v3 VRID 60 unicast", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      yield* node(link, "B", {
        instances: [
          { name: "V2_plain", vrid: 51, primaryAddress: "10.9.0.2", virtualAddresses: ["10.9.0.100"] },
          {
            name: "V2_pass",
            vrid: 53,
            advertInterval: 2,
            authentication: { type: "PASS", password: "secret12" },
            primaryAddress: "10.9.0.2",
            virtualAddresses: ["10.9.0.103"]
          },
          {
            name: "V3_inst",
            vrid: 52,
            version: 3,
            advertInterval: 0.5,
            primaryAddress: "10.9.0.2",
            virtualAddresses: ["10.9.0.101", "10.9.0.102"]
          },
          {
            name: "V3_uni",
            vrid: 60,
            version: 3,
            priority: 120,
            unicastSourceIp: "10.9.0.2",
            unicastPeers: ["10.9.0.1"],
            virtualAddresses: ["10.9.0.160"]
          }
        ]
      })
      yield* TestClock.adjust(10_000)
      const first = (vrid: number) => {
        const a = link.adverts("B").find((x) => x.received.payload[1] === vrid)!
        return link.frames.find((f) => f.at === a.at && f.frame[14 + 20 + 1] === vrid)!.frame
      }
      expect(hex(first(51).subarray(14))).toBe(
        clean("45c0 0028 0001 0000 ff70 d087 0a090002 e0000012 21 33 64 01 00 01 705d 0a090064 0000000000000000")
      )
      expect(hex(first(53).subarray(14))).toBe(
        clean("45c0 0028 0001 0000 ff70 d087 0a090002 e0000012 21 35 64 01 01 02 01d9 0a090067 7365637265743132")
      )
      expect(hex(first(52).subarray(14))).toBe(
        clean("45c0 0024 0001 0000 ff70 d08b 0a090002 e0000012 31 34 64 02 0032 6b1c 0a090065 0a090066")
      )
      expect(hex(first(60).subarray(14))).toBe(
        clean("45c0 0020 0001 0000 ff70 a698 0a090002 0a090001 31 3c 78 01 0064 3724 0a0900a0")
      )
      // Ethernet: multicast adverts go to 01:00:5e:00:00:12 from the virtual router MAC.
      expect(Frame.formatMac(first(51), 0)).toBe("01:00:5e:00:00:12")
      expect(Frame.formatMac(first(51), 6)).toBe("00:00:5e:00:01:33")
    })
  )
})

describe("unicast (reference §2.13)", () => {
  it.effect("adverts go to every peer in turn with a per-destination v3 checksum; peers elect normally", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const uni = (name: string, priority: number, self: string, peers: Array<string>): Config.Input => ({
        name,
        vrid: 60,
        version: 3,
        priority,
        unicastSourceIp: self,
        unicastPeers: peers,
        checkUnicastSrc: true,
        virtualAddresses: ["10.9.0.160"]
      })
      const a = yield* node(link, "A", { instances: [uni("U", 150, "10.9.0.1", ["10.9.0.2", "10.9.0.3"])] })
      const b = yield* node(link, "B", { instances: [uni("U", 100, "10.9.0.2", ["10.9.0.1", "10.9.0.3"])] })
      yield* TestClock.adjust(5000)
      expect(a.state("U")).toBe("MASTER")
      expect(b.state("U")).toBe("BACKUP")
      const sent = link.adverts("A")
      const at = sent[0]!.at
      const burst = sent.filter((x) => x.at === at)
      expect(burst.map((x) => x.received.destination)).toEqual(["10.9.0.2", "10.9.0.3"])
      for (const x of burst) {
        const p = x.received.payload
        const c = Advert.computeChecksum(p, 0, p.length, 3, {
          family: "ipv4",
          source: Address.parseIpv4("10.9.0.1")!,
          destination: Address.parseIpv4(x.received.destination)!
        })
        expect(c).toBe((p[6]! << 8) | p[7]!)
      }
      expect(hex(burst[0]!.received.payload)).not.toBe(hex(burst[1]!.received.payload))
    })
  )
})

describe("IPv6 over TAP (RFC 5798)", () => {
  it.effect("v3/IPv6: election, adverts to ff02::12 from 00:00:5e:00:02:VRID, unsolicited NAs for the VIPs", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const six = (name: string, priority: number, self: string): Config.Input => ({
        name,
        vrid: 7,
        priority,
        primaryAddress: self,
        virtualAddresses: ["fe80::7", "2001:db8::7"]
      })
      const a = yield* node(link, "A", { instances: [six("V6", 200, "fe80::1")] })
      const b = yield* node(link, "B", { instances: [six("V6", 100, "fe80::2")] })
      yield* TestClock.adjust(5000)
      expect(a.engines.get("V6")!.instance.version).toBe(3)
      expect(a.state("V6")).toBe("MASTER")
      expect(b.state("V6")).toBe("BACKUP")
      expect(b.engines.get("V6")!.counters.advertRcvd).toBeGreaterThan(0)
      const adv = link.frames.find((f) => f.port === "A" && f.frame[12] === 0x86 && f.frame[20] === 112)!.frame
      expect(Frame.formatMac(adv, 0)).toBe("33:33:00:00:00:12")
      expect(Frame.formatMac(adv, 6)).toBe("00:00:5e:00:02:07")
      const nas = link.frames.filter((f) => f.port === "A" && f.frame[20] === 58 && f.frame[54] === 136)
      expect(nas).toHaveLength(10)
      // ICMPv6 checksum of the NA verifies (pseudo-header + message folds to 0xffff).
      const na = nas[0]!.frame
      let s = 0
      const words = (o: number, l: number) => {
        for (let i = 0; i < l; i += 2) s += (na[o + i]! << 8) | na[o + i + 1]!
      }
      words(22, 32)
      s += 58 + 32
      words(54, 32)
      while (s > 0xffff) s = (s & 0xffff) + (s >>> 16)
      expect(s).toBe(0xffff)
      expect(Address.format(na, 62, "ipv6")).toBe("fe80::7")
    })
  )
})

describe("dispatcher (reference §2.5 steps 1-4)", () => {
  it.effect("unknown VRIDs are logged only with log_unknown_vrids; FAULT instances ignore adverts", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const b = yield* node(link, "B", {
        instances: [
          {
            name: "V2_plain",
            vrid: 51,
            primaryAddress: "10.9.0.2",
            virtualAddresses: ["10.9.0.100"],
            logUnknownVrids: true
          }
        ]
      })
      yield* node(link, "X", {
        instances: [{ name: "X", vrid: 99, priority: 255, primaryAddress: "10.9.0.9", virtualAddresses: ["10.9.0.99"] }]
      })
      yield* TestClock.adjust(1000)
      expect(lines(b)).toContain("Unknown VRID(99) received on interface(B). ignoring...")
      yield* b.setFault("V2_plain", "test", true)
      const before = b.engines.get("V2_plain")!.counters.advertRcvd
      yield* node(link, "Y", {
        instances: [
          { name: "V2_plain", vrid: 51, priority: 255, primaryAddress: "10.9.0.7", virtualAddresses: ["10.9.0.100"] }
        ]
      })
      yield* TestClock.adjust(3000)
      expect(b.state("V2_plain")).toBe("FAULT")
      expect(b.engines.get("V2_plain")!.counters.advertRcvd).toBe(before)
    })
  )

  it.effect("track_interface: the instance's interface going down forces FAULT, coming up returns to BACKUP", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      let up = true
      const b = yield* node(link, "B", {
        instances: [
          { name: "VI", vrid: 51, interface: "eth9", primaryAddress: "10.9.0.2", virtualAddresses: ["10.9.0.100"] }
        ],
        interfaceUp: () => Effect.sync(() => up)
      })
      yield* TestClock.adjust(5000)
      expect(b.state("VI")).toBe("MASTER")
      up = false
      yield* TestClock.adjust(1000)
      expect(b.state("VI")).toBe("FAULT")
      expect(lines(b)).toContain("(VI) fault reason: interface eth9 down")
      up = true
      yield* TestClock.adjust(1000)
      expect(b.state("VI")).toBe("BACKUP")
    })
  )
})

describe("config completion (reference §2.14, §2.15)", () => {
  it("keepalived's defaults and fix-ups", () => {
    const r = Config.make({
      name: "VI",
      vrid: 1,
      advertInterval: 1.4,
      authentication: { type: "PASS", password: "longpassword" },
      virtualAddresses: ["10.0.0.1"]
    })
    expect(r.instance).toMatchObject({
      version: 2,
      priority: 100,
      advertInterval: 100,
      authType: 1,
      wantedState: "BACKUP"
    })
    expect(r.warnings).toEqual([
      "(VI) advert_int 1.4 must be whole seconds for VRRPv2; rounded to 1",
      "(VI) Truncating auth_pass to 8 characters"
    ])
    expect(Config.make({ name: "O", vrid: 1, state: "MASTER", virtualAddresses: ["10.0.0.1"] }).instance.priority).toBe(
      255
    )
    const owner = Config.make({ name: "O", vrid: 1, priority: 255, nopreempt: true, virtualAddresses: ["10.0.0.1"] })
    expect(owner.instance.nopreempt).toBe(false)
    const strict = Config.make({
      name: "S",
      vrid: 1,
      version: 2,
      strict: true,
      preemptDelay: 5,
      authentication: { type: "PASS", password: "x" },
      virtualAddresses: ["fe80::1"]
    })
    expect(strict.instance).toMatchObject({
      version: 3,
      authType: 0,
      preemptDelay: 0,
      lowerPrioNoAdvert: true,
      ownerIgnoreAdverts: true
    })
    expect(() =>
      Config.make({ name: "A", vrid: 1, authentication: { type: "AH" }, virtualAddresses: ["10.0.0.1"] })
    ).toThrow(/IPsec-AH authentication is not supported/)
    expect(() => Config.make({ name: "A", vrid: 256, virtualAddresses: ["10.0.0.1"] })).toThrow(/virtual_router_id 256/)
    expect(() => Config.make({ name: "A", vrid: 1, virtualAddresses: ["10.0.0.1", "fe80::1"] })).toThrow(/must be ipv4/)
    expect(
      Config.make({ name: "V3", vrid: 1, version: 3, advertInterval: 0.123, virtualAddresses: ["10.0.0.1"] }).instance
        .advertInterval
    ).toBe(12)
  })
})

describe("Router.Vrrp service", () => {
  it.effect("the layer runs a router; closing its scope stops it with a priority-0 advert", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const tap = link.port("B")
      const layer = Router.Vrrp.layer({
        instances: [{ name: "VI", vrid: 51, primaryAddress: "10.9.0.2", virtualAddresses: ["10.9.0.100"] }]
      }).pipe(Layer.provide(Layer.succeed(Transport.Transport, tap.transport)), Layer.provide(Notify.Notifier.layer))
      yield* Effect.scoped(
        Effect.gen(function* () {
          const vrrp = yield* Router.Vrrp
          yield* TestClock.adjust(4000)
          expect(vrrp.state("VI")).toBe("MASTER")
          expect(tap.owned.has("10.9.0.100")).toBe(true)
        }).pipe(Effect.provide(layer))
      )
      expect(link.adverts("B").at(-1)!.priority).toBe(0)
      expect(tap.owned.size).toBe(0)
    })
  )
})

describe("robustness", () => {
  it.effect("a transport that throws is logged and the router keeps running its timers", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const tap = link.port("B")
      let calls = 0
      const broken: Transport.Transport["Service"] = {
        ...tap.transport,
        send: (o) =>
          Effect.suspend(() => {
            calls++
            if (calls === 1) throw new Error("native send exploded")
            return tap.transport.send(o)
          })
      }
      const r = yield* Router.make({
        instances: [{ name: "VI", vrid: 51, primaryAddress: "10.9.0.2", virtualAddresses: ["10.9.0.100"] }]
      }).pipe(Effect.provideService(Transport.Transport, broken), Effect.provide(Notify.Notifier.layer))
      yield* TestClock.adjust(6000)
      expect(r.state("VI")).toBe("MASTER")
      expect(r.log.some((l) => l.level === "error" && l.message.includes("native send exploded"))).toBe(true)
      expect(link.adverts("B").length).toBeGreaterThanOrEqual(2)
    })
  )

  it("configuration addresses must match the instance's family", () => {
    expect(() =>
      Config.make({ name: "V", vrid: 1, primaryAddress: "fe80::1", virtualAddresses: ["10.0.0.1"] })
    ).toThrow(/primary address "fe80::1": must be an ipv4 address/)
  })
})

describe("vrrp_startup_delay", () => {
  it.effect("instances stay in INIT, send nothing and ignore adverts until the delay expires", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      yield* node(link, "M", {
        instances: [
          { name: "VI", vrid: 51, priority: 255, primaryAddress: "10.9.0.9", virtualAddresses: ["10.9.0.100"] }
        ]
      })
      const b = yield* node(link, "B", {
        startupDelay: 5,
        instances: [{ name: "VI", vrid: 51, primaryAddress: "10.9.0.2", virtualAddresses: ["10.9.0.100"] }]
      })
      expect(b.state("VI")).toBe("INIT")
      yield* TestClock.adjust(4999)
      expect(b.state("VI")).toBe("INIT")
      expect(b.engines.get("VI")!.counters.advertRcvd).toBe(0)
      expect(link.adverts("B")).toEqual([])
      yield* TestClock.adjust(1)
      expect(b.state("VI")).toBe("BACKUP")
      yield* TestClock.adjust(1000)
      expect(b.engines.get("VI")!.counters.advertRcvd).toBeGreaterThanOrEqual(1)
      expect(b.state("VI")).toBe("BACKUP")
    })
  )
})
