/**
 * The IP datagram around an advertisement: the IPv4 header keepalived builds itself (IP_HDRINCL) and the
 * IPv6 header of frames written to TAP ports, plus the receive-side view the validator consumes.
 *
 * keepalived's IPv4 header (reference §2.1): version 4, IHL 5, TOS 0xc0, DF clear, TTL 255 (or
 * `unicast_ttl`), a per-instance IP ID counter starting at 1 that wraps skipping 0, protocol 112.
 *
 * Offsets come from the `@lvs-ts/packet` header modules.
 *
 * @module
 */
import { Checksum, Ipv4, Ipv6 } from "@lvs-ts/packet"
import * as Address from "./Address.ts"
import * as Advert from "./Advert.ts"
import * as AddressCache from "./internal/addressCache.ts"

/**
 * Offsets in the IPv4 header (the `@lvs-ts/packet` Ipv4 constants).
 *
 * @example
 * ```ts
 * const ttl = bytes[Datagram.Ipv4Offset.ttl]
 * ```
 */
export const Ipv4Offset = {
  versionIhl: Ipv4.VERSION_IHL,
  tos: Ipv4.TOS,
  totalLength: Ipv4.TOTAL_LENGTH,
  id: Ipv4.IDENTIFICATION,
  flagsFragment: Ipv4.FLAGS_FRAGMENT,
  ttl: Ipv4.TTL,
  protocol: Ipv4.PROTOCOL,
  checksum: Ipv4.CHECKSUM,
  source: Ipv4.SOURCE,
  destination: Ipv4.DESTINATION
} as const

/**
 * Offsets in the IPv6 header (the `@lvs-ts/packet` Ipv6 constants).
 *
 * @example
 * ```ts
 * const hopLimit = bytes[Datagram.Ipv6Offset.hopLimit]
 * ```
 */
export const Ipv6Offset = {
  versionClassFlow: Ipv6.VERSION_CLASS_FLOW,
  payloadLength: Ipv6.PAYLOAD_LENGTH,
  nextHeader: Ipv6.NEXT_HEADER,
  hopLimit: Ipv6.HOP_LIMIT,
  source: Ipv6.SOURCE,
  destination: Ipv6.DESTINATION
} as const

/**
 * Offsets in the IPsec AH header (RFC 4302) that may precede a v2 advert.
 *
 * @example
 * ```ts
 * const nextHeader = bytes[ihl + Datagram.AhOffset.nextHeader]
 * ```
 */
export const AhOffset = { nextHeader: 0, payloadLength: 1, spi: 4, sequence: 8, icv: 12 } as const

/**
 * Length of an IPv4 header without options, as keepalived sends it.
 *
 * @example
 * ```ts
 * const vrrpAt = Datagram.IPV4_HEADER_LENGTH
 * ```
 */
export const IPV4_HEADER_LENGTH = Ipv4.HEADER_LENGTH
/**
 * Length of the IPv6 fixed header.
 *
 * @example
 * ```ts
 * const vrrpAt = 14 + Datagram.IPV6_HEADER_LENGTH
 * ```
 */
export const IPV6_HEADER_LENGTH = Ipv6.HEADER_LENGTH
/**
 * Length of the AH header keepalived uses (HMAC-MD5-96): 12 fixed + 12 ICV.
 *
 * @example
 * ```ts
 * const vrrpAt = Datagram.IPV4_HEADER_LENGTH + Datagram.AH_LENGTH
 * ```
 */
export const AH_LENGTH = 24
/**
 * The TOS byte keepalived sets (precedence 6, "internetwork control").
 *
 * @example
 * ```ts
 * bytes[Datagram.Ipv4Offset.tos] === Datagram.TOS
 * ```
 */
export const TOS = 0xc0

/**
 * IPv4 header fields {@link encodeIpv4} writes around the advert.
 *
 * @example
 * ```ts
 * const o: Datagram.Ipv4Options = { source: "10.9.0.2", destination: "224.0.0.18", id: 1 }
 * ```
 */
export interface Ipv4Options {
  readonly source: string
  /** The real destination: the multicast group or the unicast peer. */
  readonly destination: string
  /** IP identification (keepalived: per-instance counter from 1, skipping 0 on wrap). */
  readonly id: number
  readonly ttl?: number | undefined
  /** v3: checksum without the pseudo-header (keepalived `v3_checksum_as_v2`). */
  readonly checksumAsV2?: boolean | undefined
}

/**
 * Writes an IPv4 datagram (header + advert) into `out` at `offset`; returns its length.
 *
 * @example
 * ```ts
 * const n = Datagram.encodeIpv4(advert, { source: "10.9.0.2", destination: "224.0.0.18", id: 1 }, out, 0)
 * ```
 */
