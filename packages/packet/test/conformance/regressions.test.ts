/**
 * Library bugs found by the conformance suites (see BUGS.md), checked without tshark so they also fail where tshark
 * is not installed.
 */
import { Icmp, Icmpv6, IpProtocol, Nat, PacketParser, ParseResult, Tcp, Udp } from "@lvs-ts/packet"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { buildFrame, frameSpec } from "./gen.ts"

describe("regressions", () => {
  it("BUGS.md #1: ICMP error NAT keeps a fully quoted TCP segment's checksum valid", () => {
    const tcpSpec = frameSpec().filter((s) => s.l4.kind === "tcp")
    fc.assert(
      fc.property(tcpSpec, fc.boolean(), fc.integer({ min: -1, max: 65535 }), (spec, inbound, port) => {
        const f = buildFrame(spec)
        const p = new PacketParser()
        expect(p.parse(f.buffer, 0, f.length)).toBe(ParseResult.Ok)
        const packetLength = p.l3End - p.l3Offset
        const out = new Uint8Array(2048)
        const v4 = p.ipVersion === 4
        const n = v4
          ? Icmp.writePortUnreachable(out, 0, f.buffer, p, 0xc0000263)
          : Icmpv6.writePortUnreachable(out, 0, f.buffer, p, f.buffer, p.l3Offset + 24)
        const e = out.slice(0, n)
        expect(p.parse(e, 0, n)).toBe(ParseResult.Ok)
        expect(p.innerProtocol).toBe(IpProtocol.Tcp)
        // Only when the whole segment is quoted can anyone (tshark, a host) verify its checksum.
        fc.pre(p.l3End - p.innerL3Offset === packetLength)
        const segment = p.l3End - p.innerL4Offset
        const innerL3 = p.innerL3Offset
        const innerL4 = p.innerL4Offset
        expect(Tcp.isChecksumValid(e, innerL3, innerL4, segment)).toBe(true)
        const address = new Uint8Array(16).fill(0x20)
        const ok = v4
          ? inbound
            ? Nat.icmpErrorInV4(e, p, 0xc0000201, port)
            : Nat.icmpErrorOutV4(e, p, 0xc0000201, port)
          : inbound
            ? Nat.icmpErrorInV6(e, p, address, 0, port)
            : Nat.icmpErrorOutV6(e, p, address, 0, port)
        expect(ok).toBe(true)
        expect(Tcp.isChecksumValid(e, innerL3, innerL4, segment)).toBe(true)
      }),
      { numRuns: 100 }
    )
  })

  it("ICMPv6 error NAT about a packet with a segment routing header keeps both checksums valid", () => {
    // tshark cannot judge these (it verifies quoted checksums with the fixed destination, see tshark.test.ts); the
    // library's own RH-aware Checksum.transport can, and tshark.test.ts validates that on the routed packets.
    const routed = frameSpec().filter(
      (s) => s.ip.v === 6 && s.ip.ext.includes(43) && (s.l4.kind === "tcp" || s.l4.kind === "udp")
    )
    fc.assert(
      fc.property(routed, fc.boolean(), fc.integer({ min: -1, max: 65535 }), (spec, inbound, port) => {
        const f = buildFrame(spec)
        const p = new PacketParser()
        expect(p.parse(f.buffer, 0, f.length)).toBe(ParseResult.Ok)
        const out = new Uint8Array(2048)
        const n = Icmpv6.writePortUnreachable(out, 0, f.buffer, p, f.buffer, p.l3Offset + 24)
        const e = out.slice(0, n)
        expect(p.parse(e, 0, n)).toBe(ParseResult.Ok)
        const il3 = p.innerL3Offset
        const il4 = p.innerL4Offset
        const quotedValid = () =>
          spec.l4.kind === "tcp" ? Tcp.isChecksumValid(e, il3, il4, p.l3End - il4) : Udp.isChecksumValid(e, il3, il4)
        expect(quotedValid()).toBe(true)
        const address = new Uint8Array(16).fill(0x20)
        if (inbound) Nat.icmpErrorInV6(e, p, address, 0, port)
        else Nat.icmpErrorOutV6(e, p, address, 0, port)
        expect(quotedValid()).toBe(true)
        expect(Icmpv6.isChecksumValid(e, p.l3Offset, p.l4Offset, p.l3End - p.l4Offset)).toBe(true)
      }),
      { numRuns: 100 }
    )
  })
})
