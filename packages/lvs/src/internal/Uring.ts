/**
 * A minimal io_uring binding through koffi (no liburing): setup, the shared SQ/CQ rings as typed-array
 * views over the kernel's mmap'd memory, SQE preparation for READ / WRITE / POLL_ADD / TIMEOUT, and
 * `io_uring_enter`. Nothing allocates after `create`.
 *
 * Ring protocol (io_uring(7)): the application writes SQEs, publishes them by storing the SQ tail (release),
 * and the kernel consumes them; the kernel writes CQEs and publishes the CQ tail, the application reads
 * them and stores the CQ head. `Atomics.load`/`Atomics.store` give the ordering on those two indices.
 *
 * @internal
 */
import koffi from "koffi"

const SYS_io_uring_setup = 425
const SYS_io_uring_enter = 426
const SYS_io_uring_register = 427
const IORING_REGISTER_PBUF_RING = 22
const MAP_PRIVATE_ANONYMOUS = 0x2 | 0x20
export const IORING_ENTER_GETEVENTS = 1
/** `io_uring_enter` takes a `struct io_uring_getevents_arg` (with a wait timeout) instead of a sigmask. */
const IORING_ENTER_EXT_ARG = 1 << 3
/** Linux 5.11+: the kernel understands {@link IORING_ENTER_EXT_ARG}. */
const IORING_FEAT_EXT_ARG = 1 << 8
/** Size of `struct io_uring_getevents_arg { u64 sigmask; u32 sigmask_sz; u32 min_wait_usec; u64 ts }`. */
const GETEVENTS_ARG_SIZE = 24
const IORING_OFF_SQ_RING = 0
const IORING_OFF_SQES = 0x10000000
const IORING_FEAT_SINGLE_MMAP = 1
const PROT_READ_WRITE = 3
const MAP_SHARED_POPULATE = 0x1 | 0x8000

export const OP_POLL_ADD = 6
export const OP_TIMEOUT = 11
export const OP_READ = 22
export const OP_WRITE = 23
/** Linux 6.7+: one armed read that completes once per frame into buffers from a provided-buffer ring. */
export const OP_READ_MULTISHOT = 49
const IOSQE_BUFFER_SELECT = 1 << 5
/** CQE flags. */
export const CQE_F_BUFFER = 1
export const CQE_F_MORE = 2

/** errno values as negative CQE results. */
export const ETIME = 62
export const ECANCELED = 125
export const ENOBUFS = 105
export const EINVAL = 22

interface Bindings {
  readonly setup: (nr: number, entries: number, params: Uint32Array) => number
  readonly register: (nr: number, fd: number, opcode: number, arg: Uint32Array, nrArgs: number) => number
  readonly enter: (
    nr: number,
    fd: number,
    toSubmit: number,
    minComplete: number,
    flags: number,
    sig: number,
    size: number
  ) => number
  readonly mmap: (addr: null, length: number, prot: number, flags: number, fd: number, offset: number) => unknown
  readonly munmap: (address: number, length: number) => number
  readonly close: (fd: number) => number
  readonly fcntl: (fd: number, cmd: number, arg: number) => number
}

let bound: Bindings | undefined
const bindings = (): Bindings => {
  if (bound !== undefined) return bound
  const lib = koffi.load("libc.so.6")
  bound = {
    setup: lib.func("long syscall(long nr, long entries, void *params)"),
    register: lib.func("long syscall(long nr, long fd, long opcode, void *arg, long nrArgs)"),
    // glibc's syscall() is a plain register shuffle, so declaring it with fixed integer arguments is safe.
    enter: lib.func("long syscall(long nr, long fd, long toSubmit, long minComplete, long flags, long sig, long size)"),
    mmap: lib.func("void *mmap(void *addr, unsigned long length, int prot, int flags, int fd, long offset)"),
    munmap: lib.func("int munmap(uintptr_t addr, unsigned long length)"),
    close: lib.func("int close(int fd)"),
    fcntl: lib.func("int fcntl(int fd, int cmd, long arg)")
  }
  return bound
}

