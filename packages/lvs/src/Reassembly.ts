/**
 * IP fragment reassembly (defrag) in front of the director's IPVS path, IPv4 and IPv6, in one fixed arena.
 *
 * Mirrors what Linux runs before IPVS ever sees a packet (`ip_defrag` / `nf_ct_frag6_gather`, ipvs.md §3:
 * "IPv4 fragments are reassembled before IPVS sees them; IPVS never schedules on a fragment"):
 *
 * - queues keyed by (source, destination, id, protocol) for IPv4 and (source, destination, id) for IPv6;
 * - memory bounded by `highThresh` (default 4 MiB, `ipfrag_high_thresh`): when a fragment would take the
 *   arena over it, the oldest queues are evicted until it is under `lowThresh` (3 MiB,
 *   `ipfrag_low_thresh`, the pre-4.17 evictor);
 * - a queue lives `timeoutMs` (30 s, `ipfrag_time`) from its first fragment; on expiry the caller can
 *   quote the first fragment (when it arrived) in an ICMP time exceeded, code 1 (`ip_expire`);
 * - overlapping fragments discard the whole datagram (Linux 4.19+ for IPv4, RFC 5722 for IPv6); a
 *   fragment lying entirely within data already received is a duplicate and is dropped alone;
 * - datagrams over 65535 bytes, lengths that contradict the last fragment, non-final IPv6 fragments not a
 *   multiple of 8 and tiny first fragments (RFC 1858: IPv4 TCP first fragments without the whole TCP
 *   header, or at offset 8; RFC 7112: IPv6 first fragments without the whole header chain) are dropped.
 *
 * Data plane style: every table is a typed array sized at construction, payload bytes are copied into
 * 2 KiB pages of one `Uint8Array`, queue state is struct-of-arrays; `add4` / `add6` / `assemble` /
 * `expireOne` allocate nothing and never throw on bad input (they return an {@link Outcome}).
 *
 * @module
 */
import { Buffer } from "node:buffer"
import { Checksum } from "@lvs-ts/packet"
import * as Frames from "./internal/Frames.ts"

/**
 * What happened to a fragment given to {@link Reassembler.add4} / {@link Reassembler.add6}.
 *
 * @example
 * ```ts
 * if (r.add4(frame, 14, frame.length - 14, 0, 0, now) === Reassembly.Outcome.Complete) r.assemble(out, 14, out.length - 14)
 * ```
 */
export const Outcome = {
  /** Stored; the datagram is not complete yet. */
  Queued: 0,
  /** Stored and the datagram is complete: call {@link Reassembler.assemble} before the next `add`. */
  Complete: 1,
  /** Lies within data already received: dropped, the queue is kept (Linux `IPFRAG_DUP`). */
  Duplicate: 2,
  /** Overlaps received data: the whole datagram is discarded (`IPFRAG_OVERLAP`, RFC 5722). */
  Overlap: 3,
  /** The datagram would exceed 65535 bytes (IPv4 total length / IPv6 payload length): discarded. */
  TooBig: 4,
  /** Malformed header, bad offset or length (contradicts the last fragment, not a multiple of 8): discarded. */
  Bad: 5,
  /** A tiny first fragment (RFC 1858 / RFC 7112): discarded. */
  Tiny: 6,
  /** No room even after evicting every older queue (a single datagram larger than the arena). */
  NoMemory: 7,
  /** Not a fragment at all (IPv4 MF clear and offset 0; IPv6 without a fragment header). */
  NotFragment: 8
} as const

/**
 * A value of {@link Outcome}.
 *
 * @example
 * ```ts
 * const o: Reassembly.Outcome = Reassembly.Outcome.Queued
 * ```
 */
export type Outcome = (typeof Outcome)[keyof typeof Outcome]

/**
 * Indices into {@link Reassembler.counters}: one counter per outcome, like the kernel's `ReasmReqds`,
 * `ReasmOKs`, `ReasmFails`, `ReasmTimeout`, `ReasmOverlaps` MIB counters (split finer).
 *
 * @example
 * ```ts
 * r.counters[Reassembly.Counter.reassembled]
 * ```
 */
