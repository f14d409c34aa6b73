/**
 * A set of TAP ports served by one I/O worker thread per queue, owned by an Effect `Scope`.
 *
 * Building the service (`TapPorts.make` in a scope, or `TapPorts.layer`) opens the TAP devices (inside a
 * network namespace when `netns` is given, from a short-lived worker that calls `setns`), allocates the
 * shared frame pool and counters, and starts the workers, each running the configured
 * {@link FrameHandler} over its queue of every port. Closing the scope stops everything in reverse order:
 * each worker's stop flag is set and one byte is written to its wake pipe, so its `poll()` returns at once;
 * the worker is joined (bounded by `stopTimeoutMs`, after which it is terminated); then the pipes and the
 * TAP fds are closed. No thread is ever parked in a kernel `read()`, so the process exits cleanly.
 *
 * @module
 */
import { readlinkSync } from "node:fs"
import { MessageChannel, type MessagePort, Worker } from "node:worker_threads"
import { Context, Effect, Layer, Queue, Schema, type Scope } from "effect"
import * as FrameHandler from "./FrameHandler.ts"
import * as FramePool from "./FramePool.ts"
import * as Libc from "./internal/Libc.ts"
import * as Uring from "./internal/Uring.ts"
import * as PortCounters from "./PortCounters.ts"
import * as TapDevice from "./TapDevice.ts"

/**
 * One port: a TAP interface, opened with `queues` queues.
 *
 * @example
 * ```ts
 * const port: TapPorts.PortSpec = { name: "tapc", mtu: 1500 }
 * ```
 */
export interface PortSpec {
  readonly name: string
  readonly mtu?: number
  readonly mac?: string
  readonly up?: boolean
}

/**
 * Everything `TapPorts` needs to start.
 *
 * @example
 * ```ts
 * const options: TapPorts.Options = { netns: "lab", queues: 2, ports: [{ name: "tapc" }], handler: { module: url } }
 * ```
 */
export interface Options {
  readonly ports: ReadonlyArray<PortSpec>
  /** Queues per port (= worker threads). More than one opens the devices with `IFF_MULTI_QUEUE`. Default 1. */
  readonly queues?: number
  /** Network namespace (name under /var/run/netns, or a path) to create/attach the devices in. */
  readonly netns?: string
  /** The frame handler module run inside every worker, and its options. */
  readonly handler: { readonly module: URL | string; readonly options?: unknown }
  /** Frames per batch (receive slots per worker). Default 64. */
  readonly batchSize?: number
  /** Bytes reserved before every frame for encapsulation. Default 64. */
  readonly headroom?: number
  /** Slots per worker for frames the handler originates. Default 8. */
  readonly scratchSlots?: number
  /** Longest `poll()` wait, and the period of the handler's `onTick`. Default 1000 ms. */
  readonly pollTimeoutMs?: number
  /** How long to wait for a worker to exit before terminating it. Default 5000 ms. */
  readonly stopTimeoutMs?: number
  /**
   * How workers talk to the kernel. `syscalls` (default): `poll()` + one `read()`/`write()` per frame.
   * `io_uring`: a multishot READ per port (or a READ kept in flight per receive slot) and WRITEs queued,
   * all submitted and reaped by one `io_uring_enter` per wake-up that also waits for the next frame — far
   * fewer system calls per frame; needs io_uring (Linux 5.6+, not disabled by `kernel.io_uring_disabled` or
   * a seccomp profile). `batchSize` receive slots are then kept per port. The kernel drops a closed ring's
   * references asynchronously, so a non-persistent device may outlive the scope by a few milliseconds.
   * `auto`: `io_uring` where this process can set up a ring, else `syscalls` (see {@link resolveBackend}).
   */
  readonly backend?: Backend
  /** Capacity of the `events` queue. Default 1024. */
  readonly eventCapacity?: number
  /**
   * io_uring only: use one multishot READ per port over a provided-buffer ring (Linux 6.7+; default true).
   * Without it, or on older kernels (detected), one READ per slot is kept in flight instead.
   */
  readonly ioUringMultishot?: boolean
  /**
   * Longest adaptive busy-poll window in microseconds (`syscalls` backend). After a batch the worker keeps
   * polling without sleeping for a window that grows while frames keep coming back within it and drops to
   * 0 when they do not, so idle or sparse traffic never spins. 0 disables it. Default
   * {@link DEFAULT_BUSY_POLL_US}, or the `LVS_TAP_BUSY_POLL_US` environment variable when set.
   */
  readonly busyPollUs?: number
  /**
   * Adaptive receive coalescing in microseconds (`io_uring` backend; a NIC's `rx-usecs` with adaptive
   * moderation): after a wake-up that found two or more frames, the next wait asks the kernel for a
   * batch and returns once it is there or after this window, whichever is first; after a wake-up that found
   * at most one frame the worker waits for the next frame as usual, so sparse traffic is never held. Under
   * load this trades at most one window of latency for fewer wake-ups and back-to-back writes (the kernel
   * then sends one RPS interrupt for several frames). 0 disables it. Default {@link DEFAULT_COALESCE_US},
   * or the `LVS_TAP_COALESCE_US` environment variable when set.
   */
  readonly coalesceUs?: number
  /**
   * Run every I/O worker as a `SCHED_FIFO` thread of this priority (1-99; needs `CAP_SYS_NICE`). A
   * normal-priority forwarder loses its core to `ksoftirqd` when a flood arrives: the kernel then spends the
   * core bridging frames into the tap only to drop them at its full queue (receive livelock). At real-time
   * priority the worker keeps draining, and the excess is dropped before that work. The worker still
   * sleeps in `poll()` when idle; the kernel's real-time throttling (`sched_rt_runtime_us`) leaves other
   * tasks at least 5% of the core. Default 0 (normal thread), or `LVS_TAP_REALTIME_PRIORITY` when set.
   */
  readonly realtimePriority?: number
  /** Minimum `txqueuelen` of every port (the kernel's queue in front of the reader). Default 4096. */
  readonly txQueueLength?: number
}

