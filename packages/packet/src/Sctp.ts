/**
 * SCTP common header (RFC 9260 §3.1): offsets, accessors and the CRC32c checksum (RFC 9260 Appendix A).
 *
 * SCTP has no pseudo-header, so an address change leaves its checksum alone; a port change needs a full
 * CRC32c recompute, which is what IPVS does (`sctp_dnat_handler` / `sctp_snat_handler`) and what
 * `Nat` does here.
 *
 * @module
 */
import { read16, read32, write16 } from "./internal/bytes.ts"
import { ParseResult } from "./ParseResult.ts"

/** Common header length. @example `Sctp.HEADER_LENGTH // 12` */
export const HEADER_LENGTH = 12
/** Offset of the source port. @example `Sctp.sourcePort(frame, l4)` */
export const SOURCE_PORT = 0
/** Offset of the destination port. @example `Sctp.destinationPort(frame, l4)` */
export const DESTINATION_PORT = 2
/** Offset of the verification tag. @example `Sctp.verificationTag(frame, l4)` */
export const VERIFICATION_TAG = 4
/** Offset of the CRC32c checksum (stored little-endian as RFC 9260 specifies). @example `l4 + Sctp.CHECKSUM` */
export const CHECKSUM = 8

/**
 * Validates the common header at `l4` against `available` bytes.
 *
 * @example
 * ```ts
 * Sctp.validate(frame, 34, ipEnd - 34) // ParseResult.Ok
 * ```
 */
export const validate = (_b: Uint8Array, _l4: number, available: number): ParseResult =>
  available < HEADER_LENGTH ? ParseResult.Truncated : ParseResult.Ok

/** Source port. @example `Sctp.sourcePort(frame, 34)` */
export const sourcePort = (b: Uint8Array, l4: number): number => read16(b, l4)
/** Destination port. @example `Sctp.destinationPort(frame, 34)` */
export const destinationPort = (b: Uint8Array, l4: number): number => read16(b, l4 + DESTINATION_PORT)
/** Verification tag. @example `Sctp.verificationTag(frame, 34)` */
export const verificationTag = (b: Uint8Array, l4: number): number => read32(b, l4 + VERIFICATION_TAG)

/**
 * Writes the source port (no checksum change; call {@link updateChecksum} after).
 *
 * @example
 * ```ts
 * Sctp.setSourcePort(frame, 34, 80)
 * ```
 */
export const setSourcePort = (b: Uint8Array, l4: number, port: number): void => write16(b, l4, port)
/**
 * Writes the destination port (no checksum change).
 *
 * @example
 * ```ts
 * Sctp.setDestinationPort(frame, 34, 8080)
 * ```
 */
export const setDestinationPort = (b: Uint8Array, l4: number, port: number): void =>
  write16(b, l4 + DESTINATION_PORT, port)

const table = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

/**
 * CRC32c (Castagnoli, reflected, as SCTP uses it) of `length` bytes at `offset`.
 *
 * @example
 * ```ts
 * Sctp.crc32c(new TextEncoder().encode("123456789"), 0, 9) // 0xe3069283
 * ```
 */
export const crc32c = (b: Uint8Array, offset: number, length: number): number => {
  let c = 0xffffffff
  const end = offset + length
  for (let i = offset; i < end; i++) c = table[(c ^ b[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

/**
 * Recomputes the CRC32c over the SCTP packet at `l4` (`length` bytes: common header + chunks) and stores
 * it in the checksum field (byte order as RFC 9260 Appendix A: the CRC's low byte first).
 *
 * @example
 * ```ts
 * Sctp.updateChecksum(frame, 34, ipEnd - 34)
 * ```
 */
export const updateChecksum = (b: Uint8Array, l4: number, length: number): void => {
  b[l4 + CHECKSUM] = 0
  b[l4 + CHECKSUM + 1] = 0
  b[l4 + CHECKSUM + 2] = 0
  b[l4 + CHECKSUM + 3] = 0
  const c = crc32c(b, l4, length)
  b[l4 + CHECKSUM] = c
  b[l4 + CHECKSUM + 1] = c >>> 8
  b[l4 + CHECKSUM + 2] = c >>> 16
  b[l4 + CHECKSUM + 3] = c >>> 24
}

/**
 * True when the stored CRC32c matches the packet.
 *
 * @example
 * ```ts
 * Sctp.isChecksumValid(frame, 34, ipEnd - 34)
 * ```
 */
export const isChecksumValid = (b: Uint8Array, l4: number, length: number): boolean => {
  const stored =
    (b[l4 + CHECKSUM]! |
      (b[l4 + CHECKSUM + 1]! << 8) |
      (b[l4 + CHECKSUM + 2]! << 16) |
      (b[l4 + CHECKSUM + 3]! << 24)) >>>
    0
  const s0 = b[l4 + CHECKSUM]!
  const s1 = b[l4 + CHECKSUM + 1]!
  const s2 = b[l4 + CHECKSUM + 2]!
  const s3 = b[l4 + CHECKSUM + 3]!
  b[l4 + CHECKSUM] = 0
  b[l4 + CHECKSUM + 1] = 0
  b[l4 + CHECKSUM + 2] = 0
  b[l4 + CHECKSUM + 3] = 0
  const c = crc32c(b, l4, length)
  b[l4 + CHECKSUM] = s0
  b[l4 + CHECKSUM + 1] = s1
  b[l4 + CHECKSUM + 2] = s2
  b[l4 + CHECKSUM + 3] = s3
  return c === stored
}