export const encodeIpv4 = (
  advert: Advert.AdvertInput,
  options: Ipv4Options,
  out: Uint8Array,
  offset: number
): number => {
  const src = AddressCache.parse("ipv4", options.source)
  const dst = AddressCache.parse("ipv4", options.destination)
  if (src === undefined) throw new Advert.EncodeError("source", options.source, "not an IPv4 address")
  if (dst === undefined) throw new Advert.EncodeError("destination", options.destination, "not an IPv4 address")
  const vrrpLength = Advert.encode(advert, out, offset + IPV4_HEADER_LENGTH, {
    family: "ipv4",
    source: src,
    destination: dst,
    checksumAsV2: options.checksumAsV2
  })
  const total = IPV4_HEADER_LENGTH + vrrpLength
  const h = offset
  out[h + Ipv4Offset.versionIhl] = 0x45
  out[h + Ipv4Offset.tos] = TOS
  out[h + Ipv4Offset.totalLength] = total >>> 8
  out[h + Ipv4Offset.totalLength + 1] = total & 0xff
  out[h + Ipv4Offset.id] = (options.id >>> 8) & 0xff
  out[h + Ipv4Offset.id + 1] = options.id & 0xff
  out[h + Ipv4Offset.flagsFragment] = 0
  out[h + Ipv4Offset.flagsFragment + 1] = 0
  out[h + Ipv4Offset.ttl] = options.ttl ?? Advert.TTL
  out[h + Ipv4Offset.protocol] = Advert.PROTOCOL
  out[h + Ipv4Offset.checksum] = 0
  out[h + Ipv4Offset.checksum + 1] = 0
  out.set(src, h + Ipv4Offset.source)
  out.set(dst, h + Ipv4Offset.destination)
  const c = Checksum.compute(out, h, IPV4_HEADER_LENGTH)
  out[h + Ipv4Offset.checksum] = c >>> 8
  out[h + Ipv4Offset.checksum + 1] = c & 0xff
  return total
}

/**
 * IPv6 header fields {@link encodeIpv6} writes.
 *
 * @example
 * ```ts
 * const o: Datagram.Ipv6Options = { source: "fe80::2", destination: "ff02::12" }
 * ```
 */
export interface Ipv6Options {
  readonly source: string
  readonly destination: string
  readonly hopLimit?: number | undefined
}

/**
 * Writes an IPv6 datagram (fixed header + advert, next header 112) into `out`; returns its length. Used
 * for TAP frames; the kernel transport lets the kernel build the IPv6 header.
 *
 * @example
 * ```ts
 * Datagram.encodeIpv6(advert, { source: "fe80::1", destination: "ff02::12" }, out, 0)
 * ```
 */
export const encodeIpv6 = (
  advert: Advert.AdvertInput,
  options: Ipv6Options,
  out: Uint8Array,
  offset: number
): number => {
  const src = Address.parseIpv6(options.source)
  const dst = Address.parseIpv6(options.destination)
  if (src === undefined) throw new Advert.EncodeError("source", options.source, "not an IPv6 address")
  if (dst === undefined) throw new Advert.EncodeError("destination", options.destination, "not an IPv6 address")
  const vrrpLength = Advert.encode(advert, out, offset + IPV6_HEADER_LENGTH, {
    family: "ipv6",
    source: src,
    destination: dst
  })
  out.fill(0, offset, offset + 4)
  out[offset] = 0x60
  out[offset + Ipv6Offset.payloadLength] = vrrpLength >>> 8
  out[offset + Ipv6Offset.payloadLength + 1] = vrrpLength & 0xff
  out[offset + Ipv6Offset.nextHeader] = Advert.PROTOCOL
  out[offset + Ipv6Offset.hopLimit] = options.hopLimit ?? Advert.TTL
  out.set(src, offset + Ipv6Offset.source)
  out.set(dst, offset + Ipv6Offset.destination)
  return IPV6_HEADER_LENGTH + vrrpLength
}

/**
 * A received advert as the validator sees it: addresses and TTL from the IP header (or, on an IPv6 raw
 * socket, from IPV6_HOPLIMIT/IPV6_PKTINFO), and the bytes from the VRRP header to the end of what was
 * received (possibly including Ethernet padding).
 *
 * @example
 * ```ts
 * const r = Datagram.decodeIpv4(buf, 0, n)
 * if (!("_tag" in r)) console.log(r.source, r.ttl)
 * ```
 */
export interface Received {
  readonly family: Address.Family
  readonly source: string
  readonly destination: string
  /** TTL (IPv4) or hop limit (IPv6). */
  readonly ttl: number
  /** The VRRP message and anything after it. */
  readonly payload: Uint8Array
  /** IPv4: bytes received from the start of the IP header (`len` in keepalived's length checks). */
  readonly receivedLength: number
  /** IPv4: the IP total length field; `undefined` for IPv6. */
  readonly ipTotalLength?: number | undefined
  /** Length of IP header + AH header in front of the VRRP message. */
  readonly headerLength: number
  /** Whether an IPsec AH header preceded the VRRP message. */
  readonly ah: boolean
  /** The AH next-header byte when `ah`. */
  readonly ahNextHeader?: number | undefined
  /** IPv6 raw sockets: the kernel already verified the checksum (IPV6_CHECKSUM 6). */
  readonly checksumVerified: boolean
}

