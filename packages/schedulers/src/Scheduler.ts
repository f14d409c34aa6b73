/**
 * The scheduler contract, the "no destination" result and the kernel's scheduler log line.
 *
 * Mirrors `struct ip_vs_scheduler` (include/net/ip_vs.h): `init_service`, `done_service`, `add_dest`,
 * `del_dest`, `upd_dest`, `schedule`, plus two hooks the kernel does not need because its schedulers scan the
 * list on every connection: `countersChanged` (a bind/unbind/state move changed a destination's load or OVERLOAD
 * flag) and `relayout` (the pool renumbered its list positions).
 *
 * @module
 */
import type { Destination } from "./Destination.ts"
import type { DestinationPool } from "./DestinationPool.ts"

/**
 * What a scheduler returns when it cannot choose: the kernel returns NULL and logs `message` (rate limited).
 *
 * `logged` is false where the kernel only emits a debug message (lblcr when there is no cache entry yet).
 *
 * @example
 * ```ts
 * const r = pool.pick(packet, 26, 30, sport, now)
 * if (r._tag === "NoDestination") log(schedulerLogLine("wlc", "TCP", "10.0.0.1", 80, r.message))
 * ```
 */
export interface NoDestination {
  readonly _tag: "NoDestination"
  readonly message: string
  readonly logged: boolean
}

/**
 * The usual "none": `no destination available` (every scheduler).
 *
 * @example
 * ```ts
 * if (r === noDestinationAvailable) icmpPortUnreachable()
 * ```
 */
export const noDestinationAvailable: NoDestination = Object.freeze({
  _tag: "NoDestination",
  message: "no destination available",
  logged: true
})

/**
 * wrr's "none" after a full traversal found every destination OVERLOAD or below the current weight.
 *
 * @example
 * ```ts
 * allDestinationsOverloaded.message // "no destination available: all destinations are overloaded"
 * ```
 */
export const allDestinationsOverloaded: NoDestination = Object.freeze({
  _tag: "NoDestination",
  message: "no destination available: all destinations are overloaded",
  logged: true
})

/**
 * lblcr's silent "none" (no cache entry and nothing to schedule: the kernel only prints a debug line).
 *
 * @example
 * ```ts
 * noDestinationAvailableQuiet.logged // false
 * ```
 */
export const noDestinationAvailableQuiet: NoDestination = Object.freeze({
  _tag: "NoDestination",
  message: "no destination available",
  logged: false
})

/**
 * A pick: the destination, or why there is none.
 *
 * @example
 * ```ts
 * const r: Pick = pool.pick(packet, 26, 30, sport, now)
 * ```
 */
export type Pick = Destination | NoDestination

/**
 * Service flags that change scheduler behaviour (`IP_VS_SVC_F_SCHED1..3`, uapi ip_vs.h).
 *
 * @example
 * ```ts
 * new DestinationPool({ scheduler: "sh", flags: ServiceFlags.Fallback | ServiceFlags.Port })
 * ```
 */
export const ServiceFlags = {
  /** `sh-fallback` / `mh-fallback` (IP_VS_SVC_F_SCHED1). */
  Fallback: 0x0008,
  /** `sh-port` / `mh-port` (IP_VS_SVC_F_SCHED2): hash the source port too. */
  Port: 0x0010,
  /** `flag-3` (IP_VS_SVC_F_SCHED3), unused by the kernel's schedulers. */
  Flag3: 0x0020
} as const

/**
 * A scheduler bound to one pool (the kernel's per-service `sched_data`).
 *
 * Hooks are called by {@link DestinationPool}: `init` when attached (it must index the pool's current
 * destinations), `added` after a destination is linked at the head, `removed` after it is unlinked (its `slot`
 * still holds the old position during the call), `updated` after an edit of weight or thresholds,
 * `countersChanged` after any counter or OVERLOAD change of a linked destination, `relayout` after the pool
 * renumbered positions (rebuild position-keyed indexes), `done` when detached.
 *
 * `schedule` is the hot path: it must not allocate. `bytes` holds the packet; `sourceOffset` and
 * `destinationOffset` are the byte offsets of the source and destination addresses (4 or 16 bytes per the
 * pool's family); `sourcePort` is the host-order source port for TCP/UDP/SCTP (0 otherwise); `now` is the
 * caller's clock in milliseconds (lblc/lblcr use it; others ignore it).
 *
 * @example
 * ```ts
 * class First implements Scheduler {
 *   readonly name = "first"
 *   private pool: DestinationPool | undefined
 *   init(pool: DestinationPool) { this.pool = pool }
 *   done() { this.pool = undefined }
 *   added() {}
 *   removed() {}
 *   updated() {}
 *   countersChanged() {}
 *   relayout() {}
 *   schedule() {
 *     const d = this.pool?.first()
 *     return d === undefined ? noDestinationAvailable : d
 *   }
 * }
 * ```
 */
export interface Scheduler {
  readonly name: string
  init(pool: DestinationPool): void
  done(): void
  added(dest: Destination): void
  removed(dest: Destination): void
  updated(dest: Destination): void
  countersChanged(dest: Destination): void
  relayout(): void
  schedule(bytes: Uint8Array, sourceOffset: number, destinationOffset: number, sourcePort: number, now: number): Pick
}

/**
 * Formats the kernel's scheduler error line (`ip_vs_scheduler_err`): `"<sched>: <PROTO> <vip>:<port> - <msg>"`,
 * IPv6 VIPs in brackets, fwmark services as `"<sched>: FWM <mark> 0x<MARK> - <msg>"`.
 *
 * @example
 * ```ts
 * schedulerLogLine("wlc", "TCP", "10.0.0.1", 80, noDestinationAvailable.message)
 * // "wlc: TCP 10.0.0.1:80 - no destination available"
 * ```
 */
export const schedulerLogLine = (
  scheduler: string,
  protocol: string,
  vip: string,
  port: number,
  message: string,
  fwmark = 0
): string => {
  if (fwmark !== 0) {
    return `${scheduler}: FWM ${fwmark >>> 0} 0x${(fwmark >>> 0).toString(16).toUpperCase().padStart(8, "0")} - ${message}`
  }
  const address = vip.includes(":") ? `[${vip}]` : vip
  return `${scheduler}: ${protocol} ${address}:${port} - ${message}`
}
