import { Address, Icmp, Icmpv6, IpProtocol, Ipv4, Ipv6, Ndp, PacketParser, ParseResult, Tcp } from "@lvs-ts/packet"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { ipv4Frame, ipv6Frame, MAC_A, MAC_B, V6_A, V6_B } from "./helpers/frames.ts"

const p = new PacketParser()
const r = new PacketParser()
const out = new Uint8Array(2048)
const OUR_IP = 0x0a000001
const OUR_V6 = Address.parseIpv6("2001:db8::1")

describe("ICMPv4 error builders", () => {
  it("port unreachable round-trips through the parser and quotes the original header + data", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 700 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 255 }),
        (data, client, tos) => {
          const f = ipv4Frame({ protocol: 17, src: client, dst: OUR_IP, sport: 5000, dport: 9, payload: data, tos })
          expect(p.parse(f.buf, 0, f.len)).toBe(ParseResult.Ok)
          const n = Icmp.writePortUnreachable(out, 0, f.buf, p, OUR_IP)
          expect(r.parse(out, 0, n)).toBe(ParseResult.Ok)
          expect(r.l3End).toBe(n)
          expect(n - 14).toBeLessThanOrEqual(576)
          expect(Ipv4.source(out, 14)).toBe(OUR_IP)
          expect(Ipv4.destination(out, 14)).toBe(client >>> 0)
          expect(Ipv4.tos(out, 14)).toBe((tos & 0x1e) | 0xc0)
          expect([...out.subarray(0, 6)]).toEqual(MAC_A)
          expect([...out.subarray(6, 12)]).toEqual(MAC_B)
          expect(r.icmpType).toBe(3)
          expect(r.icmpCode).toBe(3)
          expect(r.innerResult).toBe(ParseResult.Ok)
          expect(r.innerSourcePort).toBe(5000)
          expect(r.innerDestinationPort).toBe(9)
          const quoted = Math.min(f.len - 14, 576 - 28)
          expect(r.l4Length).toBe(8 + quoted)
          expect([...out.subarray(42, 42 + quoted)]).toEqual([...f.buf.subarray(14, 14 + quoted)])
          expect(Ipv4.isChecksumValid(out, 14)).toBe(true)
          expect(Icmp.isChecksumValid(out, 34, r.l4Length)).toBe(true)
        }
      ),
      { numRuns: 200 }
    )
  })

  it("fragmentation needed carries the next-hop MTU; time exceeded has type 11", () => {
    const f = ipv4Frame({ protocol: 6, payload: new Array(100).fill(7) })
    p.parse(f.buf, 0, f.len)
    const n = Icmp.writeFragmentationNeeded(out, 0, f.buf, p, 1400, OUR_IP)
    expect(r.parse(out, 0, n)).toBe(ParseResult.Ok)
    expect(r.icmpType).toBe(Icmp.Type.DestinationUnreachable)
    expect(r.icmpCode).toBe(Icmp.UnreachableCode.FragmentationNeeded)
    expect(Icmp.nextHopMtu(out, r.l4Offset)).toBe(1400)
    expect(Icmp.isChecksumValid(out, r.l4Offset, r.l4Length)).toBe(true)
    const m = Icmp.writeTimeExceeded(out, 0, f.buf, p, OUR_IP)
    expect(r.parse(out, 0, m)).toBe(ParseResult.Ok)
    expect(r.icmpType).toBe(Icmp.Type.TimeExceeded)
    expect(Icmp.isChecksumValid(out, r.l4Offset, r.l4Length)).toBe(true)
    const v6 = ipv6Frame({ protocol: 6 })
    p.parse(v6.buf, 0, v6.len)
    expect(Icmp.writePortUnreachable(out, 0, v6.buf, p, OUR_IP)).toBe(0)
  })

  it("echo reply mirrors identifier, sequence and data", () => {
    const f = ipv4Frame({
      protocol: 1,
      src: 0xc0a80005,
      dst: OUR_IP,
      raw: [8, 0, 0, 0, 0x12, 0x34, 0, 7, 1, 2, 3, 4, 5]
    })
    Icmp.updateChecksum(f.buf, 34, f.len - 34)
    p.parse(f.buf, 0, f.len)
    const n = Icmp.writeEchoReply(out, 0, f.buf, p)
    expect(r.parse(out, 0, n)).toBe(ParseResult.Ok)
    expect(r.icmpType).toBe(Icmp.Type.EchoReply)
    expect(Icmp.identifier(out, r.l4Offset)).toBe(0x1234)
    expect(Icmp.sequence(out, r.l4Offset)).toBe(7)
    expect([...out.subarray(r.payloadOffset, r.l3End)]).toEqual([1, 2, 3, 4, 5])
    expect(Ipv4.source(out, 14)).toBe(OUR_IP)
    expect(Ipv4.destination(out, 14)).toBe(0xc0a80005)
    expect(Icmp.isChecksumValid(out, r.l4Offset, r.l4Length)).toBe(true)
  })
})