export const Counter = {
  /** Fragments given to `add4` / `add6`. */
  fragments: 0,
  /** Fragments stored in a queue. */
  queued: 1,
  /** Datagrams completed and handed out by `assemble`. */
  reassembled: 2,
  /** Queues that expired (`ipfrag_time`). */
  timedOut: 3,
  /** Queues evicted to make room (oldest first). */
  evicted: 4,
  /** Datagrams discarded for overlapping fragments. */
  overlap: 5,
  /** Duplicate fragments dropped. */
  duplicate: 6,
  /** Datagrams over 65535 bytes (or larger than the caller's assembly buffer). */
  tooBig: 7,
  /** Malformed fragments / inconsistent offsets. */
  bad: 8,
  /** Tiny first fragments. */
  tiny: 9,
  /** Fragments dropped for want of memory. */
  noMemory: 10
} as const

/** Number of {@link Counter} entries. @example `new Float64Array(Reassembly.COUNTERS)` */
export const COUNTERS = 11

/**
 * Reassembler options (Linux sysctl names in brackets).
 *
 * @example
 * ```ts
 * const o: Reassembly.Options = { highThresh: 4 * 1024 * 1024, lowThresh: 3 * 1024 * 1024, timeoutMs: 30_000 }
 * ```
 */
export interface Options {
  /** Memory bound in bytes [`ipfrag_high_thresh`, default 4194304]. */
  readonly highThresh?: number
  /** Eviction target in bytes [`ipfrag_low_thresh`, default 3145728]. */
  readonly lowThresh?: number
  /** Queue lifetime in ms [`ipfrag_time`, default 30000]. */
  readonly timeoutMs?: number
  /** Maximum simultaneous queues (default 4096). */
  readonly maxQueues?: number
}

/**
 * Linux defaults: `ipfrag_high_thresh` 4 MiB, `ipfrag_low_thresh` 3 MiB, `ipfrag_time` 30 s (IPv6 the same).
 *
 * @example
 * ```ts
 * Reassembly.DEFAULTS.timeoutMs // 30000
 * ```
 */
export const DEFAULTS = { highThresh: 4 * 1024 * 1024, lowThresh: 3 * 1024 * 1024, timeoutMs: 30_000, maxQueues: 4096 }

/** Bytes per arena page. */
const PAGE = 2048
const PAGE_SHIFT = 11
/** Pages per queue: enough for 65535 bytes of payload. */
const PAGES_PER_QUEUE = 32
/** Memory charged per stored fragment besides its pages (the kernel charges each skb's truesize). */
const FRAGMENT_OVERHEAD = 128
/** Memory charged per queue (its header area and state). */
const QUEUE_OVERHEAD = 512
/** Per-queue header area: the first fragment's Ethernet header (14) and headers up to its data. */
const HEADER_AREA = 256
const L2 = 14
const MAX_L3_HEADER = HEADER_AREA - L2
/** Key words per queue: source (4), destination (4), id, family << 8 | protocol. */
const KEY = 10

// Queue flags.
const F_FIRST = 1
const F_LAST = 2
const F_L2 = 4

/** Byte copy between buffers without creating a view (`subarray` would allocate per fragment). */
const copy = (dst: Uint8Array, at: number, src: Uint8Array, from: number, n: number): void => {
  for (let i = 0; i < n; i++) dst[at + i] = src[from + i]!
}
const nodeCopy = Buffer.prototype.copy
/**
 * Bulk copy between two buffers with Node's native `Buffer#copy` (a memmove through a V8 fast API call,
 * applied to plain `Uint8Array`s): it creates no view, unlike `set(subarray())`, and is about 10 times
 * faster than a JavaScript byte loop (2.5 times faster than 4-byte DataView steps).
 */
const copyBulk = (dst: Uint8Array, at: number, src: Uint8Array, from: number, n: number): void => {
  nodeCopy.call(src, dst, at, from, from + n)
}
/**
 * Minimum bytes of an upper-layer header that a first fragment must carry (RFC 1858 / RFC 7112): TCP 20
 * (more with options), UDP 8, ICMP/ICMPv6 8, SCTP 12; other protocols 0.
 */
const transportMinimum = (b: Uint8Array, at: number, available: number, protocol: number): number => {
  if (protocol === 6) return available >= 13 ? Math.max(20, (b[at + 12]! >>> 4) << 2) : 20
  if (protocol === 17 || protocol === 1 || protocol === 58) return 8
  if (protocol === 132) return 12
  return 0
}

/**
 * One worker's reassembly state: the queues, the page arena and the counters.
 *
 * @example
 * ```ts
 * const r = new Reassembly.Reassembler()
 * const outcome = r.add4(frame, 14, frame.length - 14, 0, 0, performance.now())
 * if (outcome === Reassembly.Outcome.Complete) {
 *   const length = r.assemble(out, 14, out.length - 14) // the whole IPv4 datagram at out[14..14+length)
 * }
 * ```
 */
