import {
  Address,
  Arp,
  Ethernet,
  Gre,
  Gue,
  IpProtocol,
  Ipv4,
  Ipv6,
  PacketParser,
  ParseResult,
  Tcp,
  Udp
} from "@lvs-ts/packet"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { hex, ipv4Frame, ipv6Frame } from "./helpers/frames.ts"

describe("Ethernet", () => {
  it("reads and rewrites addresses and EtherType in place", () => {
    const f = hex("ffffffffffff 020000000001 0806")
    expect(Ethernet.etherType(f, 0)).toBe(Ethernet.EtherType.Arp)
    expect(Ethernet.isMulticast(f, 0)).toBe(true)
    Ethernet.rewrite(f, 0, Address.parseMac("02:00:00:00:00:02"), Address.parseMac("02:00:00:00:00:03"))
    expect(Address.formatMac(f, 0)).toBe("02:00:00:00:00:02")
    expect(Address.formatMac(f, 6)).toBe("02:00:00:00:00:03")
    Ethernet.swapAddresses(f, 0)
    expect(Address.formatMac(f, 0)).toBe("02:00:00:00:00:03")
    expect(Ethernet.isMulticast(f, 0)).toBe(false)
  })

  it("reads 802.1Q tags", () => {
    const f = hex("ffffffffffff 020000000001 8100 a064 0800")
    expect(Ethernet.vlanId(f, 12)).toBe(100)
    expect(Ethernet.vlanPriority(f, 12)).toBe(5)
  })
})

