import * as Effect from "effect/Effect"
import type * as Probe from "../Probe.ts"

/**
 * Bound a whole attempt by one deadline on Effect's Clock (keepalived only bounds each read, which let slowly
 * trickled responses hang a check: issue #1822). On expiry the attempt is interrupted, which closes its Scope
 * and therefore its socket or child process.
 */
export const deadline =
  (ms: number, onTimeout: () => Probe.Result) =>
  <R>(self: Effect.Effect<Probe.Result, never, R>): Effect.Effect<Probe.Result, never, R> =>
    Effect.timeoutOrElse(self, { duration: ms, orElse: () => Effect.sync(onTimeout) })
