/**
 * Per-check latency and start-lateness histograms (beyond keepalived, which only logs "thread timer expired").
 *
 * `lvs_checker_latency_ms{type=TCP_CHECK}` records how long each attempt took (connect, request, script run);
 * `lvs_checker_lateness_ms` records how late each attempt started relative to its schedule, the signal that an
 * overloaded checker is about to flap servers (issue #1955 and friends).
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"

const boundaries = Metric.exponentialBoundaries({ start: 0.25, factor: 2, count: 20 })

const latencies = new Map<string, Metric.Histogram<number>>()

/**
 * The latency histogram of one checker type.
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Metrics } from "@lvs-ts/checkers"
 * const program = Effect.gen(function* () {
 *   yield* Metric.update(Metrics.latency("TCP_CHECK"), 0.4)
 *   return (yield* Metric.value(Metrics.latency("TCP_CHECK"))).count
 * })
 * ```
 * @since 0.1.0
 */
export const latency = (type: string): Metric.Histogram<number> => {
  let m = latencies.get(type)
  if (m === undefined) {
    m = Metric.histogram("lvs_checker_latency_ms", {
      description: "Duration of one health-check attempt in milliseconds",
      attributes: { type },
      boundaries
    })
    latencies.set(type, m)
  }
  return m
}

/**
 * How late check attempts started, in milliseconds.
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Metrics } from "@lvs-ts/checkers"
 * const p = Metric.value(Metrics.lateness)
 * ```
 * @since 0.1.0
 */
export const lateness: Metric.Histogram<number> = Metric.histogram("lvs_checker_lateness_ms", {
  description: "How late a health-check attempt started relative to its schedule, in milliseconds",
  boundaries
})
