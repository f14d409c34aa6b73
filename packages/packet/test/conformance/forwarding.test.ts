/**
 * The library's rewrites against Linux doing the same job: the golden captures hold the same packets on both sides
 * of router R (`forward-a/-b`: plain forwarding; `nat-a/-b`: R running netfilter DNAT, replies un-NATed by
 * conntrack). Each packet as it entered R, rewritten by the library, must equal byte for byte the packet Linux put
 * on the other side: MACs, TTL / hop limit, addresses, ports and every checksum (Linux updates them incrementally
 * too, so this also pins down the one's-complement representation of the results).
 */
import { Address, Ethernet, Icmp, Icmpv6, IpProtocol, Ipv4, Ipv6, Nat, PacketParser, ParseResult } from "@lvs-ts/packet"
import { describe, expect, it } from "vitest"
import { loadFixture } from "./fixtures.ts"

const MAC_A = Address.parseMac("02:00:0a:c9:01:02")
const MAC_R0 = Address.parseMac("02:00:0a:c9:01:01")
const MAC_R1 = Address.parseMac("02:00:0a:c9:02:01")
const MAC_B = Address.parseMac("02:00:0a:c9:02:02")
const A4 = Address.parseIpv4("10.201.1.2")
const B4 = Address.parseIpv4("10.201.2.2")
const VIP4 = Address.parseIpv4("10.201.3.100")
const A6 = Address.parseIpv6("fd00:201:1::2")
const B6 = Address.parseIpv6("fd00:201:2::2")
const VIP6 = Address.parseIpv6("fd00:201:3::100")

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")

const parse = (b: Uint8Array): PacketParser => {
  const p = new PacketParser()
  expect(p.parse(b, 0, b.length)).toBe(ParseResult.Ok)
  return p
}

/** True when the packet comes from A (the client); false for B's replies. */
const fromA = (b: Uint8Array, p: PacketParser): boolean =>
  p.ipVersion === 4 ? Ipv4.source(b, p.l3Offset) === A4 : Ipv6.equalAddress(b, p.l3Offset + Ipv6.SOURCE, A6, 0)

/**
 * What the library does for one forwarding hop: new MACs (the precomputed-pair fast path the DR benchmark uses),
 * TTL / hop limit - 1 (with the IPv4 checksum).
 */
const forward = (b: Uint8Array, p: PacketParser, destination: Uint8Array, source: Uint8Array) => {
  Ethernet.rewritePair(b, 0, Ethernet.macPair(destination, source))
  if (p.ipVersion === 4) expect(Ipv4.decrementTtl(b, p.l3Offset)).toBe(true)
  else expect(Ipv6.decrementHopLimit(b, p.l3Offset)).toBe(true)
}

