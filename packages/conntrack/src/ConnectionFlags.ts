/**
 * Connection flag bits, numerically identical to the kernel's IP_VS_CONN_F_* (include/uapi/linux/ip_vs.h), so
 * they can be copied into sync messages and /proc listings unchanged. FULLNAT (5) is the alibaba/LVS value.
 *
 * @module
 */

/**
 * Mask of the forwarding-method field (low 3 bits).
 *
 * @example
 * ```ts
 * const method = flags & ConnectionFlags.FWD_MASK
 * ```
 */
export const FWD_MASK = 0x0007
/**
 * NAT (masquerading, ipvsadm -m).
 *
 * @example
 * ```ts
 * ConnectionFlags.MASQ // 0
 * ```
 */
export const MASQ = 0x0000
/**
 * Local node (the real server is the director itself).
 *
 * @example
 * ```ts
 * ConnectionFlags.LOCALNODE // 1
 * ```
 */
export const LOCALNODE = 0x0001
/**
 * IP tunnelling (ipvsadm -i).
 *
 * @example
 * ```ts
 * ConnectionFlags.TUNNEL // 2
 * ```
 */
export const TUNNEL = 0x0002
/**
 * Direct routing (ipvsadm -g).
 *
 * @example
 * ```ts
 * ConnectionFlags.DROUTE // 3
 * ```
 */
export const DROUTE = 0x0003
/**
 * Cache bypass (forward to the original destination).
 *
 * @example
 * ```ts
 * ConnectionFlags.BYPASS // 4
 * ```
 */
export const BYPASS = 0x0004
/**
 * FULLNAT (not mainline; alibaba/LVS and DPVS value): source NAT to a local address, so replies always pass the
 * director and are looked up on (real server -> local address).
 *
 * @example
 * ```ts
 * ConnectionFlags.FULLNAT // 5
 * ```
 */
export const FULLNAT = 0x0005
/**
 * Entry created by the sync backup.
 *
 * @example
 * ```ts
 * (flags & ConnectionFlags.SYNC) !== 0
 * ```
 */
export const SYNC = 0x0020
/**
 * Entry is in the hash table (kept for sync/listing compatibility; always set on live entries).
 *
 * @example
 * ```ts
 * ConnectionFlags.HASHED // 0x40
 * ```
 */
export const HASHED = 0x0040
/**
 * No reply seen yet on a non-NAT entry: INPUT packets use the INPUT_ONLY state table.
 *
 * @example
 * ```ts
 * ConnectionFlags.NOOUTPUT // 0x80
 * ```
 */
export const NOOUTPUT = 0x0080
/**
 * The entry is counted in its destination's inactive connections.
 *
 * @example
 * ```ts
 * ConnectionFlags.INACTIVE // 0x100
 * ```
 */
export const INACTIVE = 0x0100
/**
 * Sequence-adjust bits (application helpers); carried, not interpreted.
 *
 * @example
 * ```ts
 * ConnectionFlags.SEQ_MASK // 0x600
 * ```
 */
export const SEQ_MASK = 0x0600
/**
 * Client port unknown (sync); carried, not interpreted.
 *
 * @example
 * ```ts
 * ConnectionFlags.NO_CPORT // 0x800
 * ```
 */
export const NO_CPORT = 0x0800
/**
 * The entry is a persistence template.
 *
 * @example
 * ```ts
 * ConnectionFlags.TEMPLATE // 0x1000
 * ```
 */
export const TEMPLATE = 0x1000
/**
 * One-packet scheduling (UDP -o); carried, not interpreted by the table.
 *
 * @example
 * ```ts
 * ConnectionFlags.ONE_PACKET // 0x2000
 * ```
 */
export const ONE_PACKET = 0x2000
/**
 * Internal: the entry's addresses are IPv6 (not a kernel bit; masked out of {@link kernelFlags}).
 *
 * @example
 * ```ts
 * ConnectionFlags.IPV6 // 0x4000
 * ```
 */
export const IPV6 = 0x4000
/**
 * Bits that are ours, not the kernel's (removed by {@link kernelFlags}).
 *
 * @example
 * ```ts
 * ConnectionFlags.INTERNAL_MASK // 0x4000
 * ```
 */
export const INTERNAL_MASK = 0x4000

/**
 * The kernel-visible part of a flags word (internal bits removed), as sync and /proc expect.
 *
 * @example
 * ```ts
 * ConnectionFlags.kernelFlags(ConnectionFlags.IPV6 | ConnectionFlags.INACTIVE) // 0x100
 * ```
 */
export const kernelFlags = (flags: number): number => flags & 0x3fff

/**
 * Forwarding-method name as ipvsadm prints it in -L (Masq, Local, Tunnel, Route, Bypass, FullNat).
 *
 * @example
 * ```ts
 * ConnectionFlags.methodName(ConnectionFlags.DROUTE) // "Route"
 * ```
 */
export const methodName = (flags: number): string => {
  switch (flags & FWD_MASK) {
    case MASQ:
      return "Masq"
    case LOCALNODE:
      return "Local"
    case TUNNEL:
      return "Tunnel"
    case DROUTE:
      return "Route"
    case BYPASS:
      return "Bypass"
    case FULLNAT:
      return "FullNat"
    default:
      return "Unknown"
  }
}
