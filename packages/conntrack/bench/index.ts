// Connection-table benchmarks: lookup (hit and miss, scalar and batched) and insert rates at 1 M and 10 M entries,
// bytes per connection, and the longest single-operation pause while the table grows from 1 M to 10 M entries.
//
//   pnpm --filter @lvs-ts/conntrack run bench                                  (full run, ~1 GiB of typed arrays)
//   CONNTRACK_BENCH_MAX=3000000 pnpm --filter @lvs-ts/conntrack run bench      (smaller second size)
//   BENCH_DETACH=1 pnpm --filter @lvs-ts/conntrack run bench                   (an ArrayBuffer detached first)
//
// It runs as compiled JavaScript, as the package's users run it (scripts/bench-compiled.mjs bundles it with
// esbuild): through Node's type stripping, every typed-array access would also check whether its buffer was
// detached, a cost of the development harness and not of the table (see that script).
//
// Lookup rates are reported per wall-clock second and per second on CPU over the same timed passes (the thread's
// run time from /proc/self/schedstat, which leaves out runqueue wait and hypervisor steal), with the share of the
// wall time the thread was off the CPU; insert rates per wall-clock second and per second of user CPU time.
// The growth pause is measured with performance.now() around every insert (allocation-free). /proc/self/schedstat,
// read per window of 32 operations, separates what the wall clock cannot: the time the thread spent runnable but
// waiting for the core (another process had it), and the time it actually ran. The kernel (with
// CONFIG_PARAVIRT_TIME_ACCOUNTING, as on the reference VM) leaves hypervisor steal out of the latter, so a slow
// operation's time on the CPU is at most its window's run time: a pause caused by the scheduler or by the host
// taking the vCPU away is not blamed on the table. What the host does without accounting it as steal (its page
// faults on guest memory, interrupts, cache contention) still lands on random operations; the growth therefore runs
// CONNTRACK_BENCH_GROWTH_RUNS (default 3) identical times, and an operation's median time over the runs is what the
// table costs there (its work is deterministic: same seed, keys and clock).
import { openSync, readFileSync, readSync } from "node:fs"
import { PerformanceObserver } from "node:perf_hooks"
import { ConnectionTable, Destinations, Direction, Protocol, TcpState } from "../src/index.ts"
import { connectionParams, VIP } from "./fixture.ts"
import { xorshift32 } from "./random.ts"

const SMALL = 1_000_000
const LARGE = Number(process.env["CONNTRACK_BENCH_MAX"] ?? 10_000_000)
const BATCH = 1 << 20
const BURST = 64

// Timed passes of each lookup task (after WARMUP_PASSES untimed ones), BATCH lookups each.
const PASSES = 8
const WARMUP_PASSES = 2
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
const cpuMs = (): number => process.cpuUsage().user / 1000

// A /proc file kept open for allocation-free re-reads, or -1 where this kernel does not have it.
const openProc = (path: string): number => {
  try {
    return openSync(path, "r")
  } catch {
    return -1
  }
}

// This thread's time on the CPU and runqueue wait in ns (first and second fields of /proc/self/schedstat), parsed
// without allocating into schedRun and schedWait.
const schedFd = openProc("/proc/self/schedstat")
const schedBuf = Buffer.alloc(96)
let schedRun = 0
let schedWait = 0
const readSched = (): void => {
  if (schedFd < 0) return
  const n = readSync(schedFd, schedBuf, 0, 96, 0)
  let i = 0
  let v = 0
  while (i < n && schedBuf[i]! >= 0x30 && schedBuf[i]! <= 0x39) v = v * 10 + (schedBuf[i++]! - 0x30)
  schedRun = v
  i++
  v = 0
  while (i < n && schedBuf[i]! >= 0x30 && schedBuf[i]! <= 0x39) v = v * 10 + (schedBuf[i++]! - 0x30)
  schedWait = v
}
// Minor page faults of this thread so far (10th field of /proc/thread-self/stat), parsed without allocating: a
// slow operation's window of WINDOW operations says whether first touches of fresh memory happened in it.
const statFd = openProc("/proc/thread-self/stat")
const statBuf = Buffer.alloc(512)
const minorFaults = (): number => {
  if (statFd < 0) return 0
  const n = readSync(statFd, statBuf, 0, 512, 0)
  let i = n - 1
  while (i > 0 && statBuf[i] !== 0x29) i-- // the last ')' ends the command name
  for (let field = 2; field < 10 && i < n; i++) if (statBuf[i] === 0x20) field++
  let v = 0
  while (i < n && statBuf[i]! >= 0x30 && statBuf[i]! <= 0x39) v = v * 10 + (statBuf[i++]! - 0x30)
  return v
}
// A slow operation's time on the CPU, from its wall time and its window's schedstat deltas (ms): the wall time less
// the window's runqueue wait, and never more than the window's run time (which excludes hypervisor steal).
const onCpuOf = (wallMs: number, waitMs: number, runMs: number): number =>
  schedFd < 0 ? wallMs : Math.min(Math.max(0, wallMs - waitMs), runMs)

