/**
 * Reference §2.16 "Injected bad packets": the same defects injected as raw frames on the link against
 * a BACKUP router. Each is counted and logged once with keepalived's (HEAD) text, and none changes state:
 * the backup still takes over at exactly 3.609375 s. The 2.2.7 texts observed are in the comments
 * (HEAD adds "from X" and words the version check differently).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { Address, Advert, Datagram, Frame, type Validation } from "../../src/index.ts"
import { Link, node, transitionAt } from "../helpers/Link.ts"

interface Defect {
  readonly name: string
  readonly instance: "V2_plain" | "V2_pass" | "V3_inst"
  readonly mutate?: (ip: Uint8Array) => void
  readonly advert?: Partial<Advert.AdvertInput>
  readonly fixChecksum?: boolean
  readonly length?: number
  readonly text: string | undefined
  readonly counter?: keyof Validation.Counters
  /** How often the text is logged for three copies (1: rate limited per cause). */
  readonly times?: number
}

const defects: ReadonlyArray<Defect> = [
  // 2.2.7: "(V2_plain) invalid TTL/HL. Received 64 and expect 255"
  {
    name: "TTL 64",
    instance: "V2_plain",
    mutate: (b) => (b[8] = 64),
    text: "(V2_plain) invalid TTL/HL from 10.9.0.1. Received 64 and expect 255",
    counter: "ipTtlErr"
  },
  // 2.2.7: "(V2_plain) vrrp packet too long, length 40 and expect 32" (no auth bytes expected for version 1)
  {
    name: "version 1",
    instance: "V2_plain",
    mutate: (b) => (b[20] = 0x11),
    fixChecksum: true,
    text: "(V2_plain) vrrp packet from 10.9.0.1 too long, length 40 and expect 32",
    counter: "packetLenErr"
  },
  // 2.2.7: "(V2_plain) Invalid packet type. 2 and expect 1"
  {
    name: "type 2",
    instance: "V2_plain",
    mutate: (b) => (b[20] = 0x22),
    fixChecksum: true,
    text: "(V2_plain) Invalid packet type from 10.9.0.1. 2 and expect 1",
    counter: "invalidTypeRcvd"
  },
  // 2.2.7: "(V2_plain) Invalid VRRPv2 checksum"
  {
    name: "bad checksum",
    instance: "V2_plain",
    mutate: (b) => (b[26] = b[26]! ^ 0x40),
    text: "(V2_plain) Invalid VRRPv2 checksum from 10.9.0.1",
    counter: "chkErr"
  },
  // 2.2.7 and HEAD (log_unknown_vrids): "Unknown VRID(99) received on interface(vB). ignoring..." — a
  // dispatcher message with no instance, so not under the per-instance rate limit: logged each time.
  {
    name: "VRID 99",
    instance: "V2_plain",
    advert: { vrid: 99 },
    text: "Unknown VRID(99) received on interface(B). ignoring...",
    times: 3
  },
  // 2.2.7: "(V2_plain) advertisement interval mismatch mine=1 sec rcv'd=3 sec"
  {
    name: "interval 3 s",
    instance: "V2_plain",
    advert: { interval: 300 },
    text: "(V2_plain) advertisement interval mismatch with 10.9.0.1 mine=1 sec rcv'd=3 sec",
    counter: "dropped"
  },
  // 2.2.7 (rejects): "(V2_plain) received an unexpected ip number count 2, expected 1!"; HEAD logs and accepts —
  // at priority 50 the advert is a lower-priority one for the backup, so it is discarded anyway.
  {
    name: "2 addresses",
    instance: "V2_plain",
    advert: { addresses: ["10.9.0.100", "10.9.0.200"], priority: 50 },
    text: "(V2_plain) expected 1 VIPs but received 2",
    counter: "addrListErr"
  },
  // 2.2.7 (rejects): "(V2_plain) ip address associated with VRID 51 not present in MASTER advert: 10.9.0.100"
  {
    name: "wrong VIP",
    instance: "V2_plain",
    advert: { addresses: ["10.9.0.99"], priority: 50 },
    text: "(V2_plain) ip address associated with VRID 51 not present in advert from 10.9.0.1: 10.9.0.100",
    counter: "addrListErr"
  },
  // 2.2.7: "(V2_pass) received a 0 auth, expecting 1!"
  {
    name: "auth none vs PASS",
    instance: "V2_pass",
    advert: { authType: 0, authData: new Uint8Array(8) },
    text: "(V2_pass) received a 0 auth from 10.9.0.1, expecting 1!",
    counter: "authTypeMismatch"
  },
  // 2.2.7: "(V2_pass) received an invalid passwd!"
  {
    name: "wrong password",
    instance: "V2_pass",
    advert: { authData: Advert.passwordBytes("secret13") },
    text: "(V2_pass) received an invalid passwd from 10.9.0.1!",
    counter: "authFailure"
  },
  // 2.2.7: "(V2_pass) Invalid auth type: 7"
  {
    name: "auth type 7",
    instance: "V2_pass",
    advert: { authType: 7 },
    text: "(V2_pass) Invalid auth type from 10.9.0.1: 7",
    counter: "invalidAuthType"
  },
  // 2.2.7: "(V2_plain) vrrp packet too short, length 36 and expect 40"
  {
    name: "truncated",
    instance: "V2_plain",
    length: 36,
    mutate: (b) => (b[3] = 36),
    text: "(V2_plain) vrrp packet from 10.9.0.1 too short, length 36 and expect 40",
    counter: "packetLenErr"
  },
  // 2.2.7: "(V3_inst) Invalid VRRPv3 checksum" (a v3 advert checksummed without the pseudo-header)
  {
    name: "v3 checksum without pseudo-header",
    instance: "V3_inst",
    mutate: (b) => {
      b[26] = 0
      b[27] = 0
      const c = Advert.computeChecksum(b, 20, 16, 2, { family: "ipv4", source: b, destination: b })
      b[26] = c >>> 8
      b[27] = c & 0xff
    },
    text: "(V3_inst) Invalid VRRPv3 checksum from 10.9.0.1",
    counter: "chkErr"
  }
]

