/**
 * SipHash over one 4-byte message, in 32-bit halves (no BigInt, no allocation).
 *
 * The kernel's mh hashes a 32-bit value with `hsiphash`, which on 64-bit kernels is SipHash-1-3 over 64-bit
 * words returning the low 32 bits of v0^v1^v2^v3 (lib/siphash.c). The round counts are parameters so the same
 * code is checked against the published SipHash-2-4 vectors.
 *
 * @internal
 */

// v0..v3 as (hi, lo) pairs: s[0]=v0hi s[1]=v0lo s[2]=v1hi s[3]=v1lo s[4]=v2hi s[5]=v2lo s[6]=v3hi s[7]=v3lo
const s = new Uint32Array(8)

const round = (): void => {
  let v0h = s[0]!
  let v0l = s[1]!
  let v1h = s[2]!
  let v1l = s[3]!
  let v2h = s[4]!
  let v2l = s[5]!
  let v3h = s[6]!
  let v3l = s[7]!
  let lo: number
  let th: number
  // v0 += v1
  lo = (v0l + v1l) >>> 0
  v0h = (v0h + v1h + (lo < v0l ? 1 : 0)) >>> 0
  v0l = lo
  // v1 = rotl(v1, 13) ^ v0
  th = ((v1h << 13) | (v1l >>> 19)) >>> 0
  v1l = ((v1l << 13) | (v1h >>> 19)) >>> 0
  v1h = th
  v1h = (v1h ^ v0h) >>> 0
  v1l = (v1l ^ v0l) >>> 0
  // v0 = rotl(v0, 32)
  th = v0h
  v0h = v0l
  v0l = th
  // v2 += v3
  lo = (v2l + v3l) >>> 0
  v2h = (v2h + v3h + (lo < v2l ? 1 : 0)) >>> 0
  v2l = lo
  // v3 = rotl(v3, 16) ^ v2
  th = ((v3h << 16) | (v3l >>> 16)) >>> 0
  v3l = ((v3l << 16) | (v3h >>> 16)) >>> 0
  v3h = th
  v3h = (v3h ^ v2h) >>> 0
  v3l = (v3l ^ v2l) >>> 0
  // v0 += v3
  lo = (v0l + v3l) >>> 0
  v0h = (v0h + v3h + (lo < v0l ? 1 : 0)) >>> 0
  v0l = lo
  // v3 = rotl(v3, 21) ^ v0
  th = ((v3h << 21) | (v3l >>> 11)) >>> 0
  v3l = ((v3l << 21) | (v3h >>> 11)) >>> 0
  v3h = th
  v3h = (v3h ^ v0h) >>> 0
  v3l = (v3l ^ v0l) >>> 0
  // v2 += v1
  lo = (v2l + v1l) >>> 0
  v2h = (v2h + v1h + (lo < v2l ? 1 : 0)) >>> 0
  v2l = lo
  // v1 = rotl(v1, 17) ^ v2
  th = ((v1h << 17) | (v1l >>> 15)) >>> 0
  v1l = ((v1l << 17) | (v1h >>> 15)) >>> 0
  v1h = th
  v1h = (v1h ^ v2h) >>> 0
  v1l = (v1l ^ v2l) >>> 0
  // v2 = rotl(v2, 32)
  th = v2h
  v2h = v2l
  v2l = th
  s[0] = v0h
  s[1] = v0l
  s[2] = v1h
  s[3] = v1l
  s[4] = v2h
  s[5] = v2l
  s[6] = v3h
  s[7] = v3l
}

/** [0] = high 32 bits of the last {@link sipHash4} result (a typed array: storing to a module `let` would box).
 *
 * @example
 * ```ts
 * sipHash4(0x03020100, 0x07060504, 0x03020100, 0x0f0e0d0c, 0x0b0a0908, 2, 4)
 * lastHigh[0] // 0xcf2794e0
 * ```
 */
export const lastHigh = new Uint32Array(1)

/**
 * SipHash-c-d of the 4-byte little-endian encoding of `value` under key (k0, k1), each given as hi/lo words.
 * Returns the low 32 bits of the 64-bit tag as a SIGNED int32 (so it stays a small integer across calls instead of
 * a boxed double; use `>>> 0` for the unsigned value); the high 32 bits are left in `lastHigh[0]`.
 *
 * @example
 * ```ts
 * sipHash4(0x03020100, 0x07060504, 0x03020100, 0x0f0e0d0c, 0x0b0a0908, 2, 4) >>> 0 // 0x277187b7
 * ```
 */
export const sipHash4 = (
  value: number,
  k0h: number,
  k0l: number,
  k1h: number,
  k1l: number,
  cRounds: number,
  dRounds: number
): number => {
  s[0] = (0x736f6d65 ^ k0h) >>> 0
  s[1] = (0x70736575 ^ k0l) >>> 0
  s[2] = (0x646f7261 ^ k1h) >>> 0
  s[3] = (0x6e646f6d ^ k1l) >>> 0
  s[4] = (0x6c796765 ^ k0h) >>> 0
  s[5] = (0x6e657261 ^ k0l) >>> 0
  s[6] = (0x74656462 ^ k1h) >>> 0
  s[7] = (0x79746573 ^ k1l) >>> 0
  // Last block b = (len << 56) | message; len = 4.
  const bh = 0x04000000
  const bl = value >>> 0
  s[6] = (s[6]! ^ bh) >>> 0
  s[7] = (s[7]! ^ bl) >>> 0
  for (let i = 0; i < cRounds; i++) round()
  s[0] = (s[0]! ^ bh) >>> 0
  s[1] = (s[1]! ^ bl) >>> 0
  s[5] = (s[5]! ^ 0xff) >>> 0
  for (let i = 0; i < dRounds; i++) round()
  lastHigh[0] = s[0]! ^ s[2]! ^ s[4]! ^ s[6]!
  return s[1]! ^ s[3]! ^ s[5]! ^ s[7]!
}

/** The kernel's `hsiphash(&v, 4, key)` on x86_64 with key = {k, k} (both words equal, < 2^32), as a signed int32.
 *
 * @example
 * ```ts
 * hsiphash(0x0a000001 + 80, 2654435761) >>> 0 // mh offset hash of 10.0.0.1:80
 * ```
 */
export const hsiphash = (value: number, key: number): number => sipHash4(value, 0, key, 0, key, 1, 3)
