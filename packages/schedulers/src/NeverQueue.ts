/**
 * nq: never queue (ip_vs_nq.c).
 *
 * @module
 */
import { type Destination, DestinationFlags } from "./Destination.ts"
import { RatioScheduler } from "./internal/RatioScheduler.ts"

/**
 * The first idle destination (0 active connections) in list order, else the sed rule. Idle destinations get ratio 0, so one tree orders both cases: among idle ones list order decides, exactly as the kernel's early return.
 *
 * Chooses exactly what the kernel's linear scan chooses, without scanning: a tournament tree over list
 * positions keeps the scan's answer at its root and is updated in O(log n) when a counter or weight changes.
 *
 * @example
 * ```ts
 * const pool = new DestinationPool({ scheduler: "nq" })
 * pool.add(Destination.make("10.0.0.1", 80)); pool.pick(packet, 26, 30, 0, 0)
 * ```
 */
export class NeverQueue extends RatioScheduler {
  readonly name = "nq"

  protected leaf(d: Destination, batch: boolean): void {
    const eligible = (d.flags & DestinationFlags.Overload) === 0 && d.weight > 0
    if (batch) this.tree.setLeaf(d.slot, eligible, d.activeConnections === 0 ? 0 : d.activeConnections + 1, d.weight)
    else this.tree.update(d.slot, eligible, d.activeConnections === 0 ? 0 : d.activeConnections + 1, d.weight)
  }
}
