/**
 * The IPVS connection table (ip_vs_conn.c + the protocols' state handlers), rebuilt for ten million entries.
 *
 * Storage is struct-of-arrays: each column is one flat typed array over its own growable SharedArrayBuffer, which
 * reserves address space for maxConnections up front and grows in place 16384 entries at a time, so growing never
 * copies entries and entry i is element i of every column. The in key -- client address, virtual address, both ports,
 * protocol/flags/state -- is one 16-byte record (four per cache line); the rest of the reply tuple (real-server
 * address and ports, FULLNAT local address) and the timeout form a second 16-byte record; every other field (expiry,
 * wheel links, ids, counters) is its own column. Two open-addressed indexes (linear probing over one flat Int32Array
 * each; a slot holds a fingerprint of the key and the entry number) find an entry from both directions: "in" on
 * (protocol, client, virtual) and "out" on the reply tuple (real server -> client for NAT, real server -> local
 * address for FULLNAT, VIP -> client for DR/TUN/local). A miss reads one index line and nothing else; a hit reads one
 * index line and the entry's record. The indexes grow by 1.25 when 0.8 full, moving a few slots per insert (in slot
 * order) from the old index to the new one, so no single operation pauses. Expiry uses a hashed timing wheel driven
 * by the `now` (milliseconds) the caller passes in: O(1) per entry, and re-arming an entry on every packet touches no
 * list unless its expiry moves earlier; `advance()` does a bounded amount of work per call.
 *
 * No garbage collection from growth: every large buffer (the columns, the indexes, the IPv6 pool) is a
 * SharedArrayBuffer, which V8 does not count as external memory, so allocating it never starts a collection (plain
 * ArrayBuffers of index size did: incremental markings whose final pauses took 1-4 ms inside an insert). Index
 * buffers are growable: a drained old index is all zeros again (the slot-order migration zeroes what it moves) and is
 * grown in place for the next resize, so no dead index waits for a collection to be freed.
 *
 * Bytes per IPv4 connection (what the 96-byte bound is measured against), at N live entries:
 *   entry slot 76 (+ growth slack: up to 16384 unused slots, 1.2 B at 1 M; + the columns' page offsets, < 52 KB)
 *   + two indexes of 4-byte slots at load 0.64..0.8: 2 x (5..6.25)
 *   + one more index of about the in index's size: the old one during a resize, the recycled spare between them
 *     (4..5), + the wheel (0.5 MB: 0.5 B at 1 M)
 *   = 91..95 B (measured: peak 94.93 while growing 1 M -> 10 M, 90.65 at 10 M).
 * Why a hit still reads two lines (index slot, then key record): a 16-byte index slot holding the whole IPv4 in
 * key ([client, virtual, ports, protocol | entry]) makes the in index 16 / 0.8..0.64 = 20..25 B per connection
 * instead of 5..6.25; the entry drops its 16-byte key record but must keep meta (4) and a way back to its slot
 * (hash or slot number, 4): 68 B. 68 + 20..25 + out 5..6.25 + the old in index
 * of a resize (16 / 0.8 = 20) + 0.5 = 114..120 B at the resize peak, 94..100 between resizes: over 96. It fits only
 * with more changes together: one index keyed by the client tuple for both directions (the kernel's choice; FULLNAT
 * entries a second slot), resized in many small segments one at a time (so only 1/64 of it is ever doubled) and a
 * 32-bit expiry: 64 + 20..25 + 0.4 + 0.5 = 85..90 B. And the gain is not there to buy: a prototype of such an
 * index, looked up with the same batched passes (bench/experiments/one-miss-index.ts), ran 1.2-1.3x the current
 * batched rate through type stripping but 0.75-0.85x compiled, in cache as at 1 M entries: most of a batched
 * lookup's time is computation (hashing, probing, confirming), not waiting for memory.
 *
 * An entry is addressed by its index (a number); indexes are reused after an entry is freed.
 *
 * @module
 */
import * as ConnectionFlags from "./ConnectionFlags.ts"
import type { ConnectionParams } from "./ConnectionParams.ts"
import * as Destinations from "./Destinations.ts"
import * as Direction from "./Direction.ts"
import { fold6, hash3 } from "./internal/hash.ts"
import { type GrowableSharedArrayBuffer, growable } from "./internal/shared.ts"
import * as Protocol from "./Protocol.ts"
import * as SctpState from "./SctpState.ts"
import * as TcpState from "./TcpState.ts"
import * as Timeouts from "./Timeouts.ts"

/**
 * Template state NONE (0): created, no controlled connection reached ESTABLISHED yet.
 *
 * @example
 * ```ts
 * table.state(template) === ConnectionTable.TEMPLATE_NONE
 * ```
 */
export const TEMPLATE_NONE = 0
/**
 * Template state ASSURED (1): a controlled connection reached ESTABLISHED (UDP: a reply was seen).
 *
 * @example
 * ```ts
 * table.state(template) === ConnectionTable.TEMPLATE_ASSURED
 * ```
 */
export const TEMPLATE_ASSURED = 1

/**
 * insert() result: the table holds maxConnections entries and no embryonic entry could be evicted.
 *
 * @example
 * ```ts
 * if (table.insert(p, now) === ConnectionTable.FULL) dropPacket()
 * ```
 */
export const FULL = -1
/**
 * insert() result: the parameters are invalid (unsupported protocol, port or id out of range).
 *
 * @example
 * ```ts
 * table.insert(p, now) === ConnectionTable.INVALID
 * ```
 */
export const INVALID = -2

/**
 * inbound() verdict: use the entry.
 *
 * @example
 * ```ts
 * if (table.inbound(entry, isSyn, now) === ConnectionTable.FORWARD) forward(entry)
 * ```
 */
export const FORWARD = 0
/**
 * inbound() verdict: drop the packet silently (destination gone; the timer is not restarted).
 *
 * @example
 * ```ts
 * ConnectionTable.DROP // 1
 * ```
 */
export const DROP = 1
/**
 * inbound() verdict: treat the packet as having no entry and schedule a fresh connection (conn_reuse_mode,
 * expire_nodest_conn with a quiesced destination).
 *
 * @example
 * ```ts
 * ConnectionTable.RESCHEDULE // 2
 * ```
 */
export const RESCHEDULE = 2

/**
 * The behaviour switches (the kernel's /proc/sys/net/ipv4/vs/* of section 2.7), mutable at run time.
 *
 * @example
 * ```ts
 * table.behaviour.expireNodestConn = true
 * table.behaviour.secureTcp = 3
 * ```
 */
export interface Behaviour {
  /** 0 off, 1/2 automatic (tables switch while the table is at least `defenceThreshold` full), 3 always. */
  secureTcp: number
  /** 0 off, 1/2 automatic (defend() drops embryonic entries while `defenceThreshold` full), 3 always. */
  dropEntry: number
  /** Fill ratio (0..1) at which the automatic defences turn on: our analogue of amemthresh. */
  defenceThreshold: number
  /** When full, evict an embryonic entry (found by bounded random probing) for a new one; never ESTABLISHED. */
  evictWhenFull: boolean
  expireNodestConn: boolean
  expireQuiescentTemplate: boolean
  /** Bitmap: 1 reuse TIME_WAIT/CLOSE (SCTP CLOSED) entries for a new SYN, 2 also FIN_WAIT with NOOUTPUT. */
  connReuseMode: number
  sloppyTcp: boolean
  sloppySctp: boolean
}

/**
 * Drop and lifecycle counters; every refused or evicted entry is counted.
 *
 * @example
 * ```ts
 * table.stats.refusedFull // new connections refused because the table was full
 * ```
 */
export interface Stats {
  inserted: number
  expired: number
  /** Expiries deferred by 60 s because the entry still controls others. */
  relingered: number
  /** New entries refused: table full and no evictable entry found. */
  refusedFull: number
  /** Embryonic entries evicted to make room for a new one (insert on a full table). */
  evicted: number
  /** Entries dropped by the periodic drop_entry defence (defend()). */
  defenceDropped: number
  /** Templates made unmatchable by the validity check. */
  templatesInvalidated: number
  /** Entries expired at once (expireNow, conn reuse, expire_nodest_conn). */
  expiredNow: number
}

/**
 * Construction options.
 *
 * @example
 * ```ts
 * const table = ConnectionTable.make({ maxConnections: 1_000_000, destinations: Destinations.makeCounters(64) })
 * ```
 */
export interface Options {
  /** Hard bound on live entries (connections + templates). */
  readonly maxConnections: number
  /**
   * Initial size of each index in kernel hash buckets (power of two, 4..2^28, default 4096: the kernel's default);
   * each bucket becomes two index slots.
   */
  readonly initialBuckets?: number
  /** Hash seed (default random, like the kernel's boot-time seed). */
  readonly seed?: number
  /** Destination accounting and status; default: counters for 65535 ids. */
  readonly destinations?: Destinations.Destinations
  /** Timeout tables (shared and mutable); default kernel values. */
  readonly timeouts?: Timeouts.Timeouts
  /** Initial behaviour switches. */
  readonly behaviour?: Partial<Behaviour>
  /** Time origin in ms (the first `now`); default 0. */
  readonly startTime?: number
}

/**
 * Visitor for {@link ConnectionTable.scan}: an object (not a closure) so iteration allocates nothing.
 *
 * @example
 * ```ts
 * const counter = { n: 0, visit(_table: ConnectionTable.ConnectionTable, _entry: number) { this.n++ } }
 * ```
 */
export interface Visitor {
  visit(table: ConnectionTable, entry: number): void
}

// The columns grow by CHUNK_SIZE entries at a time (see addChunk).
const CHUNK_SIZE = 1 << 14

// Key record, 4 words (16 B, four per cache line): exactly what an in lookup compares, so confirming a hit reads
// 16 bytes and the key array of a million entries is 16 MiB (half of what a 32-byte record would make the CPU
// caches and TLB cover; measured 30-40% faster random access on the reference VM).
const KEY_WORDS = 4
const K_CLIENT = 0
const K_VIRTUAL = 1
const K_PORTS = 2
const K_META = 3
// Reply record, 4 words: the rest of what an out lookup compares, plus the timeout every packet re-arms with.
const REPLY_WORDS = 4
// Words 0-2 are the reply tuple as lookupOut compares it for NAT and FULLNAT (source, destination, ports), so a
// reply hit reads this record and not the key record.
const R_DADDR = 0 // real-server address (the reply's source); IPv6 entries: index into the IPv6 pool
const R_DST = 1 // the reply's destination: FULLNAT local address, else the client address (IPv4; 0 for IPv6)
const R_PORTS = 2 // destination port << 16 | (FULLNAT local port, else client port)
const R_TIMEOUT = 3 // current timeout in ms
// Meta word: protocol bits 0..7, flags bits 8..23, state bits 24..31.
const META_FLAGS_SHIFT = 8
const META_STATE_SHIFT = 24
const META_IN_MATCH = 0xff | ((ConnectionFlags.TEMPLATE | ConnectionFlags.IPV6) << META_FLAGS_SHIFT)
const META_IPV6 = ConnectionFlags.IPV6 << META_FLAGS_SHIFT
const META_TEMPLATE = ConnectionFlags.TEMPLATE << META_FLAGS_SHIFT

// IPv6 side pool: 16 words per v6 entry (client, virtual, destination, local), chunked.
const POOL_BITS = 12
const POOL_MASK = (1 << POOL_BITS) - 1
const P_CLIENT = 0
const P_VIRTUAL = 4
const P_DEST = 8
const P_LOCAL = 12

// Timing wheel: 131072 slots of 8 ms = 17.5 min per revolution (ESTABLISHED entries are filed once). The slot width
// bounds the work of one advance(): it re-files the entries of the slots it passes, e.g. 8,192 entries at 1 M new
// connections per second (each re-filed once when its first, 3-second timer slot comes up).
const WHEEL_BITS = 17
const WHEEL_SIZE = 1 << WHEEL_BITS
const WHEEL_MASK = WHEEL_SIZE - 1
const TICK_MS = 8
// The wheel's extra list: entries an advance() call ran out of budget for (see advance).
const PENDING_SLOT = WHEEL_SIZE

