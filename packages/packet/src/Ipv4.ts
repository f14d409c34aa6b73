/**
 * IPv4 header (RFC 791): offsets, validation, in-place accessors, TTL decrement and header writer.
 *
 * Validation mirrors `ip_rcv_core` in Linux: version 4, IHL >= 5, header and total length inside the
 * buffer, total length >= header length. Options are walked only when IHL > 5 (rare), so the common
 * case costs a few comparisons. Addresses are unsigned 32-bit numbers.
 *
 * @module
 */
import * as Checksum from "./Checksum.ts"
import { read16, read32, write16, write32 } from "./internal/bytes.ts"
import { ParseResult } from "./ParseResult.ts"

/** Minimum (option-less) header length. @example `Ipv4.HEADER_LENGTH // 20` */
export const HEADER_LENGTH = 20
/** Maximum header length (IHL 15). @example `Ipv4.MAX_HEADER_LENGTH // 60` */
export const MAX_HEADER_LENGTH = 60
/** Offset of the version/IHL byte. @example `frame[l3 + Ipv4.VERSION_IHL] >>> 4 // 4` */
export const VERSION_IHL = 0
/** Offset of the TOS (DSCP + ECN) byte. @example `frame[l3 + Ipv4.TOS]` */
export const TOS = 1
/** Offset of the total length. @example `Ipv4.totalLength(frame, l3)` */
export const TOTAL_LENGTH = 2
/** Offset of the identification. @example `Ipv4.identification(frame, l3)` */
export const IDENTIFICATION = 4
/** Offset of the flags + fragment offset word. @example `Ipv4.fragmentOffset(frame, l3)` */
export const FLAGS_FRAGMENT = 6
/** Offset of the TTL. @example `frame[l3 + Ipv4.TTL]` */
export const TTL = 8
/** Offset of the protocol. @example `frame[l3 + Ipv4.PROTOCOL]` */
export const PROTOCOL = 9
/** Offset of the header checksum. @example `Ipv4.checksum(frame, l3)` */
export const CHECKSUM = 10
/** Offset of the source address. @example `Ipv4.source(frame, l3)` */
export const SOURCE = 12
/** Offset of the destination address. @example `Ipv4.destination(frame, l3)` */
export const DESTINATION = 16
/** Offset of the first option. @example `frame[l3 + Ipv4.OPTIONS]` */
export const OPTIONS = 20
/** Don't-fragment flag in the flags/fragment word. @example `Ipv4.FLAG_DF // 0x4000` */
export const FLAG_DF = 0x4000
/** More-fragments flag in the flags/fragment word. @example `Ipv4.FLAG_MF // 0x2000` */
export const FLAG_MF = 0x2000
/** Mask of the fragment offset (8-byte units) in the flags/fragment word. @example `Ipv4.OFFSET_MASK` */
export const OFFSET_MASK = 0x1fff

/**
 * Checks the header at `off` against `available` bytes of buffer (from `off`): version, IHL, lengths,
 * option lengths. Never reads outside `[off, off + available)`.
 *
 * @example
 * ```ts
 * if (Ipv4.validate(frame, 14, frame.length - 14) !== ParseResult.Ok) drop()
 * ```
 */
export const validate = (b: Uint8Array, off: number, available: number): ParseResult => {
  if (available < HEADER_LENGTH) return ParseResult.Truncated
  const vihl = b[off]!
  if (vihl >>> 4 !== 4) return ParseResult.BadVersion
  const hl = (vihl & 0x0f) << 2
  if (hl < HEADER_LENGTH) return ParseResult.BadIhl
  if (hl > available) return ParseResult.Truncated
  const total = read16(b, off + TOTAL_LENGTH)
  if (total > available) return ParseResult.TotalLengthBeyondBuffer
  if (total < hl) return ParseResult.TotalLengthBelowHeader
  if (hl > HEADER_LENGTH) return validateOptions(b, off, hl)
  return ParseResult.Ok
}

/**
 * Walks the options of a header whose `headerLength` bytes are known to be in the buffer: every option
 * other than EOL (0) and NOP (1) has a length byte >= 2 that stays inside the header (`ip_options_compile`).
 *
 * @example
 * ```ts
 * Ipv4.validateOptions(frame, 14, Ipv4.headerLength(frame, 14)) // ParseResult.Ok
 * ```
 */
