/**
 * TCP_CHECK: a connect to `connect_ip:connect_port` (default the real server), optionally from `bindto:bind_port`,
 * that must complete within `connect_timeout`; the connection is closed at once.
 *
 * Mirrors `keepalived/check/check_tcp.c`: per-attempt lines "TCP connection to [ip]:tcp:port timedout." /
 * "… failed." (logged with log_all_failures), transition lines in {@link Log}.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Config from "./Config.ts"
import * as Endpoint from "./Endpoint.ts"
import { deadline } from "./internal/deadline.ts"
import { connect } from "./internal/net.ts"
import * as Probe from "./Probe.ts"

/**
 * One TCP_CHECK attempt against a resolved checker.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Config, TcpCheck } from "@lvs-ts/checkers"
 * const r = Config.resolve({ realServers: [] }, { address: "127.0.0.1", port: 1, checkers: [] }, { type: "TCP_CHECK" })
 * Effect.runPromise(TcpCheck.probe(r)).then((res) => console.log(res.ok)) // false (refused)
 * ```
 * @since 0.1.0
 */
export const probe = (r: Config.Resolved): Effect.Effect<Probe.Result> => {
  const c = r.checker as Config.Connection
  const label = Endpoint.format(r.host, "tcp", r.port)
  return Effect.scoped(
    connect({ host: r.host, port: r.port, bindTo: c.bindTo, bindPort: c.bindPort, bindIf: c.bindIf })
  ).pipe(
    Effect.as(Probe.success()),
    Effect.catch((f) => Effect.succeed(Probe.failure(f.reason, `TCP connection to ${label} failed.`))),
    deadline(r.connectTimeoutMs, () => Probe.failure("Timeout", `TCP connection to ${label} timedout.`))
  )
}
