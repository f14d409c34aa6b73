import { Address, Icmpv6, Ipv6, PacketParser, ParseResult, Tcp } from "@lvs-ts/packet"
import { describe, expect, it } from "vitest"
import * as ForwardingHandler from "../src/ForwardingHandler.ts"
import * as Frames from "../src/internal/Frames.ts"
import type * as VST from "../src/VirtualServiceTable.ts"
import * as H from "./helpers/HandlerHarness.ts"

const DIR_C = "02:00:0a:c8:01:01"
const DIR_S = "02:00:0a:c8:02:01"
const CLIENT = "02:00:00:00:01:10"
const RS1 = "02:00:00:00:02:11"
const RS2 = "02:00:00:00:02:12"
const VIP6 = "fd00:200:1::100"
const CIP6 = "fd00:200:1::10"
const RIP1 = "fd00:200:2::11"
const RIP2 = "fd00:200:2::12"
const web6 = { protocol: "tcp", address: VIP6, port: 80 } as const
const S = ForwardingHandler.Stat

const commands = (method: VST.Method = "nat"): Array<VST.Command> => [
  { _tag: "AddService", service: { ...web6, scheduler: "wrr" } },
  { _tag: "AddDestination", service: web6, destination: { address: RIP1, port: 80, weight: 1, method } },
  { _tag: "AddDestination", service: web6, destination: { address: RIP2, port: 8000, weight: 2, method } }
]

const start = async (cmds: Array<VST.Command>, mtu = 1500, gratuitous = false) => {
  const options: ForwardingHandler.Options = {
    ports: [
      { mac: DIR_C, addresses: ["10.200.1.1/24", "fd00:200:1::1/64"] },
      { mac: DIR_S, addresses: ["10.200.2.1/24", "fd00:200:2::1/64"] }
    ],
    stats: new SharedArrayBuffer(1024 * 8 * 8),
    commands: cmds,
    gratuitousArp: gratuitous,
    logNoDestination: false
  }
  const h = await H.make(ForwardingHandler.make, options, [
    { name: "tapc", mtu },
    { name: "taps", mtu }
  ])
  const startup = h.sent.splice(0, h.sent.length)
  // The client resolves the VIP; the real servers answer the director's solicitations.
  expect(h.receive(0, H.solicitation(CLIENT, CIP6, VIP6))).toHaveLength(1)
  h.receive(1, H.advertisement(RS1, RIP1, DIR_S, "fd00:200:2::1"))
  h.receive(1, H.advertisement(RS2, RIP2, DIR_S, "fd00:200:2::1"))
  return { h, startup, counters: new Float64Array(options.stats) }
}

const parse = (frame: Uint8Array) => {
  const p = new PacketParser()
  expect(p.parse(frame, 0, frame.length)).toBe(ParseResult.Ok)
  return p
}
const src = (f: Uint8Array, l3 = 14) => Address.formatIpv6(f, l3 + Ipv6.SOURCE)
const dst = (f: Uint8Array, l3 = 14) => Address.formatIpv6(f, l3 + Ipv6.DESTINATION)
const macAt = (f: Uint8Array, o: number) =>
  [...f.subarray(o, o + 6)].map((x) => x.toString(16).padStart(2, "0")).join(":")
const syn = (sport: number, extra: Partial<Parameters<typeof H.tcp6>[0]> = {}) =>
  H.tcp6({ srcMac: CLIENT, dstMac: DIR_C, src: CIP6, dst: VIP6, sport, dport: 80, flags: 0x02, ...extra })
const tcpValid = (f: Uint8Array) => {
  const p = parse(f)
  expect(Tcp.isChecksumValid(f, p.l3Offset, p.l4Offset, p.l3End - p.l4Offset)).toBe(true)
}