/**
 * Whether this process may use io_uring as the TAP worker does: `io_uring_setup` succeeds (it fails with
 * ENOSYS on kernels before 5.1 or where a seccomp profile blocks it, EPERM with `kernel.io_uring_disabled`)
 * and the kernel has IORING_FEAT_SINGLE_MMAP (5.4+). The probe ring is closed again at once.
 */
export const available = (): boolean => {
  const b = bindings()
  const params = new Uint32Array(30)
  const fd = b.setup(SYS_io_uring_setup, 4, params)
  if (fd < 0) return false
  b.close(fd)
  return (params[5]! & IORING_FEAT_SINGLE_MMAP) !== 0
}

/** Clears O_NONBLOCK on an fd (io_uring completes reads on a non-blocking fd with -EAGAIN instead of waiting). */
export const setBlocking = (fd: number): boolean => {
  const b = bindings()
  const flags = b.fcntl(fd, 3 /* F_GETFL */, 0)
  if (flags < 0) return false
  return b.fcntl(fd, 4 /* F_SETFL */, flags & ~0o4000) === 0
}

/** A set-up ring. */
export interface Ring {
  readonly fd: number
  readonly sqEntries: number
  readonly cqEntries: number
  /** SQ/CQ ring memory as 32-bit words. */
  readonly ring: Uint32Array
  readonly sqes: Uint32Array
  readonly sqHead: number
  readonly sqTail: number
  readonly sqMask: number
  readonly sqArray: number
  readonly cqHead: number
  readonly cqTail: number
  readonly cqMask: number
  /** Word index of the first CQE. */
  readonly cqes: number
  /** Application-side SQ tail (published on submit). */
  tail: number
  /** SQEs written since the last publish. */
  pending: number
  /** Every mapping made for this ring (rings, SQEs, buffer rings) as [address, length]. */
  readonly maps: Array<[number, number]>
  /** Whether {@link submitAndWait} can bound its wait itself (Linux 5.11+); else use a TIMEOUT request. */
  readonly extArg: boolean
  /**
   * The wait's `io_uring_getevents_arg` (bytes 0-23) and its `__kernel_timespec` (bytes 32-47), in a
   * SharedArrayBuffer: its backing store lives outside the JS heap and never moves, so one address taken at
   * creation stays valid (a small ArrayBuffer may live inside the heap, where the collector moves it).
   */
  readonly waitArg: DataView
  readonly waitArgAddress: number
}

/** Creates a ring with `entries` SQ entries (rounded up to a power of two by the kernel). */
/** Setup flags: one submitting thread, completion work run only when that thread enters (Linux 6.1+). */
const IORING_SETUP_SINGLE_ISSUER = 1 << 12
const IORING_SETUP_DEFER_TASKRUN = 1 << 13

