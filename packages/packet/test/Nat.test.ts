import { Checksum, Icmp, Icmpv6, Ipv4, Ipv6, Nat, PacketParser, ParseResult, Tcp, Udp } from "@lvs-ts/packet"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { checksumsValid, fixL4Checksum, ipv4Frame, ipv6Frame } from "./helpers/frames.ts"

const p = new PacketParser()
const u32 = fc.integer({ min: 0, max: 0xffffffff })
const port = fc.integer({ min: 0, max: 0xffff })
const bytes16 = fc.uint8Array({ minLength: 16, maxLength: 16 })
const payload = fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 41 })

/** The checksum field of the frame's L4 header, and the value a full recompute gives. */
const l4Checksums = (buf: Uint8Array, protocol: number, v4: boolean) => {
  const at = p.l4Offset + (protocol === 6 ? 16 : protocol === 17 ? 6 : 2)
  const stored = (buf[at]! << 8) | buf[at + 1]!
  const copy = buf.slice()
  fixL4Checksum(copy, p.l3Offset, p.l4Offset, protocol, p.l4Length, protocol === 17 && v4 && stored === 0)
  return { stored, full: (copy[at]! << 8) | copy[at + 1]! }
}

/** One's complement: 0x0000 and 0xffff are the same number; both verify. */
const sameChecksum = (a: number, b: number) => a === b || (a ^ b) === 0xffff

describe("Nat (IPv4)", () => {
  it("DNAT changes address and port and keeps every checksum valid (example)", () => {
    const { buf, len } = ipv4Frame({ protocol: 6, dst: 0x0a000001, dport: 80, payload: [1, 2, 3] })
    expect(p.parse(buf, 0, len)).toBe(ParseResult.Ok)
    Nat.setDestinationV4(buf, p.l3Offset, p.l4Offset, p.protocol, 0xc0a80a02, 8080)
    expect(Ipv4.destination(buf, 14)).toBe(0xc0a80a02)
    expect(Tcp.destinationPort(buf, 34)).toBe(8080)
    expect(Ipv4.isChecksumValid(buf, 14)).toBe(true)
    expect(Tcp.isChecksumValid(buf, 14, 34, p.l4Length)).toBe(true)
  })

  it("incremental checksums equal a full recompute for random DNAT/SNAT of random TCP/UDP frames", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(6, 17),
        u32,
        u32,
        port,
        port,
        payload,
        fc.boolean(),
        fc.boolean(),
        u32,
        fc.integer({ min: -1, max: 0xffff }),
        (protocol, src, dst, sport, dport, data, udpZero, snat, addr, newPort) => {
          const { buf, len } = ipv4Frame({ protocol, src, dst, sport, dport, payload: data, udpZeroChecksum: udpZero })
          expect(p.parse(buf, 0, len)).toBe(ParseResult.Ok)
          if (snat) Nat.setSourceV4(buf, p.l3Offset, p.l4Offset, protocol, addr, newPort)
          else Nat.setDestinationV4(buf, p.l3Offset, p.l4Offset, protocol, addr, newPort)
          expect(snat ? Ipv4.source(buf, 14) : Ipv4.destination(buf, 14)).toBe(addr)
          const portNow = snat ? Tcp.sourcePort(buf, 34) : Tcp.destinationPort(buf, 34)
          expect(portNow).toBe(newPort < 0 ? (snat ? sport : dport) : newPort)
          // Full recompute of the IPv4 header checksum.
          const ipStored = Ipv4.checksum(buf, 14)
          const h = buf.slice(14, 34)
          h[10] = 0
          h[11] = 0
          expect(sameChecksum(ipStored, Checksum.compute(h, 0, 20))).toBe(true)
          const { stored, full } = l4Checksums(buf, protocol, true)
          if (protocol === 17 && udpZero) expect(stored).toBe(0)
          else expect(sameChecksum(stored, full)).toBe(true)
          expect(checksumsValid(buf, 14, 34, protocol, len)).toBe(true)
        }
      ),
      { numRuns: 2000 }
    )
  })

  it("only changes the address of a non-first fragment", () => {
    const { buf, len } = ipv4Frame({ protocol: 17, df: false, payload: [1, 2, 3, 4, 5, 6, 7, 8] })
    buf[14 + 7] = 1 // fragment offset 8 bytes: the "UDP header" bytes are data
    Ipv4.updateChecksum(buf, 14)
    const before = buf.slice(34)
    expect(p.parse(buf, 0, len)).toBe(ParseResult.Ok)
    Nat.setDestinationV4(buf, p.l3Offset, p.l4Offset, p.protocol, 0x01020304, 99)
    expect([...buf.slice(34)]).toEqual([...before])
    expect(Ipv4.isChecksumValid(buf, 14)).toBe(true)
  })
})

