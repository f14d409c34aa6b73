/**
 * mh: Maglev consistent hashing (ip_vs_mh.c, Linux 4.18+).
 *
 * @module
 */
import { type Destination, DestinationFlags } from "./Destination.ts"
import type { DestinationPool } from "./DestinationPool.ts"
import { foldAddress, gcd } from "./internal/Arith.ts"
import { hsiphash } from "./internal/SipHash.ts"
import { noDestinationAvailable, type Pick, type Scheduler, ServiceFlags } from "./Scheduler.ts"
import type { SchedulerOptions } from "./SchedulerRegistry.ts"

/**
 * The table sizes the kernel allows (`primes[CONFIG_IP_VS_MH_TAB_INDEX - 8]`), index 8..17.
 *
 * @example
 * ```ts
 * maglevTableSizes.includes(4093) // true: the default
 * ```
 */
export const maglevTableSizes: ReadonlyArray<number> = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071]

/** hsiphash keys: key1 = {2654435761, 2654435761}, key2 = {2654446892, 2654446892} (fixed, not random). */
const KEY1 = 2654435761
const KEY2 = 2654446892

/**
 * Maglev lookup table of prime size M (default 4093), rebuilt on every add, delete and edit.
 *
 * Per destination: offset = H(key1, addr, port) mod M, skip = H(key2, addr, port) mod (M - 1) + 1, where
 * H = hsiphash (SipHash-1-3 on 64-bit kernels, low 32 bits) of (port + fold(addr)) as a 32-bit value.
 * Weights use `lastWeight` (quiescing keeps the table): turns = (lastWeight / g) >> rshift (at least 1 when
 * lastWeight != 0), g = gcd of last weights, rshift = max(0, fls(max/g) - floor(index/2)). Populate: rounds over
 * the list, each destination claims `turns` slots following its permutation, until all M slots are taken.
 * Lookup: slot = H(key1, source addr, source port if `mh-port` else 0) mod M; a destination with weight <= 0
 * or OVERLOAD is unavailable: none, or with `mh-fallback` the kernel's rehash probe. More than M destinations:
 * the kernel's hook fails with EINVAL and the old table stays, which is what happens here too.
 *
 * @example
 * ```ts
 * const pool = new DestinationPool({ scheduler: "mh", schedulerOptions: { tableSize: 65521 } })
 * ```
 */
export class MaglevHashing implements Scheduler {
  readonly name = "mh"
  private pool: DestinationPool | undefined = undefined
  /** M */
  readonly size: number
  /** floor(CONFIG_IP_VS_MH_TAB_INDEX / 2) */
  readonly tableBits: number
  /** The lookup table (`s->lookup[i].dest`). */
  readonly lookup: Array<Destination | undefined>
  gcd = 0
  rshift = 0

  constructor(options: SchedulerOptions = {}) {
    const size = options.tableSize ?? 4093
    const index = maglevTableSizes.indexOf(size)
    if (index < 0) throw new Error(`mh: tableSize must be one of ${maglevTableSizes.join(", ")}, got ${size}`)
    this.size = size
    this.tableBits = Math.floor((index + 8) / 2)
    this.lookup = new Array<Destination | undefined>(size).fill(undefined)
  }

  init(pool: DestinationPool): void {
    this.pool = pool
    this.changed()
  }

  done(): void {
    this.pool = undefined
    this.lookup.fill(undefined)
  }

  added(_d: Destination): void {
    this.changed()
  }

  removed(_d: Destination): void {
    this.changed()
  }

  updated(_d: Destination): void {
    this.changed()
  }

  countersChanged(_d: Destination): void {}

  relayout(): void {}

  /** `ip_vs_mh_dest_changed`: gcd, shift, then permutate + populate unless there are more dests than slots. */
  private changed(): void {
    const pool = this.pool!
    const list = pool.destinations()
    let g = 0
    let max = 0
    for (const d of list) {
      const w = d.lastWeight
      if (w > 0) g = g > 0 ? gcd(w, g) : w
      if (w > max) max = w
    }
    this.gcd = g
    this.rshift = g < 1 ? 0 : Math.max(0, 32 - Math.clz32(Math.trunc(max / g)) - this.tableBits)
    if (list.length > this.size) return
    if (g < 1) {
      this.lookup.fill(undefined)
      return
    }
    const m = this.size
    const n = list.length
    const perm = new Int32Array(n)
    const skip = new Int32Array(n)
    const turns = new Int32Array(n)
    for (let i = 0; i < n; i++) {
      const d = list[i]!
      const v = (d.port + d.foldedAddress()) | 0
      perm[i] = (hsiphash(v, KEY1) >>> 0) % m
      skip[i] = ((hsiphash(v, KEY2) >>> 0) % (m - 1)) + 1
      const lw = d.lastWeight
      const t = Math.trunc(lw / g) >> this.rshift
      turns[i] = t !== 0 ? t : lw !== 0 ? 1 : 0
    }
    const taken = new Uint8Array(m)
    let filled = 0
    let dtCount = 0
    for (;;) {
      for (let i = 0; i < n; ) {
        if (turns[i]! < 1) {
          i++
          continue
        }
        let c = perm[i]!
        while (taken[c] === 1) {
          c += skip[i]!
          if (c >= m) c -= m
        }
        perm[i] = c
        taken[c] = 1
        this.lookup[c] = list[i]
        if (++filled === m) return
        if (++dtCount >= turns[i]!) {
          dtCount = 0
          i++
        }
      }
    }
  }

  schedule(bytes: Uint8Array, sourceOffset: number, _d: number, sourcePort: number, _n: number): Pick {
    const pool = this.pool!
    const m = this.size
    // `| 0`, not `>>> 0`: a u32 above 2^31 passed to a non-inlined call is boxed (a heap allocation per pick).
    const v =
      ((pool.flags & ServiceFlags.Port ? sourcePort & 0xffff : 0) + foldAddress(bytes, sourceOffset, pool.family)) | 0
    const ihash = (hsiphash(v, KEY1) >>> 0) % m
    const dest = this.lookup[ihash]
    if (dest === undefined) return noDestinationAvailable
    if (available(dest)) return dest
    if ((pool.flags & ServiceFlags.Fallback) === 0) return noDestinationAvailable
    for (let offset = 0; offset < m; offset++) {
      const roffset = (offset + ihash) % m
      const d = this.lookup[(hsiphash((roffset + v) | 0, KEY1) >>> 0) % m]
      if (d === undefined) break
      if (available(d)) return d
    }
    return noDestinationAvailable
  }
}

const available = (d: Destination): boolean => d.weight > 0 && (d.flags & DestinationFlags.Overload) === 0