/**
 * A TAP I/O backend choice: `syscalls`, `io_uring`, or `auto` (io_uring where available).
 *
 * @example
 * ```ts
 * const backend: TapPorts.Backend = "auto"
 * ```
 */
export type Backend = "syscalls" | "io_uring" | "auto"

/**
 * The backend `auto` stands for in this process: `io_uring` when an io_uring can be set up (Linux 5.4+,
 * not blocked by `kernel.io_uring_disabled` or seccomp), else `syscalls`. `LVS_TAP_BACKEND=syscalls` or
 * `=io_uring` in the environment overrides `auto` (for comparisons and for hosts where io_uring misbehaves).
 *
 * @example
 * ```ts
 * TapPorts.resolveBackend("auto") // "io_uring" on Linux 6.x
 * ```
 */
export const resolveBackend = (backend: Backend): "syscalls" | "io_uring" => {
  if (backend !== "auto") return backend
  const env = process.env.LVS_TAP_BACKEND
  if (env === "syscalls" || env === "io_uring") return env
  return Uring.available() ? "io_uring" : "syscalls"
}

/**
 * Default longest busy-poll window (µs): 0, off. Measured in the end-to-end lab, spinning filled the
 * director core without raising the loss-free rate (see the README), so it is opt-in.
 *
 * @example
 * ```ts
 * TapPorts.make({ ports, handler, busyPollUs: TapPorts.DEFAULT_BUSY_POLL_US })
 * ```
 */
export const DEFAULT_BUSY_POLL_US = 0

/**
 * Default receive-coalescing window (µs): 50. Measured in the lab with `bench/e2e/profile.ts` (see the README),
 * it cut the director core's busy time per forwarded NAT frame by 18-37% at 60 and 90 kpps; sparse traffic is
 * not held (the window applies only after a busy wake-up).
 *
 * @example
 * ```ts
 * TapPorts.make({ ports, handler, coalesceUs: TapPorts.DEFAULT_COALESCE_US })
 * ```
 */
export const DEFAULT_COALESCE_US = 50

/** A non-negative number from the environment, or `fallback` when unset or malformed. */
const fromEnv = (name: string, fallback: number): number => {
  const env = process.env[name]
  const value = env === undefined || env === "" ? fallback : Number(env)
  return Number.isFinite(value) && value >= 0 ? value : fallback
}

/**
 * Why `TapPorts` could not start: the step and a message naming the field, device or errno.
 *
 * @example
 * ```ts
 * TapPorts.make(options).pipe(Effect.catchTag("TapPortsError", (e) => Effect.logError(e.step, e.message)))
 * ```
 */
