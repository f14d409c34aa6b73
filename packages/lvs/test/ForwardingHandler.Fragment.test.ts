import { Address, Checksum, Ethernet, Icmp, Icmpv6, Ipv4, Ipv6, PacketParser, ParseResult, Udp } from "@lvs-ts/packet"
import { describe, expect, it } from "vitest"
import * as ForwardingHandler from "../src/ForwardingHandler.ts"
import * as Fragmenter from "../src/Fragmenter.ts"
import * as Frames from "../src/internal/Frames.ts"
import * as Reassembly from "../src/Reassembly.ts"
import type * as VST from "../src/VirtualServiceTable.ts"
import * as H from "./helpers/HandlerHarness.ts"

const DIR_C = "02:00:0a:c8:01:01"
const DIR_S = "02:00:0a:c8:02:01"
const CLIENT = "02:00:00:00:01:10"
const RS1 = "02:00:00:00:02:11"
const VIP = "10.200.1.100"
const CIP = "10.200.1.10"
const RIP = "10.200.2.11"
const VIP6 = "fd00:200:1::100"
const CIP6 = "fd00:200:1::10"
const RIP6 = "fd00:200:2::11"
const S = ForwardingHandler.Stat
const dns = { protocol: "udp", address: VIP, port: 53 } as const
const dns6 = { protocol: "udp", address: VIP6, port: 53 } as const

const commands = (method: VST.Method): Array<VST.Command> => [
  { _tag: "AddService", service: dns },
  { _tag: "AddDestination", service: dns, destination: { address: RIP, port: 53, method } },
  { _tag: "AddService", service: dns6 },
  { _tag: "AddDestination", service: dns6, destination: { address: RIP6, port: 53, method } }
]

const start = async (method: VST.Method, mtu = 1500, serverMtu = mtu) => {
  const options: ForwardingHandler.Options = {
    ports: [
      { mac: DIR_C, addresses: ["10.200.1.1/24", `${VIP}/32`, "fd00:200:1::1/64"] },
      { mac: DIR_S, addresses: ["10.200.2.1/24", "fd00:200:2::1/64"] }
    ],
    stats: new SharedArrayBuffer(1024 * 8 * 8),
    commands: commands(method),
    gratuitousArp: false,
    logNoDestination: false
  }
  const h = await H.make(ForwardingHandler.make, options, [
    { name: "tapc", mtu },
    { name: "taps", mtu: serverMtu }
  ])
  h.receive(0, H.arpRequest(CLIENT, CIP, VIP))
  h.receive(1, H.arpRequest(RS1, RIP, "10.200.2.1"))
  h.receive(0, H.solicitation(CLIENT, CIP6, VIP6))
  h.receive(1, H.advertisement(RS1, RIP6, DIR_S, "fd00:200:2::1"))
  return h
}

