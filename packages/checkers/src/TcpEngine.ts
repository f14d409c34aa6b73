/**
 * The TCP_CHECK probe engine: many concurrent non-blocking connects on one epoll instance in a worker thread,
 * driven through koffi, with no Node socket (no handle, no stream, no JS object) per check.
 *
 * Requests and completions cross threads through `SharedArrayBuffer` rings: the main thread writes a request
 * and writes the worker's eventfd only if the worker sleeps; the worker publishes all completions of one
 * `epoll_wait` round with one `Atomics.notify`, which the main thread receives through `Atomics.waitAsync`,
 * so one wake-up completes a whole batch of checks. The engine enforces `connect_timeout` itself (checked after
 * the round's completions, so a connect that completed is never declared timed out).
 *
 * Mirrors keepalived's TCP_CHECK (`keepalived/check/check_tcp.c`, `tcp_bind_connect` in `layer4.c`): optional
 * `bind()` to `bindto`/`bind_port`, non-blocking `connect()`, success when the connect completes (then close),
 * failure on the connect's errno or on timeout. Unlike keepalived's single-threaded checker, the syscalls run
 * on a second core, and the descriptor count is bounded by the in-flight checks, not by a select() limit.
 *
 * @since 0.2.0
 */
import * as net from "node:net"
import * as os from "node:os"
import { Worker } from "node:worker_threads"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import koffi from "koffi"
import * as L from "./internal/tcpEngineLayout.ts"
import type * as Probe from "./Probe.ts"

/**
 * A connect target, parsed once (per checker) so a check passes only numbers to the engine.
 *
 * @example
 * ```ts
 * import { TcpEngine } from "@lvs-ts/checkers"
 * const t = TcpEngine.target("127.0.0.1", 80)
 * ```
 * @since 0.2.0
 */
export interface Target {
  readonly family: 4 | 6
  readonly address: Uint8Array
  readonly port: number
  readonly bindAddress: Uint8Array | undefined
  readonly bindPort: number | undefined
  readonly scopeId: number
}

/**
 * The engine could not start (no koffi, no epoll, not Linux); callers fall back to Node sockets.
 *
 * @example
 * ```ts
 * import { TcpEngine } from "@lvs-ts/checkers"
 * const e = new TcpEngine.EngineUnavailable({ message: "epoll_create1 failed" })
 * ```
 * @since 0.2.0
 */
export class EngineUnavailable extends Data.TaggedError("EngineUnavailable")<{ readonly message: string }> {}

/**
 * A bad target (not an IP literal, unknown interface): the message names the field and value.
 *
 * @example
 * ```ts
 * import { TcpEngine } from "@lvs-ts/checkers"
 * const t = TcpEngine.target("not-an-ip", 80) // TcpEngine.InvalidTarget
 * ```
 * @since 0.2.0
 */
export class InvalidTarget extends Data.TaggedError("InvalidTarget")<{ readonly message: string }> {}

/**
 * A running engine.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TcpEngine } from "@lvs-ts/checkers"
 * const program = Effect.scoped(Effect.gen(function* () {
 *   const engine = yield* TcpEngine.make()
 *   const target = TcpEngine.target("127.0.0.1", 80)
 *   if (target instanceof TcpEngine.InvalidTarget) return
 *   engine.connect(target, 1000, (code) => console.log(TcpEngine.describe(code)))
 * }))
 * ```
 * @since 0.2.0
 */
export interface Engine {
  /**
   * Start one connect; `onDone(code)` runs on the main thread with {@link CODE_OK}, a connect errno, or
   * {@link CODE_TIMEOUT} / {@link CODE_SOCKET_ERROR} / {@link CODE_BIND_ERROR} flags. Returns a ticket for
   * {@link Engine.cancel}. Allocates nothing per call beyond what the caller passes.
   */
  readonly connect: (target: Target, timeoutMs: number, onDone: (code: number) => void) => number
  /** Abandon a connect: its descriptor is closed at once and `onDone` is never called. */
  readonly cancel: (ticket: number) => void
  /** Connects in flight (including ones queued while every slot is busy). */
  readonly inFlight: () => number
}