export class TapPortsError extends Schema.TaggedError<TapPortsError>()("TapPortsError", {
  step: Schema.String,
  message: Schema.String
}) {}

/**
 * An open port as the service reports it.
 *
 * @example
 * ```ts
 * const fdOfQueue0 = ports.ports[0]!.fds[0]
 * ```
 */
export interface Port extends FrameHandler.PortInfo {
  /** One fd per queue (owned by the service: do not close). */
  readonly fds: ReadonlyArray<number>
}

/**
 * The running ports.
 *
 * @example
 * ```ts
 * const service: TapPorts.Service = yield* TapPorts.TapPorts
 * yield* service.control({ type: "reload" })
 * ```
 */
export interface Service {
  readonly ports: ReadonlyArray<Port>
  /** The backend the workers run (`auto` resolved). */
  readonly backend: "syscalls" | "io_uring"
  readonly layout: FramePool.Layout
  /** The shared frame pool (read-only use from the control plane, e.g. for inspection in tests). */
  readonly pool: Uint8Array
  /** `/proc/thread-self/ns/net` of the thread that created the devices, e.g. `net:[4026532281]`. */
  readonly netnsId: string
  /** A copy of the I/O counters. */
  readonly counters: Effect.Effect<PortCounters.Snapshot>
  /** Handler statistics (`FrameHandler.Context.stats`) summed over workers. */
  readonly handlerStats: Effect.Effect<ReadonlyArray<number>>
  /** Posts a message to every worker's handler (`onControl`), delivered before the next batch. */
  readonly control: (message: unknown) => Effect.Effect<void>
  /** Whether each queue's worker thread is still running (false after it crashed or exited). */
  readonly running: Effect.Effect<ReadonlyArray<boolean>>
  /**
   * Events handlers posted with `notify`, from every worker, in arrival order. A dropping queue of
   * `eventCapacity`: when nobody reads, the newest events are dropped and the data plane never waits.
   */
  readonly events: Queue.Dequeue<unknown>
}

const isSource = import.meta.url.endsWith(".ts")
const workerUrl = (name: string) => new URL(`./internal/${name}.${isSource ? "ts" : "js"}`, import.meta.url)
const workerExecArgv = isSource ? ["--conditions=@lvs-ts/source"] : undefined

const fail = (step: string, message: string) => new TapPortsError({ step, message })

const validate = (options: Options): TapPortsError | undefined => {
  if (options.ports.length === 0) return fail("validate", "ports is empty: at least one TAP port is needed")
  const names = new Set<string>()
  for (const port of options.ports) {
    const problem = TapDevice.validate({ ...port, queues: options.queues ?? 1 })
    if (problem !== undefined) return fail("validate", `port ${JSON.stringify(port.name)}: ${problem}`)
    if (names.has(port.name)) return fail("validate", `port ${JSON.stringify(port.name)} is listed twice`)
    names.add(port.name)
  }
  if (options.backend === "io_uring" || options.backend === "auto") {
    // Completion tags carry the port in 10 bits and the slot in 16 (0xffff marks a multishot read).
    const slots =
      (options.batchSize ?? FramePool.DEFAULT_BATCH_SIZE) * options.ports.length + (options.scratchSlots ?? 8)
    if (options.ports.length > 1023)
      return fail("validate", `io_uring supports at most 1023 ports, not ${options.ports.length}`)
    if (slots >= 0xffff)
      return fail("validate", `io_uring: batchSize x ports + scratchSlots = ${slots} must stay below 65535`)
  }
  const rt = options.realtimePriority ?? 0
  if (!Number.isInteger(rt) || rt < 0 || rt > 99) {
    return fail("validate", `realtimePriority ${rt} is not an integer in 0..99 (0: a normal thread)`)
  }
  const spin = options.busyPollUs ?? 0
  if (!Number.isFinite(spin) || spin < 0 || spin > 1_000_000) {
    return fail("validate", `busyPollUs ${spin} is not a number of microseconds in 0..1000000`)
  }
  const coalesce = options.coalesceUs ?? 0
  if (!Number.isFinite(coalesce) || coalesce < 0 || coalesce > 100_000) {
    return fail("validate", `coalesceUs ${coalesce} is not a number of microseconds in 0..100000`)
  }
  const timeout = options.pollTimeoutMs ?? 1000
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > 60_000) {
    return fail("validate", `pollTimeoutMs ${timeout} is not an integer in 1..60000`)
  }
  return undefined
}