/** A UDP/IPv4 datagram (no Ethernet) of `size` bytes with a valid checksum. */
const udp4 = (src: string, dst: string, sport: number, dport: number, size: number, flags = 0) => {
  const d = new Uint8Array(size)
  Ipv4.write(d, 0, 0, size, 0x4242, flags, 64, 17, H.ip(src), H.ip(dst))
  Frames.writeU16(d, 20, sport)
  Frames.writeU16(d, 22, dport)
  Frames.writeU16(d, 24, size - 20)
  for (let i = 28; i < size; i++) d[i] = (i * 13) & 0xff
  Frames.writeU16(d, 26, Checksum.transport(d, 0, 20, 17, size - 20))
  return d
}
const udp6 = (src: string, dst: string, sport: number, dport: number, payload: number) => {
  const d = new Uint8Array(40 + payload)
  Ipv6.write(d, 0, 0, 0, payload, 17, 64, Address.parseIpv6(src), 0, Address.parseIpv6(dst), 0)
  Frames.writeU16(d, 40, sport)
  Frames.writeU16(d, 42, dport)
  Frames.writeU16(d, 44, payload)
  for (let i = 48; i < d.length; i++) d[i] = (i * 11) & 0xff
  Frames.writeU16(d, 46, Checksum.transport(d, 0, 40, 17, payload))
  return d
}
const frame = (srcMac: string, dstMac: string, l3: Uint8Array) => {
  const f = new Uint8Array(14 + l3.length)
  Ethernet.write(f, 0, H.mac(dstMac), H.mac(srcMac), l3[0]! >>> 4 === 6 ? 0x86dd : 0x0800)
  f.set(l3, 14)
  return f
}
const fragments4 = (d: Uint8Array, max: number, srcMac = CLIENT, dstMac = DIR_C) => {
  const out: Array<Uint8Array> = []
  for (let i = 0; i < Fragmenter.ipv4Count(d.length, 20, max); i++) {
    const f = new Uint8Array(max)
    out.push(frame(srcMac, dstMac, f.subarray(0, Fragmenter.writeIpv4(d, 0, d.length, max, i, f, 0))))
  }
  return out
}
const fragments6 = (d: Uint8Array, max: number, id: number, srcMac = CLIENT, dstMac = DIR_C) => {
  const out: Array<Uint8Array> = []
  for (let i = 0; i < Fragmenter.ipv6Count(d.length, 40, max); i++) {
    const f = new Uint8Array(max)
    out.push(frame(srcMac, dstMac, f.subarray(0, Fragmenter.writeIpv6(d, 0, d.length, 40, max, id, i, f, 0))))
  }
  return out
}
/** Reassembles what the handler sent (frames with Ethernet headers), like the receiving kernel. */
const reassemble = (sent: ReadonlyArray<H.Sent>): Uint8Array => {
  const r = new Reassembly.Reassembler()
  const out = new Uint8Array(70_000)
  for (const s of sent) {
    const f = s.frame
    const v6 = f[12] === 0x86
    const o = v6 ? r.add6(f, 14, f.length - 14, 0, 0, 0) : r.add4(f, 14, f.length - 14, 0, 0, 0)
    if (o === Reassembly.Outcome.Complete) return out.slice(0, r.assemble(out, 0, out.length))
  }
  throw new Error(`no complete datagram in ${sent.length} frames`)
}
const udpValid = (d: Uint8Array) => {
  const p = new PacketParser()
  expect(p.parseIp(d, 0, d.length)).toBe(ParseResult.Ok)
  expect(Udp.checksum(d, p.l4Offset)).not.toBe(0)
  expect(Udp.isChecksumValid(d, p.l3Offset, p.l4Offset)).toBe(true)
  return p
}

