/**
 * dh: destination hashing (ip_vs_dh.c).
 *
 * @module
 */
import { type Destination, DestinationFlags } from "./Destination.ts"
import type { DestinationPool } from "./DestinationPool.ts"
import { foldAddress, hash32 } from "./internal/Arith.ts"
import { noDestinationAvailable, type Pick, type Scheduler } from "./Scheduler.ts"
import type { SchedulerOptions } from "./SchedulerRegistry.ts"

/**
 * Static hash of the packet's destination address onto a 2^bits bucket table (default 256), one bucket per
 * destination round-robin over the list (weights ignored for filling), refilled on add and delete only (the
 * kernel has no upd_dest hook, so weight edits do not refill). bucket = hash_32(fold(daddr), bits); the
 * destination there must be AVAILABLE, weight > 0 and not OVERLOAD, else none. No port, no fallback.
 *
 * @example
 * ```ts
 * const pool = new DestinationPool({ scheduler: "dh" })
 * ```
 */
export class DestinationHashing implements Scheduler {
  readonly name = "dh"
  private pool: DestinationPool | undefined = undefined
  readonly bits: number
  readonly size: number
  readonly buckets: Array<Destination | undefined>

  constructor(options: SchedulerOptions = {}) {
    const bits = options.tableBits ?? 8
    if (!Number.isInteger(bits) || bits < 1 || bits > 20) {
      throw new Error(`dh: tableBits must be an integer 1..20, got ${bits}`)
    }
    this.bits = bits
    this.size = 1 << bits
    this.buckets = new Array<Destination | undefined>(this.size).fill(undefined)
  }

  init(pool: DestinationPool): void {
    this.pool = pool
    this.reassign()
  }

  done(): void {
    this.pool = undefined
    this.buckets.fill(undefined)
  }

  added(_d: Destination): void {
    this.reassign()
  }

  removed(_d: Destination): void {
    this.reassign()
  }

  updated(_d: Destination): void {}

  countersChanged(_d: Destination): void {}

  relayout(): void {}

  private reassign(): void {
    const list = this.pool!.destinations()
    for (let i = 0; i < this.size; i++) this.buckets[i] = list.length === 0 ? undefined : list[i % list.length]
  }

  schedule(bytes: Uint8Array, _s: number, destinationOffset: number, _p: number, _n: number): Pick {
    const d = this.buckets[hash32(foldAddress(bytes, destinationOffset, this.pool!.family), this.bits)]
    if (
      d === undefined ||
      (d.flags & DestinationFlags.Available) === 0 ||
      d.weight <= 0 ||
      (d.flags & DestinationFlags.Overload) !== 0
    ) {
      return noDestinationAvailable
    }
    return d
  }
}
