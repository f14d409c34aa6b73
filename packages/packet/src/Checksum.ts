/**
 * The internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * Every function works on a `Uint8Array` at an offset, allocates nothing and never throws: callers on
 * the hot path check lengths through the header views first.
 *
 * @module
 */
import { pseudoHeaderDestination } from "./Ipv6.ts"

/**
 * Adds `length` bytes at `offset` to a running 32-bit one's-complement sum, big-endian 16-bit words.
 *
 * An odd trailing byte is padded with a zero byte, as RFC 1071 specifies. The result is not folded, so
 * partial sums (pseudo-header, header, payload) can be chained before {@link fold}.
 *
 * @example
 * ```ts
 * const sum = Checksum.sum(frame, 14, 20, 0)
 * const csum = Checksum.fold(sum) ^ 0xffff
 * ```
 */
export const sum = (bytes: Uint8Array, offset: number, length: number, initial: number): number => {
  let acc = initial
  const end = offset + (length & ~1)
  let i = offset
  // Four words per step, folding often enough that `acc` stays a small integer (no float precision loss).
  for (; i + 8 <= end; i += 8) {
    acc +=
      ((bytes[i]! << 8) | bytes[i + 1]!) +
      ((bytes[i + 2]! << 8) | bytes[i + 3]!) +
      ((bytes[i + 4]! << 8) | bytes[i + 5]!) +
      ((bytes[i + 6]! << 8) | bytes[i + 7]!)
    if (acc > 0x3fffffff) acc = (acc & 0xffff) + (acc >>> 16)
  }
  for (; i < end; i += 2) acc += (bytes[i]! << 8) | bytes[i + 1]!
  if (length & 1) acc += bytes[offset + length - 1]! << 8
  return acc
}

/**
 * Folds a running sum to 16 bits (end-around carry), without complementing it.
 *
 * @example
 * ```ts
 * Checksum.fold(0x1_fffe) // 0xffff
 * ```
 */
export const fold = (acc: number): number => {
  acc = (acc & 0xffff) + Math.floor(acc / 0x10000)
  acc = (acc & 0xffff) + (acc >>> 16)
  return (acc & 0xffff) + (acc >>> 16)
}

/**
 * The internet checksum of `length` bytes: the complement of the folded one's-complement sum.
 *
 * A region that already contains its correct checksum yields 0 (the receive-side check).
 *
 * @example
 * ```ts
 * bytes[10] = 0; bytes[11] = 0
 * const c = Checksum.compute(bytes, 0, 20)
 * bytes[10] = c >>> 8; bytes[11] = c & 0xff
 * Checksum.compute(bytes, 0, 20) // 0
 * ```
 */
export const compute = (bytes: Uint8Array, offset: number, length: number): number =>
  ~fold(sum(bytes, offset, length, 0)) & 0xffff

/**
 * The sum of the IPv4 pseudo-header (source, destination, zero, protocol, L4 length), unfolded.
 *
 * Mirrors `csum_tcpudp_nofold` in Linux. `src` and `dst` are byte offsets of the 4-byte addresses.
 *
 * @example
 * ```ts
 * const acc = Checksum.pseudoHeaderV4(frame, 26, 30, 6, tcpLength)
 * const csum = ~Checksum.fold(Checksum.sum(frame, l4, tcpLength, acc)) & 0xffff
 * ```
 */
export const pseudoHeaderV4 = (
  bytes: Uint8Array,
  src: number,
  dst: number,
  protocol: number,
  l4Length: number
): number =>
  ((bytes[src]! << 8) | bytes[src + 1]!) +
  ((bytes[src + 2]! << 8) | bytes[src + 3]!) +
  ((bytes[dst]! << 8) | bytes[dst + 1]!) +
  ((bytes[dst + 2]! << 8) | bytes[dst + 3]!) +
  protocol +
  (l4Length & 0xffff) +
  (l4Length >>> 16)

/**
 * The sum of the IPv6 pseudo-header (RFC 8200 §8.1: source, destination, upper-layer length, next
 * header), unfolded. `src` and `dst` are byte offsets of the 16-byte addresses.
 *
 * @example
 * ```ts
 * const acc = Checksum.pseudoHeaderV6(frame, 22, 38, 17, udpLength)
 * ```
 */
export const pseudoHeaderV6 = (
  bytes: Uint8Array,
  src: number,
  dst: number,
  nextHeader: number,
  l4Length: number
): number => sum(bytes, src, 16, sum(bytes, dst, 16, 0)) + nextHeader + (l4Length & 0xffff) + (l4Length >>> 16)

