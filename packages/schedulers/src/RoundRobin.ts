/**
 * rr: round robin (ip_vs_rr.c).
 *
 * @module
 */
import { type Destination, DestinationFlags } from "./Destination.ts"
import type { DestinationPool } from "./DestinationPool.ts"
import { MaxTree } from "./internal/MaxTree.ts"
import { noDestinationAvailable, type Pick, type Scheduler } from "./Scheduler.ts"

/**
 * Round robin over the list from a cursor, skipping OVERLOAD and weight-0 destinations.
 *
 * Kernel semantics: the cursor starts at the list head; a pick walks forward from the cursor (wrapping, at most
 * two passes, one when the cursor is the head) and takes the first destination that is not OVERLOAD with
 * weight > 0, which becomes the cursor. Deleting the cursor's destination moves the cursor to its predecessor;
 * adds and edits do not touch it. The kernel walks one destination at a time; here a max tree over list
 * positions finds the next eligible one in O(log n), so long runs of quiesced or overloaded servers cost nothing.
 *
 * @example
 * ```ts
 * const pool = new DestinationPool({ scheduler: "rr" })
 * for (const ip of ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) pool.add(Destination.make(ip, 80))
 * // picks 10.0.0.3, 10.0.0.2, 10.0.0.1, 10.0.0.3, ... (newest first)
 * ```
 */
export class RoundRobin implements Scheduler {
  readonly name = "rr"
  private pool: DestinationPool | undefined = undefined
  /** Per slot: 1 = eligible, 0 = linked but skipped, -1 = empty. */
  private readonly tree = new MaxTree()
  /** The kernel's `sched_data`: the last chosen destination, or undefined for the list head. */
  cursor: Destination | undefined = undefined

  init(pool: DestinationPool): void {
    this.pool = pool
    this.cursor = undefined
    this.relayout()
  }

  done(): void {
    this.pool = undefined
    this.cursor = undefined
  }

  added(d: Destination): void {
    this.tree.update(d.slot, value(d))
  }

  removed(d: Destination): void {
    this.tree.update(d.slot, -1)
    if (this.cursor === d) {
      const prev = this.tree.lastAtLeast(d.slot - 1, 0)
      this.cursor = prev < 0 ? undefined : this.pool!.slots[prev]
    }
  }

  updated(d: Destination): void {
    this.tree.update(d.slot, value(d))
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

  schedule(_b: Uint8Array, _s: number, _d: number, _p: number, _n: number): Pick {
    const cursor = this.cursor
    let slot = this.tree.firstAtLeast(cursor === undefined ? 0 : cursor.slot + 1, 1)
    // Second pass from the head (only when the walk did not start at the head); it may end on the cursor itself.
    if (slot < 0 && cursor !== undefined) slot = this.tree.firstAtLeast(0, 1)
    if (slot < 0) return noDestinationAvailable
    const d = this.pool!.slots[slot]!
    this.cursor = d
    return d
  }
}

const value = (d: Destination): number => ((d.flags & DestinationFlags.Overload) === 0 && d.weight > 0 ? 1 : 0)
