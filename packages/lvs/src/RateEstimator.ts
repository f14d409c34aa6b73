/**
 * The kernel's rate estimator (ip_vs_est.c, ipvs.md §2.9): every 2 seconds, per counter, the 2-second
 * delta becomes a per-second rate and `avg += (rate - avg) / 4`; connection and packet rates are kept
 * scaled by 2^10, byte rates by 2^5, and exported rounded `(x + 0x1FF) >> 10` / `(x + 0xF) >> 5` — what
 * `ipvsadm -L --rate` shows.
 *
 * Plain synchronous code over typed arrays: the director's control plane calls {@link RateEstimator.sample}
 * from an Effect schedule (so tests drive it with `TestClock`), reading the counters the data plane
 * writes into shared memory.
 *
 * @module
 */

/**
 * Rate fields, in the order of the counters they are estimated from.
 *
 * @example
 * ```ts
 * estimator.rate(slot, RateEstimator.Rate.cps)
 * ```
 */
export const Rate = { cps: 0, inpps: 1, outpps: 2, inbps: 3, outbps: 4, FIELDS: 5 } as const

/**
 * The estimation period in ms (the kernel's 2 s).
 *
 * @example
 * ```ts
 * Effect.repeat(sample, Schedule.spaced(RateEstimator.INTERVAL_MS))
 * ```
 */
export const INTERVAL_MS = 2000

/**
 * Estimator state for `slots` counter groups of five counters (conns, inpkts, outpkts, inbytes, outbytes).
 *
 * @example
 * ```ts
 * const est = new RateEstimator.RateEstimator(16)
 * est.sample(totals) // totals[slot * 5 + field], cumulative
 * est.rate(0, RateEstimator.Rate.cps)
 * ```
 */
export class RateEstimator {
  readonly slots: number
  private readonly last: Float64Array
  private readonly avg: Float64Array
  private primed: Uint8Array

  constructor(slots: number) {
    this.slots = slots
    this.last = new Float64Array(slots * Rate.FIELDS)
    this.avg = new Float64Array(slots * Rate.FIELDS)
    this.primed = new Uint8Array(slots)
  }

  /**
   * One 2-second step over cumulative totals (`totals[slot * 5 + field]`). The first sample of a slot only
   * records the totals (the kernel starts estimation when the service or destination is added).
   */
  sample(totals: ArrayLike<number>): void {
    for (let s = 0; s < this.slots; s++) {
      const base = s * Rate.FIELDS
      if (this.primed[s] === 0) {
        for (let f = 0; f < Rate.FIELDS; f++) this.last[base + f] = totals[base + f] ?? 0
        this.primed[s] = 1
        continue
      }
      for (let f = 0; f < Rate.FIELDS; f++) {
        const total = totals[base + f] ?? 0
        const delta = Math.max(0, total - this.last[base + f]!)
        this.last[base + f] = total
        // Per-second rate, scaled: 2^10 for conns/packets (delta << 9 over 2 s), 2^5 for bytes (delta << 4).
        const rate = f < Rate.inbps ? delta * 512 : delta * 16
        const avg = this.avg[base + f]!
        this.avg[base + f] = avg + Math.trunc((rate - avg) / 4)
      }
    }
  }

  /** The exported (rounded, unscaled) rate of a slot's field. */
  rate(slot: number, field: number): number {
    const x = this.avg[slot * Rate.FIELDS + field] ?? 0
    return field < Rate.inbps ? Math.floor((x + 0x1ff) / 1024) : Math.floor((x + 0xf) / 32)
  }

  /** Restarts estimation of a slot (`ipvsadm -Z`, or a slot given to a new service/destination). */
  reset(slot: number): void {
    this.primed[slot] = 0
    this.avg.fill(0, slot * Rate.FIELDS, (slot + 1) * Rate.FIELDS)
  }
}
