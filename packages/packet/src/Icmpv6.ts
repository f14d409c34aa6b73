/**
 * ICMPv6 (RFC 4443): offsets, types, the embedded original packet of error messages, checksum helpers
 * (the checksum covers the IPv6 pseudo-header). Builders for destination unreachable, packet too big,
 * time exceeded and echo reply are in this module too; neighbour discovery is in `Ndp`.
 *
 * @module
 */
import * as Checksum from "./Checksum.ts"
import { IpProtocol } from "./IpProtocol.ts"
import * as Ipv6 from "./Ipv6.ts"
import { read16, read32, write16, write32 } from "./internal/bytes.ts"
import { copyBytes, replyL2 } from "./internal/reply.ts"
import type { PacketParser } from "./PacketParser.ts"

/** Header length (type, code, checksum, 4 bytes). @example `Icmpv6.HEADER_LENGTH // 8` */
export const HEADER_LENGTH = 8
/** Offset of the type. @example `frame[l4 + Icmpv6.TYPE]` */
export const TYPE = 0
/** Offset of the code. @example `frame[l4 + Icmpv6.CODE]` */
export const CODE = 1
/** Offset of the checksum. @example `Icmpv6.checksum(frame, l4)` */
export const CHECKSUM = 2
/** Offset of the MTU of packet too big (32 bits). @example `Icmpv6.mtu(frame, l4)` */
export const MTU = 4
/** Offset of the echo identifier. @example `Icmpv6.identifier(frame, l4)` */
export const IDENTIFIER = 4
/** Offset of the echo sequence number. @example `Icmpv6.sequence(frame, l4)` */
export const SEQUENCE = 6
/** Offset of the embedded original packet of an error message. @example `l4 + Icmpv6.EMBEDDED` */
export const EMBEDDED = 8
/**
 * Largest error message (RFC 4443 §2.4(c): as much of the invoking packet as fits the IPv6 minimum MTU).
 *
 * @example
 * ```ts
 * Icmpv6.MAX_ERROR_PACKET // 1280
 * ```
 */
export const MAX_ERROR_PACKET = 1280

/**
 * ICMPv6 types.
 *
 * @example
 * ```ts
 * Icmpv6.type(frame, l4) === Icmpv6.Type.PacketTooBig
 * ```
 */
export const Type = {
  DestinationUnreachable: 1,
  PacketTooBig: 2,
  TimeExceeded: 3,
  ParameterProblem: 4,
  EchoRequest: 128,
  EchoReply: 129,
  RouterSolicitation: 133,
  RouterAdvertisement: 134,
  NeighborSolicitation: 135,
  NeighborAdvertisement: 136,
  Redirect: 137
} as const

/**
 * Destination-unreachable codes.
 *
 * @example
 * ```ts
 * Icmpv6.UnreachableCode.Port // 4
 * ```
 */
export const UnreachableCode = {
  NoRoute: 0,
  AdministrativelyProhibited: 1,
  BeyondScope: 2,
  Address: 3,
  Port: 4
} as const

/**
 * True for error messages (types 0..127) that carry the invoking packet: 1, 2, 3, 4. IPVS relates all
 * four to connections (`ip_vs_in_icmp_v6`).
 *
 * @example
 * ```ts
 * Icmpv6.isError(2) // true
 * ```
 */
export const isError = (type: number): boolean => type >= 1 && type <= 4

/** Type. @example `Icmpv6.type(frame, 54) // 1` */
export const type = (b: Uint8Array, l4: number): number => b[l4]!
/** Code. @example `Icmpv6.code(frame, 54) // 4` */
export const code = (b: Uint8Array, l4: number): number => b[l4 + CODE]!
/** Checksum field. @example `Icmpv6.checksum(frame, 54)` */
export const checksum = (b: Uint8Array, l4: number): number => read16(b, l4 + CHECKSUM)
/** MTU of packet too big. @example `Icmpv6.mtu(frame, 54) // 1280` */
export const mtu = (b: Uint8Array, l4: number): number => read32(b, l4 + MTU)
/** Echo identifier. @example `Icmpv6.identifier(frame, 54)` */
export const identifier = (b: Uint8Array, l4: number): number => read16(b, l4 + IDENTIFIER)
/** Echo sequence number. @example `Icmpv6.sequence(frame, 54)` */
export const sequence = (b: Uint8Array, l4: number): number => read16(b, l4 + SEQUENCE)

