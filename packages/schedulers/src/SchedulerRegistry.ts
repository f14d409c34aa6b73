/**
 * Schedulers by name: the fourteen kernel ones pre-registered, plus any custom scheduler you register.
 *
 * Mirrors `register_ip_vs_scheduler` / `ip_vs_scheduler_get` (ip_vs_sched.c): a pool created with
 * `scheduler: "name"` gets a fresh instance from the factory registered under that name, like the kernel's
 * per-service `sched_data`.
 *
 * @module
 */
import { DestinationHashing } from "./DestinationHashing.ts"
import { LeastConnection } from "./LeastConnection.ts"
import { LocalityBasedLeastConnection } from "./LocalityBasedLeastConnection.ts"
import { LocalityBasedLeastConnectionReplication } from "./LocalityBasedLeastConnectionReplication.ts"
import { MaglevHashing } from "./MaglevHashing.ts"
import { NeverQueue } from "./NeverQueue.ts"
import { RoundRobin } from "./RoundRobin.ts"
import type { Scheduler } from "./Scheduler.ts"
import { ShortestExpectedDelay } from "./ShortestExpectedDelay.ts"
import { SourceHashing } from "./SourceHashing.ts"
import { TwoChoices } from "./TwoChoices.ts"
import { WeightedFailover } from "./WeightedFailover.ts"
import { WeightedLeastConnection } from "./WeightedLeastConnection.ts"
import { WeightedOverflow } from "./WeightedOverflow.ts"
import { WeightedRoundRobin } from "./WeightedRoundRobin.ts"

/**
 * Options a factory may use; each scheduler reads only its own.
 *
 * @example
 * ```ts
 * const opts: SchedulerOptions = { tableSize: 65521, random: (n) => Math.floor(Math.random() * n) }
 * ```
 */
export interface SchedulerOptions {
  /** sh/dh: table bits (CONFIG_IP_VS_SH_TAB_BITS / DH_TAB_BITS), 1..20, default 8 (256 buckets). */
  readonly tableBits?: number
  /** mh: table size, one of 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071 (default 4093). */
  readonly tableSize?: number
  /** twos: uniform integer in [0, bound) (the kernel's get_random_u32_below); default uses Math.random. */
  readonly random?: (bound: number) => number
  /** lblc/lblcr: entry expiration in ms (sysctl lblc_expiration / lblcr_expiration), default 24 h. */
  readonly expiration?: number
}

/**
 * Makes a scheduler instance for one pool.
 *
 * @example
 * ```ts
 * const factory: SchedulerFactory = (o) => new MaglevHashing(o)
 * ```
 */
export type SchedulerFactory = (options: SchedulerOptions) => Scheduler

/**
 * A name -> factory table.
 *
 * @example
 * ```ts
 * defaultRegistry.register("first", () => new FirstAvailable())
 * const pool = new DestinationPool({ scheduler: "first" })
 * ```
 */
export class SchedulerRegistry {
  private readonly factories = new Map<string, SchedulerFactory>()

  /**
   * Registers (or replaces) a factory under `name` (the kernel refuses duplicates with EEXIST; replacing is
   * allowed here so tests and embedders can override, and `has` tells whether a name is taken).
   *
   * @example
   * ```ts
   * registry.register("rr2", () => new RoundRobin())
   * ```
   */
  register(name: string, factory: SchedulerFactory): void {
    if (name.length === 0 || name.length > 15) {
      throw new Error(
        `SchedulerRegistry.register: name must be 1..15 characters (IP_VS_SCHEDNAME_MAXLEN), got "${name}"`
      )
    }
    this.factories.set(name, factory)
  }

  /**
   * Removes a registration.
   *
   * @example
   * ```ts
   * registry.unregister("rr2")
   * ```
   */
  unregister(name: string): boolean {
    return this.factories.delete(name)
  }

  /**
   * Whether `name` is registered.
   *
   * @example
   * ```ts
   * defaultRegistry.has("wlc") // true
   * ```
   */
  has(name: string): boolean {
    return this.factories.has(name)
  }

  /**
   * The registered names.
   *
   * @example
   * ```ts
   * defaultRegistry.names().length // 14
   * ```
   */
  names(): Array<string> {
    return [...this.factories.keys()]
  }

  /**
   * A new instance of the named scheduler; throws naming the unknown scheduler (ipvsadm: "Scheduler not found").
   *
   * @example
   * ```ts
   * const s = defaultRegistry.make("mh", { tableSize: 65521 })
   * ```
   */
  make(name: string, options: SchedulerOptions = {}): Scheduler {
    const f = this.factories.get(name)
    if (f === undefined) throw new Error(`Scheduler not found: "${name}" (known: ${this.names().join(", ")})`)
    return f(options)
  }
}

/**
 * The process-wide registry used by {@link DestinationPool} for scheduler names.
 *
 * @example
 * ```ts
 * defaultRegistry.make("wlc").name // "wlc"
 * ```
 */
export const defaultRegistry: SchedulerRegistry = new SchedulerRegistry()
defaultRegistry.register("rr", () => new RoundRobin())
defaultRegistry.register("wrr", () => new WeightedRoundRobin())
defaultRegistry.register("lc", () => new LeastConnection())
defaultRegistry.register("wlc", () => new WeightedLeastConnection())
defaultRegistry.register("sed", () => new ShortestExpectedDelay())
defaultRegistry.register("nq", () => new NeverQueue())
defaultRegistry.register("fo", () => new WeightedFailover())
defaultRegistry.register("ovf", () => new WeightedOverflow())
defaultRegistry.register("twos", (o) => new TwoChoices(o))
defaultRegistry.register("sh", (o) => new SourceHashing(o))
defaultRegistry.register("dh", (o) => new DestinationHashing(o))
defaultRegistry.register("mh", (o) => new MaglevHashing(o))
defaultRegistry.register("lblc", (o) => new LocalityBasedLeastConnection(o))
defaultRegistry.register("lblcr", (o) => new LocalityBasedLeastConnectionReplication(o))