const base: Record<Defect["instance"], Advert.AdvertInput> = {
  V2_plain: { version: 2, vrid: 51, priority: 150, interval: 100, addresses: ["10.9.0.100"] },
  V2_pass: {
    version: 2,
    vrid: 53,
    priority: 150,
    interval: 200,
    authType: 1,
    authData: Advert.passwordBytes("secret12"),
    addresses: ["10.9.0.103"]
  },
  V3_inst: { version: 3, vrid: 52, priority: 150, interval: 50, addresses: ["10.9.0.101", "10.9.0.102"] }
}

const build = (d: Defect): Uint8Array => {
  const ip = new Uint8Array(80)
  const n = Datagram.encodeIpv4(
    { ...base[d.instance], ...d.advert },
    { source: "10.9.0.1", destination: "224.0.0.18", id: 1 },
    ip,
    0
  )
  d.mutate?.(ip)
  if (d.fixChecksum) {
    ip[26] = 0
    ip[27] = 0
    const c = Advert.computeChecksum(ip, 20, n - 20, ip[20]! >>> 4, {
      family: "ipv4",
      source: Address.parseIpv4("10.9.0.1")!,
      destination: Address.parseIpv4("224.0.0.18")!
    })
    ip[26] = c >>> 8
    ip[27] = c & 0xff
  }
  const len = d.length ?? n
  const frame = new Uint8Array(14 + len)
  frame.set(Frame.multicastMac("224.0.0.18"), 0)
  frame.set([0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00], 6)
  frame.set(ip.subarray(0, len), 14)
  return frame
}

describe("injected bad packets (reference §2.16) against a BACKUP router", () => {
  for (const d of defects) {
    it.effect(`${d.name}: counted, logged once, no state change`, () =>
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
            },
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
            }
          ]
        })
        const frame = build(d)
        // Three copies, 100 ms apart, all before any down timer expires.
        for (let i = 0; i < 3; i++) {
          link.inject("E", frame)
          yield* TestClock.adjust(100)
        }
        const e = b.engines.get(d.instance)!
        if (d.counter !== undefined) expect(e.counters[d.counter]).toBe(3)
        if (d.text !== undefined) expect(b.log.filter((l) => l.message === d.text)).toHaveLength(d.times ?? 1)
        expect(e.state).toBe("BACKUP")
        expect(e.masterSource).toBeUndefined()
        yield* TestClock.adjust(10_000)
        // Master_Down_Interval at priority 100 for 1 s, 2 s and 0.5 s (v3) adverts.
        const mdi = { V2_plain: 3609.375, V2_pass: 6609.375, V3_inst: 1804.687 }[d.instance]
        expect(transitionAt(b, d.instance, "MASTER")).toBe(mdi)
      })
    )
  }
})
