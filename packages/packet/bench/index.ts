/**
 * Hot-path benchmarks of @lvs-ts/packet, one core:
 *
 * - parse:   PacketParser.parse of Ethernet + IPv4 + TCP
 * - NAT:     parse + DNAT (destination address + port) with incremental IPv4 and TCP checksum updates
 * - DR:      MAC rewrite + TTL decrement with incremental IPv4 checksum update (offsets known)
 * - DR+parse: the same after a parse
 *
 * First, per case, a heap check (10 million iterations with global.gc() before and after, heapUsed delta)
 * and timed plain loops (10 chunks of 1 million; wall and CPU time). Then tinybench, whose tasks process a
 * batch of BATCH packets per call (a single rewrite is ~10-50 ns, below what a per-call timer can
 * resolve), so ns/op = task mean / BATCH.
 *
 * Run: pnpm --filter @lvs-ts/packet run bench   (node --expose-gc --conditions=@lvs-ts/source bench/index.ts)
 */
import { Checksum, Ethernet, Ipv4, Nat, PacketParser, ParseResult } from "@lvs-ts/packet"
import { Bench } from "tinybench"

const BATCH = 1000
const FRAMES = 16
const HEAP_ITERATIONS = 10_000_000

/** 16 Ethernet + IPv4 + TCP frames (different ports and payload sizes) in one buffer, 128 bytes apart. */
const STRIDE = 128
const buf = new Uint8Array(FRAMES * STRIDE)
const lengths = new Int32Array(FRAMES)
for (let i = 0; i < FRAMES; i++) {
  const o = i * STRIDE
  const payload = 10 + i * 4
  const total = 20 + 20 + payload
  buf.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00], o)
  buf.set([0x45, 0, total >>> 8, total & 255, 0, i, 0x40, 0, 64, 6, 0, 0, 192, 168, 0, 1 + i, 10, 0, 0, 1], o + 14)
  const l4 = o + 34
  buf.set([0x9c, 0x40 + i, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0], l4)
  for (let j = 0; j < payload; j++) buf[l4 + 20 + j] = (j * 7 + i) & 255
  Ipv4.updateChecksum(buf, o + 14)
  buf[l4 + 16] = 0
  buf[l4 + 17] = 0
  const c = Checksum.transport(buf, o + 14, l4, 6, 20 + payload)
  buf[l4 + 16] = c >>> 8
  buf[l4 + 17] = c & 255
  lengths[i] = 14 + total
}

const parser = new PacketParser()
const rsMac = Uint8Array.from([2, 0, 0, 0, 0, 0x33])
const ourMac = Uint8Array.from([2, 0, 0, 0, 0, 0x44])
const pair = Ethernet.macPair(rsMac, ourMac)
const RIP = 0x0a000102
let sink = 0

const parseOne = (i: number): void => {
  sink += parser.parse(buf, i * STRIDE, lengths[i]!)
}

const natOne = (i: number): void => {
  const p = parser
  if (p.parse(buf, i * STRIDE, lengths[i]!) !== ParseResult.Ok) return
  Nat.setDestinationV4(buf, p.l3Offset, p.l4Offset, p.protocol, RIP, 8080)
}

const drOne = (i: number): void => {
  const o = i * STRIDE
  Ethernet.rewritePair(buf, o, pair)
  if (!Ipv4.decrementTtl(buf, o + 14)) {
    // Keep the TTL from running out over millions of iterations (once every 254 packets).
    buf[o + 14 + Ipv4.TTL] = 255
    Ipv4.updateChecksum(buf, o + 14)
  }
}

const drParseOne = (i: number): void => {
  const o = i * STRIDE
  const p = parser
  if (p.parse(buf, o, lengths[i]!) !== ParseResult.Ok) return
  Ethernet.rewritePair(buf, o, pair)
  if (!Ipv4.decrementTtl(buf, p.l3Offset)) {
    buf[p.l3Offset + Ipv4.TTL] = 255
    Ipv4.updateChecksum(buf, p.l3Offset)
  }
}

