/**
 * IPVS tunnel forwarding (`ip_vs_tunnel_xmit`, `--tun-type ipip | gue | gre`): encapsulation by writing
 * the outer headers into headroom in front of the inner IP packet (the payload is never copied), and
 * the reverse, decapsulation.
 *
 * A {@link Tunnel} describes one real server's tunnel and is made once (per destination), not per packet.
 *
 * @module
 */
import * as Ethernet from "./Ethernet.ts"
import * as Gre from "./Gre.ts"
import * as Gue from "./Gue.ts"
import { IpProtocol } from "./IpProtocol.ts"
import * as Ipv4 from "./Ipv4.ts"
import * as Ipv6 from "./Ipv6.ts"
import { copy, read16, write16 } from "./internal/bytes.ts"
import type { PacketParser } from "./PacketParser.ts"
import * as Udp from "./Udp.ts"

/**
 * Tunnel types with IPVS's numbering (`IP_VS_CONN_F_TUNNEL_TYPE_*`).
 *
 * @example
 * ```ts
 * Tunnel.make({ type: Tunnel.TunnelType.Gue, port: 6080, ... })
 * ```
 */
export const TunnelType = {
  Ipip: 0,
  Gue: 1,
  Gre: 2
} as const

/**
 * Negative results of {@link encapsulate} and {@link decapsulate}.
 *
 * @example
 * ```ts
 * if (Tunnel.encapsulate(frame, 14 + 64, len, t, id, sport) === Tunnel.TunnelResult.NoHeadroom) grow()
 * ```
 */
export const TunnelResult = {
  /** Not enough bytes before the inner packet for the outer headers. */
  NoHeadroom: -1,
  /** The encapsulated packet would exceed 65535 bytes. */
  TooLong: -2,
  /** The frame is not a tunnel packet of a known type (or the GUE port does not match). */
  NotATunnel: -3,
  /** The tunnel header or the inner IP header is malformed or truncated. */
  Malformed: -4
} as const

/**
 * One tunnel endpoint: outer addresses, type, options and the Ethernet addresses of the next hop.
 *
 * @example
 * ```ts
 * const t: Tunnel.Tunnel = Tunnel.make({ type: Tunnel.TunnelType.Ipip, source4: lip, destination4: rip, ... })
 * ```
 */
export interface Tunnel {
  /** One of {@link TunnelType}. */
  readonly type: number
  /** Outer IP version, 4 or 6. */
  readonly outerVersion: number
  /** Outer IPv4 source (outerVersion 4): the director's address towards the real server. */
  readonly source4: number
  /** Outer IPv4 destination: the real server. */
  readonly destination4: number
  /** Outer IPv6 source, 16 bytes (outerVersion 6). */
  readonly source6: Uint8Array
  /** Outer IPv6 destination, 16 bytes. */
  readonly destination6: Uint8Array
  /** GUE destination port (`--tun-port`). */
  readonly port: number
  /** GUE: compute the outer UDP checksum (`--tun-csum`); GRE: add the GRE checksum. */
  readonly checksum: boolean
  /** Copy the inner DF bit to the outer header (IPVS does when `pmtu_disc` is on). */
  readonly copyDontFragment: boolean
  /** Ethernet destination: the next hop towards the real server. */
  readonly destinationMac: Uint8Array
  /** Ethernet source: our interface. */
  readonly sourceMac: Uint8Array
  /** Bytes of outer IP + UDP/GUE/GRE headers (without Ethernet). */
  readonly overhead: number
}

/**
 * Options of {@link make}, fields as in {@link Tunnel}; addresses of the unused family may be omitted,
 * `checksum` defaults to false and `copyDontFragment` to true (IPVS with `pmtu_disc` on).
 *
 * @example
 * ```ts
 * const options: Tunnel.TunnelOptions = { type: 0, outerVersion: 4, source4: 1, destination4: 2, destinationMac, sourceMac }
 * ```
 */
export interface TunnelOptions {
  readonly type: number
  readonly outerVersion: 4 | 6
  readonly source4?: number
  readonly destination4?: number
  readonly source6?: Uint8Array
  readonly destination6?: Uint8Array
  readonly port?: number
  readonly checksum?: boolean
  readonly copyDontFragment?: boolean
  readonly destinationMac: Uint8Array
  readonly sourceMac: Uint8Array
}

const overheadOf = (type: number, outerVersion: number, checksum: boolean): number =>
  (outerVersion === 4 ? Ipv4.HEADER_LENGTH : Ipv6.HEADER_LENGTH) +
  (type === TunnelType.Gue ? Udp.HEADER_LENGTH + Gue.HEADER_LENGTH : 0) +
  (type === TunnelType.Gre ? Gre.BASE_LENGTH + (checksum ? 4 : 0) : 0)

