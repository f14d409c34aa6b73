/**
 * Entry point of one TAP I/O worker thread: loads the frame handler, then loops on
 * `poll([tap fds..., wake pipe])`, reads batches until EAGAIN into its slots of the shared pool and hands
 * each batch to the handler. It never blocks inside a `read()`: every fd is non-blocking, and `poll()`
 * returns when the wake pipe becomes readable, so stopping is "set the stop flag, write one byte".
 *
 * Nothing in the loop allocates: the batch arrays, pollfd array and counters are created once.
 *
 * With the `io_uring` backend the same worker instead keeps one READ in flight per receive slot of every
 * port, a POLL_ADD on the wake pipe and a TIMEOUT for ticks, and waits in `io_uring_enter`: reads complete
 * into the slots without a system call each, sends are queued as WRITEs and submitted with the next enter
 * (or `flush()`), and a slot is re-armed once the handler is done with it and its writes completed.
 *
 * @internal
 */
import { type MessagePort, parentPort, receiveMessageOnPort, workerData } from "node:worker_threads"
import type * as FrameHandler from "../FrameHandler.ts"
import type * as FramePool from "../FramePool.ts"
import * as PortCounters from "../PortCounters.ts"
import * as Libc from "./Libc.ts"
import * as Uring from "./Uring.ts"

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
  readonly backend: "syscalls" | "io_uring"
  /** Receive slots per port (io_uring) — `layout.batchSize` is this times the number of ports. */
  readonly rxSlotsPerPort: number
  /** io_uring: use multishot reads with provided buffers when the kernel has them. */
  readonly multishot: boolean
  /** Longest adaptive busy-poll window in microseconds (0: never spin). */
  readonly busyPollUs: number
  /** io_uring: receive-coalescing window in microseconds after a busy wake-up (0: off). */
  readonly coalesceUs: number
  /** `SCHED_FIFO` priority for this thread (0: stay a normal thread). */
  readonly realtimePriority: number
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

const sendNow = (port: number, offset: number, length: number): boolean => {
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

const uring = input.backend === "io_uring"
let ring: Uring.Ring | undefined
const KIND_READ = 1
const KIND_WRITE = 2
const KIND_SPECIAL = 3
const WAKE = ((KIND_SPECIAL << 30) | 1) >>> 0
const TIMER = ((KIND_SPECIAL << 30) | 2) >>> 0
/** Writes in flight per local slot; a receive slot is re-armed only when this is 0 and the handler is done. */
const refs = new Int32Array(layout.slotsPerWorker)
const workerStart = queue * layout.slotsPerWorker * layout.slotSize

/**
 * WRITEs queued since the last `io_uring_enter`. A write to a tap completes inline while it is submitted,
 * so the loop's next enter, which submits them, waits for one completion more than that: it then returns
 * with the next frame read instead of at once with only the writes' completions (which cost a second
 * enter per wake-up).
 */
let writesQueued = 0

const prepOrFlush = (opcode: number, fd: number, address: number, length: number, flags: number, userData: number) => {
  const r = ring!
  if (!Uring.prep(r, opcode, fd, address, length, flags, userData)) {
    counters[wb + PortCounters.WorkerField.polls]!++
    Uring.submit(r, 0)
    writesQueued = 0
    Uring.prep(r, opcode, fd, address, length, flags, userData)
  }
}

const sendQueued = (port: number, offset: number, length: number): boolean => {
  if (port >>> 0 >= nports) {
    counters[wb + PortCounters.WorkerField.handlerErrors]!++
    return false
  }
  const local = Math.floor((offset - workerStart) / layout.slotSize)
  // The frame must lie inside one of this worker's slots, so the slot can be held until the write completes.
  if (
    length <= 0 ||
    local < 0 ||
    local >= layout.slotsPerWorker ||
    offset + length > workerStart + (local + 1) * layout.slotSize
  ) {
    counters[pb[port]! + PortCounters.PortField.txDropped]!++
    return false
  }
  refs[local]!++
  writesQueued++
  prepOrFlush(Uring.OP_WRITE, fds[port]!, base + offset, length, 0, (KIND_WRITE << 30) | (port << 16) | local)
  return true
}

const send = uring ? sendQueued : sendNow

const flush = uring
  ? () => {
      if (ring!.pending > 0) {
        counters[wb + PortCounters.WorkerField.polls]!++
        Uring.submit(ring!, 0)
        writesQueued = 0
      }
    }
  : () => {}

let setupFailed = false
const fail = (message: string) => {
  setupFailed = true
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
      send,
      flush,
      notify: (event: unknown) => input.control.postMessage(event)
    })
  } catch (error) {
    fail(`handler module ${input.handlerUrl} failed to load: ${error instanceof Error ? error.stack : String(error)}`)
    return undefined
  }
}