export class Reassembler {
  /** Counters, indexed by {@link Counter}. */
  readonly counters = new Float64Array(COUNTERS)
  readonly highThresh: number
  readonly lowThresh: number
  readonly timeoutMs: number
  readonly maxQueues: number
  /** Bytes currently charged (pages + per-fragment and per-queue overhead). */
  memory = 0
  /** Queues in use. */
  queueCount = 0
  /** After {@link assemble}: the largest fragment's IP length (Linux `frag_max_size`). */
  fragmentMax = 0
  /** After {@link assemble}: whether the largest fragment had DF (the reassembled IPv4 header gets DF). */
  dontFragment = false
  /** After {@link assemble}: 4 or 6. */
  family = 0
  /** After {@link assemble}: the datagram's id (IPv4 16 bits, IPv6 32 bits). */
  id = 0
  /** After {@link assemble} / {@link expireOne}: the port the first (or, failing that, latest) fragment came in on. */
  port = 0

  readonly #arena: Uint8Array
  readonly #freePages: Int32Array
  #freePageCount: number
  readonly #pageTable: Int32Array
  readonly #key: Uint32Array
  readonly #state: Uint8Array
  readonly #flags: Uint8Array
  readonly #created: Float64Array
  readonly #length: Int32Array
  readonly #fragMax: Int32Array
  readonly #dfMax: Int32Array
  readonly #memory: Int32Array
  readonly #headerLength: Int32Array
  readonly #unfragmentable: Int32Array
  readonly #nextHeaderAt: Int32Array
  readonly #nextHeader: Uint8Array
  readonly #port: Int32Array
  readonly #headers: Uint8Array
  readonly #runHead: Int32Array
  readonly #older: Int32Array
  readonly #newer: Int32Array
  readonly #hashNext: Int32Array
  readonly #buckets: Int32Array
  readonly #freeQueues: Int32Array
  #freeQueueCount: number
  #oldest = -1
  #newest = -1
  readonly #runStart: Int32Array
  readonly #runEnd: Int32Array
  readonly #runNext: Int32Array
  #freeRun = -1
  #complete = -1
  readonly #k = new Uint32Array(KEY)

  constructor(options: Options = {}) {
    const high = options.highThresh ?? DEFAULTS.highThresh
    const low = options.lowThresh ?? Math.min(DEFAULTS.lowThresh, Math.floor((high * 3) / 4))
    const timeout = options.timeoutMs ?? DEFAULTS.timeoutMs
    const maxQueues = options.maxQueues ?? DEFAULTS.maxQueues
    if (!Number.isInteger(high) || high < PAGE + QUEUE_OVERHEAD + FRAGMENT_OVERHEAD)
      throw new Error(
        `Reassembly: highThresh ${high} must be an integer >= ${PAGE + QUEUE_OVERHEAD + FRAGMENT_OVERHEAD}`
      )
    if (!Number.isInteger(low) || low < 0 || low > high)
      throw new Error(`Reassembly: lowThresh ${low} must be an integer in 0..highThresh (${high})`)
    if (!(timeout > 0)) throw new Error(`Reassembly: timeoutMs ${timeout} must be > 0`)
    if (!Number.isInteger(maxQueues) || maxQueues < 1 || maxQueues > 1 << 20)
      throw new Error(`Reassembly: maxQueues ${maxQueues} must be an integer in 1..1048576`)
    this.highThresh = high
    this.lowThresh = low
    this.timeoutMs = timeout
    this.maxQueues = maxQueues
    const pages = Math.floor(high / PAGE)
    this.#arena = new Uint8Array(pages * PAGE)
    this.#freePages = new Int32Array(pages)
    for (let i = 0; i < pages; i++) this.#freePages[i] = pages - 1 - i
    this.#freePageCount = pages
    this.#pageTable = new Int32Array(maxQueues * PAGES_PER_QUEUE).fill(-1)
    this.#key = new Uint32Array(maxQueues * KEY)
    this.#state = new Uint8Array(maxQueues)
    this.#flags = new Uint8Array(maxQueues)
    this.#created = new Float64Array(maxQueues)
    this.#length = new Int32Array(maxQueues)
    this.#fragMax = new Int32Array(maxQueues)
    this.#dfMax = new Int32Array(maxQueues)
    this.#memory = new Int32Array(maxQueues)
    this.#headerLength = new Int32Array(maxQueues)
    this.#unfragmentable = new Int32Array(maxQueues)
    this.#nextHeaderAt = new Int32Array(maxQueues)
    this.#nextHeader = new Uint8Array(maxQueues)
    this.#port = new Int32Array(maxQueues)
    this.#headers = new Uint8Array(maxQueues * HEADER_AREA)
    this.#runHead = new Int32Array(maxQueues).fill(-1)
    this.#older = new Int32Array(maxQueues).fill(-1)
    this.#newer = new Int32Array(maxQueues).fill(-1)
    this.#hashNext = new Int32Array(maxQueues).fill(-1)
    let buckets = 1
    while (buckets < maxQueues * 2) buckets <<= 1
    this.#buckets = new Int32Array(buckets).fill(-1)
    this.#freeQueues = new Int32Array(maxQueues)
    for (let i = 0; i < maxQueues; i++) this.#freeQueues[i] = maxQueues - 1 - i
    this.#freeQueueCount = maxQueues
    // Every stored fragment is charged FRAGMENT_OVERHEAD, so runs (at most one per fragment) stay below this.
    const runs = Math.ceil(high / FRAGMENT_OVERHEAD) + maxQueues
    this.#runStart = new Int32Array(runs)
    this.#runEnd = new Int32Array(runs)
    this.#runNext = new Int32Array(runs)
    for (let i = 0; i < runs; i++) this.#runNext[i] = i + 1 < runs ? i + 1 : -1
    this.#freeRun = 0
  }

