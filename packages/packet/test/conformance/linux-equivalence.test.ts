/**
 * The library's builders against Linux (and keepalived) itself: for each reply Linux sent in the golden captures (ARP, neighbour
 * advertisement, echo replies, ICMP errors, TCP RST), the library builds the reply to the same captured request and
 * the two frames must be byte for byte equal, except for fields Linux fills from per-host state (the IPv4
 * identification, the IPv6 flow label) and the checksums that cover them, which are verified instead.
 *
 * Replies that came from B crossed router R (TTL/hop limit - 1, MACs rewritten): the library's frame gets the same
 * DR-style rewrite (Ethernet.rewrite + Ipv4.decrementTtl / Ipv6.decrementHopLimit) before the comparison.
 */
import {
  Address,
  Arp,
  Checksum,
  Ethernet,
  Icmp,
  Icmpv6,
  Ipv4,
  Ipv6,
  Ndp,
  PacketParser,
  ParseResult,
  Tcp
} from "@lvs-ts/packet"
import { describe, expect, it } from "vitest"
import { loadFixture } from "./fixtures.ts"

const MAC_A = Address.parseMac("02:00:0a:c9:01:02")
const MAC_R0 = Address.parseMac("02:00:0a:c9:01:01")
const R4 = Address.parseIpv4("10.201.1.1")
const A4 = Address.parseIpv4("10.201.1.2")
const B4 = Address.parseIpv4("10.201.2.2")
const R6 = Address.parseIpv6("fd00:201:1::1")
const A6 = Address.parseIpv6("fd00:201:1::2")
const B6 = Address.parseIpv6("fd00:201:2::2")

const frame = (name: string, index: number): Uint8Array => loadFixture(name).pcap.records[index]!.data

const parsed = (b: Uint8Array): PacketParser => {
  const p = new PacketParser()
  expect(p.parse(b, 0, b.length)).toBe(ParseResult.Ok)
  return p
}

/** Byte ranges (absolute, [from, to)) that may differ, each with a reason. */
type Mask = ReadonlyArray<readonly [number, number, string]>

const IPV4_ID_AND_CHECKSUM = (l3: number): Mask => [
  [l3 + Ipv4.IDENTIFICATION, l3 + Ipv4.IDENTIFICATION + 2, "IPv4 identification (per-host counter)"],
  [l3 + Ipv4.CHECKSUM, l3 + Ipv4.CHECKSUM + 2, "IPv4 header checksum (covers the identification)"]
]

/**
 * Compares our frame with Linux's. Returns a readable list of differing fields outside the mask; the masked
 * checksums are checked by the caller.
 */
const differences = (ours: Uint8Array, linux: Uint8Array, mask: Mask): ReadonlyArray<string> => {
  const out: Array<string> = []
  if (ours.length !== linux.length) out.push(`length ${ours.length} != Linux ${linux.length}`)
  const n = Math.min(ours.length, linux.length)
  for (let i = 0; i < n; i++) {
    if (ours[i] === linux[i]) continue
    if (mask.some(([from, to]) => i >= from && i < to)) continue
    out.push(`byte ${i}: 0x${ours[i]!.toString(16)} != Linux 0x${linux[i]!.toString(16)}`)
  }
  return out
}

/** What router R did to a packet from B before it reached A's interface. */
/** What B received: A's packet after R decremented its TTL / hop limit (B quotes that in its errors). */
const receivedByB = (captured: Uint8Array): Uint8Array => {
  const b = captured.slice()
  const p = parsed(b)
  if (p.ipVersion === 4) expect(Ipv4.decrementTtl(b, p.l3Offset)).toBe(true)
  else expect(Ipv6.decrementHopLimit(b, p.l3Offset)).toBe(true)
  return b
}

const forwardedByR = (b: Uint8Array, p: PacketParser) => {
  Ethernet.rewrite(b, 0, MAC_A, MAC_R0)
  if (p.ipVersion === 4) expect(Ipv4.decrementTtl(b, p.l3Offset)).toBe(true)
  else expect(Ipv6.decrementHopLimit(b, p.l3Offset)).toBe(true)
}

