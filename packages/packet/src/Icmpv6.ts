/**
 * ICMPv6 (RFC 4443): offsets, types, the embedded original packet of error messages, checksum helpers
 * (the checksum covers the IPv6 pseudo-header). Builders for destination unreachable, packet too big,
 * time exceeded and echo reply are in this module too; neighbour discovery is in `Ndp`.
 *
 * @module
 */
import * as Checksum from "./Checksum.ts"
import { IpProtocol } from "./IpProtocol.ts"
import { read16, read32, write16 } from "./internal/bytes.ts"

/** Header length (type, code, checksum, 4 bytes). @example `Icmpv6.HEADER_LENGTH // 8` */
export const HEADER_LENGTH = 8
/** Offset of the type. @example `frame[l4 + Icmpv6.TYPE]` */
export const TYPE = 0
/** Offset of the code. @example `frame[l4 + Icmpv6.CODE]` */
export const CODE = 1
/** Offset of the checksum. @example `Icmpv6.checksum(frame, l4)` */
export const CHECKSUM = 2
/** Offset of the MTU of packet too big (32 bits). @example `Icmpv6.mtu(frame, l4)` */
export const MTU = 4
/** Offset of the echo identifier. @example `Icmpv6.identifier(frame, l4)` */
export const IDENTIFIER = 4
/** Offset of the echo sequence number. @example `Icmpv6.sequence(frame, l4)` */
export const SEQUENCE = 6
/** Offset of the embedded original packet of an error message. @example `l4 + Icmpv6.EMBEDDED` */
export const EMBEDDED = 8
/**
 * Largest error message (RFC 4443 §2.4(c): as much of the invoking packet as fits the IPv6 minimum MTU).
 *
 * @example
 * ```ts
 * Icmpv6.MAX_ERROR_PACKET // 1280
 * ```
 */
export const MAX_ERROR_PACKET = 1280

/**
 * ICMPv6 types.
 *
 * @example
 * ```ts
 * Icmpv6.type(frame, l4) === Icmpv6.Type.PacketTooBig
 * ```
 */
export const Type = {
  DestinationUnreachable: 1,
  PacketTooBig: 2,
  TimeExceeded: 3,
  ParameterProblem: 4,
  EchoRequest: 128,
  EchoReply: 129,
  RouterSolicitation: 133,
  RouterAdvertisement: 134,
  NeighborSolicitation: 135,
  NeighborAdvertisement: 136,
  Redirect: 137
} as const

/**
 * Destination-unreachable codes.
 *
 * @example
 * ```ts
 * Icmpv6.UnreachableCode.Port // 4
 * ```
 */
export const UnreachableCode = {
  NoRoute: 0,
  AdministrativelyProhibited: 1,
  BeyondScope: 2,
  Address: 3,
  Port: 4
} as const

/**
 * True for error messages (types 0..127) that carry the invoking packet: 1, 2, 3, 4. IPVS relates all
 * four to connections (`ip_vs_in_icmp_v6`).
 *
 * @example
 * ```ts
 * Icmpv6.isError(2) // true
 * ```
 */
export const isError = (type: number): boolean => type >= 1 && type <= 4

/** Type. @example `Icmpv6.type(frame, 54) // 1` */
export const type = (b: Uint8Array, l4: number): number => b[l4]!
/** Code. @example `Icmpv6.code(frame, 54) // 4` */
export const code = (b: Uint8Array, l4: number): number => b[l4 + CODE]!
/** Checksum field. @example `Icmpv6.checksum(frame, 54)` */
export const checksum = (b: Uint8Array, l4: number): number => read16(b, l4 + CHECKSUM)
/** MTU of packet too big. @example `Icmpv6.mtu(frame, 54) // 1280` */
export const mtu = (b: Uint8Array, l4: number): number => read32(b, l4 + MTU)
/** Echo identifier. @example `Icmpv6.identifier(frame, 54)` */
export const identifier = (b: Uint8Array, l4: number): number => read16(b, l4 + IDENTIFIER)
/** Echo sequence number. @example `Icmpv6.sequence(frame, 54)` */
export const sequence = (b: Uint8Array, l4: number): number => read16(b, l4 + SEQUENCE)

/**
 * Recomputes and stores the checksum of the `length`-byte message at `l4` in the IPv6 packet at `l3`.
 *
 * @example
 * ```ts
 * Icmpv6.updateChecksum(frame, 14, 54, 32)
 * ```
 */
export const updateChecksum = (b: Uint8Array, l3: number, l4: number, length: number): void => {
  b[l4 + CHECKSUM] = 0
  b[l4 + CHECKSUM + 1] = 0
  write16(b, l4 + CHECKSUM, Checksum.transport(b, l3, l4, IpProtocol.Icmpv6, length))
}

/**
 * True when the checksum verifies.
 *
 * @example
 * ```ts
 * Icmpv6.isChecksumValid(frame, 14, 54, 32)
 * ```
 */
export const isChecksumValid = (b: Uint8Array, l3: number, l4: number, length: number): boolean =>
  Checksum.transport(b, l3, l4, IpProtocol.Icmpv6, length) === 0