/**
 * A datagram too short to hold the headers (dispatcher step 1), with keepalived's log text.
 *
 * @example
 * ```ts
 * const r = Datagram.decodeIpv4(new Uint8Array(10), 0, 10)
 * if ("_tag" in r) console.log(r.message) // "IPv4 VRRP packet too short - 10 bytes"
 * ```
 */
export interface Runt {
  readonly _tag: "Runt"
  readonly message: string
}

/**
 * Parses a received IPv4 datagram (as read from a raw socket, header included). Returns a {@link Runt}
 * with keepalived's text when there are not enough bytes for the IP header (+AH) and the VRRP header.
 *
 * @example
 * ```ts
 * const r = Datagram.decodeIpv4(buf, 0, n)
 * if (!("_tag" in r)) validate(r)
 * ```
 */
export const decodeIpv4 = (bytes: Uint8Array, offset: number, length: number): Received | Runt => {
  if (length < IPV4_HEADER_LENGTH + Advert.HEADER_LENGTH)
    return { _tag: "Runt", message: `IPv4 VRRP packet too short - ${length} bytes` }
  const ihl = (bytes[offset + Ipv4Offset.versionIhl]! & 0x0f) * 4
  const protocol = bytes[offset + Ipv4Offset.protocol]!
  const ah = protocol === Advert.PROTOCOL_AH
  const headerLength = ihl + (ah ? AH_LENGTH : 0)
  if (ihl < IPV4_HEADER_LENGTH || length < headerLength + Advert.HEADER_LENGTH)
    return {
      _tag: "Runt",
      message: ah
        ? `IPv4 VRRP packet with AH too short - ${length} bytes`
        : `IPv4 VRRP packet too short - ${length} bytes`
    }
  return {
    family: "ipv4",
    source: Address.format(bytes, offset + Ipv4Offset.source, "ipv4"),
    destination: Address.format(bytes, offset + Ipv4Offset.destination, "ipv4"),
    ttl: bytes[offset + Ipv4Offset.ttl]!,
    payload: bytes.subarray(offset + headerLength, offset + length),
    receivedLength: length,
    ipTotalLength: (bytes[offset + Ipv4Offset.totalLength]! << 8) | bytes[offset + Ipv4Offset.totalLength + 1]!,
    headerLength,
    ah,
    ahNextHeader: ah ? bytes[offset + ihl + AhOffset.nextHeader]! : undefined,
    checksumVerified: false
  }
}

/**
 * Parses a received IPv6 datagram with its fixed header (TAP frames). Extension headers other than none
 * are not expected on VRRP and make the datagram a runt for VRRP purposes.
 *
 * @example
 * ```ts
 * const r = Datagram.decodeIpv6(frame, 14, frame.length - 14)
 * ```
 */
export const decodeIpv6 = (bytes: Uint8Array, offset: number, length: number): Received | Runt => {
  if (length < IPV6_HEADER_LENGTH + Advert.HEADER_LENGTH || bytes[offset + Ipv6Offset.nextHeader] !== Advert.PROTOCOL)
    return { _tag: "Runt", message: `IPv6 VRRP packet too short - ${length} bytes` }
  const payloadLength = (bytes[offset + Ipv6Offset.payloadLength]! << 8) | bytes[offset + Ipv6Offset.payloadLength + 1]!
  // The kernel hands a raw IPv6 socket exactly the payload; trim Ethernet padding the same way here.
  const end = Math.min(length, IPV6_HEADER_LENGTH + payloadLength)
  return {
    ...fromIpv6Payload(
      bytes.subarray(offset + IPV6_HEADER_LENGTH, offset + end),
      Address.format(bytes, offset + Ipv6Offset.source, "ipv6"),
      Address.format(bytes, offset + Ipv6Offset.destination, "ipv6"),
      bytes[offset + Ipv6Offset.hopLimit]!
    ),
    checksumVerified: false
  }
}

/**
 * Wraps the payload read from an IPv6 raw socket (no header) with the ancillary data (source from the
 * socket address, destination from IPV6_PKTINFO, hop limit from IPV6_HOPLIMIT).
 *
 * @example
 * ```ts
 * Datagram.fromIpv6Payload(payload, "fe80::2", "ff02::12", 255)
 * ```
 */
export const fromIpv6Payload = (
  payload: Uint8Array,
  source: string,
  destination: string,
  hopLimit: number
): Received => ({
  family: "ipv6",
  source,
  destination,
  ttl: hopLimit,
  payload,
  receivedLength: payload.length,
  ipTotalLength: undefined,
  headerLength: 0,
  ah: false,
  checksumVerified: true
})
