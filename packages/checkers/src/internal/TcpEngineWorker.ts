/**
 * The TCP probe engine's worker thread: non-blocking `connect()`s multiplexed on one epoll instance through
 * koffi, with no Node socket, handle or JS object per check. Requests arrive on a shared ring (woken through an
 * eventfd only when this thread sleeps), completions leave on another in batches (one `Atomics.notify` per
 * `epoll_wait` round), so one wake-up of the main thread completes many checks.
 *
 * TCP_CHECK semantics (keepalived `check_tcp.c`): success as soon as the connect completes, then close;
 * failure on refusal / unreachability (the connect errno) or when `connect_timeout` passes first.
 *
 * @internal
 */
import * as os from "node:os"
import { parentPort, workerData } from "node:worker_threads"
import koffi from "koffi"
import { AF_INET, AF_INET6, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM } from "./linux.ts"
import * as L from "./tcpEngineLayout.ts"

interface Data {
  readonly control: SharedArrayBuffer
  readonly requests: SharedArrayBuffer
  readonly completions: SharedArrayBuffer
  readonly slots: number
  readonly eventFd: number
  readonly priority: number | undefined
}

const data = workerData as Data
// Linux nice values are per thread: pid 0 is this worker thread only.
let priorityError: string | undefined
if (data.priority !== undefined) {
  try {
    os.setPriority(0, data.priority)
  } catch (e) {
    priorityError = `cannot set the engine thread's priority to ${data.priority}: ${(e as Error).message}`
  }
}
const control = new Int32Array(data.control)
const requests = new Int32Array(data.requests)
const requestBytes = new Uint8Array(data.requests)
const completions = new Int32Array(data.completions)
const reqCapacity = requests.length / L.REQ_WORDS
const compCapacity = completions.length / L.COMP_WORDS
const slots = data.slots

const SOL_SOCKET = 1
const SO_ERROR = 4
const IPPROTO_IP = 0
const IP_BIND_ADDRESS_NO_PORT = 24
const EINPROGRESS = 115
const EINTR = 4
const EPOLL_CLOEXEC = 0o2000000
const EPOLL_CTL_ADD = 1
const EPOLLIN = 0x1
const EPOLLOUT = 0x4
const EPOLLERR = 0x8
const EPOLLHUP = 0x10
/** `struct epoll_event` is packed (12 bytes) on x86-64, naturally aligned (16 bytes) elsewhere. */
const EVENT_WORDS = process.arch === "x64" ? 3 : 4
const EVENT_DATA_WORD = process.arch === "x64" ? 1 : 2
const MAX_EVENTS = 1024
const WAKE_TAG = 0xffffffff
/** Timeouts are swept at most this often (ms): the granularity of connect_timeout. */
const SWEEP_MS = 5

const lib = koffi.load("libc.so.6")
const socket = lib.func("int socket(int domain, int type, int protocol)")
const connect = lib.func("int connect(int fd, uintptr_t addr, uint32_t len)")
const bind = lib.func("int bind(int fd, uintptr_t addr, uint32_t len)")
const setsockopt = lib.func("int setsockopt(int fd, int level, int name, uintptr_t value, uint32_t len)")
const getsockopt = lib.func("int getsockopt(int fd, int level, int name, uintptr_t value, uintptr_t len)")
const close = lib.func("int close(int fd)")
const read = lib.func("long read(int fd, uintptr_t buf, unsigned long n)")
const epollCreate = lib.func("int epoll_create1(int flags)")
const epollCtl = lib.func("int epoll_ctl(int epfd, int op, int fd, uintptr_t event)")
const epollWait = lib.func("int epoll_wait(int epfd, uintptr_t events, int max, int timeout)")
const errno = (): number => koffi.errno()
const addressOf = (view: ArrayBufferView): number => Number(koffi.address(view))

// Scratch memory, addressed once: the hot loop passes plain numbers to C.
const sockaddr = new Uint8Array(28)
const sockaddrView = new DataView(sockaddr.buffer)
const sockaddrAt = addressOf(sockaddr)
const bindaddr = new Uint8Array(28)
const bindaddrView = new DataView(bindaddr.buffer)
const bindaddrAt = addressOf(bindaddr)
const one = new Int32Array([1, 4])
const oneAt = addressOf(one)
const soError = new Int32Array(2)
const soErrorAt = addressOf(soError)
const soErrorLenAt = soErrorAt + 4
const events = new Uint32Array(MAX_EVENTS * EVENT_WORDS)
const eventsAt = addressOf(events)
const ctlEvent = new Uint32Array(EVENT_WORDS)
const ctlEventAt = addressOf(ctlEvent)
const counter = new BigUint64Array(1)
const counterAt = addressOf(counter)

