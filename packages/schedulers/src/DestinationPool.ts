/**
 * A virtual service's destination list with its scheduler: newest-first, like the kernel's prepended list.
 *
 * Mirrors `svc->destinations` and the scheduler calls of ip_vs_ctl.c (`__ip_vs_update_dest`, `__ip_vs_del_dest`,
 * `ip_vs_edit_service`). Destinations live in a slot array whose ascending order is the list order: a new
 * destination takes the slot before the current head, so positions never shift when others come and go and the
 * schedulers can keep indexes keyed by position. When the head reaches slot 0 (or the array is mostly holes)
 * the pool renumbers everything once and tells the scheduler (`relayout`), which keeps adds amortised O(1).
 *
 * @module
 */
import { checkSettings, type Destination, DestinationFlags, type DestinationSettings } from "./Destination.ts"
import { pow2AtLeast } from "./internal/Arith.ts"
import type { Pick, Scheduler } from "./Scheduler.ts"
import { defaultRegistry, type SchedulerOptions } from "./SchedulerRegistry.ts"

/**
 * Options for a new pool.
 *
 * @example
 * ```ts
 * const opts: DestinationPoolOptions = { family: 6, scheduler: "mh", flags: ServiceFlags.Port }
 * ```
 */
export interface DestinationPoolOptions {
  /** Service address family: how many address bytes the scheduler reads from the packet (default 4). */
  readonly family?: 4 | 6
  /** A registered scheduler name (default "wlc", the kernel's default) or an instance. */
  readonly scheduler?: string | Scheduler
  /** Service flags ({@link ServiceFlags}): sh/mh fallback and port. */
  readonly flags?: number
  /** Options given to the named scheduler's factory (mh table size, twos random source, lblc expiry, ...). */
  readonly schedulerOptions?: SchedulerOptions
}

const key = (d: Destination) => `${d.family}/${d.address0}/${d.address1}/${d.address2}/${d.address3}/${d.port}`

/**
 * The destinations of one service plus its scheduler; counters of linked destinations reach the scheduler.
 *
 * @example
 * ```ts
 * const pool = new DestinationPool({ scheduler: "wrr" })
 * pool.add(Destination.make("10.0.0.1", 80), { weight: 4 })
 * const r = pool.pick(packet, 26, 30, sourcePort, Date.now())
 * if (r._tag === "Destination") r.bind(ConnectionKind.Active)
 * ```
 */
export class DestinationPool {
  readonly family: 4 | 6
  /** Service flags ({@link ServiceFlags}). */
  flags: number
  /** Slot array; ascending index from {@link head} is the list order (newest first). Holes are undefined. */
  slots: Array<Destination | undefined> = []
  /** Number of slots (a power of two). */
  capacity = 0
  /** Lowest occupied slot boundary: every linked destination has slot >= head. */
  head = 0
  /** Number of linked destinations (the kernel's `num_dests`). */
  size = 0
  private _scheduler: Scheduler
  private readonly byKey = new Map<string, Destination>()

  constructor(options: DestinationPoolOptions = {}) {
    this.family = options.family ?? 4
    this.flags = options.flags ?? 0
    this.resize(16)
    const s = options.scheduler ?? "wlc"
    this._scheduler = typeof s === "string" ? defaultRegistry.make(s, options.schedulerOptions) : s
    this._scheduler.init(this)
  }

  /**
   * The attached scheduler.
   *
   * @example
   * ```ts
   * pool.scheduler.name // "wlc"
   * ```
   */
  get scheduler(): Scheduler {
    return this._scheduler
  }

  /**
   * Replaces the scheduler (`ipvsadm -E -s`): `done` on the old one, `init` on the new one.
   *
   * @example
   * ```ts
   * pool.setScheduler("lc")
   * ```
   */
  setScheduler(scheduler: string | Scheduler, options?: SchedulerOptions): void {
    const next = typeof scheduler === "string" ? defaultRegistry.make(scheduler, options) : scheduler
    this._scheduler.done()
    this._scheduler = next
    next.init(this)
  }

  /**
   * Links a destination at the head of the list (`ipvsadm -a`), applying settings as `__ip_vs_update_dest`.
   *
   * A destination removed earlier can be added again: it keeps its counters (the kernel's trash revival) and
   * goes to the head. Throws when the address/port already exists in the pool or the settings are invalid.
   *
   * @example
   * ```ts
   * pool.add(Destination.make("10.0.0.2", 80), { weight: 2, upperThreshold: 100 })
   * ```
   */
  add(dest: Destination, settings: DestinationSettings = {}): void {
    const problem = checkSettings(settings)
    if (problem !== undefined) throw new Error(`DestinationPool.add ${dest}: ${problem}`)
    if (dest.watcher !== undefined) throw new Error(`DestinationPool.add ${dest}: destination already linked`)
    const k = key(dest)
    if (this.byKey.has(k)) throw new Error(`DestinationPool.add ${dest}: destination already exists`)
    this.apply(dest, settings, true)
    if (this.head === 0) this.relayout(pow2AtLeast(2 * (this.size + 1)))
    const slot = --this.head
    this.slots[slot] = dest
    dest.slot = slot
    dest.watcher = this
    this.size++
    this.byKey.set(k, dest)
    this._scheduler.added(dest)
  }

