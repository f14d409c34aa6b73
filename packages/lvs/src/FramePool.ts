/**
 * The layout of the one preallocated frame buffer shared by every TAP I/O worker.
 *
 * The pool is a single `SharedArrayBuffer` cut into fixed-size slots. Each slot reserves `headroom` bytes
 * before the frame, so a forwarding function can prepend an outer header (IPIP, GUE, GRE, a VLAN tag) by
 * moving the frame's start offset back, without copying the frame. Every worker owns a contiguous range of
 * slots: `batchSize` receive slots (reused for every batch, every port) followed by `scratchSlots` slots
 * for frames the handler originates (ARP requests, ICMP errors). Nothing is allocated after start-up.
 *
 * Like a kernel `sk_buff` with `NET_SKB_PAD` headroom, but with a fixed per-slot budget: a frame plus
 * prepended headers must fit in `slotSize` bytes.
 *
 * @module
 */

/**
 * Sizes that define a pool.
 *
 * @example
 * ```ts
 * const bytesPerWorker = layout.slotSize * layout.slotsPerWorker
 * ```
 */
export interface Layout {
  /** Bytes reserved before each frame for encapsulation. */
  readonly headroom: number
  /** Largest frame a slot holds (Ethernet header + MTU + room for a VLAN tag). */
  readonly frameCapacity: number
  /** Bytes per slot: headroom + frameCapacity + 1 rounded up to a 64-byte cache line. */
  readonly slotSize: number
  /** Receive slots per worker: the most frames read in one batch. */
  readonly batchSize: number
  /** Extra slots per worker for frames the handler builds itself. */
  readonly scratchSlots: number
  /** Number of workers (queues) sharing the pool. */
  readonly workers: number
  /** Slots per worker: batchSize + scratchSlots. */
  readonly slotsPerWorker: number
  /** Total bytes. */
  readonly byteLength: number
}

/**
 * Ethernet header (14) + 802.1Q tag (4): added to the MTU to get the largest frame.
 *
 * @example
 * ```ts
 * const largestFrame = mtu + FramePool.ETHERNET_OVERHEAD // 1518 for MTU 1500
 * ```
 */
export const ETHERNET_OVERHEAD = 18

/**
 * Default bytes reserved before each frame: room for an outer Ethernet + IPv6 + UDP + GUE header.
 *
 * @example
 * ```ts
 * FramePool.layout({ mtu: 1500, headroom: FramePool.DEFAULT_HEADROOM, batchSize: 64, scratchSlots: 8, workers: 1 })
 * ```
 */
export const DEFAULT_HEADROOM = 64

/**
 * Default frames per batch.
 *
 * @example
 * ```ts
 * FramePool.layout({ mtu: 1500, headroom: 64, batchSize: FramePool.DEFAULT_BATCH_SIZE, scratchSlots: 8, workers: 1 })
 * ```
 */
export const DEFAULT_BATCH_SIZE = 64

/**
 * Computes a layout, rejecting sizes that make no sense with a message naming the field.
 *
 * @example
 * ```ts
 * const layout = FramePool.layout({ mtu: 1500, headroom: 64, batchSize: 64, scratchSlots: 4, workers: 1 })
 * layout.slotSize // 1600
 * ```
 */
export const layout = (options: {
  readonly mtu: number
  readonly headroom: number
  readonly batchSize: number
  readonly scratchSlots: number
  readonly workers: number
}): Layout => {
  const check = (field: string, value: number, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new RangeError(`${field} ${value} is not an integer in ${min}..${max}`)
    }
  }
  check("mtu", options.mtu, 68, 65535)
  check("headroom", options.headroom, 0, 4096)
  check("batchSize", options.batchSize, 1, 4096)
  check("scratchSlots", options.scratchSlots, 0, 1024)
  check("workers", options.workers, 1, 256)
  const frameCapacity = options.mtu + ETHERNET_OVERHEAD
  // One spare byte beyond the largest frame lets a reader detect a longer (truncated) frame: read() of
  // frameCapacity + 1 bytes returning more than frameCapacity means the frame did not fit.
  const slotSize = Math.ceil((options.headroom + frameCapacity + 1) / 64) * 64
  const slotsPerWorker = options.batchSize + options.scratchSlots
  return {
    headroom: options.headroom,
    frameCapacity,
    slotSize,
    batchSize: options.batchSize,
    scratchSlots: options.scratchSlots,
    workers: options.workers,
    slotsPerWorker,
    byteLength: slotSize * slotsPerWorker * options.workers
  }
}

/**
 * Byte offset in the pool where frame data of a worker's slot starts (after the headroom).
 *
 * @example
 * ```ts
 * FramePool.frameOffset(layout, 0, 0) // layout.headroom
 * ```
 */
export const frameOffset = (layout: Layout, worker: number, slot: number): number =>
  (worker * layout.slotsPerWorker + slot) * layout.slotSize + layout.headroom

/**
 * Byte offset of a worker's scratch slot `index` (frame start, after headroom).
 *
 * @example
 * ```ts
 * FramePool.scratchOffset(layout, 0, 0) === FramePool.frameOffset(layout, 0, layout.batchSize)
 * ```
 */
export const scratchOffset = (layout: Layout, worker: number, index: number): number =>
  frameOffset(layout, worker, layout.batchSize + index)

/**
 * Allocates the shared pool for a layout.
 *
 * @example
 * ```ts
 * const bytes = FramePool.allocate(layout) // Uint8Array over a SharedArrayBuffer
 * ```
 */
export const allocate = (layout: Layout): Uint8Array => new Uint8Array(new SharedArrayBuffer(layout.byteLength))
