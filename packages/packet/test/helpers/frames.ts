/**
 * Test frame construction, written independently of the library's writers (plain byte pushes) so that
 * round-trip tests compare two implementations. Checksums use `Checksum.compute`, which has its own
 * known-answer tests.
 */
import { Checksum } from "@lvs-ts/packet"

export const hex = (s: string): Uint8Array =>
  Uint8Array.from(s.replace(/\s+/g, "").match(/../g) ?? [], (b) => Number.parseInt(b, 16))

export const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex")

const u16 = (v: number) => [(v >>> 8) & 255, v & 255]
const u32 = (v: number) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]

export const MAC_A = [0x02, 0, 0, 0, 0, 0x0a]
export const MAC_B = [0x02, 0, 0, 0, 0, 0x0b]

export interface L4Spec {
  readonly protocol: 6 | 17 | 1 | 58 | number
  readonly sport?: number
  readonly dport?: number
  readonly seq?: number
  readonly ack?: number
  readonly flags?: number
  readonly tcpOptions?: ReadonlyArray<number>
  readonly payload?: ReadonlyArray<number>
  readonly udpZeroChecksum?: boolean
  /** Raw L4 bytes (used as-is instead of building TCP/UDP). */
  readonly raw?: ReadonlyArray<number>
}

export const l4Bytes = (spec: L4Spec): Array<number> => {
  if (spec.raw) return [...spec.raw]
  const payload = [...(spec.payload ?? [])]
  if (spec.protocol === 6) {
    const opts = [...(spec.tcpOptions ?? [])]
    while (opts.length % 4) opts.push(0)
    const hl = 20 + opts.length
    return [
      ...u16(spec.sport ?? 1234),
      ...u16(spec.dport ?? 80),
      ...u32(spec.seq ?? 1000),
      ...u32(spec.ack ?? 0),
      (hl / 4) << 4,
      spec.flags ?? 0x02,
      ...u16(65535),
      0,
      0,
      0,
      0,
      ...opts,
      ...payload
    ]
  }
  if (spec.protocol === 17)
    return [...u16(spec.sport ?? 1234), ...u16(spec.dport ?? 53), ...u16(8 + payload.length), 0, 0, ...payload]
  return payload
}

/** Fills the L4 checksum of a v4 or v6 packet starting at l3 (TCP/UDP/ICMPv6 use the pseudo-header). */
export const fixL4Checksum = (
  f: Uint8Array,
  l3: number,
  l4: number,
  protocol: number,
  len: number,
  udpZero = false
) => {
  const at = protocol === 6 ? 16 : protocol === 17 ? 6 : 2
  f[l4 + at] = 0
  f[l4 + at + 1] = 0
  if (protocol === 17 && udpZero) return
  let c: number
  if (protocol === 1) c = Checksum.compute(f, l4, len)
  else c = Checksum.transport(f, l3, l4, protocol, len)
  if (protocol === 17 && c === 0) c = 0xffff
  f[l4 + at] = c >>> 8
  f[l4 + at + 1] = c & 255
}

export interface V4Spec extends L4Spec {
  readonly src?: number
  readonly dst?: number
  readonly ttl?: number
  readonly tos?: number
  readonly id?: number
  readonly df?: boolean
  readonly ipOptions?: ReadonlyArray<number>
  readonly vlan?: number
  /** Spare bytes before the frame (headroom) and after it (tailroom). */
  readonly headroom?: number
  readonly tailroom?: number
}

/** Ethernet + IPv4 + L4. Returns the buffer and the frame offset/length. */
export const ipv4Frame = (spec: V4Spec): { buf: Uint8Array; off: number; len: number } => {
  const l4 = l4Bytes(spec)
  const opts = [...(spec.ipOptions ?? [])]
  while (opts.length % 4) opts.push(0)
  const ihl = 5 + opts.length / 4
  const total = ihl * 4 + l4.length
  const eth = [...MAC_B, ...MAC_A, ...(spec.vlan === undefined ? [] : [0x81, 0x00, ...u16(spec.vlan)]), 0x08, 0x00]
  const ip = [
    0x40 | ihl,
    spec.tos ?? 0,
    ...u16(total),
    ...u16(spec.id ?? 0x1234),
    spec.df === false ? 0 : 0x40,
    0,
    spec.ttl ?? 64,
    spec.protocol,
    0,
    0,
    ...u32(spec.src ?? 0xc0a80001),
    ...u32(spec.dst ?? 0x0a000001),
    ...opts
  ]
  const head = spec.headroom ?? 0
  const frame = [...eth, ...ip, ...l4]
  const buf = new Uint8Array(head + frame.length + (spec.tailroom ?? 0))
  buf.set(frame, head)
  const l3 = head + eth.length
  const c = Checksum.compute(buf, l3, ihl * 4)
  buf[l3 + 10] = c >>> 8
  buf[l3 + 11] = c & 255
  if (!spec.raw) fixL4Checksum(buf, l3, l3 + ihl * 4, spec.protocol, l4.length, spec.udpZeroChecksum)
  return { buf, off: head, len: frame.length }
}

export interface V6Spec extends L4Spec {
  readonly src?: ReadonlyArray<number>
  readonly dst?: ReadonlyArray<number>
  readonly hopLimit?: number
  /** Extension headers as [type, bytes] in order; bytes exclude the next-header byte which is filled in. */
  readonly extensions?: ReadonlyArray<readonly [number, ReadonlyArray<number>]>
  readonly headroom?: number
  readonly tailroom?: number
}

export const V6_A = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a]
export const V6_B = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b]

export const ipv6Frame = (spec: V6Spec): { buf: Uint8Array; off: number; len: number } => {
  const l4 = l4Bytes(spec)
  const exts = spec.extensions ?? []
  const extBytes: Array<number> = []
  exts.forEach(([, bytes], i) => {
    const next = i + 1 < exts.length ? exts[i + 1]![0] : spec.protocol
    extBytes.push(next, ...bytes)
  })
  const first = exts.length > 0 ? exts[0]![0] : spec.protocol
  const eth = [...MAC_B, ...MAC_A, 0x86, 0xdd]
  const ip = [
    0x60,
    0,
    0,
    0,
    ...u16(extBytes.length + l4.length),
    first,
    spec.hopLimit ?? 64,
    ...(spec.src ?? V6_A),
    ...(spec.dst ?? V6_B)
  ]
  const head = spec.headroom ?? 0
  const frame = [...eth, ...ip, ...extBytes, ...l4]
  const buf = new Uint8Array(head + frame.length + (spec.tailroom ?? 0))
  buf.set(frame, head)
  const l3 = head + 14
  if (!spec.raw) fixL4Checksum(buf, l3, l3 + 40 + extBytes.length, spec.protocol, l4.length, false)
  return { buf, off: head, len: frame.length }
}

/** A full, independent verification of every checksum the frame carries (IPv4 header, TCP/UDP/ICMP). */
export const checksumsValid = (buf: Uint8Array, l3: number, l4: number, protocol: number, l3End: number): boolean => {
  const v4 = buf[l3]! >>> 4 === 4
  if (v4 && Checksum.compute(buf, l3, (buf[l3]! & 15) * 4) !== 0) return false
  const len = l3End - l4
  if (protocol === 6 || protocol === 58) return Checksum.transport(buf, l3, l4, protocol, len) === 0
  if (protocol === 17) {
    if (v4 && buf[l4 + 6] === 0 && buf[l4 + 7] === 0) return true
    return Checksum.transport(buf, l3, l4, 17, len) === 0
  }
  if (protocol === 1) return Checksum.compute(buf, l4, len) === 0
  return true
}
