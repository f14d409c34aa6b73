/**
 * Entry point of one TAP I/O worker thread: loads the frame handler, then loops on
 * `poll([tap fds..., wake pipe])`, reads batches until EAGAIN into its slots of the shared pool and hands
 * each batch to the handler. It never blocks inside a `read()`: every fd is non-blocking, and `poll()`
 * returns when the wake pipe becomes readable, so stopping is "set the stop flag, write one byte".
 *
 * Nothing in the loop allocates: the batch arrays, pollfd array and counters are created once.
 *
 * @internal
 */
import { type MessagePort, parentPort, receiveMessageOnPort, workerData } from "node:worker_threads"
import type * as FrameHandler from "../FrameHandler.ts"
import type * as FramePool from "../FramePool.ts"
import * as PortCounters from "../PortCounters.ts"
import * as Libc from "./Libc.ts"

/** Start-up data sent by `TapPorts`. */
export interface WorkerInput {
  readonly queue: number
  readonly ports: ReadonlyArray<FrameHandler.PortInfo>
  /** This queue's fd for each port. */
  readonly fds: ReadonlyArray<number>
  readonly pool: SharedArrayBuffer
  readonly layout: FramePool.Layout
  readonly counters: SharedArrayBuffer
  readonly stats: SharedArrayBuffer
  /** Int32Array entry `queue` is set to 1 to stop. */
  readonly stop: SharedArrayBuffer
  readonly wakeFd: number
  readonly control: MessagePort
  readonly handlerUrl: string
  readonly handlerOptions: unknown
  readonly pollTimeoutMs: number
}

const input = workerData as WorkerInput
const c = Libc.libc()
const queue = input.queue
const nports = input.ports.length
const layout = input.layout
const bytes = new Uint8Array(input.pool)
const base = c.addressOf(bytes)
const counters = new Float64Array(input.counters)
const stop = new Int32Array(input.stop)
const wb = PortCounters.workerBase(queue, nports)
const pb = new Int32Array(nports)
for (let p = 0; p < nports; p++) pb[p] = PortCounters.portBase(queue, nports, p)
const fds = Int32Array.from(input.fds)

const scratch = new Int32Array(layout.scratchSlots)
const slotOffset0 = queue * layout.slotsPerWorker * layout.slotSize + layout.headroom
for (let i = 0; i < layout.scratchSlots; i++) scratch[i] = slotOffset0 + (layout.batchSize + i) * layout.slotSize
// Ask for one byte more than the largest valid frame: a longer result means the kernel handed over a
// frame that did not fit (MTU raised behind our back, an offload super-frame) and was truncated.
const readCapacity = layout.frameCapacity + 1

const send = (port: number, offset: number, length: number): boolean => {
  if (port >>> 0 >= nports) {
    counters[wb + PortCounters.WorkerField.handlerErrors]!++
    return false
  }
  const p = pb[port]!
  if (offset < 0 || length <= 0 || offset + length > bytes.length) {
    counters[p + PortCounters.PortField.txDropped]!++
    return false
  }
  const r = c.write(fds[port]!, base + offset, length)
  if (r < 0) {
    if (c.errno() === Libc.EAGAIN) counters[p + PortCounters.PortField.txDropped]!++
    else counters[p + PortCounters.PortField.txErrors]!++
    return false
  }
  counters[p + PortCounters.PortField.txFrames]!++
  counters[p + PortCounters.PortField.txBytes]! += length
  return true
}

const fail = (message: string) => {
  parentPort?.postMessage({ type: "error", message })
}

const load = async (): Promise<FrameHandler.Handler | undefined> => {
  try {
    const mod = (await import(input.handlerUrl)) as { make?: FrameHandler.Factory; default?: FrameHandler.Factory }
    const factory = mod.make ?? mod.default
    if (typeof factory !== "function") {
      fail(`handler module ${input.handlerUrl} exports neither make nor default as a function`)
      return undefined
    }
    return await factory({
      bytes,
      view: new DataView(input.pool),
      headroom: layout.headroom,
      frameCapacity: layout.slotSize - layout.headroom,
      scratch,
      queue,
      ports: input.ports,
      stats: new Float64Array(input.stats, queue * 64 * 8, 64),
      options: input.handlerOptions,
      send
    })
  } catch (error) {
    fail(`handler module ${input.handlerUrl} failed to load: ${error instanceof Error ? error.stack : String(error)}`)
    return undefined
  }
}

