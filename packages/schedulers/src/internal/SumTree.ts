/**
 * An 8-ary tree of weight sums over list positions: "first position whose prefix sum reaches r" in O(log8 n).
 *
 * twos walks the list subtracting weights from two random numbers; the first destination where the remainder
 * drops to <= 0 is the one whose prefix sum of eligible weights reaches the number. Each level keeps the sums of
 * 8 consecutive children, so a search reads one 64-byte group per level (5 levels at 16,384 positions) instead
 * of a binary tree's scattered 14 reads: fewer cache misses at large pools.
 *
 * @internal
 *
 * @example
 * ```ts
 * const t = new SumTree()
 * t.reset(16)
 * t.update(0, 2)
 * t.update(1, 3)
 * t.firstPrefixAtLeast(3) // 1
 * ```
 */
export class SumTree {
  capacity = 0
  /** levels[0] = leaves (weights per slot); levels[k][i] = sum of levels[k-1][8i .. 8i+7]; the last has 1 entry. */
  levels: Array<Float64Array> = []
  total = 0

  reset(capacity: number): void {
    this.capacity = capacity
    this.levels = []
    let len = capacity
    for (;;) {
      this.levels.push(new Float64Array(len))
      if (len === 1) break
      len = Math.ceil(len / 8)
    }
    this.total = 0
  }

  update(slot: number, value: number): void {
    const levels = this.levels
    const leaves = levels[0]!
    const delta = value - leaves[slot]!
    if (delta === 0) return
    this.total += delta
    let i = slot
    for (let k = 0; k < levels.length; k++) {
      const level = levels[k]!
      level[i] = level[i]! + delta
      i >>= 3
    }
  }

  /** First slot whose inclusive prefix sum is >= r (r >= 1), or -1 when the total is below r. */
  firstPrefixAtLeast(r: number): number {
    if (r > this.total) return -1
    const levels = this.levels
    let rem = r
    let i = 0
    for (let k = levels.length - 2; k >= 0; k--) {
      const level = levels[k]!
      let j = i * 8
      const end = Math.min(j + 8, level.length)
      for (; j < end - 1; j++) {
        const v = level[j]!
        if (v >= rem) break
        rem -= v
      }
      i = j
    }
    return i
  }
}
