/**
 * ICMPv4 (RFC 792): offsets, types, the embedded original datagram of error messages, checksum helpers.
 * Builders for the messages a director sends (destination unreachable, time exceeded, echo reply) are in
 * this module too.
 *
 * @module
 */
import * as Checksum from "./Checksum.ts"
import { IpProtocol } from "./IpProtocol.ts"
import * as Ipv4 from "./Ipv4.ts"
import { read16, write16, write32 } from "./internal/bytes.ts"
import { REFUSE, writeEchoOptions } from "./internal/echoOptions.ts"
import { copyBytes, nextId, replyL2 } from "./internal/reply.ts"
import type { PacketParser } from "./PacketParser.ts"

/** Header length (type, code, checksum, 4 bytes rest-of-header). @example `Icmp.HEADER_LENGTH // 8` */
export const HEADER_LENGTH = 8
/** Offset of the type. @example `frame[l4 + Icmp.TYPE]` */
export const TYPE = 0
/** Offset of the code. @example `frame[l4 + Icmp.CODE]` */
export const CODE = 1
/** Offset of the checksum. @example `Icmp.checksum(frame, l4)` */
export const CHECKSUM = 2
/** Offset of the echo identifier. @example `Icmp.identifier(frame, l4)` */
export const IDENTIFIER = 4
/** Offset of the echo sequence number. @example `Icmp.sequence(frame, l4)` */
export const SEQUENCE = 6
/** Offset of the next-hop MTU of "fragmentation needed" (RFC 1191). @example `Icmp.nextHopMtu(frame, l4)` */
export const NEXT_HOP_MTU = 6
/** Offset of the embedded original IP header of an error message. @example `l4 + Icmp.EMBEDDED` */
export const EMBEDDED = 8
/**
 * Largest error message Linux sends (`icmp_send`: the quote is cut so the whole IP datagram fits 576 bytes).
 *
 * @example
 * ```ts
 * Icmp.MAX_ERROR_DATAGRAM // 576
 * ```
 */
export const MAX_ERROR_DATAGRAM = 576

/**
 * ICMPv4 types.
 *
 * @example
 * ```ts
 * Icmp.type(frame, l4) === Icmp.Type.DestinationUnreachable
 * ```
 */
export const Type = {
  EchoReply: 0,
  DestinationUnreachable: 3,
  SourceQuench: 4,
  Redirect: 5,
  EchoRequest: 8,
  TimeExceeded: 11,
  ParameterProblem: 12
} as const

/**
 * Destination-unreachable codes.
 *
 * @example
 * ```ts
 * Icmp.UnreachableCode.FragmentationNeeded // 4
 * ```
 */
export const UnreachableCode = {
  Network: 0,
  Host: 1,
  Protocol: 2,
  Port: 3,
  FragmentationNeeded: 4,
  AdministrativelyProhibited: 13
} as const

/**
 * True for the error types that carry an original datagram: destination unreachable, source quench,
 * redirect, time exceeded, parameter problem (`icmp_is_err` in Linux, plus redirect which also quotes).
 * IPVS relates only 3, 4 and 11 to connections (`ip_vs_in_icmp`).
 *
 * @example
 * ```ts
 * Icmp.isError(3) // true
 * ```
 */
export const isError = (type: number): boolean => type === 3 || type === 11 || type === 12 || type === 4 || type === 5

/** Type. @example `Icmp.type(frame, 34) // 3` */
export const type = (b: Uint8Array, l4: number): number => b[l4]!
/** Code. @example `Icmp.code(frame, 34) // 3` */
export const code = (b: Uint8Array, l4: number): number => b[l4 + CODE]!
/** Checksum field. @example `Icmp.checksum(frame, 34)` */
export const checksum = (b: Uint8Array, l4: number): number => read16(b, l4 + CHECKSUM)
/** Echo identifier. @example `Icmp.identifier(frame, 34)` */
export const identifier = (b: Uint8Array, l4: number): number => read16(b, l4 + IDENTIFIER)
/** Echo sequence number. @example `Icmp.sequence(frame, 34)` */
export const sequence = (b: Uint8Array, l4: number): number => read16(b, l4 + SEQUENCE)
/** Next-hop MTU of a fragmentation-needed message. @example `Icmp.nextHopMtu(frame, 34) // 1400` */
export const nextHopMtu = (b: Uint8Array, l4: number): number => read16(b, l4 + NEXT_HOP_MTU)

/**
 * Recomputes and stores the checksum over `length` bytes of ICMP message at `l4`.
 *
 * @example
 * ```ts
 * Icmp.updateChecksum(frame, 34, ipEnd - 34)
 * ```
 */
