/**
 * What lblc and lblcr share: the wlc fallback index, the "is_overloaded" test, and the destination-address
 * cache with the kernel's garbage collection, driven by the caller's clock.
 *
 * The cache is struct-of-arrays (addresses, last use, chain links in typed arrays, free list), so a cache miss
 * that creates an entry does not allocate once the arrays have grown to the working set.
 *
 * @internal
 */
import { type Destination, DestinationFlags } from "../Destination.ts"
import type { DestinationPool } from "../DestinationPool.ts"
import type { Pick, Scheduler } from "../Scheduler.ts"
import type { SchedulerOptions } from "../SchedulerRegistry.ts"
import { hash32, readWord } from "./Arith.ts"
import { RatioTree } from "./RatioTree.ts"

/** IP_VS_LBLC_TAB_BITS / IP_VS_LBLCR_TAB_BITS default (e.g. `hash32(addr, TABLE_BITS)`). */
export const TABLE_BITS = 10
/** Buckets in the cache (1024). */
export const TABLE_SIZE = 1 << TABLE_BITS
const TABLE_MASK = TABLE_SIZE - 1
/** CHECK_EXPIRE_INTERVAL: the GC timer period (60 s). */
export const CHECK_EXPIRE_INTERVAL = 60_000
/** ENTRY_TIMEOUT: idle time after which an over-full table drops an entry (6 min). */
export const ENTRY_TIMEOUT = 6 * 60_000
/** COUNT_FOR_FULL_EXPIRATION: every 30th tick is a full expiry scan. */
export const COUNT_FOR_FULL_EXPIRATION = 30
/** Default sysctl lblc_expiration / lblcr_expiration (24 h). */
export const DEFAULT_EXPIRATION = 24 * 60 * 60_000

/**
 * Base of lblc and lblcr: wlc index, is_overloaded counter, destination-address cache and its GC.
 *
 * @example
 * ```ts
 * class Lblc extends LocalityScheduler {
 *   // implement name, schedule(), grew(capacity) and release(entry)
 * }
 * ```
 */
export abstract class LocalityScheduler implements Scheduler {
  abstract readonly name: string
  protected pool: DestinationPool | undefined = undefined
  /** wlc over the whole service (`__ip_vs_lblc_schedule`). */
  readonly tree: RatioTree = new RatioTree()
  /** Per slot: 1 when activeconns * 2 < weight (the "some destination is half loaded" test of is_overloaded). */
  private half: Uint8Array = new Uint8Array(0)
  private halfCount = 0

  /** sysctl lblc(r)_expiration in ms. */
  readonly expiration: number
  /** `tbl->max_size` */
  readonly maxSize = TABLE_SIZE * 16
  /** Number of cache entries (`tbl->entries`). */
  entries = 0
  /** `tbl->counter`, `tbl->rover` */
  counter = 1
  rover = 0
  /** Time of the next GC tick, NaN until the first clock value is seen. */
  nextTick = Number.NaN

  protected readonly heads = new Int32Array(TABLE_SIZE).fill(-1)
  protected next = new Int32Array(0)
  protected addr = new Int32Array(0)
  protected lastUse = new Float64Array(0)
  private freeHead = -1
  private capacity = 0

  constructor(options: SchedulerOptions = {}) {
    const e = options.expiration ?? DEFAULT_EXPIRATION
    if (!(e >= 0)) throw new Error(`lblc/lblcr: expiration must be >= 0 ms, got ${e}`)
    this.expiration = e
  }

  // ---- scheduler hooks: wlc index + half-loaded count ----

  init(pool: DestinationPool): void {
    this.pool = pool
    this.relayout()
  }

  done(): void {
    this.flush()
    this.pool = undefined
    this.nextTick = Number.NaN
  }

  added(d: Destination): void {
    this.refresh(d)
  }

  removed(d: Destination): void {
    this.tree.update(d.slot, false, 0, 0)
    if (this.half[d.slot] === 1) {
      this.half[d.slot] = 0
      this.halfCount--
    }
  }

  updated(d: Destination): void {
    this.refresh(d)
  }

