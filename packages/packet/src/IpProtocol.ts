/**
 * IP protocol numbers (IPv4 `protocol`, IPv6 `next header`) used by the director, from the IANA registry.
 *
 * @module
 */

/**
 * Protocol / next-header numbers.
 *
 * @example
 * ```ts
 * if (parser.protocol === IpProtocol.Tcp) { ... }
 * ```
 */
export const IpProtocol = {
  /** IPv6 hop-by-hop options extension header. */
  HopByHop: 0,
  Icmp: 1,
  Igmp: 2,
  /** IPv4 encapsulated in IP (IPIP, RFC 2003): IPVS `--tun-type ipip` for an IPv4 inner packet. */
  Ipip: 4,
  Tcp: 6,
  Udp: 17,
  /** IPv6 encapsulated in IP (RFC 2473 / 4213): IPVS tunnel for an IPv6 inner packet. */
  Ipv6: 41,
  /** IPv6 routing extension header. */
  Routing: 43,
  /** IPv6 fragment extension header. */
  Fragment: 44,
  Gre: 47,
  Esp: 50,
  /** Authentication header (length in 4-byte units, unlike the other extension headers). */
  Ah: 51,
  Icmpv6: 58,
  /** IPv6 "no next header". */
  NoNextHeader: 59,
  /** IPv6 destination options extension header. */
  DestinationOptions: 60,
  Sctp: 132
} as const