describe("Tcp options", () => {
  const syn = () =>
    ipv4Frame({
      protocol: 6,
      // MSS 1460, SACK permitted, timestamps, NOP, window scale 7 (a Linux SYN)
      tcpOptions: [2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7],
      tailroom: 64
    })

  it("iterates options skipping NOPs", () => {
    const { buf } = syn()
    const kinds: Array<number> = []
    for (let o = Tcp.firstOption(buf, 34); o >= 0; o = Tcp.nextOption(buf, 34, o)) kinds.push(buf[o]!)
    expect(kinds).toEqual([2, 4, 8, 3])
    const mss = Tcp.findOption(buf, 34, Tcp.OptionKind.Mss)
    expect((buf[mss + 2]! << 8) | buf[mss + 3]!).toBe(1460)
    expect(Tcp.findOption(buf, 34, Tcp.OptionKind.Toa)).toBe(-1)
    expect(Tcp.validateOptions(buf, 34)).toBe(ParseResult.Ok)
  })

  it("inserts TOA by growing the header, moving the payload, fixing lengths and checksums", () => {
    const f = ipv4Frame({ protocol: 6, tcpOptions: [2, 4, 5, 0xb4], payload: [0xde, 0xad, 0xbe, 0xef], tailroom: 16 })
    const grew = Tcp.setToa(f.buf, 14, 34, 40000, 0xc0a80064)
    expect(grew).toBe(8)
    const p = new PacketParser()
    expect(p.parse(f.buf, 0, f.len + grew)).toBe(ParseResult.Ok)
    expect(Tcp.headerLength(f.buf, 34)).toBe(32)
    expect(Ipv4.totalLength(f.buf, 14)).toBe(20 + 32 + 4)
    expect([...f.buf.subarray(p.payloadOffset, p.l3End)]).toEqual([0xde, 0xad, 0xbe, 0xef])
    const toa = Tcp.findOption(f.buf, 34, Tcp.OptionKind.Toa)
    expect([...f.buf.subarray(toa, toa + 8)]).toEqual([254, 8, 0x9c, 0x40, 0xc0, 0xa8, 0, 0x64])
    expect(Ipv4.isChecksumValid(f.buf, 14)).toBe(true)
    expect(Tcp.isChecksumValid(f.buf, 14, 34, p.l4Length)).toBe(true)
    // Setting it again replaces it in place.
    expect(Tcp.setToa(f.buf, 14, 34, 1, 2)).toBe(0)
    expect(Tcp.isChecksumValid(f.buf, 14, 34, p.l4Length)).toBe(true)
    expect(Tcp.headerLength(f.buf, 34)).toBe(32)
  })

  it("inserts options into IPv6 segments (with extension headers) and keeps the checksum equal to a full recompute", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 30 }),
        fc.constantFrom(0, 4, 8, 12),
        fc.integer({ min: 1, max: 18 }),
        fc.boolean(),
        (data, optLen, newLen, withExt) => {
          const opts = new Array<number>(optLen).fill(1) // NOPs
          const f = ipv6Frame({
            protocol: 6,
            tcpOptions: opts,
            payload: data,
            tailroom: 40,
            extensions: withExt ? [[60, [0, 1, 4, 0, 0, 0, 0]]] : []
          })
          const p = new PacketParser()
          expect(p.parse(f.buf, 0, f.len)).toBe(ParseResult.Ok)
          const l4 = p.l4Offset
          const value = Uint8Array.from({ length: newLen }, (_, i) => i + 1)
          const grew = Tcp.setOption(f.buf, 14, l4, 253, value, 0, newLen)
          if (20 + optLen + newLen + 2 > 60) {
            expect(grew).toBe(Tcp.SetOptionResult.NoSpaceInHeader)
            return
          }
          expect(grew).toBeGreaterThanOrEqual(0)
          expect(Ipv6.payloadLength(f.buf, 14)).toBe(f.len - 54 + grew)
          expect(p.parse(f.buf, 0, f.len + grew)).toBe(ParseResult.Ok)
          expect([...f.buf.subarray(p.payloadOffset, p.l3End)]).toEqual(data)
          const o = Tcp.findOption(f.buf, l4, 253)
          expect([...f.buf.subarray(o + 2, o + 2 + newLen)]).toEqual([...value])
          expect(Tcp.isChecksumValid(f.buf, 14, l4, p.l4Length)).toBe(true)
        }
      ),
      { numRuns: 300 }
    )
  })

  it("inserts the IPv6 TOA (kind 254, length 20: port + 16-byte address) into a full Linux SYN, checksum intact", () => {
    const f = ipv6Frame({
      protocol: 6,
      // A Linux SYN: MSS, SACK permitted, timestamps, NOP, window scale (20 bytes): TOA6 fills the rest.
      tcpOptions: [2, 4, 5, 0xa0, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7],
      tailroom: 32
    })
    const client = Address.parseIpv6("2001:db8::1:2")
    expect(Tcp.setToa6(f.buf, 14, 54, 40000, client, 0)).toBe(20)
    const p = new PacketParser()
    expect(p.parse(f.buf, 0, f.len + 20)).toBe(ParseResult.Ok)
    expect(Tcp.headerLength(f.buf, 54)).toBe(60)
    expect(Ipv6.payloadLength(f.buf, 14)).toBe(60)
    const toa = Tcp.findOption(f.buf, 54, Tcp.OptionKind.Toa)
    expect(f.buf[toa + 1]).toBe(Tcp.TOA6_LENGTH)
    expect((f.buf[toa + 2]! << 8) | f.buf[toa + 3]!).toBe(40000)
    expect(Address.formatIpv6(f.buf, toa + 4)).toBe("2001:db8::1:2")
    expect(Tcp.isChecksumValid(f.buf, 14, 54, p.l4Length)).toBe(true)
    // Replaced in place (a client cannot smuggle its own TOA through), and no room for a second option.
    expect(Tcp.setToa6(f.buf, 14, 54, 1, Address.parseIpv6("::1"), 0)).toBe(0)
    expect(Address.formatIpv6(f.buf, toa + 4)).toBe("::1")
    expect(Tcp.isChecksumValid(f.buf, 14, 54, p.l4Length)).toBe(true)
    expect(Tcp.setToa(f.buf, 14, 54, 1, 2)).toBe(Tcp.SetOptionResult.LengthMismatch) // the IPv4 form
    expect(Tcp.setOption(f.buf, 14, 54, 253, new Uint8Array(2), 0, 2)).toBe(Tcp.SetOptionResult.NoSpaceInHeader)
  })

  it("uses the option area padding when it fits", () => {
    const f = ipv4Frame({ protocol: 6, tcpOptions: [2, 4, 5, 0xb4, 0, 0, 0, 0, 0, 0, 0, 0] })
    expect(Tcp.setToa(f.buf, 14, 34, 80, 0x01020304)).toBe(0)
    expect(Tcp.findOption(f.buf, 34, 254)).toBe(34 + 24)
    expect(Tcp.isChecksumValid(f.buf, 14, 34, 32)).toBe(true)
  })

  it("refuses when the option area or the buffer has no room", () => {
    const full = syn() // 20 bytes of options: 40 used of 60
    const tight = ipv4Frame({ protocol: 6, tcpOptions: [2, 4, 5, 0xb4] })
    expect(Tcp.setToa(tight.buf, 14, 34, 1, 2)).toBe(Tcp.SetOptionResult.NoRoomInBuffer)
    expect(Tcp.setToa(full.buf, 14, 34, 1, 2)).toBe(8)
    expect(Tcp.setOption(full.buf, 14, 34, 253, new Uint8Array(18), 0, 18)).toBe(Tcp.SetOptionResult.NoSpaceInHeader)
    const bad = ipv4Frame({ protocol: 6, tcpOptions: [2, 9, 5, 0xb4], tailroom: 8 })
    expect(Tcp.setToa(bad.buf, 14, 34, 1, 2)).toBe(Tcp.SetOptionResult.MalformedOptions)
    const frag = ipv4Frame({ protocol: 6, tailroom: 8 })
    frag.buf[20] = frag.buf[20]! | 0x20
    expect(Tcp.setToa(frag.buf, 14, 34, 1, 2)).toBe(Tcp.SetOptionResult.Fragmented)
    const badOffset = ipv4Frame({ protocol: 6, tailroom: 8 })
    badOffset.buf[34 + 12] = 0x40
    expect(Tcp.setToa(badOffset.buf, 14, 34, 1, 2)).toBe(Tcp.SetOptionResult.MalformedOptions)
    expect(Tcp.setOption(tight.buf, 14, 34, 253, new Uint8Array(40), 0, 39)).toBe(Tcp.SetOptionResult.NoSpaceInHeader)
    const mismatch = ipv4Frame({ protocol: 6, tcpOptions: [254, 4, 0, 0], tailroom: 8 })
    expect(Tcp.setToa(mismatch.buf, 14, 34, 1, 2)).toBe(Tcp.SetOptionResult.LengthMismatch)
  })
})

