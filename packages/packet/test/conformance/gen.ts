/**
 * Random valid frames for the tshark oracle, built without the library (own byte layout, own checksum), so the
 * library is never both the producer and the judge of its own inputs. tshark checks these inputs too.
 *
 * @module
 */
import fc from "fast-check"

/** RFC 1071 checksum of `b[from, to)` (independent of the library's Checksum module). */
export const internetChecksum = (b: Uint8Array, from: number, to: number, initial = 0): number => {
  let s = initial
  for (let i = from; i < to; i += 2) s += (b[i]! << 8) | (i + 1 < to ? b[i + 1]! : 0)
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000)
  return ~s & 0xffff
}

/** CRC32c (Castagnoli, reflected) bit by bit: slow and obviously right, independent of the library's table. */
const crc32c = (b: Uint8Array, from: number, to: number): number => {
  let crc = 0xffffffff
  for (let i = from; i < to; i++) {
    crc ^= b[i]!
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1
  }
  return (crc ^ 0xffffffff) >>> 0
}

const partialSum = (b: Uint8Array, from: number, to: number): number => {
  let s = 0
  for (let i = from; i < to; i += 2) s += (b[i]! << 8) | (i + 1 < to ? b[i + 1]! : 0)
  return s
}

/** The transport part of a generated frame: a TCP segment, a UDP datagram, an SCTP DATA chunk or an echo request. */
export type Transport =
  | {
      readonly kind: "tcp"
      readonly sport: number
      readonly dport: number
      readonly seq: number
      readonly ack: number
      readonly flags: number
      readonly window: number
      readonly options: ReadonlyArray<number>
      readonly payload: ReadonlyArray<number>
    }
  | {
      readonly kind: "udp"
      readonly sport: number
      readonly dport: number
      readonly payload: ReadonlyArray<number>
      readonly zeroChecksum: boolean
    }
  | { readonly kind: "echo"; readonly id: number; readonly seq: number; readonly payload: ReadonlyArray<number> }
  | {
      readonly kind: "sctp"
      readonly sport: number
      readonly dport: number
      readonly tag: number
      readonly tsn: number
      /** DATA chunk user data (at least one byte). */
      readonly payload: ReadonlyArray<number>
    }

/**
 * Everything a generated frame is made of; `buildFrame` lays it out.
 *
 * @example
 * ```ts
 * const spec: FrameSpec = samples(frameSpec(), 1)[0]!
 * ```
 */
export interface FrameSpec {
  readonly dstMac: ReadonlyArray<number>
  readonly srcMac: ReadonlyArray<number>
  /** 802.1Q VLAN id, or -1 for an untagged frame. */
  readonly vlan: number
  readonly ip:
    | {
        readonly v: 4
        readonly src: number
        readonly dst: number
        readonly ttl: number
        readonly tos: number
        readonly id: number
        readonly df: boolean
        /** Option bytes (already a valid list), padded here to a multiple of 4. */
        readonly options: ReadonlyArray<number>
      }
    | {
        readonly v: 6
        readonly src: ReadonlyArray<number>
        readonly dst: ReadonlyArray<number>
        readonly hlim: number
        readonly tclass: number
        readonly flow: number
        /**
         * Extension headers before the transport header: hop-by-hop (0), destination options (60), segment routing
         * header (43, type 4, two segments, segments left 1: the fixed header's destination is the next segment,
         * the final destination is `dst` with its last byte xor 0x5a, and the pseudo-header uses the final one).
         */
        readonly ext: ReadonlyArray<0 | 43 | 60>
      }
  readonly l4: Transport
}

/** A frame inside a larger buffer: `headroom` bytes before it, `tailroom` after. */
export interface Built {
  readonly buffer: Uint8Array
  readonly offset: number
  readonly length: number
  readonly spec: FrameSpec
}

/** The final destination of the generated segment routing header (see `FrameSpec`). */
const finalDestination = (dst: ReadonlyArray<number>): Array<number> => [...dst.slice(0, 15), dst[15]! ^ 0x5a]

const u16 = (v: number) => [(v >>> 8) & 255, v & 255]
const u32 = (v: number) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]

