/**
 * Address and port translation with incremental checksum updates (RFC 1624), as IPVS NAT does it
 * (`tcp_dnat_handler` / `tcp_snat_handler`, `udp_*nat_handler`, `ip_vs_nat_icmp`).
 *
 * One function call changes the address, the port, the IPv4 header checksum and the TCP/UDP (or
 * ICMPv6) checksum, folding all word changes into one update. SCTP ports are rewritten too, with a full
 * CRC32c recompute when a port actually changes (as IPVS does; SCTP has no pseudo-header, so an address
 * change alone leaves its checksum valid). Ports of other protocols are left alone.
 *
 * `l4` is the transport header offset, or -1 when the packet carries none (a non-first fragment:
 * `parser.fragmentOffset !== 0`); only the address changes then. A UDP checksum of 0 over IPv4 ("no
 * checksum") stays 0 (the kernel instead computes a full checksum for it; see the README).
 *
 * @module
 */

import { IpProtocol } from "./IpProtocol.ts"
import * as Ipv6 from "./Ipv6.ts"
import { read16, read32, write16, write32 } from "./internal/bytes.ts"
import type { PacketParser } from "./PacketParser.ts"
import * as Sctp from "./Sctp.ts"

/** Folds a 32-bit-ish one's-complement accumulator to 16 bits. */
const fold16 = (acc: number): number => {
  acc = (acc & 0xffff) + (acc >>> 16)
  acc = (acc & 0xffff) + (acc >>> 16)
  return acc
}

/** Applies an accumulated `~old + new` delta to the checksum stored at `at`. */
const apply = (b: Uint8Array, at: number, delta: number): void => {
  const c = (b[at]! << 8) | b[at + 1]!
  const r = ~fold16((~c & 0xffff) + delta) & 0xffff
  b[at] = r >>> 8
  b[at + 1] = r
}

/** Same for a UDP checksum: 0 ("none", IPv4 only) stays 0, a computed 0 is sent as 0xffff. */
const applyUdp = (b: Uint8Array, at: number, delta: number, v4: boolean): void => {
  const c = (b[at]! << 8) | b[at + 1]!
  if (c === 0 && v4) return
  let r = ~fold16((~c & 0xffff) + delta) & 0xffff
  if (r === 0) r = 0xffff
  b[at] = r >>> 8
  b[at + 1] = r
}

/** `~old + new` for a 32-bit value change, as a small positive accumulator. */
const delta32 = (oldV: number, newV: number): number =>
  (~oldV & 0xffff) + ((~oldV >>> 16) & 0xffff) + (newV & 0xffff) + (newV >>> 16)

const rewriteV4 = (
  b: Uint8Array,
  l3: number,
  l4: number,
  protocol: number,
  address: number,
  port: number,
  addressField: number,
  portField: number
): void => {
  // Written out on 16-bit halves: no unsigned 32-bit intermediate (which V8 may have to box as a
  // double) and one fold per checksum; this is the NAT hot path.
  const at = l3 + addressField
  const oldHigh = (b[at]! << 8) | b[at + 1]!
  const oldLow = (b[at + 2]! << 8) | b[at + 3]!
  const newHigh = (address >>> 16) & 0xffff
  const newLow = address & 0xffff
  b[at] = newHigh >>> 8
  b[at + 1] = newHigh
  b[at + 2] = newLow >>> 8
  b[at + 3] = newLow
  const d = (oldHigh ^ 0xffff) + (oldLow ^ 0xffff) + newHigh + newLow
  const c = fold16((((b[l3 + 10]! << 8) | b[l3 + 11]!) ^ 0xffff) + d) ^ 0xffff
  b[l3 + 10] = c >>> 8
  b[l3 + 11] = c
  // A non-first fragment carries no transport header, whatever the caller passed.
  if (l4 < 0 || ((b[l3 + 6]! & 0x1f) | b[l3 + 7]!) !== 0) return
  if (protocol === IpProtocol.Tcp) {
    let dl4 = d
    if (port >= 0) {
      const pa = l4 + portField
      dl4 += (((b[pa]! << 8) | b[pa + 1]!) ^ 0xffff) + port
      b[pa] = port >>> 8
      b[pa + 1] = port
    }
    const t = fold16((((b[l4 + 16]! << 8) | b[l4 + 17]!) ^ 0xffff) + dl4) ^ 0xffff
    b[l4 + 16] = t >>> 8
    b[l4 + 17] = t
  } else if (protocol === IpProtocol.Udp) {
    let dl4 = d
    if (port >= 0) {
      dl4 += (~read16(b, l4 + portField) & 0xffff) + port
      write16(b, l4 + portField, port)
    }
    applyUdp(b, l4 + 6, dl4, true)
  } else if (protocol === IpProtocol.Sctp) {
    sctpPort(b, l4, l3 + read16(b, l3 + 2), portField, port)
  }
}