describe("library rewrites equal Linux's, byte for byte", () => {
  it("forwarding (DR rewrite: MACs + TTL/hop limit + IPv4 checksum) of TCP, UDP and ICMP, both directions", () => {
    const a = loadFixture("forward-a").pcap.records.map((r) => r.data)
    const b = loadFixture("forward-b").pcap.records.map((r) => r.data)
    // Pair the two sides by the IP packet with the fields R changes blanked out.
    const key = (f: Uint8Array) => {
      const p = parse(f)
      const ip = f.slice(p.l3Offset, p.l3End)
      if (p.ipVersion === 4) ip[Ipv4.TTL] = ip[Ipv4.CHECKSUM] = ip[Ipv4.CHECKSUM + 1] = 0
      else ip[Ipv6.HOP_LIMIT] = 0
      return hex(ip)
    }
    const bByKey = new Map(b.map((f) => [key(f), f]))
    expect(bByKey.size).toBe(b.length)
    let compared = 0
    const protocols = new Set<number>()
    for (const fa of a) {
      const fb = bByKey.get(key(fa))
      expect(fb, "every packet seen on A's side was seen on B's side").toBeDefined()
      const pa = parse(fa)
      protocols.add(pa.protocol)
      const [input, expected, dst, src] = fromA(fa, pa) ? [fa, fb!, MAC_B, MAC_R1] : [fb!, fa, MAC_A, MAC_R0]
      const ours = input.slice()
      forward(ours, parse(ours), dst, src)
      expect(hex(ours), `forward-a #${a.indexOf(fa)}`).toBe(hex(expected))
      compared++
    }
    expect(compared).toBe(a.length)
    expect([...protocols].sort((x, y) => x - y)).toEqual([1, 6, 17, 58])
  })

  it("NAT (Linux netfilter DNAT, conntrack reply SNAT) of TCP, UDP (incl. checksum 0), SCTP and ICMP errors, v4 and v6", () => {
    const a = loadFixture("nat-a").pcap.records.map((r) => r.data)
    const b = loadFixture("nat-b").pcap.records.map((r) => r.data)
    // The nft rules of capture.sh: VIP port -> B's port.
    const servicePort: Record<number, number> = { 80: 8080, 7070: 7007, 7071: 7009, 3868: 3869 }
    const virtualPort: Record<number, number> = Object.fromEntries(
      Object.entries(servicePort).map(([v, r]) => [r, Number(v)])
    )
    const isError = (p: PacketParser) =>
      p.icmpType >= 0 && (p.ipVersion === 4 ? Icmp.isError(p.icmpType) : Icmpv6.isError(p.icmpType))
    // Pair by what NAT does not touch: direction, IPv4 identification, TCP sequence/ack/flags/window, payload; for
    // an ICMP error its type/code and the quote after the quoted ports and checksum.
    const key = (f: Uint8Array) => {
      const p = parse(f)
      const id = p.ipVersion === 4 ? Ipv4.identification(f, p.l3Offset) : -1
      if (isError(p))
        return `error|${p.ipVersion}|${p.icmpType}|${p.icmpCode}|${id}|${hex(f.subarray(p.innerL4Offset + 12, p.l3End))}`
      const l4 = p.l4Offset
      const tcp = p.protocol === IpProtocol.Tcp ? hex(f.subarray(l4 + 4, l4 + 16)) : ""
      return `${fromA(f, p)}|${p.ipVersion}|${p.protocol}|${id}|${tcp}|${hex(f.subarray(p.payloadOffset, p.l3End))}`
    }
    const bByKey = new Map(b.map((f) => [key(f), f]))
    expect(bByKey.size).toBe(b.length)
    const seen = new Set<string>()
    for (const fa of a) {
      const fb = bByKey.get(key(fa))
      expect(fb, `nat-a #${a.indexOf(fa)} was seen on B's side`).toBeDefined()
      const pa = parse(fa)
      if (pa.protocol === IpProtocol.Udp && fa[pa.l4Offset + 6] === 0 && fa[pa.l4Offset + 7] === 0) seen.add("udp0")
      const ours = (fromA(fa, pa) ? fa : fb!).slice()
      const p = parse(ours)
      seen.add(`${p.ipVersion}/${p.protocol}${isError(p) ? `/error-about-${p.innerProtocol}` : ""}`)
      if (fromA(fa, pa)) {
        // Client -> VIP:vport becomes client -> RIP:rport (DNAT), then R forwards it to B.
        const port = servicePort[p.destinationPort]!
        if (p.ipVersion === 4) Nat.setDestinationV4(ours, p.l3Offset, p.l4Offset, p.protocol, B4, port)
        else Nat.setDestinationV6(ours, p.l3Offset, p.l4Offset, p.protocol, B6, 0, port)
        forward(ours, p, MAC_B, MAC_R1)
        expect(hex(ours), `nat-a #${a.indexOf(fa)} (DNAT)`).toBe(hex(fb!))
      } else {
        // RIP:rport -> client becomes VIP:vport -> client (SNAT of the reply, or of the ICMP error and its quote).
        if (isError(p)) {
          const port = virtualPort[p.innerDestinationPort]!
          const ok =
            p.ipVersion === 4 ? Nat.icmpErrorOutV4(ours, p, VIP4, port) : Nat.icmpErrorOutV6(ours, p, VIP6, 0, port)
          expect(ok).toBe(true)
        } else {
          const port = virtualPort[p.sourcePort]!
          if (p.ipVersion === 4) Nat.setSourceV4(ours, p.l3Offset, p.l4Offset, p.protocol, VIP4, port)
          else Nat.setSourceV6(ours, p.l3Offset, p.l4Offset, p.protocol, VIP6, 0, port)
        }
        forward(ours, p, MAC_A, MAC_R0)
        expect(hex(ours), `nat-b #${b.indexOf(fb!)} (reply SNAT)`).toBe(hex(fa))
      }
    }
    expect([...seen].sort()).toEqual([
      "4/1/error-about-132",
      "4/1/error-about-17",
      "4/132",
      "4/17",
      "4/6",
      "6/132",
      "6/17",
      "6/58/error-about-132",
      "6/58/error-about-17",
      "6/6",
      "udp0"
    ])
  })
})
