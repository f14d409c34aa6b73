/**
 * One test per received-advert check of reference §2.5, in keepalived's order: the bad frame is built
 * from a valid one with exactly one defect, and the counter and log text are observed.
 */
import { describe, expect, it } from "vitest"
import { Address, Advert, Config, Datagram, Validation } from "../src/index.ts"

const plainInput: Config.Input = {
  name: "V2_plain",
  vrid: 51,
  priority: 100,
  virtualAddresses: ["10.9.0.100"],
  primaryAddress: "10.9.0.2"
}
const plain = Config.make(plainInput).instance
const pass = Config.make({
  name: "V2_pass",
  vrid: 53,
  advertInterval: 2,
  authentication: { type: "PASS", password: "secret12" },
  virtualAddresses: ["10.9.0.103"],
  primaryAddress: "10.9.0.2"
}).instance
const v3Input: Config.Input = {
  name: "V3_inst",
  vrid: 52,
  version: 3,
  advertInterval: 0.5,
  virtualAddresses: ["10.9.0.101", "10.9.0.102"],
  primaryAddress: "10.9.0.2"
}
const v3 = Config.make(v3Input).instance
const uni = Config.make({
  name: "V3_uni",
  vrid: 60,
  version: 3,
  priority: 120,
  virtualAddresses: ["10.9.0.160"],
  unicastPeers: [{ address: "10.9.0.1", minTtl: 250 }],
  unicastSourceIp: "10.9.0.2"
}).instance

interface FrameOptions {
  readonly instance: Config.Instance
  readonly source?: string
  readonly destination?: string
  readonly priority?: number
  readonly interval?: number
  readonly addresses?: ReadonlyArray<string>
  readonly password?: string
  readonly authType?: number
  readonly version?: 2 | 3
  /** Mutates the datagram (IP header at 0, VRRP at 20). */
  readonly mutate?: (b: Uint8Array) => void
  /** Recompute the VRRP checksum after mutating, so only the intended check fails. */
  readonly fixChecksum?: boolean
  readonly length?: number
}

const frame = (o: FrameOptions): Datagram.Received => {
  const vi = o.instance
  const out = new Uint8Array(200)
  const source = o.source ?? "10.9.0.1"
  const destination = o.destination ?? (vi.unicastPeers.length > 0 ? "10.9.0.2" : "224.0.0.18")
  let n = Datagram.encodeIpv4(
    {
      version: o.version ?? vi.version,
      vrid: vi.vrid,
      priority: o.priority ?? 150,
      interval: o.interval ?? vi.advertInterval,
      authType: o.authType ?? vi.authType,
      authData: o.password === undefined ? vi.authData : Advert.passwordBytes(o.password),
      addresses: o.addresses ?? vi.virtualAddresses
    },
    { source, destination, id: 7 },
    out,
    0
  )
  if (o.mutate) o.mutate(out)
  if (o.length !== undefined) n = o.length
  if (o.fixChecksum) {
    const len = (out[2]! << 8) + out[3]! - 20
    const c = Advert.computeChecksum(out, 20, len, (out[20]! >>> 4) as number, {
      family: "ipv4",
      source: Address.parseIpv4(source)!,
      destination: Address.parseIpv4(destination)!
    })
    out[26] = c >>> 8
    out[27] = c & 0xff
  }
  const r = Datagram.decodeIpv4(out, 0, n)
  if ("_tag" in r) throw new Error(r.message)
  return r
}

const backup: Validation.Context = { isBackup: true }

const expectVerdict = (
  vi: Config.Instance,
  received: Datagram.Received,
  tag: "Ok" | "Invalid" | "Drop",
  counter: keyof Validation.Counters | undefined,
  text: string | undefined
) => {
  const v = new Validation.Validator(vi)
  const verdict = v.check(received, backup)
  expect(verdict._tag).toBe(tag)
  if (text !== undefined) expect(verdict.log).toEqual([text])
  if (counter !== undefined) expect(v.counters[counter]).toBe(1)
  // The same defect again is counted but not logged again (RFC 9568 rate limiting).
  const again = v.check(received, backup)
  expect(again._tag).toBe(tag)
  if (text !== undefined) expect(again.log).toEqual([])
  if (counter !== undefined) expect(v.counters[counter]).toBe(2)
  // Cleared flags (entering/leaving MASTER) log it once more.
  v.clearLogFlags()
  if (text !== undefined) expect(v.check(received, backup).log).toEqual([text])
  return v
}

