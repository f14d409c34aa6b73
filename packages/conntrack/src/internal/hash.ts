// Murmur3-style 32-bit mixing over three key words and a tag; allocation-free, used for both hash directions.

const round = (h: number, k: number): number => {
  k = Math.imul(k, 0xcc9e2d51)
  k = (k << 15) | (k >>> 17)
  k = Math.imul(k, 0x1b873593)
  h ^= k
  h = (h << 13) | (h >>> 19)
  return (Math.imul(h, 5) + 0xe6546b64) | 0
}

export const hash3 = (seed: number, a: number, b: number, c: number, tag: number): number => {
  let h = round(round(round(seed ^ tag, a), b), c)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h
}

/** Folds an IPv6 address (4 words at `offset`) into one word for hashing; equality is checked on all 4 words. */
export const fold6 = (words: Uint32Array, offset: number): number =>
  (words[offset]! ^
    ((words[offset + 1]! << 8) | (words[offset + 1]! >>> 24)) ^
    ((words[offset + 2]! << 16) | (words[offset + 2]! >>> 16)) ^
    ((words[offset + 3]! << 24) | (words[offset + 3]! >>> 8))) >>>
  0