  countersChanged(d: Destination): void {
    this.refresh(d)
  }

  relayout(): void {
    const pool = this.pool!
    this.tree.reset(pool.capacity)
    this.half = new Uint8Array(pool.capacity)
    this.halfCount = 0
    for (let i = pool.head; i < pool.capacity; i++) {
      const d = pool.slots[i]
      if (d === undefined) continue
      this.tree.setLeaf(i, eligible(d), overhead(d), d.weight)
      if (d.activeConnections * 2 < d.weight) {
        this.half[i] = 1
        this.halfCount++
      }
    }
    this.tree.rebuild()
  }

  private refresh(d: Destination): void {
    this.tree.update(d.slot, eligible(d), overhead(d), d.weight)
    const h = d.activeConnections * 2 < d.weight ? 1 : 0
    if (this.half[d.slot] !== h) {
      this.half[d.slot] = h
      this.halfCount += h === 1 ? 1 : -1
    }
  }

  /** The kernel's `is_overloaded`: active > weight and some destination of the service has active * 2 < weight. */
  protected isOverloaded(d: Destination): boolean {
    return d.activeConnections > d.weight && this.halfCount > 0
  }

  /** wlc over the whole service, or undefined. */
  protected wlc(): Destination | undefined {
    const s = this.tree.best()
    return s < 0 ? undefined : this.pool!.slots[s]
  }

  abstract schedule(
    bytes: Uint8Array,
    sourceOffset: number,
    destinationOffset: number,
    sourcePort: number,
    now: number
  ): Pick

  // ---- cache ----

  /** Bucket of an address at `offset` (`hash_32(ntohl(fold), 10)`). */
  protected bucket(bytes: Uint8Array, offset: number): number {
    const w0 = readWord(bytes, offset)
    if (this.pool!.family === 4) return hash32(w0, TABLE_BITS)
    return hash32(
      w0 ^ readWord(bytes, offset + 4) ^ readWord(bytes, offset + 8) ^ readWord(bytes, offset + 12),
      TABLE_BITS
    )
  }

  /** The entry for the address at `offset`, or -1. */
  protected find(bytes: Uint8Array, offset: number, bucket: number): number {
    const v6 = this.pool!.family === 6
    const w0 = readWord(bytes, offset)
    for (let e = this.heads[bucket]!; e >= 0; e = this.next[e]!) {
      const a = e * 4
      if (this.addr[a] !== w0) continue
      if (
        !v6 ||
        (this.addr[a + 1] === readWord(bytes, offset + 4) &&
          this.addr[a + 2] === readWord(bytes, offset + 8) &&
          this.addr[a + 3] === readWord(bytes, offset + 12))
      ) {
        return e
      }
    }
    return -1
  }

  /** Creates an entry at the head of its bucket (hlist_add_head). */
  protected create(bytes: Uint8Array, offset: number, bucket: number, now: number): number {
    if (this.freeHead < 0) this.grow(this.capacity === 0 ? 64 : this.capacity * 2)
    const e = this.freeHead
    this.freeHead = this.next[e]!
    const a = e * 4
    const v6 = this.pool!.family === 6
    this.addr[a] = readWord(bytes, offset)
    this.addr[a + 1] = v6 ? readWord(bytes, offset + 4) : 0
    this.addr[a + 2] = v6 ? readWord(bytes, offset + 8) : 0
    this.addr[a + 3] = v6 ? readWord(bytes, offset + 12) : 0
    this.lastUse[e] = now
    this.next[e] = this.heads[bucket]!
    this.heads[bucket] = e
    this.entries++
    return e
  }

  /** Called when an entry is freed, to drop its payload. */
  protected abstract release(entry: number): void

  private grow(capacity: number): void {
    const old = this.capacity
    const next = new Int32Array(capacity)
    next.set(this.next)
    const addr = new Int32Array(capacity * 4)
    addr.set(this.addr)
    const lastUse = new Float64Array(capacity)
    lastUse.set(this.lastUse)
    this.next = next
    this.addr = addr
    this.lastUse = lastUse
    // New entries join the free list.
    for (let e = capacity - 1; e >= old; e--) {
      next[e] = this.freeHead
      this.freeHead = e
    }
    this.capacity = capacity
    this.grew(capacity)
  }