export const updateChecksum = (b: Uint8Array, l4: number, length: number): void => {
  b[l4 + CHECKSUM] = 0
  b[l4 + CHECKSUM + 1] = 0
  write16(b, l4 + CHECKSUM, Checksum.compute(b, l4, length))
}

/**
 * True when the checksum over `length` bytes verifies (IPVS drops ICMP with a bad checksum before
 * mangling it).
 *
 * @example
 * ```ts
 * Icmp.isChecksumValid(frame, 34, ipEnd - 34)
 * ```
 */
export const isChecksumValid = (b: Uint8Array, l4: number, length: number): boolean =>
  Checksum.compute(b, l4, length) === 0

/**
 * Writes an ICMPv4 error about the parsed packet `p` (in `frame`) into `out` at `outOff` and returns the
 * length written (0 when `p` is not IPv4 or `out` is too small). The reply keeps the frame's L2 header with MACs swapped, comes
 * from `source`, and quotes the original datagram from its IP header on, as much as fits a 576-byte
 * datagram (Linux `icmp_send`; at least the IP header + 8 bytes that RFC 792 requires). TOS is
 * `(tos & 0x1e) | 0xc0` and TTL 64, as Linux sends errors. `rest` is the 32-bit rest-of-header word.
 * `out` must not overlap the original packet.
 *
 * Callers decide whether an error may be sent at all (never about an ICMP error, a non-first fragment,
 * or a broadcast; rate-limited), as `icmp_send` does.
 *
 * @example
 * ```ts
 * const n = Icmp.writeError(out, 0, frame, p, Icmp.Type.DestinationUnreachable, Icmp.UnreachableCode.Port, 0, ourIp)
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
  source: number
): number => {
  if (p.ipVersion !== 4) return 0
  const quote = Math.min(p.l3End - p.l3Offset, MAX_ERROR_DATAGRAM - Ipv4.HEADER_LENGTH - HEADER_LENGTH)
  const total = Ipv4.HEADER_LENGTH + HEADER_LENGTH + quote
  if (outOff + (p.l3Offset - p.offset) + total > out.length) return 0
  const l2 = replyL2(out, outOff, frame, p)
  const l3 = outOff + l2
  const tos = (frame[p.l3Offset + Ipv4.TOS]! & 0x1e) | 0xc0
  Ipv4.write(out, l3, tos, total, nextId(), 0, 64, IpProtocol.Icmp, source, Ipv4.source(frame, p.l3Offset))
  const l4 = l3 + Ipv4.HEADER_LENGTH
  out[l4] = type
  out[l4 + CODE] = code
  write32(out, l4 + 4, rest)
  copyBytes(out, l4 + EMBEDDED, frame, p.l3Offset, quote)
  updateChecksum(out, l4, HEADER_LENGTH + quote)
  return l2 + total
}

/**
 * Writes ICMP destination unreachable / port unreachable (type 3 code 3) about `p`; see {@link writeError}.
 *
 * @example
 * ```ts
 * Icmp.writePortUnreachable(out, 0, frame, p, ourIp)
 * ```
 */
export const writePortUnreachable = (
  out: Uint8Array,
  outOff: number,
  frame: Uint8Array,
  p: PacketParser,
  source: number
): number => writeError(out, outOff, frame, p, Type.DestinationUnreachable, UnreachableCode.Port, 0, source)

/**
 * Writes ICMP destination unreachable / fragmentation needed (type 3 code 4) with the next-hop MTU
 * (RFC 1191), as IPVS sends when a DF packet exceeds the route MTU; see {@link writeError}.
 *
 * @example
 * ```ts
 * Icmp.writeFragmentationNeeded(out, 0, frame, p, 1480, ourIp)
 * ```
 */
export const writeFragmentationNeeded = (
  out: Uint8Array,
  outOff: number,
  frame: Uint8Array,
  p: PacketParser,
  mtu: number,
  source: number
): number =>
  writeError(
    out,
    outOff,
    frame,
    p,
    Type.DestinationUnreachable,
    UnreachableCode.FragmentationNeeded,
    mtu & 0xffff,
    source
  )

/**
 * Writes ICMP time exceeded in transit (type 11 code 0), sent when the TTL would expire; see {@link writeError}.
 *
 * @example
 * ```ts
 * if (!Ipv4.decrementTtl(frame, p.l3Offset)) Icmp.writeTimeExceeded(out, 0, frame, p, ourIp)
 * ```
 */
export const writeTimeExceeded = (
  out: Uint8Array,
  outOff: number,
  frame: Uint8Array,
  p: PacketParser,
  source: number
): number => writeError(out, outOff, frame, p, Type.TimeExceeded, 0, 0, source)