interface Opened {
  readonly devices: ReadonlyArray<TapDevice.Device>
  readonly netnsId: string
}

const openDevices = (specs: ReadonlyArray<TapDevice.Spec>, netns: string | undefined) =>
  Effect.callback<Opened, TapPortsError>((resume) => {
    const worker = new Worker(workerUrl("OpenerWorker"), {
      workerData: { netns, specs },
      ...(workerExecArgv ? { execArgv: workerExecArgv } : {})
    })
    let settled = false
    worker.on(
      "message",
      (message: { type: string; devices?: Array<TapDevice.Device>; netnsId?: string; message?: string }) => {
        settled = true
        if (message.type === "opened") {
          resume(Effect.succeed({ devices: message.devices!, netnsId: message.netnsId! }))
        } else {
          resume(Effect.fail(fail("open", message.message ?? "unknown error")))
        }
      }
    )
    worker.on("error", (error) => {
      if (!settled) resume(Effect.fail(fail("open", `opener worker failed: ${error.message}`)))
      settled = true
    })
    worker.on("exit", (code) => {
      if (!settled) resume(Effect.fail(fail("open", `opener worker exited with code ${code} before answering`)))
      settled = true
    })
  })

interface RunningWorker {
  readonly worker: Worker
  readonly channel: MessagePort
  readonly wakeRead: number
  readonly wakeWrite: number
  readonly exited: Promise<void>
  readonly hasExited: () => boolean
  /** The worker's io_uring (fd and mappings), released here once the worker has exited. */
  readonly uring: () => { readonly fd: number; readonly maps: ReadonlyArray<readonly [number, number]> } | undefined
}

const wakeByte = new Uint8Array([1])

const startWorker = (input: {
  readonly queue: number
  readonly ports: ReadonlyArray<FrameHandler.PortInfo>
  readonly fds: ReadonlyArray<number>
  readonly pool: Uint8Array
  readonly layout: FramePool.Layout
  readonly counters: Float64Array
  readonly stats: Float64Array
  readonly stop: Int32Array
  readonly handlerUrl: string
  readonly handlerOptions: unknown
  readonly pollTimeoutMs: number
  readonly backend: "syscalls" | "io_uring"
  readonly rxSlotsPerPort: number
  readonly multishot: boolean
  readonly busyPollUs: number
  readonly coalesceUs: number
  readonly realtimePriority: number
  readonly onEvent: (event: unknown) => void
}) =>
  Effect.callback<RunningWorker, TapPortsError>((resume) => {
    const c = Libc.libc()
    const pipe = new Int32Array(2)
    if (c.pipe2(pipe, Libc.O_NONBLOCK | Libc.O_CLOEXEC) < 0) {
      resume(Effect.fail(fail("pipe2", Libc.describeErrno(c.errno()))))
      return
    }
    const { port1, port2 } = new MessageChannel()
    const worker = new Worker(workerUrl("TapWorker"), {
      workerData: {
        queue: input.queue,
        ports: input.ports,
        fds: input.fds,
        pool: input.pool.buffer,
        layout: input.layout,
        counters: input.counters.buffer,
        stats: input.stats.buffer,
        stop: input.stop.buffer,
        wakeFd: pipe[0]!,
        control: port2,
        handlerUrl: input.handlerUrl,
        handlerOptions: input.handlerOptions,
        pollTimeoutMs: input.pollTimeoutMs,
        backend: input.backend,
        rxSlotsPerPort: input.rxSlotsPerPort,
        multishot: input.multishot,
        busyPollUs: input.busyPollUs,
        coalesceUs: input.coalesceUs,
        realtimePriority: input.realtimePriority
      },
      transferList: [port2],
      ...(workerExecArgv ? { execArgv: workerExecArgv } : {})
    })
    let hasExited = false
    const exited = new Promise<void>((resolve) =>
      worker.once("exit", () => {
        hasExited = true
        resolve()
      })
    )
    let settled = false
    const cleanup = () => {
      c.close(pipe[0]!)
      c.close(pipe[1]!)
      port1.close()
    }
    let uring: { fd: number; maps: ReadonlyArray<readonly [number, number]> } | undefined
    worker.on("message", (message: { type: string; fd?: number; maps?: Array<[number, number]> }) => {
      if (message.type === "uring") uring = { fd: message.fd!, maps: message.maps! }
    })
    worker.once("message", (message: { type: string; message?: string }) => {
      if (settled) return
      settled = true
      if (message.type === "ready") {
        // Handler events come back on the control channel; unref'd so it never keeps the process alive.
        port1.on("message", input.onEvent)
        port1.unref()
        resume(
          Effect.succeed({
            worker,
            channel: port1,
            wakeRead: pipe[0]!,
            wakeWrite: pipe[1]!,
            exited,
            hasExited: () => hasExited,
            uring: () => uring
          })
        )
      } else {
        void exited.then(cleanup)
        resume(Effect.fail(fail("handler", message.message ?? "unknown error")))
      }
    })
    worker.on("error", (error) => {
      if (settled) return
      settled = true
      void exited.then(cleanup)
      resume(Effect.fail(fail("worker", `queue ${input.queue} worker failed: ${error.message}`)))
    })
    worker.once("exit", (code) => {
      if (settled) return
      settled = true
      cleanup()
      resume(Effect.fail(fail("worker", `queue ${input.queue} worker exited with code ${code} before it was ready`)))
    })
  })

