/**
 * fo: weighted failover (ip_vs_fo.c).
 *
 * @module
 */
import { type Destination, DestinationFlags } from "./Destination.ts"
import { RatioScheduler } from "./internal/RatioScheduler.ts"

/**
 * The first non-OVERLOAD destination in list order with the highest weight (strictly above a running maximum that starts at 0, so weight 0 never wins).
 *
 * Chooses exactly what the kernel's linear scan chooses, without scanning: a tournament tree over list
 * positions keeps the scan's answer at its root and is updated in O(log n) when a counter or weight changes.
 *
 * @example
 * ```ts
 * const pool = new DestinationPool({ scheduler: "fo" })
 * pool.add(Destination.make("10.0.0.1", 80), { weight: 10 }); pool.pick(packet, 26, 30, 0, 0)
 * ```
 */
export class WeightedFailover extends RatioScheduler {
  readonly name = "fo"

  protected leaf(d: Destination, batch: boolean): void {
    const eligible = (d.flags & DestinationFlags.Overload) === 0 && d.weight > 0
    if (batch) this.tree.setLeaf(d.slot, eligible, 1, d.weight)
    else this.tree.update(d.slot, eligible, 1, d.weight)
  }
}