const transportBytes = (l4: Transport, v6: boolean): Array<number> => {
  if (l4.kind === "tcp") {
    const opts = [...l4.options]
    while (opts.length % 4) opts.push(0)
    return [
      ...u16(l4.sport),
      ...u16(l4.dport),
      ...u32(l4.seq),
      ...u32(l4.ack),
      ((20 + opts.length) / 4) << 4,
      l4.flags,
      ...u16(l4.window),
      0,
      0,
      0,
      0,
      ...opts,
      ...l4.payload
    ]
  }
  if (l4.kind === "udp") return [...u16(l4.sport), ...u16(l4.dport), ...u16(8 + l4.payload.length), 0, 0, ...l4.payload]
  if (l4.kind === "sctp") {
    // Common header (checksum filled later) + one DATA chunk: flags B|E, stream 0, sequence 0, PPID 0, padded.
    const chunk = [0, 0x03, ...u16(16 + l4.payload.length), ...u32(l4.tsn), 0, 0, 0, 0, 0, 0, 0, 0, ...l4.payload]
    while (chunk.length % 4) chunk.push(0)
    return [...u16(l4.sport), ...u16(l4.dport), ...u32(l4.tag), 0, 0, 0, 0, ...chunk]
  }
  return [v6 ? 128 : 8, 0, 0, 0, ...u16(l4.id), ...u16(l4.seq), ...l4.payload]
}

/**
 * Lays out the frame described by `spec` in a new buffer with `headroom` and `tailroom` spare bytes.
 *
 * @example
 * ```ts
 * const f = buildFrame(fc.sample(frameSpec(), 1)[0]!, 64, 64)
 * ```
 */
export const buildFrame = (spec: FrameSpec, headroom = 0, tailroom = 0): Built => {
  const l2 = [...spec.dstMac, ...spec.srcMac]
  const etherType = spec.ip.v === 4 ? 0x0800 : 0x86dd
  if (spec.vlan >= 0) l2.push(0x81, 0x00, ...u16(spec.vlan))
  l2.push(...u16(etherType))
  const v6 = spec.ip.v === 6
  const l4 = transportBytes(spec.l4, v6)
  const protocol =
    spec.l4.kind === "tcp" ? 6 : spec.l4.kind === "udp" ? 17 : spec.l4.kind === "sctp" ? 132 : v6 ? 58 : 1
  let l3: Array<number>
  if (spec.ip.v === 4) {
    const opts = [...spec.ip.options]
    while (opts.length % 4) opts.push(0)
    const hl = 20 + opts.length
    l3 = [
      0x40 | (hl / 4),
      spec.ip.tos,
      ...u16(hl + l4.length),
      ...u16(spec.ip.id),
      spec.ip.df ? 0x40 : 0,
      0,
      spec.ip.ttl,
      protocol,
      0,
      0,
      ...u32(spec.ip.src),
      ...u32(spec.ip.dst),
      ...opts
    ]
  } else {
    const ext: Array<number> = []
    const chain = [...spec.ip.ext]
    const dst6 = spec.ip.dst
    chain.forEach((h, i) => {
      const next = i + 1 < chain.length ? chain[i + 1]! : protocol
      // 8 bytes: next header, length 0, then a PadN option of 4 bytes (hop-by-hop: a router alert instead).
      if (h === 0) ext.push(next, 0, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00)
      else if (h === 43) ext.push(next, 4, 4, 1, 1, 0, 0, 0, ...finalDestination(dst6), ...dst6)
      else ext.push(next, 0, 0x01, 0x04, 0, 0, 0, 0)
    })
    const first = chain.length > 0 ? chain[0]! : protocol
    l3 = [
      0x60 | (spec.ip.tclass >>> 4),
      ((spec.ip.tclass & 15) << 4) | ((spec.ip.flow >>> 16) & 15),
      (spec.ip.flow >>> 8) & 255,
      spec.ip.flow & 255,
      ...u16(ext.length + l4.length),
      first,
      spec.ip.hlim,
      ...spec.ip.src,
      ...spec.ip.dst,
      ...ext
    ]
  }
  const length = l2.length + l3.length + l4.length
  const buffer = new Uint8Array(headroom + length + tailroom)
  const o = headroom
  buffer.set(l2, o)
  buffer.set(l3, o + l2.length)
  buffer.set(l4, o + l2.length + l3.length)
  const ip = o + l2.length
  const t = ip + l3.length
  const tEnd = t + l4.length
  if (spec.ip.v === 4) {
    const c = internetChecksum(buffer, ip, t)
    buffer[ip + 10] = c >>> 8
    buffer[ip + 11] = c & 255
  }
  let pseudo: number
  if (spec.ip.v === 4) pseudo = partialSum(buffer, ip + 12, ip + 20) + protocol + l4.length
  else {
    const dst = spec.ip.ext.includes(43) ? finalDestination(spec.ip.dst) : [...spec.ip.dst]
    pseudo = partialSum(buffer, ip + 8, ip + 24) + partialSum(Uint8Array.from(dst), 0, 16) + protocol + l4.length
  }
  const at = spec.l4.kind === "tcp" ? 16 : spec.l4.kind === "udp" ? 6 : 2
  if (spec.l4.kind === "sctp") {
    const c = crc32c(buffer, t, tEnd)
    buffer[t + 8] = c & 255
    buffer[t + 9] = (c >>> 8) & 255
    buffer[t + 10] = (c >>> 16) & 255
    buffer[t + 11] = c >>> 24
  } else if (spec.l4.kind === "udp" && spec.l4.zeroChecksum && spec.ip.v === 4) {
    // "No checksum": leave 0.
  } else {
    let c = internetChecksum(buffer, t, tEnd, spec.l4.kind === "echo" && spec.ip.v === 4 ? 0 : pseudo)
    if (spec.l4.kind === "udp" && c === 0) c = 0xffff
    buffer[t + at] = c >>> 8
    buffer[t + at + 1] = c & 255
  }
  return { buffer, offset: o, length, spec }
}

