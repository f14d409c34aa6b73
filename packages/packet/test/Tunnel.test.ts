import { Address, Gre, Gue, IpProtocol, Ipv4, Ipv6, PacketParser, ParseResult, Tcp, Tunnel, Udp } from "@lvs-ts/packet"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { ipv4Frame, ipv6Frame } from "./helpers/frames.ts"

const outer = new PacketParser()
const inner = new PacketParser()
const rsMac = Address.parseMac("02:00:00:00:00:33")
const ourMac = Address.parseMac("02:00:00:00:00:44")
const dip = 0xc0a80101
const rip = 0xc0a80102
const dip6 = Address.parseIpv6("2001:db8:1::1")
const rip6 = Address.parseIpv6("2001:db8:1::2")

const tunnels = [
  Tunnel.make({
    type: Tunnel.TunnelType.Ipip,
    outerVersion: 4,
    source4: dip,
    destination4: rip,
    destinationMac: rsMac,
    sourceMac: ourMac
  }),
  Tunnel.make({
    type: Tunnel.TunnelType.Gre,
    outerVersion: 4,
    source4: dip,
    destination4: rip,
    destinationMac: rsMac,
    sourceMac: ourMac
  }),
  Tunnel.make({
    type: Tunnel.TunnelType.Gre,
    outerVersion: 4,
    source4: dip,
    destination4: rip,
    checksum: true,
    destinationMac: rsMac,
    sourceMac: ourMac
  }),
  Tunnel.make({
    type: Tunnel.TunnelType.Gue,
    outerVersion: 4,
    source4: dip,
    destination4: rip,
    port: 6080,
    destinationMac: rsMac,
    sourceMac: ourMac
  }),
  Tunnel.make({
    type: Tunnel.TunnelType.Gue,
    outerVersion: 4,
    source4: dip,
    destination4: rip,
    port: 6080,
    checksum: true,
    destinationMac: rsMac,
    sourceMac: ourMac
  }),
  Tunnel.make({
    type: Tunnel.TunnelType.Ipip,
    outerVersion: 6,
    source6: dip6,
    destination6: rip6,
    destinationMac: rsMac,
    sourceMac: ourMac
  }),
  Tunnel.make({
    type: Tunnel.TunnelType.Gue,
    outerVersion: 6,
    source6: dip6,
    destination6: rip6,
    port: 6080,
    destinationMac: rsMac,
    sourceMac: ourMac
  }),
  Tunnel.make({
    type: Tunnel.TunnelType.Gre,
    outerVersion: 6,
    source6: dip6,
    destination6: rip6,
    checksum: true,
    destinationMac: rsMac,
    sourceMac: ourMac
  })
]