/**
 * The port of a quoted SCTP header, and its CRC32c recomputed over the rest of the quote as Linux NAT
 * does (`sctp_manip_pkt` checksums up to the end of the ICMP message) when the quote reaches the CRC.
 * Returns the `~old + new` delta of the changed words for the ICMP checksum.
 */
const quotedSctpPort = (b: Uint8Array, il4: number, end: number, portField: number, port: number): number => {
  if (port < 0) return 0
  let d = portDelta(b, il4 + portField, port)
  if (il4 + Sctp.HEADER_LENGTH <= end) {
    const c0 = read16(b, il4 + 8)
    const c1 = read16(b, il4 + 10)
    Sctp.updateChecksum(b, il4, end - il4)
    d += (~c0 & 0xffff) + read16(b, il4 + 8) + (~c1 & 0xffff) + read16(b, il4 + 10)
  }
  return d
}

/** SCTP: no pseudo-header, so only a port change matters, and CRC32c has no incremental form. */
const sctpPort = (b: Uint8Array, l4: number, end: number, portField: number, port: number): void => {
  if (port < 0 || end - l4 < Sctp.HEADER_LENGTH || read16(b, l4 + portField) === port) return
  write16(b, l4 + portField, port)
  Sctp.updateChecksum(b, l4, end - l4)
}

/**
 * DNAT of an IPv4 packet (client -> VIP becomes client -> RIP): destination address and, for TCP/UDP,
 * destination port (`port` < 0 keeps it), with the IPv4 header and L4 checksums updated incrementally.
 *
 * @example
 * ```ts
 * Nat.setDestinationV4(frame, p.l3Offset, p.l4Offset, p.protocol, realServer, 8080)
 * ```
 */
export const setDestinationV4 = (
  b: Uint8Array,
  l3: number,
  l4: number,
  protocol: number,
  address: number,
  port: number
): void => rewriteV4(b, l3, l4, protocol, address, port, 16, 2)

/**
 * SNAT of an IPv4 packet (RIP -> client reply becomes VIP -> client): source address and, for TCP/UDP,
 * source port (`port` < 0 keeps it), with checksums updated incrementally.
 *
 * @example
 * ```ts
 * Nat.setSourceV4(frame, p.l3Offset, p.l4Offset, p.protocol, vip, 80)
 * ```
 */
export const setSourceV4 = (
  b: Uint8Array,
  l3: number,
  l4: number,
  protocol: number,
  address: number,
  port: number
): void => rewriteV4(b, l3, l4, protocol, address, port, 12, 0)

/** Copies 16 address bytes and returns `~old + new` summed over the 8 words. */
const swap128 = (b: Uint8Array, at: number, address: Uint8Array, addressOffset: number): number => {
  let d = 0
  for (let i = 0; i < 16; i += 2) {
    const o = (b[at + i]! << 8) | b[at + i + 1]!
    const n = (address[addressOffset + i]! << 8) | address[addressOffset + i + 1]!
    d += (~o & 0xffff) + n
    b[at + i] = n >>> 8
    b[at + i + 1] = n
  }
  return d
}

/**
 * True when the fixed header's destination is the pseudo-header destination of the upper layer at `l4`
 * (no routing header still on its way), i.e. when changing it changes the L4 checksum.
 */
const destinationInPseudoHeader = (b: Uint8Array, l3: number, l4: number, protocol: number): boolean =>
  b[l3 + 6] === protocol || Ipv6.pseudoHeaderDestination(b, l3, l4) === l3 + 24

