/**
 * sed: shortest expected delay (ip_vs_sed.c).
 *
 * @module
 */
import { type Destination, DestinationFlags } from "./Destination.ts"
import { RatioScheduler } from "./internal/RatioScheduler.ts"

/**
 * wlc with overhead = active + 1 (inactive connections ignored): the first destination in list order minimising (active + 1) / weight, OVERLOAD and weight 0 excluded.
 *
 * Chooses exactly what the kernel's linear scan chooses, without scanning: a tournament tree over list
 * positions keeps the scan's answer at its root and is updated in O(log n) when a counter or weight changes.
 *
 * @example
 * ```ts
 * const pool = new DestinationPool({ scheduler: "sed" })
 * pool.add(Destination.make("10.0.0.1", 80), { weight: 2 }); pool.pick(packet, 26, 30, 0, 0)
 * ```
 */
export class ShortestExpectedDelay extends RatioScheduler {
  readonly name = "sed"

  protected leaf(d: Destination, batch: boolean): void {
    const eligible = (d.flags & DestinationFlags.Overload) === 0 && d.weight > 0
    if (batch) this.tree.setLeaf(d.slot, eligible, d.activeConnections + 1, d.weight)
    else this.tree.update(d.slot, eligible, d.activeConnections + 1, d.weight)
  }
}
