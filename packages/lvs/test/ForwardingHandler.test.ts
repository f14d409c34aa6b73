import { Icmp, Ipv4, PacketParser, ParseResult, Tcp } from "@lvs-ts/packet"
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
const VIP = "10.200.1.100"
const web = { protocol: "tcp", address: VIP, port: 80 } as const
const ftp = { protocol: "tcp", address: VIP, port: 21 } as const
const S = ForwardingHandler.Stat

const natCommands = (method: VST.Method = "nat"): Array<VST.Command> => [
  { _tag: "AddService", service: { ...web, scheduler: "wrr", localAddresses: ["10.200.2.50"] } },
  { _tag: "AddDestination", service: web, destination: { address: "10.200.2.11", port: 80, weight: 1, method } },
  { _tag: "AddDestination", service: web, destination: { address: "10.200.2.12", port: 8000, weight: 2, method } },
  { _tag: "AddService", service: ftp },
  { _tag: "AddDestination", service: ftp, destination: { address: "10.200.2.12", port: 21, method: "nat" } }
]

const start = async (commands: Array<VST.Command>, mtu = 1500) => {
  const options: ForwardingHandler.Options = {
    ports: [
      { mac: DIR_C, addresses: ["10.200.1.1/24", `${VIP}/32`] },
      { mac: DIR_S, addresses: ["10.200.2.1/24"] }
    ],
    stats: new SharedArrayBuffer(1024 * 8 * 8),
    commands,
    gratuitousArp: false,
    logNoDestination: true
  }
  const h = await H.make(ForwardingHandler.make, options, [
    { name: "tapc", mtu },
    { name: "taps", mtu }
  ])
  // Neighbours: the client asks for the VIP, the real servers for the DIP (the director learns them).
  expect(h.receive(0, H.arpRequest(CLIENT, "10.200.1.10", VIP))).toHaveLength(1)
  h.receive(1, H.arpRequest(RS1, "10.200.2.11", "10.200.2.1"))
  h.receive(1, H.arpRequest(RS2, "10.200.2.12", "10.200.2.1"))
  return { h, counters: new Float64Array(options.stats) }
}

const parse = (frame: Uint8Array) => {
  const p = new PacketParser()
  expect(p.parse(frame, 0, frame.length)).toBe(ParseResult.Ok)
  return p
}
const src = (f: Uint8Array) => Frames.formatIpv4(Ipv4.source(f, 14))
const dst = (f: Uint8Array) => Frames.formatIpv4(Ipv4.destination(f, 14))
const macAt = (f: Uint8Array, o: number) =>
  [...f.subarray(o, o + 6)].map((x) => x.toString(16).padStart(2, "0")).join(":")
const syn = (sport: number, dport = 80, extra: Partial<Parameters<typeof H.tcp>[0]> = {}) =>
  H.tcp({ srcMac: CLIENT, dstMac: DIR_C, src: "10.200.1.10", dst: VIP, sport, dport, flags: 0x02, ...extra })
const checksumsValid = (f: Uint8Array) => {
  const p = parse(f)
  expect(Ipv4.isChecksumValid(f, p.l3Offset)).toBe(true)
  if (p.protocol === 6) expect(Tcp.isChecksumValid(f, p.l3Offset, p.l4Offset, p.l3End - p.l4Offset)).toBe(true)
}

