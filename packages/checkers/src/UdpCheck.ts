/**
 * UDP_CHECK: send a payload; without `require_reply` silence is success and an ICMP destination-unreachable
 * (port, host, net) within connect_timeout is failure; with `require_reply` a reply of
 * `min_reply_length`..`max_reply_length` bytes matching the hex pattern (X nibbles are wildcards) is required.
 *
 * Mirrors `keepalived/check/check_udp.c` and `core/layer4.c` (random payload when none is configured).
 *
 * @since 0.1.0
 */

import * as crypto from "node:crypto"
import * as Effect from "effect/Effect"
import type * as Config from "./Config.ts"
import * as Endpoint from "./Endpoint.ts"
import { open } from "./internal/udp.ts"
import * as Probe from "./Probe.ts"

/**
 * Does `reply` match a hex pattern where `X`/`x` nibbles match anything? The pattern constrains the reply's first
 * bytes; a reply shorter than the pattern does not match.
 *
 * @example
 * ```ts
 * import { UdpCheck } from "@lvs-ts/checkers"
 * console.log(UdpCheck.matches(Uint8Array.of(0xab, 0xcd, 0xef), "abXd")) // true
 * ```
 * @since 0.1.0
 */
export const matches = (reply: Uint8Array, pattern: string): boolean => {
  const nibbles = pattern.length
  if (reply.length * 2 < nibbles) return false
  for (let i = 0; i < nibbles; i++) {
    const p = pattern[i]!
    if (p === "X" || p === "x") continue
    const byte = reply[i >> 1]!
    const nibble = i % 2 === 0 ? byte >> 4 : byte & 0x0f
    if (nibble !== Number.parseInt(p, 16)) return false
  }
  return true
}

/**
 * One UDP_CHECK attempt.
 *
 * @example
 * ```ts
 * import { Config, UdpCheck } from "@lvs-ts/checkers"
 * const r = Config.resolve({ realServers: [] }, { address: "127.0.0.1", port: 7, checkers: [] },
 *   { type: "UDP_CHECK", payload: "68656c6c6f", requireReply: "68656c6c6f" })
 * const attempt = UdpCheck.probe(r)
 * ```
 * @since 0.1.0
 */
export const probe = (r: Config.Resolved): Effect.Effect<Probe.Result> => {
  const c = r.checker
  const label = Endpoint.format(r.host, "udp", r.port)
  if (c.type !== "UDP_CHECK") return Effect.succeed(Probe.failure("Error", `${c.type} is not UDP_CHECK`))
  const payload = c.payload !== undefined ? Buffer.from(c.payload, "hex") : crypto.randomBytes(16)
  const require = c.requireReply
  const min = c.minReplyLength ?? 0
  const max = c.maxReplyLength ?? 255
  const fail = (reason: Probe.Reason, what: string) => Probe.failure(reason, `UDP connection to ${label} ${what}`)
  return Effect.scoped(
    Effect.gen(function* () {
      const udp = yield* open({ host: r.host, port: r.port, bindTo: c.bindTo, bindPort: c.bindPort })
      yield* udp.send(payload)
      const reply = yield* Effect.timeoutOption(
        udp.receive(() => true),
        r.connectTimeoutMs
      )
      if (reply._tag === "None") return require ? fail("Timeout", "timed out waiting for a reply.") : Probe.success()
      if (!require) return Probe.success()
      const m = reply.value
      if (m.length < min || m.length > max)
        return fail("BadReply", `reply length ${m.length} outside [${min}, ${max}].`)
      if (typeof require === "string" && !matches(m, require)) return fail("BadReply", "reply does not match.")
      return Probe.success()
    })
  ).pipe(
    Effect.catch((e) =>
      Effect.succeed(
        e.reason === "Refused"
          ? fail("Refused", "failed: port unreachable.")
          : e.reason === "Unreachable"
            ? fail("Unreachable", `failed: ${e.code}.`)
            : fail(e.reason, `failed: ${e.code}.`)
      )
    )
  )
}
