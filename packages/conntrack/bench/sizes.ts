// Lookup rate against table size: where the rate falls off as the key records and the index outgrow the CPU caches
// and the TLB. Uniform random keys over the whole table, as in bench/index.ts.
//
//   pnpm --filter @lvs-ts/conntrack run bench:sizes
//   CONNTRACK_BENCH_SIZES=16384,1000000 pnpm --filter @lvs-ts/conntrack run bench:sizes
import {
  ConnectionFlags,
  ConnectionParams,
  ConnectionTable,
  Destinations,
  Direction,
  Protocol,
  TcpState
} from "../src/index.ts"
import { xorshift32 } from "./random.ts"

const VIP = 0xcfaf2c6e
const KEYS = 1 << 20
const BURST = Number(process.env["CONNTRACK_BENCH_BURST"] ?? 64)
const sizes = (process.env["CONNTRACK_BENCH_SIZES"] ?? "16384,65536,262144,1000000").split(",").map(Number)

const next = xorshift32(0x9e3779b9)

// Best of 6 passes over KEYS lookups, in millions per second.
const rate = (fn: () => number, expected: number): number => {
  let best = Number.POSITIVE_INFINITY
  for (let r = 0; r < 6; r++) {
    const t = performance.now()
    const found = fn()
    const d = performance.now() - t
    if (found !== expected) throw new Error(`found ${found}, expected ${expected}`)
    if (d < best) best = d
  }
  return Number((KEYS / best / 1e3).toFixed(2))
}

const rows: Array<Record<string, number>> = []
for (const size of sizes) {
  const table = ConnectionTable.make({ maxConnections: size, seed: 42, destinations: Destinations.makeCounters(256) })
  const p = ConnectionParams.make()
  p.protocol = Protocol.TCP
  p.virtualAddress = VIP
  p.virtualPort = 80
  p.destinationPort = 80
  p.method = ConnectionFlags.MASQ
  const clients = new Uint32Array(size)
  const ports = new Uint16Array(size)
  let now = 0
  for (let i = 0; i < size; i++) {
    clients[i] = (0x0a000000 + i * 7) >>> 0
    ports[i] = 1024 + (next() % 60000)
    p.clientAddress = clients[i]!
    p.clientPort = ports[i]!
    p.destination = i & 255
    p.destinationAddress = 0xc0a80a00 + (i & 255)
    table.packet(table.insert(p, now), Direction.INPUT, TcpState.SYN, 60, now)
    if ((i & 0x3ff) === 0) table.advance(++now)
  }
  // Let a running index resize finish (see bench/index.ts): lookups are measured on the settled table.
  while (table.rehashing) table.advance(now)
  const hitA = new Uint32Array(KEYS)
  const hitP = new Uint16Array(KEYS)
  const outA = new Int32Array(KEYS)
  const missA = new Uint32Array(KEYS)
  const burst = new Uint32Array(KEYS * 4)
  const outBurst = new Uint32Array(KEYS * 4)
  const burstOut = new Int32Array(BURST)
  for (let i = 0; i < KEYS; i++) {
    const j = next() % size
    hitA[i] = clients[j]!
    hitP[i] = ports[j]!
    outA[i] = 0xc0a80a00 + (j & 255)
    missA[i] = (0x64000000 + (next() % 0xffffff)) >>> 0
    burst[i * 4] = clients[j]!
    burst[i * 4 + 1] = VIP
    burst[i * 4 + 2] = ((ports[j]! << 16) | 80) >>> 0
    burst[i * 4 + 3] = Protocol.TCP
    outBurst[i * 4] = outA[i]!
    outBurst[i * 4 + 1] = clients[j]!
    outBurst[i * 4 + 2] = ((80 << 16) | ports[j]!) >>> 0
    outBurst[i * 4 + 3] = Protocol.TCP
  }
  rows.push({
    entries: size,
    "index slots": table.bucketCount,
    "key records MiB": Number(((table.allocatedEntries * 16) / 2 ** 20).toFixed(1)),
    "lookupIn hit M/s": rate(() => {
      let f = 0
      for (let i = 0; i < KEYS; i++) if (table.lookupIn(Protocol.TCP, hitA[i]!, hitP[i]!, VIP, 80) >= 0) f++
      return f
    }, KEYS),
    "lookupIn miss M/s": rate(() => {
      let f = 0
      for (let i = 0; i < KEYS; i++) if (table.lookupIn(Protocol.TCP, missA[i]!, 4242, VIP, 80) >= 0) f++
      return f
    }, 0),
    "lookupOut hit M/s": rate(() => {
      let f = 0
      for (let i = 0; i < KEYS; i++) if (table.lookupOut(Protocol.TCP, outA[i]!, 80, hitA[i]!, hitP[i]!) >= 0) f++
      return f
    }, KEYS),
    [`lookupInBatch ${BURST} M/s`]: rate(() => {
      let f = 0
      for (let i = 0; i < KEYS; i += BURST) f += table.lookupInBatch(burst, BURST, burstOut, i * 4)
      return f
    }, KEYS),
    [`lookupOutBatch ${BURST} M/s`]: rate(() => {
      let f = 0
      for (let i = 0; i < KEYS; i += BURST) f += table.lookupOutBatch(outBurst, BURST, burstOut, i * 4)
      return f
    }, KEYS)
  })
}
console.log(`conntrack lookup rate by table size, node ${process.version}, ${new Date().toISOString()}`)
console.table(rows)