describe("receive validation in keepalived's order (reference §2.5)", () => {
  it("accepts the valid adverts of each kind", () => {
    for (const vi of [plain, pass, v3, uni]) {
      const v = new Validation.Validator(vi)
      const r = v.check(frame({ instance: vi }), backup)
      expect(r._tag).toBe("Ok")
      expect(r.log).toEqual([])
      expect(v.counters.advertRcvd).toBe(1)
    }
  })

  it("runts are reported by the dispatcher with keepalived's text", () => {
    const r = Datagram.decodeIpv4(new Uint8Array(27), 0, 27)
    expect(r).toEqual({ _tag: "Runt", message: "IPv4 VRRP packet too short - 27 bytes" })
    const ah = new Uint8Array(40)
    ah[0] = 0x45
    ah[9] = 51
    expect(Datagram.decodeIpv4(ah, 0, 40)).toEqual({
      _tag: "Runt",
      message: "IPv4 VRRP packet with AH too short - 40 bytes"
    })
  })

  it("1. an AH header without auth_type AH", () => {
    const out = new Uint8Array(80)
    const n = Datagram.encodeIpv4(
      { version: 2, vrid: 51, priority: 150, interval: 100, addresses: ["10.9.0.100"] },
      { source: "10.9.0.1", destination: "224.0.0.18", id: 1 },
      out,
      24
    )
    // Move the IP header in front of a 24-byte AH header.
    out.copyWithin(0, 24, 44)
    out[9] = 51
    out[20] = 112
    const r = Datagram.decodeIpv4(out, 0, n + 24)
    if ("_tag" in r) throw new Error(r.message)
    expectVerdict(
      plain,
      r,
      "Invalid",
      "authTypeMismatch",
      "(V2_plain) Received AH header but auth type not AH from 10.9.0.1"
    )
  })

  it("2. too long / too short against the address count; Ethernet padding tolerated", () => {
    // Count says 2 but one address was sent: 2.2.7 observed "too short, length 36 and expect 40" for a truncated one.
    const short = frame({ instance: plain, length: 36 })
    expectVerdict(
      plain,
      short,
      "Invalid",
      "packetLenErr",
      "(V2_plain) vrrp packet from 10.9.0.1 too short, length 36 and expect 40"
    )
    const long = frame({ instance: v3, length: 50 })
    expectVerdict(
      v3,
      long,
      "Invalid",
      "packetLenErr",
      "(V3_inst) vrrp packet from 10.9.0.1 too long, length 50 and expect 36"
    )
    // A v3 advert with one VIP is 28 bytes: padded to the 46-byte Ethernet minimum it is still fine.
    const one = Config.make({ name: "one", vrid: 9, version: 3, virtualAddresses: ["10.0.0.9"] }).instance
    const padded = frame({ instance: one, length: 46 })
    expect(new Validation.Validator(one).check(padded, backup)._tag).toBe("Ok")
  })

  it("3. TTL must be 255 on multicast", () => {
    const r = frame({ instance: plain, mutate: (b) => (b[8] = 64) })
    expectVerdict(
      plain,
      r,
      "Invalid",
      "ipTtlErr",
      "(V2_plain) invalid TTL/HL from 10.9.0.1. Received 64 and expect 255"
    )
  })

  it("4. version must match", () => {
    // A v3 advert to a v2 instance: the length is computed for the received version (no auth bytes).
    const r = frame({ instance: plain, version: 3 })
    expectVerdict(
      plain,
      r,
      "Invalid",
      "versErr",
      "(V2_plain) wrong VRRP version from 10.9.0.1. Received 3 and expect 2"
    )
  })

  it("6. v2 auth type must be 0..2, equal to ours, and the password must match", () => {
    expectVerdict(
      pass,
      frame({ instance: pass, authType: 7 }),
      "Invalid",
      "invalidAuthType",
      "(V2_pass) Invalid auth type from 10.9.0.1: 7"
    )
    expectVerdict(
      pass,
      frame({ instance: pass, authType: 0, password: "" }),
      "Invalid",
      "authTypeMismatch",
      "(V2_pass) received a 0 auth from 10.9.0.1, expecting 1!"
    )
    expectVerdict(
      pass,
      frame({ instance: pass, password: "secret13" }),
      "Invalid",
      "authFailure",
      "(V2_pass) received an invalid passwd from 10.9.0.1!"
    )
  })

  it("7. v2 interval mismatch is dropped (irrelevant, not invalid)", () => {
    const v = expectVerdict(
      plain,
      frame({ instance: plain, interval: 300 }),
      "Drop",
      "dropped",
      "(V2_plain) advertisement interval mismatch with 10.9.0.1 mine=1 sec rcv'd=3 sec"
    )
    expect(v.counters.advertRcvd).toBe(0)
  })

  it("8. type must be 1", () => {
    const r = frame({ instance: plain, mutate: (b) => (b[20] = 0x22), fixChecksum: true })
    expectVerdict(
      plain,
      r,
      "Invalid",
      "invalidTypeRcvd",
      "(V2_plain) Invalid packet type from 10.9.0.1. 2 and expect 1"
    )
  })

  it("9. IP total length must match", () => {
    const r = frame({ instance: plain, mutate: (b) => (b[3] = 0x2c) })
    expectVerdict(
      plain,
      r,
      "Invalid",
      "packetLenErr",
      "(V2_plain) ip_tot_len mismatch from 10.9.0.1. ip_tot_len 44 and expect 40"
    )
  })

  it("10. v3 interval mismatch is logged once and the advert accepted", () => {
    const v = expectVerdict(
      v3,
      frame({ instance: v3, interval: 100 }),
      "Ok",
      "advertRcvd",
      "(V3_inst) advertisement interval mismatch ours = 50 centi-sec rcv'd=100 centi-sec from 10.9.0.1"
    )
    expect(v.counters.advertRcvd).toBe(3)
  })

  it("11. checksum (v2 plain, v3 with the pseudo-header)", () => {
    expectVerdict(
      plain,
      frame({ instance: plain, mutate: (b) => (b[27] = b[27]! ^ 1) }),
      "Invalid",
      "chkErr",
      "(V2_plain) Invalid VRRPv2 checksum from 10.9.0.1"
    )
    // A v3 advert checksummed without the pseudo-header (v3_checksum_as_v2 senders) is invalid for us by default…
    const asV2 = (b: Uint8Array) => {
      b[26] = 0
      b[27] = 0
      const c = Advert.computeChecksum(b, 20, 16, 2, { family: "ipv4", source: b, destination: b })
      b[26] = c >>> 8
      b[27] = c & 0xff
    }
    expectVerdict(
      v3,
      frame({ instance: v3, mutate: asV2 }),
      "Invalid",
      "chkErr",
      "(V3_inst) Invalid VRRPv3 checksum from 10.9.0.1"
    )
    // …and accepted (not verified at all) with checksumAsV2, as keepalived does.
    const lax = Config.make({ ...v3Input, checksumAsV2: true }).instance
    expect(new Validation.Validator(lax).check(frame({ instance: v3, mutate: asV2 }), backup)._tag).toBe("Ok")
  })

  it("12. multicast-ness of the destination must match the instance's mode", () => {
    expectVerdict(
      plain,
      frame({ instance: plain, destination: "10.9.0.2" }),
      "Invalid",
      undefined,
      "(V2_plain) Expected multicast packet but received unicast packet from 10.9.0.1"
    )
    expectVerdict(
      uni,
      frame({ instance: uni, destination: "224.0.0.18", mutate: (b) => (b[8] = 255) }),
      "Invalid",
      undefined,
      "(V3_uni) Expected unicast packet but received multicast packet from 10.9.0.1"
    )
  })

  it("13. an owner with owner_ignore_adverts drops adverts", () => {
    const owner = Config.make({
      name: "OWN",
      vrid: 51,
      priority: 255,
      ownerIgnoreAdverts: true,
      virtualAddresses: ["10.9.0.100"]
    }).instance
    expectVerdict(
      owner,
      frame({ instance: owner }),
      "Drop",
      "dropped",
      "(OWN) Dropping packet(s) from 10.9.0.1 since we are address owner"
    )
  })

  it("14. VIP count and list differences are logged and counted, the advert accepted (HEAD)", () => {
    const two = frame({ instance: plain, addresses: ["10.9.0.100", "10.9.0.200"] })
    expectVerdict(plain, two, "Ok", "addrListErr", "(V2_plain) expected 1 VIPs but received 2")
    const wrong = frame({ instance: plain, addresses: ["10.9.0.99"] })
    expectVerdict(
      plain,
      wrong,
      "Ok",
      "addrListErr",
      "(V2_plain) ip address associated with VRID 51 not present in advert from 10.9.0.1: 10.9.0.100"
    )
    // keepalived <= 2.3.2 (Debian's 2.2.7) rejects them instead.
    const old = Config.make({ ...plainInput, rejectAddressMismatch: true }).instance
    expect(new Validation.Validator(old).check(wrong, backup)._tag).toBe("Invalid")
    // skip_check_adv_addr skips the list comparison for the same master while BACKUP.
    const skip = Config.make({ ...plainInput, skipCheckAdvAddr: true }).instance
    const v = new Validation.Validator(skip)
    expect(v.check(wrong, { isBackup: true, masterSource: "10.9.0.1" }).log).toEqual([])
  })

  it("15. unicast source must be a peer; peer TTL range", () => {
    expectVerdict(
      uni,
      frame({ instance: uni, source: "10.9.0.7" }),
      "Invalid",
      undefined,
      "(V3_uni) unicast source address 10.9.0.7 not a unicast peer"
    )
    expectVerdict(
      uni,
      frame({ instance: uni, mutate: (b) => (b[8] = 64), fixChecksum: true }),
      "Drop",
      "dropped",
      "(V3_uni) TTL/HL 64 from 10.9.0.1 not in range [250, 255]"
    )
  })

  it("16. priority 0 adverts are counted", () => {
    const v = new Validation.Validator(plain)
    expect(v.check(frame({ instance: plain, priority: 0 }), backup)._tag).toBe("Ok")
    expect(v.counters.priZeroRcvd).toBe(1)
  })

  it("earlier checks win: a frame with several defects is reported for the first in keepalived's order", () => {
    const r = frame({ instance: pass, password: "nope", mutate: (b) => (b[8] = 1) })
    const v = new Validation.Validator(pass)
    expect(v.check(r, backup).log).toEqual(["(V2_pass) invalid TTL/HL from 10.9.0.1. Received 1 and expect 255"])
    expect(v.counters.authFailure).toBe(0)
  })
})