describe("Nat (IPv6)", () => {
  it("incremental checksums equal a full recompute for random DNAT/SNAT of TCP/UDP/ICMPv6", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(6, 17, 58),
        bytes16,
        bytes16,
        payload,
        fc.boolean(),
        bytes16,
        fc.integer({ min: -1, max: 0xffff }),
        (protocol, src, dst, data, snat, addr, newPort) => {
          const spec =
            protocol === 58
              ? { protocol, raw: [128, 0, 0, 0, 0, 1, 0, 1, ...data] }
              : { protocol, payload: data, sport: 1000, dport: 2000 }
          const { buf, len } = ipv6Frame({ ...spec, src: [...src], dst: [...dst] })
          if (protocol === 58) Icmpv6.updateChecksum(buf, 14, 54, len - 54)
          expect(p.parse(buf, 0, len)).toBe(ParseResult.Ok)
          if (snat) Nat.setSourceV6(buf, p.l3Offset, p.l4Offset, protocol, addr, 0, newPort)
          else Nat.setDestinationV6(buf, p.l3Offset, p.l4Offset, protocol, addr, 0, newPort)
          expect(Ipv6.equalAddress(buf, 14 + (snat ? Ipv6.SOURCE : Ipv6.DESTINATION), addr, 0)).toBe(true)
          const { stored, full } = l4Checksums(buf, protocol, false)
          expect(sameChecksum(stored, full)).toBe(true)
          expect(checksumsValid(buf, 14, 54, protocol, len)).toBe(true)
          if (protocol === 17) expect(Udp.checksum(buf, 54)).not.toBe(0)
        }
      ),
      { numRuns: 1000 }
    )
  })
})

/** An ICMPv4 error from `errorSrc` to `errorDst` quoting a UDP/TCP packet (quoted datagram first 28+ bytes). */
const icmpErrorV4 = (
  protocol: number,
  inner: { src: number; dst: number; sport: number; dport: number },
  errorSrc: number,
  errorDst: number,
  quoteAll: boolean
) => {
  const orig = ipv4Frame({ protocol, ...inner, payload: [1, 2, 3, 4, 5, 6, 7, 8, 9] })
  const quoted = [...orig.buf.subarray(14, quoteAll ? orig.len : 14 + 28)]
  const f = ipv4Frame({ protocol: 1, src: errorSrc, dst: errorDst, raw: [3, 3, 0, 0, 0, 0, 0, 0, ...quoted] })
  Icmp.updateChecksum(f.buf, 34, f.len - 34)
  return f
}