describe("ForwardingHandler", () => {
  it("answers ARP only for addresses it owns on the receiving port", async () => {
    const { h } = await start(natCommands())
    const [reply] = h.receive(0, H.arpRequest(CLIENT, "10.200.1.10", VIP))
    expect(reply!.port).toBe(0)
    expect(macAt(reply!.frame, 22)).toBe(DIR_C) // sender hardware address
    expect(h.receive(0, H.arpRequest(CLIENT, "10.200.1.10", "10.200.2.1"))).toHaveLength(0)
  })

  it("NAT: DNAT in to the scheduled real server, SNAT out to the client, checksums valid", async () => {
    const { h, counters } = await start(natCommands())
    const [out] = h.receive(0, syn(40000))
    expect(out!.port).toBe(1)
    expect(dst(out!.frame)).toBe("10.200.2.12") // wrr: weight 2 first
    expect(parse(out!.frame).destinationPort).toBe(8000)
    expect(src(out!.frame)).toBe("10.200.1.10")
    expect(out!.frame[14 + 8]).toBe(63)
    expect(macAt(out!.frame, 0)).toBe(RS2)
    expect(macAt(out!.frame, 6)).toBe(DIR_S)
    checksumsValid(out!.frame)
    const synAck = H.tcp({
      srcMac: RS2,
      dstMac: DIR_S,
      src: "10.200.2.12",
      dst: "10.200.1.10",
      sport: 8000,
      dport: 40000,
      flags: 0x12
    })
    const [back] = h.receive(1, synAck)
    expect(back!.port).toBe(0)
    expect(src(back!.frame)).toBe(VIP)
    expect(parse(back!.frame).sourcePort).toBe(80)
    expect(macAt(back!.frame, 0)).toBe(CLIENT)
    checksumsValid(back!.frame)
    expect(h.stats[S.forwardedIn]).toBe(1)
    expect(h.stats[S.forwardedOut]).toBe(1)
    expect(counters[0 * 8 + 0]).toBe(1) // service slot 0: one connection
  })

  it("wrr 1:2 over nine connections; port 21 only to rs2", async () => {
    const { h } = await start(natCommands())
    const seen: Record<string, number> = {}
    for (let i = 0; i < 9; i++) {
      const [out] = h.receive(0, syn(41000 + i))
      const k = `${dst(out!.frame)}:${parse(out!.frame).destinationPort}`
      seen[k] = (seen[k] ?? 0) + 1
    }
    expect(seen).toEqual({ "10.200.2.11:80": 3, "10.200.2.12:8000": 6 })
    for (let i = 0; i < 3; i++) {
      const [out] = h.receive(0, syn(42000 + i, 21))
      expect(`${dst(out!.frame)}:${parse(out!.frame).destinationPort}`).toBe("10.200.2.12:21")
    }
  })

  it("other ports of the VIP are refused like the local stack: TCP RST, UDP port unreachable", async () => {
    const { h } = await start(natCommands())
    const [rst] = h.receive(0, syn(43000, 81))
    const p = parse(rst!.frame)
    expect(p.tcpFlags & 0x04).toBe(4)
    expect(src(rst!.frame)).toBe(VIP)
    const [icmp] = h.receive(
      0,
      H.udp({ srcMac: CLIENT, dstMac: DIR_C, src: "10.200.1.10", dst: VIP, sport: 5000, dport: 53 })
    )
    expect([parse(icmp!.frame).icmpType, parse(icmp!.frame).icmpCode]).toEqual([3, 3])
  })

  it("no destination available: ICMP port unreachable from the VIP, counted", async () => {
    const { h } = await start([{ _tag: "AddService", service: web }])
    const [icmp] = h.receive(0, syn(44000))
    const p = parse(icmp!.frame)
    expect([p.icmpType, p.icmpCode]).toEqual([Icmp.Type.DestinationUnreachable, 3])
    expect(src(icmp!.frame)).toBe(VIP)
    expect(h.stats[S.dropNoDestination]).toBe(1)
    expect(h.events).toEqual([{ _tag: "Log", line: "IPVS: wlc: TCP 10.200.1.100:80 - no destination available" }])
  })

  it("TTL 1: ICMP time exceeded, dropped", async () => {
    const { h } = await start(natCommands())
    const [icmp] = h.receive(0, syn(45000, 80, { ttl: 1 }))
    expect(parse(icmp!.frame).icmpType).toBe(Icmp.Type.TimeExceeded)
    expect(h.stats[S.dropTtl]).toBe(1)
  })

  it("DF packets above the MTU: ICMP fragmentation needed with the MTU", async () => {
    const { h } = await start(natCommands(), 576)
    const [icmp] = h.receive(0, syn(46000, 80, { df: true, payload: 1000 }))
    const p = parse(icmp!.frame)
    expect([p.icmpType, p.icmpCode]).toEqual([3, 4])
    expect(Icmp.nextHopMtu(icmp!.frame, p.l4Offset)).toBe(576)
    expect(h.stats[S.dropFragNeeded]).toBe(1)
  })

  it("bad traffic is counted and dropped: bad IP checksum, truncated, spoofed source, IPv4 in an IPv6 EtherType, unknown EtherType", async () => {
    const { h } = await start(natCommands())
    const bad = syn(47000)
    bad[14 + 10]! ^= 0xff
    const truncated = syn(47001).subarray(0, 30)
    const spoofed = H.tcp({ srcMac: RS1, dstMac: DIR_S, src: "10.200.1.10", dst: VIP, sport: 1, dport: 80, flags: 2 })
    const v6 = syn(47002)
    v6[12] = 0x86
    v6[13] = 0xdd
    const odd = syn(47003)
    odd[12] = 0x88
    odd[13] = 0xb5
    expect(h.receive(0, bad, truncated, v6, odd)).toHaveLength(0)
    expect(h.receive(1, spoofed)).toHaveLength(0)
    expect(h.stats[S.dropIpChecksum]).toBe(1)
    expect(h.stats[S.dropMalformed]).toBe(2) // truncated, and IPv4 bytes that do not parse as IPv6
    expect(h.stats[S.dropSpoofed]).toBe(1)
    expect(h.stats[S.dropEtherType]).toBe(1)
    // Still forwarding afterwards.
    expect(h.receive(0, syn(47004))).toHaveLength(1)
  })

  it("random garbage never throws out of the handler", async () => {
    const { h } = await start(natCommands())
    let seed = 7
    const rnd = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return seed >>> 16
    }
    for (let i = 0; i < 300; i++) {
      const f = syn(48000 + i, 80, { payload: rnd() % 64 })
      for (let k = 0; k < 4; k++) f[rnd() % f.length] = rnd() & 0xff
      expect(() => h.receive(rnd() & 1, f.subarray(0, rnd() % f.length))).not.toThrow()
    }
    expect(h.stats[S.dropHandlerFault]).toBe(0)
    expect(h.receive(0, syn(49000))).toHaveLength(1)
  })

  it("queues the first frame while resolving the real server, sends it when ARP answers", async () => {
    const options: ForwardingHandler.Options = {
      ports: [
        { mac: DIR_C, addresses: ["10.200.1.1/24", `${VIP}/32`] },
        { mac: DIR_S, addresses: ["10.200.2.1/24"] }
      ],
      stats: new SharedArrayBuffer(1024 * 64),
      commands: natCommands(),
      gratuitousArp: false
    }
    const h = await H.make(ForwardingHandler.make, options, [{ name: "tapc" }, { name: "taps" }])
    // Configured destinations are resolved at once: one ARP request per real server, before any traffic.
    expect(
      h.sent.map((r) => [r.port, Frames.readU16(r.frame, 20), Frames.formatIpv4(Frames.readU32(r.frame, 38))])
    ).toEqual([
      [1, 1, "10.200.2.11"],
      [1, 1, "10.200.2.12"]
    ])
    h.receive(0, H.arpRequest(CLIENT, "10.200.1.10", VIP))
    // wrr (rs2 weight 2, rs1 weight 1) picks rs2, rs1, rs2: the three frames wait for the answers.
    expect(h.receive(0, syn(40000), syn(40001), syn(40002))).toEqual([])
    expect(h.stats[S.neighbourQueued]).toBe(3)
    const queued = h.receive(1, H.arpReply(RS2, "10.200.2.12", DIR_S, "10.200.2.1"))
    expect(queued.map((q) => parse(q.frame).sourcePort)).toEqual([40000, 40002]) // in order
    expect(dst(queued[0]!.frame)).toBe("10.200.2.12")
    expect(macAt(queued[0]!.frame, 0)).toBe(RS2)
    checksumsValid(queued[0]!.frame)
    // Unanswered resolution is retried, then given up.
    h.receive(0, syn(40003, 80, { dst: "10.200.1.100" }))
    const ticks = [h.tick(performance.now() + 5000), h.tick(performance.now() + 10000)]
    expect(ticks.flat().length).toBeGreaterThanOrEqual(0)
  })

  it("DR: only the MACs change (and the TTL)", async () => {
    const { h } = await start(natCommands("dr"))
    const f = syn(50000)
    const [out] = h.receive(0, f)
    expect(dst(out!.frame)).toBe(VIP)
    expect(parse(out!.frame).destinationPort).toBe(80)
    expect(macAt(out!.frame, 0)).toBe(RS2)
    expect(out!.frame.subarray(34)).toEqual(f.subarray(34))
    checksumsValid(out!.frame)
  })

  it("TUN: IPIP from the DIP to the real server, inner packet unchanged", async () => {
    const { h } = await start(natCommands("tun"))
    const f = syn(51000)
    const [out] = h.receive(0, f)
    const p = parse(out!.frame)
    expect(p.protocol).toBe(4)
    expect(src(out!.frame)).toBe("10.200.2.1")
    expect(dst(out!.frame)).toBe("10.200.2.12")
    expect(macAt(out!.frame, 0)).toBe(RS2)
    expect(Frames.formatIpv4(Ipv4.destination(out!.frame, 34))).toBe(VIP)
    expect(out!.frame.subarray(54)).toEqual(f.subarray(34))
    expect(h.stats[S.tunnelled]).toBe(1)
  })

  it("FULLNAT: source from the local pool, TOA with the client's address and port on the SYN, replies mapped back", async () => {
    const { h } = await start(natCommands("fullnat"))
    const [out] = h.receive(0, syn(52000))
    const p = parse(out!.frame)
    expect(src(out!.frame)).toBe("10.200.2.50")
    expect(dst(out!.frame)).toBe("10.200.2.12")
    const toa = Tcp.findOption(out!.frame, p.l4Offset, 254)
    expect(toa).toBeGreaterThan(0)
    expect(out!.frame[toa + 1]).toBe(8)
    expect(Frames.readU16(out!.frame, toa + 2)).toBe(52000)
    expect(Frames.formatIpv4(Frames.readU32(out!.frame, toa + 4))).toBe("10.200.1.10")
    checksumsValid(out!.frame)
    const lport = p.sourcePort
    const [back] = h.receive(
      1,
      H.tcp({
        srcMac: RS2,
        dstMac: DIR_S,
        src: "10.200.2.12",
        dst: "10.200.2.50",
        sport: 8000,
        dport: lport,
        flags: 0x12
      })
    )
    expect(src(back!.frame)).toBe(VIP)
    expect(dst(back!.frame)).toBe("10.200.1.10")
    expect(parse(back!.frame).destinationPort).toBe(52000)
    checksumsValid(back!.frame)
  })

  it("control messages change the table between batches: weight 0 quiesces a destination", async () => {
    const { h } = await start(natCommands())
    h.control({
      _tag: "Command",
      command: {
        _tag: "EditDestination",
        service: web,
        destination: { address: "10.200.2.12", port: 8000, weight: 0, method: "nat" }
      }
    })
    for (let i = 0; i < 4; i++) expect(dst(h.receive(0, syn(53000 + i))[0]!.frame)).toBe("10.200.2.11")
    h.control({ _tag: "Command", command: { _tag: "DeleteService", service: web } })
    expect(parse(h.receive(0, syn(53100))[0]!.frame).tcpFlags & 4).toBe(4) // no service: the local RST
    expect(h.stats[S.controlApplied]).toBe(natCommands().length + 2)
  })

  it("persistence: one client sticks to one server across connections", async () => {
    const { h } = await start([
      { _tag: "AddService", service: { ...web, scheduler: "rr", persistence: { timeout: 300 } } },
      { _tag: "AddDestination", service: web, destination: { address: "10.200.2.11", port: 80, method: "nat" } },
      { _tag: "AddDestination", service: web, destination: { address: "10.200.2.12", port: 80, method: "nat" } }
    ])
    const first = dst(h.receive(0, syn(54000))[0]!.frame)
    for (let i = 1; i < 5; i++) expect(dst(h.receive(0, syn(54000 + i))[0]!.frame)).toBe(first)
  })

  it("answers ping for its own addresses", async () => {
    const { h } = await start(natCommands())
    const f = new Uint8Array(98)
    Frames.writeIcmpEcho(f, 0, 8, H.mac(DIR_C), H.mac(CLIENT), H.ip("10.200.1.10"), H.ip(VIP), 1, 1, 56)
    const [reply] = h.receive(0, f)
    expect(parse(reply!.frame).icmpType).toBe(0)
    expect(src(reply!.frame)).toBe(VIP)
  })

  it("ICMP errors about NAT connections are rewritten in both headers, both ways", async () => {
    const { h } = await start(natCommands())
    const [toRs] = h.receive(0, syn(55000))
    // The real server answers the forwarded SYN with an ICMP error (its L2 header is the reply's).
    const fromRs = new Uint8Array(600)
    const n = Icmp.writeError(fromRs, 0, toRs!.frame, parse(toRs!.frame), 3, 3, 0, H.ip("10.200.2.12"))
    const [out] = h.receive(1, fromRs.subarray(0, n))
    expect(out!.port).toBe(0)
    const po = parse(out!.frame)
    expect([src(out!.frame), dst(out!.frame)]).toEqual([VIP, "10.200.1.10"])
    expect(Frames.formatIpv4(Ipv4.destination(out!.frame, po.innerL3Offset))).toBe(VIP) // embedded RIP -> VIP
    expect(po.innerDestinationPort).toBe(80)
    expect(Icmp.isChecksumValid(out!.frame, po.l4Offset, po.l3End - po.l4Offset)).toBe(true)
    expect(Ipv4.isChecksumValid(out!.frame, po.innerL3Offset)).toBe(true)
    // The client answers a reply (VIP:80 -> client) with an ICMP error: it goes to the real server.
    const synAck = H.tcp({
      srcMac: RS2,
      dstMac: DIR_S,
      src: "10.200.2.12",
      dst: "10.200.1.10",
      sport: 8000,
      dport: 55000,
      flags: 0x12
    })
    const [reply] = h.receive(1, synAck)
    const fromClient = new Uint8Array(600)
    const m = Icmp.writeError(fromClient, 0, reply!.frame, parse(reply!.frame), 3, 3, 0, H.ip("10.200.1.10"))
    const [inward] = h.receive(0, fromClient.subarray(0, m))
    expect(inward!.port).toBe(1)
    const pi = parse(inward!.frame)
    expect(dst(inward!.frame)).toBe("10.200.2.12")
    expect(Frames.formatIpv4(Ipv4.source(inward!.frame, pi.innerL3Offset))).toBe("10.200.2.12") // embedded VIP -> RIP
    expect(pi.innerSourcePort).toBe(8000)
    expect(Icmp.isChecksumValid(inward!.frame, pi.l4Offset, pi.l3End - pi.l4Offset)).toBe(true)
    expect(h.stats[S.icmpRelated]).toBe(2)
  })

  it("port-zero persistent service (PCC): one client, two ports, one real server, ports kept", async () => {
    const any = { protocol: "tcp", address: VIP, port: 0 } as const
    const { h } = await start([
      { _tag: "AddService", service: { ...any, scheduler: "rr", persistence: { timeout: 300 } } },
      { _tag: "AddDestination", service: any, destination: { address: "10.200.2.11", port: 0, method: "nat" } },
      { _tag: "AddDestination", service: any, destination: { address: "10.200.2.12", port: 0, method: "nat" } }
    ])
    const [a] = h.receive(0, syn(56000, 80))
    const [b] = h.receive(0, syn(56001, 443))
    expect(dst(b!.frame)).toBe(dst(a!.frame))
    expect([parse(a!.frame).destinationPort, parse(b!.frame).destinationPort]).toEqual([80, 443])
  })

  it("firewall-mark services get their marks from the configured classifier", async () => {
    const { h } = await start([
      { _tag: "SetClassifier", rules: [{ mark: 7, protocol: "tcp", destination: `${VIP}/32`, ports: [8080, 8090] }] },
      { _tag: "AddService", service: { fwmark: 7, scheduler: "rr" } },
      {
        _tag: "AddDestination",
        service: { fwmark: 7 },
        destination: { address: "10.200.2.11", port: 0, method: "nat" }
      }
    ])
    const [out] = h.receive(0, syn(57000, 8085))
    expect([dst(out!.frame), parse(out!.frame).destinationPort]).toEqual(["10.200.2.11", 8085])
    const [rst] = h.receive(0, syn(57001, 8100)) // unmarked: no service, the local RST
    expect(parse(rst!.frame).tcpFlags & 4).toBe(4)
  })
})

