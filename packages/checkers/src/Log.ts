/**
 * keepalived's checker transition log lines, per checker type.
 *
 * Mirrors the `log_message()` calls in the epilogs of `keepalived/check/check_*.c` (2.4.x): e.g.
 * "TCP connection to [10.0.0.2]:tcp:80 success.", "TCP_CHECK on service [10.0.0.2]:tcp:80 failed after 1 retries.",
 * "Remote Web server [10.0.0.2]:tcp:80 succeed on service.", "SSL_CHECK on service … failed.".
 *
 * @since 0.1.0
 */
import type * as Config from "./Config.ts"

/**
 * What the line describes.
 *
 * @example
 * ```ts
 * import type { Log } from "@lvs-ts/checkers"
 * const t: Log.Transition = { kind: "Down", short: false, retries: 3 }
 * ```
 * @since 0.1.0
 */
export type Transition =
  | { readonly kind: "Up" }
  | { readonly kind: "Down"; readonly short: boolean; readonly retries: number; readonly timedOut?: boolean }

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`

/**
 * The transition line for a checker of `type` on `label` (keepalived's `FMT_CHK`, e.g. `[10.0.0.2]:tcp:80`).
 * `misc` gives MISC_CHECK's real-server / virtual-server / program text.
 *
 * @example
 * ```ts
 * import { Log } from "@lvs-ts/checkers"
 * console.log(Log.transition("TCP_CHECK", "[10.0.0.2]:tcp:80", { kind: "Down", short: false, retries: 1 }))
 * // "TCP_CHECK on service [10.0.0.2]:tcp:80 failed after 1 retries."
 * ```
 * @since 0.1.0
 */
export const transition = (
  type: Config.Checker["type"] | string,
  label: string,
  t: Transition,
  misc?: { readonly realServer: string; readonly virtualServer: string; readonly program: string }
): string => {
  const failed = (name: string) =>
    t.kind === "Down"
      ? t.short
        ? `${name} on service ${label} failed.`
        : `${name} on service ${label} failed after ${t.retries} retries.`
      : ""
  switch (type) {
    case "TCP_CHECK":
      return t.kind === "Up" ? `TCP connection to ${label} success.` : failed("TCP_CHECK")
    case "UDP_CHECK":
      return t.kind === "Up" ? `UDP connection to ${label} success.` : failed("UDP_CHECK")
    case "PING_CHECK":
      return t.kind === "Up" ? `ICMP connection to ${label} success.` : failed("PING_CHECK")
    case "HTTP_GET":
      return t.kind === "Up" ? `Remote Web server ${label} succeed on service.` : failed("HTTP_CHECK")
    case "SSL_GET":
      return t.kind === "Up" ? `Remote Web server ${label} succeed on service.` : failed("SSL_CHECK")
    case "SMTP_CHECK":
      return t.kind === "Up" ? `Remote SMTP server ${label} succeed on service.` : failed("SMTP_CHECK")
    case "DNS_CHECK":
      return t.kind === "Up"
        ? `DNS_CHECK (${label}) succeed.`
        : t.short
          ? `DNS_CHECK (${label}) failed.`
          : `DNS_CHECK (${label}) failed after ${t.retries} retries.`
    case "MISC_CHECK": {
      const who = `Misc check for [${misc?.realServer ?? label} VS ${misc?.virtualServer ?? "?"}] by [${misc?.program ?? "?"}]`
      if (t.kind === "Up") return `${who} succeeded.`
      const verb = t.timedOut ? "timed_out" : "failed"
      return t.retries === 0 && t.short
        ? `${who} ${verb} with retry disabled.`
        : `${who} ${verb} after ${plural(t.retries, "retry", "retries")}.`
    }
    case "FILE_CHECK":
      return t.kind === "Up" ? `FILE_CHECK on service ${label} up.` : `FILE_CHECK on service ${label} failed.`
    default:
      return t.kind === "Up" ? `${type} on service ${label} succeed.` : failed(type)
  }
}