export const validateOptions = (b: Uint8Array, off: number, headerLength: number): ParseResult => {
  const end = off + headerLength
  let i = off + OPTIONS
  while (i < end) {
    const kind = b[i]!
    if (kind === 0) break
    if (kind === 1) {
      i++
      continue
    }
    if (i + 1 >= end) return ParseResult.OptionOverrun
    const len = b[i + 1]!
    if (len < 2 || i + len > end) return ParseResult.OptionOverrun
    i += len
  }
  return ParseResult.Ok
}

/**
 * The byte offset of the first option of type `kind` (full type byte, e.g. 0x94 router alert), or -1.
 * The header must have been validated.
 *
 * @example
 * ```ts
 * Ipv4.findOption(frame, 14, 0x94) // -1 when there is no router alert
 * ```
 */
export const findOption = (b: Uint8Array, off: number, kind: number): number => {
  const end = off + headerLength(b, off)
  let i = off + OPTIONS
  while (i < end) {
    const k = b[i]!
    if (k === kind) return i
    if (k === 0) break
    if (k === 1) {
      i++
      continue
    }
    const len = b[i + 1]!
    if (len < 2) break
    i += len
  }
  return -1
}

/** The version nibble. @example `Ipv4.version(frame, 14) // 4` */
export const version = (b: Uint8Array, off: number): number => b[off]! >>> 4
/** Header length in bytes (IHL * 4). @example `Ipv4.headerLength(frame, 14) // 20` */
export const headerLength = (b: Uint8Array, off: number): number => (b[off]! & 0x0f) << 2
/** The TOS byte (DSCP << 2 | ECN). @example `Ipv4.tos(frame, 14)` */
export const tos = (b: Uint8Array, off: number): number => b[off + TOS]!
/** Total length in bytes. @example `Ipv4.totalLength(frame, 14)` */
export const totalLength = (b: Uint8Array, off: number): number => read16(b, off + TOTAL_LENGTH)
/** Identification. @example `Ipv4.identification(frame, 14)` */
export const identification = (b: Uint8Array, off: number): number => read16(b, off + IDENTIFICATION)
/** True when DF is set. @example `Ipv4.dontFragment(frame, 14)` */
export const dontFragment = (b: Uint8Array, off: number): boolean => (b[off + FLAGS_FRAGMENT]! & 0x40) !== 0
/** True when MF is set. @example `Ipv4.moreFragments(frame, 14)` */
export const moreFragments = (b: Uint8Array, off: number): boolean => (b[off + FLAGS_FRAGMENT]! & 0x20) !== 0
/** Fragment offset in bytes (the field times 8). @example `Ipv4.fragmentOffset(frame, 14) // 0` */
export const fragmentOffset = (b: Uint8Array, off: number): number =>
  (read16(b, off + FLAGS_FRAGMENT) & OFFSET_MASK) << 3
/**
 * True for any fragment (MF set or a non-zero offset): the packet is not a whole datagram.
 *
 * @example
 * ```ts
 * Ipv4.isFragment(frame, 14) // false
 * ```
 */
export const isFragment = (b: Uint8Array, off: number): boolean => (read16(b, off + FLAGS_FRAGMENT) & 0x3fff) !== 0
/** TTL. @example `Ipv4.ttl(frame, 14) // 64` */
export const ttl = (b: Uint8Array, off: number): number => b[off + TTL]!
/** Protocol number. @example `Ipv4.protocol(frame, 14) // 6` */
export const protocol = (b: Uint8Array, off: number): number => b[off + PROTOCOL]!
/** Header checksum field. @example `Ipv4.checksum(frame, 14)` */
export const checksum = (b: Uint8Array, off: number): number => read16(b, off + CHECKSUM)
/** Source address as an unsigned 32-bit number. @example `Ipv4.source(frame, 14) // 0x0a000001` */
export const source = (b: Uint8Array, off: number): number => read32(b, off + SOURCE)
/** Destination address as an unsigned 32-bit number. @example `Ipv4.destination(frame, 14)` */
export const destination = (b: Uint8Array, off: number): number => read32(b, off + DESTINATION)