/**
 * Makes a {@link Tunnel} (once per destination). Throws on inconsistent options (control plane).
 *
 * @example
 * ```ts
 * const t = Tunnel.make({ type: Tunnel.TunnelType.Gre, outerVersion: 4, source4: lip, destination4: rip,
 *   destinationMac: rsMac, sourceMac: ourMac })
 * ```
 */
export const make = (o: TunnelOptions): Tunnel => {
  if (o.type !== TunnelType.Ipip && o.type !== TunnelType.Gue && o.type !== TunnelType.Gre) {
    throw new Error(`tunnel type ${o.type} is not ipip (0), gue (1) or gre (2)`)
  }
  if (o.type === TunnelType.Gue && (o.port === undefined || o.port < 1 || o.port > 65535)) {
    throw new Error(`a GUE tunnel needs a port in 1..65535, got ${o.port}`)
  }
  if (o.outerVersion === 6 && (o.source6?.length !== 16 || o.destination6?.length !== 16)) {
    throw new Error("an IPv6 tunnel needs 16-byte source6 and destination6")
  }
  if (o.destinationMac.length !== 6 || o.sourceMac.length !== 6) throw new Error("tunnel MACs must be 6 bytes")
  const checksum = o.checksum ?? false
  return {
    type: o.type,
    outerVersion: o.outerVersion,
    source4: (o.source4 ?? 0) >>> 0,
    destination4: (o.destination4 ?? 0) >>> 0,
    source6: o.source6 ?? new Uint8Array(16),
    destination6: o.destination6 ?? new Uint8Array(16),
    port: o.port ?? 0,
    checksum,
    copyDontFragment: o.copyDontFragment ?? true,
    destinationMac: o.destinationMac,
    sourceMac: o.sourceMac,
    overhead: overheadOf(o.type, o.outerVersion, checksum)
  }
}

/**
 * RFC 3168 full-functionality ECN encapsulation (Linux `INET_ECN_encapsulate`, which IPVS uses): the
 * outer TOS copies DSCP and ECN, except that an inner CE becomes ECT(0).
 *
 * @example
 * ```ts
 * Tunnel.outerTos(0x03) // 0x02
 * ```
 */
export const outerTos = (innerTos: number): number => ((innerTos & 3) === 3 ? (innerTos & ~3) | 2 : innerTos) & 0xff

/**
 * Encapsulates the IP packet of `l3Length` bytes at `l3` for tunnel `t`: writes Ethernet + outer IP
 * (+ UDP/GUE or GRE) in the `14 + t.overhead` bytes before `l3` and returns the offset of the new frame
 * (its length is `l3 + l3Length - offset`), or a negative {@link TunnelResult}. Whatever preceded the
 * inner packet (its old Ethernet header, VLAN tags) is overwritten.
 *
 * Outer fields follow IPVS: TOS/traffic class by {@link outerTos}, DF copied from the inner packet when
 * `copyDontFragment`, TTL/hop limit = the inner one (decrement it first), protocol 4/41 (IPIP),
 * 17 (GUE: source port `sourcePort`, a flow hash as `udp_flow_src_port` picks; checksum only with
 * `checksum` over IPv4, always over IPv6), 47 (GRE). `identification` is the outer IPv4 ID.
 *
 * @example
 * ```ts
 * const start = Tunnel.encapsulate(frame, p.l3Offset, p.l3End - p.l3Offset, t, id, 0)
 * if (start >= 0) send(frame, start, p.l3End - start)
 * ```
 */
export const encapsulate = (
  b: Uint8Array,
  l3: number,
  l3Length: number,
  t: Tunnel,
  identification: number,
  sourcePort: number
): number => {
  const start = l3 - t.overhead - Ethernet.HEADER_LENGTH
  if (start < 0) return TunnelResult.NoHeadroom
  const total = t.overhead + l3Length
  if (total > 0xffff) return TunnelResult.TooLong
  const innerV4 = b[l3]! >>> 4 === 4
  const innerTos = innerV4 ? b[l3 + 1]! : ((b[l3]! & 0x0f) << 4) | (b[l3 + 1]! >>> 4)
  const innerTtl = innerV4 ? b[l3 + Ipv4.TTL]! : b[l3 + Ipv6.HOP_LIMIT]!
  const innerProtocol = innerV4 ? IpProtocol.Ipip : IpProtocol.Ipv6
  const protocol =
    t.type === TunnelType.Ipip ? innerProtocol : t.type === TunnelType.Gue ? IpProtocol.Udp : IpProtocol.Gre
  const o3 = start + Ethernet.HEADER_LENGTH
  const v4 = t.outerVersion === 4
  Ethernet.write(b, start, t.destinationMac, t.sourceMac, v4 ? Ethernet.EtherType.Ipv4 : Ethernet.EtherType.Ipv6)
  let o4: number
  if (v4) {
    const df = t.copyDontFragment && innerV4 && (b[l3 + Ipv4.FLAGS_FRAGMENT]! & 0x40) !== 0 ? Ipv4.FLAG_DF : 0
    o4 = o3 + Ipv4.HEADER_LENGTH
    Ipv4.write(b, o3, outerTos(innerTos), total, identification, df, innerTtl, protocol, t.source4, t.destination4)
  } else {
    o4 = o3 + Ipv6.HEADER_LENGTH
    Ipv6.write(
      b,
      o3,
      outerTos(innerTos),
      0,
      total - Ipv6.HEADER_LENGTH,
      protocol,
      innerTtl,
      t.source6,
      0,
      t.destination6,
      0
    )
  }
  if (t.type === TunnelType.Gue) {
    const udpLength = total - (o4 - o3)
    Udp.write(b, o4, sourcePort, t.port, udpLength)
    Gue.write(b, o4 + Udp.HEADER_LENGTH, innerProtocol)
    if (t.checksum || !v4) Udp.updateChecksum(b, o3, o4)
  } else if (t.type === TunnelType.Gre) {
    Gre.write(b, o4, innerV4 ? Ethernet.EtherType.Ipv4 : Ethernet.EtherType.Ipv6, t.checksum, -1, -1)
    if (t.checksum) Gre.updateChecksum(b, o4, total - (o4 - o3))
  }
  return start
}

