/**
 * HTTP_GET and SSL_GET: fetch one url of the checker per attempt and judge it as keepalived does.
 *
 * Mirrors `keepalived/check/check_http.c` / `check_ssl.c` (2.4.x):
 * - request `GET <path> HTTP/1.0` (or 1.1), `User-Agent: KeepAliveClient`, `Connection: close` for `1.0C` and
 *   `1.1`, `Host: <virtualhost>` (url → checker → real_server → virtual_server) or `Host: <ip>:<port>`;
 * - the response is read until the server closes; an empty response fails ("Read, no data received from");
 * - the status code must be in the url's list/ranges (default 200-299), then the MD5 of the body (headers
 *   excluded, limited to Content-Length when present) must equal `digest`, then `regex` must (or with
 *   `regex_no_match` must not) match the body within [regex_min_offset, regex_max_offset);
 * - SSL_GET: TLS without certificate verification, SNI with `enable_sni` (`sni_name`, else the virtualhost),
 *   `tls_compliant` sends close_notify.
 *
 * Differences on purpose: the whole attempt has one deadline (connect_timeout) instead of a per-read timeout
 * (keepalived #1822); regexes are JavaScript RegExp instead of PCRE2.
 *
 * @since 0.1.0
 */

import * as crypto from "node:crypto"
import * as Effect from "effect/Effect"
import type * as Config from "./Config.ts"
import * as Endpoint from "./Endpoint.ts"
import { deadline } from "./internal/deadline.ts"
import { connect, reader, write } from "./internal/net.ts"
import * as Probe from "./Probe.ts"

/**
 * A parsed HTTP response: status code, header block and body bytes.
 *
 * @example
 * ```ts
 * import { HttpCheck } from "@lvs-ts/checkers"
 * const r = HttpCheck.parseResponse(Buffer.from("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi"))
 * console.log(r?.status, r?.body.toString()) // 200 "hi"
 * ```
 * @since 0.1.0
 */
export interface Response {
  readonly status: number
  readonly headers: string
  readonly body: Uint8Array
  readonly contentLength: number | undefined
}

/**
 * Build keepalived's request bytes.
 *
 * @example
 * ```ts
 * import { HttpCheck } from "@lvs-ts/checkers"
 * console.log(HttpCheck.request("/", "1.0", "10.0.0.2:80"))
 * // "GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 10.0.0.2:80\r\n\r\n"
 * ```
 * @since 0.1.0
 */
export const request = (path: string, protocol: "1.0" | "1.0C" | "1.1", host: string): string =>
  `GET ${path} HTTP/${protocol === "1.1" ? "1.1" : "1.0"}\r\nUser-Agent: KeepAliveClient\r\n` +
  (protocol === "1.0" ? "" : "Connection: close\r\n") +
  `Host: ${host}\r\n\r\n`

/**
 * Split a raw response into status, headers and body; `undefined` when no header terminator was received.
 *
 * @example
 * ```ts
 * import { HttpCheck } from "@lvs-ts/checkers"
 * console.log(HttpCheck.parseResponse(Buffer.from("garbage"))) // undefined
 * ```
 * @since 0.1.0
 */
export const parseResponse = (raw: Uint8Array): Response | undefined => {
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)
  let end = buf.indexOf("\r\n\r\n")
  let sep = 4
  if (end < 0) {
    end = buf.indexOf("\n\n")
    sep = 2
  }
  if (end < 0) return undefined
  const headers = buf.subarray(0, end).toString("latin1")
  const m = /^HTTP\/\d+(?:\.\d+)?\s+(\d{3})/.exec(headers)
  const status = m ? Number(m[1]) : 0
  const cl = /\r?\ncontent-length:\s*(\d+)/i.exec(headers)
  const contentLength = cl ? Number(cl[1]) : undefined
  let body = buf.subarray(end + sep)
  if (contentLength !== undefined && body.length > contentLength) body = body.subarray(0, contentLength)
  return { status, headers, body, contentLength }
}

/**
 * Does `status` satisfy a url's `status_code` list (numbers or "A-B" ranges; default 200-299)?
 *
 * @example
 * ```ts
 * import { HttpCheck } from "@lvs-ts/checkers"
 * console.log(HttpCheck.statusMatches(302, ["200-299", 302])) // true
 * ```
 * @since 0.1.0
 */
export const statusMatches = (status: number, codes: ReadonlyArray<number | string> | undefined): boolean => {
  if (codes === undefined || codes.length === 0) return status >= 200 && status <= 299
  for (const c of codes) {
    const [a, b] = String(c).split("-").map(Number)
    if (b === undefined ? status === a : status >= a! && status <= b) return true
  }
  return false
}

/**
 * MD5 of a body as 32 lowercase hex digits (what `digest` and genhash compare).
 *
 * @example
 * ```ts
 * import { HttpCheck } from "@lvs-ts/checkers"
 * console.log(HttpCheck.md5(new Uint8Array())) // "d41d8cd98f00b204e9800998ecf8427e"
 * ```
 * @since 0.1.0
 */
export const md5 = (body: Uint8Array): string => crypto.createHash("md5").update(body).digest("hex")

/**
 * Judge a response against a url; `undefined` = pass, otherwise the failure reason and keepalived's cause prefix.
 *
 * @example
 * ```ts
 * import { HttpCheck } from "@lvs-ts/checkers"
 * const r = HttpCheck.parseResponse(Buffer.from("HTTP/1.0 500 Oops\r\n\r\n"))!
 * console.log(HttpCheck.judge(r, { path: "/" })?.reason) // "StatusCode"
 * ```
 * @since 0.1.0
 */
