/**
 * Per-port and per-worker I/O counters kept in a `SharedArrayBuffer`, written by the I/O workers with plain
 * stores and read by the control plane at any time.
 *
 * Each worker writes only its own region, so no atomics are needed on the hot path; a reader may see a
 * value one batch old, never a torn one on 64-bit platforms. Counters are `Float64Array` entries: exact up
 * to 2^53, i.e. centuries of traffic. The batch-size histogram is log2-bucketed: bucket `b` counts batches
 * of `2^b .. 2^(b+1)-1` frames, the last bucket everything above.
 *
 * Mirrors what `ip -s link` reports for a NIC (packets, bytes, errors, drops) plus what a poll-mode loop
 * needs to be understood (batches, empty reads, wake-ups).
 *
 * @module
 */

/**
 * Field index of each per-port counter.
 *
 * @example
 * ```ts
 * counters[PortCounters.portBase(worker, ports, port) + PortCounters.PortField.rxFrames]
 * ```
 */
export const PortField = {
  rxFrames: 0,
  rxBytes: 1,
  txFrames: 2,
  txBytes: 3,
  rxBatches: 4,
  /** `read()` returned EAGAIN: the queue was drained. */
  rxEagain: 5,
  /** `read()` failed with anything else. */
  rxErrors: 6,
  /** `write()` failed (errno other than EAGAIN). */
  txErrors: 7,
  /** `write()` returned EAGAIN, or the handler asked to send something invalid (bad port, length). */
  txDropped: 8,
  /** Frames longer than MTU + 18 (MTU raised behind our back, offload super-frames): truncated, dropped. */
  rxOversize: 9,
  /** First bucket of the batch-size histogram. */
  batchHistogram: 10
} as const

/**
 * Number of histogram buckets (1, 2-3, 4-7, ..., 128+).
 *
 * @example
 * ```ts
 * const bucket = Math.min(31 - Math.clz32(batchSize), PortCounters.HISTOGRAM_BUCKETS - 1)
 * ```
 */
export const HISTOGRAM_BUCKETS = 8

/**
 * Per-port field count.
 *
 * @example
 * ```ts
 * PortCounters.portBase(0, 2, 1) - PortCounters.portBase(0, 2, 0) === PortCounters.PORT_FIELDS
 * ```
 */
export const PORT_FIELDS = PortField.batchHistogram + HISTOGRAM_BUCKETS

/**
 * Field index of each per-worker counter.
 *
 * @example
 * ```ts
 * counters[PortCounters.workerBase(worker, ports) + PortCounters.WorkerField.polls]
 * ```
 */
export const WorkerField = {
  /** `poll()` calls, or `io_uring_enter()` calls with the io_uring backend. */
  polls: 0,
  /** `poll()` calls that timed out with nothing ready. */
  pollTimeouts: 1,
  /** Wake-pipe wake-ups (control messages or stop). */
  wakes: 2,
  /** Control messages delivered to the handler. */
  controlMessages: 3,
  /** `poll()` errors other than EINTR. */
  pollErrors: 4,
  /** Exceptions thrown by the handler (the loop goes on). */
  handlerErrors: 5,
  /** I/O mode in use: 0 poll + read/write, 1 io_uring with a READ per slot, 2 io_uring multishot reads. */
  ioMode: 6,
  /** Zero-timeout `poll()` calls of the adaptive busy poll (each one a look at every fd without sleeping). */
  spins: 7,
  /** The worker's real-time priority once set (`SCHED_FIFO`), 0 when it runs as a normal thread, -errno when setting it failed. */
  realtimePriority: 8,
  /** io_uring waits that asked for a batch of frames (receive coalescing after a busy wake-up). */
  coalescedWaits: 9
} as const

/**
 * Per-worker field count.
 *
 * @example
 * ```ts
 * PortCounters.portBase(0, 1, 0) === PortCounters.WORKER_FIELDS
 * ```
 */
export const WORKER_FIELDS = 10

/**
 * Number of `Float64Array` entries for `workers` workers with `ports` ports each.
 *
 * @example
 * ```ts
 * const counters = new Float64Array(new SharedArrayBuffer(PortCounters.size(workers, ports) * 8))
 * ```
 */
export const size = (workers: number, ports: number): number => workers * (WORKER_FIELDS + ports * PORT_FIELDS)

/**
 * Index of a worker's first field.
 *
 * @example
 * ```ts
 * counters[PortCounters.workerBase(1, ports) + PortCounters.WorkerField.polls]
 * ```
 */
