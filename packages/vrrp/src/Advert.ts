/**
 * The VRRP advertisement on the wire: VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798, RFC 9568), IPv4 and IPv6.
 *
 * Layout (keepalived `vrrphdr_t`, reference §2.2): byte 0 version|type, 1 VRID, 2 priority, 3 address
 * count; v2: 4 auth type, 5 interval in seconds; v3: 4 reserved bits + 12-bit interval in centiseconds;
 * 6-7 checksum; then the addresses; v2 over IPv4 always carries 8 bytes of authentication data.
 *
 * Checksums (reference §2.3): v2 is the plain internet checksum over the message including the auth
 * bytes; v3 over IPv4 adds the pseudo-header with the *real* destination (the unicast peer when
 * unicasting) unless `checksumAsV2` is asked for; over IPv6 it is the IPv6 pseudo-header checksum (the
 * kernel computes it with IPV6_CHECKSUM 6 on a raw socket; frames built for TAP ports compute it here).
 *
 * @module
 */
import { Checksum } from "@lvs-ts/packet"
import * as Address from "./Address.ts"
import * as AddressCache from "./internal/addressCache.ts"

/**
 * IP protocol number of VRRP.
 *
 * @example
 * ```ts
 * bytes[Datagram.Ipv4Offset.protocol] === Advert.PROTOCOL // 112
 * ```
 */
export const PROTOCOL = 112
/**
 * IP protocol number of the IPsec Authentication Header (v2 `auth_type AH`).
 *
 * @example
 * ```ts
 * if (ipProtocol === Advert.PROTOCOL_AH) console.log("AH header in front of VRRP")
 * ```
 */
export const PROTOCOL_AH = 51
/**
 * The only defined VRRP packet type.
 *
 * @example
 * ```ts
 * (bytes[0] & 0x0f) === Advert.TYPE_ADVERTISEMENT
 * ```
 */
export const TYPE_ADVERTISEMENT = 1
/**
 * IPv4 multicast group of VRRP (`vrrp_mcast_group4`).
 *
 * @example
 * ```ts
 * Frame.multicastMac(Advert.MULTICAST_GROUP_V4) // 01:00:5e:00:00:12
 * ```
 */
export const MULTICAST_GROUP_V4 = "224.0.0.18"
/**
 * IPv6 multicast group of VRRP (`vrrp_mcast_group6`).
 *
 * @example
 * ```ts
 * Frame.multicastMac(Advert.MULTICAST_GROUP_V6) // 33:33:00:00:00:12
 * ```
 */
export const MULTICAST_GROUP_V6 = "ff02::12"
/**
 * TTL / hop limit sent and required on multicast adverts.
 *
 * @example
 * ```ts
 * received.ttl === Advert.TTL // required on multicast adverts
 * ```
 */
export const TTL = 255

/**
 * Offsets inside the VRRP message.
 *
 * @example
 * ```ts
 * const vrid = bytes[Advert.Offset.vrid]
 * ```
 */
export const Offset = {
  versionType: 0,
  vrid: 1,
  priority: 2,
  count: 3,
  /** v2: authentication type (8 bits). */
  authType: 4,
  /** v2: advertisement interval in seconds (8 bits). */
  advertInterval: 5,
  /** v3: 4 reserved bits + 12-bit maximum advertisement interval in centiseconds. */
  maxAdvertInterval: 4,
  checksum: 6,
  addresses: 8
} as const

/**
 * Length of the fixed header.
 *
 * @example
 * ```ts
 * bytes.length >= Advert.HEADER_LENGTH
 * ```
 */
export const HEADER_LENGTH = 8
/**
 * Length of v2 authentication data (always present in v2 over IPv4).
 *
 * @example
 * ```ts
 * Advert.passwordBytes("pw").length === Advert.AUTH_DATA_LENGTH
 * ```
 */
export const AUTH_DATA_LENGTH = 8
/**
 * Mask of the v3 12-bit interval.
 *
 * @example
 * ```ts
 * const cs = ((bytes[4] << 8) | bytes[5]) & Advert.V3_INTERVAL_MASK
 * ```
 */
export const V3_INTERVAL_MASK = 0x0fff

/**
 * v2 authentication types (RFC 2338 §5.3.6).
 *
 * @example
 * ```ts
 * advert.authType === Advert.AuthType.pass
 * ```
 */