describe("ForwardingHandler: fragments", () => {
  it("NAT: a 4000-byte datagram in three fragments is reassembled, scheduled, rewritten and re-fragmented", async () => {
    const h = await start("nat")
    const d = udp4(CIP, VIP, 5353, 53, 4028)
    const fs = fragments4(d, 1500)
    expect(h.receive(0, fs[2]!, fs[0]!)).toHaveLength(0)
    const out = h.receive(0, fs[1]!)
    expect(out.map((s) => [s.port, s.frame.length - 14])).toEqual([
      [1, 1500],
      [1, 1500],
      [1, 1068]
    ])
    for (const s of out) {
      expect(Ipv4.isChecksumValid(s.frame, 14)).toBe(true)
      expect(Frames.formatIpv4(Ipv4.destination(s.frame, 14))).toBe(RIP)
      expect(Ipv4.identification(s.frame, 14)).toBe(0x4242) // the original id (the IP layer keeps it)
      expect(s.frame[14 + 8]).toBe(63)
    }
    const whole = reassemble(out)
    expect(whole.length).toBe(4028)
    const p = udpValid(whole) // the incremental NAT update is right over the whole payload
    expect(p.destinationPort).toBe(53)
    expect(whole.subarray(28)).toEqual(d.subarray(28))
    expect(h.stats[S.fragmentsReceived]).toBe(3)
    expect(h.stats[S.reassembled]).toBe(1)
    expect(h.stats[S.fragmentedOut]).toBe(1)
    expect(h.stats[S.fragmentsOut]).toBe(3)
    expect(h.stats[S.connectionsCreated]).toBe(1)

    // The 4000-byte reply, fragmented by the real server's kernel, goes back to the client from the VIP.
    const reply = udp4(RIP, CIP, 53, 5353, 4028)
    const back = h.receive(1, ...fragments4(reply, 1500, RS1, DIR_S))
    expect(back).toHaveLength(3)
    expect(back.every((s) => s.port === 0)).toBe(true)
    const r = reassemble(back)
    expect(Frames.formatIpv4(Ipv4.source(r, 0))).toBe(VIP)
    udpValid(r)
    expect(h.stats[S.reassembled]).toBe(2)
    expect(h.stats[S.forwardedOut]).toBe(1)
  })

  it("an ICMP error from the real server quoting the first fragment it got is mapped back to the client (ipvs.md §3.5)", async () => {
    const h = await start("nat")
    const out = h.receive(0, ...fragments4(udp4(CIP, VIP, 5369, 53, 4028), 1500))
    const quote = out[0]!.frame.subarray(14, 14 + 28) // CIP -> RIP:53, MF set: header + the UDP header
    const err = new Uint8Array(14 + 20 + 8 + 28)
    Ethernet.write(err, 0, H.mac(DIR_S), H.mac(RS1), 0x0800)
    Ipv4.write(err, 14, 0, 20 + 8 + 28, 1, 0, 64, 1, H.ip(RIP), H.ip(CIP))
    err[34] = 3
    err[35] = 3
    err.set(quote, 42)
    Icmp.updateChecksum(err, 34, 8 + 28)
    const [back] = h.receive(1, err)
    expect(back!.port).toBe(0)
    expect(Frames.formatIpv4(Ipv4.source(back!.frame, 14))).toBe(VIP)
    expect(Frames.formatIpv4(Ipv4.destination(back!.frame, 42))).toBe(VIP) // the quote now says CIP -> VIP
    expect(Frames.formatIpv4(Ipv4.source(back!.frame, 42))).toBe(CIP)
    expect(Frames.readU16(back!.frame, 62)).toBe(5369)
    expect(Icmp.isChecksumValid(back!.frame, 34, back!.frame.length - 34)).toBe(true)
    expect(h.stats[S.icmpRelated]).toBe(1)
  })

  it("re-fragments at no more than the largest fragment received (frag_max_size)", async () => {
    const h = await start("nat")
    const out = h.receive(0, ...fragments4(udp4(CIP, VIP, 5354, 53, 3000), 1000))
    expect(out.length).toBeGreaterThan(3)
    expect(Math.max(...out.map((s) => s.frame.length - 14))).toBeLessThanOrEqual(1000)
    expect(reassemble(out).length).toBe(3000)
  })

  it("unfragmented datagrams without DF above the egress MTU are fragmented; with DF they get fragmentation needed", async () => {
    const h = await start("nat", 1500, 1000)
    const big = frame(CLIENT, DIR_C, udp4(CIP, VIP, 5355, 53, 1400))
    const out = h.receive(0, big)
    expect(out.map((s) => s.frame.length - 14)).toEqual([996, 424])
    expect(reassemble(out).length).toBe(1400)
    const df = frame(CLIENT, DIR_C, udp4(CIP, VIP, 5356, 53, 1400, Ipv4.FLAG_DF))
    const [icmp] = h.receive(0, df)
    expect([icmp!.frame[14 + 20], icmp!.frame[14 + 21]]).toEqual([3, 4])
    expect(Icmp.nextHopMtu(icmp!.frame, 34)).toBe(1000)
  })

  it("a reassembled datagram whose largest fragment had DF gets fragmentation needed when too big", async () => {
    const h = await start("nat", 1500, 1000)
    const fs = fragments4(udp4(CIP, VIP, 5357, 53, 2000), 1500)
    fs[0]![14 + 6]! |= 0x40
    Ipv4.updateChecksum(fs[0]!, 14)
    const [icmp] = h.receive(0, ...fs)
    expect([icmp!.frame[14 + 20], icmp!.frame[14 + 21]]).toEqual([3, 4])
    expect(h.stats[S.dropFragNeeded]).toBe(1)
  })

  it("DR: the reassembled datagram goes to the real server's MAC, re-fragmented, unchanged", async () => {
    const h = await start("dr")
    const d = udp4(CIP, VIP, 5358, 53, 20028)
    const fs = fragments4(d, 1500)
    const out = [...h.receive(0, ...fs.slice(0, 7)), ...h.receive(0, ...fs.slice(7))]
    expect(out).toHaveLength(14)
    expect(out.every((s) => s.port === 1 && s.frame[0] === 0x02 && s.frame[5] === 0x11)).toBe(true)
    const r = reassemble(out)
    r[8] = 64 // TTL as sent
    Ipv4.updateChecksum(r, 0)
    expect(r).toEqual(d)
  })

  it("TUN: the inner datagram is encapsulated whole and the outer IPIP packet is fragmented", async () => {
    const h = await start("tun")
    const d = udp4(CIP, VIP, 5359, 53, 4028)
    const out = h.receive(0, ...fragments4(d, 1500))
    expect(out.length).toBeGreaterThanOrEqual(3)
    expect(out.every((s) => s.frame[14 + 9] === 4 && s.frame.length - 14 <= 1500)).toBe(true)
    const outer = reassemble(out)
    expect(Frames.formatIpv4(Ipv4.destination(outer, 0))).toBe(RIP)
    const inner = outer.subarray(20)
    expect(inner.length).toBe(4028)
    expect(inner.subarray(20)).toEqual(d.subarray(20))
    expect(Ipv4.moreFragments(inner, 0) || Ipv4.fragmentOffset(inner, 0) !== 0).toBe(false)
  })

  it("IPv6 NAT: reassembled, rewritten, re-fragmented at the original size with the original id; unfragmented too big still gets packet too big", async () => {
    const h = await start("nat")
    const d = udp6(CIP6, VIP6, 5360, 53, 4000)
    const out = h.receive(0, ...fragments6(d, 1280, 0x11223344))
    expect(out.length).toBe(4)
    for (const s of out) {
      expect(s.frame.length - 14).toBeLessThanOrEqual(1280)
      expect(Address.formatIpv6(s.frame, 14 + 24)).toBe(RIP6)
      expect(Frames.readU32(s.frame, 14 + 44)).toBe(0x11223344)
    }
    const r = reassemble(out)
    expect(r.length).toBe(4040)
    udpValid(r)
    expect(h.stats[S.reassembled]).toBe(1)
    const tooBig = frame(CLIENT, DIR_C, udp6(CIP6, VIP6, 5361, 53, 1600))
    const [ptb] = h.receive(0, tooBig)
    expect(ptb!.frame[14 + 40]).toBe(Icmpv6.Type.PacketTooBig)
  })

  it("expiry: ICMP time exceeded code 1 quoting the first fragment, only when it arrived and was for us", async () => {
    const h = await start("nat")
    const fs = fragments4(udp4(CIP, VIP, 5362, 53, 4028), 1500)
    h.receive(0, fs[0]!)
    const other = fragments4(udp4(CIP, VIP, 5363, 53, 4028), 1500)
    Ipv4.write(other[1]!, 14, 0, 1500, 0x999, Ipv4.FLAG_MF | (1480 >>> 3), 64, 17, H.ip(CIP), H.ip(VIP))
    h.receive(0, other[1]!)
    // Transit (not for us): no ICMP on expiry.
    const transit = fragments4(udp4(CIP, "10.200.2.99", 5364, 53, 4028), 1500)
    h.receive(0, transit[0]!)
    expect(h.tick(performance.now() + 10_000)).toHaveLength(0)
    const sent = h.tick(performance.now() + 31_000)
    expect(sent).toHaveLength(1)
    const f = sent[0]!.frame
    const p = new PacketParser()
    expect(p.parse(f, 0, f.length)).toBe(ParseResult.Ok)
    expect([p.icmpType, p.icmpCode]).toEqual([Icmp.Type.TimeExceeded, 1])
    expect(Frames.formatIpv4(Ipv4.source(f, 14))).toBe(VIP)
    expect(Frames.formatIpv4(Ipv4.destination(f, 14))).toBe(CIP)
    expect(p.innerSourcePort).toBe(5362)
    expect(Icmp.isChecksumValid(f, 34, f.length - 34)).toBe(true)
    expect(f.length).toBeLessThanOrEqual(14 + 576)
    expect(h.stats[S.reassemblyTimeouts]).toBe(3)
    expect(h.stats[S.fragmentTimeExceeded]).toBe(1)
  })

  it("IPv6 expiry sends ICMPv6 time exceeded code 1", async () => {
    const h = await start("nat")
    h.receive(0, fragments6(udp6(CIP6, VIP6, 5365, 53, 4000), 1280, 7)[0]!)
    const [te] = h.tick(performance.now() + 31_000)
    const p = new PacketParser()
    expect(p.parse(te!.frame, 0, te!.frame.length)).toBe(ParseResult.Ok)
    expect([p.icmpType, p.icmpCode]).toEqual([Icmpv6.Type.TimeExceeded, 1])
    expect(Address.formatIpv6(te!.frame, 14 + 24)).toBe(CIP6)
    expect(Icmpv6.isChecksumValid(te!.frame, 14, p.l4Offset, p.l3End - p.l4Offset)).toBe(true)
  })

  it("counts overlaps, duplicates and tiny fragments, and keeps forwarding", async () => {
    const h = await start("nat")
    const fs = fragments4(udp4(CIP, VIP, 5366, 53, 4028), 1500)
    h.receive(0, fs[0]!, fs[0]!)
    expect(h.stats[S.dropFragmentDuplicate]).toBe(1)
    const overlap = fs[1]!.slice()
    Ipv4.write(overlap, 14, 0, 1500, 0x4242, Ipv4.FLAG_MF | (1400 >>> 3), 64, 17, H.ip(CIP), H.ip(VIP))
    h.receive(0, overlap)
    expect(h.stats[S.dropFragmentOverlap]).toBe(1)
    const tcp = udp4(CIP, VIP, 5367, 80, 1000)
    tcp[9] = 6
    Ipv4.updateChecksum(tcp, 0)
    const tiny = fragments4(tcp, 36)[0]! // 16 bytes: not the whole TCP header (RFC 1858)
    h.receive(0, tiny)
    expect(h.stats[S.dropFragmentTiny]).toBe(1)
    expect(h.receive(0, ...fragments4(udp4(CIP, VIP, 5368, 53, 3000), 1500)).length).toBe(3)
  })
})