/**
 * Recomputes and stores the checksum of the `length`-byte message at `l4` in the IPv6 packet at `l3`.
 *
 * @example
 * ```ts
 * Icmpv6.updateChecksum(frame, 14, 54, 32)
 * ```
 */
export const updateChecksum = (b: Uint8Array, l3: number, l4: number, length: number): void => {
  b[l4 + CHECKSUM] = 0
  b[l4 + CHECKSUM + 1] = 0
  write16(b, l4 + CHECKSUM, Checksum.transport(b, l3, l4, IpProtocol.Icmpv6, length))
}

/**
 * True when the checksum verifies.
 *
 * @example
 * ```ts
 * Icmpv6.isChecksumValid(frame, 14, 54, 32)
 * ```
 */
export const isChecksumValid = (b: Uint8Array, l3: number, l4: number, length: number): boolean =>
  Checksum.transport(b, l3, l4, IpProtocol.Icmpv6, length) === 0

/**
 * Writes an ICMPv6 error about the parsed IPv6 packet `p` (in `frame`) into `out` and returns the length
 * written (0 when `p` is not IPv6 or `out` is too small). L2 header kept with MACs swapped; source `source` (16 bytes at
 * `sourceOffset`), destination the original source, hop limit 64; the quote is as much of the original
 * packet as fits 1280 bytes (RFC 4443 §2.4(c)). `rest` is the 32-bit word after the checksum (the MTU
 * of packet too big). `out` must not overlap the original packet.
 *
 * @example
 * ```ts
 * Icmpv6.writeError(out, 0, frame, p, Icmpv6.Type.DestinationUnreachable, Icmpv6.UnreachableCode.Port, 0, ours, 0)
 * ```
 */
export const writeError = (
  out: Uint8Array,
  outOff: number,
  frame: Uint8Array,
  p: PacketParser,
  type: number,
  code: number,
  rest: number,
  source: Uint8Array,
  sourceOffset: number
): number => {
  if (p.ipVersion !== 6) return 0
  const quote = Math.min(p.l3End - p.l3Offset, MAX_ERROR_PACKET - Ipv6.HEADER_LENGTH - HEADER_LENGTH)
  const len = HEADER_LENGTH + quote
  if (outOff + (p.l3Offset - p.offset) + Ipv6.HEADER_LENGTH + len > out.length) return 0
  const l2 = replyL2(out, outOff, frame, p)
  const l3 = outOff + l2
  Ipv6.write(out, l3, 0, 0, len, IpProtocol.Icmpv6, 64, source, sourceOffset, frame, p.l3Offset + Ipv6.SOURCE)
  const l4 = l3 + Ipv6.HEADER_LENGTH
  out[l4] = type
  out[l4 + CODE] = code
  write32(out, l4 + 4, rest)
  copyBytes(out, l4 + EMBEDDED, frame, p.l3Offset, quote)
  updateChecksum(out, l3, l4, len)
  return l2 + Ipv6.HEADER_LENGTH + len
}

/**
 * Writes ICMPv6 destination unreachable / port unreachable (type 1 code 4); see {@link writeError}.
 *
 * @example
 * ```ts
 * Icmpv6.writePortUnreachable(out, 0, frame, p, ours, 0)
 * ```
 */
export const writePortUnreachable = (
  out: Uint8Array,
  outOff: number,
  frame: Uint8Array,
  p: PacketParser,
  source: Uint8Array,
  sourceOffset: number
): number =>
  writeError(out, outOff, frame, p, Type.DestinationUnreachable, UnreachableCode.Port, 0, source, sourceOffset)

/**
 * Writes ICMPv6 packet too big (type 2) with `mtu`, as IPVS sends when a packet exceeds the route MTU;
 * see {@link writeError}.
 *
 * @example
 * ```ts
 * Icmpv6.writePacketTooBig(out, 0, frame, p, 1280, ours, 0)
 * ```
 */