// Garbage-collection events, to attribute the longest operations (typed arrays: the observer adds nothing to the
// heap it observes beyond what Node allocates for the event itself).
const MAX_GC = 1 << 16
const gcStart = new Float64Array(MAX_GC)
const gcDuration = new Float64Array(MAX_GC)
const gcKind = new Uint8Array(MAX_GC)
let gcCount = 0
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    if (gcCount === MAX_GC) return
    const detail = (e as unknown as { detail?: { kind?: number } }).detail
    gcStart[gcCount] = e.startTime
    gcDuration[gcCount] = e.duration
    gcKind[gcCount] = detail?.kind ?? 0
    gcCount++
  }
}).observe({ entryTypes: ["gc"] })
const gcKindName = (kind: number): string =>
  kind === 1 ? "scavenge" : kind === 2 ? "minor mark-sweep" : kind === 4 ? "mark-compact" : `gc kind ${kind}`

const next = xorshift32(0x9e3779b9)

// Distinct clients by construction: address from the index, random port.
const clients = new Uint32Array(LARGE)
const ports = new Uint16Array(LARGE)
for (let i = 0; i < LARGE; i++) {
  clients[i] = (0x0a000000 + i * 7) >>> 0
  ports[i] = 1024 + (next() % 60000)
}

const counters = Destinations.makeCounters(256)
const table = ConnectionTable.make({ maxConnections: LARGE, seed: 42, destinations: counters })
const p = connectionParams()

let now = 0
const setParams = (i: number): void => {
  p.clientAddress = clients[i]!
  p.clientPort = ports[i]!
  p.destination = i & 255
  p.destinationAddress = 0xc0a80a00 + (i & 255)
}

// What identical runs must agree on when their growth ends.
const signature = (tbl: ConnectionTable.ConnectionTable): string =>
  `${tbl.size} entries, ${tbl.allocatedEntries} slots, ${tbl.bucketCount} buckets, ${tbl.byteSize()} bytes, ` +
  `resizing ${tbl.rehashing}`

const fill = (tbl: ConnectionTable.ConnectionTable, from: number, to: number): void => {
  for (let i = from; i < to; i++) {
    setParams(i)
    tbl.packet(tbl.insert(p, now), Direction.INPUT, TcpState.SYN, 60, now)
    if ((i & 0x3ff) === 0) tbl.advance(++now)
  }
}

// Slow operations (over SLOW_MS) of the growth loop, recorded into preallocated typed arrays (nothing is allocated
// per operation): operation number, kind (0 insert, 1 advance), wall ms, ms excluding runqueue wait, start time,
// whether it started an index resize / added an entry chunk.
const SLOW_MS = 0.5
const MAX_SLOW = 4096
const slowOp = new Float64Array(MAX_SLOW)
const slowKind = new Uint8Array(MAX_SLOW)
const slowWall = new Float64Array(MAX_SLOW)
const slowOnCpu = new Float64Array(MAX_SLOW)
const slowExWait = new Float64Array(MAX_SLOW)
const slowAt = new Float64Array(MAX_SLOW)
const slowGrew = new Uint8Array(MAX_SLOW)
const slowChunk = new Uint8Array(MAX_SLOW)
const slowFaults = new Int32Array(MAX_SLOW)
let slowCount = 0
// Per-window bookkeeping of the slow operations not yet charged their runqueue wait.
let slowPending = 0

