/**
 * The data-plane hook: the plain, synchronous code that runs inside each TAP I/O worker and sees every
 * received frame where it lies in the shared pool.
 *
 * A handler module is loaded by URL in every worker (`import(url)`) and must export `make` (or a default
 * export) of type {@link Factory}. The worker calls `onBatch` once per batch of frames read from one port,
 * then reuses the batch's slots for the next read: a handler that must keep a frame beyond `onBatch`
 * copies it (e.g. into a scratch slot). Sending is immediate (`write()` on the port's queue fd), so a frame
 * can be rewritten in place and sent from its own slot with no copy, or grown into the headroom by passing
 * a smaller offset. Control-plane messages arrive between batches through `onControl`.
 *
 * This is a run-to-completion design, like a DPDK lcore or the kernel's NAPI poll + `ndo_start_xmit`:
 * read, decide, write on the same thread, with no hand-off queue between threads.
 *
 * @module
 */

/**
 * A batch of frames read from one port: parallel arrays, valid for `count` entries. Reused per batch.
 *
 * @example
 * ```ts
 * for (let i = 0; i < batch.count; i++) inspect(ctx.bytes, batch.offsets[i]!, batch.lengths[i]!)
 * ```
 */
export interface Batch {
  /** Index of the port the frames came from (order of `ports` in the options). */
  port: number
  /** Number of frames. */
  count: number
  /** Byte offset of each frame's first byte (destination MAC) in {@link Context.bytes}. */
  readonly offsets: Int32Array
  /** Length of each frame in bytes. */
  readonly lengths: Int32Array
}

/**
 * Static facts about one port as seen by a worker.
 *
 * @example
 * ```ts
 * ctx.ports[batch.port]!.name // "tapc"
 * ```
 */
export interface PortInfo {
  readonly index: number
  readonly name: string
  readonly ifindex: number
  /** MAC of the kernel-side TAP interface (the director's own MAC is the handler's configuration). */
  readonly mac: string
  readonly mtu: number
}

/**
 * What a handler gets at start-up.
 *
 * @example
 * ```ts
 * const type = ctx.view.getUint16(batch.offsets[0]! + 12) // EtherType of the first frame
 * ```
 */
export interface Context {
  /** The whole shared pool. Frame offsets are indices into it. */
  readonly bytes: Uint8Array
  /** A DataView over the same pool (big-endian reads for headers). */
  readonly view: DataView
  /** Bytes reserved before every frame's offset in its slot. */
  readonly headroom: number
  /** Bytes available from a slot's frame offset to the slot's end; prepending into the headroom adds more. */
  readonly frameCapacity: number
  /** Frame-start offsets of this worker's scratch slots (for originated frames). */
  readonly scratch: Int32Array
  /** This worker's queue index. */
  readonly queue: number
  readonly ports: ReadonlyArray<PortInfo>
  /** Handler statistics shared with the control plane (`TapPorts.handlerStats`), 64 entries per worker. */
  readonly stats: Float64Array
  /** The `options` value given to `TapPorts` (structured-cloned; SharedArrayBuffers are shared). */
  readonly options: unknown
  /**
   * Sends `length` bytes at `offset` on `port` (this worker's queue). Returns false (and counts a drop or
   * error) when the port index is unknown, the range is invalid or `write()` fails.
   *
   * With the `syscalls` backend the bytes are written before `send` returns. With `io_uring` the write is
   * queued: the bytes must stay unchanged until {@link flush} or until the callback returns (the frame's
   * receive slot is held until the write completes, so in-place replies need nothing special; a scratch
   * slot reused within one callback needs a `flush()` in between), and the frame must lie within one slot.
   */
  readonly send: (port: number, offset: number, length: number) => boolean
  /** Submits queued sends now (`io_uring`); a no-op with the `syscalls` backend. */
  readonly flush: () => void
  /**
   * Posts an event to the control plane (`TapPorts.events`): for rare things such as a neighbour resolved,
   * a destination found down, or a log line the kernel would print. The message is structured-cloned
   * (it allocates): never call it per frame. Dropped when the control plane's queue is full.
   */
  readonly notify: (event: unknown) => void
}

/**
 * The hooks a handler implements. Only `onBatch` is required.
 *
 * @example
 * ```ts
 * const handler: FrameHandler.Handler = { onBatch: (batch) => void batch.count, onTick: (now) => expire(now) }
 * ```
 */
export interface Handler {
  readonly onBatch: (batch: Batch) => void
  /** A control-plane message (posted with `TapPorts.control`), delivered between batches. */
  readonly onControl?: (message: unknown) => void
  /**
   * Called about every `pollTimeoutMs`, busy or idle, between batches, with `performance.now()`: the place
   * for timers that must run inside the data plane (neighbour and connection ageing).
   */
  readonly onTick?: (nowMs: number) => void
  /** Called once when the worker stops. */
  readonly onClose?: () => void
}

/**
 * What a handler module exports as `make` or `default`.
 *
 * @example
 * ```ts
 * export const make: FrameHandler.Factory = (ctx) => ({ onBatch: () => {} })
 * ```
 */
export type Factory = (context: Context) => Handler | Promise<Handler>

/**
 * Number of handler statistics entries per worker.
 *
 * @example
 * ```ts
 * ctx.stats[FrameHandler.STATS_PER_WORKER - 1]!++ // the last entry a handler may use
 * ```
 */
export const STATS_PER_WORKER = 64

/**
 * Identity helper that types a handler factory.
 *
 * @example
 * ```ts
 * // my-handler.ts, loaded with TapPorts.make({ handler: { module: new URL("./my-handler.ts", import.meta.url) } })
 * export const make = FrameHandler.define((ctx) => ({
 *   onBatch: (batch) => {
 *     for (let i = 0; i < batch.count; i++) ctx.send(batch.port, batch.offsets[i]!, batch.lengths[i]!) // echo
 *   }
 * }))
 * ```
 */
export const define = (factory: Factory): Factory => factory
