/**
 * keepalived's HTTP_GET / SSL_GET url-by-url cycle and retry machine, as a pure function.
 *
 * Mirrors `epilog()` / `timeout_epilog()` of `keepalived/check/check_http.c` (2.4.x):
 * - one url is fetched per cycle, `delay_loop` apart; all urls must pass;
 * - the checker is declared up ("Remote Web server … succeed on service.") only after a complete pass;
 * - a failing url is retried `retry` times `delay_before_retry` apart; during the first pass any failure is final
 *   at once (`retry_it` is held at `retry` until the checker has run), and the transition line already says
 *   "after N retries" when `retry` ≥ 1;
 * - once down only the failed url is polled, every max(`delay_before_retry`, `delay_loop`); when it passes all urls
 *   are rechecked from the first;
 * - `fast_recovery` removes the `delay_loop` gaps before the first complete pass and while recovering.
 *
 * Deliberate difference: keepalived leaves `failed_url` unset when a url fails while the checker is already down
 * during the recheck-from-first pass, which makes it poll at `delay_before_retry` (and spin with `fast_recovery`);
 * here that url becomes the failed url and is polled like any other.
 *
 * @since 0.1.0
 */
import type * as RetryMachine from "./RetryMachine.ts"

/**
 * Checker counters plus the url iterator and the failed url.
 *
 * @example
 * ```ts
 * import { UrlCycle } from "@lvs-ts/checkers"
 * const s: UrlCycle.State = UrlCycle.initial({ alpha: false, retry: 1 })
 * console.log(s.url, s.failedUrl) // 0 undefined
 * ```
 * @since 0.1.0
 */
export interface State extends RetryMachine.State {
  readonly url: number
  readonly failedUrl: number | undefined
}

/**
 * Timing of an HTTP/SSL checker: the retry timing plus the url count and `fast_recovery`.
 *
 * @example
 * ```ts
 * import type { UrlCycle } from "@lvs-ts/checkers"
 * const t: UrlCycle.Timing = { retry: 1, delayBeforeRetryMs: 3000, delayLoopMs: 10000, urls: 2, fastRecovery: false }
 * ```
 * @since 0.1.0
 */
export interface Timing extends RetryMachine.Timing {
  readonly urls: number
  readonly fastRecovery: boolean
}

/**
 * Result of feeding one url's result into the cycle (see {@link RetryMachine.Step}); `failedAfter` is the retry
 * count keepalived prints in "HTTP_CHECK on service … failed after N retries.".
 *
 * @example
 * ```ts
 * import { UrlCycle } from "@lvs-ts/checkers"
 * const t = { retry: 1, delayBeforeRetryMs: 3000, delayLoopMs: 10000, urls: 1, fastRecovery: false }
 * const r = UrlCycle.step(UrlCycle.initial({ alpha: false, retry: 1 }), true, t)
 * console.log(r.outcome) // "Up"
 * ```
 * @since 0.1.0
 */
export interface Step {
  readonly state: State
  readonly outcome: RetryMachine.Outcome
  readonly changed: boolean
  readonly delayMs: number
  readonly shortFailureLine: boolean
  readonly failedAfter: number
}

/**
 * Initial state: url 0, up unless `alpha`, `retry_it = retry` so failures during the first pass are final.
 *
 * @example
 * ```ts
 * import { UrlCycle } from "@lvs-ts/checkers"
 * console.log(UrlCycle.initial({ alpha: true, retry: 2 }).up) // false
 * ```
 * @since 0.1.0
 */
export const initial = (options: { readonly alpha: boolean; readonly retry: number }): State => ({
  up: !options.alpha,
  hasRun: false,
  retryIt: options.retry,
  url: 0,
  failedUrl: undefined
})

/**
 * Feed the result of fetching url `state.url` into the cycle.
 *
 * @example
 * ```ts
 * import { UrlCycle } from "@lvs-ts/checkers"
 * const t = { retry: 0, delayBeforeRetryMs: 3000, delayLoopMs: 10000, urls: 2, fastRecovery: false }
 * const a = UrlCycle.step(UrlCycle.initial({ alpha: false, retry: 0 }), true, t)
 * console.log(a.state.url, a.delayMs, a.outcome) // 1 10000 "Unchanged"
 * ```
 * @since 0.1.0
 */
export const step = (state: State, ok: boolean, timing: Timing): Step => {
  let { up, hasRun, retryIt, url, failedUrl } = state
  let outcome: RetryMachine.Outcome = "Unchanged"
  let changed = false
  let shortFailureLine = false
  let failedAfter = 0
  let delayMs: number
  if (ok) {
    const next = url + 1 < timing.urls ? url + 1 : undefined
    retryIt = 0
    if (next === undefined && failedUrl === undefined) {
      // A complete pass of all urls.
      if (!up || !hasRun) {
        outcome = "Up"
        changed = !up
        up = true
        hasRun = true
      }
      url = 0
    } else if (failedUrl !== undefined) {
      // The failed url passes again: recheck everything from the first url.
      failedUrl = undefined
      url = 0
    } else {
      url = next ?? 0
    }
    delayMs = timing.delayLoopMs
    if (!hasRun) retryIt = timing.retry
  } else if (up || !hasRun) {
    hasRun = true
    retryIt++
    if (retryIt > timing.retry) {
      outcome = "Down"
      changed = up
      shortFailureLine = timing.retry === 0
      failedAfter = retryIt - 1
      up = false
      failedUrl = url
      delayMs = Math.max(timing.delayBeforeRetryMs, timing.delayLoopMs)
    } else {
      outcome = "Retry"
      delayMs =
        failedUrl !== undefined ? Math.max(timing.delayBeforeRetryMs, timing.delayLoopMs) : timing.delayBeforeRetryMs
    }
  } else {
    // Already known dead: no retries, keep polling this url.
    failedUrl = url
    delayMs = Math.max(timing.delayBeforeRetryMs, timing.delayLoopMs)
  }
  if (timing.fastRecovery && (!hasRun || (!up && failedUrl === undefined))) delayMs = 0
  return {
    state: { up, hasRun, retryIt, url, failedUrl },
    outcome,
    changed,
    delayMs,
    shortFailureLine,
    failedAfter
  }
}