const byte = fc.integer({ min: 0, max: 255 })
const port = fc.integer({ min: 1, max: 65535 })
const u32Arb = fc.integer({ min: 0, max: 0xffffffff })
const payload = (max: number) => fc.array(byte, { maxLength: max })

/** A unicast MAC (I/G bit clear). */
export const mac = fc.array(byte, { minLength: 6, maxLength: 6 }).map((m) => [m[0]! & 0xfe, ...m.slice(1)])

/** A unicast, non-loopback, non-zero-network IPv4 address (1.0.0.0 - 223.255.255.254, minus 127/8). */
export const ipv4 = fc
  .integer({ min: 0x01000000, max: 0xdffffffe })
  .filter((a) => a >>> 24 !== 127 && (a & 0xff) !== 0xff && (a & 0xff) !== 0)

/** A global unicast IPv6 address in 2001:db8::/32 (documentation prefix). */
export const ipv6 = fc
  .array(byte, { minLength: 12, maxLength: 12 })
  .map((rest) => [0x20, 0x01, 0x0d, 0xb8, ...rest])
  .filter((a) => a.slice(8).some((x) => x !== 0))

/** Option lists Linux would accept: NOPs, record route (pointer at the first free slot), router alert. */
const ipv4Options = fc.oneof(
  fc.constant<ReadonlyArray<number>>([]),
  fc.constant<ReadonlyArray<number>>([0x94, 0x04, 0x00, 0x00]),
  fc.integer({ min: 1, max: 9 }).map((n) => [0x01, 0x07, 3 + 4 * n, 4, ...new Array<number>(4 * n).fill(0)])
)

const tcpOptions = fc.oneof(
  fc.constant<ReadonlyArray<number>>([]),
  fc
    .tuple(fc.integer({ min: 536, max: 9000 }), fc.integer({ min: 0, max: 14 }), u32Arb, u32Arb)
    .map(([mss, ws, tsv, tse]) => [2, 4, ...u16(mss), 4, 2, 8, 10, ...u32(tsv), ...u32(tse), 1, 3, 3, ws]),
  fc.tuple(u32Arb, u32Arb).map(([tsv, tse]) => [1, 1, 8, 10, ...u32(tsv), ...u32(tse)]),
  fc.integer({ min: 536, max: 9000 }).map((mss) => [2, 4, ...u16(mss)])
)

