/**
 * UDP header (RFC 768): offsets, validation, accessors and checksum helpers.
 *
 * @module
 */
import * as Checksum from "./Checksum.ts"
import { IpProtocol } from "./IpProtocol.ts"
import { read16, write16 } from "./internal/bytes.ts"
import { ParseResult } from "./ParseResult.ts"

/** Header length. @example `Udp.HEADER_LENGTH // 8` */
export const HEADER_LENGTH = 8
/** Offset of the source port. @example `Udp.sourcePort(frame, l4)` */
export const SOURCE_PORT = 0
/** Offset of the destination port. @example `Udp.destinationPort(frame, l4)` */
export const DESTINATION_PORT = 2
/** Offset of the length (header + data). @example `Udp.length(frame, l4)` */
export const LENGTH = 4
/** Offset of the checksum (0 = none, IPv4 only). @example `Udp.checksum(frame, l4)` */
export const CHECKSUM = 6

/**
 * Validates the header at `l4` against `available` bytes of IP payload: 8 bytes present, 8 <= length
 * <= available (`__udp4_lib_rcv` checks; a length shorter than the IP payload is allowed, the rest is
 * trailing padding).
 *
 * @example
 * ```ts
 * Udp.validate(frame, 34, ipEnd - 34) // ParseResult.Ok
 * ```
 */
export const validate = (b: Uint8Array, l4: number, available: number): ParseResult => {
  if (available < HEADER_LENGTH) return ParseResult.Truncated
  const len = read16(b, l4 + LENGTH)
  if (len < HEADER_LENGTH || len > available) return ParseResult.BadUdpLength
  return ParseResult.Ok
}

/** Source port. @example `Udp.sourcePort(frame, 34)` */
export const sourcePort = (b: Uint8Array, l4: number): number => read16(b, l4)
/** Destination port. @example `Udp.destinationPort(frame, 34)` */
export const destinationPort = (b: Uint8Array, l4: number): number => read16(b, l4 + DESTINATION_PORT)
/** Length field (header + data). @example `Udp.length(frame, 34)` */
export const length = (b: Uint8Array, l4: number): number => read16(b, l4 + LENGTH)
/** Checksum field. @example `Udp.checksum(frame, 34)` */
export const checksum = (b: Uint8Array, l4: number): number => read16(b, l4 + CHECKSUM)

/**
 * Writes the source port (no checksum change).
 *
 * @example
 * ```ts
 * Udp.setSourcePort(frame, 34, 53)
 * ```
 */
export const setSourcePort = (b: Uint8Array, l4: number, port: number): void => write16(b, l4, port)
/**
 * Writes the destination port (no checksum change).
 *
 * @example
 * ```ts
 * Udp.setDestinationPort(frame, 34, 5353)
 * ```
 */
export const setDestinationPort = (b: Uint8Array, l4: number, port: number): void =>
  write16(b, l4 + DESTINATION_PORT, port)

/**
 * Writes an 8-byte header with a zero checksum and returns 8.
 *
 * @example
 * ```ts
 * Udp.write(out, 34, 40000, 6080, 8 + payloadLength)
 * ```
 */
export const write = (b: Uint8Array, l4: number, sourcePort: number, destinationPort: number, len: number): number => {
  write16(b, l4, sourcePort)
  write16(b, l4 + DESTINATION_PORT, destinationPort)
  write16(b, l4 + LENGTH, len)
  b[l4 + CHECKSUM] = 0
  b[l4 + CHECKSUM + 1] = 0
  return HEADER_LENGTH
}

/**
 * Recomputes and stores the checksum of the datagram at `l4` (its length field gives the length); a
 * computed 0 is stored as 0xffff (RFC 768).
 *
 * @example
 * ```ts
 * Udp.updateChecksum(frame, 14, 34)
 * ```
 */
export const updateChecksum = (b: Uint8Array, l3: number, l4: number): void => {
  b[l4 + CHECKSUM] = 0
  b[l4 + CHECKSUM + 1] = 0
  const c = Checksum.transport(b, l3, l4, IpProtocol.Udp, read16(b, l4 + LENGTH))
  write16(b, l4 + CHECKSUM, c === 0 ? 0xffff : c)
}

/**
 * True when the checksum verifies, or is 0 over IPv4 (no checksum).
 *
 * @example
 * ```ts
 * Udp.isChecksumValid(frame, 14, 34)
 * ```
 */
export const isChecksumValid = (b: Uint8Array, l3: number, l4: number): boolean =>
  (read16(b, l4 + CHECKSUM) === 0 && b[l3]! >>> 4 === 4) ||
  Checksum.transport(b, l3, l4, IpProtocol.Udp, read16(b, l4 + LENGTH)) === 0
