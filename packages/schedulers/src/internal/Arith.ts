/**
 * Exact arithmetic helpers shared by the schedulers.
 *
 * @internal
 */

const SAFE = 9007199254740992 // 2^53

/**
 * Sign of a*b - c*d for non-negative integers, exact like the kernel's 64-bit products.
 *
 * Doubles are exact below 2^53, which covers every realistic load (weight <= 65535 and overhead < 2^37); beyond
 * that the comparison falls back to BigInt, a path that allocates but needs billions of connections to reach.
 *
 * @example
 * ```ts
 * compareProducts(512, 1, 256, 2) // 0: 512/2 == 256/1
 * ```
 */
export const compareProducts = (a: number, b: number, c: number, d: number): number => {
  const p = a * b
  const q = c * d
  if (p < SAFE && q < SAFE) return p - q
  const x = BigInt(a) * BigInt(b) - BigInt(c) * BigInt(d)
  return x > 0n ? 1 : x < 0n ? -1 : 0
}

/** Greatest common divisor of two positive integers (the kernel's lib/math/gcd.c result).
 *
 * @example
 * ```ts
 * gcd(12, 18) // 6
 * ```
 */
export const gcd = (a: number, b: number): number => {
  while (b !== 0) {
    const t = a % b
    a = b
    b = t
  }
  return a
}

/** `hash_32(v, bits)` from include/linux/hash.h: top `bits` bits of v * GOLDEN_RATIO_32 (mod 2^32).
 *
 * @example
 * ```ts
 * hash32(0x0a000001, 8) // sh/dh bucket of 10.0.0.1
 * ```
 */
export const hash32 = (v: number, bits: number): number => Math.imul(v, 0x61c88647) >>> (32 - bits)

/**
 * Reads the big-endian 32-bit word at `offset` as a SIGNED int32: small integers never box across calls, and
 * every consumer (imul, xor, `>>> 0` sums) gives the same bits as the kernel's u32.
 *
 * @example
 * ```ts
 * readWord(Uint8Array.of(10, 0, 0, 1), 0) // 0x0a000001
 * ```
 */
export const readWord = (bytes: Uint8Array, offset: number): number =>
  (bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!

/** The kernel's address fold: IPv4 word, or XOR of the four IPv6 words, in host order (signed int32 bits).
 *
 * @example
 * ```ts
 * foldAddress(packet, 26, 4) // IPv4 source address word
 * ```
 */
export const foldAddress = (bytes: Uint8Array, offset: number, family: 4 | 6): number =>
  family === 4
    ? readWord(bytes, offset)
    : readWord(bytes, offset) ^ readWord(bytes, offset + 4) ^ readWord(bytes, offset + 8) ^ readWord(bytes, offset + 12)

/** Smallest power of two >= n (at least 16).
 *
 * @example
 * ```ts
 * pow2AtLeast(100) // 128
 * ```
 */
export const pow2AtLeast = (n: number): number => {
  let c = 16
  while (c < n) c *= 2
  return c
}