// One explicit loop per case, so every call site in a loop sees one function only (monomorphic and
// inlinable, as a worker's receive loop would be); a shared `(one) => loop` helper would make the
// inner call megamorphic and measure call overhead instead.
const loopParse = (n: number): void => {
  for (let k = 0; k < n; k++) parseOne(k & (FRAMES - 1))
}
const loopNat = (n: number): void => {
  for (let k = 0; k < n; k++) natOne(k & (FRAMES - 1))
}
const loopDr = (n: number): void => {
  for (let k = 0; k < n; k++) drOne(k & (FRAMES - 1))
}
const loopDrParse = (n: number): void => {
  for (let k = 0; k < n; k++) drParseOne(k & (FRAMES - 1))
}

const cases: ReadonlyArray<readonly [string, (n: number) => void]> = [
  ["parse (Ethernet + IPv4 + TCP)", loopParse],
  ["NAT rewrite (parse + DNAT addr/port + IPv4/TCP checksums)", loopNat],
  ["DR rewrite (MACs + TTL + IPv4 checksum)", loopDr],
  ["DR rewrite with parse", loopDrParse]
]

const fmt = (n: number, d = 1) => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d })

// Plain loops first: tinybench leaves megabytes of samples whose concurrent GC work would be counted
// in this process's CPU time.
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) {
  console.log("\nheap check skipped: run with node --expose-gc (the package's bench script does)")
} else {
  console.log(`\n@lvs-ts/packet bench (node ${process.version}, one core)`)
  console.log(`\nHeap growth over ${HEAP_ITERATIONS.toLocaleString("en-US")} iterations (gc before and after):\n`)
  console.log(
    "| case | heapUsed delta (bytes) | ns/op wall (mean) | ns/op CPU (mean) | ns/op CPU (best 1M chunk) | M ops/s per core (best chunk) |"
  )
  console.log("| --- | ---: | ---: | ---: | ---: | ---: |")
  const CHUNK = 1_000_000
  for (const [name, loop] of cases) {
    // Warm-up first, so the JIT's own allocations (feedback, optimised code) are not counted.
    loop(CHUNK)
    // Heap check: nothing but the 10 M iterations between the two measurements.
    gc()
    const before = process.memoryUsage().heapUsed
    loop(HEAP_ITERATIONS)
    gc()
    const after = process.memoryUsage().heapUsed
    gc()
    // Timing: 10 chunks of 1 M; CPU time (user + system of this process) leaves out the time the shared
    // machine gave to other processes, the best chunk is the least disturbed one.
    let wall = 0
    let cpu = 0
    let best = Number.POSITIVE_INFINITY
    const chunks = 10
    for (let c = 0; c < chunks; c++) {
      const c0 = process.cpuUsage()
      const t0 = process.hrtime.bigint()
      loop(CHUNK)
      const t1 = process.hrtime.bigint()
      const c1 = process.cpuUsage(c0)
      const chunkCpu = (c1.user + c1.system) * 1000
      wall += Number(t1 - t0)
      cpu += chunkCpu
      if (chunkCpu < best) best = chunkCpu
    }
    const bestNs = best / CHUNK
    const n = chunks * CHUNK
    console.log(
      `| ${name} | ${after - before} | ${fmt(wall / n)} | ${fmt(cpu / n)} | ${fmt(bestNs)} | ${fmt(1000 / bestNs, 2)} |`
    )
  }
}

const bench = new Bench({ time: 1500, warmup: true })
for (const [name, loop] of cases) bench.add(name, () => loop(BATCH))
await bench.run()

console.log(`\ntinybench (${BATCH} packets per task call, wall clock):\n`)
console.log("| case | ns/op | M ops/s |")
console.log("| --- | ---: | ---: |")
for (const task of bench.tasks) {
  const r = task.result
  if (r.state !== "completed") {
    console.log(`| ${task.name} | ${r.state} | |`)
    continue
  }
  const nsPerOp = (r.latency.mean * 1e6) / BATCH
  console.log(`| ${task.name} | ${fmt(nsPerOp)} | ${fmt(1000 / nsPerOp, 2)} |`)
}

if (sink === -1) console.log(sink)
