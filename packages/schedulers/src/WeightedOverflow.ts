/**
 * ovf: weighted overflow (ip_vs_ovf.c).
 *
 * @module
 */
import { type Destination, DestinationFlags } from "./Destination.ts"
import { RatioScheduler } from "./internal/RatioScheduler.ts"

/**
 * The first destination in list order with the highest weight among those not OVERLOAD, weight > 0 and active connections <= weight (only active connections count, as in the kernel).
 *
 * Chooses exactly what the kernel's linear scan chooses, without scanning: a tournament tree over list
 * positions keeps the scan's answer at its root and is updated in O(log n) when a counter or weight changes.
 *
 * @example
 * ```ts
 * const pool = new DestinationPool({ scheduler: "ovf" })
 * pool.add(Destination.make("10.0.0.1", 80), { weight: 10 }); pool.pick(packet, 26, 30, 0, 0)
 * ```
 */
export class WeightedOverflow extends RatioScheduler {
  readonly name = "ovf"

  protected leaf(d: Destination, batch: boolean): void {
    const eligible = (d.flags & DestinationFlags.Overload) === 0 && d.weight > 0 && d.activeConnections <= d.weight
    if (batch) this.tree.setLeaf(d.slot, eligible, 1, d.weight)
    else this.tree.update(d.slot, eligible, 1, d.weight)
  }
}
