/**
 * SMTP_CHECK: connect, expect a `220` greeting, send `HELO <helo_name>`, expect `250`, send `QUIT`.
 *
 * Mirrors `keepalived/check/check_smtp.c`: default helo_name `smtpchecker.keepalived.org`; cause lines
 * "Bad greeting banner from server [ip]:tcp:port." and "Bad HELO response from server [ip]:tcp:port.";
 * multi-line replies (`250-…`) are read to their last line; the whole dialogue has one deadline.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Config from "./Config.ts"
import * as Endpoint from "./Endpoint.ts"
import { deadline } from "./internal/deadline.ts"
import { connect, reader, write } from "./internal/net.ts"
import * as Probe from "./Probe.ts"

/**
 * Length of a complete SMTP reply at the start of `buf` (last line has a space or nothing after the code), or
 * `undefined` if more bytes are needed.
 *
 * @example
 * ```ts
 * import { SmtpCheck } from "@lvs-ts/checkers"
 * console.log(SmtpCheck.replyLength(Buffer.from("250-a\r\n250 b\r\n"))) // 14
 * ```
 * @since 0.1.0
 */
export const replyLength = (buf: Uint8Array): number | undefined => {
  let start = 0
  while (start < buf.length) {
    const nl = buf.indexOf(10, start)
    if (nl < 0) return undefined
    // "250-" continues, "250 " or "250\r\n" ends the reply
    if (nl - start < 4 || buf[start + 3] !== 0x2d) return nl + 1
    start = nl + 1
  }
  return undefined
}

/**
 * The 3-digit code of a reply (0 if none).
 *
 * @example
 * ```ts
 * import { SmtpCheck } from "@lvs-ts/checkers"
 * console.log(SmtpCheck.code(Buffer.from("220 mx ready\r\n"))) // 220
 * ```
 * @since 0.1.0
 */
export const code = (reply: Uint8Array): number => {
  const m = /^(\d{3})/.exec(Buffer.from(reply).toString("latin1"))
  return m ? Number(m[1]) : 0
}

/**
 * One SMTP_CHECK attempt.
 *
 * @example
 * ```ts
 * import { Config, SmtpCheck } from "@lvs-ts/checkers"
 * const r = Config.resolve({ realServers: [] }, { address: "127.0.0.1", port: 25, checkers: [] }, { type: "SMTP_CHECK" })
 * const attempt = SmtpCheck.probe(r)
 * ```
 * @since 0.1.0
 */
export const probe = (r: Config.Resolved): Effect.Effect<Probe.Result> => {
  const c = r.checker
  const label = Endpoint.format(r.host, "tcp", r.port)
  const conn = c as Config.Connection
  const helo = c.type === "SMTP_CHECK" ? (c.heloName ?? "smtpchecker.keepalived.org") : "smtpchecker.keepalived.org"
  const fail = (reason: Probe.Reason, what: string) => Probe.failure(reason, `${what} ${label}.`)
  return Effect.scoped(
    Effect.gen(function* () {
      const socket = yield* connect({
        host: r.host,
        port: r.port,
        bindTo: conn.bindTo,
        bindPort: conn.bindPort,
        bindIf: conn.bindIf
      }).pipe(Effect.mapError((e) => fail(e.reason, "Error connecting to server")))
      const rd = reader(socket)
      const greeting = yield* rd
        .read(replyLength)
        .pipe(Effect.mapError((e) => fail(e.reason, "Error reading from server")))
      if (code(greeting) !== 220) return fail("BadBanner", "Bad greeting banner from server")
      yield* write(socket, `HELO ${helo}\r\n`).pipe(Effect.mapError((e) => fail(e.reason, "Error writing to server")))
      const hello = yield* rd
        .read(replyLength)
        .pipe(Effect.mapError((e) => fail(e.reason, "Error reading from server")))
      if (code(hello) !== 250) return fail("BadHelo", "Bad HELO response from server")
      yield* write(socket, "QUIT\r\n").pipe(Effect.mapError((e) => fail(e.reason, "Error writing to server")))
      yield* rd.read(replyLength).pipe(Effect.ignore)
      return Probe.success()
    })
  ).pipe(
    Effect.catch((f) => Effect.succeed(f)),
    deadline(r.connectTimeoutMs, () => fail("Timeout", "Timeout reading data from server"))
  )
}