/**
 * Completion codes.
 *
 * @example
 * ```ts
 * import { TcpEngine } from "@lvs-ts/checkers"
 * const ok = (code: number) => code === TcpEngine.CODE_OK
 * ```
 * @since 0.2.0
 */
export const CODE_OK = L.CODE_OK
/**
 * `connect_timeout` passed before the connect completed.
 *
 * @example
 * ```ts
 * import { TcpEngine } from "@lvs-ts/checkers"
 * const timedOut = (code: number) => code === TcpEngine.CODE_TIMEOUT
 * ```
 * @since 0.2.0
 */
export const CODE_TIMEOUT = L.CODE_TIMEOUT
/**
 * Flag: `socket()` failed (errno in the low 16 bits).
 *
 * @example
 * ```ts
 * import { TcpEngine } from "@lvs-ts/checkers"
 * const socketFailed = (code: number) => code > 0 && (code & TcpEngine.CODE_SOCKET_ERROR) !== 0
 * ```
 * @since 0.2.0
 */
export const CODE_SOCKET_ERROR = L.CODE_SOCKET_ERROR
/**
 * Flag: `bind()` to bindto / bind_port failed (errno in the low 16 bits).
 *
 * @example
 * ```ts
 * import { TcpEngine } from "@lvs-ts/checkers"
 * const bindFailed = (code: number) => code > 0 && (code & TcpEngine.CODE_BIND_ERROR) !== 0
 * ```
 * @since 0.2.0
 */
export const CODE_BIND_ERROR = L.CODE_BIND_ERROR

const ERRNO: Record<number, string> = {
  1: "EPERM",
  13: "EACCES",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  100: "ENETDOWN",
  101: "ENETUNREACH",
  104: "ECONNRESET",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  112: "EHOSTDOWN",
  113: "EHOSTUNREACH"
}

/**
 * A completion code as text: `"ok"`, `"timeout"`, the errno name (`"ECONNREFUSED"`), prefixed with `bind:` or
 * `socket:` when that step failed.
 *
 * @example
 * ```ts
 * import { TcpEngine } from "@lvs-ts/checkers"
 * console.log(TcpEngine.describe(111)) // "ECONNREFUSED"
 * ```
 * @since 0.2.0
 */
export const describe = (code: number): string => {
  if (code === L.CODE_OK) return "ok"
  if (code === L.CODE_TIMEOUT) return "timeout"
  if (code === L.CODE_CANCELLED) return "cancelled"
  const e = code & 0xffff
  const name = ERRNO[e] ?? `errno ${e}`
  return (code & L.CODE_BIND_ERROR) !== 0
    ? `bind:${name}`
    : (code & L.CODE_SOCKET_ERROR) !== 0
      ? `socket:${name}`
      : name
}

/**
 * The {@link Probe.Reason} of a failed completion code, the same as the Node-socket path gives for that errno.
 *
 * @example
 * ```ts
 * import { TcpEngine } from "@lvs-ts/checkers"
 * console.log(TcpEngine.reason(111)) // "Refused"
 * ```
 * @since 0.2.0
 */
export const reason = (code: number): Probe.Reason => {
  if (code === L.CODE_TIMEOUT) return "Timeout"
  switch (code & 0xffff) {
    case 111:
      return "Refused"
    case 101:
    case 112:
    case 113:
      return "Unreachable"
    case 98:
    case 99:
      return "BindError"
    case 110:
      return "Timeout"
    default:
      return "ConnectError"
  }
}

const parseV4 = (s: string, out: Uint8Array, at: number): void => {
  const parts = s.split(".")
  for (let i = 0; i < 4; i++) out[at + i] = Number(parts[i])
}