  /**
   * Adds the IPv4 packet at `b[l3..]` (`available` bytes there) if it is a fragment. `l2` is the offset of
   * its Ethernet header (kept for a later ICMP, -1 when none) and `port` the receiving port.
   *
   * @example
   * ```ts
   * r.add4(frame, 14, frame.length - 14, 0, 0, now) // Reassembly.Outcome.Queued
   * ```
   */
  add4(b: Uint8Array, l3: number, available: number, l2: number, port: number, now: number): Outcome {
    this.#releaseComplete()
    const c = this.counters
    c[Counter.fragments]!++
    if (available < 20 || b[l3]! >>> 4 !== 4) return this.#bad()
    const ihl = (b[l3]! & 0x0f) << 2
    const total = Frames.readU16(b, l3 + 2)
    if (ihl < 20 || ihl > available || total > available || total < ihl) return this.#bad()
    if (Checksum.compute(b, l3, ihl) !== 0) return this.#bad()
    const ff = Frames.readU16(b, l3 + 6)
    const offset = (ff & 0x1fff) << 3
    const more = (ff & 0x2000) !== 0
    if (offset === 0 && !more) {
      c[Counter.fragments]!--
      return Outcome.NotFragment
    }
    const protocol = b[l3 + 9]!
    let len = total - ihl
    // RFC 1858: no TCP fragment at offset 8, and a first fragment holds the whole transport header.
    if (protocol === 6 && offset === 8) return this.#tiny()
    if (offset === 0 && len < transportMinimum(b, l3 + ihl, len, protocol)) return this.#tiny()
    if (more) len &= ~7 // the kernel trims a non-final fragment to a multiple of 8
    const end = offset + len
    const k = this.#k
    k[0] = Frames.readU32(b, l3 + 12)
    k[1] = 0
    k[2] = 0
    k[3] = 0
    k[4] = Frames.readU32(b, l3 + 16)
    k[5] = 0
    k[6] = 0
    k[7] = 0
    k[8] = Frames.readU16(b, l3 + 4)
    k[9] = (4 << 8) | protocol
    let q = this.#find()
    if (ihl + end > 65535) {
      if (q >= 0) this.#release(q)
      c[Counter.tooBig]!++
      return Outcome.TooBig
    }
    if (len === 0) {
      if (q >= 0) this.#release(q)
      return this.#bad()
    }
    if (q < 0) {
      q = this.#create(now)
      if (q < 0) return this.#noMemory()
      this.#port[q] = port
    }
    const df = (ff & 0x4000) !== 0
    return this.#insert(q, b, l3, l3 + ihl, offset, end, more, total, df, ihl, 0, 0, l2, port, now)
  }