describe("Gre / Gue", () => {
  it("writes and reads GRE headers with optional checksum, key and sequence", () => {
    const b = new Uint8Array(32)
    expect(Gre.write(b, 0, 0x0800, false, -1, -1)).toBe(4)
    expect(Gre.headerLength(b, 0, 32)).toBe(4)
    expect(Gre.protocolType(b, 0)).toBe(0x0800)
    expect(Gre.write(b, 0, 0x86dd, true, 0xdeadbeef, 7)).toBe(16)
    expect(Gre.headerLength(b, 0, 32)).toBe(16)
    expect(Gre.headerLength(b, 0, 15)).toBe(-1)
    expect(Gre.key(b, 0)).toBe(0xdeadbeef)
    expect(Gre.sequence(b, 0)).toBe(7)
    Gre.updateChecksum(b, 0, 32)
    expect(Gre.version(b, 0)).toBe(0)
    b[1] = 1
    expect(Gre.headerLength(b, 0, 32)).toBe(-1)
  })

  it("writes and reads GUE variant 0", () => {
    const b = new Uint8Array(8)
    expect(Gue.write(b, 0, 4)).toBe(4)
    expect(Gue.headerLength(b, 0, 8)).toBe(4)
    expect(Gue.protocol(b, 0)).toBe(4)
    expect(Gue.isControl(b, 0)).toBe(false)
    b[0] = 1 // hlen 1: 4 more bytes
    expect(Gue.headerLength(b, 0, 8)).toBe(8)
    expect(Gue.headerLength(b, 0, 7)).toBe(-1)
    b[0] = 0x40
    expect(Gue.headerLength(b, 0, 8)).toBe(-1)
  })
})