describe("Nat of ICMP errors", () => {
  it("rewrites outer and embedded headers of an IPv4 ICMP error like ip_vs_nat_icmp, all checksums valid", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(6, 17),
        u32,
        u32,
        port,
        port,
        u32,
        port,
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        (protocol, client, vip, cport, vport, rip, rport, inbound, quoteAll, keepPort) => {
          // Inbound (client -> RS): the client complains about a reply VIP:VPORT -> client:CPORT.
          // Outbound (RS -> client): the RS complains about a packet client -> RIP:RPORT it got.
          const f = inbound
            ? icmpErrorV4(protocol, { src: vip, dst: client, sport: vport, dport: cport }, client, vip, quoteAll)
            : icmpErrorV4(protocol, { src: client, dst: rip, sport: cport, dport: rport }, rip, client, quoteAll)
          expect(p.parse(f.buf, 0, f.len)).toBe(ParseResult.Ok)
          expect(p.innerResult).toBe(ParseResult.Ok)
          // keepPort: port -1, as for port-0 / fwmark services where IPVS keeps the packet's port.
          const ok = inbound
            ? Nat.icmpErrorInV4(f.buf, p, rip, keepPort ? -1 : rport)
            : Nat.icmpErrorOutV4(f.buf, p, vip, keepPort ? -1 : vport)
          expect(ok).toBe(true)
          const il3 = p.innerL3Offset
          if (inbound) {
            expect(Ipv4.destination(f.buf, 14)).toBe(rip)
            expect(Ipv4.source(f.buf, il3)).toBe(rip)
            expect(Udp.sourcePort(f.buf, p.innerL4Offset)).toBe(keepPort ? vport : rport)
          } else {
            expect(Ipv4.source(f.buf, 14)).toBe(vip)
            expect(Ipv4.destination(f.buf, il3)).toBe(vip)
            expect(Udp.destinationPort(f.buf, p.innerL4Offset)).toBe(keepPort ? rport : vport)
          }
          expect(Ipv4.isChecksumValid(f.buf, 14)).toBe(true)
          expect(Ipv4.isChecksumValid(f.buf, il3)).toBe(true)
          expect(Icmp.isChecksumValid(f.buf, 34, f.len - 34)).toBe(true)
          if (quoteAll) {
            if (protocol === 17) expect(Udp.isChecksumValid(f.buf, il3, p.innerL4Offset)).toBe(true)
            else expect(Tcp.isChecksumValid(f.buf, il3, p.innerL4Offset, p.l3End - p.innerL4Offset)).toBe(true)
          }
        }
      ),
      { numRuns: 1000 }
    )
  })

  it("rewrites an ICMPv6 error (outer address in the pseudo-header, embedded address and port)", () => {
    fc.assert(
      fc.property(bytes16, bytes16, bytes16, port, fc.boolean(), (client, vip, rip, rport, inbound) => {
        const inner = inbound
          ? ipv6Frame({ protocol: 17, src: [...vip], dst: [...client], sport: 80, dport: 4000, payload: [1, 2, 3] })
          : ipv6Frame({ protocol: 17, src: [...client], dst: [...rip], sport: 4000, dport: 8080, payload: [1, 2, 3] })
        const quoted = [...inner.buf.subarray(14, inner.len)]
        const f = inbound
          ? ipv6Frame({ protocol: 58, src: [...client], dst: [...vip], raw: [1, 4, 0, 0, 0, 0, 0, 0, ...quoted] })
          : ipv6Frame({ protocol: 58, src: [...rip], dst: [...client], raw: [1, 4, 0, 0, 0, 0, 0, 0, ...quoted] })
        Icmpv6.updateChecksum(f.buf, 14, 54, f.len - 54)
        expect(p.parse(f.buf, 0, f.len)).toBe(ParseResult.Ok)
        const ok = inbound ? Nat.icmpErrorInV6(f.buf, p, rip, 0, rport) : Nat.icmpErrorOutV6(f.buf, p, vip, 0, 80)
        expect(ok).toBe(true)
        expect(Icmpv6.isChecksumValid(f.buf, 14, 54, f.len - 54)).toBe(true)
        expect(Udp.isChecksumValid(f.buf, p.innerL3Offset, p.innerL4Offset)).toBe(true)
        if (inbound) expect(Ipv6.equalAddress(f.buf, p.innerL3Offset + Ipv6.SOURCE, rip, 0)).toBe(true)
        else expect(Ipv6.equalAddress(f.buf, p.innerL3Offset + Ipv6.DESTINATION, vip, 0)).toBe(true)
      }),
      { numRuns: 500 }
    )
  })

  it("refuses (changes nothing) when the parsed packet is not an ICMP error with a usable quote", () => {
    const { buf, len } = ipv4Frame({ protocol: 6 })
    p.parse(buf, 0, len)
    const before = buf.slice()
    expect(Nat.icmpErrorInV4(buf, p, 1, 2)).toBe(false)
    expect(buf).toEqual(before)
  })
})

describe("TTL", () => {
  it("decrements the TTL with an incremental checksum equal to a full recompute, and reports expiry", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        u32,
        u32,
        fc.integer({ min: 0, max: 0xffff }),
        (ttl, src, dst, id) => {
          const { buf } = ipv4Frame({ protocol: 6, ttl, src, dst, id })
          const ok = Ipv4.decrementTtl(buf, 14)
          expect(ok).toBe(ttl > 1)
          expect(Ipv4.ttl(buf, 14)).toBe(ttl > 1 ? ttl - 1 : ttl)
          const stored = Ipv4.checksum(buf, 14)
          Ipv4.updateChecksum(buf, 14)
          expect(stored).toBe(Ipv4.checksum(buf, 14))
        }
      ),
      { numRuns: 2000 }
    )
  })
})

