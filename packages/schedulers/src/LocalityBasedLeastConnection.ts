/**
 * lblc: locality-based least connection (ip_vs_lblc.c).
 *
 * @module
 */
import { type Destination, DestinationFlags } from "./Destination.ts"
import { LocalityScheduler } from "./internal/LocalityScheduler.ts"
import { noDestinationAvailable, type Pick } from "./Scheduler.ts"
import type { SchedulerOptions } from "./SchedulerRegistry.ts"

/**
 * Sends each destination IP to one real server, remembered in a 1024-bucket cache; re-picks by wlc when the
 * cached server is gone (not AVAILABLE), quiesced (weight 0) or "overloaded" (active > weight while some
 * server of the service has active * 2 < weight).
 *
 * Kernel details kept: a cache hit refreshes the entry's last use even when its server is then rejected; a
 * re-pick replaces the entry's server (or keeps the entry when it is the same, or when nothing is available).
 * GC as `ip_vs_lblc_check_expire`, on the caller's clock (`now`, ms): every 60 s; when over 16384 entries,
 * drop entries idle >= 6 min (at most (entries - 16384) * 4/3, capped at 8192, bucket by bucket from a rover);
 * every 30th tick (first at 30 min) drop entries idle >= `expiration` (default 24 h).
 *
 * @example
 * ```ts
 * const pool = new DestinationPool({ scheduler: "lblc" })
 * const r = pool.pick(packet, 26, 30, 0, performance.now())
 * ```
 */
export class LocalityBasedLeastConnection extends LocalityScheduler {
  readonly name = "lblc"
  private dests: Array<Destination | undefined> = []

  constructor(options: SchedulerOptions = {}) {
    super(options)
  }

  protected grew(capacity: number): void {
    while (this.dests.length < capacity) this.dests.push(undefined)
  }

  protected release(entry: number): void {
    this.dests[entry] = undefined
  }

  /**
   * The cached server of entry `entry` (tests and inspection).
   *
   * @example
   * ```ts
   * lblc.cachedDestination(lblc.cachedAddresses()[0]!.entry)
   * ```
   */
  cachedDestination(entry: number): Destination | undefined {
    return this.dests[entry]
  }

  schedule(bytes: Uint8Array, _s: number, destinationOffset: number, _p: number, now: number): Pick {
    this.tick(now)
    const bucket = this.bucket(bytes, destinationOffset)
    const e = this.find(bytes, destinationOffset, bucket)
    if (e >= 0) {
      this.lastUse[e] = now
      const d = this.dests[e]!
      if ((d.flags & DestinationFlags.Available) !== 0 && d.weight > 0 && !this.isOverloaded(d)) return d
    }
    const d = this.wlc()
    if (d === undefined) return noDestinationAvailable
    if (e >= 0) {
      // ip_vs_lblc_new: same server -> keep the entry; else the entry is replaced by a fresh one (last use = now).
      if (this.dests[e] !== d) this.dests[e] = d
      return d
    }
    this.dests[this.create(bytes, destinationOffset, bucket, now)] = d
    return d
  }
}