const INITIAL_TIMEOUT_MS = 3000
const RELINGER_MS = 60000

// Index: open addressing with linear probing over one flat Int32Array per direction. A slot holds
// fingerprint << entryBits | (entry + 1); 0 is empty, entry field 0 with a non-zero fingerprint part is a tombstone
// (only ever in the index being drained by a resize). The index grows by GROWTH when its load passes MAX_LOAD;
// MIGRATE_STEP slots of the old index move to the new one per insert (MIGRATE_ADVANCE per advance()).
const MAX_LOAD = 0.8
const GROWTH = 1.25
const MIGRATE_STEP = 16
const MIGRATE_ADVANCE = 64
// Load of the out index at which insert() starts its resize itself if advance() has not (normally advance() starts
// it right after the in index's resize, which ends at about 0.85).
const OUT_FALLBACK_LOAD = 0.87
// Indexes smaller than this resize together (see startGrowIn), larger ones one after the other.
const SEQUENTIAL_MIN_SLOTS = 1 << 16
// 2^-32: the home slot of hash h in an index of n slots is floor(h * n / 2^32) (any n, not only powers of two).
const TWO_TO_MINUS_32 = 2.3283064365386963e-10
const EVICT_PROBES = 16
// Index buffers up to this many slots (1 GiB) are growable and recycled; larger ones (tables of more than about 170 M
// entries) are plain shared buffers.
const MAX_RECYCLED_SLOTS = 1 << 28
const NO_TEMPLATE_PORT = 0xffff
// Out index slots carry a 4-bit tag below the fingerprint, exact where the fingerprint is not: the protocol (code 0
// TCP, 1 UDP, 2 SCTP), IPv6, and whether the reply's source is the VIP (DR/TUN/local: confirmed against the key
// record) rather than the real server (NAT/FULLNAT: confirmed against the reply record alone).
const OUT_TAG_BITS = 4
const OUT_TAG_V6 = 4
const OUT_TAG_VIP = 8
// Entry numbers need at most 28 bits so the out tag and some fingerprint fit beside them.
const MAX_CONNECTIONS = (1 << 28) - CHUNK_SIZE

/**
 * The connection table. Create it with {@link make}.
 *
 * @example
 * ```ts
 * const table = ConnectionTable.make({ maxConnections: 100_000 })
 * const p = ConnectionParams.make()
 * p.clientAddress = 0x0a000002; p.clientPort = 40000; p.virtualAddress = 0x0a000001; p.virtualPort = 80
 * p.destinationAddress = 0xc0a80a01; p.destinationPort = 80; p.destination = 0
 * const e = table.insert(p, 0)
 * table.packet(e, Direction.INPUT, TcpState.SYN, 60, 0)
 * table.lookupIn(Protocol.TCP, 0x0a000002, 40000, 0x0a000001, 80) === e // true
 * ```
 */
export class ConnectionTable {
  readonly maxConnections: number
  readonly behaviour: Behaviour
  readonly stats: Stats
  readonly timeouts: Timeouts.Timeouts
  readonly destinations: Destinations.Destinations

  // Columns: one flat typed array each, over its own growable shared buffer (see addChunk); entry i is element i
  // (key and reply records: words 4i..4i+3). Replaced by longer views over the same memory when the table grows.
  private keyC: Uint32Array = new Uint32Array(0)
  // Int32 view of the same key records: comparisons stay on small integers (no heap numbers above 2^31).
  private keyI: Int32Array = new Int32Array(0)
  private repC: Uint32Array = new Uint32Array(0)
  private repI: Int32Array = new Int32Array(0)
  private wNextC: Int32Array = new Int32Array(0) // wheel links: index + 1; prev of a head = -(slot + 1); free list
  private wPrevC: Int32Array = new Int32Array(0)
  private expC: Float64Array = new Float64Array(0)
  private svcC: Uint16Array = new Uint16Array(0)
  private destC: Uint16Array = new Uint16Array(0)
  private linkC: Int32Array = new Int32Array(0) // connection: control + 1; template: n_control
  private inPktsC: Uint32Array = new Uint32Array(0)
  private outPktsC: Uint32Array = new Uint32Array(0)
  // Byte counters are 48 bits (281 TB per connection, then they wrap): a low 32-bit word and a high 16-bit word,
  // 12 bytes for both directions instead of 16 as two float64.
  private inBytesC: Uint32Array = new Uint32Array(0)
  private outBytesC: Uint32Array = new Uint32Array(0)
  private inBytesHiC: Uint16Array = new Uint16Array(0)
  private outBytesHiC: Uint16Array = new Uint16Array(0)
  // The columns' buffers, in COLUMN_BYTES order.
  private readonly columns: Array<GrowableSharedArrayBuffer>

  private readonly pool: Array<Uint32Array> = []
  private poolFree = 0 // index + 1
  private poolHigh = 0

  private capacity = 0
  private high = 0
  private freeHead = 0
  private count = 0
  private readonly maxChunks: number

  // Open-addressed indexes (see MAX_LOAD): in = (protocol, client, virtual); out = the reply tuple. While a resize
  // runs, an entry is in the new (current) index or still in the old one, which only loses entries (moved in slot
  // order, or tombstones) until it is drained and recycled.
  private inIdx: Int32Array
  private outIdx: Int32Array
  private slots: number // in index
  private outSlots: number
  private oldInIdx: Int32Array | null = null
  private oldOutIdx: Int32Array | null = null
  private oldInSlots = 0
  private oldOutSlots = 0
  // Slot-order migration of an old index: slots start .. start + done - 1 (circularly) are moved and zeroed. `start`
  // is an empty slot, so no probe run crosses it; lookups in the old index start at the cursor when their home slot
  // is already behind it (everything there has moved).
  private oldInStart = 0
  private oldInDone = 0
  private oldOutStart = 0
  private oldOutDone = 0
  // Index buffers: growable SharedArrayBuffers (see acquireIndex), recycled once a migration has zeroed them.
  private readonly indexSpares: Array<GrowableSharedArrayBuffer> = []
  private readonly maxIndexBytes: number
  // Slot layout: the low entryBits hold entry + 1, the high bits a fingerprint (hash bits) of the key.
  private readonly entryBits: number
  private readonly entryMask: number
  private readonly fpMask: number
  private readonly outFpMask: number
  private readonly tombstone: number
  private readonly seed: number
  // outKey() results (fields, so computing a reply tuple allocates nothing).
  private okSrc = 0
  private okDst = 0
  private okPorts = 0
  private okTag = 0
  private okSrcPart = 0
  private okDstPart = 0

  private readonly wheel = new Int32Array(WHEEL_SIZE + 1) // + the pending list (see advance)
  private tick: number

  private rng: number
  private batchHash = new Int32Array(0)
  private batchSlot = new Int32Array(0)
  /**
   * A sink, not data: the batch lookups OR the words they touch (to pull cache lines in early) into it, so the
   * compiler cannot drop those loads. Its value means nothing.
   */
  batchTouch = 0

