import * as Effect from "effect/Effect"
import type * as Config from "../Config.ts"
import * as Probe from "../Probe.ts"
import * as TcpCheck from "../TcpCheck.ts"
import { deadline } from "./deadline.ts"

/** What a probe may need besides its resolved options. */
export interface Context {
  readonly url: number
  readonly realServerWeight: number
  readonly realServer: string
  readonly virtualServer: string
  readonly label: string
}

/** One attempt of any checker type. */
export const probeFor = (r: Config.Resolved, ctx: Context): Effect.Effect<Probe.Result> => {
  const c = r.checker
  switch (c.type) {
    case "TCP_CHECK":
      return TcpCheck.probe(r)
    case "CUSTOM":
      return c.probe.pipe(
        Effect.catchCause(() => Effect.succeed(Probe.failure("Error", `${c.name} on service ${ctx.label} failed.`))),
        deadline(r.connectTimeoutMs, () => Probe.failure("Timeout", `${c.name} on service ${ctx.label} timed out.`))
      )
    default:
      return Effect.succeed(Probe.failure("Error", `${c.type} is not supported`))
  }
}