/** The 16 bytes of an IPv4 (first 4 bytes used) or IPv6 literal; `undefined` when it is neither. */
const parseAddress = (s: string): { family: 4 | 6; bytes: Uint8Array } | undefined => {
  const kind = net.isIP(s)
  const bytes = new Uint8Array(16)
  if (kind === 4) {
    parseV4(s, bytes, 0)
    return { family: 4, bytes }
  }
  if (kind !== 6) return undefined
  const groups = (part: string): Array<number> =>
    part === ""
      ? []
      : part.split(":").flatMap((g) => {
          if (!g.includes(".")) return [Number.parseInt(g, 16)]
          const v4 = new Uint8Array(4)
          parseV4(g, v4, 0)
          return [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!]
        })
  const [h, t] = s.split("::")
  const head = groups(h!)
  const tail = t === undefined ? [] : groups(t)
  const words = t === undefined ? head : [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail]
  for (let i = 0; i < 8; i++) {
    bytes[i * 2] = (words[i]! >> 8) & 0xff
    bytes[i * 2 + 1] = words[i]! & 0xff
  }
  return { family: 6, bytes }
}

let nameToIndex: ((name: string) => number) | undefined
const interfaceIndex = (name: string): number => {
  if (nameToIndex === undefined) {
    const f = koffi.load("libc.so.6").func("unsigned int if_nametoindex(const char *name)")
    nameToIndex = (n) => f(n) as number
  }
  return nameToIndex(name)
}

/**
 * Parse a connect target: `host` and `bindTo` must be IP literals of the same family (a checker never waits on
 * a resolver); `bindIf` gives the scope id of an IPv6 link-local target, as `%if` does for the Node path.
 *
 * @example
 * ```ts
 * import { TcpEngine } from "@lvs-ts/checkers"
 * const t = TcpEngine.target("::1", 8080, { bindTo: "::1" })
 * ```
 * @since 0.2.0
 */
export const target = (
  host: string,
  port: number,
  options: {
    readonly bindTo?: string | undefined
    readonly bindPort?: number | undefined
    readonly bindIf?: string | undefined
  } = {}
): Target | InvalidTarget => {
  const percent = host.indexOf("%")
  const zone = percent >= 0 ? host.slice(percent + 1) : undefined
  const address = parseAddress(percent >= 0 ? host.slice(0, percent) : host)
  if (address === undefined)
    return new InvalidTarget({ message: `connect_ip ${JSON.stringify(host)} is not an IP address` })
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    return new InvalidTarget({ message: `connect_port ${port} is not a port (1-65535)` })
  let bindAddress: Uint8Array | undefined
  if (options.bindTo !== undefined) {
    const b = parseAddress(options.bindTo)
    if (b === undefined || b.family !== address.family)
      return new InvalidTarget({
        message: `bindto ${JSON.stringify(options.bindTo)} is not an IPv${address.family} address like ${JSON.stringify(host)}`
      })
    bindAddress = b.bytes
  }
  if (
    options.bindPort !== undefined &&
    (!Number.isInteger(options.bindPort) || options.bindPort < 0 || options.bindPort > 65535)
  )
    return new InvalidTarget({ message: `bind_port ${options.bindPort} is not a port (0-65535)` })
  let scopeId = 0
  const linkLocal = address.family === 6 && address.bytes[0] === 0xfe && (address.bytes[1]! & 0xc0) === 0x80
  const ifName = zone ?? (linkLocal ? options.bindIf : undefined)
  if (ifName !== undefined) {
    scopeId = /^\d+$/.test(ifName) ? Number(ifName) : interfaceIndex(ifName)
    if (scopeId === 0) return new InvalidTarget({ message: `bind_if ${JSON.stringify(ifName)} is not an interface` })
  }
  return {
    family: address.family,
    address: address.bytes,
    port,
    bindAddress: bindAddress ?? (options.bindPort !== undefined ? new Uint8Array(16) : undefined),
    bindPort: options.bindPort,
    scopeId
  }
}

/** `Atomics.waitAsync` (ES2024; Node ≥ 16), typed here because the workspace's lib is older. */
const waitAsync = (
  Atomics as unknown as {
    readonly waitAsync: (
      array: Int32Array,
      index: number,
      value: number
    ) => { readonly async: false; readonly value: string } | { readonly async: true; readonly value: Promise<string> }
  }
).waitAsync

