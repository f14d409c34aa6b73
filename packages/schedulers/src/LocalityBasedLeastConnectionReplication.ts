/**
 * lblcr: locality-based least connection with replication (ip_vs_lblcr.c).
 *
 * @module
 */
import { type Destination, DestinationFlags } from "./Destination.ts"
import { compareProducts } from "./internal/Arith.ts"
import { LocalityScheduler } from "./internal/LocalityScheduler.ts"
import { noDestinationAvailable, noDestinationAvailableQuiet, type Pick } from "./Scheduler.ts"
import type { SchedulerOptions } from "./SchedulerRegistry.ts"

/**
 * Like lblc, but each destination IP maps to a SET of servers that grows when its members are overloaded.
 *
 * Kernel rule: on a hit, refresh last use; choose the member with the least overhead/weight (members kept
 * newest first; OVERLOAD, not-AVAILABLE and weight-0 members skipped); then, if the set has > 1 member and was
 * last modified more than `expiration` ago, remove its most loaded member (by overhead/weight among weight > 0,
 * ignoring OVERLOAD and availability) -- the member chosen before the shrink is still returned. If no member
 * was chosen or it is "overloaded" (lblc's rule), pick by wlc over the service and add it to the set (adding an
 * existing member changes nothing, not even the set's age). No entry: wlc pick and a new entry; when nothing
 * is available then the kernel only logs at debug level (`logged: false`). GC as lblc.
 *
 * @example
 * ```ts
 * const pool = new DestinationPool({ scheduler: "lblcr", schedulerOptions: { expiration: 3_600_000 } })
 * ```
 */
export class LocalityBasedLeastConnectionReplication extends LocalityScheduler {
  readonly name = "lblcr"
  /** Per entry: members, OLDEST first (index length-1 is the newest, the kernel's list head). */
  private sets: Array<Array<Destination>> = []
  private lastMod = new Float64Array(0)

  constructor(options: SchedulerOptions = {}) {
    super(options)
  }

  protected grew(capacity: number): void {
    while (this.sets.length < capacity) this.sets.push([])
    const m = new Float64Array(capacity)
    m.set(this.lastMod.subarray(0, Math.min(this.lastMod.length, capacity)))
    this.lastMod = m
  }

  protected release(entry: number): void {
    this.sets[entry]!.length = 0
  }

  /**
   * The members of entry `entry`, newest first (tests and inspection; allocates).
   *
   * @example
   * ```ts
   * lblcr.members(lblcr.cachedAddresses()[0]!.entry)
   * ```
   */
  members(entry: number): Array<Destination> {
    return [...(this.sets[entry] ?? [])].reverse()
  }

  schedule(bytes: Uint8Array, _s: number, destinationOffset: number, _p: number, now: number): Pick {
    this.tick(now)
    const bucket = this.bucket(bytes, destinationOffset)
    const e = this.find(bytes, destinationOffset, bucket)
    if (e >= 0) {
      this.lastUse[e] = now
      const set = this.sets[e]!
      let d = setMin(set)
      if (set.length > 1 && now > this.lastMod[e]! + this.expiration) {
        const m = setMax(set)
        if (m >= 0) {
          for (let i = m; i < set.length - 1; i++) set[i] = set[i + 1]!
          set.length--
          this.lastMod[e] = now
        }
      }
      if (d !== undefined && !this.isOverloaded(d)) return d
      d = this.wlc()
      if (d === undefined) return noDestinationAvailable
      if (set.indexOf(d) < 0) {
        set.push(d)
        this.lastMod[e] = now
      }
      return d
    }
    const d = this.wlc()
    if (d === undefined) return noDestinationAvailableQuiet
    const n = this.create(bytes, destinationOffset, bucket, now)
    this.sets[n]!.push(d)
    this.lastMod[n] = now
    return d
  }
}

const overhead = (d: Destination): number => d.activeConnections * 256 + d.inactiveConnections

/** `ip_vs_dest_set_min`, walking newest first. */
const setMin = (set: Array<Destination>): Destination | undefined => {
  let i = set.length - 1
  let least: Destination | undefined
  for (; i >= 0; i--) {
    const d = set[i]!
    if ((d.flags & DestinationFlags.Overload) !== 0) continue
    if (d.weight > 0 && (d.flags & DestinationFlags.Available) !== 0) {
      least = d
      break
    }
  }
  if (least === undefined) return undefined
  let loh = overhead(least)
  for (i--; i >= 0; i--) {
    const d = set[i]!
    if ((d.flags & DestinationFlags.Overload) !== 0) continue
    const doh = overhead(d)
    if (compareProducts(loh, d.weight, doh, least.weight) > 0 && (d.flags & DestinationFlags.Available) !== 0) {
      least = d
      loh = doh
    }
  }
  return least
}

/** `ip_vs_dest_set_max`, walking newest first; returns the member's index or -1. */
const setMax = (set: Array<Destination>): number => {
  let i = set.length - 1
  let most = -1
  for (; i >= 0; i--) {
    if (set[i]!.weight > 0) {
      most = i
      break
    }
  }
  if (most < 0) return -1
  let moh = overhead(set[most]!)
  for (i--; i >= 0; i--) {
    const d = set[i]!
    const doh = overhead(d)
    if (compareProducts(moh, d.weight, doh, set[most]!.weight) < 0 && d.weight > 0) {
      most = i
      moh = doh
    }
  }
  return most
}
