/**
 * Configuration of virtual servers, real servers and their checkers, with keepalived's default cascade
 * (virtual_server value → real_server value → checker value, then the per-checker-type defaults).
 *
 * Mirrors keepalived.conf's `virtual_server { real_server { TCP_CHECK { … } } }` blocks (`check_parser.c`,
 * `check_api.c`): the option names are keepalived's, in camelCase; times are Effect `Duration.Input`
 * (`"5 seconds"`, `1500` ms); scripts are argv arrays (never run through a shell).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Endpoint from "./Endpoint.ts"
import type * as Probe from "./Probe.ts"

/**
 * Retry/timing options valid at virtual_server, real_server and checker level.
 *
 * @example
 * ```ts
 * import type { Config } from "@lvs-ts/checkers"
 * const t: Config.Timing = { delayLoop: "1 second", retry: 2, delayBeforeRetry: "500 millis" }
 * ```
 * @since 0.1.0
 */
export interface Timing {
  readonly connectTimeout?: Duration.Input | undefined
  readonly retry?: number | undefined
  readonly delayBeforeRetry?: Duration.Input | undefined
  readonly delayLoop?: Duration.Input | undefined
  /** First check after a random delay in [0, warmup]; default delay_loop; 0 disables. */
  readonly warmup?: Duration.Input | undefined
  readonly alpha?: boolean | undefined
  readonly logAllFailures?: boolean | undefined
}

/**
 * Connection options of socket-based checkers (`connect_ip`, `connect_port`, `bindto`, `bind_port`, `bind_if`).
 *
 * @example
 * ```ts
 * import type { Config } from "@lvs-ts/checkers"
 * const c: Config.Connection = { connectPort: 8080, bindTo: "127.0.0.1" }
 * ```
 * @since 0.1.0
 */
export interface Connection {
  readonly connectIp?: string | undefined
  readonly connectPort?: number | undefined
  readonly bindTo?: string | undefined
  readonly bindPort?: number | undefined
  /** Interface for IPv6 link-local targets (appended as `%if` scope id). */
  readonly bindIf?: string | undefined
}

/**
 * One `url { … }` block of HTTP_GET / SSL_GET.
 *
 * @example
 * ```ts
 * import type { Config } from "@lvs-ts/checkers"
 * const u: Config.Url = { path: "/health", statusCode: ["200-299", 302], regex: "OK" }
 * ```
 * @since 0.1.0
 */
export interface Url {
  readonly path: string
  /** 32 hex digits: MD5 of the body (see genhash). */
  readonly digest?: string | undefined
  /** Codes or "A-B" ranges, 100–599; default 200-299. */
  readonly statusCode?: ReadonlyArray<number | string> | undefined
  readonly virtualhost?: string | undefined
  /** JavaScript regular expression source (keepalived: PCRE2). */
  readonly regex?: string | undefined
  readonly regexNoMatch?: boolean | undefined
  /** RegExp flags, e.g. "i" (keepalived: regex_options). */
  readonly regexOptions?: string | undefined
  readonly regexMinOffset?: number | undefined
  readonly regexMaxOffset?: number | undefined
}

/**
 * A checker block. `type` is keepalived's keyword; `CUSTOM` runs any Effect as the probe (for embedding in a
 * Node proxy, and for deterministic tests of the retry machine).
 *
 * @example
 * ```ts
 * import type { Config } from "@lvs-ts/checkers"
 * const c: Config.Checker = { type: "HTTP_GET", urls: [{ path: "/" }], delayLoop: "2 seconds" }
 * ```
 * @since 0.1.0
 */
export type Checker =
  | ({ readonly type: "TCP_CHECK" } & Timing & Connection)
  | ({
      readonly type: "HTTP_GET" | "SSL_GET"
      readonly urls: ReadonlyArray<Url>
      readonly httpProtocol?: "1.0" | "1.0C" | "1.1" | undefined
      readonly virtualhost?: string | undefined
      readonly enableSni?: boolean | undefined
      readonly sniName?: string | undefined
      readonly fastRecovery?: boolean | undefined
      readonly tlsCompliant?: boolean | undefined
    } & Timing &
      Connection)
  | ({ readonly type: "SMTP_CHECK"; readonly heloName?: string | undefined } & Timing & Connection)
  | ({
      readonly type: "MISC_CHECK"
      readonly path: ReadonlyArray<string>
      readonly timeout?: Duration.Input | undefined
      readonly dynamic?: boolean | undefined
      readonly uid?: number | undefined
      readonly gid?: number | undefined
    } & Timing)
  | ({
      readonly type: "DNS_CHECK"
      readonly queryType?: "A" | "NS" | "CNAME" | "SOA" | "MX" | "TXT" | "AAAA" | undefined
      readonly name?: string | undefined
    } & Timing &
      Connection)
  | ({
      readonly type: "UDP_CHECK"
      /** Hex payload; random when omitted. */
      readonly payload?: string | undefined
      /** `true` or a hex pattern (X nibbles are wildcards): a reply is required. */
      readonly requireReply?: boolean | string | undefined
      readonly minReplyLength?: number | undefined
      readonly maxReplyLength?: number | undefined
    } & Timing &
      Connection)
  | ({ readonly type: "PING_CHECK" } & Timing & Pick<Connection, "connectIp" | "bindTo" | "bindIf">)
  | ({
      readonly type: "FILE_CHECK"
      /** File holding an integer (keepalived's track_file). */
      readonly file: string
      readonly weight?: number | undefined
      readonly reverse?: boolean | undefined
    } & Timing)
  | ({
      readonly type: "CUSTOM"
      readonly name: string
      readonly probe: Effect.Effect<Probe.Result>
    } & Timing)