/** TCP flag combinations real stacks send. */
const tcpFlags = fc.constantFrom(0x02, 0x12, 0x10, 0x18, 0x11, 0x19, 0x04, 0x14, 0x50, 0x90)

/** Options without MSS and window scale, which only a SYN may carry. */
const nonSynOptions = (options: ReadonlyArray<number>): ReadonlyArray<number> => {
  const ts = options.indexOf(8)
  return ts >= 0 && options[ts + 1] === 10 ? [1, 1, ...options.slice(ts, ts + 10)] : []
}

const transport: fc.Arbitrary<Transport> = fc.oneof(
  fc
    .record({
      kind: fc.constant("tcp" as const),
      sport: port,
      dport: port,
      seq: u32Arb,
      ack: u32Arb,
      flags: tcpFlags,
      window: fc.integer({ min: 0, max: 65535 }),
      options: tcpOptions,
      payload: payload(300)
    })
    .map((t) => ((t.flags & 0x02) !== 0 ? t : { ...t, options: nonSynOptions(t.options) }))
    // A RST carries no data (tshark would read it as an RFC 1122 "reset cause" text).
    .map((t) => ((t.flags & 0x04) !== 0 ? { ...t, payload: [] } : t)),
  fc.record({
    kind: fc.constant("udp" as const),
    sport: port,
    dport: port,
    payload: payload(300),
    zeroChecksum: fc.boolean()
  }),
  fc.record({
    kind: fc.constant("sctp" as const),
    sport: port,
    dport: port,
    tag: fc.integer({ min: 1, max: 0xffffffff }),
    tsn: u32Arb,
    payload: fc.array(byte, { minLength: 1, maxLength: 200 })
  }),
  fc.record({
    kind: fc.constant("echo" as const),
    id: fc.integer({ min: 0, max: 65535 }),
    seq: fc.integer({ min: 0, max: 65535 }),
    payload: payload(200)
  })
)

/**
 * Any frame spec: IPv4 or IPv6, optionally VLAN-tagged, TCP / UDP / SCTP DATA / ICMP(v6) echo request.
 *
 * @example
 * ```ts
 * const specs = fc.sample(frameSpec(), { numRuns: 100, seed: 42 })
 * ```
 */
export const frameSpec = (): fc.Arbitrary<FrameSpec> =>
  fc.record({
    dstMac: mac,
    srcMac: mac,
    vlan: fc.oneof(fc.constant(-1), fc.integer({ min: 1, max: 4094 })),
    ip: fc.oneof(
      fc.record({
        v: fc.constant(4 as const),
        src: ipv4,
        dst: ipv4,
        ttl: fc.integer({ min: 1, max: 255 }),
        tos: byte,
        id: fc.integer({ min: 0, max: 65535 }),
        df: fc.boolean(),
        options: ipv4Options
      }),
      fc.record({
        v: fc.constant(6 as const),
        src: ipv6,
        dst: ipv6,
        hlim: fc.integer({ min: 1, max: 255 }),
        tclass: byte,
        flow: fc.integer({ min: 0, max: 0xfffff }),
        ext: fc.oneof(
          fc.constant<ReadonlyArray<0 | 43 | 60>>([]),
          fc.constant<ReadonlyArray<0 | 43 | 60>>([0]),
          fc.constant<ReadonlyArray<0 | 43 | 60>>([60]),
          fc.constant<ReadonlyArray<0 | 43 | 60>>([0, 60]),
          fc.constant<ReadonlyArray<0 | 43 | 60>>([43]),
          fc.constant<ReadonlyArray<0 | 43 | 60>>([0, 43, 60])
        )
      })
    ),
    l4: transport
  })

/** The seed of this run's samples (set FC_SEED to replay one); printed in every failure message. */
export const SEED = Number(process.env["FC_SEED"] ?? Date.now() % 0x7fffffff)

/**
 * `n` random values of `arb` from this run's seed.
 *
 * @example
 * ```ts
 * const specs = samples(frameSpec(), 200)
 * ```
 */
export const samples = <A>(arb: fc.Arbitrary<A>, n: number, salt = 0): ReadonlyArray<A> =>
  fc.sample(arb, { numRuns: n, seed: (SEED + salt) | 0 })
