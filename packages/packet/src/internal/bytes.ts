/**
 * Big-endian byte helpers shared by the header modules. Tiny functions that V8 inlines; they keep the
 * header modules free of `DataView` objects (one `DataView` per packet would allocate).
 *
 * @internal
 */

/** Reads a big-endian 16-bit value. */
export const read16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!

/** Writes a big-endian 16-bit value. */
export const write16 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v >>> 8
  b[o + 1] = v
}

/** Reads a big-endian unsigned 32-bit value. */
export const read32 = (b: Uint8Array, o: number): number =>
  ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0

/** Writes a big-endian 32-bit value (signed or unsigned input). */
export const write32 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v >>> 24
  b[o + 1] = v >>> 16
  b[o + 2] = v >>> 8
  b[o + 3] = v
}

/** Copies `n` bytes (no overlap handling needed for distinct regions; small n, faster than `set`). */
export const copy = (dst: Uint8Array, d: number, src: Uint8Array, s: number, n: number): void => {
  for (let i = 0; i < n; i++) dst[d + i] = src[s + i]!
}

/** True when `n` bytes at `a` in `x` equal `n` bytes at `b` in `y`. */
export const equal = (x: Uint8Array, a: number, y: Uint8Array, b: number, n: number): boolean => {
  for (let i = 0; i < n; i++) if (x[a + i] !== y[b + i]) return false
  return true
}
