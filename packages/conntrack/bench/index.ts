// Connection-table benchmarks: lookup (hit and miss) and insert rates at 1 M and 10 M entries, bytes per
// connection, and the longest single-operation pause while the table grows from 1 M to 10 M entries.
//
//   pnpm --filter @lvs-ts/conntrack run bench            (full run, ~1 GiB of typed arrays)
//   CONNTRACK_BENCH_MAX=2000000 pnpm --filter @lvs-ts/conntrack run bench   (smaller second size)
import { Bench } from "tinybench"
import {
  ConnectionFlags,
  ConnectionParams,
  ConnectionTable,
  Destinations,
  Direction,
  Protocol,
  TcpState
} from "../src/index.ts"

const SMALL = 1_000_000
const LARGE = Number(process.env["CONNTRACK_BENCH_MAX"] ?? 10_000_000)
const BATCH = 1 << 20
const VIP = 0xcfaf2c6e

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

// Deterministic pseudo-random clients: distinct (address, port) pairs from a xorshift sequence.
let rng = 0x9e3779b9
const next = (): number => {
  rng ^= rng << 13
  rng ^= rng >>> 17
  rng ^= rng << 5
  return rng >>> 0
}

const clients = new Uint32Array(LARGE)
const ports = new Uint16Array(LARGE)
for (let i = 0; i < LARGE; i++) {
  // Address = index spread over 10.0.0.0/8-like space, port random: unique by construction.
  clients[i] = (0x0a000000 + i * 7) >>> 0
  ports[i] = 1024 + (next() % 60000)
}

const counters = Destinations.makeCounters(256)
const table = ConnectionTable.make({ maxConnections: LARGE, seed: 42, destinations: counters })
const p = ConnectionParams.make()
p.protocol = Protocol.TCP
p.virtualAddress = VIP
p.virtualPort = 80
p.destinationPort = 80
p.method = ConnectionFlags.MASQ

let maxPauseNs = 0n
let now = 0
const insertRange = (from: number, to: number, timed: boolean): number => {
  const t0 = process.hrtime.bigint()
  for (let i = from; i < to; i++) {
    p.clientAddress = clients[i]!
    p.clientPort = ports[i]!
    p.destination = i & 255
    p.destinationAddress = 0xc0a80a00 + (i & 255)
    if (timed) {
      const a = process.hrtime.bigint()
      const e = table.insert(p, now)
      table.packet(e, Direction.INPUT, TcpState.SYN, 60, now)
      const d = process.hrtime.bigint() - a
      if (d > maxPauseNs) maxPauseNs = d
    } else {
      const e = table.insert(p, now)
      table.packet(e, Direction.INPUT, TcpState.SYN, 60, now)
    }
    if ((i & 0xffff) === 0) {
      now += 1
      table.advance(now)
    }
  }
  return Number(process.hrtime.bigint() - t0) / 1e9
}

// Random hit and miss key sets of BATCH lookups.
const hitIdx = new Uint32Array(BATCH)
const missAddr = new Uint32Array(BATCH)
const makeKeys = (live: number): void => {
  for (let i = 0; i < BATCH; i++) {
    hitIdx[i] = next() % live
    missAddr[i] = (0x64000000 + (next() % 0xffffff)) >>> 0
  }
}

const lookupHits = (): number => {
  let found = 0
  for (let i = 0; i < BATCH; i++) {
    const j = hitIdx[i]!
    if (table.lookupIn(Protocol.TCP, clients[j]!, ports[j]!, VIP, 80) >= 0) found++
  }
  return found
}
const lookupMisses = (): number => {
  let found = 0
  for (let i = 0; i < BATCH; i++) {
    if (table.lookupIn(Protocol.TCP, missAddr[i]!, 4242, VIP, 80) >= 0) found++
  }
  return found
}
const lookupOutHits = (): number => {
  let found = 0
  for (let i = 0; i < BATCH; i++) {
    const j = hitIdx[i]!
    if (table.lookupOut(Protocol.TCP, 0xc0a80a00 + (j & 255), 80, clients[j]!, ports[j]!) >= 0) found++
  }
  return found
}

const rows: Array<Record<string, string | number>> = []
const measure = async (label: string, live: number): Promise<void> => {
  makeKeys(live)
  if (lookupHits() !== BATCH) throw new Error(`${label}: not every hit key was found`)
  if (lookupMisses() !== 0) throw new Error(`${label}: a miss key was found`)
  gc()
  const bench = new Bench({ iterations: 10, warmupIterations: 2, time: 0, warmupTime: 0 })
  bench.add(`lookupIn hit (${label})`, lookupHits)
  bench.add(`lookupIn miss (${label})`, lookupMisses)
  bench.add(`lookupOut hit (${label})`, lookupOutHits)
  await bench.run()
  for (const task of bench.tasks) {
    const r = task.result as { latency?: { mean: number }; period?: number } | undefined
    const meanMs = r?.latency?.mean ?? r?.period ?? Number.NaN
    rows.push({ task: task.name, "Mops/s": ((BATCH / meanMs) * 1e3) / 1e6 })
  }
  rows.push({
    task: `memory (${label})`,
    "bytes/entry slot": table.byteSize() / table.allocatedEntries,
    "bytes/live conn": table.byteSize() / table.size,
    buckets: table.bucketCount
  })
  console.table(rows.slice(-4))
}

gc()
const tSmall = insertRange(0, SMALL, false)
rows.push({ task: `insert+SYN 0 -> ${SMALL / 1e6} M`, "Mops/s": SMALL / tSmall / 1e6 })
await measure(`${SMALL / 1e6} M`, SMALL)

gc()
const tLarge = insertRange(SMALL, LARGE, true)
rows.push({
  task: `insert+SYN ${SMALL / 1e6} M -> ${LARGE / 1e6} M (each op timed)`,
  "Mops/s": (LARGE - SMALL) / tLarge / 1e6,
  "max pause ms": Number(maxPauseNs) / 1e6
})
await measure(`${LARGE / 1e6} M`, LARGE)

console.table(rows)
console.log(
  `table: size=${table.size} allocated=${table.allocatedEntries} buckets=${table.bucketCount} bytes=${table.byteSize()} ` +
    `(${(table.byteSize() / 2 ** 30).toFixed(3)} GiB), rehashing=${table.rehashing}`
)
