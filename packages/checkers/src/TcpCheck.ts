/**
 * TCP_CHECK: a connect to `connect_ip:connect_port` (default the real server), optionally from `bindto:bind_port`,
 * that must complete within `connect_timeout`; the connection is closed at once.
 *
 * Mirrors `keepalived/check/check_tcp.c`: per-attempt lines "TCP connection to [ip]:tcp:port timedout." /
 * "… failed." (logged with log_all_failures), transition lines in {@link Log}.
 *
 * @since 0.1.0
 */

import * as net from "node:net"
import * as Effect from "effect/Effect"
import type * as Config from "./Config.ts"
import * as Endpoint from "./Endpoint.ts"
import { reasonOf } from "./internal/net.ts"
import * as Probe from "./Probe.ts"
import * as TcpEngine from "./TcpEngine.ts"

/**
 * One TCP_CHECK attempt against a resolved checker.
 *
 * This is the hot path of a large farm (one connect per real server per delay_loop), so it is a single
 * `Effect.callback`: the socket and its connect timer exist only inside it, and its cleanup (run on success,
 * failure, timeout and interruption alike) destroys both, so nothing can leak, at a fraction of the cost of a
 * Scope + acquireRelease + timeout pipeline per check.
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
  const host = c.bindIf !== undefined && r.host.toLowerCase().startsWith("fe80:") ? `${r.host}%${c.bindIf}` : r.host
  return Effect.callback<Probe.Result>((resume) => {
    const socket = net.connect({
      host,
      port: r.port,
      ...(c.bindTo !== undefined ? { localAddress: c.bindTo } : {}),
      ...(c.bindPort !== undefined ? { localPort: c.bindPort } : {})
    })
    let done = false
    const finish = (result: Probe.Result) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resume(Effect.succeed(result))
    }
    // When the event loop lags, the timer can fire while the connect completion is still queued for the poll
    // phase: decide only after that phase (setImmediate) so a lagging checker does not fail healthy servers.
    const timer = setTimeout(
      () => setImmediate(() => finish(Probe.failure("Timeout", `TCP connection to ${label} timedout.`))),
      r.connectTimeoutMs
    )
    socket.on("error", (e: NodeJS.ErrnoException) =>
      finish(Probe.failure(reasonOf(e.code), `TCP connection to ${label} failed.`))
    )
    socket.once("connect", () => finish(Probe.success()))
    return Effect.sync(() => {
      done = true
      clearTimeout(timer)
      socket.destroy()
    })
  })
}

const OK = Probe.success()

/**
 * The result of an engine completion code, with the same reasons and keepalived cause lines as {@link probe}:
 * "TCP connection to [ip]:tcp:port timedout." on `connect_timeout`, "… failed." on any connect error.
 *
 * @example
 * ```ts
 * import { TcpCheck, TcpEngine } from "@lvs-ts/checkers"
 * console.log(TcpCheck.resultOf(TcpEngine.CODE_TIMEOUT, "[10.0.0.2]:tcp:80").message)
 * ```
 * @since 0.2.0
 */
export const resultOf = (code: number, label: string): Probe.Result =>
  code === TcpEngine.CODE_OK
    ? OK
    : code === TcpEngine.CODE_TIMEOUT
      ? Probe.failure("Timeout", `TCP connection to ${label} timedout.`)
      : Probe.failure(TcpEngine.reason(code), `TCP connection to ${label} failed.`)

/**
 * One TCP_CHECK attempt through a {@link TcpEngine}: no Node socket, the engine enforces `connect_timeout`,
 * interruption cancels the connect (its descriptor is closed at once). Falls back to {@link probe} for a target
 * the engine cannot take (not an IP literal).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Config, TcpCheck, TcpEngine } from "@lvs-ts/checkers"
 * const r = Config.resolve({ realServers: [] }, { address: "127.0.0.1", port: 1, checkers: [] }, { type: "TCP_CHECK" })
 * const program = Effect.scoped(Effect.flatMap(TcpEngine.make(), (engine) => TcpCheck.probeWith(engine, r)))
 * ```
 * @since 0.2.0
 */
export const probeWith = (engine: TcpEngine.Engine, r: Config.Resolved): Effect.Effect<Probe.Result> => {
  const c = r.checker as Config.Connection
  const target = TcpEngine.target(r.host, r.port, { bindTo: c.bindTo, bindPort: c.bindPort, bindIf: c.bindIf })
  if (target instanceof TcpEngine.InvalidTarget) return probe(r)
  const label = Endpoint.format(r.host, "tcp", r.port)
  return Effect.callback<Probe.Result>((resume) => {
    const ticket = engine.connect(target, r.connectTimeoutMs, (code) => resume(Effect.succeed(resultOf(code, label))))
    return Effect.sync(() => engine.cancel(ticket))
  })
}
