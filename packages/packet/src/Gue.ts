/**
 * GUE (Generic UDP Encapsulation, draft-ietf-intarea-gue) variant 0 header as IPVS `--tun-type gue`
 * writes it: version 0, C = 0, hlen = optional length / 4, proto/ctype = inner protocol (4 or 41), flags.
 * It follows an 8-byte UDP header whose destination port is the configured tunnel port.
 *
 * @module
 */
import { read16, write16 } from "./internal/bytes.ts"

/** Base header length. @example `Gue.HEADER_LENGTH // 4` */
export const HEADER_LENGTH = 4
/** Offset of the version/C/hlen byte. @example `frame[l4 + 8 + Gue.VERSION_HLEN]` */
export const VERSION_HLEN = 0
/** Offset of proto/ctype. @example `Gue.protocol(frame, gue)` */
export const PROTOCOL = 1
/** Offset of the flags. @example `Gue.flags(frame, gue)` */
export const FLAGS = 2

/** Version (top 2 bits; 0 for the header variant this module handles). @example `Gue.version(frame, gue) // 0` */
export const version = (b: Uint8Array, off: number): number => b[off]! >>> 6
/** True for a control message (C bit). @example `Gue.isControl(frame, gue) // false` */
export const isControl = (b: Uint8Array, off: number): boolean => (b[off]! & 0x20) !== 0
/** Inner protocol (data message) or control type. @example `Gue.protocol(frame, gue) // 4` */
export const protocol = (b: Uint8Array, off: number): number => b[off + PROTOCOL]!
/** Flags. @example `Gue.flags(frame, gue) // 0` */
export const flags = (b: Uint8Array, off: number): number => read16(b, off + FLAGS)

/**
 * Validates the header at `off` against `available` bytes and returns its total length (4 + hlen * 4),
 * or -1 when truncated or not variant 0. (Variant 1 — a bare IP header right after UDP — is detected by
 * callers from the first nibble 4 or 6.)
 *
 * @example
 * ```ts
 * const hl = Gue.headerLength(frame, l4 + 8, udpLength - 8)
 * ```
 */
export const headerLength = (b: Uint8Array, off: number, available: number): number => {
  if (available < HEADER_LENGTH) return -1
  const v = b[off]!
  if (v >>> 6 !== 0) return -1
  const hl = HEADER_LENGTH + ((v & 0x1f) << 2)
  return hl > available ? -1 : hl
}

/**
 * Writes a 4-byte data-message header (no options) for the inner `protocol` and returns 4.
 *
 * @example
 * ```ts
 * Gue.write(out, 42, IpProtocol.Ipip)
 * ```
 */
export const write = (b: Uint8Array, off: number, protocol: number): number => {
  b[off] = 0
  b[off + PROTOCOL] = protocol
  write16(b, off + FLAGS, 0)
  return HEADER_LENGTH
}
