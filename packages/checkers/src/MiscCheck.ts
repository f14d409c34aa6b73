/**
 * MISC_CHECK: run `misc_path` (argv, no shell) and judge its exit status.
 *
 * Mirrors `keepalived/check/check_misc.c`: exit 0 = success, anything else = failure; with `misc_dynamic`
 * 1 = failure and 2–255 = success with the real server's weight set to exit − 2 (the checker contributes
 * exit − 2 − configured weight, so several dynamic checkers add up); `misc_timeout` (default delay_loop)
 * sends SIGTERM to the process group and SIGKILL 2 s later, and counts as a failure; a failure or timeout resets
 * the dynamic contribution (the weight leak fixed upstream in issue #2720 cannot happen). Retry defaults to 0
 * and the next run is scheduled from the start of the previous one (see {@link HealthChecker}).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Config from "./Config.ts"
import * as Probe from "./Probe.ts"
import * as Script from "./Script.ts"

/**
 * Interpret an exit status as keepalived does; `configuredWeight` is the real server's weight.
 *
 * @example
 * ```ts
 * import { MiscCheck } from "@lvs-ts/checkers"
 * console.log(MiscCheck.interpret(7, true, 1)) // { ok: true, contribution: 4 }
 * console.log(MiscCheck.interpret(1, true, 1)) // { ok: false, contribution: undefined }
 * ```
 * @since 0.1.0
 */
export const interpret = (
  exitCode: number,
  dynamic: boolean,
  configuredWeight: number
): { readonly ok: boolean; readonly contribution: number | undefined } => {
  if (exitCode === 0) return { ok: true, contribution: dynamic ? 0 : undefined }
  if (!dynamic || exitCode === 1) return { ok: false, contribution: undefined }
  return { ok: true, contribution: Math.min(exitCode, 255) - 2 - configuredWeight }
}

/**
 * One MISC_CHECK run. `who` is keepalived's "[RS VS VS]" text.
 *
 * @example
 * ```ts
 * import { Config, MiscCheck } from "@lvs-ts/checkers"
 * const r = Config.resolve({ realServers: [] }, { address: "10.0.0.2", port: 80, checkers: [] },
 *   { type: "MISC_CHECK", path: ["/usr/local/bin/check", "10.0.0.2"], dynamic: true })
 * const attempt = MiscCheck.probe(r, { realServer: "[10.0.0.2]:tcp:80", virtualServer: "[192.0.2.1]:tcp:80", realServerWeight: 1 })
 * ```
 * @since 0.1.0
 */
export const probe = (
  r: Config.Resolved,
  who: { readonly realServer: string; readonly virtualServer: string; readonly realServerWeight: number }
): Effect.Effect<Probe.Result> => {
  const c = r.checker
  if (c.type !== "MISC_CHECK") return Effect.succeed(Probe.failure("Error", `${c.type} is not MISC_CHECK`))
  const text = `Misc check for [${who.realServer} VS ${who.virtualServer}] by [${c.path.join(" ")}]`
  const timeoutMs = c.timeout !== undefined ? Math.max(1, Duration.toMillis(c.timeout)) : r.delayLoopMs
  return Script.run(c.path, { timeoutMs, uid: c.uid, gid: c.gid }).pipe(
    Effect.map((o) => {
      if (o.timedOut) return Probe.failure("Timeout", `${text} timed_out.`)
      if (o.error !== undefined) return Probe.failure("Error", `${text} failed: ${o.error}.`)
      if (o.exitCode === null) return Probe.failure("Killed", `${text} failed (killed by ${o.signal}).`)
      const v = interpret(o.exitCode, c.dynamic ?? false, who.realServerWeight)
      return v.ok
        ? Probe.success(`${text} succeeded.`, v.contribution)
        : Probe.failure("ExitCode", `${text} failed (exit status ${o.exitCode}).`)
    })
  )
}