  /**
   * Changes weight and/or thresholds of a linked destination (`ipvsadm -e`); the list order is unchanged.
   *
   * @example
   * ```ts
   * pool.edit(dest, { weight: 0 }) // quiesce
   * ```
   */
  edit(dest: Destination, settings: DestinationSettings): void {
    const problem = checkSettings(settings)
    if (problem !== undefined) throw new Error(`DestinationPool.edit ${dest}: ${problem}`)
    if (dest.watcher !== this) throw new Error(`DestinationPool.edit ${dest}: destination not in this pool`)
    this.apply(dest, settings, false)
    this._scheduler.updated(dest)
  }

  /**
   * Unlinks a destination (`ipvsadm -d`): it loses AVAILABLE but keeps its counters, so connections still bound
   * to it can unbind safely (they no longer reach any scheduler).
   *
   * @example
   * ```ts
   * pool.remove(dest)
   * ```
   */
  remove(dest: Destination): void {
    if (dest.watcher !== this) throw new Error(`DestinationPool.remove ${dest}: destination not in this pool`)
    const slot = dest.slot
    this.slots[slot] = undefined
    this.size--
    this.byKey.delete(key(dest))
    dest.watcher = undefined
    dest.flags &= ~DestinationFlags.Available
    this._scheduler.removed(dest)
    dest.slot = -1
    if (this.size === 0) {
      this.head = this.capacity
    } else if (slot === this.head) {
      while (this.slots[this.head] === undefined) this.head++
    }
    if (this.capacity > 64 && this.size * 8 < this.capacity) this.relayout(pow2AtLeast(2 * this.size))
  }

  /**
   * Removes every destination (`ipvsadm -C` of one service's list).
   *
   * @example
   * ```ts
   * pool.clear()
   * ```
   */
  clear(): void {
    for (const d of this.destinations()) this.remove(d)
  }

  /**
   * Chooses a destination for a new connection; allocation-free (see {@link Scheduler.schedule}).
   *
   * @example
   * ```ts
   * const r = pool.pick(frame, 26, 30, sport, now)
   * ```
   */
  pick(bytes: Uint8Array, sourceOffset: number, destinationOffset: number, sourcePort: number, now: number): Pick {
    return this._scheduler.schedule(bytes, sourceOffset, destinationOffset, sourcePort, now)
  }

  /**
   * Forwards a linked destination's counter change to the scheduler (see {@link DestinationWatcher}); called by
   * {@link Destination.bind} and friends, not by users.
   *
   * @example
   * ```ts
   * dest.bind(ConnectionKind.Active) // -> pool.countersChanged(dest) -> scheduler index update
   * ```
   */
  countersChanged(dest: Destination): void {
    this._scheduler.countersChanged(dest)
  }

  /**
   * The destinations in list order (newest first), as a new array (control plane).
   *
   * @example
   * ```ts
   * pool.destinations().map(String) // ["10.0.0.3:80", "10.0.0.2:80", "10.0.0.1:80"]
   * ```
   */
  destinations(): Array<Destination> {
    const out: Array<Destination> = []
    for (let i = this.head; i < this.capacity; i++) {
      const d = this.slots[i]
      if (d !== undefined) out.push(d)
    }
    return out
  }

  /**
   * The first destination in list order (the most recently added), or undefined.
   *
   * @example
   * ```ts
   * pool.first()
   * ```
   */
  first(): Destination | undefined {
    for (let i = this.head; i < this.capacity; i++) {
      const d = this.slots[i]
      if (d !== undefined) return d
    }
    return undefined
  }

  /**
   * Finds a linked destination by address text and port.
   *
   * @example
   * ```ts
   * pool.find("10.0.0.1", 80)
   * ```
   */
  find(address: string, port: number): Destination | undefined {
    for (const d of this.byKey.values()) {
      if (d.port === port && (d.toString() === `${address}:${port}` || d.toString() === `[${address}]:${port}`)) {
        return d
      }
    }
    return undefined
  }

  private apply(dest: Destination, s: DestinationSettings, add: boolean): void {
    // Unspecified settings keep the destination's current values (a new Destination starts at weight 1).
    const weight = s.weight ?? dest.weight
    const upper = s.upperThreshold ?? dest.upperThreshold
    const lower = s.lowerThreshold ?? dest.lowerThreshold
    // "keep the last_weight with latest non-0 weight" (ip_vs_ctl.c)
    if (add || weight !== 0) dest.lastWeight = weight
    dest.weight = weight
    dest.flags |= DestinationFlags.Available
    // OVERLOAD is cleared when the new upper threshold is 0 or above the OLD one, not by comparing with the load.
    if (upper === 0 || upper > dest.upperThreshold) dest.flags &= ~DestinationFlags.Overload
    dest.upperThreshold = upper
    dest.lowerThreshold = lower
  }

  private resize(capacity: number): void {
    this.capacity = capacity
    this.slots = new Array<Destination | undefined>(capacity).fill(undefined)
    this.head = capacity
  }

  /** Renumbers linked destinations into the top of a fresh slot array, keeping list order. */
  private relayout(capacity: number): void {
    const live = this.destinations()
    this.resize(capacity)
    let slot = capacity - live.length
    this.head = slot
    for (const d of live) {
      this.slots[slot] = d
      d.slot = slot
      slot++
    }
    this._scheduler.relayout()
  }
}