/**
 * Offset of the inner IP packet of the parsed tunnel frame `p` (IPIP, IPv6-in-IP, GRE carrying IPv4/IPv6,
 * or GUE on UDP port `guePort`; pass -1 to not accept GUE), or a negative {@link TunnelResult}. The inner
 * header's version is checked against what the tunnel announces; parse it with `parseIp` afterwards.
 *
 * @example
 * ```ts
 * const inner = Tunnel.innerOffset(frame, p, 6080)
 * ```
 */
export const innerOffset = (b: Uint8Array, p: PacketParser, guePort: number): number => {
  if (p.ipVersion === 0 || p.fragmentOffset !== 0 || p.moreFragments) return TunnelResult.NotATunnel
  const l4 = p.l4Offset
  const end = p.l3End
  let inner = -1
  let version = 0
  if (p.protocol === IpProtocol.Ipip || p.protocol === IpProtocol.Ipv6) {
    inner = l4
    version = p.protocol === IpProtocol.Ipip ? 4 : 6
  } else if (p.protocol === IpProtocol.Gre) {
    const hl = Gre.headerLength(b, l4, end - l4)
    if (hl < 0) return TunnelResult.Malformed
    const type = read16(b, l4 + Gre.PROTOCOL_TYPE)
    if (type === Ethernet.EtherType.Ipv4) version = 4
    else if (type === Ethernet.EtherType.Ipv6) version = 6
    else return TunnelResult.NotATunnel
    inner = l4 + hl
  } else if (p.protocol === IpProtocol.Udp && guePort >= 0 && p.destinationPort === guePort) {
    const g = l4 + Udp.HEADER_LENGTH
    const first = g < end ? b[g]! >>> 4 : 0
    if (first === 4 || first === 6) {
      inner = g // GUE variant 1: the IP header directly
      version = first
    } else {
      const hl = Gue.headerLength(b, g, end - g)
      if (hl < 0 || Gue.isControl(b, g)) return TunnelResult.Malformed
      const proto = b[g + Gue.PROTOCOL]!
      if (proto === IpProtocol.Ipip) version = 4
      else if (proto === IpProtocol.Ipv6) version = 6
      else return TunnelResult.NotATunnel
      inner = g + hl
    }
  } else {
    return TunnelResult.NotATunnel
  }
  const min = version === 4 ? Ipv4.HEADER_LENGTH : Ipv6.HEADER_LENGTH
  if (inner + min > end || b[inner]! >>> 4 !== version) return TunnelResult.Malformed
  return inner
}

/**
 * Decapsulates the parsed tunnel frame `p` in place: writes an Ethernet header (the outer frame's MAC
 * addresses, EtherType of the inner packet) right before the inner IP packet and returns the offset of
 * the new frame (its length is `p.l3End - offset`), or a negative {@link TunnelResult}. Nothing moves.
 *
 * @example
 * ```ts
 * const start = Tunnel.decapsulate(frame, p, -1)
 * if (start >= 0) inner.parse(frame, start, p.l3End - start)
 * ```
 */
export const decapsulate = (b: Uint8Array, p: PacketParser, guePort: number): number => {
  if (p.offset === p.l3Offset) return TunnelResult.Malformed // parsed with parseIp: no Ethernet header to keep
  const inner = innerOffset(b, p, guePort)
  if (inner < 0) return inner
  const start = inner - Ethernet.HEADER_LENGTH
  // [p.offset, p.offset + 12) and [start, start + 12) never overlap: start >= p.offset + 20.
  copy(b, start, b, p.offset, 12)
  write16(b, start + Ethernet.ETHER_TYPE, b[inner]! >>> 4 === 4 ? Ethernet.EtherType.Ipv4 : Ethernet.EtherType.Ipv6)
  return start
}