const stopWorker = (running: RunningWorker, stop: Int32Array, queue: number, timeoutMs: number) =>
  Effect.promise(async () => {
    const c = Libc.libc()
    Atomics.store(stop, queue, 1)
    c.writeFrom(running.wakeWrite, wakeByte, 1)
    let timer: ReturnType<typeof setTimeout> | undefined
    const timedOut = await Promise.race([
      running.exited.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), timeoutMs)
      })
    ])
    clearTimeout(timer)
    if (timedOut) {
      // terminate() only takes effect when the thread is back in JavaScript; never wait on it forever.
      await Promise.race([running.worker.terminate(), new Promise((resolve) => setTimeout(resolve, timeoutMs))])
    }
    // Messages posted before the worker exited are delivered by now; release its ring (if any).
    await new Promise((resolve) => setImmediate(resolve))
    const uring = running.uring()
    if (uring !== undefined) Uring.release(uring.fd, uring.maps)
    c.close(running.wakeRead)
    c.close(running.wakeWrite)
    running.channel.close()
  })

/**
 * Opens the ports and starts the workers in the current scope; closing the scope stops and closes all.
 *
 * @example
 * ```ts
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const ports = yield* TapPorts.make({
 *       netns: "lab-director",
 *       ports: [{ name: "tap0", mtu: 1500 }],
 *       handler: { module: new URL("./L2Responder.ts", import.meta.url), options: responderOptions }
 *     })
 *     yield* Effect.sleep("10 seconds")
 *     console.log(yield* ports.counters)
 *   })
 * )
 * ```
 */