export const AuthType = {
  none: 0,
  /** Simple text password, 8 bytes ("PASS"). */
  pass: 1,
  /** IPsec AH (HMAC-MD5-96), carried in an AH header before VRRP. */
  ah: 2
} as const

/**
 * A decoded or to-be-encoded advertisement. Intervals are in centiseconds for both versions.
 *
 * @example
 * ```ts
 * const r = Advert.decode(payload, 0, payload.length, "ipv4")
 * if (r._tag === "Ok") console.log(r.advert.priority, r.advert.addresses)
 * ```
 */
export interface Advert {
  readonly version: 2 | 3
  readonly type: number
  readonly vrid: number
  readonly priority: number
  /** Advertisement interval in centiseconds (v2 carries whole seconds: 1 s = 100). */
  readonly interval: number
  /** v2 authentication type ({@link AuthType}); 0 for v3. */
  readonly authType: number
  /** v2 authentication data (8 bytes, PASS is the zero-padded password); empty for v3/IPv6. */
  readonly authData: Uint8Array
  readonly addresses: ReadonlyArray<string>
  /** The checksum field as received (decode) or as written (encode). */
  readonly checksum: number
}

/**
 * Whether a (version, family) message carries the 8 v2 authentication bytes: v2 over IPv4 only.
 *
 * @example
 * ```ts
 * Advert.hasAuthData(2, "ipv4") // true
 * ```
 */
export const hasAuthData = (version: number, family: Address.Family): boolean => version === 2 && family === "ipv4"

/**
 * The message length for a version, family and address count (reference §2.2: v2/IPv4 16 + 4n,
 * v3/IPv4 8 + 4n, IPv6 8 + 16n).
 *
 * @example
 * ```ts
 * Advert.messageLength(2, "ipv4", 1) // 20
 * ```
 */
export const messageLength = (version: number, family: Address.Family, count: number): number =>
  HEADER_LENGTH + count * Address.length(family) + (hasAuthData(version, family) ? AUTH_DATA_LENGTH : 0)

/**
 * Encodes a v2 PASS password as the 8 authentication bytes: first 8 bytes, zero padded (keepalived
 * truncates longer passwords with "Truncating auth_pass to 8 characters").
 *
 * @example
 * ```ts
 * Advert.passwordBytes("secret12") // 73 65 63 72 65 74 31 32
 * ```
 */
export const passwordBytes = (password: string): Uint8Array => {
  const out = new Uint8Array(AUTH_DATA_LENGTH)
  out.set(new TextEncoder().encode(password).subarray(0, AUTH_DATA_LENGTH))
  return out
}

/**
 * Compares two 8-byte authentication fields in constant time (no early exit on the first difference),
 * as keepalived does for PASS.
 *
 * @example
 * ```ts
 * Advert.authDataEquals(Advert.passwordBytes("a"), Advert.passwordBytes("a")) // true
 * ```
 */
export const authDataEquals = (a: Uint8Array, b: Uint8Array): boolean => {
  let diff = a.length ^ b.length
  const n = Math.max(a.length, b.length)
  for (let i = 0; i < n; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0)
  return diff === 0
}

/**
 * How the checksum of a message is computed; see the module description.
 *
 * @example
 * ```ts
 * const ctx: Advert.ChecksumContext = { family: "ipv4", source: Address.parseIpv4("10.9.0.2")!, destination: Address.parseIpv4("10.9.0.1")! }
 * ```
 */
export interface ChecksumContext {
  readonly family: Address.Family
  /** Source address bytes (4 or 16) for the pseudo-header. */
  readonly source: Uint8Array
  /** The real destination address bytes: the multicast group, or the unicast peer. */
  readonly destination: Uint8Array
  /** v3/IPv4 only: compute without the pseudo-header (keepalived `v3_checksum_as_v2`, RFC 9568 reading). */
  readonly checksumAsV2?: boolean | undefined
}

/**
 * The checksum a message at `offset` of `length` bytes must carry, computed with its checksum field
 * taken as zero. A message whose field equals this value is valid.
 *
 * @example
 * ```ts
 * const c = Advert.computeChecksum(bytes, 0, 20, 2, ctx)
 * ```
 */