describe("ForwardingHandler IPv6", () => {
  it("answers neighbour solicitations for owned addresses only, with a solicited advertisement", async () => {
    const { h } = await start(commands())
    const [na] = h.receive(0, H.solicitation(CLIENT, CIP6, VIP6))
    const p = parse(na!.frame)
    expect(p.icmpType).toBe(Icmpv6.Type.NeighborAdvertisement)
    expect(Address.formatIpv6(na!.frame, p.l4Offset + 8)).toBe(VIP6) // target
    expect(macAt(na!.frame, p.l4Offset + 26)).toBe(DIR_C) // target link-layer option
    expect(dst(na!.frame)).toBe(CIP6)
    expect(macAt(na!.frame, 0)).toBe(CLIENT)
    expect(Frames.readU32(na!.frame, p.l4Offset + 4) & 0x40000000).not.toBe(0) // solicited
    expect(Icmpv6.isChecksumValid(na!.frame, 14, p.l4Offset, p.l3End - p.l4Offset)).toBe(true)
    // Not ours on this port (the servers' network address is on the other port).
    expect(h.receive(0, H.solicitation(CLIENT, CIP6, "fd00:200:2::1"))).toHaveLength(0)
    // NDP with a hop limit below 255 is invalid (RFC 4861 §7.1.1).
    const forged = H.solicitation(CLIENT, CIP6, VIP6)
    forged[14 + 7] = 64
    expect(h.receive(0, forged)).toHaveLength(0)
    expect(h.stats[S.dropNdp]).toBe(1)
  })

  it("solicits configured destinations at once, and announces its addresses with unsolicited advertisements", async () => {
    const { startup, h } = await start(commands(), 1500, true)
    const ns = startup.filter((s) => s.frame[14 + 40] === Icmpv6.Type.NeighborSolicitation)
    expect(ns.map((s) => Address.formatIpv6(s.frame, 54 + 8)).sort()).toEqual([RIP1, RIP2])
    expect(ns.every((s) => s.port === 1 && s.frame[0] === 0x33 && s.frame[2] === 0xff)).toBe(true)
    const una = startup.filter((s) => s.frame[14 + 40] === Icmpv6.Type.NeighborAdvertisement)
    expect(una.map((s) => `${s.port} ${Address.formatIpv6(s.frame, 54 + 8)}`).sort()).toEqual([
      "0 fd00:200:1::1",
      "0 fd00:200:1::100",
      "1 fd00:200:2::1"
    ])
    expect(h.stats[S.unsolicitedAdvertisements]).toBe(3)
    // Taking a new VIP announces it.
    const more = h.control({
      _tag: "Command",
      command: { _tag: "AddService", service: { protocol: "udp", address: "fd00:200:1::101", port: 53 } }
    })
    expect(more.map((s) => Address.formatIpv6(s.frame, 54 + 8))).toEqual(["fd00:200:1::101"])
  })

  it("NAT: DNAT in, SNAT out, hop limit decremented, checksums valid, wrr 1:2", async () => {
    const { h, counters } = await start(commands())
    const [out] = h.receive(0, syn(40000))
    expect(out!.port).toBe(1)
    expect(dst(out!.frame)).toBe(RIP2)
    expect(src(out!.frame)).toBe(CIP6)
    expect(parse(out!.frame).destinationPort).toBe(8000)
    expect(out!.frame[14 + 7]).toBe(63)
    expect(macAt(out!.frame, 0)).toBe(RS2)
    expect(macAt(out!.frame, 6)).toBe(DIR_S)
    tcpValid(out!.frame)
    const synAck = H.tcp6({ srcMac: RS2, dstMac: DIR_S, src: RIP2, dst: CIP6, sport: 8000, dport: 40000, flags: 0x12 })
    const [back] = h.receive(1, synAck)
    expect(back!.port).toBe(0)
    expect(src(back!.frame)).toBe(VIP6)
    expect(parse(back!.frame).sourcePort).toBe(80)
    expect(macAt(back!.frame, 0)).toBe(CLIENT)
    tcpValid(back!.frame)
    expect(counters[0]).toBe(1)
    const seen: Record<string, number> = {}
    for (let i = 0; i < 8; i++) {
      const [f] = h.receive(0, syn(41000 + i))
      const k = `${dst(f!.frame)} ${parse(f!.frame).destinationPort}`
      seen[k] = (seen[k] ?? 0) + 1
    }
    expect(seen).toEqual({ [`${RIP1} 80`]: 3, [`${RIP2} 8000`]: 5 })
  })

  it("queues packets for an unresolved real server until its advertisement", async () => {
    const options: ForwardingHandler.Options = {
      ports: [
        { mac: DIR_C, addresses: ["fd00:200:1::1/64"] },
        { mac: DIR_S, addresses: ["fd00:200:2::1/64"] }
      ],
      stats: new SharedArrayBuffer(1024 * 8 * 8),
      commands: [
        { _tag: "AddService", service: { ...web6, scheduler: "rr" } },
        { _tag: "AddDestination", service: web6, destination: { address: RIP1, port: 80, method: "nat" } }
      ],
      gratuitousArp: false
    }
    const h = await H.make(ForwardingHandler.make, options, [{ name: "tapc" }, { name: "taps" }])
    expect(h.receive(0, syn(42000))).toHaveLength(0)
    expect(h.stats[S.neighbourQueued]).toBe(1)
    const [released] = h.receive(1, H.advertisement(RS1, RIP1, DIR_S, "fd00:200:2::1"))
    expect(dst(released!.frame)).toBe(RIP1)
    expect(macAt(released!.frame, 0)).toBe(RS1)
  })

  it("DR rewrites only MACs; TUN wraps the packet in IPv6 (next header 41) to the real server", async () => {
    const dr = await start(commands("dr"))
    const [d] = dr.h.receive(0, syn(43000))
    expect(dst(d!.frame)).toBe(VIP6)
    expect(macAt(d!.frame, 0)).toBe(RS2)
    expect(parse(d!.frame).destinationPort).toBe(80)
    const tun = await start(commands("tun"))
    const [t] = tun.h.receive(0, syn(43001))
    expect(t!.frame[14 + Ipv6.NEXT_HEADER]).toBe(41)
    expect(src(t!.frame)).toBe("fd00:200:2::1")
    expect(dst(t!.frame)).toBe(RIP2)
    expect(dst(t!.frame, 54)).toBe(VIP6) // inner packet unchanged but for the hop limit
    expect(t!.frame[54 + 7]).toBe(63)
    expect(macAt(t!.frame, 0)).toBe(RS2)
    expect(tun.h.stats[S.tunnelled]).toBe(1)
  })

  it("echo for own addresses, hop limit 1 -> time exceeded, too big -> packet too big, no destination -> port unreachable", async () => {
    const { h } = await start(
      [...commands(), { _tag: "AddService", service: { protocol: "tcp", address: VIP6, port: 443, scheduler: "rr" } }],
      1280
    )
    const [reply] = h.receive(0, H.echo6({ srcMac: CLIENT, dstMac: DIR_C, src: CIP6, dst: VIP6, id: 7, seq: 1 }))
    let p = parse(reply!.frame)
    expect([p.icmpType, src(reply!.frame), dst(reply!.frame)]).toEqual([Icmpv6.Type.EchoReply, VIP6, CIP6])
    const [te] = h.receive(0, syn(44000, { hopLimit: 1 }))
    p = parse(te!.frame)
    expect([p.icmpType, p.icmpCode, src(te!.frame)]).toEqual([Icmpv6.Type.TimeExceeded, 0, VIP6])
    expect(h.stats[S.dropTtl]).toBe(1)
    const [big] = h.receive(0, syn(44001, { payload: 1300 }))
    p = parse(big!.frame)
    expect([p.icmpType, Icmpv6.mtu(big!.frame, p.l4Offset)]).toEqual([Icmpv6.Type.PacketTooBig, 1280])
    const [unreach] = h.receive(0, syn(44002, { dport: 443 }))
    p = parse(unreach!.frame)
    expect([p.icmpType, p.icmpCode, src(unreach!.frame)]).toEqual([
      Icmpv6.Type.DestinationUnreachable,
      Icmpv6.UnreachableCode.Port,
      VIP6
    ])
    expect(h.stats[S.dropNoDestination]).toBe(1)
    // A port with no service: TCP RST; UDP: port unreachable.
    const [rst] = h.receive(0, syn(44003, { dport: 81 }))
    expect(parse(rst!.frame).tcpFlags & 0x04).toBe(0x04)
    const [pu] = h.receive(0, H.udp6({ srcMac: CLIENT, dstMac: DIR_C, src: CIP6, dst: VIP6, sport: 5, dport: 53 }))
    expect(parse(pu!.frame).icmpCode).toBe(Icmpv6.UnreachableCode.Port)
  })

  it("ICMPv6 errors about NAT connections are rewritten both ways (outer and embedded headers)", async () => {
    const { h } = await start(commands())
    const [out] = h.receive(0, syn(45000))
    // rs2 answers the forwarded SYN (CIP -> RIP2:8000) with packet too big.
    const p = parse(out!.frame)
    const err = new Uint8Array(1500)
    const n = Icmpv6.writeError(err, 0, out!.frame, p, Icmpv6.Type.PacketTooBig, 0, 1400, H.ip6(RIP2), 0)
    const frame = err.slice(0, n)
    Frames.writeEthernet(frame, 0, H.mac(DIR_S), H.mac(RS2), 0x86dd)
    const [back] = h.receive(1, frame)
    expect(back!.port).toBe(0)
    const q = parse(back!.frame)
    expect(q.icmpType).toBe(Icmpv6.Type.PacketTooBig)
    expect(src(back!.frame)).toBe(VIP6)
    expect(dst(back!.frame)).toBe(CIP6)
    expect(dst(back!.frame, q.innerL3Offset)).toBe(VIP6) // embedded: CIP -> VIP:80 as the client sent it
    expect(q.innerDestinationPort).toBe(80)
    expect(Icmpv6.isChecksumValid(back!.frame, 14, q.l4Offset, q.l3End - q.l4Offset)).toBe(true)
    expect(h.stats[S.icmpRelated]).toBe(1)
  })

  it("rejects IPv6 tables it cannot serve, naming the field", async () => {
    const { h } = await start(commands())
    h.control({
      _tag: "Command",
      command: { _tag: "AddDestination", service: web6, destination: { address: "10.200.2.11", method: "nat" } }
    })
    expect(h.stats[S.controlRejected]).toBe(1)
    expect(JSON.stringify(h.events)).toContain("is not IPv6")
  })
})