interface Pause {
  maxInsertWallMs: number
  maxInsertOnCpuMs: number
  maxInsertExWaitMs: number
  insertExWaitOver1ms: number
  insertWallOver1ms: number
  insertOnCpuOver1ms: number
  maxAdvanceWallMs: number
  maxAdvanceOnCpuMs: number
  maxAdvanceExWaitMs: number
  advanceExWaitOver1ms: number
  advanceWallOver1ms: number
  advanceOnCpuOver1ms: number
  // Largest byteSize() / size seen at the advance() points (untimed): the peak falls inside index resizes, while
  // both the old and the new index arrays are alive.
  peakBytesPerConn: number
  peakAt: number
  samples: number
  samplesOver96: number
}
// Every operation is timed with one performance.now() reading per operation: the reading after an operation is the
// start of the next one, so each duration also includes the loop's own few instructions (an overstatement of
// nanoseconds). performance.now() returns a fresh heap number in Node 22 (16 bytes per call): the only allocation
// of this loop, short-lived, so it costs scavenges of an almost empty young generation and promotes nothing. The
// runqueue wait is read from /proc/self/schedstat (fs.readSync into a preallocated buffer: allocation-free) once per
// WINDOW operations; an operation slower than SLOW_MS is charged the wait of its whole window, which overstates the
// wait only if the other operations of the window (microseconds each) were preempted too.
const WINDOW = 32
// Each operation's time is also written to `insertMs[i - from]` (inserts) and `advanceMs[i >>> 10]` (advance()
// calls): its wall time, replaced by its time on CPU once its window's schedstat deltas are known if it was slow.
// Identical runs (same seed, same keys, same clock) do the same table work at the same operation, so an operation's
// median time over several runs is what the table itself costs there (see the repeated growth below).
const timedFill = (
  table: ConnectionTable.ConnectionTable,
  from: number,
  to: number,
  insertMs: Float32Array,
  advanceMs: Float32Array
): Pause => {
  const r: Pause = {
    maxInsertWallMs: 0,
    maxInsertOnCpuMs: 0,
    maxInsertExWaitMs: 0,
    insertExWaitOver1ms: 0,
    insertWallOver1ms: 0,
    insertOnCpuOver1ms: 0,
    maxAdvanceWallMs: 0,
    maxAdvanceOnCpuMs: 0,
    maxAdvanceExWaitMs: 0,
    advanceExWaitOver1ms: 0,
    advanceWallOver1ms: 0,
    advanceOnCpuOver1ms: 0,
    peakBytesPerConn: 0,
    peakAt: 0,
    samples: 0,
    samplesOver96: 0
  }
  slowCount = 0
  slowPending = 0
  readSched()
  let runStart = schedRun
  let waitStart = schedWait
  let faultsStart = minorFaults()
  let t = performance.now()
  for (let i = from; i < to; i++) {
    setParams(i)
    const buckets = table.bucketCount
    const slots = table.allocatedEntries
    table.packet(table.insert(p, now), Direction.INPUT, TcpState.SYN, 60, now)
    const t1 = performance.now()
    const d = t1 - t
    insertMs[i - from] = d
    if (d > r.maxInsertWallMs) r.maxInsertWallMs = d
    if (d > 1) r.insertWallOver1ms++
    if (d > SLOW_MS && slowCount < MAX_SLOW) {
      slowOp[slowCount] = i
      slowKind[slowCount] = 0
      slowWall[slowCount] = d
      slowAt[slowCount] = t
      slowGrew[slowCount] = table.bucketCount !== buckets ? 1 : 0
      slowChunk[slowCount] = table.allocatedEntries !== slots ? 1 : 0
      slowCount++
      slowPending++
    } else if (d > r.maxInsertOnCpuMs) r.maxInsertOnCpuMs = d
    t = t1
    // The director's clock tick: advance() every 1024 inserts (1 ms at ~1 M new connections/s); it expires entries,
    // moves a slice of a running index resize and allocates capacity ahead of need, so it is timed too.
    if ((i & 0x3ff) === 0) {
      const slotsBefore = table.allocatedEntries
      table.advance(++now)
      const t2 = performance.now()
      const d2 = t2 - t
      advanceMs[i >>> 10] = d2
      if (d2 > r.maxAdvanceWallMs) r.maxAdvanceWallMs = d2
      if (d2 > 1) r.advanceWallOver1ms++
      if (d2 > SLOW_MS && slowCount < MAX_SLOW) {
        slowOp[slowCount] = i
        slowKind[slowCount] = 1
        slowWall[slowCount] = d2
        slowAt[slowCount] = t
        slowGrew[slowCount] = 0
        slowChunk[slowCount] = table.allocatedEntries !== slotsBefore ? 1 : 0
        slowCount++
        slowPending++
      } else if (d2 > r.maxAdvanceOnCpuMs) r.maxAdvanceOnCpuMs = d2
      // Untimed: bytes per connection at this point (the clock is read again after it).
      const perConn = table.byteSize() / table.size
      r.samples++
      if (perConn > 96) r.samplesOver96++
      if (perConn > r.peakBytesPerConn) {
        r.peakBytesPerConn = perConn
        r.peakAt = table.size
      }
      t = performance.now()
    }
    if (i % WINDOW === WINDOW - 1 || i === to - 1) {
      readSched()
      const waitMs = (schedWait - waitStart) / 1e6
      const runMs = (schedRun - runStart) / 1e6
      waitStart = schedWait
      runStart = schedRun
      const faults = minorFaults()
      const windowFaults = faults - faultsStart
      faultsStart = faults
      for (let k = slowCount - slowPending; k < slowCount; k++) {
        slowFaults[k] = windowFaults
        const exWait = Math.max(0, slowWall[k]! - waitMs)
        const onCpu = onCpuOf(slowWall[k]!, waitMs, runMs)
        slowExWait[k] = exWait
        slowOnCpu[k] = onCpu
        if (slowKind[k] === 0) insertMs[slowOp[k]! - from] = onCpu
        else advanceMs[slowOp[k]! >>> 10] = onCpu
        if (slowKind[k] === 0) {
          if (onCpu > r.maxInsertOnCpuMs) r.maxInsertOnCpuMs = onCpu
          if (onCpu > 1) r.insertOnCpuOver1ms++
          if (exWait > r.maxInsertExWaitMs) r.maxInsertExWaitMs = exWait
          if (exWait > 1) r.insertExWaitOver1ms++
        } else {
          if (onCpu > r.maxAdvanceOnCpuMs) r.maxAdvanceOnCpuMs = onCpu
          if (onCpu > 1) r.advanceOnCpuOver1ms++
          if (exWait > r.maxAdvanceExWaitMs) r.maxAdvanceExWaitMs = exWait
          if (exWait > 1) r.advanceExWaitOver1ms++
        }
      }
      slowPending = 0
      t = performance.now()
    }
  }
  return r
}