const run = (handler: FrameHandler.Handler) => {
  const npoll = nports + 1
  const pollBuf = new Uint8Array(npoll * Libc.POLLFD_SIZE)
  const pollFd = new Int32Array(pollBuf.buffer)
  const pollEv = new Int16Array(pollBuf.buffer)
  for (let p = 0; p < nports; p++) {
    pollFd[p * 2] = fds[p]!
    pollEv[p * 4 + 2] = Libc.POLLIN
  }
  pollFd[nports * 2] = input.wakeFd
  pollEv[nports * 4 + 2] = Libc.POLLIN
  const wakeBuf = new Uint8Array(64)
  const batch: FrameHandler.Batch = {
    port: 0,
    count: 0,
    offsets: new Int32Array(layout.batchSize),
    lengths: new Int32Array(layout.batchSize)
  }
  const offsets = batch.offsets
  const lengths = batch.lengths
  for (let i = 0; i < layout.batchSize; i++) offsets[i] = slotOffset0 + i * layout.slotSize
  const maxBatch = layout.batchSize
  const timeout = input.pollTimeoutMs
  const onControl = handler.onControl
  const onTick = handler.onTick
  let nextTick = performance.now() + timeout

  while (Atomics.load(stop, queue) === 0) {
    // Ticks run about every `timeout` ms whether or not traffic flows (ageing, timers); poll() waits at
    // most until the next one.
    let wait = timeout
    if (onTick !== undefined) {
      const now = performance.now()
      if (now >= nextTick) {
        nextTick = now + timeout
        try {
          onTick(now)
        } catch {
          counters[wb + PortCounters.WorkerField.handlerErrors]!++
        }
      }
      wait = Math.ceil(nextTick - now)
    }
    counters[wb + PortCounters.WorkerField.polls]!++
    const n = c.poll(pollBuf, npoll, wait)
    if (n < 0) {
      if (c.errno() !== Libc.EINTR) counters[wb + PortCounters.WorkerField.pollErrors]!++
      continue
    }
    if (n === 0) {
      counters[wb + PortCounters.WorkerField.pollTimeouts]!++
      continue
    }
    if (pollEv[nports * 4 + 3]! !== 0) {
      counters[wb + PortCounters.WorkerField.wakes]!++
      while (c.readInto(input.wakeFd, wakeBuf, wakeBuf.length) > 0) {
        // drain
      }
      if (Atomics.load(stop, queue) !== 0) break
      for (let m = receiveMessageOnPort(input.control); m !== undefined; m = receiveMessageOnPort(input.control)) {
        counters[wb + PortCounters.WorkerField.controlMessages]!++
        if (onControl !== undefined) {
          try {
            onControl(m.message)
          } catch {
            counters[wb + PortCounters.WorkerField.handlerErrors]!++
          }
        }
      }
    }
    for (let p = 0; p < nports; p++) {
      if (pollEv[p * 4 + 3]! === 0) continue
      const fd = fds[p]!
      const cb = pb[p]!
      let count = 0
      let bytesIn = 0
      while (count < maxBatch) {
        const r = c.read(fd, base + offsets[count]!, readCapacity)
        if (r < 0) {
          if (c.errno() === Libc.EAGAIN) counters[cb + PortCounters.PortField.rxEagain]!++
          else counters[cb + PortCounters.PortField.rxErrors]!++
          break
        }
        if (r === 0) break
        if (r > layout.frameCapacity) {
          counters[cb + PortCounters.PortField.rxOversize]!++
          continue
        }
        lengths[count] = r
        bytesIn += r
        count++
      }
      if (count === 0) continue
      counters[cb + PortCounters.PortField.rxFrames]! += count
      counters[cb + PortCounters.PortField.rxBytes]! += bytesIn
      counters[cb + PortCounters.PortField.rxBatches]!++
      const bucket = 31 - Math.clz32(count)
      counters[cb + PortCounters.PortField.batchHistogram + Math.min(bucket, 7)]!++
      batch.port = p
      batch.count = count
      try {
        handler.onBatch(batch)
      } catch {
        counters[wb + PortCounters.WorkerField.handlerErrors]!++
      }
      // The handler may have moved offsets into the headroom; put them back for the next read.
      for (let i = 0; i < count; i++) offsets[i] = slotOffset0 + i * layout.slotSize
    }
  }
  try {
    handler.onClose?.()
  } catch {
    counters[wb + PortCounters.WorkerField.handlerErrors]!++
  }
}

const handler = await load()
if (handler !== undefined) {
  parentPort?.postMessage({ type: "ready" })
  run(handler)
}
input.control.close()
