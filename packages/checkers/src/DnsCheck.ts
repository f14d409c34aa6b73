/**
 * DNS_CHECK: one UDP query to the real server; success = a response with the query's ID, QR set and RCODE 0.
 *
 * Mirrors `keepalived/check/check_dns.c`: random 16-bit ID, RD=1, QDCOUNT 1, `type` A|NS|CNAME|SOA|MX|TXT|AAAA
 * (default SOA), `name` (default the root "."), class IN; answers are not inspected; replies with another ID or
 * shorter than a header are ignored while waiting; a timeout or an ICMP error is a failure; `retry` defaults
 * to 3 and `delay_before_retry` to delay_loop (see {@link Config.resolve}). The query is built by hand.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Config from "./Config.ts"
import * as Endpoint from "./Endpoint.ts"
import { deadline } from "./internal/deadline.ts"
import { open } from "./internal/udp.ts"
import * as Probe from "./Probe.ts"

/**
 * Query type codes (RFC 1035, RFC 3596).
 *
 * @example
 * ```ts
 * import { DnsCheck } from "@lvs-ts/checkers"
 * console.log(DnsCheck.QueryType.SOA) // 6
 * ```
 * @since 0.1.0
 */
export const QueryType = { A: 1, NS: 2, CNAME: 5, SOA: 6, MX: 15, TXT: 16, AAAA: 28 } as const

/** DNS header length in bytes. */
const HEADER = 12
/** Flags word with only RD (recursion desired) set. */
const FLAG_RD = 0x0100
const CLASS_IN = 1

/**
 * Encode a query message.
 *
 * @example
 * ```ts
 * import { DnsCheck } from "@lvs-ts/checkers"
 * const q = DnsCheck.encodeQuery(0x1234, ".", "SOA")
 * console.log(q.length) // 17
 * ```
 * @since 0.1.0
 */
export const encodeQuery = (id: number, name: string, type: keyof typeof QueryType): Uint8Array => {
  const labels = name
    .split(".")
    .filter((l) => l.length > 0)
    .map((l) => Buffer.from(l, "ascii"))
  const qname = labels.reduce((n, l) => n + 1 + l.length, 1)
  const out = new Uint8Array(HEADER + qname + 4)
  const v = new DataView(out.buffer)
  v.setUint16(0, id)
  v.setUint16(2, FLAG_RD)
  v.setUint16(4, 1)
  let o = HEADER
  for (const l of labels) {
    out[o++] = Math.min(l.length, 63)
    out.set(l.subarray(0, 63), o)
    o += Math.min(l.length, 63)
  }
  out[o++] = 0
  v.setUint16(o, QueryType[type])
  v.setUint16(o + 2, CLASS_IN)
  return out
}

/**
 * Classify a datagram as the answer to query `id`: "ignore" (short or other ID), "ok" (QR, RCODE 0) or the RCODE.
 *
 * @example
 * ```ts
 * import { DnsCheck } from "@lvs-ts/checkers"
 * const reply = new Uint8Array(12); reply[0] = 0x12; reply[1] = 0x34; reply[2] = 0x81; reply[3] = 0x80
 * console.log(DnsCheck.classify(reply, 0x1234)) // "ok"
 * ```
 * @since 0.1.0
 */
export const classify = (msg: Uint8Array, id: number): "ignore" | "ok" | number => {
  if (msg.length < HEADER) return "ignore"
  if (((msg[0]! << 8) | msg[1]!) !== id) return "ignore"
  if ((msg[2]! & 0x80) === 0) return "ignore"
  const rcode = msg[3]! & 0x0f
  return rcode === 0 ? "ok" : rcode
}

/**
 * One DNS_CHECK attempt.
 *
 * @example
 * ```ts
 * import { Config, DnsCheck } from "@lvs-ts/checkers"
 * const r = Config.resolve({ realServers: [] }, { address: "127.0.0.1", port: 53, checkers: [] },
 *   { type: "DNS_CHECK", queryType: "A", name: "example.org" })
 * const attempt = DnsCheck.probe(r)
 * ```
 * @since 0.1.0
 */
export const probe = (r: Config.Resolved): Effect.Effect<Probe.Result> => {
  const c = r.checker
  const label = Endpoint.format(r.host, "udp", r.port)
  const conn = c as Config.Connection
  const type = c.type === "DNS_CHECK" ? (c.queryType ?? "SOA") : "SOA"
  const name = c.type === "DNS_CHECK" ? (c.name ?? ".") : "."
  const fail = (reason: Probe.Reason, what: string) => Probe.failure(reason, `DNS_CHECK (${label}) ${what}`)
  return Effect.scoped(
    Effect.gen(function* () {
      const id = Math.floor(Math.random() * 0x10000)
      const udp = yield* open({ host: r.host, port: r.port, bindTo: conn.bindTo, bindPort: conn.bindPort }).pipe(
        Effect.mapError((e) => fail(e.reason, `failed to connect socket: ${e.code}`))
      )
      yield* udp
        .send(encodeQuery(id, name, type))
        .pipe(Effect.mapError((e) => fail(e.reason, "failed to write socket.")))
      const reply = yield* udp
        .receive((m) => classify(m, id) !== "ignore")
        .pipe(Effect.mapError((e) => fail(e.reason, `failed to read socket: ${e.code}`)))
      const verdict = classify(reply, id)
      return verdict === "ok" ? Probe.success() : fail("BadReply", `RCODE ${verdict}`)
    })
  ).pipe(
    Effect.catch((f) => Effect.succeed(f)),
    deadline(r.connectTimeoutMs, () => fail("Timeout", "timeout"))
  )
}