export const computeChecksum = (
  bytes: Uint8Array,
  offset: number,
  length: number,
  version: number,
  ctx: ChecksumContext
): number => {
  let acc: number
  if (ctx.family === "ipv6") {
    acc = pseudoV6(ctx.source, ctx.destination, length)
  } else if (version === 3 && ctx.checksumAsV2 !== true) {
    acc = pseudoV4(ctx.source, ctx.destination, length)
  } else {
    acc = 0
  }
  acc = Checksum.sum(bytes, offset, length, acc)
  // Remove the checksum field's own contribution instead of copying the message.
  // (sum - field == sum + ~field in one's-complement arithmetic)
  const field = (bytes[offset + Offset.checksum]! << 8) | bytes[offset + Offset.checksum + 1]!
  acc += ~field & 0xffff
  return ~Checksum.fold(acc) & 0xffff
}

const pseudoV4 = (src: Uint8Array, dst: Uint8Array, length: number): number =>
  ((src[0]! << 8) | src[1]!) +
  ((src[2]! << 8) | src[3]!) +
  ((dst[0]! << 8) | dst[1]!) +
  ((dst[2]! << 8) | dst[3]!) +
  PROTOCOL +
  length

const pseudoV6 = (src: Uint8Array, dst: Uint8Array, length: number): number =>
  Checksum.sum(src, 0, 16, Checksum.sum(dst, 0, 16, 0)) + PROTOCOL + length

/**
 * Why a buffer is not an advertisement; structural only (semantic checks are in `Validation`).
 *
 * @example
 * ```ts
 * const r = Advert.decode(new Uint8Array(4), 0, 4, "ipv4")
 * if (r._tag === "Error" && r.error._tag === "TooShort") console.log(r.error.expected)
 * ```
 */
export type DecodeError =
  | { readonly _tag: "TooShort"; readonly length: number; readonly expected: number }
  | { readonly _tag: "BadVersion"; readonly version: number }

/**
 * A decode outcome: never throws on hostile input.
 *
 * @example
 * ```ts
 * const r: Advert.DecodeResult = Advert.decode(payload, 0, payload.length, "ipv6")
 * ```
 */
export type DecodeResult =
  | { readonly _tag: "Ok"; readonly advert: Advert }
  | { readonly _tag: "Error"; readonly error: DecodeError }

/**
 * Decodes the VRRP message at `offset` (the IP payload). Only the structure is checked here: enough
 * bytes for the header, the addresses and (v2/IPv4) the auth data, and a version of 2 or 3.
 *
 * @example
 * ```ts
 * const r = Advert.decode(payload, 0, payload.length, "ipv4")
 * if (r._tag === "Ok") console.log(r.advert.vrid)
 * ```
 */
export const decode = (bytes: Uint8Array, offset: number, length: number, family: Address.Family): DecodeResult => {
  if (length < HEADER_LENGTH) return { _tag: "Error", error: { _tag: "TooShort", length, expected: HEADER_LENGTH } }
  const vt = bytes[offset + Offset.versionType]!
  const version = vt >>> 4
  if (version !== 2 && version !== 3) return { _tag: "Error", error: { _tag: "BadVersion", version } }
  const count = bytes[offset + Offset.count]!
  const expected = messageLength(version, family, count)
  if (length < expected) return { _tag: "Error", error: { _tag: "TooShort", length, expected } }
  const alen = Address.length(family)
  const addresses: Array<string> = []
  for (let i = 0; i < count; i++) addresses.push(Address.format(bytes, offset + Offset.addresses + i * alen, family))
  const authAt = offset + Offset.addresses + count * alen
  const v2 = version === 2
  return {
    _tag: "Ok",
    advert: {
      version,
      type: vt & 0x0f,
      vrid: bytes[offset + Offset.vrid]!,
      priority: bytes[offset + Offset.priority]!,
      interval: v2
        ? bytes[offset + Offset.advertInterval]! * 100
        : ((bytes[offset + Offset.maxAdvertInterval]! << 8) | bytes[offset + Offset.maxAdvertInterval + 1]!) &
          V3_INTERVAL_MASK,
      authType: v2 ? bytes[offset + Offset.authType]! : 0,
      authData: hasAuthData(version, family) ? bytes.slice(authAt, authAt + AUTH_DATA_LENGTH) : new Uint8Array(0),
      addresses,
      checksum: (bytes[offset + Offset.checksum]! << 8) | bytes[offset + Offset.checksum + 1]!
    }
  }
}

