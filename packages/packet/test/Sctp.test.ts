import { Icmp, Nat, PacketParser, ParseResult, Sctp } from "@lvs-ts/packet"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { ipv4Frame, ipv6Frame } from "./helpers/frames.ts"

/** An SCTP INIT-like packet: common header + one chunk of `data`. */
const sctpBytes = (sport: number, dport: number, data: ReadonlyArray<number>) => [
  sport >>> 8,
  sport & 255,
  dport >>> 8,
  dport & 255,
  0xde,
  0xad,
  0xbe,
  0xef,
  0,
  0,
  0,
  0,
  1,
  0,
  0,
  4 + data.length,
  ...data
]

describe("Sctp", () => {
  it("computes CRC32c (RFC 3720 B.4 check value of '123456789')", () => {
    expect(Sctp.crc32c(new TextEncoder().encode("123456789"), 0, 9)).toBe(0xe3069283)
    expect(Sctp.crc32c(new Uint8Array(32), 0, 32)).toBe(0x8a9136aa) // RFC 3720 B.4: 32 bytes of zeroes
  })

  it("parses ports and NAT recomputes the CRC32c only when a port changes", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.boolean(),
        fc.boolean(),
        (data, port, v6, snat) => {
          const raw = sctpBytes(5000, 80, data)
          const f = v6 ? ipv6Frame({ protocol: 132, raw }) : ipv4Frame({ protocol: 132, raw })
          const l4 = v6 ? 54 : 34
          Sctp.updateChecksum(f.buf, l4, raw.length)
          const p = new PacketParser()
          expect(p.parse(f.buf, 0, f.len)).toBe(ParseResult.Ok)
          expect(p.sourcePort).toBe(5000)
          expect(p.destinationPort).toBe(80)
          expect(Sctp.verificationTag(f.buf, l4)).toBe(0xdeadbeef)
          if (v6) {
            const a = new Uint8Array(16).fill(7)
            if (snat) Nat.setSourceV6(f.buf, 14, l4, 132, a, 0, port)
            else Nat.setDestinationV6(f.buf, 14, l4, 132, a, 0, port)
          } else if (snat) Nat.setSourceV4(f.buf, 14, l4, 132, 0x01020304, port)
          else Nat.setDestinationV4(f.buf, 14, l4, 132, 0x01020304, port)
          expect(snat ? Sctp.sourcePort(f.buf, l4) : Sctp.destinationPort(f.buf, l4)).toBe(port)
          expect(Sctp.isChecksumValid(f.buf, l4, raw.length)).toBe(true)
        }
      ),
      { numRuns: 300 }
    )
  })

  it("ICMP error NAT rewrites the quoted SCTP port and recomputes its CRC32c (as Linux NAT does)", () => {
    const raw = sctpBytes(80, 40000, [1, 2, 3, 4])
    const inner = ipv4Frame({ protocol: 132, raw, src: 0x0a000002, dst: 0xc0a80001 })
    Sctp.updateChecksum(inner.buf, 34, raw.length)
    const quoted = [...inner.buf.subarray(14, inner.len)]
    const f = ipv4Frame({ protocol: 1, src: 0xc0a80001, dst: 0x0a000002, raw: [3, 3, 0, 0, 0, 0, 0, 0, ...quoted] })
    Icmp.updateChecksum(f.buf, 34, f.len - 34)
    const p = new PacketParser()
    expect(p.parse(f.buf, 0, f.len)).toBe(ParseResult.Ok)
    expect(p.innerSourcePort).toBe(80)
    expect(Nat.icmpErrorOutV4(f.buf, p, 0x0a0000fe, 8080)).toBe(true)
    expect(Sctp.destinationPort(f.buf, p.innerL4Offset)).toBe(8080)
    expect(Nat.icmpErrorInV4(f.buf, p, 0x0a0000fd, 8081)).toBe(true)
    expect(Sctp.sourcePort(f.buf, p.innerL4Offset)).toBe(8081)
    expect(Sctp.isChecksumValid(f.buf, p.innerL4Offset, raw.length)).toBe(true)
    expect(Icmp.isChecksumValid(f.buf, 34, f.len - 34)).toBe(true)
  })

  it("reports a truncated common header", () => {
    const f = ipv4Frame({ protocol: 132, raw: [0, 1, 0, 2, 0, 0] })
    expect(new PacketParser().parse(f.buf, 0, f.len)).toBe(ParseResult.Truncated)
  })
})