/**
 * Writes the source address without touching any checksum (see `Nat` for the checksum-aware rewrite).
 *
 * @example
 * ```ts
 * Ipv4.setSource(frame, 14, 0x0a000001)
 * ```
 */
export const setSource = (b: Uint8Array, off: number, address: number): void => write32(b, off + SOURCE, address)
/**
 * Writes the destination address without touching any checksum.
 *
 * @example
 * ```ts
 * Ipv4.setDestination(frame, 14, 0x0a000002)
 * ```
 */
export const setDestination = (b: Uint8Array, off: number, address: number): void =>
  write32(b, off + DESTINATION, address)
/**
 * Writes the total length without touching the checksum.
 *
 * @example
 * ```ts
 * Ipv4.setTotalLength(frame, 14, 60)
 * ```
 */
export const setTotalLength = (b: Uint8Array, off: number, length: number): void =>
  write16(b, off + TOTAL_LENGTH, length)

/**
 * Computes the header checksum (over IHL * 4 bytes) and stores it.
 *
 * @example
 * ```ts
 * Ipv4.updateChecksum(frame, 14)
 * Ipv4.isChecksumValid(frame, 14) // true
 * ```
 */
export const updateChecksum = (b: Uint8Array, off: number): void => {
  b[off + CHECKSUM] = 0
  b[off + CHECKSUM + 1] = 0
  write16(b, off + CHECKSUM, Checksum.compute(b, off, headerLength(b, off)))
}

/**
 * True when the header checksum verifies (what `ip_rcv_core` checks with `ip_fast_csum`).
 *
 * @example
 * ```ts
 * Ipv4.isChecksumValid(frame, 14)
 * ```
 */
export const isChecksumValid = (b: Uint8Array, off: number): boolean =>
  Checksum.compute(b, off, headerLength(b, off)) === 0

/**
 * Decrements the TTL and updates the header checksum incrementally (RFC 1624, like `ip_decrease_ttl`).
 * Returns false and changes nothing when the TTL is <= 1: the packet would expire, and a router
 * (IPVS included) must drop it and send ICMP time exceeded instead.
 *
 * @example
 * ```ts
 * if (!Ipv4.decrementTtl(frame, 14)) sendTimeExceeded()
 * ```
 */
export const decrementTtl = (b: Uint8Array, off: number): boolean => {
  const t = b[off + TTL]!
  if (t <= 1) return false
  b[off + TTL] = t - 1
  // The TTL is the high byte of the word at offset 8: the word drops by 0x0100, so the checksum grows by
  // 0x0100 with end-around carry. Like Linux's ip_decrease_ttl, 0xffff wraps to 0 so the result equals a
  // full recompute (which never yields 0xffff).
  let c = ((b[off + CHECKSUM]! << 8) | b[off + CHECKSUM + 1]!) + 0x0100
  if (c >= 0xffff) c++
  b[off + CHECKSUM] = c >>> 8
  b[off + CHECKSUM + 1] = c
  return true
}

/**
 * Writes a 20-byte option-less header with its checksum and returns 20. `flagsFragment` is the raw
 * flags/offset word (e.g. {@link FLAG_DF}).
 *
 * @example
 * ```ts
 * Ipv4.write(out, 14, 0, 28, 0, Ipv4.FLAG_DF, 64, IpProtocol.Udp, src, dst)
 * ```
 */
export const write = (
  b: Uint8Array,
  off: number,
  tos: number,
  totalLength: number,
  identification: number,
  flagsFragment: number,
  ttl: number,
  protocol: number,
  source: number,
  destination: number
): number => {
  b[off] = 0x45
  b[off + TOS] = tos
  write16(b, off + TOTAL_LENGTH, totalLength)
  write16(b, off + IDENTIFICATION, identification)
  write16(b, off + FLAGS_FRAGMENT, flagsFragment)
  b[off + TTL] = ttl
  b[off + PROTOCOL] = protocol
  b[off + CHECKSUM] = 0
  b[off + CHECKSUM + 1] = 0
  write32(b, off + SOURCE, source)
  write32(b, off + DESTINATION, destination)
  write16(b, off + CHECKSUM, Checksum.compute(b, off, HEADER_LENGTH))
  return HEADER_LENGTH
}