describe("Nat FULLNAT (both addresses and ports in one pass)", () => {
  it("equals a full recompute and matches two single rewrites", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(6, 17),
        fc.boolean(),
        u32,
        u32,
        fc.integer({ min: -1, max: 0xffff }),
        fc.integer({ min: -1, max: 0xffff }),
        bytes16,
        bytes16,
        payload,
        (protocol, v6, s4, d4, sport, dport, s6, d6, data) => {
          const spec = { protocol, payload: data, sport: 1111, dport: 2222 }
          const a = v6 ? ipv6Frame(spec) : ipv4Frame(spec)
          const b = { ...a, buf: a.buf.slice() }
          const l4 = v6 ? 54 : 34
          if (v6) {
            Nat.setAddressesV6(a.buf, 14, l4, protocol, s6, 0, sport, d6, 0, dport)
            Nat.setSourceV6(b.buf, 14, l4, protocol, s6, 0, sport)
            Nat.setDestinationV6(b.buf, 14, l4, protocol, d6, 0, dport)
          } else {
            Nat.setAddressesV4(a.buf, 14, l4, protocol, s4, sport, d4, dport)
            Nat.setSourceV4(b.buf, 14, l4, protocol, s4, sport)
            Nat.setDestinationV4(b.buf, 14, l4, protocol, d4, dport)
          }
          expect(checksumsValid(a.buf, 14, l4, protocol, a.len)).toBe(true)
          // Same bytes apart from the one's-complement zero ambiguity in the checksum fields.
          const ck = protocol === 6 ? l4 + 16 : l4 + 6
          const strip = (x: Uint8Array) => {
            const y = x.slice()
            y[ck] = 0
            y[ck + 1] = 0
            if (!v6) {
              y[24] = 0
              y[25] = 0
            }
            return y
          }
          expect(strip(a.buf)).toEqual(strip(b.buf))
        }
      ),
      { numRuns: 1000 }
    )
  })
})

describe("IPv6 routing headers and the pseudo-header", () => {
  const FINAL = [0x20, 0x01, 0x0d, 0xb8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99]
  const OTHER = [0x20, 0x01, 0x0d, 0xb8, 0xee, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x77]
  /** Verifies the TCP/UDP checksum with an explicit pseudo-header destination (independent of the library). */
  const verifies = (buf: Uint8Array, l4: number, len: number, protocol: number, dst: Uint8Array) => {
    const d = Uint8Array.from(dst)
    const pseudo = Checksum.sum(buf, 14 + 8, 16, 0) + Checksum.sum(d, 0, 16, 0) + protocol + len
    return Checksum.fold(Checksum.sum(buf, l4, len, pseudo)) === 0xffff
  }
  const cases = [
    // [routing header bytes after next-header, pseudo-header destination]
    ["SRH, segments left 1", [2, 4, 1, 0, 0, 0, 0, ...FINAL], FINAL],
    ["type 0, two addresses, segments left 1", [4, 0, 1, 0, 0, 0, 0, ...OTHER, ...FINAL], FINAL],
    ["type 2, segments left 1", [2, 2, 1, 0, 0, 0, 0, ...FINAL], FINAL],
    ["SRH, segments left 0", [2, 4, 0, 0, 0, 0, 0, ...FINAL], null]
  ] as const
  for (const [name, rh, final] of cases) {
    it(`${name}: checksums use the final destination, and DNAT of the fixed header keeps them valid`, () => {
      fc.assert(
        fc.property(fc.constantFrom(6, 17), bytes16, port, payload, (protocol, addr, newPort, data) => {
          const f = ipv6Frame({ protocol, payload: data, extensions: [[43, rh]] })
          const l4 = 14 + 40 + rh.length + 1
          const len = f.len - l4
          expect(p.parse(f.buf, 0, f.len)).toBe(ParseResult.Ok)
          expect(p.l4Offset).toBe(l4)
          const pseudoDst = () => (final === null ? f.buf.slice(14 + 24, 14 + 40) : Uint8Array.from(final))
          expect(verifies(f.buf, l4, len, protocol, pseudoDst())).toBe(true)
          Nat.setDestinationV6(f.buf, 14, l4, protocol, addr, 0, newPort)
          expect(Ipv6.equalAddress(f.buf, 14 + 24, addr, 0)).toBe(true)
          expect(verifies(f.buf, l4, len, protocol, pseudoDst())).toBe(true)
          Nat.setAddressesV6(f.buf, 14, l4, protocol, addr, 0, 1, bytes16Fixed, 0, 2)
          expect(verifies(f.buf, l4, len, protocol, pseudoDst())).toBe(true)
        }),
        { numRuns: 200 }
      )
    })
  }
})

const bytes16Fixed = Uint8Array.from([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