export const create = (entries: number): Ring | string => {
  const b = bindings()
  let params = new Uint32Array(30)
  // Deferred task running batches the per-frame completion work into our own io_uring_enter calls instead
  // of interrupting the thread for every frame; fall back to a plain ring on kernels without it.
  params[2] = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN
  let fd = b.setup(SYS_io_uring_setup, entries, params)
  if (fd < 0) {
    params = new Uint32Array(30)
    fd = b.setup(SYS_io_uring_setup, entries, params)
  }
  if (fd < 0) return `io_uring_setup failed: errno ${koffi.errno()}`
  const sqEntries = params[0]!
  const cqEntries = params[1]!
  const features = params[5]!
  if ((features & IORING_FEAT_SINGLE_MMAP) === 0) {
    b.close(fd)
    return "io_uring without IORING_FEAT_SINGLE_MMAP (kernel older than 5.4) is not supported"
  }
  const sq = params.subarray(10, 20)
  const cq = params.subarray(20, 30)
  const ringSize = Math.max(sq[6]! + sqEntries * 4, cq[5]! + cqEntries * 16)
  const ringPtr = b.mmap(null, ringSize, PROT_READ_WRITE, MAP_SHARED_POPULATE, fd, IORING_OFF_SQ_RING)
  const sqesPtr = b.mmap(null, sqEntries * 64, PROT_READ_WRITE, MAP_SHARED_POPULATE, fd, IORING_OFF_SQES)
  const failed = (p: unknown) => p === null || koffi.address(p) === 0xffffffffffffffffn
  if (failed(ringPtr) || failed(sqesPtr)) {
    b.close(fd)
    return `mmap of the io_uring rings failed: errno ${koffi.errno()}`
  }
  const ring = new Uint32Array(koffi.view(ringPtr, ringSize))
  const waitMemory = new Uint8Array(new SharedArrayBuffer(64))
  const waitArgAddress = Number(koffi.address(waitMemory))
  const waitArg = new DataView(waitMemory.buffer)
  // arg.ts points at the timespec 32 bytes further; sigmask stays NULL (no signal mask change).
  waitArg.setUint32(16, (waitArgAddress + 32) % 0x100000000, true)
  waitArg.setUint32(20, Math.floor((waitArgAddress + 32) / 0x100000000), true)
  return {
    fd,
    sqEntries,
    cqEntries,
    ring,
    sqes: new Uint32Array(koffi.view(sqesPtr, sqEntries * 64)),
    sqHead: sq[0]! / 4,
    sqTail: sq[1]! / 4,
    sqMask: ring[sq[2]! / 4]!,
    sqArray: sq[6]! / 4,
    cqHead: cq[0]! / 4,
    cqTail: cq[1]! / 4,
    cqMask: ring[cq[2]! / 4]!,
    cqes: cq[5]! / 4,
    tail: Atomics.load(ring, sq[1]! / 4),
    pending: 0,
    maps: [
      [Number(koffi.address(ringPtr)), ringSize],
      [Number(koffi.address(sqesPtr)), sqEntries * 64]
    ],
    extArg: (features & IORING_FEAT_EXT_ARG) !== 0,
    waitArg,
    waitArgAddress
  }
}

/** Free SQ slots (kernel head vs. our tail). */
export const sqSpace = (r: Ring): number => r.sqEntries - (r.tail - Atomics.load(r.ring, r.sqHead))

/**
 * Writes one SQE and queues it (published by {@link submit}). Returns false when the SQ is full.
 * `address` must be below 2^53 (true for user-space pointers).
 */
export const prep = (
  r: Ring,
  opcode: number,
  fd: number,
  address: number,
  length: number,
  opFlags: number,
  userData: number
): boolean => {
  if (sqSpace(r) <= 0) return false
  const index = r.tail & r.sqMask
  const s = r.sqes
  const w = index * 16
  // Every one of the 16 words is written (plain stores: `fill` is a call into the runtime per SQE).
  s[w] = opcode
  s[w + 1] = fd
  s[w + 2] = 0
  s[w + 3] = 0
  s[w + 4] = address % 0x100000000
  s[w + 5] = Math.floor(address / 0x100000000)
  s[w + 6] = length
  s[w + 7] = opFlags
  s[w + 8] = userData
  for (let i = 9; i < 16; i++) s[w + i] = 0
  r.ring[r.sqArray + index] = index
  r.tail = (r.tail + 1) >>> 0
  r.pending++
  return true
}

/** Publishes queued SQEs and enters the kernel; waits for `minComplete` completions. Returns the raw result. */
export const submit = (r: Ring, minComplete: number): number => {
  Atomics.store(r.ring, r.sqTail, r.tail)
  // Everything published and not yet consumed, including SQEs left over by an interrupted enter.
  const toSubmit = (r.tail - Atomics.load(r.ring, r.sqHead)) >>> 0
  r.pending = 0
  return bindings().enter(
    SYS_io_uring_enter,
    r.fd,
    toSubmit,
    minComplete,
    minComplete > 0 ? IORING_ENTER_GETEVENTS : 0,
    0,
    8
  )
}

/**
 * Publishes queued SQEs, enters the kernel once to submit them and waits until `minComplete` completions
 * are in the CQ or `timeoutMs` passed (fractional milliseconds, to the nanosecond: the receive-coalescing
 * window is tens of microseconds; needs {@link Ring.extArg}). One system call per loop round: the
 * batch's writes go in and the next reads come out of the same `io_uring_enter`. Returns the raw result:
 * -1 with errno ETIME when the wait timed out.
 */
