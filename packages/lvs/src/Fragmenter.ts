/**
 * IP fragmentation on output: cuts an IPv4 datagram (RFC 791) or an IPv6 packet (RFC 8200 §4.5) into
 * fragments of at most a given size, one fragment per call, written where the caller wants it.
 *
 * Mirrors `ip_do_fragment` (IPv4: the header copied into every fragment, options without the copy flag
 * replaced by NOPs after the first as `ip_options_fragment` does, offsets in 8-byte units, MF on all but
 * the last, the header checksum per fragment, the id kept) and `ip6_fragment` (the unfragmentable part
 * — IPv6 header, hop-by-hop, routing and destination options before routing, as `ip6_find_1stfragopt` —
 * copied into every fragment, then a fragment header with the id). The L4 checksum is not touched: it
 * covers the whole datagram, which the receiver reassembles.
 *
 * Plain synchronous code over `Uint8Array`s, no allocation.
 *
 * @module
 */
import { Checksum } from "@lvs-ts/packet"
import * as Frames from "./internal/Frames.ts"

/**
 * Number of IPv4 fragments of at most `maxSize` bytes for a datagram of `l3Length` bytes whose header is
 * `headerLength` bytes; 0 when `maxSize` leaves less than 8 data bytes per fragment.
 *
 * @example
 * ```ts
 * Fragmenter.ipv4Count(4028, 20, 1500) // 3
 * ```
 */
export const ipv4Count = (l3Length: number, headerLength: number, maxSize: number): number => {
  const per = ((maxSize - headerLength) >> 3) << 3
  if (per < 8) return 0
  return Math.ceil((l3Length - headerLength) / per)
}

/**
 * Writes IPv4 fragment `index` of the datagram at `b[l3..l3 + l3Length)` at `out[outL3..]` and returns its
 * length (0 when `index` is past the last fragment or `maxSize` is too small). A datagram that is itself a
 * fragment keeps its offset base and its MF on the last piece.
 *
 * @example
 * ```ts
 * for (let i = 0; i < Fragmenter.ipv4Count(n, 20, 1500); i++) send(Fragmenter.writeIpv4(b, l3, n, 1500, i, out, 14))
 * ```
 */
export const writeIpv4 = (
  b: Uint8Array,
  l3: number,
  l3Length: number,
  maxSize: number,
  index: number,
  out: Uint8Array,
  outL3: number
): number => {
  const ihl = (b[l3]! & 0x0f) << 2
  const per = ((maxSize - ihl) >> 3) << 3
  const payload = l3Length - ihl
  if (per < 8 || index < 0 || index * per >= payload) return 0
  const start = index * per
  const n = Math.min(per, payload - start)
  if (outL3 + ihl + n > out.length) return 0
  if (out === b) out.copyWithin(outL3, l3, l3 + ihl)
  else for (let i = 0; i < ihl; i++) out[outL3 + i] = b[l3 + i]!
  if (index > 0 && ihl > 20) {
    // ip_options_fragment: options without the copied flag become NOPs in later fragments.
    for (let j = outL3 + 20; j < outL3 + ihl; ) {
      const type = out[j]!
      if (type === 0) break
      if (type === 1) {
        j++
        continue
      }
      const len = out[j + 1]!
      if (len < 2) break
      if ((type & 0x80) === 0) for (let k = 0; k < len && j + k < outL3 + ihl; k++) out[j + k] = 1
      j += len
    }
  }
  const ff = Frames.readU16(b, l3 + 6)
  const base = (ff & 0x1fff) << 3
  const last = start + n >= payload
  const more = !last || (ff & 0x2000) !== 0
  Frames.writeU16(out, outL3 + 2, ihl + n)
  Frames.writeU16(out, outL3 + 6, (ff & 0x4000) | (more ? 0x2000 : 0) | (((base + start) >>> 3) & 0x1fff))
  const src = l3 + ihl + start
  const dst = outL3 + ihl
  // Within one buffer (the director's pool) a native memmove; across buffers a plain loop.
  if (out === b) out.copyWithin(dst, src, src + n)
  else for (let i = 0; i < n; i++) out[dst + i] = b[src + i]!
  Frames.writeU16(out, outL3 + 10, 0)
  Frames.writeU16(out, outL3 + 10, Checksum.compute(out, outL3, ihl))
  return ihl + n
}

