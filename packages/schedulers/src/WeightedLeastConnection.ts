/**
 * wlc: weighted least connection, the kernel's default scheduler (ip_vs_wlc.c).
 *
 * @module
 */
import { type Destination, DestinationFlags } from "./Destination.ts"
import { RatioScheduler } from "./internal/RatioScheduler.ts"

/**
 * The first destination in list order minimising overhead / weight. The kernel seeds with the first non-OVERLOAD destination of weight > 0 and switches only when `overhead_least * weight_d > overhead_d * weight_least` (64-bit), so weight-0 destinations never win and ties keep the earlier one.
 *
 * Chooses exactly what the kernel's linear scan chooses, without scanning: a tournament tree over list
 * positions keeps the scan's answer at its root and is updated in O(log n) when a counter or weight changes.
 *
 * @example
 * ```ts
 * const pool = new DestinationPool({ scheduler: "wlc" })
 * pool.add(Destination.make("10.0.0.1", 80), { weight: 3 }); pool.pick(packet, 26, 30, 0, 0)
 * ```
 */
export class WeightedLeastConnection extends RatioScheduler {
  readonly name = "wlc"

  protected leaf(d: Destination, batch: boolean): void {
    const eligible = (d.flags & DestinationFlags.Overload) === 0 && d.weight > 0
    if (batch) this.tree.setLeaf(d.slot, eligible, d.activeConnections * 256 + d.inactiveConnections, d.weight)
    else this.tree.update(d.slot, eligible, d.activeConnections * 256 + d.inactiveConnections, d.weight)
  }
}