describe("ICMPv6 builders", () => {
  it("port unreachable and packet too big round-trip, quote capped at 1280 bytes", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 1500 }), (data) => {
        const f = ipv6Frame({ protocol: 17, sport: 7000, dport: 53, payload: data })
        expect(p.parse(f.buf, 0, f.len)).toBe(ParseResult.Ok)
        const n = Icmpv6.writePortUnreachable(out, 0, f.buf, p, OUR_V6, 0)
        expect(r.parse(out, 0, n)).toBe(ParseResult.Ok)
        expect(n - 14).toBeLessThanOrEqual(1280)
        expect(r.icmpType).toBe(1)
        expect(r.icmpCode).toBe(4)
        expect(r.innerSourcePort).toBe(7000)
        expect(Ipv6.equalAddress(out, 14 + Ipv6.DESTINATION, Uint8Array.from(V6_A), 0)).toBe(true)
        expect(Icmpv6.isChecksumValid(out, 14, r.l4Offset, r.l4Length)).toBe(true)
        const m = Icmpv6.writePacketTooBig(out, 0, f.buf, p, 1280, OUR_V6, 0)
        expect(r.parse(out, 0, m)).toBe(ParseResult.Ok)
        expect(r.icmpType).toBe(Icmpv6.Type.PacketTooBig)
        expect(Icmpv6.mtu(out, r.l4Offset)).toBe(1280)
        expect(Icmpv6.isChecksumValid(out, 14, r.l4Offset, r.l4Length)).toBe(true)
      }),
      { numRuns: 100 }
    )
  })

  it("time exceeded and echo reply", () => {
    const f = ipv6Frame({ protocol: 58, raw: [128, 0, 0, 0, 0, 9, 0, 1, 0xaa, 0xbb] })
    Icmpv6.updateChecksum(f.buf, 14, 54, f.len - 54)
    p.parse(f.buf, 0, f.len)
    const n = Icmpv6.writeEchoReply(out, 0, f.buf, p)
    expect(r.parse(out, 0, n)).toBe(ParseResult.Ok)
    expect(r.icmpType).toBe(Icmpv6.Type.EchoReply)
    expect(Icmpv6.identifier(out, r.l4Offset)).toBe(9)
    expect(Ipv6.equalAddress(out, 14 + Ipv6.SOURCE, Uint8Array.from(V6_B), 0)).toBe(true)
    expect(Icmpv6.isChecksumValid(out, 14, r.l4Offset, r.l4Length)).toBe(true)
    const m = Icmpv6.writeTimeExceeded(out, 0, f.buf, p, OUR_V6, 0)
    expect(r.parse(out, 0, m)).toBe(ParseResult.Ok)
    expect(r.icmpType).toBe(Icmpv6.Type.TimeExceeded)
    expect(Icmpv6.isChecksumValid(out, 14, r.l4Offset, r.l4Length)).toBe(true)
  })
})

