/**
 * twos: weighted random "power of two choices" (ip_vs_twos.c, Linux 6.x).
 *
 * @module
 */
import { type Destination, DestinationFlags } from "./Destination.ts"
import type { DestinationPool } from "./DestinationPool.ts"
import { SumTree } from "./internal/SumTree.ts"
import { noDestinationAvailable, type Pick, type Scheduler } from "./Scheduler.ts"
import type { SchedulerOptions } from "./SchedulerRegistry.ts"

/**
 * Two weighted random picks, keep the less loaded one.
 *
 * Kernel rule: total = sum of weights of destinations not OVERLOAD with weight > 0 (0 -> none); r1, r2 =
 * random in [0, total] (two calls to the random source with bound total + 1, r1 first); walking the list and
 * subtracting each eligible weight, the first destination where a remainder drops to <= 0 is choice1 /
 * choice2; return choice2 iff weight2 * overhead1 > weight1 * overhead2. The products and the overhead are
 * computed in 32-bit signed arithmetic exactly like the kernel's `int`s (wrapping). The total is exact (the
 * kernel's int sum would overflow beyond 2^31 - 1 total weight). The walk is replaced by an 8-ary sum tree over
 * list positions: the first position whose prefix sum of eligible weights reaches r (r = 0 -> the first one).
 *
 * @example
 * ```ts
 * const pool = new DestinationPool({ scheduler: "twos", schedulerOptions: { random: (n) => n - 1 } })
 * ```
 */
export class TwoChoices implements Scheduler {
  readonly name = "twos"
  private pool: DestinationPool | undefined = undefined
  private readonly sums = new SumTree()
  private readonly random: (bound: number) => number

  constructor(options: SchedulerOptions = {}) {
    this.random = options.random ?? makeDefaultRandom()
  }

  init(pool: DestinationPool): void {
    this.pool = pool
    this.relayout()
  }

  done(): void {
    this.pool = undefined
  }

  added(d: Destination): void {
    this.sums.update(d.slot, value(d))
  }

  removed(d: Destination): void {
    this.sums.update(d.slot, 0)
  }

  updated(d: Destination): void {
    this.sums.update(d.slot, value(d))
  }

  countersChanged(d: Destination): void {
    this.sums.update(d.slot, value(d))
  }

  relayout(): void {
    const pool = this.pool!
    this.sums.reset(pool.capacity)
    for (let i = pool.head; i < pool.capacity; i++) {
      const d = pool.slots[i]
      if (d !== undefined) this.sums.update(i, value(d))
    }
  }

  schedule(_b: Uint8Array, _s: number, _d: number, _p: number, _n: number): Pick {
    const total = this.sums.total
    if (total === 0) return noDestinationAvailable
    // A misbehaving injected source is clamped into [1, total] rather than crashing the data path.
    let r1 = this.random(total + 1)
    let r2 = this.random(total + 1)
    r1 = r1 >= 1 ? Math.min(r1, total) : 1 // also maps NaN to 1
    r2 = r2 >= 1 ? Math.min(r2, total) : 1
    const slots = this.pool!.slots
    const d1 = slots[this.sums.firstPrefixAtLeast(r1)]!
    const d2 = slots[this.sums.firstPrefixAtLeast(r2)]!
    const oh1 = ((d1.activeConnections << 8) + d1.inactiveConnections) | 0
    const oh2 = ((d2.activeConnections << 8) + d2.inactiveConnections) | 0
    return Math.imul(d2.weight, oh1) > Math.imul(d1.weight, oh2) ? d2 : d1
  }
}

const value = (d: Destination): number => ((d.flags & DestinationFlags.Overload) === 0 && d.weight > 0 ? d.weight : 0)

/**
 * The default random source: xorshift128 seeded from the system CSPRNG, unbiased below `bound` by rejection
 * like the kernel's get_random_u32_below. Integer-only, so it returns small integers without boxing doubles
 * (a Math.random-based source allocated a heap number per call in the benchmark).
 */
const makeDefaultRandom = (): ((bound: number) => number) => {
  const st = new Int32Array(4)
  crypto.getRandomValues(st)
  if ((st[0]! | st[1]! | st[2]! | st[3]!) === 0) st[0] = 1
  const next = (): number => {
    let t = st[3]!
    const s0 = st[0]!
    st[3] = st[2]!
    st[2] = st[1]!
    st[1] = s0
    t ^= t << 11
    t ^= t >>> 8
    st[0] = t ^ s0 ^ (s0 >>> 19)
    return st[0]!
  }
  return (bound: number): number => {
    if (bound <= 1) return 0
    const limit = 4294967296 - (4294967296 % bound)
    // next() is a signed int32 (no boxing across the call); >>> 0 makes it the u32 the kernel draws.
    let x = next() >>> 0
    while (x >= limit) x = next() >>> 0
    return x % bound
  }
}