const isSource = import.meta.url.endsWith(".ts")
const workerUrl = new URL(`./internal/TcpEngineWorker.${isSource ? "ts" : "js"}`, import.meta.url)
const workerExecArgv = isSource ? ["--conditions=@lvs-ts/source"] : undefined

/**
 * Engine options.
 *
 * @example
 * ```ts
 * import type { TcpEngine } from "@lvs-ts/checkers"
 * const o: TcpEngine.Options = { threads: 2, slots: 8192 }
 * ```
 * @since 0.2.0
 */
export interface Options {
  /** Connects in flight per thread before further ones queue in the main thread (default 16,384, at most 65,536). */
  readonly slots?: number | undefined
  /**
   * Worker threads (default 2, at most the number of CPUs): on loopback the kernel does both ends of every
   * handshake inside `connect()`, tens of µs each, so one thread caps near 25,000 checks/s; connects go to the
   * thread with fewer in flight.
   */
  readonly threads?: number | undefined
  /**
   * Nice value of the engine threads (-20…19), like keepalived's `checker_priority`; lowering it below 0 needs
   * CAP_SYS_NICE. Unset: inherited.
   */
  readonly priority?: number | undefined
}

/**
 * Start an engine in the current Scope: a worker thread, an epoll instance and an eventfd. Closing the Scope
 * stops the worker, which closes every connect still in flight, so no descriptor outlives the engine.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TcpEngine } from "@lvs-ts/checkers"
 * const program = Effect.scoped(TcpEngine.make({ slots: 4096, threads: 2 }))
 * ```
 * @since 0.2.0
 */
export const make = (options: Options = {}): Effect.Effect<Engine, EngineUnavailable, Scope.Scope> =>
  Effect.gen(function* () {
    const threads = Math.max(1, Math.min(options.threads ?? 2, os.availableParallelism()))
    // Tickets carry the slot in their low 16 bits.
    const slots = Math.max(16, Math.min(65536, Math.floor(options.slots ?? 16384)))
    const lanes: Array<Engine> = []
    for (let i = 0; i < threads; i++) {
      const lane = yield* makeLane(slots, options.priority)
      if (lane.warning !== undefined) yield* Effect.logWarning(lane.warning)
      lanes.push(lane)
    }
    return combine(lanes)
  })

/** Spread connects over several lanes (the one with fewer in flight); tickets carry their lane. */
const combine = (lanes: ReadonlyArray<Engine>): Engine => {
  const n = lanes.length
  if (n === 1) return lanes[0]!
  let rr = 0
  return {
    connect: (t, timeoutMs, onDone) => {
      let lane = rr
      rr = (rr + 1) % n
      let least = lanes[lane]!.inFlight()
      for (let i = 0; i < n; i++) {
        const f = lanes[i]!.inFlight()
        if (f < least) {
          least = f
          lane = i
        }
      }
      const ticket = lanes[lane]!.connect(t, timeoutMs, onDone)
      return ticket >= 0 ? ticket * n + lane : ticket * n - lane
    },
    cancel: (ticket) => {
      if (ticket >= 0) lanes[ticket % n]!.cancel(Math.floor(ticket / n))
      else {
        const lane = -ticket % n
        lanes[lane]!.cancel(-((-ticket - lane) / n))
      }
    },
    inFlight: () => {
      let sum = 0
      for (const l of lanes) sum += l.inFlight()
      return sum
    }
  }
}