const rewriteV6 = (
  b: Uint8Array,
  l3: number,
  l4: number,
  protocol: number,
  address: Uint8Array,
  addressOffset: number,
  port: number,
  addressField: number,
  portField: number
): void => {
  let d = swap128(b, l3 + addressField, address, addressOffset)
  if (l4 < 0) return
  if (addressField === 24 && !destinationInPseudoHeader(b, l3, l4, protocol)) d = 0
  if (protocol === IpProtocol.Tcp || protocol === IpProtocol.Udp) {
    let dl4 = d
    if (port >= 0) {
      dl4 += (~read16(b, l4 + portField) & 0xffff) + port
      write16(b, l4 + portField, port)
    }
    if (protocol === IpProtocol.Tcp) apply(b, l4 + 16, dl4)
    else applyUdp(b, l4 + 6, dl4, false)
  } else if (protocol === IpProtocol.Icmpv6) {
    apply(b, l4 + 2, d) // the ICMPv6 checksum covers the pseudo-header addresses
  } else if (protocol === IpProtocol.Sctp) {
    sctpPort(b, l4, l3 + 40 + read16(b, l3 + 4), portField, port)
  }
}

/**
 * DNAT of an IPv6 packet: destination address (16 bytes of `address` at `addressOffset`) and, for
 * TCP/UDP, destination port (`port` < 0 keeps it); TCP/UDP/ICMPv6 checksums updated incrementally.
 *
 * @example
 * ```ts
 * Nat.setDestinationV6(frame, p.l3Offset, p.l4Offset, p.protocol, rip6, 0, 8080)
 * ```
 */
export const setDestinationV6 = (
  b: Uint8Array,
  l3: number,
  l4: number,
  protocol: number,
  address: Uint8Array,
  addressOffset: number,
  port: number
): void => rewriteV6(b, l3, l4, protocol, address, addressOffset, port, 24, 2)

/**
 * SNAT of an IPv6 packet: source address and, for TCP/UDP, source port, checksums updated incrementally.
 *
 * @example
 * ```ts
 * Nat.setSourceV6(frame, p.l3Offset, p.l4Offset, p.protocol, vip6, 0, 80)
 * ```
 */
export const setSourceV6 = (
  b: Uint8Array,
  l3: number,
  l4: number,
  protocol: number,
  address: Uint8Array,
  addressOffset: number,
  port: number
): void => rewriteV6(b, l3, l4, protocol, address, addressOffset, port, 8, 0)

const icmpErrorV4 = (
  b: Uint8Array,
  p: PacketParser,
  address: number,
  port: number,
  outerField: number,
  innerField: number,
  innerPortField: number
): boolean => {
  if (p.ipVersion !== 4 || p.innerL3Offset < 0 || p.innerResult !== 0 || b[p.innerL3Offset]! >>> 4 !== 4) return false
  address >>>= 0
  const l3 = p.l3Offset
  const l4 = p.l4Offset
  const il3 = p.innerL3Offset
  const il4 = p.innerL4Offset
  // Outer address + outer header checksum (the ICMP checksum does not cover the outer header).
  const oldOuter = read32(b, l3 + outerField)
  write32(b, l3 + outerField, address)
  apply(b, l3 + 10, delta32(oldOuter, address))
  // Embedded address + embedded header checksum; both changes are inside the ICMP message.
  const oldInner = read32(b, il3 + innerField)
  write32(b, il3 + innerField, address)
  const dAddr = delta32(oldInner, address)
  const oldInnerCsum = read16(b, il3 + 10)
  apply(b, il3 + 10, dAddr)
  let dIcmp = dAddr + (~oldInnerCsum & 0xffff) + read16(b, il3 + 10)
  const ip = p.innerProtocol
  if (ip === IpProtocol.Tcp || ip === IpProtocol.Udp) {
    // The port changes only when asked; the address always, and it is in the quoted L4 pseudo-header.
    const dPort = portDelta(b, il4 + innerPortField, port)
    dIcmp += dPort
    if (ip === IpProtocol.Udp) {
      // The quoted UDP checksum is within the 8 quoted bytes: keep it consistent (IPVS leaves it stale).
      const oldUdp = read16(b, il4 + 6)
      applyUdp(b, il4 + 6, dAddr + dPort, true)
      dIcmp += (~oldUdp & 0xffff) + read16(b, il4 + 6)
    } else if (il4 + 18 <= p.l3End) {
      // The quoted TCP checksum, when the quote reaches it (Linux quotes up to 576 bytes): same reason.
      const oldTcp = read16(b, il4 + 16)
      apply(b, il4 + 16, dAddr + dPort)
      dIcmp += (~oldTcp & 0xffff) + read16(b, il4 + 16)
    }
  } else if (ip === IpProtocol.Sctp) {
    dIcmp += quotedSctpPort(b, il4, p.l3End, innerPortField, port)
  }
  apply(b, l4 + 2, fold16(dIcmp))
  return true
}