describe("Ndp", () => {
  it("unsolicited neighbour advertisement: all-nodes, hop limit 255, override, target link-layer option", () => {
    const mac = Address.parseMac("02:00:00:00:00:01")
    const ll = Address.parseIpv6("fe80::1")
    const vip = Address.parseIpv6("2001:db8::100")
    const n = Ndp.writeUnsolicitedAdvertisement(out, 0, mac, ll, 0, vip, 0, false)
    expect(n).toBe(86)
    expect(r.parse(out, 0, n)).toBe(ParseResult.Ok)
    expect(Address.formatMac(out, 0)).toBe("33:33:00:00:00:01")
    expect(Address.formatIpv6(out, 14 + Ipv6.DESTINATION)).toBe("ff02::1")
    expect(Ipv6.hopLimit(out, 14)).toBe(255)
    expect(r.icmpType).toBe(Icmpv6.Type.NeighborAdvertisement)
    expect(out[r.l4Offset + 4]).toBe(0x20)
    expect(Address.formatIpv6(out, Ndp.targetOffset(r.l4Offset))).toBe("2001:db8::100")
    expect(out[r.l4Offset + Ndp.OPTIONS]).toBe(2)
    expect(Address.formatMac(out, r.l4Offset + Ndp.OPTIONS + 2)).toBe("02:00:00:00:00:01")
    expect(Icmpv6.isChecksumValid(out, 14, r.l4Offset, 32)).toBe(true)
  })
})

describe("Tcp.writeReset", () => {
  it("follows RFC 793: seq = SEG.ACK for segments with ACK, else ack = SEG.SEQ + SEG.LEN with RST|ACK", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xff }),
        fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 30 }),
        fc.boolean(),
        (seq, ack, flags, data, v6) => {
          const spec = { protocol: 6, sport: 40000, dport: 80, seq, ack, flags, payload: data }
          const f = v6 ? ipv6Frame(spec) : ipv4Frame(spec)
          expect(p.parse(f.buf, 0, f.len)).toBe(ParseResult.Ok)
          const n = Tcp.writeReset(out, 0, f.buf, p)
          if (flags & Tcp.Flag.Rst) {
            expect(n).toBe(0)
            return
          }
          expect(r.parse(out, 0, n)).toBe(ParseResult.Ok)
          expect(r.protocol).toBe(IpProtocol.Tcp)
          expect(r.sourcePort).toBe(80)
          expect(r.destinationPort).toBe(40000)
          if (flags & Tcp.Flag.Ack) {
            expect(r.tcpFlags).toBe(Tcp.Flag.Rst)
            expect(Tcp.sequence(out, r.l4Offset)).toBe(ack)
          } else {
            const segLen = data.length + (flags & Tcp.Flag.Syn ? 1 : 0) + (flags & Tcp.Flag.Fin ? 1 : 0)
            expect(r.tcpFlags).toBe(Tcp.Flag.Rst | Tcp.Flag.Ack)
            expect(Tcp.sequence(out, r.l4Offset)).toBe(0)
            expect(Tcp.acknowledgment(out, r.l4Offset)).toBe((seq + segLen) % 2 ** 32)
          }
          if (!v6) {
            expect(Ipv4.source(out, 14)).toBe(0x0a000001)
            expect(Ipv4.isChecksumValid(out, 14)).toBe(true)
          }
          expect(Tcp.isChecksumValid(out, 14, r.l4Offset, r.l4Length)).toBe(true)
        }
      ),
      { numRuns: 500 }
    )
  })
})

describe("builders with a small output buffer", () => {
  it("return 0 and write nothing past the end", () => {
    const f = ipv4Frame({ protocol: 6, payload: new Array(50).fill(1) })
    p.parse(f.buf, 0, f.len)
    const small = new Uint8Array(60)
    expect(Icmp.writePortUnreachable(small, 0, f.buf, p, OUR_IP)).toBe(0)
    expect(Tcp.writeReset(small, 10, f.buf, p)).toBe(0)
    expect(Tcp.writeReset(small, 0, f.buf, p)).toBe(54)
    const v6 = ipv6Frame({ protocol: 17 })
    p.parse(v6.buf, 0, v6.len)
    expect(Icmpv6.writePortUnreachable(small, 0, v6.buf, p, OUR_V6, 0)).toBe(0)
    const mac = Address.parseMac("02:00:00:00:00:01")
    expect(Ndp.writeUnsolicitedAdvertisement(small, 0, mac, OUR_V6, 0, OUR_V6, 0, true)).toBe(0)
    expect(small.every((x, i) => i < 54 || x === 0)).toBe(true)
  })
})

