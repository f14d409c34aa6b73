/**
 * tshark as the oracle: every frame the library's builders and rewriters produce, from random valid inputs
 * (fast-check, seeded, bounded) and from every golden Linux frame, is decoded by tshark with all checksum checks on;
 * no frame may be malformed, carry a bad checksum or raise a warning/error expert info (see `problems`).
 *
 * Frames are batched: one tshark run per group. Each frame carries a label saying how it was made, and the
 * fast-check seed is in every failure message (replay with FC_SEED=<seed>).
 */
import {
  Arp,
  Ethernet,
  Gre,
  Gue,
  Icmp,
  Icmpv6,
  IpProtocol,
  Ipv4,
  Ipv6,
  Nat,
  Ndp,
  PacketParser,
  ParseResult,
  parseResultName,
  Tcp,
  Tunnel,
  Udp
} from "@lvs-ts/packet"
import fc from "fast-check"
import { beforeAll, describe, expect, it } from "vitest"
import { allFixtures } from "./fixtures.ts"
import { buildFrame, frameSpec, ipv4, ipv6, mac, SEED, samples } from "./gen.ts"
import { dissect, problems, tsharkAvailability, tsharkGate } from "./tshark.ts"

/** A frame to judge and how it was made. */
interface Case {
  readonly label: string
  readonly frame: Uint8Array
}

const gate = tsharkGate()

/** Runs tshark over all cases at once and returns the objections, labelled (at most 30, then a count). */
const judge = (cases: ReadonlyArray<Case>): ReadonlyArray<string> => {
  const d = dissect(cases.map((c) => c.frame))
  const all = d.flatMap((x) => problems(x, `${cases[x.index]!.label} [seed ${SEED}]`))
  return all.length <= 30 ? all : [...all.slice(0, 30), `... and ${all.length - 30} more of ${cases.length} frames`]
}

/** Every frame a builder or rewriter produced must also parse cleanly with the library itself. */
const parses = (cases: ReadonlyArray<Case>): ReadonlyArray<string> => {
  const p = new PacketParser()
  return cases.flatMap((c) => {
    const r = p.parse(c.frame, 0, c.frame.length)
    return r === ParseResult.Ok ? [] : [`${c.label}: library parse ${parseResultName(r)}`]
  })
}

const RANDOM_INPUTS = 150

/** Random valid inputs, each in a buffer with 96 bytes of headroom and 64 of tailroom. */
const randomInputs = () =>
  samples(frameSpec(), RANDOM_INPUTS).map((spec, i) => ({
    label: `random#${i} ${describeSpec(spec)}`,
    routing: spec.ip.v === 6 && spec.ip.ext.includes(43),
    ...buildFrame(spec, 96, 64)
  }))

const describeSpec = (s: ReturnType<typeof frameSpec> extends fc.Arbitrary<infer A> ? A : never): string =>
  `${s.vlan >= 0 ? `vlan${s.vlan} ` : ""}ipv${s.ip.v}${s.ip.v === 6 && s.ip.ext.length > 0 ? `+${s.ip.ext.join("+")}` : ""} ${s.l4.kind}`

/** Golden frames that carry IP, each copied into a buffer with headroom and tailroom. */
const goldenInputs = () =>
  allFixtures().flatMap((f) =>
    f.pcap.records.flatMap((r) => {
      const p = new PacketParser()
      if (p.parse(r.data, 0, r.data.length) !== ParseResult.Ok || p.ipVersion === 0) return []
      const buffer = new Uint8Array(96 + r.data.length + 64)
      buffer.set(r.data, 96)
      return [{ label: `${f.name}#${r.index}`, buffer, offset: 96, length: r.data.length }]
    })
  )

interface Input {
  readonly label: string
  readonly buffer: Uint8Array
  readonly offset: number
  readonly length: number
  /** An IPv6 routing header is present (see the ICMP error tests for why that matters). */
  readonly routing?: boolean
}

const copyOut = (b: Uint8Array, start: number, end: number) => b.slice(start, end)