/**
 * NAT of an ICMPv4 error travelling client -> real server (IPVS `ip_vs_nat_icmp`, inbound): outer
 * destination VIP -> `address`, embedded source VIP -> `address`, embedded source port -> `port`
 * (`port` < 0 keeps it; TCP, UDP and SCTP); outer and embedded header checksums, the quoted TCP/UDP
 * checksum (when the quote contains it; IPVS leaves it stale; SCTP: CRC32c recomputed over the quote as
 * Linux NAT does) and the ICMP checksum updated incrementally. `p` must have parsed the frame (an ICMP error with `innerResult` Ok); returns false
 * and changes nothing otherwise.
 *
 * @example
 * ```ts
 * if (p.icmpType === 3) Nat.icmpErrorInV4(frame, p, realServer, 8080)
 * ```
 */
export const icmpErrorInV4 = (b: Uint8Array, p: PacketParser, address: number, port: number): boolean =>
  icmpErrorV4(b, p, address, port, 16, 12, 0)

/**
 * NAT of an ICMPv4 error travelling real server -> client (IPVS `ip_vs_nat_icmp`, outbound): outer
 * source RIP -> `address` (VIP), embedded destination RIP -> VIP, embedded destination port -> `port`.
 *
 * @example
 * ```ts
 * Nat.icmpErrorOutV4(frame, p, vip, 80)
 * ```
 */
export const icmpErrorOutV4 = (b: Uint8Array, p: PacketParser, address: number, port: number): boolean =>
  icmpErrorV4(b, p, address, port, 12, 16, 2)

const icmpErrorV6 = (
  b: Uint8Array,
  p: PacketParser,
  address: Uint8Array,
  addressOffset: number,
  port: number,
  outerField: number,
  innerField: number,
  innerPortField: number
): boolean => {
  if (p.ipVersion !== 6 || p.innerL3Offset < 0 || p.innerResult !== 0 || b[p.innerL3Offset]! >>> 4 !== 6) return false
  const il4 = p.innerL4Offset
  // The ICMPv6 checksum covers the outer addresses (pseudo-header) and the whole quote.
  const dOuter = swap128(b, p.l3Offset + outerField, address, addressOffset)
  const dQuote = swap128(b, p.innerL3Offset + innerField, address, addressOffset)
  let d = dQuote
  if (outerField === 8 || destinationInPseudoHeader(b, p.l3Offset, p.l4Offset, IpProtocol.Icmpv6)) d += dOuter
  // The quoted L4 checksum depends on the quoted address unless a routing header hides it.
  const dInner =
    innerField === 8 || il4 < 0 || destinationInPseudoHeader(b, p.innerL3Offset, il4, p.innerProtocol) ? dQuote : 0
  const ip = p.innerProtocol
  if ((ip === IpProtocol.Tcp || ip === IpProtocol.Udp) && il4 >= 0) {
    const dPort = portDelta(b, il4 + innerPortField, port)
    d += dPort
    if (ip === IpProtocol.Udp) {
      const oldUdp = read16(b, il4 + 6)
      applyUdp(b, il4 + 6, fold16(dInner + dPort), false)
      d += (~oldUdp & 0xffff) + read16(b, il4 + 6)
    } else if (il4 + 18 <= p.l3End) {
      const oldTcp = read16(b, il4 + 16)
      apply(b, il4 + 16, fold16(dInner + dPort))
      d += (~oldTcp & 0xffff) + read16(b, il4 + 16)
    }
  } else if (ip === IpProtocol.Sctp && il4 >= 0) {
    d += quotedSctpPort(b, il4, p.l3End, innerPortField, port)
  }
  apply(b, p.l4Offset + 2, fold16(d))
  return true
}

/**
 * {@link icmpErrorInV4} for ICMPv6 errors (address: 16 bytes at `addressOffset`).
 *
 * @example
 * ```ts
 * Nat.icmpErrorInV6(frame, p, rip6, 0, 8080)
 * ```
 */
export const icmpErrorInV6 = (
  b: Uint8Array,
  p: PacketParser,
  address: Uint8Array,
  addressOffset: number,
  port: number
): boolean => icmpErrorV6(b, p, address, addressOffset, port, 24, 8, 0)