// Control run: the same harness (one clock reading per operation, runqueue wait per WINDOW) around an operation
// that does not touch the table: four dependent random reads and a write over a 512 MiB array, about what an
// insert touches, for as long as the growth took. It measures how often THIS machine stalls a thread for over 1 ms when nothing in the process
// pauses (no allocation, no GC, no resize): stalls it shows are the machine's (hypervisor steal, host memory
// management), and the table's figures above are to be read against them.
const CONTROL_WORDS = 1 << 27 // 512 MiB
const controlMem = new Int32Array(CONTROL_WORDS)
interface Control {
  ops: number
  maxWallMs: number
  maxOnCpuMs: number
  wallOver1ms: number
  onCpuOver1ms: number
  maxExWaitMs: number
  exWaitOver1ms: number
}
// Stall accounting of the two controls: each operation's wall time, and per WINDOW operations the slowest one's
// time excluding runqueue wait and on CPU (schedstat deltas of the window). Allocation-free per operation.
class StallMeter {
  readonly result: Control = {
    ops: 0,
    maxWallMs: 0,
    maxOnCpuMs: 0,
    wallOver1ms: 0,
    onCpuOver1ms: 0,
    maxExWaitMs: 0,
    exWaitOver1ms: 0
  }
  private slowestInWindow = 0
  private runStart: number
  private waitStart: number
  constructor() {
    readSched()
    this.runStart = schedRun
    this.waitStart = schedWait
  }
  operation(wallMs: number): void {
    const r = this.result
    r.ops++
    if (wallMs > r.maxWallMs) r.maxWallMs = wallMs
    if (wallMs > 1) r.wallOver1ms++
    if (wallMs > this.slowestInWindow) this.slowestInWindow = wallMs
  }
  endWindow(): void {
    readSched()
    const waitMs = (schedWait - this.waitStart) / 1e6
    const runMs = (schedRun - this.runStart) / 1e6
    this.waitStart = schedWait
    this.runStart = schedRun
    const r = this.result
    const exWait = Math.max(0, this.slowestInWindow - waitMs)
    const onCpu = onCpuOf(this.slowestInWindow, waitMs, runMs)
    if (onCpu > r.maxOnCpuMs) r.maxOnCpuMs = onCpu
    if (onCpu > 1) r.onCpuOver1ms++
    if (exWait > r.maxExWaitMs) r.maxExWaitMs = exWait
    if (exWait > 1) r.exWaitOver1ms++
    this.slowestInWindow = 0
  }
}

const controlFill = (durationMs: number): Control => {
  const meter = new StallMeter()
  const mask = CONTROL_WORDS - 1
  let x = 0x9e3779b9 | 0
  let t = performance.now()
  const end = t + durationMs
  for (let i = 0; t < end; i++) {
    x = (Math.imul(x, 0x2c1b3c6d) + i) | 0
    let v = controlMem[x & mask]!
    v = controlMem[(v ^ x) & mask]!
    v = controlMem[(v + x) & mask]!
    v = controlMem[(v ^ (x >>> 7)) & mask]!
    controlMem[(x >>> 3) & mask] = v + i
    const t1 = performance.now()
    meter.operation(t1 - t)
    t = t1
    if (i % WINDOW === WINDOW - 1) {
      meter.endWindow()
      t = performance.now()
    }
  }
  return meter.result
}
// Page-fault control: what the machine charges for first touches of fresh memory. The table commits its memory as
// it grows (column and index pages are faulted in by the inserts that first write them), so a slow page fault of
// the VM's host shows up inside some insert. This writes one word into each 4 KiB page of a fresh shared buffer as
// large as the grown table, timing every touch with the same schedstat attribution as above.
const pageFaultControl = (bytes: number): Control => {
  const meter = new StallMeter()
  const pages = Math.floor(bytes / 4096)
  const words = new Int32Array(new SharedArrayBuffer(pages * 4096))
  let t = performance.now()
  for (let i = 0; i < pages; i++) {
    words[i << 10] = i
    const t1 = performance.now()
    meter.operation(t1 - t)
    t = t1
    if (i % WINDOW === WINDOW - 1 || i === pages - 1) {
      meter.endWindow()
      t = performance.now()
    }
  }
  return meter.result
}

// Hypervisor steal of the whole machine, in USER_HZ ticks (8th field of the "cpu" line of /proc/stat).
const stealTicks = (): number => {
  try {
    const line = readFileSync("/proc/stat", "latin1").split("\n", 1)[0]!
    return Number(line.trim().split(/\s+/)[8] ?? 0)
  } catch {
    return 0
  }
}

// Lookup keys, materialised sequentially (as a packet burst would be) so only the table's memory traffic counts.
const hitA = new Uint32Array(BATCH)
const hitP = new Uint16Array(BATCH)
const missA = new Uint32Array(BATCH)
const outA = new Int32Array(BATCH) // int32: a uint32 above 2^31 would be a heap number at the call
const burst = new Uint32Array(BATCH * 4)
const outBurst = new Uint32Array(BATCH * 4)
const burstOut = new Int32Array(BURST)
const makeKeys = (live: number): void => {
  for (let i = 0; i < BATCH; i++) {
    const j = next() % live
    hitA[i] = clients[j]!
    hitP[i] = ports[j]!
    outA[i] = 0xc0a80a00 + (j & 255)
    missA[i] = (0x64000000 + (next() % 0xffffff)) >>> 0
    burst.set([clients[j]!, VIP, ((ports[j]! << 16) | 80) >>> 0, Protocol.TCP], i * 4)
    outBurst.set([0xc0a80a00 + (j & 255), clients[j]!, ((80 << 16) | ports[j]!) >>> 0, Protocol.TCP], i * 4)
  }
}
const lookupHits = (): number => {
  let f = 0
  for (let i = 0; i < BATCH; i++) if (table.lookupIn(Protocol.TCP, hitA[i]!, hitP[i]!, VIP, 80) >= 0) f++
  return f
}
const lookupMisses = (): number => {
  let f = 0
  for (let i = 0; i < BATCH; i++) if (table.lookupIn(Protocol.TCP, missA[i]!, 4242, VIP, 80) >= 0) f++
  return f
}
const lookupOutHits = (): number => {
  let f = 0
  for (let i = 0; i < BATCH; i++) if (table.lookupOut(Protocol.TCP, outA[i]!, 80, hitA[i]!, hitP[i]!) >= 0) f++
  return f
}
const lookupBursts = (): number => {
  let f = 0
  for (let i = 0; i < BATCH; i += BURST) f += table.lookupInBatch(burst, BURST, burstOut, i * 4)
  return f
}
const lookupOutBursts = (): number => {
  let f = 0
  for (let i = 0; i < BATCH; i += BURST) f += table.lookupOutBatch(outBurst, BURST, burstOut, i * 4)
  return f
}

