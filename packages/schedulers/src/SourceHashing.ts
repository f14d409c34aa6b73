/**
 * sh: source hashing (ip_vs_sh.c).
 *
 * @module
 */
import { type Destination, DestinationFlags } from "./Destination.ts"
import type { DestinationPool } from "./DestinationPool.ts"
import { foldAddress, hash32 } from "./internal/Arith.ts"
import { noDestinationAvailable, type Pick, type Scheduler, ServiceFlags } from "./Scheduler.ts"
import type { SchedulerOptions } from "./SchedulerRegistry.ts"

/**
 * Static hash of the client address (and port with `sh-port`) onto a 2^bits bucket table (default 256).
 *
 * Fill (init, add, delete, edit): buckets 0..size-1 in order, cycling through the list; the current
 * destination takes consecutive buckets until it holds `weight` of them (weight 0 still takes one).
 * Lookup: bucket = (offset + hash_32(port + fold(addr), bits)) & mask, where hash_32 is the top bits of
 * v * 0x61C88647 (current kernels). A destination with weight <= 0 or OVERLOAD is unavailable: none, or with
 * `sh-fallback` the kernel's probe over rehashed offsets until an available destination or an empty bucket.
 * `sourceOffset` is what the kernel hashes: the packet source (pass the destination's offset for the
 * "inverse" ICMP lookups).
 *
 * @example
 * ```ts
 * const pool = new DestinationPool({ scheduler: "sh", flags: ServiceFlags.Port | ServiceFlags.Fallback })
 * ```
 */
export class SourceHashing implements Scheduler {
  readonly name: string = "sh"
  protected pool: DestinationPool | undefined = undefined
  readonly bits: number
  readonly size: number
  /** The bucket table (the kernel's `s->buckets[i].dest`). */
  readonly buckets: Array<Destination | undefined>

  constructor(options: SchedulerOptions = {}) {
    const bits = options.tableBits ?? 8
    if (!Number.isInteger(bits) || bits < 1 || bits > 20) {
      throw new Error(`${this.name}: tableBits must be an integer 1..20, got ${bits}`)
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

  updated(_d: Destination): void {
    this.reassign()
  }

  countersChanged(_d: Destination): void {}

  relayout(): void {}

  /** `ip_vs_sh_reassign`: `weight` consecutive buckets per destination, cycling through the list. */
  protected reassign(): void {
    const list = this.pool!.destinations()
    if (list.length === 0) {
      this.buckets.fill(undefined)
      return
    }
    let p = 0
    let count = 0
    for (let i = 0; i < this.size; i++) {
      const d = list[p]!
      this.buckets[i] = d
      if (++count >= this.perDestination(d)) {
        p = p + 1 === list.length ? 0 : p + 1
        count = 0
      }
    }
  }

  protected perDestination(d: Destination): number {
    return d.weight
  }

  schedule(bytes: Uint8Array, sourceOffset: number, _d: number, sourcePort: number, _n: number): Pick {
    const pool = this.pool!
    const key =
      ((pool.flags & ServiceFlags.Port ? sourcePort & 0xffff : 0) + foldAddress(bytes, sourceOffset, pool.family)) | 0
    const mask = this.size - 1
    const ihash = hash32(key, this.bits)
    const dest = this.buckets[ihash]
    if (dest === undefined) return noDestinationAvailable
    if (available(dest)) return dest
    if ((pool.flags & ServiceFlags.Fallback) === 0) return noDestinationAvailable
    for (let offset = 0; offset < this.size; offset++) {
      const roffset = (offset + ihash) & mask
      const d = this.buckets[(roffset + ihash) & mask]
      if (d === undefined) break
      if (available(d)) return d
    }
    return noDestinationAvailable
  }
}

const available = (d: Destination): boolean => d.weight > 0 && (d.flags & DestinationFlags.Overload) === 0
