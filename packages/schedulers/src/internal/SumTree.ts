/**
 * A Fenwick tree of weights over list positions: prefix sums and "first position whose prefix >= r".
 *
 * twos walks the list subtracting weights from two random numbers; the first destination where the remainder
 * drops to <= 0 is the one whose prefix sum of eligible weights reaches the number, found here in O(log n).
 *
 * @internal
 */
export class SumTree {
  capacity = 0
  tree: Float64Array = new Float64Array(1)
  leaf: Float64Array = new Float64Array(0)
  total = 0
  private top = 1

  reset(capacity: number): void {
    this.capacity = capacity
    this.tree = new Float64Array(capacity + 1)
    this.leaf = new Float64Array(capacity)
    this.total = 0
    this.top = capacity
  }

  update(slot: number, value: number): void {
    const delta = value - this.leaf[slot]!
    if (delta === 0) return
    this.leaf[slot] = value
    this.total += delta
    const t = this.tree
    for (let i = slot + 1; i <= this.capacity; i += i & -i) t[i] = t[i]! + delta
  }

  /** First slot whose inclusive prefix sum is >= r (r >= 1), or -1 when the total is below r. */
  firstPrefixAtLeast(r: number): number {
    if (r > this.total) return -1
    const t = this.tree
    let pos = 0
    let rem = r
    for (let step = this.top; step > 0; step >>= 1) {
      const next = pos + step
      if (next <= this.capacity && t[next]! < rem) {
        pos = next
        rem -= t[next]!
      }
    }
    return pos // 0-based slot = (1-based index pos + 1) - 1
  }
}
