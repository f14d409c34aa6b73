/**
 * lc: least connection (ip_vs_lc.c).
 *
 * @module
 */
import { type Destination, DestinationFlags } from "./Destination.ts"
import { RatioScheduler } from "./internal/RatioScheduler.ts"

/**
 * The first destination in list order with the smallest overhead (active * 256 + inactive); weight only excludes 0, OVERLOAD is skipped (strict `<`, so the earlier one wins ties).
 *
 * Chooses exactly what the kernel's linear scan chooses, without scanning: a tournament tree over list
 * positions keeps the scan's answer at its root and is updated in O(log n) when a counter or weight changes.
 *
 * @example
 * ```ts
 * const pool = new DestinationPool({ scheduler: "lc" })
 * pool.add(Destination.make("10.0.0.1", 80)); pool.pick(packet, 26, 30, 0, 0)
 * ```
 */
export class LeastConnection extends RatioScheduler {
  readonly name = "lc"

  protected leaf(d: Destination, batch: boolean): void {
    const eligible = (d.flags & DestinationFlags.Overload) === 0 && d.weight > 0
    if (batch) this.tree.setLeaf(d.slot, eligible, d.activeConnections * 256 + d.inactiveConnections, 1)
    else this.tree.update(d.slot, eligible, d.activeConnections * 256 + d.inactiveConnections, 1)
  }
}