describe("tshark oracle: builders and rewriters", () => {
  if (gate === "fail") {
    it("tshark is installed (CI=true)", () => {
      expect.fail(`${tsharkAvailability().detail}. CI must install it (apt-get install tshark).`)
    })
  }

  // tshark takes 1-3 s per batch on this machine; the encapsulation batch holds a few thousand frames.
  describe.skipIf(gate !== "run")("with tshark", { timeout: 120_000 }, () => {
    let inputs: ReadonlyArray<Input> = []
    beforeAll(() => {
      inputs = [...randomInputs(), ...goldenInputs()]
    })

    it("the random inputs themselves are valid (the generator is independent of the library)", () => {
      const cases = inputs.map((i) => ({ label: i.label, frame: copyOut(i.buffer, i.offset, i.offset + i.length) }))
      expect(cases.length).toBeGreaterThan(RANDOM_INPUTS)
      expect(parses(cases)).toEqual([])
      expect(judge(cases)).toEqual([])
    })

    it("ICMP/ICMPv6 errors, echo replies and TCP RSTs built from every input", () => {
      const cases: Array<Case> = []
      const out = new Uint8Array(2048)
      const p = new PacketParser()
      const us4 = 0xc0000201 // 192.0.2.1
      const us6 = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 1])
      const mtus = samples(fc.integer({ min: 68, max: 65535 }), inputs.length, 1)
      inputs.forEach((input, i) => {
        expect(p.parse(input.buffer, input.offset, input.length)).toBe(ParseResult.Ok)
        const add = (what: string, n: number) => {
          expect(n, `${input.label} ${what}`).toBeGreaterThan(0)
          cases.push({ label: `${what}(${input.label})`, frame: out.slice(0, n) })
        }
        const isError =
          p.ipVersion === 4
            ? p.icmpType >= 0 && Icmp.isError(p.icmpType)
            : p.icmpType >= 0 && Icmpv6.isError(p.icmpType)
        const firstFragment = p.fragmentOffset === 0
        // Like icmp_send / icmp6_send, callers never answer a multicast or broadcast packet with an error
        // (the builder swaps the MACs, which would make a group address the source).
        const group =
          Ethernet.isMulticast(input.buffer, input.offset) ||
          (p.ipVersion === 6 && input.buffer[p.l3Offset + Ipv6.DESTINATION] === 0xff)
        if (group) return
        // tshark 4.0 verifies a TCP/UDP checksum quoted in an ICMPv6 error with the fixed destination even when a
        // routing header names another final one, so it flags a verbatim quote of a packet it accepts on its own:
        // errors about routed packets are not judged (the routed packets themselves are, with the final destination).
        if (input.routing) return
        if (p.ipVersion === 4 && !isError && firstFragment) {
          add("Icmp.writePortUnreachable", Icmp.writePortUnreachable(out, 0, input.buffer, p, us4))
          add("Icmp.writeFragmentationNeeded", Icmp.writeFragmentationNeeded(out, 0, input.buffer, p, mtus[i]!, us4))
          add("Icmp.writeTimeExceeded", Icmp.writeTimeExceeded(out, 0, input.buffer, p, us4))
          if (p.icmpType === Icmp.Type.EchoRequest && !p.moreFragments) {
            add("Icmp.writeEchoReply", Icmp.writeEchoReply(out, 0, input.buffer, p))
          }
        }
        if (p.ipVersion === 6 && !isError && firstFragment) {
          add("Icmpv6.writePortUnreachable", Icmpv6.writePortUnreachable(out, 0, input.buffer, p, us6, 0))
          add(
            "Icmpv6.writePacketTooBig",
            Icmpv6.writePacketTooBig(out, 0, input.buffer, p, Math.max(1280, mtus[i]!), us6, 0)
          )
          add("Icmpv6.writeTimeExceeded", Icmpv6.writeTimeExceeded(out, 0, input.buffer, p, us6, 0))
          if (p.icmpType === Icmpv6.Type.EchoRequest && !p.moreFragments) {
            add("Icmpv6.writeEchoReply", Icmpv6.writeEchoReply(out, 0, input.buffer, p))
          }
        }
        if (p.protocol === IpProtocol.Tcp && p.sourcePort >= 0 && (p.tcpFlags & Tcp.Flag.Rst) === 0) {
          add("Tcp.writeReset", Tcp.writeReset(out, 0, input.buffer, p))
        }
      })
      expect(cases.length).toBeGreaterThan(inputs.length)
      expect(parses(cases)).toEqual([])
      expect(judge(cases)).toEqual([])
    })

    it("ARP request/reply/gratuitous and IPv6 neighbour advertisements from random addresses", () => {
      const cases: Array<Case> = []
      const args = samples(
        fc.tuple(mac, mac, ipv4, ipv4, ipv6, ipv6, fc.boolean(), fc.integer({ min: 0, max: 7 })),
        100,
        2
      )
      for (const [m1, m2, a1, a2, t6, d6, router, flagBits] of args) {
        const ours = Uint8Array.from(m1)
        const theirs = Uint8Array.from(m2)
        const out = new Uint8Array(128)
        const add = (what: string, n: number) => {
          expect(n, what).toBeGreaterThan(0)
          cases.push({ label: what, frame: out.slice(0, n) })
        }
        add("Arp.writeRequest", Arp.writeRequest(out, 0, ours, a1, a2))
        add("Arp.writeReply", Arp.writeReply(out, 0, ours, a1, theirs, a2))
        add("Arp.writeGratuitous", Arp.writeGratuitous(out, 0, ours, a1))
        const linkLocal = Uint8Array.from([0xfe, 0x80, 0, 0, 0, 0, 0, 0, ...t6.slice(8)])
        const flags =
          (flagBits & 1 ? Ndp.Flag.Router : 0) |
          (flagBits & 2 ? Ndp.Flag.Solicited : 0) |
          (flagBits & 4 ? Ndp.Flag.Override : 0)
        add(
          "Ndp.writeAdvertisement",
          Ndp.writeAdvertisement(
            out,
            0,
            ours,
            linkLocal,
            0,
            theirs,
            Uint8Array.from(d6),
            0,
            Uint8Array.from(t6),
            0,
            flags
          )
        )
        add(
          "Ndp.writeUnsolicitedAdvertisement",
          Ndp.writeUnsolicitedAdvertisement(out, 0, ours, linkLocal, 0, Uint8Array.from(t6), 0, router)
        )
      }
      expect(parses(cases)).toEqual([])
      expect(judge(cases)).toEqual([])
    })

    it("NAT (DNAT/SNAT/FULLNAT, v4 and v6, TCP/UDP/SCTP/ICMP, fragments) and DR (MACs + TTL) rewrites of every input", () => {
      const cases: Array<Case> = []
      const p = new PacketParser()
      const targets = samples(fc.tuple(ipv4, ipv6, fc.integer({ min: 0, max: 65535 }), mac, mac), inputs.length, 3)
      inputs.forEach((input, i) => {
        const [a4, a6, port, m1, m2] = targets[i]!
        const a6b = Uint8Array.from(a6)
        for (const op of ["dnat", "snat", "dnat-keep-port", "fullnat", "dr"] as const) {
          const b = input.buffer.slice()
          expect(p.parse(b, input.offset, input.length)).toBe(ParseResult.Ok)
          // The library's contract: pass -1 when there is no transport header (a non-first fragment).
          const l4 = p.fragmentOffset !== 0 ? -1 : p.l4Offset
          const prt = op === "dnat-keep-port" ? -1 : port
          if (op === "dr") {
            Ethernet.rewrite(b, input.offset, Uint8Array.from(m1), Uint8Array.from(m2))
            const ok = p.ipVersion === 4 ? Ipv4.decrementTtl(b, p.l3Offset) : Ipv6.decrementHopLimit(b, p.l3Offset)
            if (!ok) continue // TTL 1: a router drops it (and the time-exceeded builder is tested above)
          } else if (op === "fullnat") {
            // Both addresses and ports in one pass (client -> VIP becomes LIP:LPORT -> RIP:RPORT).
            if (p.ipVersion === 4)
              Nat.setAddressesV4(b, p.l3Offset, l4, p.protocol, a4 ^ 0x00ff00ff, port ^ 0x5555, a4, prt)
            else Nat.setAddressesV6(b, p.l3Offset, l4, p.protocol, a6b, 0, port ^ 0x5555, a6b.slice().reverse(), 0, prt)
          } else if (p.ipVersion === 4) {
            if (op === "snat") Nat.setSourceV4(b, p.l3Offset, l4, p.protocol, a4, prt)
            else Nat.setDestinationV4(b, p.l3Offset, l4, p.protocol, a4, prt)
          } else {
            if (op === "snat") Nat.setSourceV6(b, p.l3Offset, l4, p.protocol, a6b, 0, prt)
            else Nat.setDestinationV6(b, p.l3Offset, l4, p.protocol, a6b, 0, prt)
          }
          cases.push({ label: `${op}(${input.label})`, frame: copyOut(b, input.offset, input.offset + input.length) })
        }
      })
      expect(parses(cases)).toEqual([])
      expect(judge(cases)).toEqual([])
    })

    it("NAT of ICMP errors with their embedded headers (golden Linux errors and errors about random packets)", () => {
      const cases: Array<Case> = []
      const p = new PacketParser()
      const out = new Uint8Array(2048)
      const errors: Array<Input> = []
      // Linux-made errors from the captures, and errors about each random TCP/UDP packet.
      for (const input of inputs) {
        expect(p.parse(input.buffer, input.offset, input.length)).toBe(ParseResult.Ok)
        if (input.routing) continue // see the builders test: tshark misjudges quotes of routed packets
        if (p.icmpType >= 0 && (p.ipVersion === 4 ? Icmp.isError(p.icmpType) : Icmpv6.isError(p.icmpType))) {
          errors.push(input)
        } else if (
          (p.protocol === IpProtocol.Tcp || p.protocol === IpProtocol.Udp || p.protocol === IpProtocol.Sctp) &&
          p.fragmentOffset === 0
        ) {
          const n =
            p.ipVersion === 4
              ? Icmp.writePortUnreachable(out, 0, input.buffer, p, Ipv4.destination(input.buffer, p.l3Offset))
              : Icmpv6.writePortUnreachable(out, 0, input.buffer, p, input.buffer, p.l3Offset + Ipv6.DESTINATION)
          errors.push({ label: `unreachable(${input.label})`, buffer: out.slice(0, n), offset: 0, length: n })
        }
      }
      expect(errors.filter((e) => !e.label.startsWith("unreachable")).length).toBeGreaterThanOrEqual(8)
      // Port -1 means "keep the embedded port" (address-only NAT, e.g. port-0 or fwmark services).
      const anyPort = fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }))
      const targets = samples(fc.tuple(ipv4, ipv6, anyPort), errors.length, 4)
      errors.forEach((e, i) => {
        const [a4, a6, port] = targets[i]!
        for (const dir of ["in", "out"] as const) {
          const b = e.buffer.slice()
          expect(p.parse(b, e.offset, e.length)).toBe(ParseResult.Ok)
          const ok =
            p.ipVersion === 4
              ? dir === "in"
                ? Nat.icmpErrorInV4(b, p, a4, port)
                : Nat.icmpErrorOutV4(b, p, a4, port)
              : dir === "in"
                ? Nat.icmpErrorInV6(b, p, Uint8Array.from(a6), 0, port)
                : Nat.icmpErrorOutV6(b, p, Uint8Array.from(a6), 0, port)
          expect(ok, `${dir}(${e.label})`).toBe(true)
          // Semantics, which tshark cannot judge: the quote now names the new address and port.
          const q = new PacketParser()
          expect(q.parse(b, e.offset, e.length)).toBe(ParseResult.Ok)
          if (port >= 0 && q.innerFragmentOffset === 0 && [6, 17, 132].includes(q.innerProtocol)) {
            expect(dir === "in" ? q.innerSourcePort : q.innerDestinationPort, `${dir}(${e.label}) quoted port`).toBe(
              port
            )
          }
          cases.push({ label: `icmpError-${dir}(${e.label})`, frame: copyOut(b, e.offset, e.offset + e.length) })
        }
      })
      expect(parses(cases)).toEqual([])
      expect(judge(cases)).toEqual([])
    })

    it("tunnel encapsulation (ipip/gue/gre, IPv4 and IPv6 outer, with and without checksums) and decapsulation", () => {
      const cases: Array<Case> = []
      const p = new PacketParser()
      const src6 = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 1, ...new Array<number>(9).fill(0), 1])
      const dst6 = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 2, ...new Array<number>(9).fill(0), 2])
      const macs = {
        destinationMac: Uint8Array.from([2, 0, 0, 0, 0, 0xb]),
        sourceMac: Uint8Array.from([2, 0, 0, 0, 0, 0xa])
      }
      const tunnels: Array<[string, Tunnel.Tunnel]> = []
      for (const outerVersion of [4, 6] as const) {
        const addrs =
          outerVersion === 4 ? { source4: 0xc0000201, destination4: 0xc6336402 } : { source6: src6, destination6: dst6 }
        for (const checksum of [false, true]) {
          tunnels.push([
            `ipip/v${outerVersion}`,
            Tunnel.make({ type: Tunnel.TunnelType.Ipip, outerVersion, ...addrs, ...macs })
          ])
          tunnels.push([
            `gue/v${outerVersion}/csum=${checksum}`,
            Tunnel.make({ type: Tunnel.TunnelType.Gue, outerVersion, port: 6080, checksum, ...addrs, ...macs })
          ])
          tunnels.push([
            `gre/v${outerVersion}/csum=${checksum}`,
            Tunnel.make({ type: Tunnel.TunnelType.Gre, outerVersion, checksum, ...addrs, ...macs })
          ])
        }
      }
      // IPVS with pmtu_disc off: the outer header never copies DF.
      tunnels.push([
        "ipip/v4/no-df",
        Tunnel.make({
          type: Tunnel.TunnelType.Ipip,
          outerVersion: 4,
          source4: 0xc0000201,
          destination4: 0xc6336402,
          copyDontFragment: false,
          ...macs
        })
      ])
      const ids = samples(
        fc.tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 1024, max: 65535 })),
        inputs.length,
        5
      )
      inputs.forEach((input, i) => {
        const [id, sport] = ids[i]!
        for (const [name, t] of tunnels) {
          const b = input.buffer.slice()
          expect(p.parse(b, input.offset, input.length)).toBe(ParseResult.Ok)
          const l3 = p.l3Offset
          const end = p.l3End
          const inner = b.slice(l3, end)
          const start = Tunnel.encapsulate(b, l3, end - l3, t, id, sport)
          expect(start, `${name}(${input.label})`).toBeGreaterThanOrEqual(0)
          cases.push({ label: `encap ${name}(${input.label})`, frame: copyOut(b, start, end) })
          // GUE has no tshark dissector: the inner packet is judged on its own after decapsulation.
          const q = new PacketParser()
          expect(q.parse(b, start, end - start)).toBe(ParseResult.Ok)
          const d = Tunnel.decapsulate(b, q, 6080)
          expect(d, `decap ${name}(${input.label})`).toBe(l3 - 14)
          expect(Buffer.from(b.subarray(l3, end)).equals(Buffer.from(inner))).toBe(true)
          if (name.startsWith("gue") || i % 8 === 0) {
            cases.push({ label: `decap ${name}(${input.label})`, frame: copyOut(b, d, end) })
          }
        }
      })
      expect(parses(cases)).toEqual([])
      expect(judge(cases)).toEqual([])
    })

    it("low-level writers assemble valid frames: Ethernet, IPv4/IPv6, UDP, GRE with checksum/key/sequence", () => {
      const cases: Array<Case> = []
      const p = new PacketParser()
      const args = samples(
        fc.tuple(fc.boolean(), fc.integer({ min: -1, max: 0xffffffff }), fc.integer({ min: -1, max: 0xffffffff })),
        inputs.length,
        7
      )
      const ours = Uint8Array.from([2, 0, 0, 0, 0, 0xa])
      const peer = Uint8Array.from([2, 0, 0, 0, 0, 0xb])
      const src6 = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 1])
      const dst6 = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 2])
      inputs.forEach((input, i) => {
        expect(p.parse(input.buffer, input.offset, input.length)).toBe(ParseResult.Ok)
        const inner = input.buffer.subarray(p.l3Offset, p.l3End)
        const [csum, key, seq] = args[i]!
        const out = new Uint8Array(inner.length + 100)
        const v6 = i % 2 === 1
        Ethernet.write(out, 0, peer, ours, v6 ? Ethernet.EtherType.Ipv6 : Ethernet.EtherType.Ipv4)
        const l4 = 14 + (v6 ? 40 : 20)
        const greLength = Gre.write(out, l4, p.ipVersion === 4 ? 0x0800 : 0x86dd, csum, key, seq)
        out.set(inner, l4 + greLength)
        const total = (v6 ? 0 : 20) + greLength + inner.length
        if (v6) Ipv6.write(out, 14, 0, 0, greLength + inner.length, IpProtocol.Gre, 64, src6, 0, dst6, 0)
        else Ipv4.write(out, 14, 0, total, i, Ipv4.FLAG_DF, 64, IpProtocol.Gre, 0xc0000201, 0xc0000202)
        if (csum) Gre.updateChecksum(out, l4, greLength + inner.length)
        cases.push({
          label: `Gre.write(csum=${csum} key=${key} seq=${seq}, ${input.label})`,
          frame: out.slice(0, l4 + greLength + inner.length)
        })
        // UDP + GUE by hand (Udp.write, Gue.write, Udp.updateChecksum), checked as UDP (tshark has no GUE).
        const u = new Uint8Array(inner.length + 100)
        Ethernet.write(u, 0, peer, ours, Ethernet.EtherType.Ipv4)
        const udpLength = 8 + 4 + inner.length
        Ipv4.write(u, 14, 0, 20 + udpLength, i, 0, 64, IpProtocol.Udp, 0xc0000201, 0xc0000202)
        Udp.write(u, 34, 40000 + (i % 1000), 6080, udpLength)
        Gue.write(u, 42, p.ipVersion === 4 ? IpProtocol.Ipip : IpProtocol.Ipv6)
        u.set(inner, 46)
        Udp.updateChecksum(u, 14, 34)
        cases.push({ label: `Udp.write+Gue.write(${input.label})`, frame: u.slice(0, 14 + 20 + udpLength) })
      })
      expect(parses(cases)).toEqual([])
      expect(judge(cases)).toEqual([])
    })

    it("TOA insertion (FULLNAT) into TCP segments", () => {
      const cases: Array<Case> = []
      const p = new PacketParser()
      const args = samples(fc.tuple(ipv4, fc.integer({ min: 1, max: 65535 })), inputs.length, 6)
      let grown = 0
      inputs.forEach((input, i) => {
        const b = input.buffer.slice()
        expect(p.parse(b, input.offset, input.length)).toBe(ParseResult.Ok)
        if (p.protocol !== IpProtocol.Tcp || p.sourcePort < 0 || p.moreFragments) return
        const [addr, port] = args[i]!
        const r = Tcp.setToa(b, p.l3Offset, p.l4Offset, port, addr)
        if (r === Tcp.SetOptionResult.NoSpaceInHeader) return
        expect(r, input.label).toBeGreaterThanOrEqual(0)
        if (r > 0) grown++
        cases.push({
          label: `setToa(${input.label})`,
          frame: copyOut(b, input.offset, input.offset + input.length + r)
        })
      })
      expect(grown).toBeGreaterThan(0)
      expect(parses(cases)).toEqual([])
      expect(judge(cases)).toEqual([])
    })
  })
})