/**
 * A `real_server IP PORT { … }` block.
 *
 * @example
 * ```ts
 * import type { Config } from "@lvs-ts/checkers"
 * const rs: Config.RealServer = { address: "10.0.0.2", port: 80, weight: 2, checkers: [{ type: "TCP_CHECK" }] }
 * ```
 * @since 0.1.0
 */
export interface RealServer extends Timing {
  readonly address: string
  readonly port: number
  readonly weight?: number | undefined
  readonly inhibitOnFailure?: boolean | undefined
  readonly notifyUp?: ReadonlyArray<string> | undefined
  readonly notifyDown?: ReadonlyArray<string> | undefined
  readonly virtualhost?: string | undefined
  readonly checkers: ReadonlyArray<Checker>
}

/**
 * A `virtual_server IP PORT { … }` (or `fwmark N`) block.
 *
 * @example
 * ```ts
 * import type { Config } from "@lvs-ts/checkers"
 * const vs: Config.VirtualServer = {
 *   address: "192.0.2.1", port: 80, protocol: "tcp", delayLoop: "1 second",
 *   realServers: [{ address: "10.0.0.2", port: 80, checkers: [{ type: "TCP_CHECK" }] }]
 * }
 * ```
 * @since 0.1.0
 */
export interface VirtualServer extends Timing {
  readonly address?: string | undefined
  readonly port?: number | undefined
  readonly protocol?: Endpoint.Protocol | undefined
  readonly fwmark?: number | undefined
  readonly weight?: number | undefined
  readonly quorum?: number | undefined
  readonly hysteresis?: number | undefined
  readonly quorumUp?: ReadonlyArray<string> | undefined
  readonly quorumDown?: ReadonlyArray<string> | undefined
  readonly inhibitOnFailure?: boolean | undefined
  readonly sorryServer?: { readonly address: string; readonly port?: number | undefined } | undefined
  readonly sorryServerInhibit?: boolean | undefined
  readonly omega?: boolean | undefined
  readonly rsInitNotifies?: boolean | undefined
  readonly virtualhost?: string | undefined
  readonly realServers: ReadonlyArray<RealServer>
}

/**
 * A checker with every option resolved through the cascade; times in milliseconds.
 *
 * @example
 * ```ts
 * import { Config } from "@lvs-ts/checkers"
 * const r = Config.resolve({ realServers: [] }, { address: "10.0.0.2", port: 80, checkers: [] }, { type: "DNS_CHECK" })
 * console.log(r.retry, r.delayBeforeRetryMs === r.delayLoopMs) // 3 true
 * ```
 * @since 0.1.0
 */
export interface Resolved {
  readonly checker: Checker
  readonly connectTimeoutMs: number
  readonly retry: number
  readonly delayBeforeRetryMs: number
  readonly delayLoopMs: number
  readonly warmupMs: number
  readonly alpha: boolean
  readonly logAllFailures: boolean
  /** Target address and port (connect_ip/connect_port, default the real server's). */
  readonly host: string
  readonly port: number
  /** virtualhost with keepalived's precedence url → checker → real_server → virtual_server (url applied later). */
  readonly virtualhost: string | undefined
}

const ms = (d: Duration.Input): number => Duration.toMillis(d)

/**
 * Resolve one checker's options: checker value, else real_server, else virtual_server, else the type default
 * (connect_timeout 5 s; retry 1, MISC_CHECK 0, DNS_CHECK 3, FILE_CHECK always 0; delay_before_retry 1 s, HTTP_GET/SSL_GET 3 s,
 * DNS_CHECK = delay_loop; delay_loop 60 s; warmup = delay_loop).
 *
 * @example
 * ```ts
 * import { Config } from "@lvs-ts/checkers"
 * const vs = { delayLoop: "10 seconds", realServers: [] }
 * const rs = { address: "10.0.0.2", port: 80, retry: 4, checkers: [] }
 * const r = Config.resolve(vs, rs, { type: "HTTP_GET", urls: [{ path: "/" }] })
 * console.log(r.delayLoopMs, r.retry, r.delayBeforeRetryMs) // 10000 4 3000
 * ```
 * @since 0.1.0
 */