/**
 * RFC 1624 eqn. 3 for one 16-bit field: the new checksum after `oldValue` became `newValue`.
 *
 * `HC' = ~(~HC + ~m + m')`. Mirrors `csum_replace2` in Linux.
 *
 * @example
 * ```ts
 * const c2 = Checksum.update16(c, oldPort, newPort)
 * ```
 */
export const update16 = (checksum: number, oldValue: number, newValue: number): number =>
  ~fold((~checksum & 0xffff) + (~oldValue & 0xffff) + (newValue & 0xffff)) & 0xffff

/**
 * RFC 1624 eqn. 3 for one 32-bit field (an IPv4 address): two 16-bit updates folded once.
 *
 * Mirrors `csum_replace4` in Linux. Values are unsigned 32-bit numbers.
 *
 * @example
 * ```ts
 * const c2 = Checksum.update32(c, 0x0a000001, 0xc0a80002)
 * ```
 */
export const update32 = (checksum: number, oldValue: number, newValue: number): number =>
  ~fold(
    (~checksum & 0xffff) +
      ((~oldValue >>> 16) & 0xffff) +
      (~oldValue & 0xffff) +
      ((newValue >>> 16) & 0xffff) +
      (newValue & 0xffff)
  ) & 0xffff

/**
 * {@link update16} for a UDP checksum: a checksum of 0 means "none" (IPv4 only) and stays 0, and a
 * computed 0 is sent as 0xFFFF (RFC 768).
 *
 * @example
 * ```ts
 * Checksum.updateUdp16(0, 1234, 80) // 0: no checksum stays no checksum
 * ```
 */
export const updateUdp16 = (checksum: number, oldValue: number, newValue: number): number => {
  if (checksum === 0) return 0
  const c = update16(checksum, oldValue, newValue)
  return c === 0 ? 0xffff : c
}

/**
 * {@link update32} for a UDP checksum: 0 stays 0, a computed 0 becomes 0xFFFF.
 *
 * @example
 * ```ts
 * Checksum.updateUdp32(0, oldAddr, newAddr) // 0
 * ```
 */
export const updateUdp32 = (checksum: number, oldValue: number, newValue: number): number => {
  if (checksum === 0) return 0
  const c = update32(checksum, oldValue, newValue)
  return c === 0 ? 0xffff : c
}

/**
 * The one's-complement sum of a TCP/UDP/ICMPv6 segment including its pseudo-header, folded and
 * complemented: 0 when the checksum field at its place verifies. Works for IPv4 (`l3Offset` points at a
 * version-4 header) and IPv6 (version 6; the pseudo-header destination is the final one when a routing
 * header is present, see `Ipv6.pseudoHeaderDestination`).
 *
 * To compute a checksum, zero the field first and store the result (for UDP, a 0 result is sent as 0xffff).
 *
 * @example
 * ```ts
 * frame[l4 + 16] = 0; frame[l4 + 17] = 0
 * const c = Checksum.transport(frame, 14, 34, 6, tcpLength)
 * ```
 */
export const transport = (
  bytes: Uint8Array,
  l3Offset: number,
  l4Offset: number,
  protocol: number,
  l4Length: number
): number => {
  const pseudo =
    bytes[l3Offset]! >>> 4 === 4
      ? pseudoHeaderV4(bytes, l3Offset + 12, l3Offset + 16, protocol, l4Length)
      : pseudoHeaderV6(
          bytes,
          l3Offset + 8,
          bytes[l3Offset + 6] === protocol ? l3Offset + 24 : pseudoHeaderDestination(bytes, l3Offset, l4Offset),
          protocol,
          l4Length
        )
  return ~fold(sum(bytes, l4Offset, l4Length, pseudo)) & 0xffff
}

/**
 * RFC 1624 for a whole changed region: given the checksum `checksum` and the unfolded sums of the
 * region's 16-bit words before (`oldSum`) and after (`newSum`) the change, the new checksum.
 * Generalises {@link update16} to any number of words (IPv6 addresses, TCP options).
 *
 * @example
 * ```ts
 * const before = Checksum.sum(frame, at, 16, 0)
 * // ... change 16 bytes at `at` ...
 * c = Checksum.updateSum(c, before, Checksum.sum(frame, at, 16, 0))
 * ```
 */
export const updateSum = (checksum: number, oldSum: number, newSum: number): number =>
  ~fold((~checksum & 0xffff) + (~fold(oldSum) & 0xffff) + fold(newSum)) & 0xffff