/**
 * Length of the unfragmentable part of the IPv6 packet at `b[l3..end)` (`ip6_find_1stfragopt`): the
 * fixed header plus hop-by-hop, routing, and destination options not after a routing header. -1 when an
 * extension header runs past `end`.
 *
 * @example
 * ```ts
 * Fragmenter.ipv6Unfragmentable(frame, 14, frame.length) // 40 without extension headers
 * ```
 */
export const ipv6Unfragmentable = (b: Uint8Array, l3: number, end: number): number => {
  let nh = b[l3 + 6]!
  let at = l3 + 40
  let routing = false
  for (let n = 0; n < 8; n++) {
    if (nh === 43) routing = true
    else if (nh === 60) {
      if (routing) return at - l3
    } else if (nh !== 0) return at - l3
    if (at + 2 > end) return -1
    const len = (b[at + 1]! + 1) << 3
    if (at + len > end) return -1
    nh = b[at]!
    at += len
  }
  return at - l3
}

/**
 * Number of IPv6 fragments of at most `maxSize` bytes (fragment header included) for a packet of
 * `l3Length` bytes with an unfragmentable part of `unfragmentable` bytes; 0 when `maxSize` is too small.
 *
 * @example
 * ```ts
 * Fragmenter.ipv6Count(4048, 40, 1280) // 4
 * ```
 */
export const ipv6Count = (l3Length: number, unfragmentable: number, maxSize: number): number => {
  const per = ((maxSize - unfragmentable - 8) >> 3) << 3
  if (per < 8) return 0
  return Math.ceil((l3Length - unfragmentable) / per)
}

/**
 * Writes IPv6 fragment `index` of the packet at `b[l3..l3 + l3Length)` (unfragmentable part of
 * `unfragmentable` bytes, see {@link ipv6Unfragmentable}) with fragment id `id` at `out[outL3..]`, and
 * returns its length (0 past the last fragment or when `maxSize` is too small). `out` must not overlap the
 * source packet (in the same buffer the copies are `copyWithin`, a native memmove).
 *
 * @example
 * ```ts
 * const n = Fragmenter.writeIpv6(b, l3, length, 40, 1280, id, 0, out, 14)
 * ```
 */
export const writeIpv6 = (
  b: Uint8Array,
  l3: number,
  l3Length: number,
  unfragmentable: number,
  maxSize: number,
  id: number,
  index: number,
  out: Uint8Array,
  outL3: number
): number => {
  const per = ((maxSize - unfragmentable - 8) >> 3) << 3
  const payload = l3Length - unfragmentable
  if (per < 8 || index < 0 || index * per >= payload || unfragmentable < 40) return 0
  const start = index * per
  const n = Math.min(per, payload - start)
  if (outL3 + unfragmentable + 8 + n > out.length) return 0
  if (out === b) out.copyWithin(outL3, l3, l3 + unfragmentable)
  else for (let i = 0; i < unfragmentable; i++) out[outL3 + i] = b[l3 + i]!
  // The next-header field that named the first fragmentable header now names the fragment header.
  let nhAt = 6
  for (let at = 40; at < unfragmentable; at += (b[l3 + at + 1]! + 1) << 3) nhAt = at
  const next = b[l3 + nhAt]!
  out[outL3 + nhAt] = 44
  const fh = outL3 + unfragmentable
  out[fh] = next
  out[fh + 1] = 0
  Frames.writeU16(out, fh + 2, (start & 0xfff8) | (start + n < payload ? 1 : 0))
  out[fh + 4] = (id >>> 24) & 0xff
  out[fh + 5] = (id >>> 16) & 0xff
  out[fh + 6] = (id >>> 8) & 0xff
  out[fh + 7] = id & 0xff
  const src = l3 + unfragmentable + start
  if (out === b) out.copyWithin(fh + 8, src, src + n)
  else for (let i = 0; i < n; i++) out[fh + 8 + i] = b[src + i]!
  Frames.writeU16(out, outL3 + 4, unfragmentable - 40 + 8 + n)
  return unfragmentable + 8 + n
}