describe("Arp", () => {
  const mac = Address.parseMac("02:00:00:00:00:01")
  it("builds requests, replies and gratuitous ARP that parse back", () => {
    const b = new Uint8Array(64)
    const p = new PacketParser()
    expect(Arp.writeRequest(b, 0, mac, 0x0a000001, 0x0a000002)).toBe(42)
    expect(p.parse(b, 0, 42)).toBe(ParseResult.Ok)
    expect(p.etherType).toBe(Ethernet.EtherType.Arp)
    expect(Arp.operation(b, 14)).toBe(Arp.Operation.Request)
    expect(Arp.senderProtocol(b, 14)).toBe(0x0a000001)
    expect(Arp.targetProtocol(b, 14)).toBe(0x0a000002)
    expect(Address.formatMac(b, 0)).toBe("ff:ff:ff:ff:ff:ff")
    expect(Address.formatMac(b, 14 + Arp.TARGET_HARDWARE)).toBe("00:00:00:00:00:00")
    const peer = Address.parseMac("02:00:00:00:00:09")
    Arp.writeReply(b, 0, mac, 0x0a000001, peer, 0x0a000009)
    expect(Arp.operation(b, 14)).toBe(Arp.Operation.Reply)
    expect(Address.formatMac(b, 0)).toBe("02:00:00:00:00:09")
    expect(Address.formatMac(b, 14 + Arp.SENDER_HARDWARE)).toBe("02:00:00:00:00:01")
    Arp.writeGratuitous(b, 0, mac, 0x0a000064)
    expect(Arp.senderProtocol(b, 14)).toBe(0x0a000064)
    expect(Arp.targetProtocol(b, 14)).toBe(0x0a000064)
    expect(Address.formatMac(b, 14 + Arp.TARGET_HARDWARE)).toBe("ff:ff:ff:ff:ff:ff")
    expect(p.parse(b, 0, 30)).toBe(ParseResult.Truncated)
    b[15] = 6
    expect(p.parse(b, 0, 42)).toBe(ParseResult.UnsupportedArp)
  })
})

describe("Address", () => {
  it("converts IPv4, IPv6 and MAC text", () => {
    expect(Address.parseIpv4("192.168.0.1")).toBe(0xc0a80001)
    expect(Address.formatIpv4(0xc0a80001)).toBe("192.168.0.1")
    expect(() => Address.parseIpv4("1.2.3.256")).toThrow(/1\.2\.3\.256/)
    expect(Address.formatIpv6(Address.parseIpv6("2001:DB8::1"), 0)).toBe("2001:db8::1")
    expect(Address.formatIpv6(Address.parseIpv6("::ffff:10.0.0.1"), 0)).toBe("::ffff:a00:1")
    expect(Address.formatIpv6(Address.parseIpv6("1:0:0:2:0:0:0:3"), 0)).toBe("1:0:0:2::3")
    expect(() => Address.parseIpv6("1::2::3")).toThrow(/::/)
    expect(() => Address.parseMac("02:00:00")).toThrow(/MAC/)
  })
})

describe("Ipv6 writer", () => {
  it("round-trips traffic class, flow label and addresses", () => {
    const b = new Uint8Array(40)
    const a = Address.parseIpv6("fe80::1")
    const d = Address.parseIpv6("ff02::1")
    Ipv6.write(b, 0, 0xb8, 0xabcde, 0, 59, 255, a, 0, d, 0)
    expect(Ipv6.trafficClass(b, 0)).toBe(0xb8)
    expect(Ipv6.flowLabel(b, 0)).toBe(0xabcde)
    expect(Ipv6.hopLimit(b, 0)).toBe(255)
    expect(Address.formatIpv6(b, Ipv6.DESTINATION)).toBe("ff02::1")
    expect(Ipv6.decrementHopLimit(b, 0)).toBe(true)
    expect(Ipv6.hopLimit(b, 0)).toBe(254)
  })
})

describe("Ethernet.macPair", () => {
  it("rewritePair writes the same bytes as rewrite", () => {
    const d = Address.parseMac("fe:dc:ba:98:76:54")
    const s = Address.parseMac("01:23:45:67:89:ab")
    const a = new Uint8Array(20).fill(0x11)
    const b = new Uint8Array(20).fill(0x11)
    Ethernet.rewrite(a, 3, d, s)
    Ethernet.rewritePair(b, 3, Ethernet.macPair(d, s))
    expect(b).toEqual(a)
    expect(Address.formatMac(b, 3)).toBe("fe:dc:ba:98:76:54")
  })
})