describe("ForwardingHandler: duplicate address detection", () => {
  it("answers an ARP probe (sender 0.0.0.0) for an owned address to the prober", async () => {
    const h = await start("nat")
    const probe = H.arpRequest("02:00:00:00:01:99", "0.0.0.0", VIP)
    const [reply] = h.receive(0, probe)
    expect(reply!.frame.subarray(0, 6)).toEqual(H.mac("02:00:00:00:01:99"))
    expect(Frames.readU16(reply!.frame, 20)).toBe(2)
    expect(Frames.formatIpv4(Frames.readU32(reply!.frame, 28))).toBe(VIP)
    expect(Frames.formatIpv4(Frames.readU32(reply!.frame, 38))).toBe("0.0.0.0")
    expect(h.stats[S.dadDefences]).toBe(1)
    expect(h.receive(0, H.arpRequest("02:00:00:00:01:99", "0.0.0.0", "10.200.1.77"))).toHaveLength(0)
  })

  it("defends an IPv6 address against a DAD solicitation with an advertisement to all nodes (override, not solicited)", async () => {
    const h = await start("nat")
    const dad = H.solicitation("02:00:00:00:01:99", "::", VIP6)
    const [na] = h.receive(0, dad)
    const p = new PacketParser()
    expect(p.parse(na!.frame, 0, na!.frame.length)).toBe(ParseResult.Ok)
    expect(p.icmpType).toBe(Icmpv6.Type.NeighborAdvertisement)
    expect(Address.formatIpv6(na!.frame, 14 + 24)).toBe("ff02::1")
    expect([...na!.frame.subarray(0, 6)]).toEqual([0x33, 0x33, 0, 0, 0, 1])
    const flags = Frames.readU32(na!.frame, p.l4Offset + 4)
    expect(flags & 0x20000000).not.toBe(0) // override
    expect(flags & 0x40000000).toBe(0) // not solicited
    expect(Address.formatIpv6(na!.frame, p.l4Offset + 8)).toBe(VIP6)
    expect(Icmpv6.isChecksumValid(na!.frame, 14, p.l4Offset, p.l3End - p.l4Offset)).toBe(true)
    expect(h.stats[S.dadDefences]).toBe(1)
    expect(h.receive(0, H.solicitation("02:00:00:00:01:99", "::", "fd00:200:1::77"))).toHaveLength(0)
  })
})