  /** Lets subclasses grow their payload arrays. */
  protected abstract grew(capacity: number): void

  /** Removes entries of one bucket for which `expired` holds; returns how many. */
  private sweep(bucket: number, now: number, timeout: number): number {
    let removed = 0
    let prev = -1
    let e = this.heads[bucket]!
    while (e >= 0) {
      const nxt = this.next[e]!
      // time_before(now, lastuse + timeout) keeps the entry; otherwise it goes (age >= timeout).
      if (now < this.lastUse[e]! + timeout) {
        prev = e
      } else {
        if (prev < 0) this.heads[bucket] = nxt
        else this.next[prev] = nxt
        this.release(e)
        this.next[e] = this.freeHead
        this.freeHead = e
        this.entries--
        removed++
      }
      e = nxt
    }
    return removed
  }

  /**
   * Runs the GC ticks that are due at `now` (the kernel's 60 s timer, `ip_vs_lblc(r)_check_expire`). Called by
   * every schedule; a director may also call it from its own timer so that no pick pays for a full scan.
   * The first clock value seen starts the timer (the kernel starts it at service creation).
   *
   * @example
   * ```ts
   * setInterval(() => (pool.scheduler as LocalityBasedLeastConnection).tick(performance.now()), 60_000)
   * ```
   */
  tick(now: number): void {
    if (Number.isNaN(this.nextTick)) {
      this.nextTick = now + CHECK_EXPIRE_INTERVAL
      return
    }
    while (now >= this.nextTick) {
      this.checkExpire(this.nextTick)
      this.nextTick += CHECK_EXPIRE_INTERVAL
    }
  }

  /** One timer run at time `t`. */
  checkExpire(t: number): void {
    if (this.counter % COUNT_FOR_FULL_EXPIRATION === 0) {
      let j = this.rover
      for (let i = 0; i < TABLE_SIZE; i++) {
        j = (j + 1) & TABLE_MASK
        this.sweep(j, t, this.expiration)
      }
      this.rover = j
      this.counter = 1
      return
    }
    if (this.entries <= this.maxSize) {
      this.counter++
      return
    }
    let goal = Math.trunc(((this.entries - this.maxSize) * 4) / 3)
    if (goal > this.maxSize / 2) goal = this.maxSize / 2
    let j = this.rover
    for (let i = 0; i < TABLE_SIZE; i++) {
      j = (j + 1) & TABLE_MASK
      goal -= this.sweep(j, t, ENTRY_TIMEOUT)
      if (goal <= 0) break
    }
    this.rover = j
  }

  /** Drops every entry (`ip_vs_lblc(r)_flush`). */
  flush(): void {
    for (let b = 0; b < TABLE_SIZE; b++) {
      let e = this.heads[b]!
      while (e >= 0) {
        const nxt = this.next[e]!
        this.release(e)
        this.next[e] = this.freeHead
        this.freeHead = e
        e = nxt
      }
      this.heads[b] = -1
    }
    this.entries = 0
  }

  /**
   * The cached entries as (address words, last use) for inspection and tests (control plane, allocates).
   */
  cachedAddresses(): Array<{ address: Array<number>; lastUse: number; entry: number }> {
    const out: Array<{ address: Array<number>; lastUse: number; entry: number }> = []
    for (let b = 0; b < TABLE_SIZE; b++) {
      for (let e = this.heads[b]!; e >= 0; e = this.next[e]!) {
        out.push({
          address: Array.from(this.addr.subarray(e * 4, e * 4 + 4), (w) => w >>> 0),
          lastUse: this.lastUse[e]!,
          entry: e
        })
      }
    }
    return out
  }
}

const eligible = (d: Destination): boolean => (d.flags & DestinationFlags.Overload) === 0 && d.weight > 0
const overhead = (d: Destination): number => d.activeConnections * 256 + d.inactiveConnections