export const resolve = (vs: VirtualServer, rs: RealServer, checker: Checker): Resolved => {
  const pick = <K extends keyof Timing>(key: K): Timing[K] => checker[key] ?? rs[key] ?? vs[key]
  const delayLoopMs = ms(pick("delayLoop") ?? "60 seconds")
  const type = checker.type
  // FILE_CHECK has no retry logic in keepalived: every read decides.
  const retry =
    type === "FILE_CHECK" ? 0 : (pick("retry") ?? (type === "MISC_CHECK" ? 0 : type === "DNS_CHECK" ? 3 : 1))
  const dbr = pick("delayBeforeRetry")
  const delayBeforeRetryMs =
    dbr !== undefined
      ? ms(dbr)
      : type === "HTTP_GET" || type === "SSL_GET"
        ? 3000
        : type === "DNS_CHECK"
          ? delayLoopMs
          : 1000
  const warmup = pick("warmup")
  const conn = checker as Connection
  return {
    checker,
    connectTimeoutMs: ms(pick("connectTimeout") ?? "5 seconds"),
    retry,
    delayBeforeRetryMs,
    delayLoopMs,
    warmupMs: warmup === undefined ? delayLoopMs : ms(warmup),
    alpha: pick("alpha") ?? false,
    logAllFailures: pick("logAllFailures") ?? false,
    host: conn.connectIp ?? rs.address,
    port: conn.connectPort ?? rs.port,
    virtualhost: (checker as { virtualhost?: string | undefined }).virtualhost ?? rs.virtualhost ?? vs.virtualhost
  }
}

/**
 * Validate a virtual server's checker options; returns keepalived-style messages naming the field and value
 * (empty when valid).
 *
 * @example
 * ```ts
 * import { Config } from "@lvs-ts/checkers"
 * const errors = Config.validate({ realServers: [{ address: "10.0.0.2", port: 80,
 *   checkers: [{ type: "HTTP_GET", urls: [{ path: "/", digest: "abc" }] }] }] })
 * console.log(errors[0]) // "digest 'abc' character length should be 32 rather than 3"
 * ```
 * @since 0.1.0
 */
export const validate = (vs: VirtualServer): ReadonlyArray<string> => {
  const errors: Array<string> = []
  const port = (name: string, p: number | undefined) => {
    if (p !== undefined && (!Number.isInteger(p) || p < 0 || p > 65535))
      errors.push(`${name} '${p}' outside range [0, 65535]`)
  }
  for (const rs of vs.realServers) {
    port("real_server port", rs.port)
    for (const c of rs.checkers) {
      if ("connectPort" in c) port("connect_port", c.connectPort)
      if ("bindPort" in c) port("bind_port", c.bindPort)
      if (c.retry !== undefined && (!Number.isInteger(c.retry) || c.retry < 0))
        errors.push(`retry '${c.retry}' invalid`)
      if (c.type === "HTTP_GET" || c.type === "SSL_GET") {
        if (c.urls.length === 0) errors.push(`${c.type} for ${rs.address}:${rs.port} has no url`)
        for (const u of c.urls) {
          if (u.digest !== undefined) {
            if (u.digest.length !== 32) {
              errors.push(`digest '${u.digest}' character length should be 32 rather than ${u.digest.length}`)
            } else if (!/^[0-9a-fA-F]{32}$/.test(u.digest)) errors.push(`digest '${u.digest}' is not hexadecimal`)
          }
          for (const s of u.statusCode ?? []) {
            const parts = String(s).split("-").map(Number)
            if (parts.length > 2 || parts.some((p) => !Number.isInteger(p) || p < 100 || p > 599)) {
              errors.push(`Invalid ${c.type} status code '${s}'`)
            }
          }
          if (u.regex !== undefined) {
            try {
              new RegExp(u.regex, u.regexOptions)
            } catch (e) {
              errors.push(`Invalid regex '${u.regex}': ${(e as Error).message}`)
            }
          }
        }
      }
      if (c.type === "MISC_CHECK" && c.path.length === 0) errors.push("misc_path is empty")
      if (c.type === "UDP_CHECK") {
        if (c.payload !== undefined && !/^([0-9a-fA-F]{2})*$/.test(c.payload))
          errors.push(`payload '${c.payload}' is not hex`)
        if (typeof c.requireReply === "string" && !/^([0-9a-fA-FxX]{2})*$/.test(c.requireReply)) {
          errors.push(`require_reply '${c.requireReply}' is not a hex pattern`)
        }
      }
    }
  }
  return errors
}
