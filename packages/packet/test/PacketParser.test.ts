import { Icmp, IpProtocol, Ipv4, Ipv6, PacketParser, ParseResult, parseResultName, Tcp, Udp } from "@lvs-ts/packet"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { ipv4Frame, ipv6Frame, V6_A, V6_B } from "./helpers/frames.ts"
import { guarded } from "./helpers/guard.ts"

const parser = new PacketParser()

describe("PacketParser", () => {
  it("parses Ethernet + IPv4 + TCP field by field", () => {
    const { buf, off, len } = ipv4Frame({ protocol: 6, sport: 40000, dport: 80, flags: 0x12, payload: [1, 2, 3] })
    expect(parser.parse(buf, off, len)).toBe(ParseResult.Ok)
    expect(parser.etherType).toBe(0x0800)
    expect(parser.l3Offset).toBe(14)
    expect(parser.ipVersion).toBe(4)
    expect(parser.l3HeaderLength).toBe(20)
    expect(parser.l3End).toBe(len)
    expect(parser.protocol).toBe(IpProtocol.Tcp)
    expect(parser.dontFragment).toBe(true)
    expect(parser.l4Offset).toBe(34)
    expect(parser.l4Length).toBe(23)
    expect(parser.payloadOffset).toBe(54)
    expect(parser.sourcePort).toBe(40000)
    expect(parser.destinationPort).toBe(80)
    expect(parser.tcpFlags).toBe(Tcp.Flag.Syn | Tcp.Flag.Ack)
    expect(Ipv4.source(buf, 14)).toBe(0xc0a80001)
    expect(Ipv4.destination(buf, 14)).toBe(0x0a000001)
    expect(Ipv4.isChecksumValid(buf, 14)).toBe(true)
    expect(Tcp.isChecksumValid(buf, 14, 34, 23)).toBe(true)
  })

  it("parses a VLAN-tagged UDP frame and ignores Ethernet padding after the IP packet", () => {
    const f = ipv4Frame({ protocol: 17, sport: 5353, dport: 53, payload: [9], vlan: 100, tailroom: 20 })
    expect(parser.parse(f.buf, 0, f.buf.length)).toBe(ParseResult.Ok)
    expect(parser.vlanCount).toBe(1)
    expect(parser.vlanId).toBe(100)
    expect(parser.l3Offset).toBe(18)
    expect(parser.l3End).toBe(f.len)
    expect(parser.sourcePort).toBe(5353)
    expect(parser.payloadOffset).toBe(18 + 20 + 8)
    expect(Udp.isChecksumValid(f.buf, 18, 38)).toBe(true)
  })

  it("reports each IPv4 failure by name", () => {
    const cases: Array<[string, (b: Uint8Array) => void, number]> = [
      [
        "BadIhl",
        (b) => {
          b[14] = 0x44
        },
        ParseResult.BadIhl
      ],
      [
        "BadVersion",
        (b) => {
          b[14] = 0x55
        },
        ParseResult.BadVersion
      ],
      [
        "TotalLengthBeyondBuffer",
        (b) => {
          b[17] = 200
        },
        ParseResult.TotalLengthBeyondBuffer
      ],
      [
        "TotalLengthBelowHeader",
        (b) => {
          b[16] = 0
          b[17] = 10
        },
        ParseResult.TotalLengthBelowHeader
      ],
      [
        "BadDataOffset",
        (b) => {
          b[34 + 12] = 0x40
        },
        ParseResult.BadDataOffset
      ]
    ]
    for (const [name, mutate, code] of cases) {
      const { buf, off, len } = ipv4Frame({ protocol: 6 })
      mutate(buf)
      expect(parser.parse(buf, off, len)).toBe(code)
      expect(parseResultName(parser.result)).toBe(name)
    }
    const t = ipv4Frame({ protocol: 6 })
    expect(parser.parse(t.buf, 0, 30)).toBe(ParseResult.Truncated)
    expect(parser.parse(t.buf, 0, 10)).toBe(ParseResult.Truncated)
  })

  it("checks IPv4 option lengths (an option running past the header is OptionOverrun)", () => {
    const ok = ipv4Frame({ protocol: 6, ipOptions: [0x94, 4, 0, 0] })
    expect(parser.parse(ok.buf, 0, ok.len)).toBe(ParseResult.Ok)
    expect(parser.l3HeaderLength).toBe(24)
    expect(Ipv4.findOption(ok.buf, 14, 0x94)).toBe(34)
    const bad = ipv4Frame({ protocol: 6, ipOptions: [0x94, 8, 0, 0] })
    expect(parser.parse(bad.buf, 0, bad.len)).toBe(ParseResult.OptionOverrun)
    const zero = ipv4Frame({ protocol: 6, ipOptions: [1, 0x83, 1, 0] })
    expect(parser.parse(zero.buf, 0, zero.len)).toBe(ParseResult.OptionOverrun)
  })

  it("reads IPv4 fragment fields and skips the transport header of non-first fragments", () => {
    const { buf, off, len } = ipv4Frame({ protocol: 17, df: false, payload: [1, 2, 3, 4] })
    buf[14 + 6] = 0x20 // MF, offset 0
    expect(parser.parse(buf, off, len)).toBe(ParseResult.Ok)
    expect(parser.moreFragments).toBe(true)
    expect(parser.fragmentOffset).toBe(0)
    expect(parser.sourcePort).toBe(1234)
    buf[14 + 7] = 3 // offset 24 bytes
    expect(parser.parse(buf, off, len)).toBe(ParseResult.Ok)
    expect(parser.fragmentOffset).toBe(24)
    expect(parser.sourcePort).toBe(-1)
    expect(parser.l4Offset).toBe(34)
    expect(Ipv4.isFragment(buf, 14)).toBe(true)
  })

  it("walks IPv6 extension headers to the transport header", () => {
    const hbh = [0, 1, 4, 0, 0, 0, 0] // hdr ext len 0 (8 bytes): PadN(4)
    const dst = [0, 1, 4, 0, 0, 0, 0]
    const frag = [0, 0, 0, 0, 0, 0, 1] // offset 0, M=0, id 1
    const routing = [0, 0, 0, 0, 0, 0, 0] // type 0, segments left 0
    const ah = [1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1] // payload len 1 => (1+2)*4 = 12 bytes
    const f = ipv6Frame({
      protocol: 6,
      sport: 1111,
      dport: 443,
      extensions: [
        [0, hbh],
        [43, routing],
        [44, frag],
        [51, ah],
        [60, dst]
      ]
    })
    expect(parser.parse(f.buf, 0, f.len)).toBe(ParseResult.Ok)
    expect(parser.ipVersion).toBe(6)
    expect(parser.protocol).toBe(6)
    expect(parser.fragmentHeaderOffset).toBe(14 + 40 + 16)
    expect(parser.l4Offset).toBe(14 + 40 + 8 + 8 + 8 + 12 + 8)
    expect(parser.sourcePort).toBe(1111)
    expect(parser.destinationPort).toBe(443)
    expect(Ipv6.equalAddress(f.buf, 14 + Ipv6.SOURCE, Uint8Array.from(V6_A), 0)).toBe(true)
    expect(Ipv6.equalAddress(f.buf, 14 + Ipv6.DESTINATION, Uint8Array.from(V6_B), 0)).toBe(true)
  })

  it("rejects IPv6 extension headers that overrun the payload and over-long chains", () => {
    const f = ipv6Frame({ protocol: 6, extensions: [[60, [5, 1, 4, 0, 0, 0, 0]]] })
    expect(parser.parse(f.buf, 0, f.len)).toBe(ParseResult.ExtensionHeaderOverrun)
    const bad = ipv6Frame({ protocol: 6, extensions: [[60, [0, 1, 9, 0, 0, 0, 0]]] })
    expect(parser.parse(bad.buf, 0, bad.len)).toBe(ParseResult.OptionOverrun)
    const exts = Array.from({ length: 9 }, () => [60, [0, 1, 4, 0, 0, 0, 0]] as const)
    const long = ipv6Frame({ protocol: 6, extensions: exts })
    expect(parser.parse(long.buf, 0, long.len)).toBe(ParseResult.TooManyExtensionHeaders)
  })

  it("stops at a non-first IPv6 fragment", () => {
    const f = ipv6Frame({ protocol: 17, extensions: [[44, [0, 0, 0x10, 0, 0, 0, 7]]] })
    expect(parser.parse(f.buf, 0, f.len)).toBe(ParseResult.Ok)
    expect(parser.fragmentOffset).toBe(16)
    expect(parser.protocol).toBe(17)
    expect(parser.sourcePort).toBe(-1)
  })

  it("parses the embedded header of an ICMPv4 error", () => {
    const inner = ipv4Frame({ protocol: 17, sport: 5000, dport: 53, src: 0x0a000002, dst: 0xc0a80001 })
    const quoted = [...inner.buf.subarray(14, 14 + 28)]
    const f = ipv4Frame({ protocol: 1, raw: [3, 3, 0, 0, 0, 0, 0, 0, ...quoted] })
    Icmp.updateChecksum(f.buf, 34, 8 + 28)
    expect(parser.parse(f.buf, 0, f.len)).toBe(ParseResult.Ok)
    expect(parser.icmpType).toBe(3)
    expect(parser.icmpCode).toBe(3)
    expect(parser.innerResult).toBe(ParseResult.Ok)
    expect(parser.innerL3Offset).toBe(42)
    expect(parser.innerProtocol).toBe(17)
    expect(parser.innerL4Offset).toBe(62)
    expect(parser.innerSourcePort).toBe(5000)
    expect(parser.innerDestinationPort).toBe(53)
    expect(Ipv4.source(f.buf, parser.innerL3Offset)).toBe(0x0a000002)
    // A quote cut inside the transport header is reported on innerResult only.
    const cut = ipv4Frame({ protocol: 1, raw: [3, 3, 0, 0, 0, 0, 0, 0, ...quoted.slice(0, 24)] })
    expect(parser.parse(cut.buf, 0, cut.len)).toBe(ParseResult.Ok)
    expect(parser.innerResult).toBe(ParseResult.Truncated)
    expect(parser.innerSourcePort).toBe(-1)
  })

  it("parses the embedded header of an ICMPv6 error", () => {
    const inner = ipv6Frame({ protocol: 6, sport: 80, dport: 40000, src: V6_B, dst: V6_A })
    const quoted = [...inner.buf.subarray(14, 14 + 48)]
    const f = ipv6Frame({ protocol: 58, raw: [2, 0, 0, 0, 0, 0, 5, 0, ...quoted] })
    expect(parser.parse(f.buf, 0, f.len)).toBe(ParseResult.Ok)
    expect(parser.icmpType).toBe(2)
    expect(parser.innerResult).toBe(ParseResult.Ok)
    expect(parser.innerProtocol).toBe(6)
    expect(parser.innerL4Offset).toBe(14 + 40 + 8 + 40)
    expect(parser.innerSourcePort).toBe(80)
    expect(parser.innerDestinationPort).toBe(40000)
  })

  it("leaves no stale fields from the previous frame (fast path, failures, ICMP)", () => {
    const tcp = ipv4Frame({ protocol: 6, sport: 1, dport: 2 })
    const inner = ipv4Frame({ protocol: 17, sport: 5000, dport: 53 })
    const icmp = ipv4Frame({ protocol: 1, raw: [3, 3, 0, 0, 0, 0, 0, 0, ...inner.buf.subarray(14, 42)] })
    const fresh = new PacketParser()
    const snapshot = (q: PacketParser) => JSON.stringify(q)
    for (const [a, b] of [
      [icmp, tcp],
      [tcp, icmp],
      [tcp, { ...tcp, len: 30 }],
      [icmp, { ...icmp, len: 20 }],
      [tcp, ipv6Frame({ protocol: 17 })]
    ] as const) {
      parser.parse(a.buf, 0, a.len)
      parser.parse(b.buf, 0, b.len)
      fresh.parse(b.buf, 0, b.len)
      expect(snapshot(parser)).toBe(snapshot(fresh))
    }
  })

  it("the IPv4 TCP/UDP fast path agrees with the general path on random and mutated frames", () => {
    const fast = new PacketParser()
    const general = new PacketParser()
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 20 }),
        fc.array(
          fc.tuple(
            // Biased towards the fields the fast path checks: EtherType, version/IHL, total length,
            // fragment word, protocol, UDP length, TCP data offset.
            fc.oneof(fc.constantFrom(12, 13, 14, 16, 17, 20, 21, 23, 38, 39, 46), fc.integer({ min: 12, max: 60 })),
            fc.oneof(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 70 }))
          ),
          { maxLength: 3 }
        ),
        fc.integer({ min: 0, max: 20 }),
        fc.constantFrom(6, 17),
        (data, mutations, cut, protocol) => {
          const f = ipv4Frame({ protocol, payload: data, df: data.length % 2 === 0 })
          for (const [at, v] of mutations) if (at < f.len) f.buf[at] = v
          const len = Math.max(0, f.len - cut)
          const r1 = fast.parse(f.buf, 0, len)
          const r2 = general["parseFrame"](f.buf, 0, len)
          expect(r1).toBe(r2)
          expect(JSON.stringify(fast)).toBe(JSON.stringify(general))
        }
      ),
      { numRuns: 4000 }
    )
  })

  it("parses a bare IP packet (tunnel payload)", () => {
    const inner = ipv4Frame({ protocol: 6, dport: 8080 })
    expect(parser.parseIp(inner.buf, 14, inner.len - 14)).toBe(ParseResult.Ok)
    expect(parser.l3Offset).toBe(14)
    expect(parser.destinationPort).toBe(8080)
    expect(parser.parseIp(inner.buf, 0, 4)).toBe(ParseResult.BadVersion)
  })

  it("never throws, never reads outside the frame, and keeps offsets inside it, for mutated and cut frames", () => {
    const seeds = [
      ipv4Frame({ protocol: 6, tcpOptions: [2, 4, 5, 0xb4], payload: [1, 2, 3], ipOptions: [0x94, 4, 0, 0] }),
      ipv4Frame({ protocol: 17, payload: [1, 2], vlan: 7 }),
      ipv4Frame({
        protocol: 1,
        raw: [
          3, 3, 0, 0, 0, 0, 0, 0, 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 6, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 80, 0, 81, 0, 0,
          0, 0
        ]
      }),
      ipv6Frame({
        protocol: 6,
        extensions: [
          [0, [0, 1, 4, 0, 0, 0, 0]],
          [44, [0, 0, 0, 0, 0, 0, 1]]
        ]
      }),
      ipv6Frame({
        protocol: 58,
        raw: [1, 4, 0, 0, 0, 0, 0, 0, 0x60, 0, 0, 0, 0, 8, 17, 64, ...V6_A, ...V6_B, 0, 1, 0, 2, 0, 8, 0, 0]
      })
    ]
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: seeds.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat(),
        fc.boolean(),
        (which, mutations, cut, doCut) => {
          const seed = seeds[which]!
          const buf = seed.buf.slice()
          for (const [at, v] of mutations) buf[at % buf.length] = v
          const len = doCut ? cut % (seed.len + 1) : seed.len
          const g = guarded(buf, 0, len)
          const p = new PacketParser()
          const r = p.parse(g, 0, len)
          expect(r).toBe(p.result)
          if (r === ParseResult.Ok && p.ipVersion !== 0) {
            expect(p.l3End).toBeLessThanOrEqual(len)
            expect(p.l4Offset).toBeGreaterThanOrEqual(p.l3Offset)
            expect(p.l4Offset).toBeLessThanOrEqual(p.l3End)
            if (p.payloadOffset >= 0) expect(p.payloadOffset).toBeLessThanOrEqual(p.l3End)
            if (p.innerL4Offset >= 0 && p.innerResult === ParseResult.Ok) {
              expect(p.innerL4Offset + 8).toBeLessThanOrEqual(p.l3End)
            }
            // Option iteration over whatever the mutation produced stays inside the header, too.
            if (p.protocol === 6 && p.sourcePort >= 0) {
              Tcp.validateOptions(g, p.l4Offset)
              for (let o = Tcp.firstOption(g, p.l4Offset); o >= 0; o = Tcp.nextOption(g, p.l4Offset, o)) {
                expect(o + g[o + 1]!).toBeLessThanOrEqual(p.payloadOffset)
              }
            }
          }
        }
      ),
      { numRuns: 3000 }
    )
  })
})