export const judge = (
  response: Response,
  url: Config.Url
): { readonly reason: Probe.Reason; readonly cause: string } | undefined => {
  if (!statusMatches(response.status, url.statusCode))
    return { reason: "StatusCode", cause: "HTTP status code error to" }
  if (url.digest !== undefined && md5(response.body) !== url.digest.toLowerCase()) {
    return { reason: "Digest", cause: "MD5 digest error to" }
  }
  if (url.regex !== undefined) {
    let re: RegExp
    try {
      re = new RegExp(url.regex, `${(url.regexOptions ?? "").replace(/g/g, "")}g`)
    } catch {
      // Config.validate reports it; an unusable regex never matches.
      return { reason: "Regex", cause: "Regex match failed" }
    }
    const text = Buffer.from(response.body.buffer, response.body.byteOffset, response.body.byteLength).toString(
      "latin1"
    )
    re.lastIndex = url.regexMinOffset ?? 0
    const m = re.exec(text)
    const matched = m !== null && (url.regexMaxOffset === undefined || m.index < url.regexMaxOffset)
    if (matched === (url.regexNoMatch ?? false)) return { reason: "Regex", cause: "Regex match failed" }
  }
  return undefined
}

/**
 * Fetch url `urlIndex` of a resolved HTTP_GET / SSL_GET checker and judge it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Config, HttpCheck } from "@lvs-ts/checkers"
 * const r = Config.resolve({ realServers: [] }, { address: "127.0.0.1", port: 8080, checkers: [] },
 *   { type: "HTTP_GET", urls: [{ path: "/health" }] })
 * const attempt = HttpCheck.probe(r, 0)
 * ```
 * @since 0.1.0
 */
export const probe = (r: Config.Resolved, urlIndex: number): Effect.Effect<Probe.Result> => {
  const c = r.checker
  if (c.type !== "HTTP_GET" && c.type !== "SSL_GET") {
    return Effect.succeed(Probe.failure("Error", `${c.type} is not an HTTP checker`))
  }
  const url = c.urls[urlIndex] ?? c.urls[0]
  const label = Endpoint.format(r.host, "tcp", r.port)
  if (url === undefined) return Effect.succeed(Probe.failure("Error", `HTTP_CHECK on service ${label} has no url`))
  const vhost = url.virtualhost ?? r.virtualhost
  const host = vhost ?? Endpoint.hostPort(r.host, r.port)
  const ssl = c.type === "SSL_GET"
  const servername = ssl && c.enableSni ? (c.sniName ?? vhost) : undefined
  const fail = (reason: Probe.Reason, cause: string) => Probe.failure(reason, `${cause} server ${label}.`)
  return Effect.scoped(
    Effect.gen(function* () {
      const socket = yield* connect({
        host: r.host,
        port: r.port,
        bindTo: c.bindTo,
        bindPort: c.bindPort,
        bindIf: c.bindIf,
        tls: ssl ? { servername } : undefined
      }).pipe(Effect.mapError((e) => fail(e.reason, "Error connecting")))
      const rd = reader(socket)
      yield* write(socket, request(url.path, c.httpProtocol ?? "1.0", host)).pipe(
        Effect.mapError((e) => fail(e.reason, "Cannot send get request to"))
      )
      const raw = yield* rd.readToEnd().pipe(Effect.mapError((e) => fail(e.reason, "Read error from")))
      if (ssl && c.tlsCompliant) socket.end()
      if (raw.length === 0) return fail("NoData", "Read, no data received from")
      const response = parseResponse(raw)
      if (response === undefined) return fail("NoData", "Read, no data received from")
      const bad = judge(response, url)
      if (bad !== undefined) return fail(bad.reason, bad.cause)
      const what =
        url.regex !== undefined ? "Regex match" : url.digest !== undefined ? "MD5 digest" : "HTTP status code"
      return Probe.success(`${what} success to ${label} url(${url.path})`)
    })
  ).pipe(
    Effect.catch((f) => Effect.succeed(f)),
    deadline(r.connectTimeoutMs, () => fail("Timeout", "Timeout connecting"))
  )
}

/**
 * Fetch a url once and return the raw response (genhash).
 *
 * @example
 * ```ts
 * import { HttpCheck } from "@lvs-ts/checkers"
 * const get = HttpCheck.fetch({ host: "127.0.0.1", port: 8080, path: "/", protocol: "1.0", timeoutMs: 5000 })
 * ```
 * @since 0.1.0
 */
export const fetch = (options: {
  readonly host: string
  readonly port: number
  readonly path: string
  readonly protocol: "1.0" | "1.0C" | "1.1"
  readonly virtualhost?: string | undefined
  readonly ssl?: boolean | undefined
  readonly sni?: string | undefined
  readonly timeoutMs: number
}): Effect.Effect<Uint8Array, string> =>
  Effect.scoped(
    Effect.gen(function* () {
      const socket = yield* connect({
        host: options.host,
        port: options.port,
        tls: options.ssl ? { servername: options.sni } : undefined
      }).pipe(Effect.mapError((e) => `connection to ${options.host}:${options.port} failed: ${e.code}`))
      const rd = reader(socket)
      const host = options.virtualhost ?? Endpoint.hostPort(options.host, options.port)
      yield* write(socket, request(options.path, options.protocol, host)).pipe(Effect.mapError((e) => e.code))
      return yield* rd.readToEnd().pipe(Effect.mapError((e) => e.code))
    })
  ).pipe(
    Effect.timeoutOrElse({
      duration: options.timeoutMs,
      orElse: () => Effect.fail(`timeout after ${options.timeoutMs} ms`)
    })
  )
