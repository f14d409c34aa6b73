/**
 * A max segment tree over list positions answering "first position >= from whose value >= k".
 *
 * rr (value 1 = may be chosen) and wrr (value = weight when not OVERLOAD) walk the list from a cursor looking for
 * the next destination that qualifies; the kernel walks one by one, this descends the tree in O(log n).
 *
 * @internal
 *
 * @example
 * ```ts
 * const t = new MaxTree()
 * t.reset(16)
 * t.update(3, 5)
 * t.firstAtLeast(0, 4) // 3
 * ```
 */
export class MaxTree {
  capacity = 0
  values: Float64Array = new Float64Array(2)

  /** Resets to `capacity` leaves (power of two), all -1 (empty). */
  reset(capacity: number): void {
    this.capacity = capacity
    this.values = new Float64Array(2 * capacity).fill(-1)
  }

  /** Sets a leaf without updating parents (call {@link rebuild} after a batch). */
  setLeaf(slot: number, value: number): void {
    this.values[this.capacity + slot] = value
  }

  rebuild(): void {
    const v = this.values
    for (let i = this.capacity - 1; i >= 1; i--) v[i] = Math.max(v[2 * i]!, v[2 * i + 1]!)
  }

  update(slot: number, value: number): void {
    const v = this.values
    let i = this.capacity + slot
    if (v[i] === value) return
    v[i] = value
    i >>= 1
    while (i >= 1) {
      const m = Math.max(v[2 * i]!, v[2 * i + 1]!)
      if (v[i] === m) break
      v[i] = m
      i >>= 1
    }
  }

  value(slot: number): number {
    return this.values[this.capacity + slot]!
  }

  /** The maximum over all leaves. */
  max(): number {
    return this.values[1]!
  }

  /** First slot >= from with value >= k, or -1. */
  firstAtLeast(from: number, k: number): number {
    const v = this.values
    const c = this.capacity
    if (from >= c) return -1
    if (from < 0) from = 0
    let i = c + from
    if (v[i]! >= k) return from
    // Climb until a right sibling subtree holds a qualifying leaf.
    for (;;) {
      if ((i & 1) === 0 && v[i + 1]! >= k) {
        i++
        break
      }
      i >>= 1
      if (i <= 1) return -1
    }
    while (i < c) {
      i *= 2
      if (v[i]! < k) i++
    }
    return i - c
  }

  /** Last slot <= to with value >= k, or -1. */
  lastAtLeast(to: number, k: number): number {
    const v = this.values
    const c = this.capacity
    if (to < 0) return -1
    if (to >= c) to = c - 1
    let i = c + to
    if (v[i]! >= k) return to
    for (;;) {
      if ((i & 1) === 1 && v[i - 1]! >= k) {
        i--
        break
      }
      i >>= 1
      if (i <= 1) return -1
    }
    while (i < c) {
      i = 2 * i + 1
      if (v[i]! < k) i--
    }
    return i - c
  }
}