const rows: Array<Record<string, string | number>> = []
const fmt = (x: number, d = 2): number => Number(x.toFixed(d))

const measure = async (label: string, live: number): Promise<void> => {
  // Let a running index resize finish (advance() moves 64 slots per call, as a director's clock tick would): lookups
  // are measured on the settled table. Mid-resize, a key not yet moved costs an extra probe of the old index.
  const resizing = table.rehashing
  while (table.rehashing) table.advance(now)
  if (resizing) console.log(`${label}: an index resize was running; finished before measuring`)
  makeKeys(live)
  if (lookupHits() !== BATCH || lookupBursts() !== BATCH || lookupOutHits() !== BATCH || lookupOutBursts() !== BATCH) {
    throw new Error(`${label}: a hit key was not found`)
  }
  if (lookupMisses() !== 0) throw new Error(`${label}: a miss key was found`)
  gc()
  const tasks: Array<[string, () => number]> = [
    [`lookupIn hit, scalar (${label})`, lookupHits],
    [`lookupIn miss, scalar (${label})`, lookupMisses],
    [`lookupOut hit, scalar (${label})`, lookupOutHits],
    [`lookupIn hit, bursts of ${BURST} (${label})`, lookupBursts],
    [`lookupOut hit, bursts of ${BURST} (${label})`, lookupOutBursts]
  ]
  // Round-robin over the tasks, so a busy spell of the host is shared out between them. Every pass is timed by the
  // wall clock and by this thread's run time from /proc/self/schedstat over the same pass: the run time leaves out
  // runqueue wait and (with CONFIG_PARAVIRT_TIME_ACCOUNTING) hypervisor steal, so "on CPU" is what the lookups
  // cost the core, and "off CPU" is the share of the wall time the thread was not running.
  const bestWall = new Float64Array(tasks.length).fill(Number.POSITIVE_INFINITY)
  const bestRun = new Float64Array(tasks.length).fill(Number.POSITIVE_INFINITY)
  const sumWall = new Float64Array(tasks.length)
  const sumRun = new Float64Array(tasks.length)
  const stealBefore = stealTicks()
  for (let pass = -WARMUP_PASSES; pass < PASSES; pass++) {
    for (let t = 0; t < tasks.length; t++) {
      readSched()
      const run0 = schedRun
      const t0 = performance.now()
      tasks[t]![1]()
      const wallMs = performance.now() - t0
      readSched()
      if (pass < 0) continue
      // Without schedstat (run time stays 0) the run time is taken to be the wall time.
      const runMs = schedFd >= 0 ? (schedRun - run0) / 1e6 : wallMs
      if (wallMs < bestWall[t]!) bestWall[t] = wallMs
      if (runMs < bestRun[t]!) bestRun[t] = runMs
      sumWall[t] = sumWall[t]! + wallMs
      sumRun[t] = sumRun[t]! + runMs
    }
  }
  console.log(`${label}: machine steal during the lookups: ${stealTicks() - stealBefore} ticks of 10 ms (both vCPUs)`)
  for (let t = 0; t < tasks.length; t++) {
    rows.push({
      task: tasks[t]![0],
      "M/s wall (best)": fmt(BATCH / bestWall[t]! / 1e3),
      "M/s wall (mean)": fmt((BATCH * PASSES) / sumWall[t]! / 1e3),
      "M/s on CPU (best)": fmt(BATCH / bestRun[t]! / 1e3),
      "off CPU %": fmt((100 * (sumWall[t]! - sumRun[t]!)) / sumWall[t]!, 1)
    })
  }
  rows.push({
    task: `memory at ${label}`,
    "bytes/slot": fmt(table.byteSize() / table.allocatedEntries),
    "bytes/live conn": fmt(table.byteSize() / table.size),
    buckets: table.bucketCount,
    MiB: fmt(table.byteSize() / 2 ** 20, 1)
  })
  console.table(rows.slice(-6))
}

console.log(`conntrack bench: ${SMALL} and ${LARGE} entries, node ${process.version}, ${new Date().toISOString()}`)
// The machine's dependent random-read latency (a pointer chase over one random cycle of 64-byte lines), printed so
// rates measured on different days (this shared VM's speed varies) can be compared: a scalar hit is two such reads.
const chaseNs = (bytes: number): number => {
  const lines = bytes >>> 6
  const next = new Int32Array(lines * 16)
  const order = new Int32Array(lines)
  for (let i = 0; i < lines; i++) order[i] = i
  for (let i = lines - 1; i > 0; i--) {
    const j = next32() % (i + 1)
    const t = order[i]!
    order[i] = order[j]!
    order[j] = t
  }
  for (let i = 0; i < lines; i++) next[order[i]! * 16] = order[(i + 1) % lines]! * 16
  const steps = 2_000_000
  let at = 0
  const t0 = performance.now()
  for (let i = 0; i < steps; i++) at = next[at]!
  const ns = ((performance.now() - t0) * 1e6) / steps
  return at === -1 ? 0 : ns
}
const next32 = xorshift32(0x2545f491)
console.log(
  `machine: dependent random read ${fmt(chaseNs(4 << 20), 1)} ns within 4 MiB, ${fmt(chaseNs(16 << 20), 1)} ns ` +
    `within 16 MiB, ${fmt(chaseNs(64 << 20), 1)} ns within 64 MiB`
)
gc()
let w = performance.now()
let c = cpuMs()
fill(table, 0, SMALL)
rows.push({
  task: `insert + SYN, 0 -> ${SMALL / 1e6} M`,
  "M/s wall (best)": fmt(SMALL / (performance.now() - w) / 1e3),
  "M/s cpu (best)": fmt(SMALL / (cpuMs() - c) / 1e3)
})
await measure(`${SMALL / 1e6} M`, SMALL)

