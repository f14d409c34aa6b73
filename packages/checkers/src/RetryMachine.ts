/**
 * keepalived's per-checker retry state machine (TCP_CHECK, UDP_CHECK, PING_CHECK, SMTP_CHECK, DNS_CHECK,
 * MISC_CHECK and custom checks), as a pure function of the previous state and one attempt's result.
 *
 * Mirrors `tcp_epilog()` in keepalived 2.4.x (`keepalived/check/check_tcp.c`, same counters in the other checkers):
 * - the very first result decides at once (`retry_it` starts at `retry`), so a single initial failure is enough;
 * - while up, a failure is retried `retry` times `delay_before_retry` apart before the checker goes down;
 * - while down, the check runs every `delay_loop` and a single success brings it up (HEAD behaviour, fixed for
 *   TCP_CHECK in 2.3.3; 2.2.7 still ran its retries while down);
 * - `alpha` starts the checker failed.
 *
 * @since 0.1.0
 */

/**
 * Counters keepalived keeps per checker: `is_up`, `has_run`, `retry_it`.
 *
 * @example
 * ```ts
 * import { RetryMachine } from "@lvs-ts/checkers"
 * const s: RetryMachine.State = RetryMachine.initial({ alpha: false, retry: 3 })
 * console.log(s.up, s.hasRun, s.retryIt) // true false 3
 * ```
 * @since 0.1.0
 */
export interface State {
  readonly up: boolean
  readonly hasRun: boolean
  readonly retryIt: number
}

/**
 * Timing parameters of one checker (already resolved through the VS → RS → checker default cascade).
 *
 * @example
 * ```ts
 * import type { RetryMachine } from "@lvs-ts/checkers"
 * const t: RetryMachine.Timing = { retry: 1, delayBeforeRetryMs: 1000, delayLoopMs: 60000 }
 * ```
 * @since 0.1.0
 */
export interface Timing {
  readonly retry: number
  readonly delayBeforeRetryMs: number
  readonly delayLoopMs: number
}

/**
 * What one result did to the checker.
 * - `Up`: the checker is (now) up and keepalived logs its success line (first result, or a recovery).
 * - `Down`: the checker went down (or the first-ever result failed) and keepalived logs its failure line.
 * - `Retry`: a failure while up with retries left.
 * - `Unchanged`: nothing to report (success while up, failure while down).
 *
 * @example
 * ```ts
 * import { RetryMachine } from "@lvs-ts/checkers"
 * const step = RetryMachine.step(RetryMachine.initial({ alpha: false, retry: 1 }), false, {
 *   retry: 1, delayBeforeRetryMs: 1000, delayLoopMs: 5000
 * })
 * console.log(step.outcome) // "Down"
 * ```
 * @since 0.1.0
 */
export type Outcome = "Up" | "Down" | "Retry" | "Unchanged"

/**
 * The result of feeding one attempt into the machine.
 *
 * `changed` is true when `up` flipped (the real-server layer must be told); `firstFailureLine` is true when
 * keepalived would print the short "… failed." form instead of "… failed after N retries.".
 *
 * @example
 * ```ts
 * import { RetryMachine } from "@lvs-ts/checkers"
 * const t = { retry: 2, delayBeforeRetryMs: 1000, delayLoopMs: 5000 }
 * let s = RetryMachine.initial({ alpha: false, retry: 2 })
 * s = RetryMachine.step(s, true, t).state // first result: success, retry_it reset
 * const r = RetryMachine.step(s, false, t)
 * console.log(r.outcome, r.delayMs) // "Retry" 1000
 * ```
 * @since 0.1.0
 */
export interface Step {
  readonly state: State
  readonly outcome: Outcome
  readonly changed: boolean
  readonly delayMs: number
  readonly shortFailureLine: boolean
}

/**
 * The state a checker starts in: up unless `alpha`, not yet run, `retry_it = retry` so the first result decides.
 *
 * @example
 * ```ts
 * import { RetryMachine } from "@lvs-ts/checkers"
 * console.log(RetryMachine.initial({ alpha: true, retry: 1 }).up) // false
 * ```
 * @since 0.1.0
 */
export const initial = (options: { readonly alpha: boolean; readonly retry: number }): State => ({
  up: !options.alpha,
  hasRun: false,
  retryIt: options.retry
})

/**
 * Feed one attempt's result (`ok`) into the machine; returns the next state, what to log and when to run next.
 *
 * @example
 * ```ts
 * import { RetryMachine } from "@lvs-ts/checkers"
 * const t = { retry: 1, delayBeforeRetryMs: 1000, delayLoopMs: 60000 }
 * const first = RetryMachine.step(RetryMachine.initial({ alpha: false, retry: 1 }), false, t)
 * console.log(first.outcome, first.changed, first.delayMs) // "Down" true 60000
 * ```
 * @since 0.1.0
 */
export const step = (state: State, ok: boolean, timing: Timing): Step => {
  // While down (after the first run) a failure never retries: HEAD re-checks every delay_loop.
  const decide = ok || state.retryIt >= timing.retry || (!state.up && state.hasRun)
  if (!decide) {
    return {
      state: { up: state.up, hasRun: true, retryIt: state.retryIt + 1 },
      outcome: "Retry",
      changed: false,
      delayMs: timing.delayBeforeRetryMs,
      shortFailureLine: false
    }
  }
  if (ok) {
    const report = !state.up || !state.hasRun
    return {
      state: { up: true, hasRun: true, retryIt: 0 },
      outcome: report ? "Up" : "Unchanged",
      changed: !state.up,
      delayMs: timing.delayLoopMs,
      shortFailureLine: false
    }
  }
  const report = state.up || !state.hasRun
  return {
    state: { up: false, hasRun: true, retryIt: 0 },
    outcome: report ? "Down" : "Unchanged",
    changed: state.up,
    delayMs: timing.delayLoopMs,
    shortFailureLine: !(timing.retry > 0 && state.hasRun)
  }
}