const makeLane = (
  slots: number,
  priority: number | undefined
): Effect.Effect<Internal, EngineUnavailable, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<Internal, EngineUnavailable>((resume) => {
      let started: Internal
      try {
        started = start(slots, priority)
      } catch (e) {
        resume(Effect.fail(new EngineUnavailable({ message: e instanceof Error ? e.message : String(e) })))
        return
      }
      const onMessage = (m: { type: string; message?: string; warning?: string }) => {
        started.worker.off("exit", onExit)
        if (m.type === "ready") {
          started.warning = m.warning
          started.arm()
          resume(Effect.succeed(started))
        } else {
          started.closeEventFd()
          resume(Effect.fail(new EngineUnavailable({ message: m.message ?? "worker failed" })))
        }
      }
      const onExit = (code: number) => {
        started.worker.off("message", onMessage)
        started.closeEventFd()
        resume(Effect.fail(new EngineUnavailable({ message: `engine worker exited with code ${code}` })))
      }
      started.worker.once("message", onMessage)
      started.worker.once("exit", onExit)
      started.worker.once("error", () => {})
      return Effect.sync(() => {
        started.worker.off("message", onMessage)
        started.worker.off("exit", onExit)
        void started.worker.terminate().then(() => started.closeEventFd())
      })
    }),
    (e) => e.stop
  )

interface Internal extends Engine {
  warning: string | undefined
  readonly worker: Worker
  readonly arm: () => void
  readonly closeEventFd: () => void
  readonly stop: Effect.Effect<void>
}