  /**
   * Adds the IPv6 packet at `b[l3..]` if it carries a fragment header (walking hop-by-hop, routing,
   * destination options and AH headers to find it). Same parameters as {@link add4}.
   *
   * @example
   * ```ts
   * r.add6(frame, 14, frame.length - 14, 0, 0, now)
   * ```
   */
  add6(b: Uint8Array, l3: number, available: number, l2: number, port: number, now: number): Outcome {
    this.#releaseComplete()
    const c = this.counters
    c[Counter.fragments]!++
    if (available < 40 || b[l3]! >>> 4 !== 6) return this.#bad()
    const l3End = l3 + 40 + Frames.readU16(b, l3 + 4)
    if (l3End > l3 + available) return this.#bad()
    let nh = b[l3 + 6]!
    let nhAt = 6
    let at = l3 + 40
    for (let n = 0; nh !== 44; n++) {
      if (n >= 8 || (nh !== 0 && nh !== 43 && nh !== 60 && nh !== 51)) {
        c[Counter.fragments]!--
        return Outcome.NotFragment
      }
      if (at + 8 > l3End) return this.#bad()
      // Header length: AH counts 4-byte words minus 2, the others 8-byte words minus 1.
      const len = nh === 51 ? (b[at + 1]! + 2) << 2 : (b[at + 1]! + 1) << 3
      nhAt = at - l3
      nh = b[at]!
      at += len
    }
    const fh = at
    if (fh + 8 > l3End) return this.#bad()
    const unfragmentable = fh - l3
    if (unfragmentable + 8 > MAX_L3_HEADER) return this.#bad()
    const fo = Frames.readU16(b, fh + 2)
    const offset = fo & 0xfff8
    const more = (fo & 1) !== 0
    const data = fh + 8
    const len = l3End - data
    // RFC 8200 §4.5: a non-final fragment's length is a multiple of 8.
    if (more && (len & 7) !== 0) return this.#bad()
    if (offset === 0 && !this.#headerChainComplete(b, b[fh]!, data, l3End)) return this.#tiny()
    const end = offset + len
    const k = this.#k
    for (let w = 0; w < 4; w++) {
      k[w] = Frames.readU32(b, l3 + 8 + w * 4)
      k[4 + w] = Frames.readU32(b, l3 + 24 + w * 4)
    }
    k[8] = Frames.readU32(b, fh + 4)
    k[9] = 6 << 8
    let q = this.#find()
    if (unfragmentable - 40 + end > 65535) {
      if (q >= 0) this.#release(q)
      this.counters[Counter.tooBig]!++
      return Outcome.TooBig
    }
    if (len === 0 && more) {
      if (q >= 0) this.#release(q)
      return this.#bad()
    }
    if (q < 0) {
      q = this.#create(now)
      if (q < 0) return this.#noMemory()
      this.#port[q] = port
    }
    return this.#insert(
      q,
      b,
      l3,
      data,
      offset,
      end,
      more,
      l3End - l3,
      false,
      data - l3,
      unfragmentable,
      nhAt,
      l2,
      port,
      now
    )
  }

