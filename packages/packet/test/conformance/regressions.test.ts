/**
 * Library bugs found by the conformance suites (see BUGS.md), checked without tshark so they also fail where tshark
 * is not installed.
 */
import { Icmp, Icmpv6, IpProtocol, Nat, PacketParser, ParseResult, Tcp } from "@lvs-ts/packet"
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
})
