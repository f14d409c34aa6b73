import * as Effect from "effect/Effect"
import type * as Config from "../Config.ts"
import * as DnsCheck from "../DnsCheck.ts"
import * as FileCheck from "../FileCheck.ts"
import * as HttpCheck from "../HttpCheck.ts"
import * as MiscCheck from "../MiscCheck.ts"
import * as PingCheck from "../PingCheck.ts"
import * as Probe from "../Probe.ts"
import * as SmtpCheck from "../SmtpCheck.ts"
import * as TcpCheck from "../TcpCheck.ts"
import * as UdpCheck from "../UdpCheck.ts"
import { deadline } from "./deadline.ts"

/** What a probe may need besides its resolved options. */
export interface Context {
  readonly realServerWeight: number
  readonly realServer: string
  readonly virtualServer: string
  readonly label: string
}

/** One attempt of any checker type. */
export const probeFor = (r: Config.Resolved, ctx: Context, url: number): Effect.Effect<Probe.Result> => {
  const c = r.checker
  switch (c.type) {
    case "TCP_CHECK":
      return TcpCheck.probe(r)
    case "HTTP_GET":
    case "SSL_GET":
      return HttpCheck.probe(r, url)
    case "SMTP_CHECK":
      return SmtpCheck.probe(r)
    case "DNS_CHECK":
      return DnsCheck.probe(r)
    case "UDP_CHECK":
      return UdpCheck.probe(r)
    case "PING_CHECK":
      return PingCheck.probe(r, ctx.label).pipe(
        deadline(r.connectTimeoutMs, () => Probe.failure("Timeout", `PING_CHECK on service ${ctx.label} timed out.`))
      )
    case "MISC_CHECK":
      return MiscCheck.probe(r, ctx)
    case "FILE_CHECK":
      return FileCheck.probe(r, ctx.label)
    case "CUSTOM":
      return c.probe.pipe(
        Effect.catchCause(() => Effect.succeed(Probe.failure("Error", `${c.name} on service ${ctx.label} failed.`))),
        deadline(r.connectTimeoutMs, () => Probe.failure("Timeout", `${c.name} on service ${ctx.label} timed out.`))
      )
  }
}
