/**
 * IP protocol numbers the connection table understands, and their listing names.
 *
 * @module
 */

/**
 * IPPROTO_IP (0): the protocol of firewall-mark persistence templates, listed as "IP" like the kernel.
 *
 * @example
 * ```ts
 * Protocol.name(Protocol.IP) // "IP"
 * ```
 */
export const IP = 0
/**
 * IPPROTO_TCP (6).
 *
 * @example
 * ```ts
 * Protocol.name(Protocol.TCP) // "TCP"
 * ```
 */
export const TCP = 6
/**
 * IPPROTO_UDP (17).
 *
 * @example
 * ```ts
 * Protocol.name(Protocol.UDP) // "UDP"
 * ```
 */
export const UDP = 17
/**
 * IPPROTO_SCTP (132).
 *
 * @example
 * ```ts
 * Protocol.name(Protocol.SCTP) // "SCTP"
 * ```
 */
export const SCTP = 132

/**
 * Listing name of a protocol number, as ip_vs_proto_name() prints it ("TCP", "UDP", "SCTP", "IP", else "IP_<n>").
 *
 * @example
 * ```ts
 * Protocol.name(47) // "IP_47"
 * ```
 */
export const name = (protocol: number): string => {
  switch (protocol) {
    case TCP:
      return "TCP"
    case UDP:
      return "UDP"
    case SCTP:
      return "SCTP"
    case IP:
      return "IP"
    default:
      return `IP_${protocol}`
  }
}

/**
 * Whether the table keeps connection entries for this protocol (TCP, UDP and SCTP; IP only for templates).
 *
 * @example
 * ```ts
 * Protocol.isSupported(Protocol.UDP) // true
 * ```
 */
export const isSupported = (protocol: number): boolean => protocol === TCP || protocol === UDP || protocol === SCTP