export const writePacketTooBig = (
  out: Uint8Array,
  outOff: number,
  frame: Uint8Array,
  p: PacketParser,
  mtu: number,
  source: Uint8Array,
  sourceOffset: number
): number => writeError(out, outOff, frame, p, Type.PacketTooBig, 0, mtu >>> 0, source, sourceOffset)

/**
 * Writes ICMPv6 time exceeded / hop limit exceeded in transit (type 3 code 0); see {@link writeError}.
 *
 * @example
 * ```ts
 * if (!Ipv6.decrementHopLimit(frame, p.l3Offset)) Icmpv6.writeTimeExceeded(out, 0, frame, p, ours, 0)
 * ```
 */
export const writeTimeExceeded = (
  out: Uint8Array,
  outOff: number,
  frame: Uint8Array,
  p: PacketParser,
  source: Uint8Array,
  sourceOffset: number
): number => writeError(out, outOff, frame, p, Type.TimeExceeded, 0, 0, source, sourceOffset)

/**
 * Writes the echo reply to the parsed ICMPv6 echo request `p` (addresses swapped, hop limit 64) and
 * returns its length, or 0 when `p` is not one. Extension headers of the request are not copied.
 *
 * @example
 * ```ts
 * if (p.icmpType === Icmpv6.Type.EchoRequest) send(out, Icmpv6.writeEchoReply(out, 0, frame, p))
 * ```
 */
export const writeEchoReply = (out: Uint8Array, outOff: number, frame: Uint8Array, p: PacketParser): number => {
  if (p.ipVersion !== 6 || p.icmpType !== Type.EchoRequest) return 0
  const len = p.l4Length
  if (outOff + (p.l3Offset - p.offset) + Ipv6.HEADER_LENGTH + len > out.length) return 0
  const l2 = replyL2(out, outOff, frame, p)
  const l3 = outOff + l2
  Ipv6.write(
    out,
    l3,
    Ipv6.trafficClass(frame, p.l3Offset),
    0,
    len,
    IpProtocol.Icmpv6,
    64,
    frame,
    p.l3Offset + Ipv6.DESTINATION,
    frame,
    p.l3Offset + Ipv6.SOURCE
  )
  const l4 = l3 + Ipv6.HEADER_LENGTH
  copyBytes(out, l4, frame, p.l4Offset, len)
  out[l4] = Type.EchoReply
  out[l4 + CODE] = 0
  updateChecksum(out, l3, l4, len)
  return l2 + Ipv6.HEADER_LENGTH + len
}

/**
 * Whether an ICMPv6 error of `type` may be sent about the parsed IPv6 packet `p`, by the rules of Linux
 * `icmp6_send` (RFC 4443 §2.4(e)): not about an ICMPv6 error or a redirect (when the type is visible: a
 * non-first fragment is eligible, and Linux answers every fragment, unlike IPv4), not to a multicast or
 * link-layer multicast destination unless it is packet too big (Linux also allows a parameter problem
 * about an unrecognised option that asks for it, which this package does not send), not from the
 * unspecified or a multicast source. Rate limiting is up to the caller.
 *
 * @example
 * ```ts
 * if (Icmpv6.mayReplyWithError(frame, p, Icmpv6.Type.PacketTooBig)) send(out, Icmpv6.writePacketTooBig(...))
 * ```
 */
export const mayReplyWithError = (frame: Uint8Array, p: PacketParser, type: number): boolean => {
  if (p.ipVersion !== 6) return false
  const src = p.l3Offset + Ipv6.SOURCE
  if (frame[src] === 0xff) return false
  let unspecified = true
  for (let i = 0; i < 16; i++) if (frame[src + i] !== 0) unspecified = false
  if (unspecified) return false
  const multicast =
    frame[p.l3Offset + Ipv6.DESTINATION] === 0xff || (p.offset !== p.l3Offset && (frame[p.offset]! & 1) === 1)
  if (multicast && type !== Type.PacketTooBig) return false
  if (p.protocol === IpProtocol.Icmpv6 && p.icmpType >= 0 && (isError(p.icmpType) || p.icmpType === Type.Redirect)) {
    return false
  }
  return true
}