export const workerBase = (worker: number, ports: number): number => worker * (WORKER_FIELDS + ports * PORT_FIELDS)

/**
 * Index of a worker's first field for one port.
 *
 * @example
 * ```ts
 * counters[PortCounters.portBase(0, 2, 1) + PortCounters.PortField.rxFrames]
 * ```
 */
export const portBase = (worker: number, ports: number, port: number): number =>
  workerBase(worker, ports) + WORKER_FIELDS + port * PORT_FIELDS

/**
 * Counters of one port summed over all workers (queues).
 *
 * @example
 * ```ts
 * const { rxFrames, txFrames, batchHistogram } = snapshot.ports[0]!
 * ```
 */
export interface Port {
  readonly name: string
  readonly rxFrames: number
  readonly rxBytes: number
  readonly txFrames: number
  readonly txBytes: number
  readonly rxBatches: number
  readonly rxEagain: number
  readonly rxErrors: number
  readonly txErrors: number
  readonly txDropped: number
  readonly rxOversize: number
  /** Batches of 1, 2-3, 4-7, 8-15, 16-31, 32-63, 64-127, 128+ frames. */
  readonly batchHistogram: ReadonlyArray<number>
}

/**
 * Counters of one worker.
 *
 * @example
 * ```ts
 * snapshot.workers[0]!.wakes // wake-pipe wake-ups of queue 0
 * ```
 */
export interface Worker {
  readonly polls: number
  readonly pollTimeouts: number
  readonly wakes: number
  readonly controlMessages: number
  readonly pollErrors: number
  readonly handlerErrors: number
  /** 0 syscalls, 1 io_uring (a READ per slot), 2 io_uring (multishot READ + provided buffers). */
  readonly ioMode: number
  /** Zero-timeout polls of the adaptive busy poll. */
  readonly spins: number
  /** io_uring waits that asked for a batch (receive coalescing). */
  readonly coalescedWaits: number
  /** `SCHED_FIFO` priority of the worker, 0 for a normal thread, -errno when it could not be set. */
  readonly realtimePriority: number
}

/**
 * A point-in-time copy of all counters.
 *
 * @example
 * ```ts
 * const snapshot: PortCounters.Snapshot = yield* ports.counters
 * ```
 */
export interface Snapshot {
  readonly ports: ReadonlyArray<Port>
  readonly workers: ReadonlyArray<Worker>
}

/**
 * Copies the shared counters into plain objects (control plane only: allocates).
 *
 * @example
 * ```ts
 * const snap = PortCounters.snapshot(counters, ["tap0"], 1)
 * snap.ports[0].rxFrames
 * ```
 */
export const snapshot = (counters: Float64Array, names: ReadonlyArray<string>, workers: number): Snapshot => {
  const ports: Array<Port> = names.map((name, port) => {
    const sum = (field: number) => {
      let total = 0
      for (let w = 0; w < workers; w++) total += counters[portBase(w, names.length, port) + field]!
      return total
    }
    const batchHistogram: Array<number> = []
    for (let b = 0; b < HISTOGRAM_BUCKETS; b++) batchHistogram.push(sum(PortField.batchHistogram + b))
    return {
      name,
      rxFrames: sum(PortField.rxFrames),
      rxBytes: sum(PortField.rxBytes),
      txFrames: sum(PortField.txFrames),
      txBytes: sum(PortField.txBytes),
      rxBatches: sum(PortField.rxBatches),
      rxEagain: sum(PortField.rxEagain),
      rxErrors: sum(PortField.rxErrors),
      txErrors: sum(PortField.txErrors),
      txDropped: sum(PortField.txDropped),
      rxOversize: sum(PortField.rxOversize),
      batchHistogram
    }
  })
  const workerList: Array<Worker> = []
  for (let w = 0; w < workers; w++) {
    const base = workerBase(w, names.length)
    workerList.push({
      polls: counters[base + WorkerField.polls]!,
      pollTimeouts: counters[base + WorkerField.pollTimeouts]!,
      wakes: counters[base + WorkerField.wakes]!,
      controlMessages: counters[base + WorkerField.controlMessages]!,
      pollErrors: counters[base + WorkerField.pollErrors]!,
      handlerErrors: counters[base + WorkerField.handlerErrors]!,
      ioMode: counters[base + WorkerField.ioMode]!,
      spins: counters[base + WorkerField.spins]!,
      coalescedWaits: counters[base + WorkerField.coalescedWaits]!,
      realtimePriority: counters[base + WorkerField.realtimePriority]!
    })
  }
  return { ports, workers: workerList }
}
