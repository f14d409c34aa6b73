// Design experiment, not product code: how much would a hit that costs one cache miss instead of two be worth?
//
// The table's in-direction hit reads an index slot (fingerprint + entry number) and then the entry's 16-byte key
// record: two dependent misses. The alternative sketched in ConnectionTable.ts's header keeps the whole IPv4 key in
// a 16-byte index slot, so a hit reads one line. That needs a redesign to stay within 96 bytes per connection (one
// index for both directions, segment-wise resizing, a 32-bit expiry), so before doing it this measures the gain:
// a minimal bucketed index of 16-byte slots (4 per 64-byte line, linear probing over buckets, load 0.8) holding the
// same keys, looked up with the same batched passes as ConnectionTable.lookupInBatch, interleaved with it in one
// process so a noisy host affects both alike.
//
//   cd packages/conntrack && node ../../scripts/bench-compiled.mjs bench/experiments/one-miss-index.ts
//   ONE_MISS_N=30000 ...   (a table that fits in cache: what is left is computation)
// (compiled, like the bench: see scripts/bench-compiled.mjs). Measured 2026-11-25 (README, Session 6): 1.2-1.3x for
// the prototype through type stripping, 0.75-0.85x compiled; the one-miss redesign was not done.
import { Protocol } from "../../src/index.ts"
import { hash3 } from "../../src/internal/hash.ts"
import { filledTable, VIP } from "../fixture.ts"
import { xorshift32 } from "../random.ts"

const N = Number(process.env["ONE_MISS_N"] ?? 1_000_000)
const ROUNDS = 20
const LOAD = 0.8
const BATCH = 1 << 20
const BURST = 64
const SEED = 42

const next = xorshift32(0x9e3779b9)
const { table, clients, ports } = filledTable(N, 10_000_000, next)

// The prototype: buckets of four 16-byte slots [client, virtual, ports, protocol << 24 | entry + 1].
const buckets = Math.ceil(N / (4 * LOAD))
const slots = new Int32Array(new SharedArrayBuffer(buckets * 64))
const home = (h: number): number => ((h >>> 0) * buckets * 2 ** -32) | 0
for (let i = 0; i < N; i++) {
  const a = clients[i]! | 0
  const b = VIP | 0
  const pt = (ports[i]! << 16) | 80
  let o = home(hash3(SEED, a, b, pt, Protocol.TCP)) << 4
  while (slots[o + 3] !== 0) {
    o += 4
    if (o === buckets << 4) o = 0
  }
  slots[o] = a
  slots[o + 1] = b
  slots[o + 2] = pt
  slots[o + 3] = (Protocol.TCP << 24) | (i + 1)
}
const homes = new Int32Array(BURST)
let touched = 0
const lookupBatch = (keys: Uint32Array, count: number, out: Int32Array, offset: number): number => {
  for (let i = 0; i < count; i++) {
    const q = offset + (i << 2)
    homes[i] = home(hash3(SEED, keys[q]! | 0, keys[q + 1]! | 0, keys[q + 2]! | 0, keys[q + 3]! & 0xff)) << 4
  }
  let touch = 0
  for (let i = 0; i < count; i++) touch |= slots[homes[i]!]!
  touched = touch
  let hits = 0
  for (let i = 0; i < count; i++) {
    const q = offset + (i << 2)
    const a = keys[q]! | 0
    const b = keys[q + 1]! | 0
    const pt = keys[q + 2]! | 0
    const tag = keys[q + 3]! & 0xff
    let o = homes[i]!
    let e = -1
    for (;;) {
      const w = slots[o + 3]!
      if (w === 0) break
      if (slots[o] === a && slots[o + 1] === b && slots[o + 2] === pt && w >>> 24 === tag) {
        e = (w & 0xffffff) - 1
        break
      }
      o += 4
      if (o === buckets << 4) o = 0
    }
    out[i] = e
    if (e >= 0) hits++
  }
  return hits
}

const keys = new Uint32Array(BATCH * 4)
for (let i = 0; i < BATCH; i++) {
  const j = next() % N
  keys[i * 4] = clients[j]!
  keys[i * 4 + 1] = VIP
  keys[i * 4 + 2] = ((ports[j]! << 16) | 80) >>> 0
  keys[i * 4 + 3] = Protocol.TCP
}
const out = new Int32Array(BURST)
const rate = (lookup: (keys: Uint32Array, count: number, out: Int32Array, offset: number) => number): number => {
  const t = performance.now()
  let hits = 0
  for (let i = 0; i < BATCH; i += BURST) hits += lookup(keys, BURST, out, i * 4)
  if (hits !== BATCH) throw new Error(`${hits} of ${BATCH} keys found`)
  return BATCH / (performance.now() - t) / 1e3
}
const current: Array<number> = []
const prototype: Array<number> = []
for (let r = 0; r < ROUNDS; r++) {
  current.push(rate((k, c, o, f) => table.lookupInBatch(k, c, o, f)))
  prototype.push(rate(lookupBatch))
}
const summary = (xs: Array<number>): string => {
  const s = [...xs].sort((x, y) => y - x)
  return `best ${s[0]!.toFixed(2)}, median ${s[s.length >> 1]!.toFixed(2)} M/s`
}
console.log(
  `${N} entries, bursts of ${BURST}, ${ROUNDS} interleaved rounds (touch ${touched & 0}):\n` +
    `  ConnectionTable.lookupInBatch (index slot, then key record): ${summary(current)}\n` +
    `  prototype, whole key in a 16-byte slot (${((buckets * 64) / N).toFixed(1)} B/conn of index): ` +
    `${summary(prototype)}`
)