describe("writers round-trip through the parser and accessors", () => {
  it("Ethernet + IPv4/IPv6 + UDP / GRE headers written by the library read back field by field", () => {
    const p = new PacketParser()
    fc.assert(
      fc.property(
        fc.record({
          tos: fc.integer({ min: 0, max: 255 }),
          id: fc.integer({ min: 0, max: 0xffff }),
          df: fc.boolean(),
          ttl: fc.integer({ min: 0, max: 255 }),
          src: fc.integer({ min: 0, max: 0xffffffff }),
          dst: fc.integer({ min: 0, max: 0xffffffff }),
          sport: fc.integer({ min: 0, max: 0xffff }),
          dport: fc.integer({ min: 0, max: 0xffff }),
          data: fc.uint8Array({ maxLength: 40 }),
          v6: fc.boolean(),
          flow: fc.integer({ min: 0, max: 0xfffff }),
          src6: fc.uint8Array({ minLength: 16, maxLength: 16 }),
          gre: fc.boolean(),
          key: fc.integer({ min: -1, max: 0xffffffff })
        }),
        (r) => {
          const b = new Uint8Array(200)
          const mac = Address.parseMac("02:00:00:00:00:01")
          Ethernet.write(b, 0, Ethernet.BROADCAST, mac, r.v6 ? Ethernet.EtherType.Ipv6 : Ethernet.EtherType.Ipv4)
          const l4Len = r.gre ? Gre.lengthForFlags(r.key >= 0 ? Gre.FLAG_KEY : 0) + r.data.length : 8 + r.data.length
          const proto = r.gre ? IpProtocol.Gre : IpProtocol.Udp
          const l4 = r.v6 ? 54 : 34
          if (r.v6) Ipv6.write(b, 14, r.tos, r.flow, l4Len, proto, r.ttl, r.src6, 0, r.src6, 0)
          else Ipv4.write(b, 14, r.tos, 20 + l4Len, r.id, r.df ? Ipv4.FLAG_DF : 0, r.ttl, proto, r.src, r.dst)
          const hl = r.gre ? Gre.write(b, l4, 0x0800, false, r.key, -1) : Udp.write(b, l4, r.sport, r.dport, l4Len)
          b.set(r.data, l4 + hl)
          if (!r.gre) Udp.updateChecksum(b, 14, l4)
          const len = l4 + l4Len
          expect(p.parse(b, 0, len)).toBe(ParseResult.Ok)
          expect(p.ipVersion).toBe(r.v6 ? 6 : 4)
          expect(p.protocol).toBe(proto)
          expect(p.l4Offset).toBe(l4)
          expect(p.l3End).toBe(len)
          if (r.v6) {
            expect(Ipv6.trafficClass(b, 14)).toBe(r.tos)
            expect(Ipv6.flowLabel(b, 14)).toBe(r.flow)
            expect(Ipv6.hopLimit(b, 14)).toBe(r.ttl)
            expect(Ipv6.equalAddress(b, 14 + Ipv6.SOURCE, r.src6, 0)).toBe(true)
          } else {
            expect(Ipv4.tos(b, 14)).toBe(r.tos)
            expect(Ipv4.identification(b, 14)).toBe(r.id)
            expect(Ipv4.dontFragment(b, 14)).toBe(r.df)
            expect(Ipv4.ttl(b, 14)).toBe(r.ttl)
            expect(Ipv4.source(b, 14)).toBe(r.src)
            expect(Ipv4.destination(b, 14)).toBe(r.dst)
            expect(Ipv4.isChecksumValid(b, 14)).toBe(true)
          }
          if (r.gre) {
            expect(Gre.headerLength(b, l4, l4Len)).toBe(hl)
            if (r.key >= 0) expect(Gre.key(b, l4)).toBe(r.key)
          } else {
            expect(p.sourcePort).toBe(r.sport)
            expect(p.destinationPort).toBe(r.dport)
            expect(Udp.length(b, l4)).toBe(l4Len)
            expect(Udp.checksum(b, l4)).not.toBe(0)
            expect(Udp.isChecksumValid(b, 14, l4)).toBe(true)
          }
        }
      ),
      { numRuns: 500 }
    )
  })
})
