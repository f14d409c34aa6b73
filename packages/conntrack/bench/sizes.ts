// Lookup rate against table size: where the rate falls off as the key records and the index outgrow the CPU caches
// and the TLB. Uniform random keys over the whole table, as in bench/index.ts.
//
//   pnpm --filter @lvs-ts/conntrack run bench:sizes
//   CONNTRACK_BENCH_SIZES=16384,1000000 pnpm --filter @lvs-ts/conntrack run bench:sizes
import { Protocol } from "../src/index.ts"
import { filledTable, VIP } from "./fixture.ts"
import { xorshift32 } from "./random.ts"

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
  // Filled and settled (bench/fixture.ts): lookups are measured with no index resize running.
  const { table, clients, ports } = filledTable(size, size, next)
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