describe("mayReplyWithError", () => {
  it("follows icmp_send / RFC 4443 §2.4(e)", () => {
    const ok = ipv4Frame({ protocol: 17, src: 0xc0a80001, dst: OUR_IP })
    p.parse(ok.buf, 0, ok.len)
    expect(Icmp.mayReplyWithError(ok.buf, p)).toBe(true)
    const bcast = ipv4Frame({ protocol: 17, dst: 0xffffffff })
    p.parse(bcast.buf, 0, bcast.len)
    expect(Icmp.mayReplyWithError(bcast.buf, p)).toBe(false)
    const mcastMac = ipv4Frame({ protocol: 17 })
    mcastMac.buf[0] = 0x01
    p.parse(mcastMac.buf, 0, mcastMac.len)
    expect(Icmp.mayReplyWithError(mcastMac.buf, p)).toBe(false)
    const zeroSrc = ipv4Frame({ protocol: 17, src: 0 })
    p.parse(zeroSrc.buf, 0, zeroSrc.len)
    expect(Icmp.mayReplyWithError(zeroSrc.buf, p)).toBe(false)
    const err = ipv4Frame({ protocol: 1, raw: [3, 3, 0, 0, 0, 0, 0, 0] })
    p.parse(err.buf, 0, err.len)
    expect(Icmp.mayReplyWithError(err.buf, p)).toBe(false)
    const echo = ipv4Frame({ protocol: 1, raw: [8, 0, 0, 0, 0, 0, 0, 0] })
    p.parse(echo.buf, 0, echo.len)
    expect(Icmp.mayReplyWithError(echo.buf, p)).toBe(true)
    const frag = ipv4Frame({ protocol: 17, df: false, payload: [1, 2, 3, 4, 5, 6, 7, 8] })
    frag.buf[21] = 1
    p.parse(frag.buf, 0, frag.len)
    expect(Icmp.mayReplyWithError(frag.buf, p)).toBe(false)
    for (const [type, may] of [
      [9, false],
      [10, false],
      [13, true],
      [18, true],
      [19, false],
      [0, true]
    ] as const) {
      const q = ipv4Frame({ protocol: 1, raw: [type, 0, 0, 0, 0, 0, 0, 0] })
      p.parse(q.buf, 0, q.len)
      expect(Icmp.mayReplyWithError(q.buf, p)).toBe(may)
    }
    // IPv6: Linux answers non-first fragments too (RFC 8200 §4.5), even of ICMPv6.
    const frag6 = ipv6Frame({ protocol: 58, raw: [1, 2, 3, 4, 5, 6, 7, 8], extensions: [[44, [0, 0, 8, 0, 0, 0, 1]]] })
    p.parse(frag6.buf, 0, frag6.len)
    expect(p.fragmentOffset).toBe(8)
    expect(Icmpv6.mayReplyWithError(frag6.buf, p, Icmpv6.Type.TimeExceeded)).toBe(true)

    const v6 = ipv6Frame({ protocol: 17 })
    p.parse(v6.buf, 0, v6.len)
    expect(Icmpv6.mayReplyWithError(v6.buf, p, Icmpv6.Type.DestinationUnreachable)).toBe(true)
    const m6 = ipv6Frame({ protocol: 17, dst: [0xff, 2, ...new Array(13).fill(0), 1] })
    p.parse(m6.buf, 0, m6.len)
    expect(Icmpv6.mayReplyWithError(m6.buf, p, Icmpv6.Type.DestinationUnreachable)).toBe(false)
    expect(Icmpv6.mayReplyWithError(m6.buf, p, Icmpv6.Type.PacketTooBig)).toBe(true)
    const e6 = ipv6Frame({ protocol: 58, raw: [1, 4, 0, 0, 0, 0, 0, 0] })
    p.parse(e6.buf, 0, e6.len)
    expect(Icmpv6.mayReplyWithError(e6.buf, p, Icmpv6.Type.PacketTooBig)).toBe(false)
    const u6 = ipv6Frame({ protocol: 17, src: new Array(16).fill(0) })
    p.parse(u6.buf, 0, u6.len)
    expect(Icmpv6.mayReplyWithError(u6.buf, p, Icmpv6.Type.DestinationUnreachable)).toBe(false)
  })
})