// Every run's per-operation times (see timedFill), allocated before the first run and on SharedArrayBuffers: V8
// counts plain ArrayBuffers as external memory, and 36 MB of it allocated now would start a collection whose pauses
// land inside the timed inserts.
const REPEATS = Math.max(1, Number(process.env["CONNTRACK_BENCH_GROWTH_RUNS"] ?? 3))
const insertRuns: Array<Float32Array> = []
const advanceRuns: Array<Float32Array> = []
for (let run = 0; run < REPEATS; run++) {
  insertRuns.push(new Float32Array(new SharedArrayBuffer((LARGE - SMALL) * 4)))
  advanceRuns.push(new Float32Array(new SharedArrayBuffer(((LARGE >>> 10) + 1) * 4)))
}
gc()
await new Promise((resolve) => setTimeout(resolve, 200)) // the collector's background sweeping finishes first
w = performance.now()
c = cpuMs()
const stealBefore = stealTicks()
const growthStart = performance.now()
const pause = timedFill(table, SMALL, LARGE, insertRuns[0]!, advanceRuns[0]!)
const growthEnd = performance.now()
const growthSignature = signature(table)
const growthSteal = stealTicks() - stealBefore
rows.push({
  task: `insert + SYN, ${SMALL / 1e6} M -> ${LARGE / 1e6} M (every op timed)`,
  "M/s wall (best)": fmt((LARGE - SMALL) / (performance.now() - w) / 1e3),
  "M/s cpu (best)": fmt((LARGE - SMALL) / (cpuMs() - c) / 1e3)
})
await measure(`${LARGE / 1e6} M`, LARGE)

// Churn at full size: expire 100,000 random entries, then insert 100,000 new ones (untimed loops).
{
  const CHURN = 100_000
  const victims = new Int32Array(CHURN)
  for (let k = 0; k < CHURN; k++) {
    const j = next() % LARGE
    victims[k] = table.lookupIn(Protocol.TCP, clients[j]!, ports[j]!, VIP, 80)
  }
  gc()
  let removed = 0
  w = performance.now()
  c = cpuMs()
  for (let k = 0; k < CHURN; k++) {
    const e = victims[k]!
    if (e >= 0 && table.isLive(e) && table.expireNow(e, now)) removed++
  }
  rows.push({
    task: `expireNow at ${LARGE / 1e6} M (${removed} entries)`,
    "M/s wall (best)": fmt(removed / (performance.now() - w) / 1e3),
    "M/s cpu (best)": fmt(removed / (cpuMs() - c) / 1e3)
  })
  w = performance.now()
  c = cpuMs()
  for (let k = 0; k < removed; k++) {
    p.clientAddress = (0x50000000 + k) >>> 0
    p.clientPort = 1024 + (k & 0x7fff)
    p.destination = k & 255
    table.packet(table.insert(p, now), Direction.INPUT, TcpState.SYN, 60, now)
    if ((k & 0x3ff) === 0) table.advance(++now)
  }
  rows.push({
    task: `insert + SYN at ${LARGE / 1e6} M (${removed} entries)`,
    "M/s wall (best)": fmt(removed / (performance.now() - w) / 1e3),
    "M/s cpu (best)": fmt(removed / (cpuMs() - c) / 1e3)
  })
}
gc()
const controlStealBefore = stealTicks()
const control = controlFill(growthEnd - growthStart)
const controlSteal = stealTicks() - controlStealBefore
const faults = pageFaultControl(table.byteSize())
await new Promise((resolve) => setTimeout(resolve, 50))
let growthGc = 0
let growthScavenges = 0
let gcMax = 0
for (let g = 0; g < gcCount; g++) {
  if (gcStart[g]! < growthStart || gcStart[g]! > growthEnd) continue
  growthGc++
  if (gcKind[g] === 1) growthScavenges++
  if (gcDuration[g]! > gcMax) gcMax = gcDuration[g]!
}
const gcDuring = (at: number, wallMs: number): string => {
  for (let g = 0; g < gcCount; g++) {
    if (gcStart[g]! <= at + wallMs && gcStart[g]! + gcDuration[g]! >= at) {
      return `${gcKindName(gcKind[g]!)} ${fmt(gcDuration[g]!, 3)} ms`
    }
  }
  return ""
}

