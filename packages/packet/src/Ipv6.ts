/**
 * IPv6 header (RFC 8200): offsets, validation, the extension-header walk to the upper-layer header,
 * in-place accessors, hop-limit decrement and header writer.
 *
 * Addresses stay in the packet (16 bytes at an offset); callers compare or copy them with
 * {@link equalAddress} / {@link setSource} instead of materialising strings or bigints per packet.
 *
 * @module
 */

import { IpProtocol } from "./IpProtocol.ts"
import { copy, equal, read16, write16 } from "./internal/bytes.ts"
import { ParseResult } from "./ParseResult.ts"

/** Fixed header length. @example `Ipv6.HEADER_LENGTH // 40` */
export const HEADER_LENGTH = 40
/** Offset of version / traffic class / flow label. @example `frame[l3] >>> 4 // 6` */
export const VERSION_CLASS_FLOW = 0
/** Offset of the payload length. @example `Ipv6.payloadLength(frame, l3)` */
export const PAYLOAD_LENGTH = 4
/** Offset of the next header. @example `frame[l3 + Ipv6.NEXT_HEADER]` */
export const NEXT_HEADER = 6
/** Offset of the hop limit. @example `frame[l3 + Ipv6.HOP_LIMIT]` */
export const HOP_LIMIT = 7
/** Offset of the source address. @example `frame.subarray(l3 + Ipv6.SOURCE, l3 + Ipv6.SOURCE + 16)` */
export const SOURCE = 8
/** Offset of the destination address. @example `l3 + Ipv6.DESTINATION` */
export const DESTINATION = 24
/** Address length. @example `new Uint8Array(Ipv6.ADDRESS_LENGTH)` */
export const ADDRESS_LENGTH = 16
/** Length of the fragment extension header. @example `Ipv6.FRAGMENT_HEADER_LENGTH // 8` */
export const FRAGMENT_HEADER_LENGTH = 8
/**
 * The walk gives up after this many extension headers (`ParseResult.TooManyExtensionHeaders`); RFC 8200
 * expects at most one of each kind (destination options twice), so legitimate chains are far shorter.
 *
 * @example
 * ```ts
 * Ipv6.MAX_EXTENSION_HEADERS // 8
 * ```
 */
export const MAX_EXTENSION_HEADERS = 8

/**
 * Where the extension-header walk stores what it found. {@link PacketParser} implements it; any object
 * with these fields (created once, reused) does too.
 *
 * @example
 * ```ts
 * const state = { protocol: 0, l4Offset: 0, fragmentOffset: 0, moreFragments: false, fragmentHeaderOffset: -1 }
 * Ipv6.walkExtensions(frame, 14, frame.length, state)
 * ```
 */
export interface ExtensionWalkState {
  /** Upper-layer protocol (next header of the last extension header). */
  protocol: number
  /** Offset of the upper-layer header (or of the fragment data of a non-first fragment). */
  l4Offset: number
  /** Fragment offset in bytes (0 when not a fragment or the first fragment). */
  fragmentOffset: number
  /** M flag of the fragment header. */
  moreFragments: boolean
  /** Offset of the fragment header, -1 when none. */
  fragmentHeaderOffset: number
}

/**
 * Validates the fixed header at `off` against `available` bytes: version 6, 40 bytes present, payload
 * inside the buffer (what `ipv6_rcv` checks). Jumbograms (payload length 0 + hop-by-hop jumbo option)
 * are not supported: Ethernet cannot carry them.
 *
 * @example
 * ```ts
 * Ipv6.validate(frame, 14, frame.length - 14) // ParseResult.Ok
 * ```
 */
export const validate = (b: Uint8Array, off: number, available: number): ParseResult => {
  if (available < HEADER_LENGTH) return ParseResult.Truncated
  if (b[off]! >>> 4 !== 6) return ParseResult.BadVersion
  if (HEADER_LENGTH + read16(b, off + PAYLOAD_LENGTH) > available) return ParseResult.TotalLengthBeyondBuffer
  return ParseResult.Ok
}

/** Validates the TLV options of a hop-by-hop or destination options header spanning `[start, end)`. */
const validateTlvOptions = (b: Uint8Array, start: number, end: number): ParseResult => {
  let i = start
  while (i < end) {
    if (b[i] === 0) {
      i++ // Pad1
      continue
    }
    if (i + 1 >= end) return ParseResult.OptionOverrun
    i += 2 + b[i + 1]!
    if (i > end) return ParseResult.OptionOverrun
  }
  return ParseResult.Ok
}