const start = (slots: number, priority: number | undefined): Internal => {
  const lib = koffi.load("libc.so.6")
  const eventfd = lib.func("int eventfd(unsigned int initval, int flags)")
  const write = lib.func("long write(int fd, uintptr_t buf, unsigned long n)")
  const close = lib.func("int close(int fd)")
  const EFD_CLOEXEC = 0o2000000
  const EFD_NONBLOCK = 0o4000
  const efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) as number
  if (efd < 0) throw new Error(`eventfd failed: errno ${koffi.errno()}`)
  const one = new BigUint64Array([1n])
  const oneAt = Number(koffi.address(one))
  const reqCapacity = slots * 2
  const control = new Int32Array(new SharedArrayBuffer(L.CONTROL_WORDS * 4))
  const requests = new Int32Array(new SharedArrayBuffer(reqCapacity * L.REQ_WORDS * 4))
  const requestBytes = new Uint8Array(requests.buffer)
  const completions = new Int32Array(new SharedArrayBuffer(slots * L.COMP_WORDS * 4))
  const worker = new Worker(workerUrl, {
    name: "lvs-tcp-engine",
    workerData: {
      control: control.buffer,
      requests: requests.buffer,
      completions: completions.buffer,
      slots,
      eventFd: efd,
      priority
    },
    ...(workerExecArgv ? { execArgv: workerExecArgv } : {})
  })
  worker.unref()

  // Main-thread slot state: callback and generation per slot, a stack of free slots.
  const callbacks: Array<((code: number) => void) | undefined> = new Array(slots).fill(undefined)
  const generation = new Int32Array(slots)
  const free = new Int32Array(slots)
  for (let i = 0; i < slots; i++) free[i] = slots - 1 - i
  let freeCount = slots
  let inFlight = 0
  let stopped = false
  let eventFdOpen = true
  let reqTail = 0
  /** Connects waiting for a free slot (only when more than `slots` are in flight). */
  const overflow: Array<{ target: Target; timeoutMs: number; onDone: (code: number) => void; ticket: number }> = []
  let overflowTicket = -1

  // `one` is passed to write() by address: it is referenced here so it lives as long as the engine.
  const wake = () => {
    if (Atomics.compareExchange(control, L.SLEEPING, 1, 0) === 1 && one[0] === 1n) write(efd, oneAt, 8)
  }
  const push = (op: number, slot: number, gen: number, t: Target | undefined, timeoutMs: number) => {
    const r = (reqTail % reqCapacity) * L.REQ_WORDS
    requests[r + L.REQ_OP] = op
    requests[r + L.REQ_SLOT] = slot
    requests[r + L.REQ_GEN] = gen
    if (t !== undefined) {
      requests[r + L.REQ_FAMILY] = t.family
      requests[r + L.REQ_PORT] = t.port
      requests[r + L.REQ_SCOPE] = t.scopeId
      requests[r + L.REQ_TIMEOUT_MS] = timeoutMs
      requestBytes.set(t.address, r * 4 + L.REQ_ADDR_BYTE)
      if (t.bindAddress !== undefined) {
        requests[r + L.REQ_BIND_FLAGS] = L.BIND_ADDRESS | (t.bindPort !== undefined ? L.BIND_PORT : 0)
        requests[r + L.REQ_BIND_PORT] = t.bindPort ?? 0
        requestBytes.set(t.bindAddress, r * 4 + L.REQ_BIND_ADDR_BYTE)
      } else {
        requests[r + L.REQ_BIND_FLAGS] = 0
      }
    }
    reqTail = (reqTail + 1) | 0
    Atomics.store(control, L.REQ_TAIL, reqTail)
    wake()
  }
  const startIn = (slot: number, t: Target, timeoutMs: number, onDone: (code: number) => void): number => {
    const gen = (generation[slot]! + 1) & 0x3fffffff
    generation[slot] = gen
    callbacks[slot] = onDone
    push(L.OP_START, slot, gen, t, timeoutMs)
    return gen * 65536 + slot
  }

  const connect = (t: Target, timeoutMs: number, onDone: (code: number) => void): number => {
    if (stopped) {
      onDone(L.CODE_CANCELLED)
      return -1
    }
    if (inFlight++ === 0) worker.ref()
    if (freeCount === 0) {
      const ticket = overflowTicket--
      overflow.push({ target: t, timeoutMs, onDone, ticket })
      return ticket
    }
    return startIn(free[--freeCount]!, t, timeoutMs, onDone)
  }

  const settle = () => {
    if (--inFlight === 0) worker.unref()
  }

  const cancel = (ticket: number) => {
    if (ticket < 0) {
      const i = overflow.findIndex((o) => o.ticket === ticket)
      if (i >= 0) {
        overflow.splice(i, 1)
        settle()
      }
      return
    }
    const slot = ticket % 65536
    const gen = Math.floor(ticket / 65536)
    if (generation[slot] !== gen || callbacks[slot] === undefined) return
    callbacks[slot] = undefined
    // The slot stays taken until the worker's completion (closed, or connected first) comes back.
    push(L.OP_CANCEL, slot, gen, undefined, 0)
  }

  let compHead = 0
  const drain = () => {
    if (stopped) return
    const seq = Atomics.load(control, L.COMP_SEQ)
    const tail = Atomics.load(control, L.COMP_TAIL)
    while (compHead !== tail) {
      const c = (compHead % slots) * L.COMP_WORDS
      const slot = completions[c + L.COMP_SLOT]!
      const gen = completions[c + L.COMP_GEN]!
      const code = completions[c + L.COMP_CODE]!
      compHead = (compHead + 1) | 0
      if (generation[slot] !== gen) continue
      const cb = callbacks[slot]
      callbacks[slot] = undefined
      free[freeCount++] = slot
      settle()
      if (cb !== undefined) cb(code)
    }
    Atomics.store(control, L.COMP_HEAD, compHead)
    while (overflow.length > 0 && freeCount > 0) {
      const o = overflow.shift()!
      startIn(free[--freeCount]!, o.target, o.timeoutMs, o.onDone)
    }
    arm(seq)
  }
  const arm = (seq = Atomics.load(control, L.COMP_SEQ)) => {
    const w = waitAsync(control, L.COMP_SEQ, seq)
    if (w.async) void w.value.then(drain)
    else queueMicrotask(drain)
  }
  const closeEventFd = () => {
    if (eventFdOpen) {
      eventFdOpen = false
      close(efd)
    }
  }
  const stop = Effect.callback<void>((resume) => {
    if (stopped) {
      resume(Effect.void)
      return
    }
    stopped = true
    Atomics.store(control, L.STOP, 1)
    if (one[0] === 1n) write(efd, oneAt, 8)
    worker.ref()
    const timer = setTimeout(() => void worker.terminate(), 2000)
    worker.once("exit", () => {
      clearTimeout(timer)
      closeEventFd()
      resume(Effect.void)
    })
  })
  return {
    connect,
    cancel,
    inFlight: () => inFlight,
    worker,
    warning: undefined,
    arm: () => arm(),
    closeEventFd,
    stop
  }
}
