/**
 * Shared body of the "first destination in list order minimising a ratio" schedulers (lc, wlc, sed, nq, fo, ovf).
 *
 * Each subclass says how a destination maps to (eligible, numerator, denominator); the tournament tree then
 * returns exactly what the kernel's scan returns, and every counter change replays one leaf-to-root path.
 *
 * @internal
 *
 * @example
 * ```ts
 * class Lc extends RatioScheduler {
 *   readonly name = "lc"
 *   protected leaf(d: Destination, batch: boolean) { this.tree.update(d.slot, d.weight > 0, d.overhead(), 1) }
 * }
 * ```
 */
import type { Destination } from "../Destination.ts"
import type { DestinationPool } from "../DestinationPool.ts"
import { noDestinationAvailable, type Pick, type Scheduler } from "../Scheduler.ts"
import { RatioTree } from "./RatioTree.ts"

export abstract class RatioScheduler implements Scheduler {
  abstract readonly name: string
  protected pool: DestinationPool | undefined = undefined
  readonly tree: RatioTree = new RatioTree()

  /** Writes the destination's leaf: `batch` = setLeaf only (relayout), else update the path. */
  protected abstract leaf(d: Destination, batch: boolean): void

  init(pool: DestinationPool): void {
    this.pool = pool
    this.relayout()
  }

  done(): void {
    this.pool = undefined
  }

  added(d: Destination): void {
    this.leaf(d, false)
  }

  removed(d: Destination): void {
    this.tree.update(d.slot, false, 0, 0)
  }

  updated(d: Destination): void {
    this.leaf(d, false)
  }

  countersChanged(d: Destination): void {
    this.leaf(d, false)
  }

  relayout(): void {
    const pool = this.pool!
    this.tree.reset(pool.capacity)
    for (let i = pool.head; i < pool.capacity; i++) {
      const d = pool.slots[i]
      if (d !== undefined) this.leaf(d, true)
    }
    this.tree.rebuild()
  }

  schedule(_b: Uint8Array, _s: number, _d: number, _p: number, _n: number): Pick {
    const slot = this.tree.best()
    return slot < 0 ? noDestinationAvailable : this.pool!.slots[slot]!
  }
}