/**
 * True for next-header values the walk steps over (hop-by-hop, routing, fragment, destination options, AH).
 *
 * @example
 * ```ts
 * Ipv6.isExtensionHeader(IpProtocol.Routing) // true
 * ```
 */
export const isExtensionHeader = (nextHeader: number): boolean =>
  nextHeader === IpProtocol.HopByHop ||
  nextHeader === IpProtocol.Routing ||
  nextHeader === IpProtocol.Fragment ||
  nextHeader === IpProtocol.DestinationOptions ||
  nextHeader === IpProtocol.Ah

/**
 * Walks the extension headers of the validated IPv6 header at `off` up to the upper-layer header
 * (like `ipv6_skip_exthdr` + `ipv6_find_hdr` in Linux), never reading at or past `end` (the end of the
 * IPv6 payload). Stops at a non-first fragment (its data is not a header), at ESP and at "no next header".
 *
 * @example
 * ```ts
 * const r = Ipv6.walkExtensions(frame, 14, 14 + 40 + Ipv6.payloadLength(frame, 14), state)
 * if (r === ParseResult.Ok && state.protocol === IpProtocol.Tcp) Tcp.sourcePort(frame, state.l4Offset)
 * ```
 */
export const walkExtensions = (b: Uint8Array, off: number, end: number, state: ExtensionWalkState): ParseResult => {
  let next = b[off + NEXT_HEADER]!
  let i = off + HEADER_LENGTH
  state.fragmentOffset = 0
  state.moreFragments = false
  state.fragmentHeaderOffset = -1
  for (let n = 0; isExtensionHeader(next); n++) {
    if (n === MAX_EXTENSION_HEADERS) return ParseResult.TooManyExtensionHeaders
    if (i + 8 > end) return ParseResult.ExtensionHeaderOverrun
    const h = next
    next = b[i]!
    if (h === IpProtocol.Fragment) {
      const word = read16(b, i + 2)
      state.fragmentHeaderOffset = i
      state.fragmentOffset = word & 0xfff8
      state.moreFragments = (word & 1) === 1
      i += FRAGMENT_HEADER_LENGTH
      if (state.fragmentOffset !== 0) break
      continue
    }
    const len = h === IpProtocol.Ah ? (b[i + 1]! + 2) << 2 : (b[i + 1]! + 1) << 3
    if (i + len > end) return ParseResult.ExtensionHeaderOverrun
    if (h === IpProtocol.HopByHop || h === IpProtocol.DestinationOptions) {
      const r = validateTlvOptions(b, i + 2, i + len)
      if (r !== ParseResult.Ok) return r
    }
    i += len
  }
  state.protocol = next
  state.l4Offset = i
  return ParseResult.Ok
}

/** Traffic class byte (DSCP << 2 | ECN). @example `Ipv6.trafficClass(frame, 14)` */
export const trafficClass = (b: Uint8Array, off: number): number => ((b[off]! & 0x0f) << 4) | (b[off + 1]! >>> 4)
/** Flow label (20 bits). @example `Ipv6.flowLabel(frame, 14)` */
export const flowLabel = (b: Uint8Array, off: number): number =>
  ((b[off + 1]! & 0x0f) << 16) | (b[off + 2]! << 8) | b[off + 3]!
/** Payload length (everything after the fixed header). @example `Ipv6.payloadLength(frame, 14)` */
export const payloadLength = (b: Uint8Array, off: number): number => read16(b, off + PAYLOAD_LENGTH)
/** Next header of the fixed header. @example `Ipv6.nextHeader(frame, 14) // 6` */
export const nextHeader = (b: Uint8Array, off: number): number => b[off + NEXT_HEADER]!
/** Hop limit. @example `Ipv6.hopLimit(frame, 14) // 64` */
export const hopLimit = (b: Uint8Array, off: number): number => b[off + HOP_LIMIT]!

/**
 * Writes the payload length.
 *
 * @example
 * ```ts
 * Ipv6.setPayloadLength(frame, 14, 20)
 * ```
 */
export const setPayloadLength = (b: Uint8Array, off: number, length: number): void =>
  write16(b, off + PAYLOAD_LENGTH, length)

/**
 * Copies a 16-byte address into the source field (no checksum change; see `Nat` for that).
 *
 * @example
 * ```ts
 * Ipv6.setSource(frame, 14, vip, 0)
 * ```
 */
