/**
 * GRE header (RFC 2784 with the RFC 2890 key and sequence number extensions): flags, optional fields,
 * length and writer. IPVS `--tun-type gre` uses the base header (+ checksum with `--tun-csum`).
 *
 * @module
 */
import * as Checksum from "./Checksum.ts"
import { read16, read32, write16, write32 } from "./internal/bytes.ts"

/** Base header length (flags/version + protocol). @example `Gre.BASE_LENGTH // 4` */
export const BASE_LENGTH = 4
/** Offset of the flags/version word. @example `Gre.flags(frame, l4)` */
export const FLAGS_VERSION = 0
/** Offset of the protocol type (an EtherType). @example `Gre.protocolType(frame, l4)` */
export const PROTOCOL_TYPE = 2
/** C bit: checksum + reserved1 present. @example `Gre.FLAG_CHECKSUM // 0x8000` */
export const FLAG_CHECKSUM = 0x8000
/** K bit: 4-byte key present (RFC 2890). @example `Gre.FLAG_KEY // 0x2000` */
export const FLAG_KEY = 0x2000
/** S bit: 4-byte sequence number present (RFC 2890). @example `Gre.FLAG_SEQUENCE // 0x1000` */
export const FLAG_SEQUENCE = 0x1000

/** The flags/version word. @example `Gre.flags(frame, l4) & Gre.FLAG_KEY` */
export const flags = (b: Uint8Array, off: number): number => read16(b, off)
/** The version (must be 0). @example `Gre.version(frame, l4) // 0` */
export const version = (b: Uint8Array, off: number): number => b[off + 1]! & 0x07
/** Protocol type (0x0800 IPv4, 0x86dd IPv6). @example `Gre.protocolType(frame, l4)` */
export const protocolType = (b: Uint8Array, off: number): number => read16(b, off + PROTOCOL_TYPE)

/**
 * Header length for a flags word: 4 + 4 per present optional field (checksum, key, sequence).
 *
 * @example
 * ```ts
 * Gre.lengthForFlags(Gre.FLAG_CHECKSUM | Gre.FLAG_KEY) // 12
 * ```
 */
export const lengthForFlags = (flagsWord: number): number =>
  BASE_LENGTH +
  ((flagsWord & FLAG_CHECKSUM) !== 0 ? 4 : 0) +
  ((flagsWord & FLAG_KEY) !== 0 ? 4 : 0) +
  ((flagsWord & FLAG_SEQUENCE) !== 0 ? 4 : 0)

/**
 * Validates the header at `off` against `available` bytes and returns its length, or -1 when it is
 * truncated, not version 0, or uses the deprecated routing bit (RFC 1701 R bit, rejected by Linux too).
 *
 * @example
 * ```ts
 * const hl = Gre.headerLength(frame, l4, ipEnd - l4)
 * if (hl > 0) innerOffset = l4 + hl
 * ```
 */
export const headerLength = (b: Uint8Array, off: number, available: number): number => {
  if (available < BASE_LENGTH) return -1
  const f = read16(b, off)
  if ((f & 0x0007) !== 0 || (f & 0x4000) !== 0) return -1
  const hl = lengthForFlags(f)
  return hl > available ? -1 : hl
}

/**
 * The key of a header that has one (check {@link FLAG_KEY} first).
 *
 * @example
 * ```ts
 * if (Gre.flags(frame, l4) & Gre.FLAG_KEY) Gre.key(frame, l4)
 * ```
 */
export const key = (b: Uint8Array, off: number): number =>
  read32(b, off + BASE_LENGTH + ((read16(b, off) & FLAG_CHECKSUM) !== 0 ? 4 : 0))

/**
 * The sequence number of a header that has one (check {@link FLAG_SEQUENCE} first).
 *
 * @example
 * ```ts
 * Gre.sequence(frame, l4)
 * ```
 */
export const sequence = (b: Uint8Array, off: number): number => {
  const f = read16(b, off)
  return read32(b, off + BASE_LENGTH + ((f & FLAG_CHECKSUM) !== 0 ? 4 : 0) + ((f & FLAG_KEY) !== 0 ? 4 : 0))
}

/**
 * Writes a GRE header and returns its length. `withChecksum` reserves the checksum field (fill it with
 * {@link updateChecksum} once the payload follows); `key`/`sequence` are written when not negative.
 *
 * @example
 * ```ts
 * const hl = Gre.write(out, 34, Ethernet.EtherType.Ipv4, false, -1, -1) // 4
 * ```
 */
export const write = (
  b: Uint8Array,
  off: number,
  protocolType: number,
  withChecksum: boolean,
  key: number,
  sequence: number
): number => {
  const f = (withChecksum ? FLAG_CHECKSUM : 0) | (key >= 0 ? FLAG_KEY : 0) | (sequence >= 0 ? FLAG_SEQUENCE : 0)
  write16(b, off, f)
  write16(b, off + PROTOCOL_TYPE, protocolType)
  let i = off + BASE_LENGTH
  if (withChecksum) {
    write32(b, i, 0)
    i += 4
  }
  if (key >= 0) {
    write32(b, i, key)
    i += 4
  }
  if (sequence >= 0) {
    write32(b, i, sequence)
    i += 4
  }
  return i - off
}

/**
 * Computes the GRE checksum over header + payload (`length` bytes from `off`) into the checksum field.
 *
 * @example
 * ```ts
 * Gre.updateChecksum(out, 34, ipEnd - 34)
 * ```
 */
export const updateChecksum = (b: Uint8Array, off: number, length: number): void => {
  write16(b, off + BASE_LENGTH, 0)
  write16(b, off + BASE_LENGTH, Checksum.compute(b, off, length))
}
