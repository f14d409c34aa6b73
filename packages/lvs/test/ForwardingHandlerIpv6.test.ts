import { Address, Icmp, Icmpv6, Ipv4, Ipv6, PacketParser, ParseResult, Tcp } from "@lvs-ts/packet"
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

  it("IPv6 firewall-mark services: marks from the classifier, persistence templates on the mark per /64", async () => {
    const fwm6 = { fwmark: 7, family: 6 } as const
    // The VIP is the director's (here through the port-80 service on it, as an IPv4 fwmark VIP is a port address).
    const { h } = await start([
      ...commands(),
      {
        _tag: "SetClassifier",
        rules: [
          { mark: 7, protocol: "tcp", destination: `${VIP6}/128`, ports: [8080, 8090] },
          { mark: 7, protocol: "tcp", destination: "10.200.1.100/32" } // IPv4 rule: no effect on IPv6
        ]
      },
      { _tag: "AddService", service: { ...fwm6, scheduler: "rr", persistence: { timeout: 60, netmask: "64" } } },
      { _tag: "AddDestination", service: fwm6, destination: { address: RIP1, port: 0, method: "nat" } },
      { _tag: "AddDestination", service: fwm6, destination: { address: RIP2, port: 0, method: "nat" } }
    ])
    const [a] = h.receive(0, syn(46000, { dport: 8085 }))
    const first = dst(a!.frame)
    expect([RIP1, RIP2]).toContain(first)
    expect(parse(a!.frame).destinationPort).toBe(8085) // fwmark: the packet's own port
    tcpValid(a!.frame)
    // Another port of the mark, and another client of the same /64: the same real server (one template).
    const [b] = h.receive(0, syn(46001, { dport: 8090 }))
    const [c] = h.receive(
      0,
      H.tcp6({
        srcMac: CLIENT,
        dstMac: DIR_C,
        src: "fd00:200:1::11",
        dst: VIP6,
        sport: 46002,
        dport: 8081,
        flags: 0x02
      })
    )
    expect([dst(b!.frame), dst(c!.frame)]).toEqual([first, first])
    // The reply is mapped back to the VIP and the client's port.
    const reply = H.tcp6({
      srcMac: first === RIP1 ? RS1 : RS2,
      dstMac: DIR_S,
      src: first,
      dst: CIP6,
      sport: 8085,
      dport: 46000,
      flags: 0x12
    })
    const [back] = h.receive(1, reply)
    expect([src(back!.frame), parse(back!.frame).sourcePort, back!.port]).toEqual([VIP6, 8085, 0])
    // Unmarked port: no service, the local stack's RST.
    const [rst] = h.receive(0, syn(46003, { dport: 8100 }))
    expect(parse(rst!.frame).tcpFlags & 4).toBe(4)
    expect(h.stats[S.connectionsCreated]).toBe(3)
  })

  it("static routes and default gateways, both families: next hop resolved through the gateway by ND / ARP", async () => {
    const GW_C = "02:00:00:00:01:fe"
    const GW_S = "02:00:00:00:02:fe"
    const REMOTE6 = "2001:db8:9::10" // a client beyond the client-side router
    const RIP3 = "fd00:300::13" // a real server beyond a server-side router
    const web4 = { protocol: "tcp", address: "10.200.1.100", port: 80 } as const
    const options: ForwardingHandler.Options = {
      ports: [
        { mac: DIR_C, addresses: ["10.200.1.1/24", "10.200.1.100/32", "fd00:200:1::1/64"] },
        { mac: DIR_S, addresses: ["10.200.2.1/24", "fd00:200:2::1/64"] }
      ],
      routes: [
        { destination: "::/0", via: "fd00:200:1::fe" },
        { destination: "fd00:300::/64", via: "fd00:200:2::fe" },
        { destination: "0.0.0.0/0", via: "10.200.1.254" },
        { destination: "10.200.30.0/24", via: "10.200.2.254" }
      ],
      stats: new SharedArrayBuffer(1024 * 8 * 8),
      commands: [
        { _tag: "AddService", service: { ...web6, scheduler: "rr" } },
        { _tag: "AddDestination", service: web6, destination: { address: RIP3, port: 80, method: "nat" } },
        { _tag: "AddService", service: { ...web4, scheduler: "rr" } },
        { _tag: "AddDestination", service: web4, destination: { address: "10.200.30.13", port: 80, method: "nat" } }
      ],
      gratuitousArp: false
    }
    const h = await H.make(ForwardingHandler.make, options, [{ name: "tapc" }, { name: "taps" }])
    // Configuring the destinations resolves their gateways at once, not the unreachable servers themselves.
    const ns = h.sent.filter((x) => x.frame[12] === 0x86 && x.frame[54] === Icmpv6.Type.NeighborSolicitation)
    expect(ns.map((x) => `${x.port} ${Address.formatIpv6(x.frame, 54 + 8)}`)).toEqual(["1 fd00:200:2::fe"])
    const arp = h.sent.filter((x) => x.frame[12] === 0x08 && x.frame[13] === 0x06)
    expect(arp.map((x) => `${x.port} ${Frames.formatIpv4(Frames.readU32(x.frame, 14 + 24))}`)).toEqual([
      "1 10.200.2.254"
    ])
    h.sent.length = 0
    h.receive(1, H.advertisement(GW_S, "fd00:200:2::fe", DIR_S, "fd00:200:2::1"))
    h.receive(1, H.arpReply(GW_S, "10.200.2.254", DIR_S, "10.200.2.1"))
    // IPv6: a client beyond the default gateway (the reverse-path check accepts it through ::/0).
    const [in6] = h.receive(
      0,
      H.tcp6({ srcMac: GW_C, dstMac: DIR_C, src: REMOTE6, dst: VIP6, sport: 47000, dport: 80, flags: 0x02 })
    )
    expect([in6!.port, dst(in6!.frame), macAt(in6!.frame, 0)]).toEqual([1, RIP3, GW_S])
    // The reply goes to the client's gateway: first a solicitation for it (the reply waits), then the reply.
    const reply6 = H.tcp6({
      srcMac: GW_S,
      dstMac: DIR_S,
      src: RIP3,
      dst: REMOTE6,
      sport: 80,
      dport: 47000,
      flags: 0x12
    })
    const [solicit] = h.receive(1, reply6)
    expect(Address.formatIpv6(solicit!.frame, 54 + 8)).toBe("fd00:200:1::fe")
    const [out6] = h.receive(0, H.advertisement(GW_C, "fd00:200:1::fe", DIR_C, "fd00:200:1::1"))
    expect([out6!.port, src(out6!.frame), dst(out6!.frame), macAt(out6!.frame, 0)]).toEqual([0, VIP6, REMOTE6, GW_C])
    tcpValid(out6!.frame)
    // Plain routing of IPv6 through the default route.
    const [routed6] = h.receive(
      1,
      H.tcp6({ srcMac: RS1, dstMac: DIR_S, src: RIP1, dst: "2001:db8:7::1", sport: 1, dport: 2, flags: 0x02 })
    )
    expect([routed6!.port, macAt(routed6!.frame, 0), routed6!.frame[14 + 7]]).toEqual([0, GW_C, 63])
    // IPv4: the same through 0.0.0.0/0 and 10.200.30.0/24.
    h.receive(0, H.arpReply(GW_C, "10.200.1.254", DIR_C, "10.200.1.1"))
    const [in4] = h.receive(
      0,
      H.tcp({
        srcMac: GW_C,
        dstMac: DIR_C,
        src: "192.0.2.10",
        dst: "10.200.1.100",
        sport: 47001,
        dport: 80,
        flags: 0x02
      })
    )
    expect([in4!.port, Frames.formatIpv4(Frames.readU32(in4!.frame, 30)), macAt(in4!.frame, 0)]).toEqual([
      1,
      "10.200.30.13",
      GW_S
    ])
    const [out4] = h.receive(
      1,
      H.tcp({
        srcMac: GW_S,
        dstMac: DIR_S,
        src: "10.200.30.13",
        dst: "192.0.2.10",
        sport: 80,
        dport: 47001,
        flags: 0x12
      })
    )
    expect([out4!.port, Frames.formatIpv4(Frames.readU32(out4!.frame, 26)), macAt(out4!.frame, 0)]).toEqual([
      0,
      "10.200.1.100",
      GW_C
    ])
    // The director answers ND for its own addresses only, never for routed destinations.
    expect(h.receive(1, H.solicitation(RS1, RIP1, RIP3))).toHaveLength(0)
    expect(h.stats[S.dropSpoofed]).toBe(0)
  })

  it("rejects routes it cannot use, naming the field", async () => {
    const base = {
      ports: [{ mac: DIR_C, addresses: ["10.200.1.1/24", "fd00:200:1::1/64"] }],
      stats: new SharedArrayBuffer(1024 * 8 * 8)
    }
    expect(ForwardingHandler.validate({ ...base, routes: [{ destination: "::/0", via: "10.200.1.254" }] })).toBe(
      'routes[0].via "10.200.1.254" is not IPv6 (the destination is IPv6)'
    )
    expect(ForwardingHandler.validate({ ...base, routes: [{ destination: "fd00::/129", via: "fd00::1" }] })).toContain(
      "routes[0].destination"
    )
    await expect(
      H.make(ForwardingHandler.make, { ...base, routes: [{ destination: "::/0", via: "fd00:999::1" }] }, [
        { name: "t" }
      ])
    ).rejects.toThrow("gateway is on no connected network")
  })

  it("FULLNAT: source from the IPv6 local pool, TOA (kind 254, length 20) with the client on the SYN, replies and ICMPv6 mapped back", async () => {
    const LIP = "fd00:200:2::50"
    const cmds: Array<VST.Command> = [
      { _tag: "AddService", service: { ...web6, scheduler: "wrr", localAddresses: [LIP] } },
      { _tag: "AddDestination", service: web6, destination: { address: RIP2, port: 8000, method: "fullnat" } }
    ]
    const { h } = await start(cmds)
    // The director answers ND for its local address on the servers' side.
    const [na] = h.receive(1, H.solicitation(RS2, RIP2, LIP))
    expect(Address.formatIpv6(na!.frame, 54 + 8)).toBe(LIP)
    // A Linux-like SYN (20 bytes of options): the 20-byte TOA fills the option area to 60 bytes.
    const opts = [2, 4, 5, 0xa0, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]
    const synFrame = syn(47000)
    const withOpts = new Uint8Array(synFrame.length + opts.length)
    withOpts.set(synFrame.subarray(0, 54 + 20))
    withOpts.set(opts, 54 + 20)
    withOpts[54 + 12] = 10 << 4
    Frames.writeU16(withOpts, 14 + 4, 40)
    Frames.writeU16(withOpts, 54 + 16, 0)
    Tcp.updateChecksum(withOpts, 14, 54, 40)
    const [out] = h.receive(0, withOpts)
    const p = parse(out!.frame)
    expect([out!.port, src(out!.frame), dst(out!.frame), p.destinationPort]).toEqual([1, LIP, RIP2, 8000])
    expect(p.sourcePort).toBeGreaterThanOrEqual(1024)
    expect(Tcp.headerLength(out!.frame, p.l4Offset)).toBe(60)
    const toa = Tcp.findOption(out!.frame, p.l4Offset, Tcp.OptionKind.Toa)
    expect(out!.frame[toa + 1]).toBe(20)
    expect(Frames.readU16(out!.frame, toa + 2)).toBe(47000)
    expect(Address.formatIpv6(out!.frame, toa + 4)).toBe(CIP6)
    expect(Tcp.findOption(out!.frame, p.l4Offset, Tcp.OptionKind.Timestamp)).toBeGreaterThan(0) // nothing dropped
    tcpValid(out!.frame)
    expect(h.stats[S.toaInserted]).toBe(1)
    // Later segments carry no TOA.
    const [ack] = h.receive(0, syn(47000, { flags: 0x10 }))
    expect(Tcp.findOption(ack!.frame, parse(ack!.frame).l4Offset, Tcp.OptionKind.Toa)).toBe(-1)
    expect(src(ack!.frame)).toBe(LIP)
    // The reply RIP2:8000 -> LIP:LPORT goes back as VIP:80 -> CIP:47000.
    const lport = p.sourcePort
    const synAck = H.tcp6({ srcMac: RS2, dstMac: DIR_S, src: RIP2, dst: LIP, sport: 8000, dport: lport, flags: 0x12 })
    const [back] = h.receive(1, synAck)
    const q = parse(back!.frame)
    expect([back!.port, src(back!.frame), dst(back!.frame), q.sourcePort, q.destinationPort]).toEqual([
      0,
      VIP6,
      CIP6,
      80,
      47000
    ])
    tcpValid(back!.frame)
    // rs2 reports packet too big about LIP:LPORT -> RIP2:8000: the client gets it about CIP:47000 -> VIP:80.
    const err = new Uint8Array(1500)
    const n = Icmpv6.writeError(
      err,
      0,
      ack!.frame,
      parse(ack!.frame),
      Icmpv6.Type.PacketTooBig,
      0,
      1400,
      H.ip6(RIP2),
      0
    )
    const frame = err.slice(0, n)
    Frames.writeEthernet(frame, 0, H.mac(DIR_S), H.mac(RS2), 0x86dd)
    const [icmp] = h.receive(1, frame)
    const r = parse(icmp!.frame)
    expect([icmp!.port, r.icmpType, src(icmp!.frame), dst(icmp!.frame)]).toEqual([
      0,
      Icmpv6.Type.PacketTooBig,
      VIP6,
      CIP6
    ])
    expect([src(icmp!.frame, r.innerL3Offset), dst(icmp!.frame, r.innerL3Offset)]).toEqual([CIP6, VIP6])
    expect([r.innerSourcePort, r.innerDestinationPort]).toEqual([47000, 80])
    expect(Icmpv6.isChecksumValid(icmp!.frame, 14, r.l4Offset, r.l3End - r.l4Offset)).toBe(true)
    // The other way: the client reports an error about our reply VIP:80 -> CIP:47000; rs2 gets it about
    // its own packet RIP2:8000 -> LIP:LPORT, from LIP.
    const clientErr = new Uint8Array(1500)
    const m = Icmpv6.writeError(clientErr, 0, back!.frame, q, Icmpv6.Type.DestinationUnreachable, 4, 0, H.ip6(CIP6), 0)
    const clientFrame = clientErr.slice(0, m)
    Frames.writeEthernet(clientFrame, 0, H.mac(DIR_C), H.mac(CLIENT), 0x86dd)
    const [toServer] = h.receive(0, clientFrame)
    const t = parse(toServer!.frame)
    expect([toServer!.port, src(toServer!.frame), dst(toServer!.frame)]).toEqual([1, LIP, RIP2])
    expect([src(toServer!.frame, t.innerL3Offset), dst(toServer!.frame, t.innerL3Offset)]).toEqual([RIP2, LIP])
    expect([t.innerSourcePort, t.innerDestinationPort]).toEqual([8000, lport])
    expect(Icmpv6.isChecksumValid(toServer!.frame, 14, t.l4Offset, t.l3End - t.l4Offset)).toBe(true)
    expect(h.stats[S.icmpRelated]).toBe(2)
    // A service without an IPv6 pool cannot take fullnat destinations; an IPv4 pool address is refused.
    h.control({
      _tag: "Command",
      command: {
        _tag: "AddService",
        service: { protocol: "tcp", address: VIP6, port: 443, localAddresses: ["10.0.0.1"] }
      }
    })
    expect(JSON.stringify(h.events)).toContain("is not IPv6 (the service is IPv6)")
    h.control({
      _tag: "Command",
      command: { _tag: "AddService", service: { protocol: "tcp", address: VIP6, port: 444 } }
    })
    h.control({
      _tag: "Command",
      command: {
        _tag: "AddDestination",
        service: { protocol: "tcp", address: VIP6, port: 444 },
        destination: { address: RIP1, method: "fullnat" }
      }
    })
    expect(JSON.stringify(h.events)).toContain("needs the service's localAddresses")
  })

  it("TUN across families: IPv4-in-IPv6 (next header 4) to an IPv6 real server, IPv6-in-IPv4 (protocol 41) to an IPv4 one", async () => {
    const web4 = { protocol: "tcp", address: "10.200.1.100", port: 80 } as const
    const { h } = await start(
      [
        { _tag: "AddService", service: { ...web4, scheduler: "rr" } },
        { _tag: "AddDestination", service: web4, destination: { address: RIP2, method: "tun" } },
        { _tag: "AddService", service: { ...web6, scheduler: "rr" } },
        { _tag: "AddDestination", service: web6, destination: { address: "10.200.2.12", method: "tun" } }
      ],
      1500
    )
    h.receive(1, H.arpReply(RS2, "10.200.2.12", DIR_S, "10.200.2.1"))
    h.receive(0, H.arpRequest(CLIENT, "10.200.1.10", "10.200.1.100"))
    // IPv4 client -> IPv4 VIP, tunnelled in IPv6 to RIP2.
    const syn4 = H.tcp({
      srcMac: CLIENT,
      dstMac: DIR_C,
      src: "10.200.1.10",
      dst: "10.200.1.100",
      sport: 48000,
      dport: 80,
      flags: 0x02
    })
    const [a] = h.receive(0, syn4)
    expect([a!.port, Frames.readU16(a!.frame, 12), a!.frame[14 + Ipv6.NEXT_HEADER]]).toEqual([1, 0x86dd, 4])
    expect([src(a!.frame), dst(a!.frame), macAt(a!.frame, 0)]).toEqual(["fd00:200:2::1", RIP2, RS2])
    expect(Frames.formatIpv4(Frames.readU32(a!.frame, 54 + 16))).toBe("10.200.1.100") // inner unchanged
    expect(a!.frame[54 + 8]).toBe(63) // inner TTL decremented
    expect(a!.frame[14 + Ipv6.HOP_LIMIT]).toBe(63) // outer hop limit = inner TTL
    expect(Ipv4.isChecksumValid(a!.frame, 54)).toBe(true)
    // IPv6 client -> VIP6, tunnelled in IPv4 (protocol 41) to 10.200.2.12.
    const [b6] = h.receive(0, syn(48001))
    expect([b6!.port, Frames.readU16(b6!.frame, 12), b6!.frame[14 + 9]]).toEqual([1, 0x0800, 41])
    expect(Frames.formatIpv4(Frames.readU32(b6!.frame, 26))).toBe("10.200.2.1")
    expect(Frames.formatIpv4(Frames.readU32(b6!.frame, 30))).toBe("10.200.2.12")
    expect(Ipv4.isChecksumValid(b6!.frame, 14)).toBe(true)
    expect([dst(b6!.frame, 34), b6!.frame[34 + 7]]).toEqual([VIP6, 63])
    expect(h.stats[S.tunnelled]).toBe(2)
    // MTU: the inner packet's own rules against 1500 minus the outer header (40 for IPv6, 20 for IPv4).
    const big4 = H.tcp({
      srcMac: CLIENT,
      dstMac: DIR_C,
      src: "10.200.1.10",
      dst: "10.200.1.100",
      sport: 48000,
      dport: 80,
      flags: 0x10,
      df: true,
      payload: 1430
    })
    const [fragNeeded] = h.receive(0, big4)
    const q = parse(fragNeeded!.frame)
    expect([q.icmpType, q.icmpCode, Icmp.nextHopMtu(fragNeeded!.frame, q.l4Offset)]).toEqual([3, 4, 1460])
    const [tooBig] = h.receive(0, syn(48001, { flags: 0x10, payload: 1430 }))
    const r = parse(tooBig!.frame)
    expect([r.icmpType, Icmpv6.mtu(tooBig!.frame, r.l4Offset)]).toEqual([Icmpv6.Type.PacketTooBig, 1480])
    // Only tun may cross families: nat is refused, and so is editing the tun destination to nat.
    h.control({
      _tag: "Command",
      command: { _tag: "AddDestination", service: web4, destination: { address: RIP1, method: "nat" } }
    })
    h.control({
      _tag: "Command",
      command: { _tag: "EditDestination", service: web4, destination: { address: RIP2, method: "nat" } }
    })
    expect(h.stats[S.controlRejected]).toBe(2)
    expect(JSON.stringify(h.events)).toContain("only a tun destination of an IPv4 service may be IPv6")
  })
})