describe("Tunnel", () => {
  it("encapsulates in the headroom without moving the inner packet, and decapsulates back", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: tunnels.length - 1 }),
        fc.boolean(),
        fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 64 }),
        fc.integer({ min: 0, max: 255 }),
        fc.boolean(),
        (which, innerV6, data, tos, df) => {
          const t = tunnels[which]!
          const headroom = 80
          const spec = { protocol: 6, dport: 80, payload: data, headroom, tos, df }
          const f = innerV6 ? ipv6Frame(spec) : ipv4Frame(spec)
          const l3 = headroom + 14
          const l3Length = f.len - 14
          const innerCopy = f.buf.slice(l3, l3 + l3Length)
          const start = Tunnel.encapsulate(f.buf, l3, l3Length, t, 0x77, 49152)
          expect(start).toBe(l3 - t.overhead - 14)
          expect([...f.buf.subarray(l3, l3 + l3Length)]).toEqual([...innerCopy])
          const len = l3 + l3Length - start
          expect(outer.parse(f.buf, start, len)).toBe(ParseResult.Ok)
          expect(outer.ipVersion).toBe(t.outerVersion)
          expect(outer.l3End).toBe(start + len)
          expect(Address.formatMac(f.buf, start)).toBe("02:00:00:00:00:33")
          if (t.outerVersion === 4) {
            expect(Ipv4.isChecksumValid(f.buf, outer.l3Offset)).toBe(true)
            expect(Ipv4.destination(f.buf, outer.l3Offset)).toBe(rip)
            expect(Ipv4.identification(f.buf, outer.l3Offset)).toBe(0x77)
            expect(Ipv4.dontFragment(f.buf, outer.l3Offset)).toBe(!innerV6 && df)
            expect(Ipv4.tos(f.buf, outer.l3Offset)).toBe(innerV6 ? Tunnel.outerTos(0) : Tunnel.outerTos(tos))
            expect(Ipv4.ttl(f.buf, outer.l3Offset)).toBe(64)
          } else {
            expect(Ipv6.equalAddress(f.buf, outer.l3Offset + Ipv6.DESTINATION, rip6, 0)).toBe(true)
          }
          const expectedProto =
            t.type === Tunnel.TunnelType.Ipip
              ? innerV6
                ? IpProtocol.Ipv6
                : IpProtocol.Ipip
              : t.type === Tunnel.TunnelType.Gue
                ? IpProtocol.Udp
                : IpProtocol.Gre
          expect(outer.protocol).toBe(expectedProto)
          if (t.type === Tunnel.TunnelType.Gue) {
            expect(outer.destinationPort).toBe(6080)
            expect(outer.sourcePort).toBe(49152)
            expect(Gue.protocol(f.buf, outer.payloadOffset)).toBe(innerV6 ? 41 : 4)
            if (t.checksum || t.outerVersion === 6) {
              expect(Udp.checksum(f.buf, outer.l4Offset)).not.toBe(0)
              expect(Udp.isChecksumValid(f.buf, outer.l3Offset, outer.l4Offset)).toBe(true)
            } else expect(Udp.checksum(f.buf, outer.l4Offset)).toBe(0)
          }
          if (t.type === Tunnel.TunnelType.Gre && t.checksum) {
            const sumOk = Gre.headerLength(f.buf, outer.l4Offset, outer.l4Length) === 8
            expect(sumOk).toBe(true)
          }
          expect(Tunnel.innerOffset(f.buf, outer, 6080)).toBe(l3)
          const back = Tunnel.decapsulate(f.buf, outer, 6080)
          expect(back).toBe(headroom)
          expect(inner.parse(f.buf, back, l3 + l3Length - back)).toBe(ParseResult.Ok)
          expect(inner.destinationPort).toBe(80)
          expect(Tcp.isChecksumValid(f.buf, inner.l3Offset, inner.l4Offset, inner.l4Length)).toBe(true)
        }
      ),
      { numRuns: 500 }
    )
  })

  it("maps CE to ECT(0) in the outer TOS and reports missing headroom", () => {
    expect(Tunnel.outerTos(0xb8 | 3)).toBe(0xb8 | 2)
    expect(Tunnel.outerTos(0xb8 | 1)).toBe(0xb8 | 1)
    const f = ipv4Frame({ protocol: 17 })
    expect(Tunnel.encapsulate(f.buf, 14, f.len - 14, tunnels[0]!, 0, 0)).toBe(Tunnel.TunnelResult.NoHeadroom)
  })

  it("rejects non-tunnel frames and malformed tunnel headers", () => {
    const f = ipv4Frame({ protocol: 6 })
    outer.parse(f.buf, 0, f.len)
    expect(Tunnel.decapsulate(f.buf, outer, 6080)).toBe(Tunnel.TunnelResult.NotATunnel)
    const gre = ipv4Frame({ protocol: 47, raw: [0, 1, 0x08, 0x00, 0x45] })
    outer.parse(gre.buf, 0, gre.len)
    expect(Tunnel.decapsulate(gre.buf, outer, -1)).toBe(Tunnel.TunnelResult.Malformed)
    const ipip = ipv4Frame({ protocol: 4, raw: [0x45, 0, 0, 20] })
    outer.parse(ipip.buf, 0, ipip.len)
    expect(Tunnel.innerOffset(ipip.buf, outer, -1)).toBe(Tunnel.TunnelResult.Malformed)
    expect(() => Tunnel.make({ type: 1, outerVersion: 4, destinationMac: rsMac, sourceMac: ourMac })).toThrow(/port/)
  })
})
