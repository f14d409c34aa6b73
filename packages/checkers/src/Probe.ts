/**
 * The result of one check attempt, shared by every checker type.
 *
 * A failure carries the keepalived per-attempt cause line (logged only with `log_all_failures`, as keepalived
 * does) and a machine-readable reason; a success may carry a dynamic weight (MISC_CHECK `misc_dynamic`,
 * FILE_CHECK).
 *
 * @since 0.1.0
 */

/**
 * Why an attempt failed.
 *
 * @example
 * ```ts
 * import type { Probe } from "@lvs-ts/checkers"
 * const r: Probe.Reason = "Timeout"
 * ```
 * @since 0.1.0
 */
export type Reason =
  | "Timeout"
  | "Refused"
  | "Unreachable"
  | "ConnectError"
  | "NoData"
  | "StatusCode"
  | "Digest"
  | "Regex"
  | "BadBanner"
  | "BadHelo"
  | "BadReply"
  | "ExitCode"
  | "Killed"
  | "BindError"
  | "Error"

/**
 * Outcome of one attempt.
 *
 * @example
 * ```ts
 * import type { Probe } from "@lvs-ts/checkers"
 * const ok: Probe.Result = { ok: true }
 * const ko: Probe.Result = { ok: false, reason: "Refused", message: "TCP connection to [127.0.0.1]:tcp:1 failed." }
 * ```
 * @since 0.1.0
 */
export type Result =
  | {
      readonly ok: true
      /** Dynamic weight contribution to add to the real server (replaces the previous one of this checker). */
      readonly contribution?: number | undefined
      readonly message?: string | undefined
    }
  | {
      readonly ok: false
      readonly reason: Reason
      /** keepalived's per-attempt cause line. */
      readonly message: string
      /** Dynamic weight contribution after this failure (FILE_CHECK); the health checker resets it to 0. */
      readonly contribution?: number | undefined
    }

/**
 * A successful result.
 *
 * @example
 * ```ts
 * import { Probe } from "@lvs-ts/checkers"
 * console.log(Probe.success().ok) // true
 * ```
 * @since 0.1.0
 */
export const success = (message?: string, contribution?: number): Result => ({ ok: true, message, contribution })

/**
 * A failed result with its reason and keepalived cause line.
 *
 * @example
 * ```ts
 * import { Probe } from "@lvs-ts/checkers"
 * console.log(Probe.failure("Timeout", "TCP connection to [10.0.0.2]:tcp:80 timedout.").ok) // false
 * ```
 * @since 0.1.0
 */
export const failure = (reason: Reason, message: string, contribution?: number): Result => ({
  ok: false,
  reason,
  message,
  contribution
})