console.table(rows)
console.log(
  `growth ${SMALL / 1e6} M -> ${LARGE / 1e6} M (schedstat ${schedFd >= 0 ? "available" : "unavailable"}):\n` +
    `  insert + SYN: longest ${fmt(pause.maxInsertWallMs, 3)} ms wall, ${fmt(pause.maxInsertExWaitMs, 3)} ms ` +
    `excluding runqueue wait, ${fmt(pause.maxInsertOnCpuMs, 3)} ms on CPU (also excluding steal); over 1 ms: ` +
    `${pause.insertWallOver1ms} wall, ${pause.insertExWaitOver1ms} excluding wait, ${pause.insertOnCpuOver1ms} on CPU\n` +
    `  advance() every 1024 inserts: longest ${fmt(pause.maxAdvanceWallMs, 3)} ms wall, ` +
    `${fmt(pause.maxAdvanceExWaitMs, 3)} ms excluding runqueue wait, ${fmt(pause.maxAdvanceOnCpuMs, 3)} ms on CPU; ` +
    `over 1 ms: ${pause.advanceWallOver1ms} wall, ${pause.advanceExWaitOver1ms} excluding wait, ` +
    `${pause.advanceOnCpuOver1ms} on CPU\n` +
    `  bytes per connection: peak ${fmt(pause.peakBytesPerConn)} at ${pause.peakAt} entries (mid-resize); ` +
    `over 96 at ${pause.samplesOver96} of ${pause.samples} advance() points\n` +
    `  GC during growth: ${growthGc} events (${growthScavenges} scavenges), longest ${fmt(gcMax, 3)} ms; ` +
    `${slowCount} operations over ${SLOW_MS} ms; machine steal ${growthSteal} ticks\n` +
    `control (same harness, as long as the growth: ${fmt(control.ops / 1e6)} M operations of 4 dependent random ` +
    `reads + 1 write over ` +
    `512 MiB, no table, no allocation): longest ${fmt(control.maxWallMs, 3)} ms wall, ` +
    `${fmt(control.maxExWaitMs, 3)} ms excluding runqueue wait, ${fmt(control.maxOnCpuMs, 3)} ms on CPU; over 1 ms: ` +
    `${control.wallOver1ms} wall, ${control.exWaitOver1ms} excluding wait, ${control.onCpuOver1ms} on CPU; ` +
    `machine steal ${controlSteal} ticks\n` +
    `page-fault control (first write to each of ${fmt(faults.ops / 1e3, 0)} k fresh 4 KiB pages, the grown table's ` +
    `size): longest ${fmt(faults.maxWallMs, 3)} ms wall, ${fmt(faults.maxExWaitMs, 3)} ms excluding runqueue wait, ` +
    `${fmt(faults.maxOnCpuMs, 3)} ms on CPU; over 1 ms: ${faults.wallOver1ms} wall, ${faults.exWaitOver1ms} ` +
    `excluding wait, ${faults.onCpuOver1ms} on CPU`
)
const worst: Array<Record<string, string | number | boolean>> = []
for (let k = 0; k < slowCount; k++) {
  worst.push({
    op: slowOp[k]!,
    kind: slowKind[k] === 0 ? "insert" : "advance",
    wallMs: fmt(slowWall[k]!, 3),
    exWaitMs: fmt(slowExWait[k]!, 3),
    onCpuMs: fmt(slowOnCpu[k]!, 3),
    grew: slowGrew[k] === 1,
    chunk: slowChunk[k] === 1,
    faults: slowFaults[k]!,
    gc: gcDuring(slowAt[k]!, slowWall[k]!)
  })
}
worst.sort((x, y) => (y["wallMs"] as number) - (x["wallMs"] as number))
console.log("slowest operations by wall clock:")
console.table(worst.slice(0, 8))
worst.sort((x, y) => (y["onCpuMs"] as number) - (x["onCpuMs"] as number))
console.log("slowest operations on CPU (excluding runqueue wait and hypervisor steal):")
console.table(worst.slice(0, 10))
console.log(
  `table: size=${table.size} slots=${table.allocatedEntries} buckets=${table.bucketCount} ` +
    `bytes=${table.byteSize()} (${fmt(table.byteSize() / 2 ** 30, 3)} GiB), ${fmt(table.byteSize() / table.allocatedEntries)} B/slot, ` +
    `${fmt(table.byteSize() / table.size)} B/conn; load average ${(await import("node:os"))
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`
)