/**
 * What {@link encode} writes: an advert without its checksum (computed).
 *
 * @example
 * ```ts
 * const a: Advert.AdvertInput = { version: 3, vrid: 52, priority: 100, interval: 50, addresses: ["10.9.0.101"] }
 * ```
 */
export interface AdvertInput {
  readonly version: 2 | 3
  readonly vrid: number
  readonly priority: number
  /** Centiseconds; v2 writes whole seconds (rounded down, at least 1). */
  readonly interval: number
  readonly authType?: number | undefined
  readonly authData?: Uint8Array | undefined
  readonly addresses: ReadonlyArray<string>
}

/**
 * Why an advert could not be encoded (configuration errors, named by field and value).
 *
 * @example
 * ```ts
 * try { Advert.encode({ ...a, vrid: 0 }, out, 0, ctx) } catch (e) { if (e instanceof Advert.EncodeError) console.log(e.field) }
 * ```
 */
export class EncodeError extends Error {
  readonly field: string
  readonly value: unknown
  constructor(field: string, value: unknown, reason: string) {
    super(`VRRP advert ${field}=${String(value)}: ${reason}`)
    this.name = "EncodeError"
    this.field = field
    this.value = value
  }
}

/**
 * Encodes an advert into `out` at `offset` and returns its length; the checksum is computed for the
 * given source and (real) destination. Throws {@link EncodeError} naming the field for invalid input
 * (configuration, never received data).
 *
 * @example
 * ```ts
 * const out = new Uint8Array(64)
 * const n = Advert.encode({ version: 3, vrid: 52, priority: 100, interval: 50, addresses: ["10.9.0.101"] }, out, 0, {
 *   family: "ipv4", source: Address.parseIpv4("10.9.0.2")!, destination: Address.parseIpv4("224.0.0.18")!
 * })
 * ```
 */
export const encode = (advert: AdvertInput, out: Uint8Array, offset: number, ctx: ChecksumContext): number => {
  const family = ctx.family
  if (advert.vrid < 1 || advert.vrid > 255 || !Number.isInteger(advert.vrid))
    throw new EncodeError("vrid", advert.vrid, "must be 1..255")
  if (advert.priority < 0 || advert.priority > 255 || !Number.isInteger(advert.priority))
    throw new EncodeError("priority", advert.priority, "must be 0..255")
  if (advert.addresses.length > 255) throw new EncodeError("addresses", advert.addresses.length, "at most 255")
  const length = messageLength(advert.version, family, advert.addresses.length)
  if (out.length - offset < length) throw new EncodeError("out", out.length - offset, `needs ${length} bytes`)
  out.fill(0, offset, offset + length)
  out[offset + Offset.versionType] = (advert.version << 4) | TYPE_ADVERTISEMENT
  out[offset + Offset.vrid] = advert.vrid
  out[offset + Offset.priority] = advert.priority
  out[offset + Offset.count] = advert.addresses.length
  if (advert.version === 2) {
    const seconds = Math.max(1, Math.min(255, Math.floor(advert.interval / 100)))
    out[offset + Offset.authType] = advert.authType ?? AuthType.none
    out[offset + Offset.advertInterval] = seconds
  } else {
    const cs = Math.round(advert.interval)
    if (cs < 1 || cs > V3_INTERVAL_MASK) throw new EncodeError("interval", advert.interval, "v3 needs 1..4095 cs")
    out[offset + Offset.maxAdvertInterval] = cs >>> 8
    out[offset + Offset.maxAdvertInterval + 1] = cs & 0xff
  }
  const alen = Address.length(family)
  for (let i = 0; i < advert.addresses.length; i++) {
    const a = AddressCache.parse(family, advert.addresses[i]!)
    if (a === undefined) throw new EncodeError(`addresses[${i}]`, advert.addresses[i], `not an ${family} address`)
    out.set(a, offset + Offset.addresses + i * alen)
  }
  if (hasAuthData(advert.version, family) && advert.authData !== undefined) {
    out.set(advert.authData.subarray(0, AUTH_DATA_LENGTH), offset + Offset.addresses + advert.addresses.length * alen)
  }
  const c = computeChecksum(out, offset, length, advert.version, ctx)
  out[offset + Offset.checksum] = c >>> 8
  out[offset + Offset.checksum + 1] = c & 0xff
  return length
}