export const submitAndWait = (r: Ring, minComplete: number, timeoutMs: number): number => {
  Atomics.store(r.ring, r.sqTail, r.tail)
  const toSubmit = (r.tail - Atomics.load(r.ring, r.sqHead)) >>> 0
  r.pending = 0
  const ns = Math.max(0, Math.ceil(timeoutMs * 1_000_000))
  r.waitArg.setUint32(32, Math.floor(ns / 1_000_000_000), true)
  r.waitArg.setUint32(40, ns % 1_000_000_000, true)
  return bindings().enter(
    SYS_io_uring_enter,
    r.fd,
    toSubmit,
    minComplete,
    IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
    r.waitArgAddress,
    GETEVENTS_ARG_SIZE
  )
}

/** A provided-buffer ring (IORING_REGISTER_PBUF_RING, Linux 5.19+) for one buffer group. */
export interface BufferRing {
  readonly group: number
  readonly mask: number
  /** The ring's 16-byte `struct io_uring_buf` entries as 32-bit words. */
  readonly words: Uint32Array
  /** Same memory as 16-bit halves: entry bid at `i * 8 + 6`, the shared tail at index 7. */
  readonly halves: Uint16Array
  tail: number
}

/** Registers a buffer ring of `entries` (a power of two) for buffer group `group`. */
export const registerBufferRing = (r: Ring, group: number, entries: number): BufferRing | string => {
  const b = bindings()
  const size = entries * 16
  const mem = b.mmap(null, size, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, -1, 0)
  if (mem === null || koffi.address(mem) === 0xffffffffffffffffn)
    return `mmap of a buffer ring failed: errno ${koffi.errno()}`
  const address = Number(koffi.address(mem))
  r.maps.push([address, size])
  const reg = new Uint32Array(10)
  reg[0] = address % 0x100000000
  reg[1] = Math.floor(address / 0x100000000)
  reg[2] = entries
  reg[3] = group // bgid (u16) + flags (u16) = 0
  if (b.register(SYS_io_uring_register, r.fd, IORING_REGISTER_PBUF_RING, reg, 1) < 0) {
    return `IORING_REGISTER_PBUF_RING failed: errno ${koffi.errno()}`
  }
  const buffer = koffi.view(mem, size)
  return { group, mask: entries - 1, words: new Uint32Array(buffer), halves: new Uint16Array(buffer), tail: 0 }
}

/** Adds a buffer (address, length, id) to the ring; visible to the kernel after {@link publishBuffers}. */
export const provideBuffer = (br: BufferRing, address: number, length: number, id: number): void => {
  const i = br.tail & br.mask
  br.words[i * 4] = address % 0x100000000
  br.words[i * 4 + 1] = Math.floor(address / 0x100000000)
  br.words[i * 4 + 2] = length
  br.halves[i * 8 + 6] = id
  br.tail = (br.tail + 1) & 0xffff
}

/** Publishes provided buffers (release store of the 16-bit tail). */
export const publishBuffers = (br: BufferRing): void => {
  Atomics.store(br.halves, 7, br.tail)
}

/** Queues a multishot read on `fd` selecting buffers from `group`. */
export const prepReadMultishot = (r: Ring, fd: number, group: number, userData: number): boolean => {
  if (!prep(r, OP_READ_MULTISHOT, fd, 0, 0, 0, userData)) return false
  const w = ((r.tail - 1) & r.sqMask) * 16
  r.sqes[w] = OP_READ_MULTISHOT | (IOSQE_BUFFER_SELECT << 8)
  r.sqes[w + 10] = group // buf_group (u16 at byte 40)
  return true
}

/**
 * Releases a ring from any thread: unmaps its memory and closes its fd (which cancels what is in flight).
 * Done by the thread that owns the worker, after the worker has exited, so a crashed worker cannot leak a
 * ring that keeps the TAP devices alive.
 */
export const release = (fd: number, maps: ReadonlyArray<readonly [number, number]>): void => {
  const b = bindings()
  for (const [address, length] of maps) b.munmap(address, length)
  b.close(fd)
}
