/**
 * A tournament tree over list positions that keeps the first position (in list order) minimising num/den.
 *
 * This is what lc, wlc, sed, nq, fo, ovf and the lblc/lblcr fallback reduce to: the kernel's linear scans with
 * strict cross-multiplied comparisons return the FIRST destination in list order whose overhead/weight ratio is
 * minimal among the eligible ones. Each internal node holds the winner of its two children (ties go to the left,
 * i.e. the earlier position), so the root is the scan's answer; changing one leaf replays its log2(n) matches.
 *
 * @internal
 *
 * @example
 * ```ts
 * const t = new RatioTree()
 * t.reset(16)
 * t.update(2, true, 256, 1)
 * t.update(5, true, 256, 2)
 * t.best() // 5 (256/2 < 256/1)
 * ```
 */
import { compareProducts } from "./Arith.ts"

export class RatioTree {
  capacity = 0
  /** winners[1] is the root; leaves at capacity + slot; -1 = no eligible position below. */
  winners: Int32Array = new Int32Array(2)
  num: Float64Array = new Float64Array(0)
  den: Float64Array = new Float64Array(0)

  /** Resets to an empty tree of `capacity` leaves (a power of two). */
  reset(capacity: number): void {
    this.capacity = capacity
    this.winners = new Int32Array(2 * capacity).fill(-1)
    this.num = new Float64Array(capacity)
    this.den = new Float64Array(capacity)
  }

  /** Sets a leaf without replaying matches (call {@link rebuild} after a batch). */
  setLeaf(slot: number, eligible: boolean, num: number, den: number): void {
    this.num[slot] = num
    this.den[slot] = den
    this.winners[this.capacity + slot] = eligible ? slot : -1
  }

  /** Replays every match bottom-up: O(capacity). */
  rebuild(): void {
    const w = this.winners
    for (let i = this.capacity - 1; i >= 1; i--) w[i] = this.match(w[2 * i]!, w[2 * i + 1]!)
  }

  /** Sets a leaf and replays the matches on its path to the root: O(log capacity). */
  update(slot: number, eligible: boolean, num: number, den: number): void {
    const w = this.winners
    let i = this.capacity + slot
    // Unchanged leaf (e.g. fo/ovf on most counter changes): nothing to replay.
    if (w[i] === (eligible ? slot : -1) && this.num[slot] === num && this.den[slot] === den) return
    this.num[slot] = num
    this.den[slot] = den
    w[i] = eligible ? slot : -1
    i >>= 1
    while (i >= 1) {
      const m = this.match(w[2 * i]!, w[2 * i + 1]!)
      // Once a node's winner is unchanged and it is not the updated slot, nothing above can change either,
      // unless the winner IS the updated slot (its key changed), so keep climbing in that case.
      if (w[i] === m && m !== slot) break
      w[i] = m
      i >>= 1
    }
  }

  /** The first position in list order with the minimal ratio, or -1. */
  best(): number {
    return this.winners[1]!
  }

  private match(l: number, r: number): number {
    if (l < 0) return r
    if (r < 0) return l
    // l wins when num[l]/den[l] <= num[r]/den[r]; dens are > 0 for eligible leaves.
    return compareProducts(this.num[l]!, this.den[r]!, this.num[r]!, this.den[l]!) <= 0 ? l : r
  }
}