  /** RFC 7112: the first fragment holds every extension header and the upper-layer header. */
  #headerChainComplete(b: Uint8Array, next: number, at: number, end: number): boolean {
    let nh = next
    for (let n = 0; n < 8; n++) {
      if (nh === 0 || nh === 43 || nh === 60 || nh === 51) {
        if (at + 2 > end) return false
        const len = nh === 51 ? (b[at + 1]! + 2) << 2 : (b[at + 1]! + 1) << 3
        if (at + len > end) return false
        nh = b[at]!
        at += len
        continue
      }
      if (nh === 44 || nh === 59) return true
      return end - at >= transportMinimum(b, at, end - at, nh)
    }
    return false
  }

  /**
   * Writes the completed datagram (after an `add` returned `Complete`) at `out[at..]`: the first
   * fragment's header with the fragment fields cleared (IPv4: DF when the largest fragment had it, total
   * length, checksum; IPv6: the fragment header removed, payload length) and the payload. Returns its IP
   * length, or -1 (counted as too big) when it does not fit in `capacity`. Frees the queue.
   *
   * @example
   * ```ts
   * const n = r.assemble(out, 14, out.length - 14)
   * ```
   */
  assemble(out: Uint8Array, at: number, capacity: number): number {
    const q = this.#complete
    if (q < 0) return -1
    this.#complete = -1
    const v6 = this.#key[q * KEY + 9]! >>> 8 === 6
    const header = v6 ? this.#unfragmentable[q]! : this.#headerLength[q]!
    const len = this.#length[q]!
    const total = header + len
    this.fragmentMax = this.#fragMax[q]!
    this.dontFragment = !v6 && this.#dfMax[q] === this.#fragMax[q]
    this.family = v6 ? 6 : 4
    this.id = this.#key[q * KEY + 8]!
    this.port = this.#port[q]!
    if (total > capacity || at + total > out.length) {
      this.counters[Counter.tooBig]!++
      this.#release(q)
      return -1
    }
    const h = q * HEADER_AREA + L2
    copy(out, at, this.#headers, h, header)
    if (v6) {
      out[at + this.#nextHeaderAt[q]!] = this.#nextHeader[q]!
      Frames.writeU16(out, at + 4, total - 40)
    } else {
      Frames.writeU16(out, at + 2, total)
      Frames.writeU16(out, at + 6, this.dontFragment ? 0x4000 : 0)
      Frames.writeU16(out, at + 10, 0)
      Frames.writeU16(out, at + 10, Checksum.compute(out, at, header))
    }
    this.#copyData(q, out, at + header, len)
    this.counters[Counter.reassembled]!++
    this.#release(q)
    return total
  }

  /**
   * Expires the oldest queue if it is older than `timeoutMs` at `now`: returns -1 when none expired.
   * Otherwise the queue is freed (counted as timed out) and, when its first fragment had arrived, that
   * fragment (header and up to `quote` data bytes, lengths and checksum fixed) is written at `out[at..]`
   * with its Ethernet header at `out[at - 14..]`, and its IP length returned; 0 when the first fragment
   * never arrived (Linux sends no ICMP then).
   *
   * @example
   * ```ts
   * for (let n = r.expireOne(now, out, 14, 548); n >= 0; n = r.expireOne(now, out, 14, 548)) if (n > 0) sendTimeExceeded(n)
   * ```
   */
  expireOne(now: number, out: Uint8Array, at: number, quote: number): number {
    this.#releaseComplete()
    const q = this.#oldest
    if (q < 0 || now - this.#created[q]! < this.timeoutMs) return -1
    this.counters[Counter.timedOut]!++
    this.port = this.#port[q]!
    this.family = this.#key[q * KEY + 9]! >>> 8
    let n = 0
    const flags = this.#flags[q]!
    const run = this.#runHead[q]!
    if ((flags & F_FIRST) !== 0 && run >= 0 && this.#runStart[run] === 0 && at >= L2) {
      const header = this.#headerLength[q]!
      const data = Math.min(quote, this.#runEnd[run]!)
      if (at + header + data <= out.length) {
        const h = q * HEADER_AREA
        if ((flags & F_L2) !== 0) copy(out, at - L2, this.#headers, h, L2)
        copy(out, at, this.#headers, h + L2, header)
        this.#copyData(q, out, at + header, data)
        n = header + data
        if (this.family === 6) Frames.writeU16(out, at + 4, n - 40)
        else {
          Frames.writeU16(out, at + 2, n)
          Frames.writeU16(out, at + 10, 0)
          Frames.writeU16(out, at + 10, Checksum.compute(out, at, header))
        }
      }
    }
    this.#release(q)
    return n
  }

  /**
   * Drops every queue (the kernel's `inet_frags_exit_net`), counting nothing.
   *
   * @example
   * ```ts
   * r.clear()
   * ```
   */
  clear(): void {
    this.#complete = -1
    while (this.#oldest >= 0) this.#release(this.#oldest)
  }

  // ---- internals ----

  #bad(): Outcome {
    this.counters[Counter.bad]!++
    return Outcome.Bad
  }
  #tiny(): Outcome {
    this.counters[Counter.tiny]!++
    return Outcome.Tiny
  }
  #noMemory(): Outcome {
    this.counters[Counter.noMemory]!++
    return Outcome.NoMemory
  }
  #releaseComplete(): void {
    if (this.#complete >= 0) {
      this.#release(this.#complete)
      this.#complete = -1
    }
  }

  #hash(k: Uint32Array, base: number): number {
    let h = 0x811c9dc5
    for (let i = 0; i < KEY; i++) h = Math.imul(h ^ k[base + i]!, 0x01000193)
    h ^= h >>> 15
    return (h >>> 0) & (this.#buckets.length - 1)
  }

  #find(): number {
    const k = this.#k
    const keys = this.#key
    for (let q = this.#buckets[this.#hash(k, 0)]!; q >= 0; q = this.#hashNext[q]!) {
      const base = q * KEY
      let same = true
      for (let i = 0; i < KEY && same; i++) if (keys[base + i] !== k[i]) same = false
      if (same) return q
    }
    return -1
  }

  #create(now: number): number {
    if (this.#freeQueueCount === 0) {
      this.#evict(this.#oldest)
    }
    if (this.memory + QUEUE_OVERHEAD > this.highThresh) this.#evictDown(-1, QUEUE_OVERHEAD)
    if (this.#freeQueueCount === 0 || this.memory + QUEUE_OVERHEAD > this.highThresh) return -1
    const q = this.#freeQueues[--this.#freeQueueCount]!
    for (let i = 0; i < KEY; i++) this.#key[q * KEY + i] = this.#k[i]!
    this.#state[q] = 1
    this.#flags[q] = 0
    this.#created[q] = now
    this.#length[q] = 0
    this.#fragMax[q] = 0
    this.#dfMax[q] = 0
    this.#memory[q] = QUEUE_OVERHEAD
    this.memory += QUEUE_OVERHEAD
    this.#headerLength[q] = 0
    this.#runHead[q] = -1
    const h = this.#hash(this.#k, 0)
    this.#hashNext[q] = this.#buckets[h]!
    this.#buckets[h] = q
    this.#older[q] = this.#newest
    this.#newer[q] = -1
    if (this.#newest >= 0) this.#newer[this.#newest] = q
    else this.#oldest = q
    this.#newest = q
    this.queueCount++
    return q
  }

  #evict(q: number): void {
    if (q < 0) return
    this.counters[Counter.evicted]!++
    this.#release(q)
  }

  /** Evicts the oldest queues other than `keep` until `need` more bytes fit under the low threshold. */
  #evictDown(keep: number, need: number): void {
    let q = this.#oldest
    while (q >= 0 && this.memory + need > this.lowThresh) {
      const next = this.#newer[q]!
      if (q !== keep) this.#evict(q)
      q = next
    }
  }

  #release(q: number): void {
    if (this.#state[q] === 0) return
    if (this.#complete === q) this.#complete = -1
    this.#state[q] = 0
    const pt = q * PAGES_PER_QUEUE
    for (let i = 0; i < PAGES_PER_QUEUE; i++) {
      const page = this.#pageTable[pt + i]!
      if (page >= 0) {
        this.#freePages[this.#freePageCount++] = page
        this.#pageTable[pt + i] = -1
      }
    }
    let r = this.#runHead[q]!
    while (r >= 0) {
      const next = this.#runNext[r]!
      this.#runNext[r] = this.#freeRun
      this.#freeRun = r
      r = next
    }
    this.#runHead[q] = -1
    this.memory -= this.#memory[q]!
    this.#memory[q] = 0
    // Unlink from the hash chain.
    const h = this.#hash(this.#key, q * KEY)
    let prev = -1
    for (let i = this.#buckets[h]!; i >= 0; i = this.#hashNext[i]!) {
      if (i === q) {
        if (prev < 0) this.#buckets[h] = this.#hashNext[i]!
        else this.#hashNext[prev] = this.#hashNext[i]!
        break
      }
      prev = i
    }
    this.#hashNext[q] = -1
    // Unlink from the age list.
    const older = this.#older[q]!
    const newer = this.#newer[q]!
    if (older >= 0) this.#newer[older] = newer
    else this.#oldest = newer
    if (newer >= 0) this.#older[newer] = older
    else this.#newest = older
    this.#older[q] = -1
    this.#newer[q] = -1
    this.#freeQueues[this.#freeQueueCount++] = q
    this.queueCount--
  }

  #insert(
    q: number,
    b: Uint8Array,
    l3: number,
    data: number,
    offset: number,
    end: number,
    more: boolean,
    size: number,
    df: boolean,
    headerLength: number,
    unfragmentable: number,
    nhAt: number,
    l2: number,
    port: number,
    now: number
  ): Outcome {
    const c = this.counters
    const flags = this.#flags[q]!
    const qlen = this.#length[q]!
    if (!more) {
      // The last fragment fixes the length: nothing may end beyond it, and a second one must agree.
      if (end < qlen || ((flags & F_LAST) !== 0 && end !== qlen)) {
        this.#release(q)
        return this.#bad()
      }
    } else if (end > qlen && (flags & F_LAST) !== 0) {
      this.#release(q)
      return this.#bad()
    }
    // Duplicate or overlap against the received runs (sorted, disjoint, merged when adjacent).
    let prev = -1
    let next = this.#runHead[q]!
    while (next >= 0 && this.#runEnd[next]! <= offset) {
      prev = next
      next = this.#runNext[next]!
    }
    if (next >= 0 && this.#runStart[next]! < end) {
      if (this.#runStart[next]! <= offset && end <= this.#runEnd[next]!) {
        c[Counter.duplicate]!++
        return Outcome.Duplicate
      }
      this.#release(q)
      c[Counter.overlap]!++
      return Outcome.Overlap
    }
    // Memory: new pages + the per-fragment charge; evict the oldest other queues if needed.
    const pt = q * PAGES_PER_QUEUE
    let newPages = 0
    for (let p = offset >>> PAGE_SHIFT; p <= (end - 1) >>> PAGE_SHIFT; p++) if (this.#pageTable[pt + p]! < 0) newPages++
    const charge = newPages * PAGE + FRAGMENT_OVERHEAD
    if (this.memory + charge > this.highThresh) this.#evictDown(q, charge)
    const needRun = !(prev >= 0 && this.#runEnd[prev] === offset) && !(next >= 0 && this.#runStart[next] === end)
    if (this.memory + charge > this.highThresh || newPages > this.#freePageCount || (needRun && this.#freeRun < 0)) {
      return this.#noMemory()
    }
    // Copy the data into the queue's pages.
    for (let pos = offset; pos < end; ) {
      const p = pos >>> PAGE_SHIFT
      let page = this.#pageTable[pt + p]!
      if (page < 0) {
        page = this.#freePages[--this.#freePageCount]!
        this.#pageTable[pt + p] = page
      }
      const within = pos & (PAGE - 1)
      const n = Math.min(PAGE - within, end - pos)
      const src = data + (pos - offset)
      copyBulk(this.#arena, page * PAGE + within, b, src, n)
      pos += n
    }
    this.memory += charge
    this.#memory[q]! += charge
    // Link the run, merging with its neighbours.
    if (prev >= 0 && this.#runEnd[prev] === offset) {
      this.#runEnd[prev] = end
      if (next >= 0 && this.#runStart[next] === end) {
        this.#runEnd[prev] = this.#runEnd[next]!
        this.#runNext[prev] = this.#runNext[next]!
        this.#runNext[next] = this.#freeRun
        this.#freeRun = next
      }
    } else if (next >= 0 && this.#runStart[next] === end) {
      this.#runStart[next] = offset
    } else {
      const r = this.#freeRun
      this.#freeRun = this.#runNext[r]!
      this.#runStart[r] = offset
      this.#runEnd[r] = end
      this.#runNext[r] = next
      if (prev >= 0) this.#runNext[prev] = r
      else this.#runHead[q] = r
    }
    let f = flags
    if (!more) {
      f |= F_LAST
      this.#length[q] = end
    } else if (end > qlen) this.#length[q] = end
    if (offset === 0) {
      f |= F_FIRST
      this.#port[q] = port
      const h = q * HEADER_AREA
      if (l2 >= 0) {
        copy(this.#headers, h, b, l2, L2)
        f |= F_L2
      }
      copy(this.#headers, h + L2, b, l3, headerLength)
      this.#headerLength[q] = headerLength
      this.#unfragmentable[q] = unfragmentable
      this.#nextHeaderAt[q] = nhAt
      this.#nextHeader[q] = unfragmentable > 0 ? b[l3 + unfragmentable]! : 0
    } else if ((f & F_L2) === 0 && l2 >= 0) {
      copy(this.#headers, q * HEADER_AREA, b, l2, L2)
      f |= F_L2
    }
    this.#flags[q] = f
    if (size > this.#fragMax[q]!) this.#fragMax[q] = size
    if (df && size > this.#dfMax[q]!) this.#dfMax[q] = size
    c[Counter.queued]!++
    void now
    const head = this.#runHead[q]!
    if (
      (f & (F_FIRST | F_LAST)) === (F_FIRST | F_LAST) &&
      this.#runStart[head] === 0 &&
      this.#runEnd[head] === this.#length[q] &&
      this.#runNext[head] === -1
    ) {
      this.#complete = q
      return Outcome.Complete
    }
    return Outcome.Queued
  }

  #copyData(q: number, out: Uint8Array, at: number, len: number): void {
    const pt = q * PAGES_PER_QUEUE
    for (let pos = 0; pos < len; pos += PAGE) {
      const page = this.#pageTable[pt + (pos >>> PAGE_SHIFT)]!
      const n = Math.min(PAGE, len - pos)
      copyBulk(out, at + pos, this.#arena, page * PAGE, n)
    }
  }
}