describe("builders produce what Linux produced for the same request", () => {
  it("ARP request (A asks for R) and ARP reply (R answers)", () => {
    const out = new Uint8Array(64)
    let n = Arp.writeRequest(out, 0, MAC_A, A4, R4)
    expect(differences(out.subarray(0, n), frame("arp-ping4", 0), [])).toEqual([])
    n = Arp.writeReply(out, 0, MAC_R0, R4, MAC_A, A4)
    expect(differences(out.subarray(0, n), frame("arp-ping4", 1), [])).toEqual([])
  })

  it("solicited neighbour advertisement (R answers A's solicitation)", () => {
    const linux = frame("nd-ping6", 1)
    const out = new Uint8Array(128)
    const flags = Ndp.Flag.Router | Ndp.Flag.Solicited | Ndp.Flag.Override
    const n = Ndp.writeAdvertisement(out, 0, MAC_R0, R6, 0, MAC_A, A6, 0, R6, 0, flags)
    expect(differences(out.subarray(0, n), linux, [])).toEqual([])
  })

  it("ICMP echo reply (R answers A's ping)", () => {
    const request = frame("arp-ping4", 2)
    const linux = frame("arp-ping4", 3)
    const out = new Uint8Array(256)
    const n = Icmp.writeEchoReply(out, 0, request, parsed(request))
    const ours = out.subarray(0, n)
    expect(differences(ours, linux, IPV4_ID_AND_CHECKSUM(14))).toEqual([])
    expect(Ipv4.isChecksumValid(ours, 14)).toBe(true)
  })

  it("ICMPv6 echo reply (R answers A's ping)", () => {
    const request = frame("nd-ping6", 2)
    const linux = frame("nd-ping6", 3)
    const out = new Uint8Array(256)
    const n = Icmpv6.writeEchoReply(out, 0, request, parsed(request))
    const ours = out.subarray(0, n)
    const flow: Mask = [[14 + 1, 14 + 4, "IPv6 flow label (Linux hashes the flow)"]]
    expect(differences(ours, linux, flow)).toEqual([])
  })

  it("ICMP echo reply with a Timestamp option (R records itself on the way in and out, as Linux did)", () => {
    const request = frame("ipv4-options", 2)
    const linux = frame("ipv4-options", 3)
    // Linux's timestamp (ms since midnight UT) is taken from its reply; every other byte must be ours.
    const l3 = 14
    const tsOption = Ipv4.findOption(linux, l3, 68)
    const timestamp = (linux[tsOption + 16]! << 24) | (linux[tsOption + 17]! << 16) | (linux[tsOption + 18]! << 8)
    const out = new Uint8Array(256)
    const n = Icmp.writeEchoReply(out, 0, request, parsed(request), (timestamp | linux[tsOption + 19]!) >>> 0)
    const ours = out.subarray(0, n)
    expect(differences(ours, linux, IPV4_ID_AND_CHECKSUM(l3))).toEqual([])
    expect(Ipv4.isChecksumValid(ours, l3)).toBe(true)
  })

  it("ICMP echo reply with a Record Route option (B records itself twice; R on both ways)", () => {
    const l3 = 14
    const recordRoute = (b: Uint8Array, address: number) => {
      const o = Ipv4.findOption(b, l3, 7)
      const ptr = b[o + 2]!
      b[o + ptr - 1] = address >>> 24
      b[o + ptr] = (address >>> 16) & 0xff
      b[o + ptr + 1] = (address >>> 8) & 0xff
      b[o + ptr + 2] = address & 0xff
      b[o + 2] = ptr + 4
      b[l3 + Ipv4.CHECKSUM] = 0
      b[l3 + Ipv4.CHECKSUM + 1] = 0
      const c = Checksum.compute(b, l3, Ipv4.headerLength(b, l3))
      b[l3 + Ipv4.CHECKSUM] = c >>> 8
      b[l3 + Ipv4.CHECKSUM + 1] = c & 0xff
    }
    // R forwarded A's request out of its 10.201.2.1 interface, recording that address.
    const request = receivedByB(frame("ipv4-options", 0))
    recordRoute(request, Address.parseIpv4("10.201.2.1"))
    const linux = frame("ipv4-options", 1)
    const out = new Uint8Array(256)
    const n = Icmp.writeEchoReply(out, 0, request, parsed(request))
    const ours = out.slice(0, n)
    forwardedByR(ours, parsed(ours))
    recordRoute(ours, R4)
    expect(differences(ours, linux, IPV4_ID_AND_CHECKSUM(l3))).toEqual([])
    expect(Ipv4.isChecksumValid(ours, l3)).toBe(true)
  })

  it("ICMP port unreachable (B answers A's datagram to a closed port; R forwards it)", () => {
    const request = receivedByB(frame("icmp-port-unreachable", 0))
    const linux = frame("icmp-port-unreachable", 1)
    const out = new Uint8Array(1024)
    const p = parsed(request)
    const n = Icmp.writePortUnreachable(out, 0, request, p, B4)
    const ours = out.slice(0, n)
    forwardedByR(ours, parsed(ours))
    expect(differences(ours, linux, IPV4_ID_AND_CHECKSUM(14))).toEqual([])
    expect(Ipv4.isChecksumValid(ours, 14)).toBe(true)
    expect(Icmp.isChecksumValid(ours, 34, n - 34)).toBe(true)
  })

  it("ICMPv6 port unreachable (B answers A's datagram; R forwards it)", () => {
    const request = receivedByB(frame("icmp-port-unreachable", 2))
    const linux = frame("icmp-port-unreachable", 3)
    const out = new Uint8Array(1500)
    const n = Icmpv6.writePortUnreachable(out, 0, request, parsed(request), B6, 0)
    const ours = out.slice(0, n)
    forwardedByR(ours, parsed(ours))
    const flow: Mask = [[14 + 1, 14 + 4, "IPv6 flow label"]]
    expect(differences(ours, linux, flow)).toEqual([])
  })

  it("ICMP fragmentation needed with the next-hop MTU (R, for a DF packet over its 1280-byte link)", () => {
    const request = frame("icmp-errors", 0)
    const linux = frame("icmp-errors", 1)
    const out = new Uint8Array(1024)
    const n = Icmp.writeFragmentationNeeded(out, 0, request, parsed(request), 1280, R4)
    const ours = out.subarray(0, n)
    expect(differences(ours, linux, IPV4_ID_AND_CHECKSUM(14))).toEqual([])
    expect(Ipv4.isChecksumValid(ours, 14)).toBe(true)
  })

  it("ICMPv6 packet too big (R)", () => {
    const request = frame("icmp-errors", 2)
    const linux = frame("icmp-errors", 3)
    const out = new Uint8Array(1500)
    const n = Icmpv6.writePacketTooBig(out, 0, request, parsed(request), 1280, R6, 0)
    const flow: Mask = [[14 + 1, 14 + 4, "IPv6 flow label"]]
    expect(differences(out.subarray(0, n), linux, flow)).toEqual([])
  })

  it("ICMP time exceeded (R, for TTL 1)", () => {
    const request = frame("icmp-errors", 4)
    const linux = frame("icmp-errors", 5)
    const out = new Uint8Array(1024)
    const n = Icmp.writeTimeExceeded(out, 0, request, parsed(request), R4)
    expect(differences(out.subarray(0, n), linux, IPV4_ID_AND_CHECKSUM(14))).toEqual([])
  })

  it("time exceeded about fragments: the IPv4 first fragment, and every IPv6 fragment (R)", () => {
    const out = new Uint8Array(1500)
    for (const [req, rep] of [
      [8, 9],
      [12, 13],
      [14, 15],
      [16, 17]
    ] as const) {
      const request = frame("icmp-errors", req)
      const linux = frame("icmp-errors", rep)
      const p = parsed(request)
      const n =
        p.ipVersion === 4
          ? Icmp.writeTimeExceeded(out, 0, request, p, R4)
          : Icmpv6.writeTimeExceeded(out, 0, request, p, R6, 0)
      const mask: Mask = p.ipVersion === 4 ? IPV4_ID_AND_CHECKSUM(14) : [[14 + 1, 14 + 4, "IPv6 flow label"]]
      expect(differences(out.subarray(0, n), linux, mask), `icmp-errors#${rep}`).toEqual([])
    }
  })

  it("ICMPv6 time exceeded (R, for hop limit 1)", () => {
    const request = frame("icmp-errors", 6)
    const linux = frame("icmp-errors", 7)
    const out = new Uint8Array(1500)
    const n = Icmpv6.writeTimeExceeded(out, 0, request, parsed(request), R6, 0)
    const flow: Mask = [[14 + 1, 14 + 4, "IPv6 flow label"]]
    expect(differences(out.subarray(0, n), linux, flow)).toEqual([])
  })

  it("TCP RST for a SYN, a PSH-ACK with data, a bare FIN and a bare ACK to a closed port, IPv4 and IPv6", () => {
    // Requests and B's RSTs alternate in tcp-rst.pcap (B answers; R forwards it).
    const count = loadFixture("tcp-rst").pcap.records.length
    expect(count).toBe(16)
    for (let req = 0; req < count; req += 2) {
      const rep = req + 1
      const request = receivedByB(frame("tcp-rst", req))
      const linux = frame("tcp-rst", rep)
      const out = new Uint8Array(256)
      const n = Tcp.writeReset(out, 0, request, parsed(request))
      const ours = out.slice(0, n)
      const p = parsed(ours)
      forwardedByR(ours, p)
      const mask: Mask = p.ipVersion === 4 ? IPV4_ID_AND_CHECKSUM(14) : [[14 + 1, 14 + 4, "IPv6 flow label"]]
      expect(differences(ours, linux, mask), `tcp-rst#${rep}`).toEqual([])
      expect(Tcp.isChecksumValid(ours, 14, p.l4Offset, p.l4Length)).toBe(true)
    }
  })

  it("gratuitous ARP and unsolicited neighbour advertisement, as keepalived sends them on becoming MASTER", () => {
    const fx = loadFixture("keepalived-garp")
    const vip4 = Address.parseIpv4("10.201.1.100")
    const vip6 = Address.parseIpv6("fd00:201:1::100")
    const out = new Uint8Array(128)
    let arp = 0
    let na = 0
    for (const r of fx.pcap.records) {
      const p = parsed(r.data)
      if (p.etherType === Ethernet.EtherType.Arp) {
        const n = Arp.writeGratuitous(out, 0, MAC_A, vip4)
        expect(differences(out.subarray(0, n), r.data, []), `keepalived-garp#${r.index}`).toEqual([])
        arp++
      } else {
        // keepalived sends the advertisement from the VIP itself (not the link-local address), router flag clear.
        const n = Ndp.writeUnsolicitedAdvertisement(out, 0, MAC_A, vip6, 0, vip6, 0, false)
        expect(differences(out.subarray(0, n), r.data, []), `keepalived-garp#${r.index}`).toEqual([])
        na++
      }
    }
    expect(arp).toBeGreaterThan(0)
    expect(na).toBeGreaterThan(0)
  })

  it("Icmp/Icmpv6.mayReplyWithError decide as router R did for every packet it had to drop", () => {
    // Every packet A sent in icmp-errors.pcap died at R (too big for the 1280-byte link, or TTL/hop limit 1),
    // including the fragments of a 3000-byte echo with TTL 1. R answered some with an ICMP error and not others.
    const fx = loadFixture("icmp-errors")
    const frames = fx.pcap.records.map((r) => r.data)
    const fromA = frames.filter((f) => Address.formatMac(f, 6) === "02:00:0a:c9:01:02")
    const errors = frames.filter((f) => Address.formatMac(f, 6) === "02:00:0a:c9:01:01")
    const quoteOf = (f: Uint8Array) => {
      const p = parsed(f)
      return f.subarray(p.innerL3Offset, p.l3End)
    }
    const decisions = fromA.map((request) => {
      const p = parsed(request)
      const ip = request.subarray(p.l3Offset, p.l3End)
      const answer = errors.find((e) => {
        const q = quoteOf(e)
        return q.length > 0 && Buffer.from(q).equals(Buffer.from(ip.subarray(0, q.length)))
      })
      const errorType = answer ? parsed(answer).icmpType : Icmpv6.Type.TimeExceeded
      const library =
        p.ipVersion === 4 ? Icmp.mayReplyWithError(request, p) : Icmpv6.mayReplyWithError(request, p, errorType)
      const what = `${p.ipVersion === 4 ? "IPv4" : "IPv6"} ${p.fragmentOffset !== 0 ? `fragment at ${p.fragmentOffset}` : p.moreFragments ? "first fragment" : "packet"}`
      return {
        text: `${what}: Linux ${answer ? "answered" : "did not answer"}, library ${library ? "would" : "would not"}`,
        agree: library === (answer !== undefined)
      }
    })
    const disagreements = decisions.filter((d) => !d.agree).map((d) => d.text)
    expect(decisions.length).toBe(10)
    expect(decisions.filter((d) => d.text.includes("did not answer")).length).toBeGreaterThan(0)
    expect(disagreements).toEqual([])
  })
})