/**
 * {@link icmpErrorOutV4} for ICMPv6 errors (address: 16 bytes at `addressOffset`).
 *
 * @example
 * ```ts
 * Nat.icmpErrorOutV6(frame, p, vip6, 0, 80)
 * ```
 */
export const icmpErrorOutV6 = (
  b: Uint8Array,
  p: PacketParser,
  address: Uint8Array,
  addressOffset: number,
  port: number
): boolean => icmpErrorV6(b, p, address, addressOffset, port, 8, 24, 2)

/** `~old + new` of a 16-bit port written at `at` (0 when `port` < 0: kept). */
const portDelta = (b: Uint8Array, at: number, port: number): number => {
  if (port < 0) return 0
  const d = (~read16(b, at) & 0xffff) + port
  write16(b, at, port)
  return d
}

const bothL4 = (
  b: Uint8Array,
  l4: number,
  end: number,
  protocol: number,
  d: number,
  sourcePort: number,
  destinationPort: number,
  v4: boolean
): void => {
  if (protocol === IpProtocol.Tcp || protocol === IpProtocol.Udp) {
    const dl4 = d + portDelta(b, l4, sourcePort) + portDelta(b, l4 + 2, destinationPort)
    if (protocol === IpProtocol.Tcp) apply(b, l4 + 16, fold16(dl4))
    else applyUdp(b, l4 + 6, fold16(dl4), v4)
  } else if (protocol === IpProtocol.Sctp) {
    if (end - l4 < Sctp.HEADER_LENGTH) return
    const changed =
      (sourcePort >= 0 && read16(b, l4) !== sourcePort) ||
      (destinationPort >= 0 && read16(b, l4 + 2) !== destinationPort)
    if (!changed) return
    if (sourcePort >= 0) write16(b, l4, sourcePort)
    if (destinationPort >= 0) write16(b, l4 + 2, destinationPort)
    Sctp.updateChecksum(b, l4, end - l4)
  } else if (protocol === IpProtocol.Icmpv6 && !v4) {
    apply(b, l4 + 2, fold16(d))
  }
}

/**
 * FULLNAT rewrite of an IPv4 packet in one pass (ipvs.md §3.6; alibaba/LVS and DPVS FNAT): source and
 * destination address and port together, all checksum deltas folded once. Client -> RS:
 * `(CIP, CPORT, VIP, VPORT)` becomes `(LIP, LPORT, RIP, RPORT)`; RS -> client the reverse. A port < 0
 * is kept.
 *
 * @example
 * ```ts
 * Nat.setAddressesV4(frame, p.l3Offset, p.l4Offset, p.protocol, localIp, localPort, realServer, 8080)
 * ```
 */
export const setAddressesV4 = (
  b: Uint8Array,
  l3: number,
  l4: number,
  protocol: number,
  source: number,
  sourcePort: number,
  destination: number,
  destinationPort: number
): void => {
  source >>>= 0
  destination >>>= 0
  const oldSource = read32(b, l3 + 12)
  const oldDestination = read32(b, l3 + 16)
  write32(b, l3 + 12, source)
  write32(b, l3 + 16, destination)
  const d = delta32(oldSource, source) + delta32(oldDestination, destination)
  apply(b, l3 + 10, fold16(d))
  if (l4 < 0 || (read16(b, l3 + 6) & 0x1fff) !== 0) return
  bothL4(b, l4, l3 + read16(b, l3 + 2), protocol, d, sourcePort, destinationPort, true)
}

/**
 * FULLNAT rewrite of an IPv6 packet in one pass (addresses: 16 bytes at their offsets); see
 * {@link setAddressesV4}.
 *
 * @example
 * ```ts
 * Nat.setAddressesV6(frame, p.l3Offset, p.l4Offset, p.protocol, lip6, 0, 40001, rip6, 0, 8080)
 * ```
 */
export const setAddressesV6 = (
  b: Uint8Array,
  l3: number,
  l4: number,
  protocol: number,
  source: Uint8Array,
  sourceOffset: number,
  sourcePort: number,
  destination: Uint8Array,
  destinationOffset: number,
  destinationPort: number
): void => {
  const ds = swap128(b, l3 + 8, source, sourceOffset)
  const dd = swap128(b, l3 + 24, destination, destinationOffset)
  if (l4 < 0) return
  const d = destinationInPseudoHeader(b, l3, l4, protocol) ? ds + dd : ds
  bothL4(b, l4, l3 + 40 + read16(b, l3 + 4), protocol, d, sourcePort, destinationPort, false)
}
