/**
 * Formatting of services the way keepalived prints them in its logs (`FMT_CHK`, `FMT_RS`, `FMT_VS`):
 * `[192.168.1.10]:tcp:80`, `[2001:db8::1]:udp:53`, `FWM 5`.
 *
 * @since 0.1.0
 */

/**
 * Transport protocol of a service, lower-case as keepalived prints it.
 *
 * @example
 * ```ts
 * import type { Endpoint } from "@lvs-ts/checkers"
 * const p: Endpoint.Protocol = "tcp"
 * ```
 * @since 0.1.0
 */
export type Protocol = "tcp" | "udp" | "sctp"

/**
 * `[ip]:proto:port` as keepalived logs a real server, checker target or virtual server.
 *
 * @example
 * ```ts
 * import { Endpoint } from "@lvs-ts/checkers"
 * console.log(Endpoint.format("10.0.0.2", "tcp", 80)) // "[10.0.0.2]:tcp:80"
 * ```
 * @since 0.1.0
 */
export const format = (address: string, protocol: Protocol, port: number): string => `[${address}]:${protocol}:${port}`

/**
 * `FWM n`, keepalived's label of a firewall-mark virtual server.
 *
 * @example
 * ```ts
 * import { Endpoint } from "@lvs-ts/checkers"
 * console.log(Endpoint.formatFwmark(5)) // "FWM 5"
 * ```
 * @since 0.1.0
 */
export const formatFwmark = (fwmark: number): string => `FWM ${fwmark}`

/**
 * `ip:port` with IPv6 literals in brackets, as used in an HTTP `Host:` header.
 *
 * @example
 * ```ts
 * import { Endpoint } from "@lvs-ts/checkers"
 * console.log(Endpoint.hostPort("::1", 8080)) // "[::1]:8080"
 * ```
 * @since 0.1.0
 */
export const hostPort = (address: string, port: number): string =>
  address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`
