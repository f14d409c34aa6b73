/**
 * ICMPv4 (RFC 792): offsets, types, the embedded original datagram of error messages, checksum helpers.
 * Builders for the messages a director sends (destination unreachable, time exceeded, echo reply) are in
 * this module too.
 *
 * @module
 */
import * as Checksum from "./Checksum.ts"
import { read16, write16 } from "./internal/bytes.ts"

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