  constructor(options: Options) {
    const max = options.maxConnections
    if (!Number.isInteger(max) || max < 1 || max > MAX_CONNECTIONS) {
      throw new RangeError(`ConnectionTable: maxConnections ${max} is outside 1..${MAX_CONNECTIONS}`)
    }
    const buckets = options.initialBuckets ?? 4096
    if (!Number.isInteger(buckets) || buckets < 4 || (buckets & (buckets - 1)) !== 0 || buckets > 1 << 28) {
      throw new RangeError(`ConnectionTable: initialBuckets ${buckets} is not a power of two in 4..2^28`)
    }
    this.maxConnections = max
    this.maxChunks = Math.ceil(max / CHUNK_SIZE)
    this.columns = COLUMN_BYTES.map((bytes, c) =>
      growable(COLUMN_PAD[c]!, COLUMN_PAD[c]! + this.maxChunks * CHUNK_SIZE * bytes)
    )
    this.seed = (options.seed ?? (Math.random() * 0x100000000) >>> 0) >>> 0
    this.rng = this.seed | 1
    // Enough bits for entry + 1 of every slot the table may ever hold; the rest of the word is fingerprint.
    this.entryBits = 32 - Math.clz32(this.maxChunks * CHUNK_SIZE)
    this.entryMask = (1 << this.entryBits) - 1
    this.fpMask = (1 << (32 - this.entryBits)) - 1
    this.outFpMask = (1 << (32 - this.entryBits - OUT_TAG_BITS)) - 1
    this.tombstone = 1 << this.entryBits
    // initialBuckets counted chain heads at load 2; two slots each keeps the same starting capacity.
    this.slots = buckets * 2
    this.outSlots = this.slots
    // The largest index this table can need (one growth step beyond the last trigger, for the fallbacks), capped so
    // that a huge maxConnections does not reserve terabytes of address space (bigger indexes are not recycled).
    let most = this.slots
    while (max > MAX_LOAD * most) most = grownSlots(most)
    this.maxIndexBytes = Math.min(grownSlots(most), MAX_RECYCLED_SLOTS) * 4
    this.inIdx = this.acquireIndex(this.slots)
    this.outIdx = this.acquireIndex(this.slots)
    this.tick = Math.floor((options.startTime ?? 0) / TICK_MS)
    this.timeouts = options.timeouts ?? Timeouts.make()
    this.destinations = options.destinations ?? Destinations.makeCounters(Destinations.NONE)
    this.behaviour = {
      secureTcp: 0,
      dropEntry: 0,
      defenceThreshold: 0.9,
      evictWhenFull: true,
      expireNodestConn: false,
      expireQuiescentTemplate: false,
      connReuseMode: 1,
      sloppyTcp: false,
      sloppySctp: false,
      ...options.behaviour
    }
    this.stats = {
      inserted: 0,
      expired: 0,
      relingered: 0,
      refusedFull: 0,
      evicted: 0,
      defenceDropped: 0,
      templatesInvalidated: 0,
      expiredNow: 0
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Size and memory

  /** Live entries (connections and templates). */
  get size(): number {
    return this.count
  }

  /** Entry slots allocated (chunks * 16384). */
  get allocatedEntries(): number {
    return this.capacity
  }

  /** Slots per index (the "(size=N)" analogue; kept at most MAX_LOAD full). */
  get bucketCount(): number {
    return this.slots
  }

  /** True while an incremental resize of the indexes is in progress. */
  get rehashing(): boolean {
    return this.oldInIdx !== null || this.oldOutIdx !== null
  }

  /** Bytes held by every typed array of the table: columns, indexes (both during a resize), wheel, IPv6 pool. */
  byteSize(): number {
    let bytes = 0
    for (const column of this.columns) bytes += column.byteLength
    bytes += this.inIdx.buffer.byteLength + this.outIdx.buffer.byteLength
    if (this.oldInIdx !== null) bytes += this.oldInIdx.buffer.byteLength
    if (this.oldOutIdx !== null) bytes += this.oldOutIdx.buffer.byteLength
    for (const spare of this.indexSpares) bytes += spare.byteLength
    bytes += this.wheel.byteLength
    for (const chunk of this.pool) bytes += chunk.byteLength
    return bytes
  }

  /**
   * Worst-case bytes this configuration can reach: all chunks, the largest index pair plus the next (or previous)
   * one mid-resize or prepared ahead, the wheel, and the IPv6 pool if every entry were IPv6.
   */
  maxByteSize(): number {
    const entries = this.maxChunks * CHUNK_SIZE
    let slots = this.slots
    while (this.maxConnections > MAX_LOAD * slots) slots = grownSlots(slots)
    const poolEntries = Math.ceil(this.maxConnections / (1 << POOL_BITS)) << POOL_BITS
    const columns = entries * BYTES_PER_ENTRY + COLUMN_PAD.reduce((a, b) => a + b, 0)
    return columns + (slots + grownSlots(slots)) * 8 + this.wheel.byteLength + poolEntries * 64
  }

  /** Whether the automatic defences (secure_tcp 1/2, drop_entry 1/2) are in effect now. */
  get underPressure(): boolean {
    return this.count >= this.behaviour.defenceThreshold * this.maxConnections
  }

  /** Whether the secure_tcp state tables are in use now. */
  get secureTcpActive(): boolean {
    const mode = this.behaviour.secureTcp
    return mode === 3 || (mode !== 0 && this.underPressure)
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Entry fields

  /** Whether `entry` is a live entry index. */
  isLive(entry: number): boolean {
    if (!(entry >= 0 && entry < this.high)) return false
    return this.keyC[(entry << 2) + K_META] !== 0
  }
  /** Protocol number. */
  protocol(entry: number): number {
    return this.meta(entry) & 0xff
  }
  /** Flags (ConnectionFlags, including internal bits). */
  flags(entry: number): number {
    return (this.meta(entry) >>> META_FLAGS_SHIFT) & 0xffff
  }
  /** Forwarding method (flags & FWD_MASK). */
  method(entry: number): number {
    return (this.meta(entry) >>> META_FLAGS_SHIFT) & ConnectionFlags.FWD_MASK
  }
  /** Protocol state (TcpState/UdpState/SctpState; templates TEMPLATE_NONE/ASSURED). */
  state(entry: number): number {
    return this.meta(entry) >>> META_STATE_SHIFT
  }
  /** Whether the entry is a persistence template. */
  isTemplate(entry: number): boolean {
    return (this.meta(entry) & META_TEMPLATE) !== 0
  }
  /** Whether the entry holds IPv6 addresses. */
  isIpv6(entry: number): boolean {
    return (this.meta(entry) & META_IPV6) !== 0
  }
  /** IPv4 client address (IPv6 entries: use readClientAddress6). */
  clientAddress(entry: number): number {
    return this.keyC[(entry << 2) + K_CLIENT]!
  }
  /** Client port (0 for templates). */
  clientPort(entry: number): number {
    return this.keyC[(entry << 2) + K_PORTS]! >>> 16
  }
  /** IPv4 VIP, or the firewall mark of a fwmark template. */
  virtualAddress(entry: number): number {
    return this.keyC[(entry << 2) + K_VIRTUAL]!
  }
  /** Virtual port (65535 on an invalidated template). */
  virtualPort(entry: number): number {
    return this.keyC[(entry << 2) + K_PORTS]! & 0xffff
  }
  /** IPv4 real-server address. */
  destinationAddress(entry: number): number {
    return this.repC[(entry << 2) + R_DADDR]!
  }
  /** Real-server port. */
  destinationPort(entry: number): number {
    return this.repC[(entry << 2) + R_PORTS]! >>> 16
  }
  /** FULLNAT local address (IPv4). */
  localAddress(entry: number): number {
    if (this.method(entry) !== ConnectionFlags.FULLNAT || this.isIpv6(entry)) return 0
    return this.repC[(entry << 2) + R_DST]!
  }
  /** FULLNAT local port. */
  localPort(entry: number): number {
    if (this.method(entry) !== ConnectionFlags.FULLNAT) return 0
    return this.repC[(entry << 2) + R_PORTS]! & 0xffff
  }
  /** Copies an IPv6 entry's client address into `out` at `offset`. */
  readClientAddress6(entry: number, out: Uint32Array, offset: number): void {
    this.read6(entry, P_CLIENT, out, offset)
  }
  /** Copies an IPv6 entry's virtual address into `out` at `offset`. */
  readVirtualAddress6(entry: number, out: Uint32Array, offset: number): void {
    this.read6(entry, P_VIRTUAL, out, offset)
  }
  /** Copies an IPv6 entry's real-server address into `out` at `offset`. */
  readDestinationAddress6(entry: number, out: Uint32Array, offset: number): void {
    this.read6(entry, P_DEST, out, offset)
  }
  /** Copies an IPv6 entry's FULLNAT local address into `out` at `offset`. */
  readLocalAddress6(entry: number, out: Uint32Array, offset: number): void {
    this.read6(entry, P_LOCAL, out, offset)
  }
  /** Service id. */
  service(entry: number): number {
    return this.svcC[entry]!
  }
  /** Destination id (Destinations.NONE when unbound). */
  destination(entry: number): number {
    return this.destC[entry]!
  }
  /** Absolute expiry time in ms. */
  expiresAt(entry: number): number {
    return this.expC[entry]!
  }
  /** Current timeout in ms (what the next packet re-arms the timer with). */
  timeout(entry: number): number {
    return this.repC[(entry << 2) + R_TIMEOUT]!
  }
  /** Controlling template index, or -1 (connections only). */
  control(entry: number): number {
    return this.isTemplate(entry) ? -1 : this.linkC[entry]! - 1
  }
  /** Number of entries this template controls (n_control); 0 for connections. */
  controlled(entry: number): number {
    return this.isTemplate(entry) ? this.linkC[entry]! : 0
  }
  /** Packets client -> server (the kernel's in_pkts, used by sync). */
  inPackets(entry: number): number {
    return this.inPktsC[entry]!
  }
  /** Packets server -> client seen by the director. */
  outPackets(entry: number): number {
    return this.outPktsC[entry]!
  }
  /** Bytes client -> server. */
  inBytes(entry: number): number {
    return this.inBytesHiC[entry]! * 4294967296 + this.inBytesC[entry]!
  }
  /** Bytes server -> client. */
  outBytes(entry: number): number {
    return this.outBytesHiC[entry]! * 4294967296 + this.outBytesC[entry]!
  }
  /** Listing name of the entry's state ("ESTABLISHED", "UDP", "C-SENT", templates "NONE"/"ASSURED"). */
  stateName(entry: number): string {
    const state = this.state(entry)
    if (this.isTemplate(entry)) return state === TEMPLATE_ASSURED ? "ASSURED" : "NONE"
    switch (this.protocol(entry)) {
      case Protocol.TCP:
        return TcpState.names[state] ?? "ERR!"
      case Protocol.SCTP:
        return SctpState.names[state] ?? "ERR!"
      case Protocol.UDP:
        return "UDP"
      default:
        return "NONE"
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Lookups (hot path: no allocation)

  /**
   * In-direction lookup of a connection (not a template): packet client -> virtual service, IPv4.
   * Returns the entry index or -1. Costs one index cache line (the slots hold a fingerprint of the key next to the
   * entry number) and, on a fingerprint match, the entry's 16-byte key record to confirm it.
   */
  lookupIn(
    protocol: number,
    clientAddress: number,
    clientPort: number,
    virtualAddress: number,
    virtualPort: number
  ): number {
    const a = clientAddress | 0
    const b = virtualAddress | 0
    const ports = ((clientPort & 0xffff) << 16) | (virtualPort & 0xffff)
    const tag = protocol & 0xff
    const h = hash3(this.seed, a, b, ports, tag)
    const e = this.probeIn(this.inIdx, this.slots, h, home(h, this.slots), a, b, ports, tag)
    const old = this.oldInIdx
    if (e >= 0 || old === null) return e
    return this.probeIn(old, this.oldInSlots, h, this.oldInFrom(h), a, b, ports, tag)
  }

  /**
   * Batched in-direction lookups, IPv4, for a burst of packets: `keys` holds 4 words per packet in the order client
   * address, virtual address, client port << 16 | virtual port, protocol; `out[i]` receives the entry index or -1.
   * Returns the number of hits. The work is done breadth-first in passes whose loads do not depend on each other
   * (hash every key and touch its index slot; walk each probe sequence and touch the candidate record; confirm), so
   * the cache misses of different packets overlap instead of queueing one after another. `offset` (words, default 0)
   * is where the first packet's key starts in `keys`, so one big key buffer serves many bursts without subarrays.
   */
  lookupInBatch(keys: Uint32Array, count: number, out: Int32Array, offset = 0): number {
    if (this.batchHash.length < count) {
      this.batchHash = new Int32Array(count)
      this.batchSlot = new Int32Array(count)
    }
    const hs = this.batchHash
    const ss = this.batchSlot
    const seed = this.seed
    const index = this.inIdx
    const n = this.slots
    let touch = 0
    // Pass 1: hash every key (arithmetic only). Pass 1b: touch every home slot in a loop of a few instructions per
    // packet, so the out-of-order core keeps many of these independent misses in flight at once (hashing in the
    // same loop left room for only a handful: 25-30% slower, measured).
    for (let i = 0; i < count; i++) {
      const q = offset + (i << 2)
      const h = hash3(seed, keys[q]! | 0, keys[q + 1]! | 0, keys[q + 2]! | 0, keys[q + 3]! & 0xff)
      hs[i] = h
      ss[i] = home(h, n)
    }
    for (let i = 0; i < count; i++) touch |= index[ss[i]!]!
    // Pass 2: walk each probe run (now cached) to its first fingerprint match.
    const em = this.entryMask
    const fpMask = this.fpMask
    const bits = this.entryBits
    const keyI = this.keyI
    for (let i = 0; i < count; i++) {
      const fp = (hs[i]! & fpMask) << bits
      let s = ss[i]!
      let candidate = -1
      for (;;) {
        const v = index[s]!
        if (v === 0) break
        if ((v & ~em) === fp && (v & em) !== 0) {
          candidate = (v & em) - 1
          break
        }
        if (++s === n) s = 0
      }
      ss[i] = s
      out[i] = candidate
    }
    // Pass 3: touch every candidate record. A separate short loop: its loads issue back to back and overlap.
    for (let i = 0; i < count; i++) {
      const candidate = out[i]!
      if (candidate >= 0) touch |= keyI[candidate << 2]!
    }
    this.batchTouch = touch
    // Pass 4: confirm against the cached records; fingerprint collisions and resizes continue scalar.
    let hits = 0
    const old = this.oldInIdx
    for (let i = 0; i < count; i++) {
      const candidate = out[i]!
      const q = offset + (i << 2)
      const a = keys[q]! | 0
      const b = keys[q + 1]! | 0
      const ports = keys[q + 2]! | 0
      const tag = keys[q + 3]! & 0xff
      let e = -1
      if (candidate >= 0) {
        const o = candidate << 2
        if (keyI[o] === a && keyI[o + 1] === b && keyI[o + 2] === ports && (keyI[o + 3]! & META_IN_MATCH) === tag)
          e = candidate
        else {
          // A fingerprint collision: continue the probe after the candidate's slot.
          let s = ss[i]! + 1
          if (s === n) s = 0
          e = this.probeIn(index, n, hs[i]!, s, a, b, ports, tag)
        }
      }
      if (e < 0 && old !== null)
        e = this.probeIn(old, this.oldInSlots, hs[i]!, this.oldInFrom(hs[i]!), a, b, ports, tag)
      out[i] = e
      if (e >= 0) hits++
    }
    return hits
  }

  /** Template lookup (ip_vs_ct_in_get), IPv4: key (protocol, masked client, client port 0, VIP or fwmark, vport). */
  lookupTemplate(protocol: number, clientAddress: number, virtualAddress: number, virtualPort: number): number {
    return this.findIn(
      (protocol & 0xff) | META_TEMPLATE,
      clientAddress >>> 0,
      virtualAddress >>> 0,
      virtualPort & 0xffff,
      null,
      0,
      null,
      0
    )
  }

  /** In-direction lookup, IPv6: addresses are 4 words each at the given offsets. */
  lookupIn6(
    protocol: number,
    client: Uint32Array,
    clientOffset: number,
    clientPort: number,
    virtual: Uint32Array,
    virtualOffset: number,
    virtualPort: number
  ): number {
    return this.findIn(
      (protocol & 0xff) | META_IPV6,
      fold6(client, clientOffset),
      fold6(virtual, virtualOffset),
      (((clientPort & 0xffff) << 16) | (virtualPort & 0xffff)) >>> 0,
      client,
      clientOffset,
      virtual,
      virtualOffset
    )
  }

  /** Template lookup, IPv6 (the masked client prefix, VIP; fwmark templates put the mark in word 3, rest 0). */
  lookupTemplate6(
    protocol: number,
    client: Uint32Array,
    clientOffset: number,
    virtual: Uint32Array,
    virtualOffset: number,
    virtualPort: number
  ): number {
    return this.findIn(
      (protocol & 0xff) | META_IPV6 | META_TEMPLATE,
      fold6(client, clientOffset),
      fold6(virtual, virtualOffset),
      virtualPort & 0xffff,
      client,
      clientOffset,
      virtual,
      virtualOffset
    )
  }

  /**
   * Out-direction lookup, IPv4: a packet source -> destination as seen on the wire from the real-server side
   * (NAT: RIP:RPORT -> CIP:CPORT; FULLNAT: RIP:RPORT -> LIP:LPORT; DR/TUN/local: VIP:VPORT -> CIP:CPORT).
   */
  lookupOut(protocol: number, sourceAddress: number, sourcePort: number, destAddress: number, destPort: number) {
    // Int32 comparisons throughout (no heap numbers for addresses above 2^31).
    const src = sourceAddress | 0
    const dst = destAddress | 0
    const ports = ((sourcePort & 0xffff) << 16) | (destPort & 0xffff)
    const tag = protocol & 0xff
    const h = hash3(this.seed, src, dst, ports, tag)
    const e = this.probeOut(this.outIdx, this.outSlots, h, home(h, this.outSlots), src, dst, ports, tag)
    const old = this.oldOutIdx
    if (e >= 0 || old === null) return e
    return this.probeOut(old, this.oldOutSlots, h, this.oldOutFrom(h), src, dst, ports, tag)
  }

  /**
   * Batched out-direction lookups, IPv4, for a burst of reply packets: `keys` holds 4 words per packet from `offset`
   * (words) in the order source address, destination address, source port << 16 | destination port, protocol (the
   * arguments of {@link lookupOut}); `out[i]` receives the entry index or -1. Returns the number of hits. Same
   * breadth-first passes as {@link lookupInBatch}, touching both records of each candidate.
   */
  lookupOutBatch(keys: Uint32Array, count: number, out: Int32Array, offset = 0): number {
    if (this.batchHash.length < count) {
      this.batchHash = new Int32Array(count)
      this.batchSlot = new Int32Array(count)
    }
    const hs = this.batchHash
    const ss = this.batchSlot
    const seed = this.seed
    const index = this.outIdx
    const n = this.outSlots
    let touch = 0
    for (let i = 0; i < count; i++) {
      const q = offset + (i << 2)
      const h = hash3(seed, keys[q]! | 0, keys[q + 1]! | 0, keys[q + 2]! | 0, keys[q + 3]! & 0xff)
      hs[i] = h
      ss[i] = home(h, n)
    }
    for (let i = 0; i < count; i++) touch |= index[ss[i]!]!
    const em = this.entryMask
    const outFpMask = this.outFpMask
    const bits = this.entryBits
    const vip = OUT_TAG_VIP << bits
    const mask = ~em & ~vip
    for (let i = 0; i < count; i++) {
      const want =
        ((hs[i]! & outFpMask) << (bits + OUT_TAG_BITS)) | (protocolCode(keys[offset + (i << 2) + 3]! & 0xff) << bits)
      let s = ss[i]!
      let candidate = -1
      for (;;) {
        const v = index[s]!
        if (v === 0) break
        if ((v & mask) === want && (v & em) !== 0) {
          // NAT/FULLNAT: the reply record confirms; DR/TUN/local (marked negative): the key record.
          candidate = (v & vip) === 0 ? (v & em) - 1 : -(v & em) - 1
          break
        }
        if (++s === n) s = 0
      }
      ss[i] = s
      out[i] = candidate
    }
    // Pass 3: touch the one record each candidate is confirmed against.
    const keyI = this.keyI
    const repI = this.repI
    for (let i = 0; i < count; i++) {
      const c = out[i]!
      if (c >= 0) touch |= repI[c << 2]!
      else if (c < -1) touch |= keyI[(-c - 2) << 2]!
    }
    this.batchTouch = touch
    let hits = 0
    const old = this.oldOutIdx
    for (let i = 0; i < count; i++) {
      const candidate = out[i]!
      const q = offset + (i << 2)
      const src = keys[q]! | 0
      const dst = keys[q + 1]! | 0
      const ports = keys[q + 2]! | 0
      const tag = keys[q + 3]! & 0xff
      // The candidate's record is cached now and confirms it; a fingerprint collision continues the probe.
      let e = -1
      if (candidate >= 0) {
        const o = candidate << 2
        e =
          repI[o + R_DADDR] === src && repI[o + R_DST] === dst && repI[o + R_PORTS] === ports
            ? candidate
            : this.probeOut(index, n, hs[i]!, ss[i]!, src, dst, ports, tag)
      } else if (candidate < -1) e = this.probeOut(index, n, hs[i]!, ss[i]!, src, dst, ports, tag)
      if (e < 0 && old !== null) {
        e = this.probeOut(old, this.oldOutSlots, hs[i]!, this.oldOutFrom(hs[i]!), src, dst, ports, tag)
      }
      out[i] = e
      if (e >= 0) hits++
    }
    return hits
  }

  /** Out-direction lookup, IPv6. */
  lookupOut6(
    protocol: number,
    source: Uint32Array,
    sourceOffset: number,
    sourcePort: number,
    dest: Uint32Array,
    destOffset: number,
    destPort: number
  ): number {
    const ports = (((sourcePort & 0xffff) << 16) | (destPort & 0xffff)) >>> 0
    const h = hash3(this.seed, fold6(source, sourceOffset), fold6(dest, destOffset), ports, (protocol & 0xff) | 0x100)
    const n = this.outSlots
    const e = this.probeOut6(this.outIdx, n, h, home(h, n), protocol, ports, source, sourceOffset, dest, destOffset)
    const old = this.oldOutIdx
    if (e >= 0 || old === null) return e
    const from = this.oldOutFrom(h)
    return this.probeOut6(old, this.oldOutSlots, h, from, protocol, ports, source, sourceOffset, dest, destOffset)
  }

  // Probe of the in index from slot `from` for an IPv4 connection key (int32 words).
  private probeIn(
    index: Int32Array,
    n: number,
    h: number,
    from: number,
    a: number,
    b: number,
    ports: number,
    tag: number
  ): number {
    const em = this.entryMask
    const fp = (h & this.fpMask) << this.entryBits
    const k = this.keyI
    let s = from
    for (;;) {
      const v = index[s]!
      if (v === 0) return -1
      if ((v & ~em) === fp) {
        const i = (v & em) - 1
        if (i >= 0) {
          const o = i << 2
          if (k[o] === a && k[o + 1] === b && k[o + 2] === ports && (k[o + 3]! & META_IN_MATCH) === tag) return i
        }
      }
      if (++s === n) s = 0
    }
  }

  // Probe of the out index from slot `from` for an IPv4 reply tuple (int32 words). The slot's tag confirms the
  // protocol; a NAT/FULLNAT candidate is confirmed by its reply record alone (one line), a DR/TUN/local one by its
  // key record.
  private probeOut(
    index: Int32Array,
    n: number,
    h: number,
    from: number,
    src: number,
    dst: number,
    ports: number,
    protocol: number
  ): number {
    const em = this.entryMask
    const bits = this.entryBits
    const want = ((h & this.outFpMask) << (bits + OUT_TAG_BITS)) | (protocolCode(protocol) << bits)
    const vip = OUT_TAG_VIP << bits
    const mask = ~em & ~vip
    const k = this.keyI
    const r = this.repI
    let s = from
    for (;;) {
      const v = index[s]!
      if (v === 0) return -1
      if ((v & mask) === want && (v & em) !== 0) {
        const i = (v & em) - 1
        const o = i << 2
        if ((v & vip) === 0) {
          if (r[o + R_DADDR] === src && r[o + R_DST] === dst && r[o + R_PORTS] === ports) return i
        } else {
          const kp = k[o + K_PORTS]!
          if (k[o + K_VIRTUAL] === src && k[o + K_CLIENT] === dst && ((kp << 16) | (kp >>> 16)) === ports) return i
        }
      }
      if (++s === n) s = 0
    }
  }

  private probeOut6(
    index: Int32Array,
    n: number,
    h: number,
    from: number,
    protocol: number,
    ports: number,
    source: Uint32Array,
    sourceOffset: number,
    dest: Uint32Array,
    destOffset: number
  ): number {
    const em = this.entryMask
    const bits = this.entryBits
    const want = ((h & this.outFpMask) << (bits + OUT_TAG_BITS)) | ((protocolCode(protocol) | OUT_TAG_V6) << bits)
    const vip = OUT_TAG_VIP << bits
    const mask = ~em & ~vip
    let s = from
    for (;;) {
      const v = index[s]!
      if (v === 0) return -1
      if ((v & mask) === want && (v & em) !== 0) {
        const i = (v & em) - 1
        const rp = this.repC[(i << 2) + R_PORTS]!
        const kp = this.keyC[(i << 2) + K_PORTS]!
        let wantPorts: number
        let srcPart: number
        let dstPart: number
        if ((v & vip) !== 0) {
          wantPorts = (((kp & 0xffff) << 16) | (kp >>> 16)) >>> 0
          srcPart = P_VIRTUAL
          dstPart = P_CLIENT
        } else {
          wantPorts = rp
          srcPart = P_DEST
          dstPart = this.method(i) === ConnectionFlags.FULLNAT ? P_LOCAL : P_CLIENT
        }
        if (
          wantPorts === ports &&
          this.equal6(i, srcPart, source, sourceOffset) &&
          this.equal6(i, dstPart, dest, destOffset)
        ) {
          return i
        }
      }
      if (++s === n) s = 0
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Insert

  /**
   * Creates an entry (ip_vs_conn_new + ip_vs_bind_dest): flags get the method, INACTIVE (unless SYNC, which keeps the
   * given INACTIVE bit) and NOOUTPUT for every method whose replies may bypass the director (all but NAT and
   * FULLNAT); the destination is told (connectionBound / templateBound); a controlled entry increments its template's
   * n_control. The timer is 3 s (or `params.timeout`). When the table is full an embryonic entry is evicted if
   * `behaviour.evictWhenFull`, else (or when none is found) FULL is returned and counted.
   */
  insert(params: ConnectionParams, now: number): number {
    const protocol = params.protocol
    const template = (params.flags & ConnectionFlags.TEMPLATE) !== 0
    if (
      !(Protocol.isSupported(protocol) || (template && protocol === Protocol.IP)) ||
      params.service >>> 16 !== 0 ||
      params.destination >>> 16 !== 0 ||
      params.clientPort >>> 16 !== 0 ||
      params.virtualPort >>> 16 !== 0 ||
      params.destinationPort >>> 16 !== 0 ||
      params.localPort >>> 16 !== 0 ||
      (params.control >= 0 && !(this.isLive(params.control) && this.isTemplate(params.control)))
    ) {
      return INVALID
    }
    if (this.count >= this.maxConnections) {
      if (!(this.behaviour.evictWhenFull && this.evictOne(params.control))) {
        this.stats.refusedFull++
        return FULL
      }
    }
    const i = this.allocate()
    if (i < 0) {
      this.stats.refusedFull++
      return FULL
    }
    const o = i << 2
    const method = params.method & ConnectionFlags.FWD_MASK
    let flags = (params.flags & ~(ConnectionFlags.FWD_MASK | ConnectionFlags.INTERNAL_MASK)) | method
    flags |= ConnectionFlags.HASHED
    // dest->conn_flags: INACTIVE always, NOOUTPUT when replies may not pass the director; a sync-created connection
    // keeps the master's INACTIVE bit.
    if (!((flags & ConnectionFlags.SYNC) !== 0 && !template)) flags |= ConnectionFlags.INACTIVE
    if (method !== ConnectionFlags.MASQ && method !== ConnectionFlags.FULLNAT) flags |= ConnectionFlags.NOOUTPUT
    if (params.ipv6) flags |= ConnectionFlags.IPV6
    const k = this.keyC
    const cport = params.clientPort
    if (params.ipv6) {
      const p = this.allocatePool()
      const chunk = this.pool[p >>> POOL_BITS]!
      const po = (p & POOL_MASK) << 4
      chunk.set(params.clientAddress6, po + P_CLIENT)
      chunk.set(params.virtualAddress6, po + P_VIRTUAL)
      chunk.set(params.destinationAddress6, po + P_DEST)
      chunk.set(params.localAddress6, po + P_LOCAL)
      this.repC[(i << 2) + R_DADDR] = p
      this.repC[(i << 2) + R_DST] = 0
      k[o + K_CLIENT] = fold6(params.clientAddress6, 0)
      k[o + K_VIRTUAL] = fold6(params.virtualAddress6, 0)
    } else {
      this.repC[(i << 2) + R_DADDR] = params.destinationAddress >>> 0
      this.repC[(i << 2) + R_DST] =
        method === ConnectionFlags.FULLNAT ? params.localAddress >>> 0 : params.clientAddress >>> 0
      k[o + K_CLIENT] = params.clientAddress >>> 0
      k[o + K_VIRTUAL] = params.virtualAddress >>> 0
    }
    k[o + K_PORTS] = ((cport << 16) | params.virtualPort) >>> 0
    k[o + K_META] = ((flags << META_FLAGS_SHIFT) | (protocol & 0xff)) >>> 0
    this.repC[(i << 2) + R_PORTS] =
      ((params.destinationPort << 16) | (method === ConnectionFlags.FULLNAT ? params.localPort : cport)) >>> 0
    const timeout = params.timeout > 0 ? params.timeout : INITIAL_TIMEOUT_MS
    this.repC[(i << 2) + R_TIMEOUT] = timeout
    this.expC[i] = now + timeout
    this.svcC[i] = params.service
    this.destC[i] = params.destination
    this.inPktsC[i] = 0
    this.outPktsC[i] = 0
    this.inBytesC[i] = 0
    this.outBytesC[i] = 0
    this.inBytesHiC[i] = 0
    this.outBytesHiC[i] = 0
    if (template) {
      this.linkC[i] = 0
    } else if (params.control >= 0) {
      this.linkC[i] = params.control + 1
      this.linkC[params.control]!++
    } else {
      this.linkC[i] = 0
    }
    this.count++
    this.stats.inserted++
    this.hashIn(i)
    if (!template) this.hashOut(i)
    this.file(i)
    if (params.destination !== Destinations.NONE) {
      if (template) this.destinations.templateBound(params.destination)
      else this.destinations.connectionBound(params.destination, (flags & ConnectionFlags.INACTIVE) === 0)
    }
    // The indexes resize one after the other (in, then out: the next advance() starts it), so only one old index
    // coexists with the live ones. A resize starts when the count reaches a new maximum, so `high` (the most entries
    // ever live) is about the count then, and MIGRATE_STEP per insert finishes it long before the new index (or the
    // out index waiting for its turn, 0.85 full by then) nears 0.95 full; the fallback (finish at once) keeps linear
    // probing safe if that assumption ever failed.
    if (this.oldInIdx !== null || this.oldOutIdx !== null) {
      const urgent = this.count > 0.95 * this.slots || this.count > 0.95 * this.outSlots
      this.migrate(urgent ? 0x7fffffff : MIGRATE_STEP)
    } else if (this.count > MAX_LOAD * this.slots) this.startGrowIn()
    else if (this.count > OUT_FALLBACK_LOAD * this.outSlots) this.startGrowOut()
    return i
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Packets

  /**
   * Whether a packet may create a new entry (conn_schedule): TCP SYN without RST (any non-RST segment with
   * sloppy_tcp), SCTP INIT (any chunk with sloppy_sctp), UDP always. `signal` is the TCP flags byte or the SCTP
   * chunk type.
   */
  schedulesNew(protocol: number, signal: number): boolean {
    switch (protocol) {
      case Protocol.TCP:
        return (signal & TcpState.RST) === 0 && (this.behaviour.sloppyTcp || (signal & TcpState.SYN) !== 0)
      case Protocol.SCTP:
        return this.behaviour.sloppySctp || signal === SctpState.CHUNK_INIT
      case Protocol.UDP:
        return true
      default:
        return false
    }
  }

  /**
   * The checks ip_vs_in applies to a packet that found `entry`, before the state transition. `isNew` = the packet
   * would start a connection (TCP SYN without RST, SCTP INIT). Returns FORWARD, DROP or RESCHEDULE; with
   * RESCHEDULE the old entry was expired (unless it controls others) and the caller schedules a fresh connection.
   */
  inbound(entry: number, isNew: boolean, now: number): number {
    const b = this.behaviour
    const dest = this.destination(entry)
    if (b.connReuseMode !== 0 && isNew) {
      let resched = false
      if (b.expireNodestConn && dest !== Destinations.NONE && this.destinations.weight(dest) === 0) resched = true
      else if (this.newConnectionExpected(entry, b.connReuseMode)) resched = true
      if (resched) {
        // An entry that controls others stays (it is not matched by new lookups of its own kind any more once the
        // fresh entry is hashed in front of it).
        if (this.controlled(entry) === 0) this.expireNow(entry, now)
        return RESCHEDULE
      }
    }
    if (dest !== Destinations.NONE && !this.destinations.isAvailable(dest)) {
      if (b.expireNodestConn) this.expireNow(entry, now)
      return DROP
    }
    return FORWARD
  }

  /**
   * Accounts one packet on `entry` and runs the protocol's state transition (set_tcp_state, set_sctp_state, UDP),
   * then re-arms the timer with the (new) state's timeout. `direction` is Direction.INPUT or OUTPUT; `signal` is the
   * TCP flags byte or the SCTP chunk type (ignored for UDP). Returns the new state.
   */
  packet(entry: number, direction: number, signal: number, bytes: number, now: number): number {
    const k = this.keyC
    const o = (entry << 2) + K_META
    let meta = k[o]!
    if (direction === Direction.OUTPUT) {
      this.outPktsC[entry]!++
      const lo = this.outBytesC[entry]! + bytes
      this.outBytesC[entry] = lo // stored modulo 2^32; the carry goes to the high word
      if (lo > 0xffffffff) this.outBytesHiC[entry]! += Math.floor(lo / 4294967296)
    } else {
      this.inPktsC[entry]!++
      const lo = this.inBytesC[entry]! + bytes
      this.inBytesC[entry] = lo
      if (lo > 0xffffffff) this.inBytesHiC[entry]! += Math.floor(lo / 4294967296)
    }
    const protocol = meta & 0xff
    const state = meta >>> META_STATE_SHIFT
    let next = state
    let timeout: number
    if ((meta & META_TEMPLATE) !== 0) {
      timeout = this.repC[(entry << 2) + R_TIMEOUT]!
    } else if (protocol === Protocol.UDP) {
      if (direction === Direction.OUTPUT) this.assureControl(entry)
      timeout = this.timeouts.udp[0]!
      this.repC[(entry << 2) + R_TIMEOUT] = timeout
    } else {
      let dir = direction
      if ((meta & (ConnectionFlags.NOOUTPUT << META_FLAGS_SHIFT)) !== 0) {
        if (direction === Direction.OUTPUT) meta = (meta & ~(ConnectionFlags.NOOUTPUT << META_FLAGS_SHIFT)) >>> 0
        else dir = Direction.INPUT_ONLY
      }
      let active: boolean
      if (protocol === Protocol.TCP) {
        next = TcpState.next(this.secureTcpActive, dir, TcpState.eventOf(signal), state)
        active = TcpState.isActive(next)
        timeout = this.timeouts.tcp[next]!
      } else {
        next = SctpState.next(dir, SctpState.eventOf(signal), state)
        active = next === SctpState.ESTABLISHED
        timeout = this.timeouts.sctp[next]!
      }
      if (next !== state) {
        const dest = this.destC[entry]!
        if (dest !== Destinations.NONE) {
          const inactive = (meta & (ConnectionFlags.INACTIVE << META_FLAGS_SHIFT)) !== 0
          if (!inactive && !active) {
            meta = (meta | (ConnectionFlags.INACTIVE << META_FLAGS_SHIFT)) >>> 0
            this.destinations.connectionDeactivated(dest)
          } else if (inactive && active) {
            meta = (meta & ~(ConnectionFlags.INACTIVE << META_FLAGS_SHIFT)) >>> 0
            this.destinations.connectionActivated(dest)
          }
        }
        if (protocol === Protocol.TCP && next === TcpState.ESTABLISHED) this.assureControl(entry)
        meta = ((meta & 0x00ffffff) | (next << META_STATE_SHIFT)) >>> 0
      }
      k[o] = meta
      this.repC[(entry << 2) + R_TIMEOUT] = timeout
    }
    this.rearm(entry, now + timeout)
    return next
  }

  /** Re-arms the timer with the entry's current timeout (ip_vs_conn_put), e.g. when a template is used. */
  touch(entry: number, now: number): void {
    this.rearm(entry, now + this.timeout(entry))
  }

  /** Sets the entry's timeout (ms) and re-arms the timer with it. */
  setTimeout(entry: number, timeout: number, now: number): void {
    this.repC[(entry << 2) + R_TIMEOUT] = timeout
    this.rearm(entry, now + timeout)
  }

  /**
   * The sync backup's update of an entry (ipvs.md section 4.4): the INACTIVE bit comes from the record, moving the
   * destination's counters when it changes; then the state and the timeout (ms; 0 = the local timeout of that state)
   * are set and the timer re-armed. Also a way to place an entry in a given state.
   */
  syncUpdate(entry: number, state: number, inactive: boolean, timeout: number, now: number): void {
    const o = (entry << 2) + K_META
    const k = this.keyC
    let meta = k[o]!
    const template = (meta & META_TEMPLATE) !== 0
    const was = (meta & (ConnectionFlags.INACTIVE << META_FLAGS_SHIFT)) !== 0
    const dest = this.destC[entry]!
    if (!template && was !== inactive && dest !== Destinations.NONE) {
      if (inactive) this.destinations.connectionDeactivated(dest)
      else this.destinations.connectionActivated(dest)
    }
    meta = inactive
      ? meta | (ConnectionFlags.INACTIVE << META_FLAGS_SHIFT)
      : meta & ~(ConnectionFlags.INACTIVE << META_FLAGS_SHIFT)
    k[o] = ((meta & 0x00ffffff) | ((state & 0xff) << META_STATE_SHIFT)) >>> 0
    let t = timeout
    if (t <= 0) {
      const protocol = meta & 0xff
      t = template
        ? 180000
        : protocol === Protocol.TCP
          ? this.timeouts.tcp[state]!
          : protocol === Protocol.SCTP
            ? this.timeouts.sctp[state]!
            : this.timeouts.udp[0]!
    }
    this.setTimeout(entry, t, now)
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Templates

  /**
   * Template validity (ip_vs_check_template): invalid when unbound, its destination is not available, it is
   * quiesced with expire_quiescent_template, or `requiredDestination` (>= 0) differs. An invalid template is made
   * unmatchable once (vport = dport = 65535, cport = 0) and keeps its timer; returns false.
   */
  checkTemplate(template: number, requiredDestination: number): boolean {
    const dest = this.destination(template)
    const d = this.destinations
    if (
      dest === Destinations.NONE ||
      !d.isAvailable(dest) ||
      (this.behaviour.expireQuiescentTemplate && d.weight(dest) === 0) ||
      (requiredDestination >= 0 && dest !== requiredDestination)
    ) {
      if (this.virtualPort(template) !== NO_TEMPLATE_PORT) {
        this.unhashIn(template)
        this.keyC[(template << 2) + K_PORTS] = NO_TEMPLATE_PORT
        this.repC[(template << 2) + R_PORTS] =
          ((NO_TEMPLATE_PORT << 16) | (this.repC[(template << 2) + R_PORTS]! & 0xffff)) >>> 0
        this.hashIn(template)
        this.stats.templatesInvalidated++
      }
      return false
    }
    return true
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Expiry

  /**
   * Advances the clock to `now` (ms): every entry whose expiry is <= now expires (a template that still controls
   * others is re-armed for 60 s instead), telling the destinations. Also moves a slice of a running index resize.
   * Returns the number of entries freed.
   *
   * The work of one call is bounded by `budget` (default {@link ADVANCE_BUDGET}): an expiry costs 4 units (it
   * unhashes the entry from both indexes), walking past an entry that is not due yet (the wheel re-files entries
   * whose timer was pushed later) 1 unit. When the budget runs out, the rest of the wheel slot is kept on a pending
   * list that the next call walks first, so due entries then expire a call later (the kernel's timers also fire late
   * under load). Pass `Infinity` for an exact, unbounded walk.
   */
  advance(now: number, budget: number = ADVANCE_BUDGET): number {
    let freed = 0
    let spent = 0
    let target = Math.floor(now / TICK_MS)
    if (target < this.tick) target = this.tick
    if (target - this.tick >= WHEEL_SIZE) this.tick = target - WHEEL_SIZE + 1
    const wheel = this.wheel
    // The pending list (what an earlier call left) first, then the slots up to the target tick.
    for (let t = this.tick - 1; t <= target; t++) {
      let slot = PENDING_SLOT
      if (t >= this.tick) {
        this.tick = t
        slot = t & WHEEL_MASK
      }
      let e = wheel[slot]!
      if (e === 0) continue
      wheel[slot] = 0
      while (e !== 0) {
        if (spent >= budget) {
          // Out of budget: the rest of this list (a suffix of a detached list: only its head's back link needs
          // fixing) becomes the pending list, walked first by the next call. The pending list itself was either
          // walked completely before this slot or is the list being walked, so it is free.
          wheel[PENDING_SLOT] = e
          this.wPrevC[e - 1] = -(PENDING_SLOT + 1)
          if (this.oldInIdx !== null || this.oldOutIdx !== null) this.migrate(MIGRATE_ADVANCE)
          return freed
        }
        const i = e - 1
        e = this.wNextC[i]!
        if (this.expC[i]! <= now) {
          spent += 4
          if (this.expire(i, now, true)) freed++
        } else {
          spent++
          this.file(i)
        }
      }
    }
    if (this.oldInIdx !== null || this.oldOutIdx !== null) this.migrate(MIGRATE_ADVANCE)
    else if (this.outSlots < this.slots) this.startGrowOut() // the out index's turn (allocates here, not in insert)
    this.prepare()
    return freed
  }

  /**
   * ip_vs_conn_expire_now: expires the entry at once (a template controlling others is re-armed for 60 s).
   * Returns true when the entry was freed.
   */
  expireNow(entry: number, now: number): boolean {
    this.stats.expiredNow++
    this.wheelUnlink(entry)
    return this.expire(entry, now, true)
  }

  /**
   * Destination deleted with expire_nodest_conn = 1: expires the entries bound to it (templates that still control
   * others linger 60 s), walking at most `limit` slots from `from` so a large table is handled in slices between
   * packet batches. Returns where to continue, or -1 when the walk is complete.
   */
  expireDestination(destination: number, from: number, limit: number, now: number): number {
    let i = Math.max(from, 0)
    const end = Math.min(this.high, i + limit)
    for (; i < end; i++) {
      if (this.isLive(i) && this.destination(i) === destination) this.expireNow(i, now)
    }
    return i < this.high ? i : -1
  }

  /** Removes every entry (ipvsadm -C leaves entries to expire; this is flush for tests and shutdown). */
  clear(): void {
    for (let i = 0; i < this.high; i++) {
      if (this.isLive(i) && !this.isTemplate(i)) this.remove(i, false)
    }
    for (let i = 0; i < this.high; i++) if (this.isLive(i)) this.remove(i, false)
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Defence

  /**
   * The periodic drop_entry defence (call once a second): when dropEntry is 3, or 1/2 and the table is at least
   * defenceThreshold full, probes up to `probes` random entries and drops the embryonic ones (TCP NONE/SYN_RECV/
   * SYNACK, SCTP INIT1/INIT, one-packet UDP, unassured idle templates); established entries and entries that control
   * others are never dropped. Returns the number dropped (also counted in stats.defenceDropped).
   */
  defend(_now: number, probes: number): number {
    const mode = this.behaviour.dropEntry
    if (mode === 0 || (mode !== 3 && !this.underPressure) || this.high === 0) return 0
    let dropped = 0
    for (let n = 0; n < probes; n++) {
      const i = this.randomIndex()
      if (this.isLive(i) && this.isEvictable(i)) {
        this.drop(i, -1)
        dropped++
      }
    }
    this.stats.defenceDropped += dropped
    return dropped
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Iteration

  /**
   * Visits up to `limit` live entries in index order starting at `from`; returns where to continue, or -1 at the
   * end. Lookups and packets may run between calls (entries inserted meanwhile may or may not be visited; freed ones
   * are not). Used for listings and for sync walks without stopping the data path.
   */
  scan(from: number, limit: number, visitor: Visitor): number {
    let i = Math.max(from, 0)
    let seen = 0
    const high = this.high
    while (i < high && seen < limit) {
      if (this.keyC[(i << 2) + K_META] !== 0) {
        visitor.visit(this, i)
        seen++
      }
      i++
    }
    return i < high ? i : -1
  }

  /** All live entry indexes (control plane convenience; allocates). */
  *entries(): Generator<number> {
    for (let i = 0; i < this.high; i++) if (this.isLive(i)) yield i
  }

  /**
   * Whether a state is one the sync master sends (ip_vs_sync_conn_needed): TCP ES/FW/CL/CW/TW, SCTP ES/SS/SR/SA/CL,
   * UDP and templates always.
   */
  isSyncState(entry: number): boolean {
    if (this.isTemplate(entry)) return true
    const st = this.state(entry)
    switch (this.protocol(entry)) {
      case Protocol.TCP:
        return (
          st === TcpState.ESTABLISHED ||
          st === TcpState.FIN_WAIT ||
          st === TcpState.CLOSE ||
          st === TcpState.CLOSE_WAIT ||
          st === TcpState.TIME_WAIT
        )
      case Protocol.SCTP:
        return (
          st === SctpState.ESTABLISHED ||
          st === SctpState.SHUTDOWN_SENT ||
          st === SctpState.SHUTDOWN_RECEIVED ||
          st === SctpState.SHUTDOWN_ACK_SENT ||
          st === SctpState.CLOSED
        )
      default:
        return true
    }
  }

  /**
   * The sync master's per-packet decision (ip_vs_sync_conn_needed, sync_refresh_period 0): ONE_PACKET never; TCP
   * and SCTP only in sync states, at once on a state change to a non-ESTABLISHED state; otherwise the packet rule
   * (period > 0: in_pkts % period == threshold; period 0: in_pkts == threshold). Templates skip the packet rule when
   * period > 0 (sent every time).
   */
  syncNeeded(entry: number, stateChanged: boolean, threshold: number, period: number): boolean {
    const flags = this.flags(entry)
    if ((flags & ConnectionFlags.ONE_PACKET) !== 0) return false
    const pkts = this.inPackets(entry)
    if ((flags & ConnectionFlags.TEMPLATE) !== 0) return period > 0 || pkts === threshold
    const protocol = this.protocol(entry)
    if (protocol === Protocol.TCP || protocol === Protocol.SCTP) {
      if (!this.isSyncState(entry)) return false
      const established =
        this.state(entry) === (protocol === Protocol.TCP ? TcpState.ESTABLISHED : SctpState.ESTABLISHED)
      if (stateChanged && !established) return true
    }
    return period > 0 ? pkts % period === threshold : pkts === threshold
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Internals

  private meta(entry: number): number {
    return this.keyC[(entry << 2) + K_META]!
  }

  private linkOf(entry: number): number {
    return this.linkC[entry]!
  }

  private newConnectionExpected(entry: number, mode: number): boolean {
    if (this.isTemplate(entry) || this.linkOf(entry) !== 0) return false // controlled (persistence)
    const st = this.state(entry)
    switch (this.protocol(entry)) {
      case Protocol.TCP:
        return (
          st === TcpState.TIME_WAIT ||
          st === TcpState.CLOSE ||
          ((mode & 2) !== 0 && st === TcpState.FIN_WAIT && (this.flags(entry) & ConnectionFlags.NOOUTPUT) !== 0)
        )
      case Protocol.SCTP:
        return st === SctpState.CLOSED
      default:
        return false
    }
  }

  private assureControl(entry: number): void {
    const ct = this.linkOf(entry) - 1
    if (ct < 0 || this.isTemplate(entry)) return
    const o = (ct << 2) + K_META
    const k = this.keyC
    k[o] = ((k[o]! & 0x00ffffff) | (TEMPLATE_ASSURED << META_STATE_SHIFT)) >>> 0
  }

  private findIn(
    tag: number,
    a: number,
    b: number,
    ports: number,
    a6: Uint32Array | null,
    a6o: number,
    b6: Uint32Array | null,
    b6o: number
  ): number {
    const h = hash3(this.seed, a, b, ports, tag)
    const e = this.probeInFull(this.inIdx, this.slots, h, home(h, this.slots), tag, a, b, ports, a6, a6o, b6, b6o)
    const old = this.oldInIdx
    if (e >= 0 || old === null) return e
    return this.probeInFull(old, this.oldInSlots, h, this.oldInFrom(h), tag, a, b, ports, a6, a6o, b6, b6o)
  }

  // Probe of the in index for any key (templates, IPv6: the record holds folded words, the pool the addresses).
  private probeInFull(
    index: Int32Array,
    n: number,
    h: number,
    from: number,
    tag: number,
    a: number,
    b: number,
    ports: number,
    a6: Uint32Array | null,
    a6o: number,
    b6: Uint32Array | null,
    b6o: number
  ): number {
    const em = this.entryMask
    const fp = (h & this.fpMask) << this.entryBits
    const k = this.keyC
    let s = from
    for (;;) {
      const v = index[s]!
      if (v === 0) return -1
      if ((v & ~em) === fp && (v & em) !== 0) {
        const i = (v & em) - 1
        const o = i << 2
        if (
          k[o] === a &&
          k[o + 1] === b &&
          k[o + 2] === ports &&
          (k[o + 3]! & META_IN_MATCH) === tag &&
          (a6 === null || (this.equal6(i, P_CLIENT, a6, a6o) && this.equal6(i, P_VIRTUAL, b6!, b6o)))
        ) {
          return i
        }
      }
      if (++s === n) s = 0
    }
  }

  private equal6(entry: number, part: number, words: Uint32Array, offset: number): boolean {
    const p = this.repC[(entry << 2) + R_DADDR]!
    const chunk = this.pool[p >>> POOL_BITS]!
    const po = ((p & POOL_MASK) << 4) + part
    return (
      chunk[po] === words[offset] &&
      chunk[po + 1] === words[offset + 1] &&
      chunk[po + 2] === words[offset + 2] &&
      chunk[po + 3] === words[offset + 3]
    )
  }

  private read6(entry: number, part: number, out: Uint32Array, offset: number): void {
    const p = this.repC[(entry << 2) + R_DADDR]!
    const chunk = this.pool[p >>> POOL_BITS]!
    const po = ((p & POOL_MASK) << 4) + part
    out[offset] = chunk[po]!
    out[offset + 1] = chunk[po + 1]!
    out[offset + 2] = chunk[po + 2]!
    out[offset + 3] = chunk[po + 3]!
  }

  private inHash(i: number): number {
    const k = this.keyC
    const o = i << 2
    return hash3(this.seed, k[o]!, k[o + 1]!, k[o + 2]!, k[o + 3]! & META_IN_MATCH)
  }

  private outHash(i: number): number {
    this.outKey(i)
    return hash3(this.seed, this.okSrc, this.okDst, this.okPorts, this.okTag)
  }

  // The reply tuple of entry i (what lookupOut is called with) into the ok* fields; IPv6: folded addresses, and
  // which pool parts hold the full ones.
  private outKey(i: number): void {
    const o = i << 2
    const k = this.keyC
    const r = this.repC
    const meta = k[o + K_META]!
    const fwd = (meta >>> META_FLAGS_SHIFT) & ConnectionFlags.FWD_MASK
    const v6 = (meta & META_IPV6) !== 0
    this.okTag = (meta & 0xff) | (v6 ? 0x100 : 0)
    if (fwd === ConnectionFlags.MASQ) {
      this.okSrcPart = P_DEST
      this.okDstPart = P_CLIENT
      this.okSrc = v6 ? this.fold6Of(i, P_DEST) : r[o + R_DADDR]!
      this.okDst = k[o + K_CLIENT]!
      this.okPorts = r[o + R_PORTS]!
    } else if (fwd === ConnectionFlags.FULLNAT) {
      this.okSrcPart = P_DEST
      this.okDstPart = P_LOCAL
      this.okSrc = v6 ? this.fold6Of(i, P_DEST) : r[o + R_DADDR]!
      this.okDst = v6 ? this.fold6Of(i, P_LOCAL) : r[o + R_DST]!
      this.okPorts = r[o + R_PORTS]!
    } else {
      const kp = k[o + K_PORTS]!
      this.okSrcPart = P_VIRTUAL
      this.okDstPart = P_CLIENT
      this.okSrc = k[o + K_VIRTUAL]!
      this.okDst = k[o + K_CLIENT]!
      this.okPorts = (((kp & 0xffff) << 16) | (kp >>> 16)) >>> 0
    }
  }

  // Whether entries x and y have the same key in the in index (out = false) or the out index (out = true).
  private sameKey(out: boolean, x: number, y: number): boolean {
    const k = this.keyC
    const ox = x << 2
    const oy = y << 2
    if (!out) {
      if (
        k[ox] !== k[oy] ||
        k[ox + 1] !== k[oy + 1] ||
        k[ox + 2] !== k[oy + 2] ||
        (k[ox + 3]! & META_IN_MATCH) !== (k[oy + 3]! & META_IN_MATCH)
      ) {
        return false
      }
      if ((k[ox + 3]! & META_IPV6) === 0) return true
      return this.same6(x, P_CLIENT, y, P_CLIENT) && this.same6(x, P_VIRTUAL, y, P_VIRTUAL)
    }
    this.outKey(x)
    const src = this.okSrc
    const dst = this.okDst
    const ports = this.okPorts
    const tag = this.okTag
    const srcPart = this.okSrcPart
    const dstPart = this.okDstPart
    this.outKey(y)
    if (src !== this.okSrc || dst !== this.okDst || ports !== this.okPorts || tag !== this.okTag) return false
    if ((tag & 0x100) === 0) return true
    return this.same6(x, srcPart, y, this.okSrcPart) && this.same6(x, dstPart, y, this.okDstPart)
  }

  private same6(x: number, xPart: number, y: number, yPart: number): boolean {
    const p = this.repC[(y << 2) + R_DADDR]!
    return this.equal6(x, xPart, this.pool[p >>> POOL_BITS]!, ((p & POOL_MASK) << 4) + yPart)
  }

  private fold6Of(entry: number, part: number): number {
    const p = this.repC[(entry << 2) + R_DADDR]!
    return fold6(this.pool[p >>> POOL_BITS]!, ((p & POOL_MASK) << 4) + part)
  }

  private hashIn(i: number): void {
    this.place(this.inIdx, this.slots, this.inHash(i), i, false, true)
  }

  private hashOut(i: number): void {
    this.place(this.outIdx, this.outSlots, this.outHash(i), i, true, true)
  }

  private unhashIn(i: number): void {
    this.unplace(false, this.inHash(i), i)
  }

  private unhashOut(i: number): void {
    this.unplace(true, this.outHash(i), i)
  }

  // The high part of entry i's out index slot: fingerprint bits of the reply hash, then the tag (see OUT_TAG_BITS).
  private outSlotHigh(h: number, i: number): number {
    const meta = this.meta(i)
    const fwd = (meta >>> META_FLAGS_SHIFT) & ConnectionFlags.FWD_MASK
    let tag = protocolCode(meta & 0xff)
    if ((meta & META_IPV6) !== 0) tag |= OUT_TAG_V6
    if (fwd !== ConnectionFlags.MASQ && fwd !== ConnectionFlags.FULLNAT) tag |= OUT_TAG_VIP
    return ((h & this.outFpMask) << (this.entryBits + OUT_TAG_BITS)) | (tag << this.entryBits)
  }

  // Adds entry i at the end of its probe run. With `newestFirst`, entries with the same key already in the run
  // each move on to the next one's slot (the last to the free slot), so the newest is found first, like the
  // kernel's list_add at the chain head. Fingerprints make the key comparisons rare.
  private place(index: Int32Array, n: number, h: number, i: number, out: boolean, newestFirst: boolean): void {
    const em = this.entryMask
    const fp = out ? this.outSlotHigh(h, i) : (h & this.fpMask) << this.entryBits
    let s = home(h, n)
    let first = -1
    for (;;) {
      const v = index[s]!
      if (v === 0) break
      if (newestFirst && first < 0 && (v & ~em) === fp && (v & em) !== 0 && this.sameKey(out, (v & em) - 1, i)) {
        first = s
      }
      if (++s === n) s = 0
    }
    if (first < 0) {
      index[s] = fp | (i + 1)
      return
    }
    let carry = fp | (i + 1)
    for (let p = first; ; ) {
      const v = index[p]!
      if (v === 0) {
        index[p] = carry
        return
      }
      if ((v & ~em) === fp && (v & em) !== 0 && this.sameKey(out, (v & em) - 1, i)) {
        index[p] = carry
        carry = v
      }
      if (++p === n) p = 0
    }
  }

  // Removes entry i from whichever index holds it: the live one (backward-shift deletion), else the old one being
  // drained by a resize (a tombstone, so that index's probe runs stay intact).
  private unplace(out: boolean, h: number, i: number): void {
    if (out) {
      if (!this.erase(this.outIdx, this.outSlots, h, i, true) && this.oldOutIdx !== null) {
        this.bury(this.oldOutIdx, this.oldOutSlots, this.oldOutFrom(h), i)
      }
    } else if (!this.erase(this.inIdx, this.slots, h, i, false) && this.oldInIdx !== null) {
      this.bury(this.oldInIdx, this.oldInSlots, this.oldInFrom(h), i)
    }
  }

  // Replaces entry i's slot with a tombstone: the index being drained by a resize keeps its probe runs intact and
  // never receives new entries. False when entry i is not in it.
  private bury(index: Int32Array, n: number, from: number, i: number): boolean {
    const em = this.entryMask
    let s = from
    for (;;) {
      const v = index[s]!
      if (v === 0) return false
      if ((v & em) === i + 1) {
        index[s] = this.tombstone
        return true
      }
      if (++s === n) s = 0
    }
  }

  // Removes entry i from the live index by backward-shift deletion (Knuth's algorithm R): later members of the run
  // move back into the hole unless their home lies between the hole and their slot, so the live index never holds
  // tombstones and probe runs stay as short as the load factor makes them. False when entry i is not in it.
  private erase(index: Int32Array, n: number, h: number, i: number, out: boolean): boolean {
    const em = this.entryMask
    let s = home(h, n)
    for (;;) {
      const v = index[s]!
      if (v === 0) return false
      if ((v & em) === i + 1) break
      if (++s === n) s = 0
    }
    let hole = s
    let j = s
    for (;;) {
      if (++j === n) j = 0
      const v = index[j]!
      if (v === 0) break
      const e = (v & em) - 1
      const k = home(out ? this.outHash(e) : this.inHash(e), n)
      if (hole <= j ? k <= hole || k > j : k <= hole && k > j) {
        index[hole] = v
        hole = j
      }
    }
    index[hole] = 0
    return true
  }

  // Where a probe of the old in index starts for hash h: its home slot, or the migration cursor when the home slot
  // has already been moved and zeroed (the entries of runs that cross the cursor all sit at or after it).
  private oldInFrom(h: number): number {
    const n = this.oldInSlots
    const s = home(h, n)
    let d = s - this.oldInStart
    if (d < 0) d += n
    if (d >= this.oldInDone) return s
    const c = this.oldInStart + this.oldInDone
    return c >= n ? c - n : c
  }

  private oldOutFrom(h: number): number {
    const n = this.oldOutSlots
    const s = home(h, n)
    let d = s - this.oldOutStart
    if (d < 0) d += n
    if (d >= this.oldOutDone) return s
    const c = this.oldOutStart + this.oldOutDone
    return c >= n ? c - n : c
  }

  // Starts the incremental resize of the in index, and of the out index with it while the indexes are small (below
  // SEQUENTIAL_MIN_SLOTS: there a resize may finish within the insert that started it, before the out index's own
  // turn could come, and the memory is negligible).
  private startGrowIn(): void {
    const both = this.slots < SEQUENTIAL_MIN_SLOTS && this.outSlots === this.slots
    const n = grownSlots(this.slots)
    const old = this.inIdx
    this.oldInIdx = old
    this.oldInSlots = this.slots
    this.oldInStart = firstEmpty(old)
    this.oldInDone = 0
    this.inIdx = this.acquireIndex(n)
    this.slots = n
    if (both) this.startGrowOut()
  }

  private startGrowOut(): void {
    const n = grownSlots(this.outSlots)
    const old = this.outIdx
    this.oldOutIdx = old
    this.oldOutSlots = this.outSlots
    this.oldOutStart = firstEmpty(old)
    this.oldOutDone = 0
    this.outIdx = this.acquireIndex(n)
    this.outSlots = n
  }

  // Moves up to `limit` slots of each old index (in slot order from its start, so the old index is read
  // sequentially) to the new one and zeroes them; a fully drained old index is all zeros again and is recycled.
  private migrate(limit: number): void {
    const em = this.entryMask
    const oldIn = this.oldInIdx
    if (oldIn !== null) {
      const n = this.oldInSlots
      let done = this.oldInDone
      const end = Math.min(n, done + limit)
      let p = this.oldInStart + done
      if (p >= n) p -= n
      for (; done < end; done++) {
        const v = oldIn[p]!
        if (v !== 0) {
          const e = (v & em) - 1
          if (e >= 0) this.place(this.inIdx, this.slots, this.inHash(e), e, false, false)
          oldIn[p] = 0
        }
        if (++p === n) p = 0
      }
      this.oldInDone = done
      if (done === n) {
        this.oldInIdx = null
        this.oldInSlots = 0
        this.releaseIndex(oldIn)
      }
    }
    const oldOut = this.oldOutIdx
    if (oldOut !== null) {
      const n = this.oldOutSlots
      let done = this.oldOutDone
      const end = Math.min(n, done + limit)
      let p = this.oldOutStart + done
      if (p >= n) p -= n
      for (; done < end; done++) {
        const v = oldOut[p]!
        if (v !== 0) {
          const e = (v & em) - 1
          if (e >= 0) this.place(this.outIdx, this.outSlots, this.outHash(e), e, true, false)
          oldOut[p] = 0
        }
        if (++p === n) p = 0
      }
      this.oldOutDone = done
      if (done === n) {
        this.oldOutIdx = null
        this.oldOutSlots = 0
        this.releaseIndex(oldOut)
      }
    }
  }

  // An index of n zeroed slots. Index memory comes from growable SharedArrayBuffers: V8 does not count shared
  // memory as external memory, so creating or growing one never makes V8 start a garbage collection (an ArrayBuffer
  // of this size did: scavenges and incremental markings whose final pauses took 1-4 ms inside whichever operation
  // allocated). A drained old index (zeroed by its migration) is kept as a spare and grown in place for the next
  // resize, so a resize commits only the difference, and no dead index waits for a garbage collection to be freed.
  private acquireIndex(n: number): Int32Array {
    const bytes = n * 4
    if (bytes > this.maxIndexBytes) return new Int32Array(new SharedArrayBuffer(bytes))
    const spare = this.indexSpares.pop()
    if (spare !== undefined) {
      if (spare.byteLength < bytes) spare.grow(bytes)
      return new Int32Array(spare, 0, n)
    }
    return new Int32Array(growable(bytes, this.maxIndexBytes), 0, n)
  }

  // Keeps a drained (all-zero) index buffer for the next resize.
  private releaseIndex(index: Int32Array): void {
    const buffer = index.buffer as GrowableSharedArrayBuffer
    if (buffer.growable === true) this.indexSpares.push(buffer)
  }

  private file(i: number): void {
    let t = Math.floor(this.expC[i]! / TICK_MS)
    if (t < this.tick) t = this.tick
    else if (t > this.tick + WHEEL_SIZE - 1) t = this.tick + WHEEL_SIZE - 1
    const slot = t & WHEEL_MASK
    const head = this.wheel[slot]!
    this.wNextC[i] = head
    this.wPrevC[i] = -(slot + 1)
    if (head !== 0) this.wPrevC[head - 1] = i + 1
    this.wheel[slot] = i + 1
  }

  private wheelUnlink(i: number): void {
    const p = this.wPrevC[i]!
    const n = this.wNextC[i]!
    if (p > 0) this.wNextC[p - 1] = n
    else this.wheel[-p - 1] = n
    if (n !== 0) this.wPrevC[n - 1] = p
  }

  private rearm(i: number, expires: number): void {
    const old = this.expC[i]!
    this.expC[i] = expires
    // Later expiries stay filed where they are (the wheel re-files them when it gets there); earlier ones move.
    if (expires < old) {
      this.wheelUnlink(i)
      this.file(i)
    }
  }

  // Returns true when freed; `detached` = not linked in the wheel any more.
  private expire(i: number, now: number, detached: boolean): boolean {
    if (this.isTemplate(i) && this.linkC[i]! > 0) {
      this.repC[(i << 2) + R_TIMEOUT] = RELINGER_MS
      this.expC[i] = now + RELINGER_MS
      if (!detached) this.wheelUnlink(i)
      this.file(i)
      this.stats.relingered++
      return false
    }
    this.remove(i, detached)
    this.stats.expired++
    return true
  }

  // Drop path (ip_vs_conn_del): also drops the controlling template when it is left unused and not assured.
  // `protect` is a template about to be linked by the caller's insert: it must survive.
  private drop(i: number, protect: number): void {
    const ct = this.isTemplate(i) ? -1 : this.linkOf(i) - 1
    this.remove(i, false)
    if (ct >= 0 && ct !== protect && this.controlled(ct) === 0 && this.state(ct) !== TEMPLATE_ASSURED) {
      this.remove(ct, false)
    }
  }

  private remove(i: number, detached: boolean): void {
    const meta = this.meta(i)
    const template = (meta & META_TEMPLATE) !== 0
    this.unhashIn(i)
    if (!template) this.unhashOut(i)
    if (!detached) this.wheelUnlink(i)
    if (!template) {
      const ct = this.linkC[i]! - 1
      if (ct >= 0) this.linkC[ct]!--
    }
    const dest = this.destC[i]!
    if (dest !== Destinations.NONE) {
      if (template) this.destinations.templateUnbound(dest)
      else this.destinations.connectionUnbound(dest, (meta & (ConnectionFlags.INACTIVE << META_FLAGS_SHIFT)) === 0)
    }
    if ((meta & META_IPV6) !== 0) {
      const p = this.repC[(i << 2) + R_DADDR]!
      this.pool[p >>> POOL_BITS]![(p & POOL_MASK) << 4] = this.poolFree
      this.poolFree = p + 1
    }
    this.keyC[(i << 2) + K_META] = 0
    this.wNextC[i] = this.freeHead
    this.freeHead = i + 1
    this.count--
  }

  private isEvictable(i: number): boolean {
    const meta = this.meta(i)
    const st = meta >>> META_STATE_SHIFT
    if ((meta & META_TEMPLATE) !== 0) return this.linkC[i] === 0 && st !== TEMPLATE_ASSURED
    switch (meta & 0xff) {
      case Protocol.TCP:
        return st === TcpState.NONE || st === TcpState.SYN_RECV || st === TcpState.SYNACK
      case Protocol.SCTP:
        return st === SctpState.NONE || st === SctpState.INIT1 || st === SctpState.INIT
      default:
        return this.inPktsC[i]! <= 1 && this.outPktsC[i] === 0
    }
  }

  private evictOne(protect: number): boolean {
    if (this.high === 0) return false
    for (let n = 0; n < EVICT_PROBES; n++) {
      const i = this.randomIndex()
      if (i !== protect && this.isLive(i) && this.isEvictable(i)) {
        this.drop(i, protect)
        this.stats.evicted++
        return true
      }
    }
    return false
  }

  private randomIndex(): number {
    let x = this.rng
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.rng = x
    return (x >>> 0) % this.high
  }

  private allocate(): number {
    if (this.freeHead !== 0) {
      const i = this.freeHead - 1
      this.freeHead = this.wNextC[i]!
      return i
    }
    if (this.high === this.capacity && !this.addChunk()) return -1
    return this.high++
  }

  // Adds one chunk of entry slots; false at the configured maximum. Every column is one growable shared buffer that
  // reserved address space for maxConnections at construction and grows in place here (committing pages the kernel
  // zeroes on first touch: no copy, no memset, no allocation V8 counts towards a collection), so each column stays
  // one flat array and a key record is element 4 * entry of one view. Measured at 1 M entries: batched lookups ran
  // 20-25% faster than through per-chunk views (an array of 16384-entry views, created one chunk at a time) of the
  // same memory; per-chunk views created all at once were as fast as one view, so the cost was reaching view objects
  // scattered over the heap, not the memory layout.
  private addChunk(): boolean {
    if (this.capacity >= this.maxChunks * CHUNK_SIZE) return false
    const n = this.capacity + CHUNK_SIZE
    const columns = this.columns
    for (let c = 0; c < columns.length; c++) columns[c]!.grow(COLUMN_PAD[c]! + n * COLUMN_BYTES[c]!)
    this.capacity = n
    const [exp, key, rep, wNext, wPrev, link, inPkts, outPkts, inBytes, outBytes, svc, dest, inHi, outHi] = columns
    const pad = COLUMN_PAD
    this.expC = new Float64Array(exp!, pad[0], n)
    this.keyC = new Uint32Array(key!, pad[1], n * KEY_WORDS)
    this.keyI = new Int32Array(key!, pad[1], n * KEY_WORDS)
    this.repC = new Uint32Array(rep!, pad[2], n * REPLY_WORDS)
    this.repI = new Int32Array(rep!, pad[2], n * REPLY_WORDS)
    this.wNextC = new Int32Array(wNext!, pad[3], n)
    this.wPrevC = new Int32Array(wPrev!, pad[4], n)
    this.linkC = new Int32Array(link!, pad[5], n)
    this.inPktsC = new Uint32Array(inPkts!, pad[6], n)
    this.outPktsC = new Uint32Array(outPkts!, pad[7], n)
    this.inBytesC = new Uint32Array(inBytes!, pad[8], n)
    this.outBytesC = new Uint32Array(outBytes!, pad[9], n)
    this.svcC = new Uint16Array(svc!, pad[10], n)
    this.destC = new Uint16Array(dest!, pad[11], n)
    this.inBytesHiC = new Uint16Array(inHi!, pad[12], n)
    this.outBytesHiC = new Uint16Array(outHi!, pad[13], n)
    return true
  }

  /**
   * Allocation ahead of need, from advance(): the next 16384 entry slots (every column grown in place, new views)
   * and, when the next resize is near, the next in index's buffer. Buffer growth and views cost microseconds (and
   * page faults later); doing them here keeps insert() free of allocations as long as advance() runs regularly.
   */
  private prepare(): void {
    // At most one allocation per call, so a single advance() stays short.
    if (this.freeHead === 0 && this.capacity - this.high < CHUNK_SIZE / 2 && this.addChunk()) return
    // The buffer of the next in index, shortly before its resize (at 98% of its trigger), and only if the table may
    // still grow: the spare left by the last resize, grown in place (committing nothing until touched).
    if (
      this.oldInIdx === null &&
      this.oldOutIdx === null &&
      this.count > 0.98 * MAX_LOAD * this.slots &&
      this.maxConnections > MAX_LOAD * this.slots
    ) {
      const bytes = grownSlots(this.slots) * 4
      if (bytes > this.maxIndexBytes) return
      const spare = this.indexSpares[this.indexSpares.length - 1]
      if (spare === undefined) {
        this.indexSpares.push(growable(bytes, this.maxIndexBytes))
      } else if (spare.byteLength < bytes) spare.grow(bytes)
    }
  }

  private allocatePool(): number {
    if (this.poolFree !== 0) {
      const p = this.poolFree - 1
      this.poolFree = this.pool[p >>> POOL_BITS]![(p & POOL_MASK) << 4]!
      return p
    }
    if (this.poolHigh === this.pool.length << POOL_BITS)
      this.pool.push(new Uint32Array(new SharedArrayBuffer((1 << POOL_BITS) * 64)))
    return this.poolHigh++
  }
}

/**
 * Bytes of column storage per entry slot: key record 16, reply record 16 (local address, timeout, real-server
 * address, ports), two wheel links 8, expiry 8, service 2, destination 2, control 4, packet counters 8, byte
 * counters 12 (48 bits each). The indexes add 4 bytes per index slot (at most 0.8 full, so at least 5 bytes per entry each).
 *
 * @example
 * ```ts
 * ConnectionTable.BYTES_PER_ENTRY // 76
 * ```
 */
export const BYTES_PER_ENTRY = 16 + 16 + 8 + 8 + 2 + 2 + 4 + 8 + 12

// Bytes per entry of each column, in the order of ConnectionTable.columns: expiry, key record, reply record, wheel
// next and prev, link, packet and byte counters, service, destination, byte counters' high words.
const COLUMN_BYTES = [8, KEY_WORDS * 4, REPLY_WORDS * 4, 4, 4, 4, 4, 4, 4, 4, 2, 2, 2, 2] as const
// Where each column starts in its buffer. Without these offsets every column would begin a new 4 KiB page at the same
// entries (every 1024th entry begins a page of all the 4-byte columns at once), so the insert that first writes such
// an entry took one page fault per column: 10-14 faults in one insert, 0.5-0.7 ms on the reference VM's slower
// moments (bench "faults" column). Offsets spread over the page, each a multiple of 16 bytes (a key or reply record
// never straddles a cache line), put the columns' page starts at different entries: an insert faults one or two.
const COLUMN_PAD = COLUMN_BYTES.map((_, c) => Math.floor((c * 4096) / COLUMN_BYTES.length / 16) * 16)
// BYTES_PER_ENTRY is the sum of the columns (checked here, at load time, so the two cannot drift apart).
if (COLUMN_BYTES.reduce((a, b) => a + b, 0) !== BYTES_PER_ENTRY) throw new Error("ConnectionTable: column widths")

// Home slot of hash h in an index of n slots: floor(h * n / 2^32), uniform for any n (not only powers of two).
const home = (h: number, n: number): number => ((h >>> 0) * n * TWO_TO_MINUS_32) | 0

// Index size after a resize: GROWTH times larger, a multiple of 16 slots (one 64-byte line).
const grownSlots = (n: number): number => Math.ceil((n * GROWTH) / 16) * 16

/**
 * Default work bound of one {@link ConnectionTable.advance} call, in units of one wheel entry walked past (an expiry
 * counts 4): about 0.2-0.5 ms on the reference VM, and 1,024 expiries per call (a million per second at one call
 * per millisecond).
 *
 * @example
 * ```ts
 * table.advance(now, ConnectionTable.ADVANCE_BUDGET)
 * ```
 */
export const ADVANCE_BUDGET = 4096

/**
 * A new, empty table.
 *
 * @example
 * ```ts
 * const table = ConnectionTable.make({ maxConnections: 1_000_000 })
 * ```
 */
export const make = (options: Options): ConnectionTable => new ConnectionTable(options)

// First empty slot of an index (one always exists: indexes stay below 0.95 full). A slot-order migration starts
// there, so no probe run crosses its start.
const firstEmpty = (index: Int32Array): number => {
  let s = 0
  while (index[s] !== 0) s++
  return s
}

// Out index tag code of a protocol (see OUT_TAG_BITS); 3 for any other, which no out index slot holds.
const protocolCode = (protocol: number): number =>
  protocol === Protocol.TCP ? 0 : protocol === Protocol.UDP ? 1 : protocol === Protocol.SCTP ? 2 : 3