/**
 * Only the addresses of the scratch arrays above are passed to C: keep the arrays themselves reachable for the
 * worker's lifetime (a collected array would leave C reading or writing freed memory).
 */
const pinned: ReadonlyArray<ArrayBufferView> = [sockaddr, bindaddr, one, soError, events, ctlEvent, counter]

// Per-slot state (struct of arrays).
const fdOf = new Int32Array(slots).fill(-1)
const genOf = new Int32Array(slots)
const deadlineOf = new Float64Array(slots)
/** Dense list of slots with a connect in progress, for the timeout sweep. */
const active = new Int32Array(slots)
const activeIndex = new Int32Array(slots).fill(-1)
let activeCount = 0

const epfd = epollCreate(EPOLL_CLOEXEC) as number
if (epfd < 0) {
  parentPort?.postMessage({ type: "error", message: `epoll_create1 failed: errno ${errno()}` })
  process.exit(0)
}
ctlEvent[0] = EPOLLIN
ctlEvent[EVENT_DATA_WORD] = WAKE_TAG
if ((epollCtl(epfd, EPOLL_CTL_ADD, data.eventFd, ctlEventAt) as number) < 0) {
  parentPort?.postMessage({ type: "error", message: `epoll_ctl(eventfd) failed: errno ${errno()}` })
  process.exit(0)
}

let compTail = Atomics.load(control, L.COMP_TAIL)
let completed = 0

const complete = (slot: number, code: number): void => {
  const at = (compTail % compCapacity) * L.COMP_WORDS
  completions[at + L.COMP_SLOT] = slot
  completions[at + L.COMP_GEN] = genOf[slot]!
  completions[at + L.COMP_CODE] = code
  compTail = (compTail + 1) | 0
  completed++
}

const release = (slot: number): void => {
  const fd = fdOf[slot]!
  if (fd >= 0) close(fd)
  fdOf[slot] = -1
  const i = activeIndex[slot]!
  if (i >= 0) {
    const last = active[--activeCount]!
    active[i] = last
    activeIndex[last] = i
    activeIndex[slot] = -1
  }
}

const fillSockaddr = (view: DataView, bytes: Uint8Array, base: number, family: number, port: number, scope: number) => {
  bytes.fill(0)
  if (family === 6) {
    view.setUint16(0, AF_INET6, true)
    view.setUint16(2, port, false)
    for (let i = 0; i < 16; i++) bytes[8 + i] = requestBytes[base + i]!
    view.setUint32(24, scope, true)
    return 28
  }
  view.setUint16(0, AF_INET, true)
  view.setUint16(2, port, false)
  for (let i = 0; i < 4; i++) bytes[4 + i] = requestBytes[base + i]!
  return 16
}

const start = (r: number, now: number): void => {
  const slot = requests[r + L.REQ_SLOT]!
  genOf[slot] = requests[r + L.REQ_GEN]!
  const family = requests[r + L.REQ_FAMILY]!
  const fd = socket(family === 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) as number
  if (fd < 0) {
    complete(slot, L.CODE_SOCKET_ERROR | errno())
    return
  }
  fdOf[slot] = fd
  const flags = requests[r + L.REQ_BIND_FLAGS]!
  const scope = requests[r + L.REQ_SCOPE]!
  if (flags !== 0) {
    const base = r * 4 + L.REQ_BIND_ADDR_BYTE
    const len = fillSockaddr(bindaddrView, bindaddr, base, family, requests[r + L.REQ_BIND_PORT]!, scope)
    // A source address without a port: let connect() pick the port per 4-tuple instead of reserving one.
    if ((flags & L.BIND_PORT) === 0) setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, oneAt, 4)
    if ((bind(fd, bindaddrAt, len) as number) < 0) {
      const e = errno()
      release(slot)
      complete(slot, L.CODE_BIND_ERROR | e)
      return
    }
  }
  const len = fillSockaddr(sockaddrView, sockaddr, r * 4 + L.REQ_ADDR_BYTE, family, requests[r + L.REQ_PORT]!, scope)
  if ((connect(fd, sockaddrAt, len) as number) === 0) {
    release(slot)
    complete(slot, L.CODE_OK)
    return
  }
  const e = errno()
  if (e !== EINPROGRESS) {
    release(slot)
    complete(slot, e)
    return
  }
  ctlEvent[0] = EPOLLOUT
  ctlEvent[EVENT_DATA_WORD] = slot
  epollCtl(epfd, EPOLL_CTL_ADD, fd, ctlEventAt)
  deadlineOf[slot] = now + requests[r + L.REQ_TIMEOUT_MS]!
  activeIndex[slot] = activeCount
  active[activeCount++] = slot
}