/**
 * Milliseconds since midnight UT, the value an IPv4 Timestamp option records (RFC 791).
 *
 * @example
 * ```ts
 * Icmp.timestampNow() // e.g. 14400000 at 04:00 UT
 * ```
 */
export const timestampNow = (): number => Date.now() % 86_400_000

/**
 * Writes the echo reply to the parsed echo request `p` (same identifier, sequence and data, addresses
 * swapped, TTL 64) and returns its length, or 0 when `p` is not an IPv4 echo request or must not be answered.
 *
 * Options are echoed as a Linux host echoes them (RFC 1122 §3.2.2.6): Record Route and Timestamp are copied
 * (in that order, padded with EOL) with this host recorded on the way in and again on the way out where the
 * option has room; other options are dropped; a request with a source-route option or a malformed Record
 * Route/Timestamp option gets no reply (0), as Linux drops it. `timestamp` is what a Timestamp option records
 * (default: {@link timestampNow}).
 *
 * @example
 * ```ts
 * if (p.icmpType === Icmp.Type.EchoRequest) send(out, Icmp.writeEchoReply(out, 0, frame, p))
 * ```
 */
export const writeEchoReply = (
  out: Uint8Array,
  outOff: number,
  frame: Uint8Array,
  p: PacketParser,
  timestamp: number = timestampNow()
): number => {
  if (p.ipVersion !== 4 || p.icmpType !== Type.EchoRequest) return 0
  const len = p.l4Length
  const requestHeader = p.l4Offset - p.l3Offset
  const l2Length = p.l3Offset - p.offset
  // The reply's options are never longer than the request's (only RR and TS are kept, plus padding).
  if (outOff + l2Length + requestHeader + len > out.length) return 0
  const l3 = outOff + l2Length
  const self = Ipv4.destination(frame, p.l3Offset)
  let optionLength = 0
  if (requestHeader > Ipv4.HEADER_LENGTH) {
    optionLength = writeEchoOptions(out, l3 + Ipv4.HEADER_LENGTH, frame, p.l3Offset, requestHeader, self, timestamp)
    if (optionLength === REFUSE) return 0
  }
  const headerLength = Ipv4.HEADER_LENGTH + optionLength
  const total = headerLength + len
  replyL2(out, outOff, frame, p)
  Ipv4.write(
    out,
    l3,
    Ipv4.tos(frame, p.l3Offset),
    total,
    nextId(),
    0,
    64,
    IpProtocol.Icmp,
    self,
    Ipv4.source(frame, p.l3Offset)
  )
  if (optionLength > 0) {
    out[l3] = 0x40 | (headerLength >>> 2)
    out[l3 + Ipv4.CHECKSUM] = 0
    out[l3 + Ipv4.CHECKSUM + 1] = 0
    write16(out, l3 + Ipv4.CHECKSUM, Checksum.compute(out, l3, headerLength))
  }
  const l4 = l3 + headerLength
  copyBytes(out, l4, frame, p.l4Offset, len)
  out[l4] = Type.EchoReply
  out[l4 + CODE] = 0
  updateChecksum(out, l4, len)
  return l2Length + total
}

/**
 * Whether an ICMP error may be sent about the parsed IPv4 packet `p`, by the rules Linux `icmp_send`
 * applies (RFC 1122 §3.2.2): not about an ICMP error (types 1-7, 9-12) or an unknown type (> 18), not about a non-first
 * fragment, not about a packet sent to a link-layer or IP broadcast/multicast address, not about a
 * packet from 0.0.0.0, a multicast, broadcast or loopback source. Rate limiting is up to the caller.
 *
 * @example
 * ```ts
 * if (Icmp.mayReplyWithError(frame, p)) send(out, Icmp.writePortUnreachable(out, 0, frame, p, ourIp))
 * ```
 */
export const mayReplyWithError = (frame: Uint8Array, p: PacketParser): boolean => {
  if (p.ipVersion !== 4 || p.fragmentOffset !== 0) return false
  if (p.offset !== p.l3Offset && (frame[p.offset]! & 1) === 1) return false
  const src = Ipv4.source(frame, p.l3Offset)
  const dst = Ipv4.destination(frame, p.l3Offset)
  if (dst >>> 28 === 0xe || dst === 0xffffffff) return false
  if (src === 0 || src >>> 28 === 0xe || src >>> 28 === 0xf || src >>> 24 === 127) return false
  if (p.protocol === IpProtocol.Icmp) {
    // `icmp_pointers[type].error` in Linux: 1-7 and 9-12 count as errors, types above 18 are unknown;
    // only 0, 8 and 13-18 (echo, timestamp, information, address mask) may be answered with an error.
    const t = p.icmpType
    return t === Type.EchoReply || t === Type.EchoRequest || (t >= 13 && t <= 18)
  }
  return true
}