describe("ForwardingHandler TUN encapsulations", () => {
  const tunCommands = (tunnel: Partial<VST.DestinationSpec>): Array<VST.Command> => [
    { _tag: "AddService", service: { ...web, scheduler: "rr" } },
    { _tag: "AddDestination", service: web, destination: { address: "10.200.2.12", method: "tun", ...tunnel } }
  ]

  it("GUE: outer UDP to the tunnel port from a flow-hashed source port, GUE header naming IPIP, inner packet intact", async () => {
    const { h } = await start(tunCommands({ tunnelType: "gue", tunnelPort: 6080 }))
    const [a] = h.receive(0, syn(48000))
    const [b] = h.receive(0, syn(48000, 80, { flags: 0x10 }))
    const f = a!.frame
    expect([f[14 + 9], src(f), dst(f)]).toEqual([17, "10.200.2.1", "10.200.2.12"])
    expect(Frames.readU16(f, 34 + 2)).toBe(6080)
    expect(Frames.readU16(f, 34)).toBeGreaterThanOrEqual(49152)
    expect(Frames.readU16(b!.frame, 34)).toBe(Frames.readU16(f, 34)) // same flow, same source port
    expect(f[34 + 8 + 1]).toBe(4) // GUE protocol: IPIP
    expect(Frames.formatIpv4(Ipv4.destination(f, 34 + 12))).toBe(VIP)
    expect(Ipv4.isChecksumValid(f, 14)).toBe(true)
  })

  it("GRE: protocol 47, GRE protocol type IPv4, inner packet intact; the MTU check counts the GRE header", async () => {
    const { h } = await start(tunCommands({ tunnelType: "gre" }))
    const [a] = h.receive(0, syn(48100))
    const f = a!.frame
    expect([f[14 + 9], dst(f)]).toEqual([47, "10.200.2.12"])
    expect(Frames.readU16(f, 34 + 2)).toBe(0x0800)
    expect(Frames.formatIpv4(Ipv4.destination(f, 38))).toBe(VIP)
    // 1500 - 24 bytes of outer IPv4 + GRE: a 1480-byte DF packet no longer fits.
    const [icmp] = h.receive(0, syn(48101, 80, { df: true, payload: 1440 }))
    const p = parse(icmp!.frame)
    expect([p.icmpType, p.icmpCode, Icmp.nextHopMtu(icmp!.frame, p.l4Offset)]).toEqual([3, 4, 1476])
  })

  it("rejects a tunnel type without tun, an unknown type, and gue without a port", async () => {
    const { h } = await start([])
    const bad: Array<VST.DestinationSpec> = [
      { address: "10.200.2.11", method: "dr", tunnelType: "gre" },
      { address: "10.200.2.11", method: "tun", tunnelType: "vxlan" as VST.TunnelType },
      { address: "10.200.2.11", method: "tun", tunnelType: "gue" }
    ]
    h.control({ _tag: "Command", command: { _tag: "AddService", service: { ...web, scheduler: "rr" } } })
    for (const destination of bad) {
      h.control({ _tag: "Command", command: { _tag: "AddDestination", service: web, destination } })
    }
    expect(h.stats[S.controlRejected]).toBe(3)
    expect(JSON.stringify(h.events)).toMatch(/needs method tun.*is not ipip, gue or gre.*tunnelPort undefined must be/)
  })
})