const cancel = (r: number): void => {
  const slot = requests[r + L.REQ_SLOT]!
  if (fdOf[slot]! < 0 || genOf[slot] !== requests[r + L.REQ_GEN]) return
  release(slot)
  complete(slot, L.CODE_CANCELLED)
}

let reqHead = Atomics.load(control, L.REQ_HEAD)
/**
 * Start at most `BATCH` queued requests; true when more are waiting. Bounding the batch interleaves starts with
 * reaping: a burst of thousands of starts (each connect costs tens of µs of kernel time on loopback) would
 * otherwise hold every completion, and every descriptor, until the whole burst was started.
 */
const BATCH = 64
const drainRequests = (now: number): boolean => {
  const tail = Atomics.load(control, L.REQ_TAIL)
  let n = 0
  while (reqHead !== tail && n++ < BATCH) {
    const r = (reqHead % reqCapacity) * L.REQ_WORDS
    if (requests[r + L.REQ_OP] === L.OP_START) start(r, now)
    else cancel(r)
    reqHead = (reqHead + 1) | 0
  }
  Atomics.store(control, L.REQ_HEAD, reqHead)
  return reqHead !== tail
}

let nextSweep = 0
const sweep = (now: number): void => {
  let earliest = Number.POSITIVE_INFINITY
  for (let i = 0; i < activeCount; ) {
    const slot = active[i]!
    const d = deadlineOf[slot]!
    if (d <= now) {
      release(slot) // swaps the last active slot into i
      complete(slot, L.CODE_TIMEOUT)
    } else {
      if (d < earliest) earliest = d
      i++
    }
  }
  nextSweep = Math.max(earliest, now + SWEEP_MS)
}

const publish = (): void => {
  if (completed === 0) return
  completed = 0
  Atomics.store(control, L.COMP_TAIL, compTail)
  Atomics.add(control, L.COMP_SEQ, 1)
  Atomics.notify(control, L.COMP_SEQ)
}

parentPort?.postMessage({ type: "ready", warning: priorityError })

for (;;) {
  if (Atomics.load(control, L.STOP) !== 0) break
  let now = performance.now()
  const more = drainRequests(now)
  if (activeCount > 0 && now >= nextSweep) sweep(now)
  publish()
  let timeout = 0
  if (!more) {
    Atomics.store(control, L.SLEEPING, 1)
    if (Atomics.load(control, L.REQ_TAIL) !== reqHead || Atomics.load(control, L.STOP) !== 0) {
      Atomics.store(control, L.SLEEPING, 0)
      continue
    }
    timeout = activeCount > 0 ? Math.max(1, Math.ceil(nextSweep - now)) : -1
  }
  const n = epollWait(epfd, eventsAt, MAX_EVENTS, timeout) as number
  Atomics.store(control, L.SLEEPING, 0)
  if (n < 0) {
    if (errno() === EINTR) continue
    break
  }
  now = performance.now()
  // Completions first, then timeouts: a connect that completed is never declared timed out.
  for (let i = 0; i < n; i++) {
    const ev = events[i * EVENT_WORDS]!
    const slot = events[i * EVENT_WORDS + EVENT_DATA_WORD]!
    if (slot === WAKE_TAG) {
      read(data.eventFd, counterAt, 8)
      continue
    }
    if (fdOf[slot]! < 0) continue
    let code = L.CODE_OK
    if ((ev & (EPOLLERR | EPOLLHUP)) !== 0) {
      soError[0] = 0
      soError[1] = 4
      getsockopt(fdOf[slot]!, SOL_SOCKET, SO_ERROR, soErrorAt, soErrorLenAt)
      code = soError[0]! !== 0 ? soError[0]! : 104 // ECONNRESET: hung up without an error code
    }
    release(slot)
    complete(slot, code)
  }
  if (activeCount > 0 && now >= nextSweep) sweep(now)
  publish()
}

// Stopped: close every descriptor still open so nothing outlives the engine.
for (let i = activeCount - 1; i >= 0; i--) {
  const slot = active[i]!
  release(slot)
  complete(slot, L.CODE_CANCELLED)
}
publish()
close(epfd)
if (pinned.length === 0) process.exit(1) // unreachable: keeps `pinned` alive until here