/**
 * A blocking poll() that took longer than this (ms) slept: a poll() that finds a frame already queued
 * returns in about a microsecond, one that sleeps costs a context switch and a wake-up (well over this).
 */
const SLEPT_MS = 0.005

/**
 * Rounds of a wait loop that find nothing but errors (a port whose device was deleted reports POLLERR
 * forever, or fails every re-armed read at once; a failing poll()) must not become a hot loop: at
 * real-time priority it would starve the core. After 64 fruitless rounds in a row, each further one first
 * sleeps 1 ms on the wake pipe alone (so stopping still works at once), counted in `pollErrors`.
 */
let fruitless = 0
const wakeOnly = new Uint8Array(Libc.POLLFD_SIZE)
new Int32Array(wakeOnly.buffer)[0] = input.wakeFd
new Int16Array(wakeOnly.buffer)[2] = Libc.POLLIN
const backOff = () => {
  if (++fruitless > 64) {
    counters[wb + PortCounters.WorkerField.pollErrors]!++
    c.poll(wakeOnly, 1, 1)
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
  // Adaptive busy polling, as KVM's halt polling: after frames were handled, poll without sleeping for up
  // to `window` µs before blocking. Sleeping costs a context switch, the idle entry and exit (tick stop
  // and restart, `hlt`: VM exits on a virtual machine) and a wake-up per frame; a spin that finds the next
  // frame costs only its own time. The window grows (doubling from 8 µs up to `busyPollUs`) while the
  // blocking waits that follow a failed spin stay shorter than `busyPollUs` (frames come back soon, so a
  // longer spin would have caught them), and drops to 0 as soon as a wait is longer (idle or sparse
  // traffic: spinning would only burn CPU). So the spin never costs more than one window per wake-up.
  const maxWindow = input.busyPollUs / 1000
  let window = 0
  /** performance.now() until which to spin; 0 when the last wake-up handled no frame. */
  let spinUntil = 0

  while (Atomics.load(stop, queue) === 0) {
    // Ticks run about every `timeout` ms whether or not traffic flows (ageing, timers); poll() waits at
    // most until the next one.
    const now = performance.now()
    let wait = timeout
    if (onTick !== undefined) {
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
    let n: number
    // Whether this wake-up ended a real sleep: then one frame is the likely harvest, and the `read()` that
    // would only report EAGAIN is skipped (the next poll() returns at once if more came meanwhile). When
    // poll() returned without sleeping, frames were already waiting: read until EAGAIN, in batches.
    let sparse = false
    if (now < spinUntil) {
      // poll() with a zero timeout arms no timer and joins no wait queue: a cheap look at every fd.
      counters[wb + PortCounters.WorkerField.spins]!++
      n = c.poll(pollBuf, npoll, 0)
      if (n === 0) continue
    } else {
      counters[wb + PortCounters.WorkerField.polls]!++
      const afterFrames = spinUntil > 0
      n = c.poll(pollBuf, npoll, wait)
      const waited = performance.now() - now
      sparse = waited > SLEPT_MS
      if (afterFrames && maxWindow > 0) {
        // The gap between the last batch and the next frame decides the next window.
        const gap = waited + window
        if (n <= 0 || gap > maxWindow) window = 0
        else window = window === 0 ? Math.min(0.008, maxWindow) : Math.min(window * 2, maxWindow)
      }
    }
    spinUntil = 0
    if (n < 0) {
      if (c.errno() !== Libc.EINTR) {
        counters[wb + PortCounters.WorkerField.pollErrors]!++
        backOff()
      }
      continue
    }
    if (n === 0) {
      counters[wb + PortCounters.WorkerField.pollTimeouts]!++
      continue
    }
    const woke = pollEv[nports * 4 + 3]! !== 0
    if (woke) {
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
    let handled = false
    let oversize = false
    for (let p = 0; p < nports; p++) {
      if (pollEv[p * 4 + 3]! === 0) continue
      const fd = fds[p]!
      const cb = pb[p]!
      let count = 0
      let bytesIn = 0
      const limit = sparse ? 1 : maxBatch
      while (count < limit) {
        const r = c.read(fd, base + offsets[count]!, readCapacity)
        if (r < 0) {
          if (c.errno() === Libc.EAGAIN) counters[cb + PortCounters.PortField.rxEagain]!++
          else counters[cb + PortCounters.PortField.rxErrors]!++
          break
        }
        if (r === 0) break
        if (r > layout.frameCapacity) {
          counters[cb + PortCounters.PortField.rxOversize]!++
          oversize = true
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
      handled = true
    }
    // With a zero window this still marks "frames were handled", so the next blocking wait is timed.
    if (handled) spinUntil = performance.now() + window
    if (handled || woke || oversize) fruitless = 0
    else backOff()
  }
  try {
    handler.onClose?.()
  } catch {
    counters[wb + PortCounters.WorkerField.handlerErrors]!++
  }
}

const runUring = (handler: FrameHandler.Handler, r: Uring.Ring) => {
  const perPort = input.rxSlotsPerPort
  const batches: Array<FrameHandler.Batch> = []
  const batchSlots: Array<Int32Array> = []
  for (let p = 0; p < nports; p++) {
    batches.push({ port: p, count: 0, offsets: new Int32Array(perPort), lengths: new Int32Array(perPort) })
    batchSlots.push(new Int32Array(perPort))
  }
  // Who owns each receive slot: the kernel (a read may fill it), the handler (in the current batch), or
  // nobody yet (batch over, writes from it still in flight).
  const KERNEL = 0
  const HANDLER = 1
  const WAITING = 2
  const held = new Uint8Array(layout.slotsPerWorker)
  const rxSlots = perPort * nports
  const MULTISHOT = 0xffff
  // Per port: a provided-buffer ring + one multishot READ (Linux 6.7+), or, where that is unavailable,
  // one plain READ in flight per slot (every pending read on the same file is woken per frame: slower).
  const legacy = new Uint8Array(nports)
  const needArm = new Uint8Array(nports)
  const starved = new Uint8Array(nports)
  /** Buffers each port's ring holds for the kernel (provided, not yet consumed by a read). */
  const inRing = new Int32Array(nports)
  const dirty = new Uint8Array(nports)
  const bufferRings: Array<Uring.BufferRing | undefined> = []
  const slotAddress = (local: number) => base + slotOffset0 + local * layout.slotSize
  /**
   * Per port: whether a read is armed, i.e. a frame arriving there completes something: the multishot READ
   * is active (multishot ports), or at least one plain READ is in flight (legacy ports).
   */
  const multishotArmed = new Uint8Array(nports)
  const readsInFlight = new Int32Array(nports)
  const allReadsArmed = () => {
    for (let p = 0; p < nports; p++) {
      if (legacy[p] === 1 ? readsInFlight[p]! === 0 : multishotArmed[p] === 0) return false
    }
    return true
  }
  const armRead = (local: number) => {
    const p = Math.floor(local / perPort)
    readsInFlight[p]!++
    prepOrFlush(Uring.OP_READ, fds[p]!, slotAddress(local), readCapacity, 0, (KIND_READ << 30) | (p << 16) | local)
  }
  const armMultishot = (p: number) => {
    const userData = (KIND_READ << 30) | (p << 16) | MULTISHOT
    multishotArmed[p] = 1
    if (!Uring.prepReadMultishot(r, fds[p]!, p, userData)) {
      counters[wb + PortCounters.WorkerField.polls]!++
      Uring.submit(r, 0)
      writesQueued = 0
      Uring.prepReadMultishot(r, fds[p]!, p, userData)
    }
  }
  /** Gives a receive slot back to the kernel once the handler and every write from it are done. */
  const recycle = (local: number) => {
    const p = Math.floor(local / perPort)
    if (legacy[p] === 1) {
      armRead(local)
    } else {
      Uring.provideBuffer(bufferRings[p]!, slotAddress(local), readCapacity, local)
      inRing[p]!++
      dirty[p] = 1
    }
  }
  const goLegacy = (p: number) => {
    legacy[p] = 1
    counters[wb + PortCounters.WorkerField.ioMode] = 1
    for (let local = p * perPort; local < (p + 1) * perPort; local++) if (held[local] === KERNEL) armRead(local)
  }
  const pollWake = () => prepOrFlush(Uring.OP_POLL_ADD, input.wakeFd, 0, 0, Libc.POLLIN, WAKE)
  // struct __kernel_timespec { int64 tv_sec; int64 tv_nsec } for the tick timer (kernels without
  // IORING_ENTER_EXT_ARG only). The kernel reads it at every re-arm through an address taken once, so it
  // lives in a SharedArrayBuffer, whose backing store is outside the JS heap. (With a 16-byte Uint8Array
  // here, some end-to-end runs saw the timer complete at once, ETIME or EINVAL, thousands of times a
  // second: a spinning loop. The cause was not pinned down; the EXT_ARG path uses no timer request.)
  const timespec = new Uint8Array(new SharedArrayBuffer(16))
  const ts = new DataView(timespec.buffer)
  ts.setUint32(0, Math.floor(input.pollTimeoutMs / 1000), true)
  ts.setUint32(8, (input.pollTimeoutMs % 1000) * 1_000_000, true)
  const timespecAddress = c.addressOf(timespec)
  const armTimer = () => prepOrFlush(Uring.OP_TIMEOUT, -1, timespecAddress, 1, 0, TIMER)
  const wakeBuf = new Uint8Array(64)
  const onControl = handler.onControl
  const onTick = handler.onTick

  const ringEntries = 2 ** Math.ceil(Math.log2(perPort))
  for (let p = 0; p < nports; p++) {
    const br = input.multishot ? Uring.registerBufferRing(r, p, ringEntries) : "multishot reads disabled"
    bufferRings.push(typeof br === "string" ? undefined : br)
    if (typeof br === "string") {
      goLegacy(p)
      continue
    }
    for (let local = p * perPort; local < (p + 1) * perPort; local++) recycle(local)
    Uring.publishBuffers(br)
    dirty[p] = 0
    armMultishot(p)
  }
  parentPort?.postMessage({ type: "uring", fd: r.fd, maps: r.maps })
  let multishotPorts = 0
  for (let p = 0; p < nports; p++) if (legacy[p] === 0) multishotPorts++
  counters[wb + PortCounters.WorkerField.ioMode] = multishotPorts === nports ? 2 : 1
  pollWake()
  // Ticks: where the kernel has IORING_ENTER_EXT_ARG each enter's wait is bounded by the time to the next
  // tick (no request, nothing for the kernel to read later); elsewhere a TIMEOUT request stands in. Either
  // also bounds every wait, so the stop flag is seen even if a wake-up were lost.
  const timed = r.extArg
  const period = input.pollTimeoutMs
  let nextTick = performance.now() + period
  if (!timed) armTimer()
  const tick = (now: number) => {
    counters[wb + PortCounters.WorkerField.pollTimeouts]!++
    if (onTick !== undefined) {
      try {
        onTick(now)
      } catch {
        counters[wb + PortCounters.WorkerField.handlerErrors]!++
      }
    }
  }

  let stopping = false
  let failures = 0
  // Receive coalescing (see TapPorts.Options.coalesceUs): after a wake-up that found two or more frames,
  // wait for a batch (up to half the receive slots of a port, at most 32) or the window, whichever comes
  // first. With DEFER_TASKRUN the kernel does not wake the thread before that many completions are queued,
  // so frames arriving within the window cost no wake-up each, and the batch's writes go out back to back
  // (one RPS interrupt to the receiving core for several frames instead of one each). After a wake-up with
  // at most one frame the wait is the plain one: sparse traffic is never held.
  const coalesceMs = input.coalesceUs / 1000
  const coalesceFrames = Math.max(2, Math.min(32, input.rxSlotsPerPort >>> 1))
  let coalescing = false
  while (!stopping && Atomics.load(stop, queue) === 0) {
    counters[wb + PortCounters.WorkerField.polls]!++
    // Wait past the writes' own completions, or coalesce, only while every port has a read armed: a port
    // whose reads wait for buffers that those very write completions give back (a flood used them all)
    // must have its completions reaped at once, else it would stay unread until the next tick.
    const armed = allReadsArmed()
    const batch = armed && coalescing && timed
    const want = armed ? writesQueued + (batch ? coalesceFrames : 1) : 1
    writesQueued = 0
    let rc: number
    if (timed) {
      const now = performance.now()
      if (now >= nextTick) {
        nextTick = now + period
        tick(now)
      }
      if (batch) counters[wb + PortCounters.WorkerField.coalescedWaits]!++
      rc = Uring.submitAndWait(r, want, batch ? Math.min(coalesceMs, nextTick - now) : nextTick - now)
    } else {
      rc = Uring.submit(r, want)
    }
    // ETIME: the wait reached the next tick; completions that came meanwhile (fewer than wanted) are
    // reaped below all the same.
    if (rc < 0 && c.errno() !== Uring.ETIME) {
      if (c.errno() !== Libc.EINTR) {
        counters[wb + PortCounters.WorkerField.pollErrors]!++
        if (++failures > 100) break // a broken ring: give up instead of spinning
      }
      continue
    }
    failures = 0
    let good = false
    let head = Atomics.load(r.ring, r.cqHead)
    const tail = Atomics.load(r.ring, r.cqTail)
    while (head !== tail) {
      const w = r.cqes + (head & r.cqMask) * 4
      const ud = r.ring[w]!
      const res = r.ring[w + 2]! | 0
      head = (head + 1) >>> 0
      const kind = ud >>> 30
      if (kind === KIND_READ) {
        const p = (ud >>> 16) & 0x3ff
        let local = ud & 0xffff
        if (local === MULTISHOT) {
          const flags = r.ring[w + 3]!
          if ((flags & Uring.CQE_F_MORE) === 0) {
            needArm[p] = 1
            multishotArmed[p] = 0
          }
          if ((flags & Uring.CQE_F_BUFFER) === 0) {
            // No buffer consumed: out of buffers, unsupported, or cancelled at shutdown.
            if (res === -Uring.ENOBUFS) {
              counters[pb[p]! + PortCounters.PortField.rxEagain]!++
              starved[p] = 1
            } else if (res === -Uring.EINVAL) {
              goLegacy(p)
            } else if (res < 0 && res !== -Uring.ECANCELED) {
              counters[pb[p]! + PortCounters.PortField.rxErrors]!++
            }
            continue
          }
          local = flags >>> 16
          inRing[p]!--
        } else {
          readsInFlight[p]!--
        }
        if (res > layout.frameCapacity) {
          counters[pb[p]! + PortCounters.PortField.rxOversize]!++
          recycle(local)
        } else if (res > 0) {
          good = true
          const b = batches[p]!
          b.offsets[b.count] = slotOffset0 + local * layout.slotSize
          b.lengths[b.count] = res
          batchSlots[p]![b.count] = local
          b.count++
          held[local] = HANDLER
        } else if (res !== -Uring.ECANCELED) {
          counters[pb[p]! + PortCounters.PortField.rxErrors]!++
          recycle(local)
        }
      } else if (kind === KIND_WRITE) {
        const p = (ud >>> 16) & 0x3ff
        const local = ud & 0xffff
        const cb = pb[p]!
        if (res > 0) {
          good = true
          counters[cb + PortCounters.PortField.txFrames]!++
          counters[cb + PortCounters.PortField.txBytes]! += res
        } else if (res === -Libc.EAGAIN) {
          counters[cb + PortCounters.PortField.txDropped]!++
        } else {
          counters[cb + PortCounters.PortField.txErrors]!++
        }
        // Only a slot whose batch is over and that waited for its writes goes back to the kernel: a send
        // from a slot the kernel owns (a handler bug) must not hand the same buffer out twice.
        if (--refs[local]! === 0 && local < rxSlots && held[local] === WAITING) {
          held[local] = KERNEL
          recycle(local)
        }
      } else if (ud === WAKE) {
        good = true
        counters[wb + PortCounters.WorkerField.wakes]!++
        while (c.readInto(input.wakeFd, wakeBuf, wakeBuf.length) > 0) {
          // drain
        }
        if (Atomics.load(stop, queue) !== 0) {
          stopping = true
        } else {
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
          pollWake()
        }
      } else if (ud === TIMER) {
        if (res === -Uring.ETIME) {
          good = true
          tick(performance.now())
        } else {
          // A timer that fails at once (it should not) must not keep the loop busy: counted, and left to the
          // fruitless-round back-off below when nothing else happened.
          counters[wb + PortCounters.WorkerField.pollErrors]!++
        }
        armTimer()
      }
    }
    Atomics.store(r.ring, r.cqHead, head)
    if (good) fruitless = 0
    else backOff()
    if (stopping) break
    let framesThisRound = 0
    for (let p = 0; p < nports; p++) {
      const b = batches[p]!
      const count = b.count
      if (count === 0) continue
      framesThisRound += count
      const cb = pb[p]!
      let bytesIn = 0
      for (let i = 0; i < count; i++) bytesIn += b.lengths[i]!
      counters[cb + PortCounters.PortField.rxFrames]! += count
      counters[cb + PortCounters.PortField.rxBytes]! += bytesIn
      counters[cb + PortCounters.PortField.rxBatches]!++
      counters[cb + PortCounters.PortField.batchHistogram + Math.min(31 - Math.clz32(count), 7)]!++
      try {
        handler.onBatch(b)
      } catch {
        counters[wb + PortCounters.WorkerField.handlerErrors]!++
      }
      const slots = batchSlots[p]!
      for (let i = 0; i < count; i++) {
        const local = slots[i]!
        if (refs[local] === 0) {
          held[local] = KERNEL
          recycle(local)
        } else {
          held[local] = WAITING
        }
      }
      b.count = 0
    }
    coalescing = coalesceMs > 0 && framesThisRound >= 2
    for (let p = 0; p < nports; p++) {
      if (legacy[p] === 1) continue
      const provided = dirty[p] === 1
      if (provided) {
        Uring.publishBuffers(bufferRings[p]!)
        dirty[p] = 0
      }
      // After running out of buffers, re-arm only once the ring holds some again (else it would fail again
      // at once). Whether any came back *in this round* is not the test: when the out-of-buffers completion
      // is reaped a round after the last buffers were given back, nothing comes back any more and the port
      // would never be read again (seen under a flood: the director stopped forwarding for good).
      if (needArm[p] === 1 && (starved[p] === 0 || inRing[p]! > 0)) {
        needArm[p] = 0
        starved[p] = 0
        armMultishot(p)
      }
    }
  }
  try {
    handler.onClose?.()
  } catch {
    counters[wb + PortCounters.WorkerField.handlerErrors]!++
  }
}

if (uring) {
  for (const fd of fds) {
    if (!Uring.setBlocking(fd)) fail(`io_uring: cannot clear O_NONBLOCK on fd ${fd}`)
  }
  const created = Uring.create(
    Math.min(32768, 2 ** Math.ceil(Math.log2(layout.batchSize * 2 + layout.scratchSlots + 8)))
  )
  if (typeof created === "string") fail(created)
  else ring = created
}

const handler = setupFailed ? undefined : await load()
if (handler !== undefined && input.realtimePriority > 0) {
  // Only this thread (pid 0 = the caller): the control plane and V8's helper threads stay normal, so a
  // busy forwarder can never starve the thread that would stop it.
  const ok = c.schedSetscheduler(0, Libc.SCHED_FIFO, Int32Array.of(input.realtimePriority)) === 0
  counters[wb + PortCounters.WorkerField.realtimePriority] = ok ? input.realtimePriority : -c.errno()
}
if (handler === undefined && ring !== undefined) Uring.release(ring.fd, ring.maps)
if (handler !== undefined) {
  parentPort?.postMessage({ type: "ready" })
  if (ring !== undefined) {
    // The ring is released (unmapped, fd closed: in-flight reads cancelled) by the owning thread after
    // this worker exits, whether it returns normally or dies.
    runUring(handler, ring)
  } else {
    run(handler)
  }
}
input.control.close()