export const make = (options: Options): Effect.Effect<Service, TapPortsError, Scope.Scope> =>
  Effect.gen(function* () {
    const invalid = validate(options)
    if (invalid !== undefined) return yield* invalid
    const queues = options.queues ?? 1
    const txQueueLength = options.txQueueLength ?? TapDevice.DEFAULT_TX_QUEUE_LENGTH
    const specs: Array<TapDevice.Spec> = options.ports.map((port) => ({ ...port, queues, txQueueLength }))
    const opened = yield* Effect.acquireRelease(openDevices(specs, options.netns), (opened) =>
      Effect.sync(() => {
        for (const device of opened.devices) TapDevice.close(device)
      })
    )
    const ports: Array<Port> = opened.devices.map((device, index) => ({
      index,
      name: device.name,
      ifindex: device.ifindex,
      mac: device.mac,
      mtu: device.mtu,
      fds: device.fds
    }))
    const backend = resolveBackend(options.backend ?? "syscalls")
    const rxSlotsPerPort = options.batchSize ?? FramePool.DEFAULT_BATCH_SIZE
    let layout: FramePool.Layout
    try {
      layout = FramePool.layout({
        mtu: Math.max(...ports.map((port) => port.mtu)),
        headroom: options.headroom ?? FramePool.DEFAULT_HEADROOM,
        // io_uring keeps every port's receive slots in flight at once, so each port needs its own.
        batchSize: backend === "io_uring" ? rxSlotsPerPort * ports.length : rxSlotsPerPort,
        scratchSlots: options.scratchSlots ?? 8,
        workers: queues
      })
    } catch (error) {
      return yield* fail("validate", (error as Error).message)
    }
    const pool = FramePool.allocate(layout)
    const counters = new Float64Array(new SharedArrayBuffer(PortCounters.size(queues, ports.length) * 8))
    const stats = new Float64Array(new SharedArrayBuffer(queues * FrameHandler.STATS_PER_WORKER * 8))
    const stop = new Int32Array(new SharedArrayBuffer(queues * 4))
    const portInfo: Array<FrameHandler.PortInfo> = ports.map(({ fds: _fds, ...info }) => info)
    const handlerUrl = options.handler.module instanceof URL ? options.handler.module.href : options.handler.module
    const events = yield* Queue.dropping<unknown>(options.eventCapacity ?? 1024)
    const onEvent = (event: unknown) => {
      Queue.offerUnsafe(events, event)
    }
    const workers: Array<RunningWorker> = []
    for (let queue = 0; queue < queues; queue++) {
      const running = yield* Effect.acquireRelease(
        startWorker({
          queue,
          ports: portInfo,
          fds: ports.map((port) => port.fds[queue]!),
          pool,
          layout,
          counters,
          stats,
          stop,
          handlerUrl,
          handlerOptions: options.handler.options,
          pollTimeoutMs: options.pollTimeoutMs ?? 1000,
          backend,
          rxSlotsPerPort,
          multishot: options.ioUringMultishot ?? true,
          busyPollUs: options.busyPollUs ?? fromEnv("LVS_TAP_BUSY_POLL_US", DEFAULT_BUSY_POLL_US),
          coalesceUs: options.coalesceUs ?? fromEnv("LVS_TAP_COALESCE_US", DEFAULT_COALESCE_US),
          realtimePriority:
            options.realtimePriority ?? Math.min(99, Math.floor(fromEnv("LVS_TAP_REALTIME_PRIORITY", 0))),
          onEvent
        }),
        (running) => stopWorker(running, stop, queue, options.stopTimeoutMs ?? 5000)
      )
      workers.push(running)
    }
    const names = ports.map((port) => port.name)
    return {
      ports,
      backend,
      layout,
      pool,
      netnsId: opened.netnsId,
      counters: Effect.sync(() => PortCounters.snapshot(counters, names, queues)),
      handlerStats: Effect.sync(() => {
        const out: Array<number> = []
        for (let i = 0; i < FrameHandler.STATS_PER_WORKER; i++) {
          let total = 0
          for (let q = 0; q < queues; q++) total += stats[q * FrameHandler.STATS_PER_WORKER + i]!
          out.push(total)
        }
        return out
      }),
      control: (message: unknown) =>
        Effect.sync(() => {
          const c = Libc.libc()
          for (const running of workers) {
            running.channel.postMessage(message)
            c.writeFrom(running.wakeWrite, wakeByte, 1)
          }
        }),
      running: Effect.sync(() => workers.map((running) => !running.hasExited())),
      events
    } satisfies Service
  })

/**
 * The service tag for a running set of TAP ports.
 *
 * @example
 * ```ts
 * const layer = TapPorts.layer({ ports: [{ name: "tap0" }], handler: { module: handlerUrl } })
 * const program = Effect.gen(function*() {
 *   const ports = yield* TapPorts
 *   return yield* ports.counters
 * }).pipe(Effect.provide(layer))
 * ```
 */
export class TapPorts extends Context.Service<TapPorts, Service>()("@lvs-ts/lvs/TapPorts") {
  /** A layer that opens the ports when built and closes them when released. */
  static readonly layer = (options: Options): Layer.Layer<TapPorts, TapPortsError> =>
    Layer.effect(TapPorts, make(options))
}

/**
 * The network namespace of the calling thread, e.g. `net:[4026531840]` (for checks and logs).
 *
 * @example
 * ```ts
 * TapPorts.currentNetns() // "net:[4026531840]"
 * ```
 */
export const currentNetns = (): string => readlinkSync("/proc/thread-self/ns/net")

/**
 * A layer providing {@link TapPorts}: opens the ports when built, stops and closes them when released.
 *
 * @example
 * ```ts
 * Effect.provide(program, TapPorts.layer({ ports: [{ name: "tap0" }], handler: { module: handlerUrl } }))
 * ```
 */
export const layer = (options: Options): Layer.Layer<TapPorts, TapPortsError> => TapPorts.layer(options)
