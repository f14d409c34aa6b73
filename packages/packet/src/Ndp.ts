/**
 * IPv6 neighbour discovery (RFC 4861) messages a director needs: neighbour advertisements (unsolicited,
 * as keepalived sends for VIPs on becoming MASTER, and solicited replies), and reading solicitations.
 *
 * @module
 */
import * as Ethernet from "./Ethernet.ts"
import * as Icmpv6 from "./Icmpv6.ts"
import { IpProtocol } from "./IpProtocol.ts"
import * as Ipv6 from "./Ipv6.ts"
import { copy, write32 } from "./internal/bytes.ts"

/** Offset of the target address in a solicitation or advertisement. @example `l4 + Ndp.TARGET` */
export const TARGET = 8
/** Offset of the first option. @example `l4 + Ndp.OPTIONS` */
export const OPTIONS = 24
/** Length of a whole advertisement frame with a target link-layer option. @example `Ndp.ADVERTISEMENT_FRAME_LENGTH // 86` */
export const ADVERTISEMENT_FRAME_LENGTH = 14 + 40 + 24 + 8

/**
 * Neighbour advertisement flags (the top bits of the 32-bit word after the checksum).
 *
 * @example
 * ```ts
 * Ndp.Flag.Override | Ndp.Flag.Solicited
 * ```
 */
export const Flag = {
  Router: 0x80000000,
  Solicited: 0x40000000,
  Override: 0x20000000
} as const

/**
 * Option types.
 *
 * @example
 * ```ts
 * Ndp.OptionType.TargetLinkLayerAddress // 2
 * ```
 */
export const OptionType = {
  SourceLinkLayerAddress: 1,
  TargetLinkLayerAddress: 2
} as const

const ALL_NODES = Uint8Array.from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
const ALL_NODES_MAC = Uint8Array.from([0x33, 0x33, 0, 0, 0, 1])

/**
 * Writes a neighbour advertisement frame for `target` (16 bytes at `targetOffset`) with a target
 * link-layer address option carrying `mac`, and returns its length (86; 0 when `out` is too small). Hop limit 255 (RFC 4861 §7.1.2
 * requires it), ICMPv6 checksum computed. `flags` combines {@link Flag} bits.
 *
 * @example
 * ```ts
 * Ndp.writeAdvertisement(out, 0, ourMac, ll, 0, peerMac, peer, 0, vip6, 0, Ndp.Flag.Solicited | Ndp.Flag.Override)
 * ```
 */
export const writeAdvertisement = (
  out: Uint8Array,
  off: number,
  mac: Uint8Array,
  source: Uint8Array,
  sourceOffset: number,
  destinationMac: Uint8Array,
  destination: Uint8Array,
  destinationOffset: number,
  target: Uint8Array,
  targetOffset: number,
  flags: number
): number => {
  if (off < 0 || off + ADVERTISEMENT_FRAME_LENGTH > out.length) return 0
  Ethernet.write(out, off, destinationMac, mac, Ethernet.EtherType.Ipv6)
  const l3 = off + Ethernet.HEADER_LENGTH
  Ipv6.write(out, l3, 0, 0, 32, IpProtocol.Icmpv6, 255, source, sourceOffset, destination, destinationOffset)
  const l4 = l3 + Ipv6.HEADER_LENGTH
  out[l4] = Icmpv6.Type.NeighborAdvertisement
  out[l4 + 1] = 0
  write32(out, l4 + 4, flags)
  copy(out, l4 + TARGET, target, targetOffset, 16)
  out[l4 + OPTIONS] = OptionType.TargetLinkLayerAddress
  out[l4 + OPTIONS + 1] = 1 // length in units of 8 bytes
  copy(out, l4 + OPTIONS + 2, mac, 0, 6)
  Icmpv6.updateChecksum(out, l3, l4, 32)
  return ADVERTISEMENT_FRAME_LENGTH
}

/**
 * Writes an unsolicited neighbour advertisement to all nodes (ff02::1, 33:33:00:00:00:01) with the
 * override flag, as keepalived does for each IPv6 VIP on becoming MASTER (from the interface's
 * link-local `source`; `router` sets the R flag as keepalived does when forwarding is on).
 *
 * @example
 * ```ts
 * Ndp.writeUnsolicitedAdvertisement(out, 0, ourMac, linkLocal, 0, vip6, 0, false) // 86
 * ```
 */
export const writeUnsolicitedAdvertisement = (
  out: Uint8Array,
  off: number,
  mac: Uint8Array,
  source: Uint8Array,
  sourceOffset: number,
  target: Uint8Array,
  targetOffset: number,
  router: boolean
): number =>
  writeAdvertisement(
    out,
    off,
    mac,
    source,
    sourceOffset,
    ALL_NODES_MAC,
    ALL_NODES,
    0,
    target,
    targetOffset,
    Flag.Override | (router ? Flag.Router : 0)
  )

/**
 * Offset of the target address of the solicitation/advertisement at `l4` (compare it with
 * `Ipv6.equalAddress`).
 *
 * @example
 * ```ts
 * if (Ipv6.equalAddress(frame, Ndp.targetOffset(p.l4Offset), vip6, 0)) reply()
 * ```
 */
export const targetOffset = (l4: number): number => l4 + TARGET