// Repeated growth. A slow operation's time on CPU still includes what the VM's host does to the thread without
// counting it as steal (its own page faults on guest memory, cache and memory-bandwidth contention, interrupts the
// guest does not account separately): such stalls land on random operations, while the table's own work is
// deterministic. So the same growth, 1 M -> 10 M with the same seed, keys and clock, runs REPEATS times on fresh
// tables, and each operation's median time over the runs is what the table costs there (its lowest is printed too).
// A pause the table causes (a resize step, a chunk allocation, a first touch of its own memory) recurs at the same
// operation in every run and survives the median; a stall that hit one run only does not.
const runLines: Array<string> = []
const describeRun = (run: number, r: Pause, start: number, end: number): string => {
  let gcs = 0
  let longest = 0
  for (let g = 0; g < gcCount; g++) {
    if (gcStart[g]! < start || gcStart[g]! > end) continue
    gcs++
    if (gcDuration[g]! > longest) longest = gcDuration[g]!
  }
  return (
    `  run ${run}: insert longest ${fmt(r.maxInsertWallMs, 3)} ms wall, ${fmt(r.maxInsertOnCpuMs, 3)} ms on CPU ` +
    `(${r.insertOnCpuOver1ms} over 1 ms); advance() longest ${fmt(r.maxAdvanceWallMs, 3)} ms wall, ` +
    `${fmt(r.maxAdvanceOnCpuMs, 3)} ms on CPU (${r.advanceOnCpuOver1ms} over 1 ms); GC ${gcs} events, longest ` +
    `${fmt(longest, 3)} ms; ${fmt((end - start) / 1e3, 1)} s`
  )
}
runLines.push(describeRun(1, pause, growthStart, growthEnd))
const signatures = [growthSignature]
// One more run on a fresh table. The previous run's table and the controls' buffers are garbage by now: the
// collection and the pause are forced here, before the timed loop, so that freeing a gigabyte of their memory
// (unmapping it) does not land inside a timed insert.
const growAgain = async (run: number): Promise<void> => {
  const fresh = ConnectionTable.make({ maxConnections: LARGE, seed: 42, destinations: Destinations.makeCounters(256) })
  now = 0
  fill(fresh, 0, SMALL)
  while (fresh.rehashing) fresh.advance(now)
  gc()
  await new Promise((resolve) => setTimeout(resolve, 200))
  const start = performance.now()
  const r = timedFill(fresh, SMALL, LARGE, insertRuns[run - 1]!, advanceRuns[run - 1]!)
  const end = performance.now()
  signatures.push(signature(fresh))
  await new Promise((resolve) => setTimeout(resolve, 50)) // let the GC observer deliver this run's events
  runLines.push(describeRun(run, r, start, end))
}
for (let run = 2; run <= REPEATS; run++) await growAgain(run)
// Each operation's median and lowest time over the runs, the largest of each per kind, and the operations that took
// over 1 ms (on CPU) in any run, with their time in each run.
const lowest = (runs: Array<Float32Array>, at: number): number => {
  let m = Number.POSITIVE_INFINITY
  for (const times of runs) if (times[at]! < m) m = times[at]!
  return m
}
// The median of an operation's times over the runs (the upper one for an even count), by insertion sort into a
// preallocated array: the reading the verdict uses, less forgiving than the lowest.
const sorted = new Float64Array(REPEATS)
const median = (runs: Array<Float32Array>, at: number): number => {
  for (let r = 0; r < runs.length; r++) {
    const x = runs[r]![at]!
    let j = r
    while (j > 0 && sorted[j - 1]! > x) {
      sorted[j] = sorted[j - 1]!
      j--
    }
    sorted[j] = x
  }
  return sorted[runs.length >> 1]!
}
// The operations of one kind: their per-run times, the slots they use, and the operation number of a slot.
interface Kind {
  readonly name: string
  readonly runs: Array<Float32Array>
  readonly from: number
  readonly to: number
  readonly op: (slot: number) => number
}
const kinds: Array<Kind> = [
  { name: "insert", runs: insertRuns, from: 0, to: LARGE - SMALL, op: (slot) => slot + SMALL },
  // advance() runs at every i with (i & 0x3ff) === 0 and is recorded at slot i >>> 10.
  {
    name: "advance()",
    runs: advanceRuns,
    from: (SMALL + 1023) >>> 10,
    to: ((LARGE - 1) >>> 10) + 1,
    op: (slot) => slot << 10
  }
]
// The slowest operation of a kind by `of` (median or lowest over the runs), as "<ms> ms (op <n>)".
const slowest = (kind: Kind, of: (runs: Array<Float32Array>, at: number) => number): { ms: number; text: string } => {
  let ms = 0
  let at = kind.from
  for (let k = kind.from; k < kind.to; k++) {
    const m = of(kind.runs, k)
    if (m > ms) {
      ms = m
      at = k
    }
  }
  return { ms, text: `${kind.name} ${fmt(ms, 3)} ms (op ${kind.op(at)})` }
}
const byMedian = kinds.map((kind) => slowest(kind, median))
const byLowest = kinds.map((kind) => slowest(kind, lowest))
const same = signatures.every((x) => x === signatures[0])
// Up to 16 operations of each kind that took over 1 ms in some run.
const over: Array<Record<string, string | number>> = []
for (const kind of kinds) {
  let listed = 0
  for (let k = kind.from; k < kind.to && listed < 16; k++) {
    let slow = false
    for (const times of kind.runs) if (times[k]! > 1) slow = true
    if (!slow) continue
    const row: Record<string, string | number> = { op: kind.op(k), kind: kind.name }
    kind.runs.forEach((times, run) => {
      row[`run ${run + 1} ms`] = fmt(times[k]!, 3)
    })
    row["median ms"] = fmt(median(kind.runs, k), 3)
    over.push(row)
    listed++
  }
}
const longestOwn = Math.max(...byMedian.map((x) => x.ms))
console.log(
  `repeated growth ${SMALL / 1e6} M -> ${LARGE / 1e6} M, ${REPEATS} identical runs (same seed, keys and clock; ` +
    `tables equal when growth ends: ${same ? "yes" : `NO: ${signatures.join(" | ")}`}):\n` +
    `${runLines.join("\n")}\n` +
    `  the table's own longest pause, by each operation's median over the runs (time on CPU where it was slow, else ` +
    `wall): ${byMedian.map((x) => x.text).join(", ")}; by its lowest: ${byLowest.map((x) => x.text).join(", ")}\n` +
    `  1 ms bound (on the medians): ` +
    `${REPEATS < 2 ? "no verdict (one run)" : !same ? "no verdict (runs differ)" : longestOwn <= 1 ? "holds" : "MISSED"}`
)
if (over.length > 0) {
  console.log("operations over 1 ms on CPU in some run (up to 16 of each kind), with their time in every run:")
  console.table(over)
}
