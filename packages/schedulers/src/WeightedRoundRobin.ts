/**
 * wrr: weighted round robin (ip_vs_wrr.c).
 *
 * @module
 */
import { type Destination, DestinationFlags } from "./Destination.ts"
import type { DestinationPool } from "./DestinationPool.ts"
import { gcd } from "./internal/Arith.ts"
import { MaxTree } from "./internal/MaxTree.ts"
import { allDestinationsOverloaded, noDestinationAvailable, type Pick, type Scheduler } from "./Scheduler.ts"

/**
 * Weighted round robin with the kernel's gcd stepping and reset rules.
 *
 * State as in the kernel: cursor `cl` (a destination or the list head), current weight `cw`, `mw` = max weight
 * - (gcd - 1), step `di` = gcd of the weights > 0. A pick walks forward from the cursor for the first
 * destination not OVERLOAD with weight >= cw; each wrap past the head lowers cw by di, and cw <= 0 restarts at
 * mw; the kernel's `last_pass` / `restarted` / `stop` bookkeeping decides when to give up with "all destinations
 * are overloaded". Every add, delete and edit resets the cursor to the head, recomputes di and mw, and sets
 * cw = mw if cw > mw or cw == 0, else rounds cw to a multiple of di plus 1 when di > 1.
 *
 * The kernel walks one destination at a time (O(n) per pick when many weights are below cw) and one lap per
 * cw step (O(mw/di) laps when the heaviest servers are OVERLOAD). Here a max tree over list positions finds
 * the next destination with weight >= cw in O(log n), and laps that provably find nothing are skipped in one
 * step, so a pick is O(log n) whatever the weights.
 *
 * @example
 * ```ts
 * const pool = new DestinationPool({ scheduler: "wrr" })
 * pool.add(Destination.make("10.0.0.3", 80), { weight: 2 }) // C
 * pool.add(Destination.make("10.0.0.2", 80), { weight: 3 }) // B
 * pool.add(Destination.make("10.0.0.1", 80), { weight: 4 }) // A (head)
 * // first lap at cw = 1: A B C, then the steady cycle A A B A B C A B C
 * ```
 */
export class WeightedRoundRobin implements Scheduler {
  readonly name = "wrr"
  private pool: DestinationPool | undefined = undefined
  /** Per slot: weight (0 when OVERLOAD), -1 when empty. */
  private readonly tree = new MaxTree()
  /** `mark->cl`: last chosen destination, undefined = list head. */
  cursor: Destination | undefined = undefined
  /** `mark->cw` */
  cw = 0
  /** `mark->mw` */
  mw = 0
  /** `mark->di` */
  di = 1

  init(pool: DestinationPool): void {
    this.pool = pool
    this.relayout()
    this.cursor = undefined
    this.recompute()
    this.cw = this.mw
  }

  done(): void {
    this.pool = undefined
    this.cursor = undefined
  }

  added(d: Destination): void {
    this.tree.update(d.slot, value(d))
    this.changed()
  }

  removed(d: Destination): void {
    this.tree.update(d.slot, -1)
    this.changed()
  }

  updated(d: Destination): void {
    this.tree.update(d.slot, value(d))
    this.changed()
  }

  countersChanged(d: Destination): void {
    this.tree.update(d.slot, value(d))
  }

  relayout(): void {
    const pool = this.pool!
    this.tree.reset(pool.capacity)
    for (let i = pool.head; i < pool.capacity; i++) {
      const d = pool.slots[i]
      if (d !== undefined) this.tree.setLeaf(i, value(d))
    }
    this.tree.rebuild()
  }

  /** `ip_vs_wrr_dest_changed`. */
  private changed(): void {
    this.cursor = undefined
    this.recompute()
    if (this.cw > this.mw || this.cw === 0) this.cw = this.mw
    else if (this.di > 1) this.cw = Math.trunc(this.cw / this.di) * this.di + 1
  }

  /** di = gcd of weights > 0 (1 if none), mw = max weight - (di - 1). O(n), like the kernel, on config changes. */
  private recompute(): void {
    const pool = this.pool!
    let g = 0
    let max = 0
    for (let i = pool.head; i < pool.capacity; i++) {
      const d = pool.slots[i]
      if (d === undefined) continue
      const w = d.weight
      if (w > 0) g = g > 0 ? gcd(w, g) : w
      if (w > max) max = w
    }
    this.di = g > 0 ? g : 1
    this.mw = max - (this.di - 1)
  }

  schedule(_b: Uint8Array, _s: number, _d: number, _p: number, _n: number): Pick {
    if (this.mw === 0) return noDestinationAvailable
    const tree = this.tree
    const di = this.di
    const last = this.cursor
    const lastIsHead = last === undefined
    const lastSlot = lastIsHead ? -1 : last.slot
    let from = lastSlot + 1
    let stop = -1
    let lastPass = false
    let restarted = false
    for (;;) {
      // One traversal from `from` to the end of the list.
      const q = tree.firstAtLeast(from, this.cw)
      if (stop >= 0 && (q < 0 || q > stop)) {
        this.cursor = this.pool!.slots[stop]
        return allDestinationsOverloaded
      }
      if (q >= 0) {
        const d = this.pool!.slots[q]!
        this.cursor = d
        return d
      }
      this.cw -= di
      if (this.cw <= 0) {
        this.cw = this.mw
        if (lastPass || lastIsHead) {
          this.cursor = undefined
          return allDestinationsOverloaded
        }
        restarted = true
      }
      lastPass = this.cw <= di
      if (lastPass && restarted && !lastIsHead) stop = lastSlot
      from = 0
      if (stop < 0) {
        // Full laps at cw above both the best available weight and di find nothing and change nothing but cw:
        // jump to the first cw of the sequence cw - k*di that is <= max(best, di).
        const best = tree.max()
        const floor = Math.max(best, di)
        if (this.cw > floor) {
          this.cw -= Math.ceil((this.cw - floor) / di) * di
          lastPass = this.cw <= di
          if (lastPass && restarted && !lastIsHead) stop = lastSlot
        }
      }
    }
  }
}

const value = (d: Destination): number => ((d.flags & DestinationFlags.Overload) === 0 ? d.weight : 0)