export const setSource = (b: Uint8Array, off: number, address: Uint8Array, addressOffset: number): void =>
  copy(b, off + SOURCE, address, addressOffset, ADDRESS_LENGTH)

/**
 * Copies a 16-byte address into the destination field (no checksum change).
 *
 * @example
 * ```ts
 * Ipv6.setDestination(frame, 14, rip, 0)
 * ```
 */
export const setDestination = (b: Uint8Array, off: number, address: Uint8Array, addressOffset: number): void =>
  copy(b, off + DESTINATION, address, addressOffset, ADDRESS_LENGTH)

/**
 * Compares 16 address bytes at `at` in `b` with `address` at `addressOffset`.
 *
 * @example
 * ```ts
 * Ipv6.equalAddress(frame, 14 + Ipv6.DESTINATION, vip, 0)
 * ```
 */
export const equalAddress = (b: Uint8Array, at: number, address: Uint8Array, addressOffset: number): boolean =>
  equal(b, at, address, addressOffset, ADDRESS_LENGTH)

/**
 * Decrements the hop limit; returns false and changes nothing when it is <= 1 (the packet would expire:
 * drop it and send ICMPv6 time exceeded, as `ip6_forward` does). IPv6 has no header checksum.
 *
 * @example
 * ```ts
 * if (!Ipv6.decrementHopLimit(frame, 14)) sendTimeExceeded()
 * ```
 */
export const decrementHopLimit = (b: Uint8Array, off: number): boolean => {
  const h = b[off + HOP_LIMIT]!
  if (h <= 1) return false
  b[off + HOP_LIMIT] = h - 1
  return true
}

/**
 * Writes a 40-byte fixed header and returns 40.
 *
 * @example
 * ```ts
 * Ipv6.write(out, 14, 0, 0, 32, IpProtocol.Icmpv6, 255, ourAddr, 0, allNodes, 0)
 * ```
 */
export const write = (
  b: Uint8Array,
  off: number,
  trafficClass: number,
  flowLabel: number,
  payloadLength: number,
  nextHeader: number,
  hopLimit: number,
  source: Uint8Array,
  sourceOffset: number,
  destination: Uint8Array,
  destinationOffset: number
): number => {
  b[off] = 0x60 | ((trafficClass >>> 4) & 0x0f)
  b[off + 1] = ((trafficClass & 0x0f) << 4) | ((flowLabel >>> 16) & 0x0f)
  b[off + 2] = flowLabel >>> 8
  b[off + 3] = flowLabel
  write16(b, off + PAYLOAD_LENGTH, payloadLength)
  b[off + NEXT_HEADER] = nextHeader
  b[off + HOP_LIMIT] = hopLimit
  copy(b, off + SOURCE, source, sourceOffset, ADDRESS_LENGTH)
  copy(b, off + DESTINATION, destination, destinationOffset, ADDRESS_LENGTH)
  return HEADER_LENGTH
}

/**
 * Offset of the address the upper-layer pseudo-header uses as destination (RFC 8200 §8.1): the fixed
 * header's destination, unless a routing header with segments left > 0 sits between `l3` and `l4`; then
 * the final destination it carries (type 0: its last address; type 2: its home address; type 4, segment
 * routing: segment list [0]). Cheap when there are no extension headers. Never reads at or past `l4`.
 *
 * @example
 * ```ts
 * const dst = Ipv6.pseudoHeaderDestination(frame, 14, p.l4Offset) // 14 + 24 without a routing header
 * ```
 */
export const pseudoHeaderDestination = (b: Uint8Array, l3: number, l4: number): number => {
  let found = l3 + DESTINATION
  let next = b[l3 + NEXT_HEADER]!
  let i = l3 + HEADER_LENGTH
  for (let n = 0; n < MAX_EXTENSION_HEADERS && i + 8 <= l4 && isExtensionHeader(next); n++) {
    const h = next
    next = b[i]!
    const len = h === IpProtocol.Fragment ? 8 : h === IpProtocol.Ah ? (b[i + 1]! + 2) << 2 : (b[i + 1]! + 1) << 3
    if (i + len > l4) break
    if (h === IpProtocol.Routing && b[i + 3]! > 0) {
      const type = b[i + 2]!
      const addresses = b[i + 1]! >>> 1
      if (type === 0 && addresses > 0) found = i + 8 + 16 * (addresses - 1)
      else if ((type === 2 || type === 4) && addresses > 0) found = i + 8
    }
    i += len
  }
  return found
}
