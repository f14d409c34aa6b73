/**
 * Benchmarks of @lvs-ts/checkers:
 *
 * - RetryMachine.step / UrlCycle.step: the per-result decision (pure);
 * - Pool.setChecker on a 20,000-server virtual server: one real server flapping (O(1) per transition);
 * - TcpCheck.probe against a loopback listener: one real connect + close per attempt;
 * - then the scale run (bench/scale.ts): by default a short smoke (2,000 servers, 10 s); the acceptance run
 *   (20,000 servers, delay_loop 1 s, 60 s) with BENCH_SCALE=full; BENCH_SCALE=none skips it.
 *
 * Run: pnpm --filter @lvs-ts/checkers run bench
 *      BENCH_SCALE=full pnpm --filter @lvs-ts/checkers run bench
 *      node --expose-gc --conditions=@lvs-ts/source bench/scale.ts 20000 60 tcp 1000
 */

import * as net from "node:net"
import { Config, Pool, RetryMachine, TcpCheck, UrlCycle } from "@lvs-ts/checkers"
import { Effect } from "effect"
import { Bench } from "tinybench"
import { runScale } from "./scale.ts"

const BATCH = 1000

const timing = { retry: 2, delayBeforeRetryMs: 1000, delayLoopMs: 5000 }
const urlTiming = { ...timing, urls: 3, fastRecovery: false }
const results = Array.from({ length: 64 }, (_, i) => i % 7 !== 3)

const pool = Pool.make({
  address: "192.0.2.1",
  port: 80,
  protocol: "tcp",
  quorum: 100,
  sorryServer: { address: "10.255.0.1" },
  realServers: Array.from({ length: 20_000 }, (_, i) => ({
    address: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`,
    port: 80,
    checkers: 1
  }))
})
Pool.start(pool)

const server = net.createServer((s) => s.destroy())
await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()))
const port = (server.address() as net.AddressInfo).port
const tcp = Config.resolve({ realServers: [] }, { address: "127.0.0.1", port, checkers: [] }, { type: "TCP_CHECK" })

let round = -1
const bench = new Bench({ time: 1000 })
bench
  .add(`RetryMachine.step x${BATCH}`, () => {
    let s = RetryMachine.initial({ alpha: false, retry: 2 })
    for (let i = 0; i < BATCH; i++) s = RetryMachine.step(s, results[i & 63]!, timing).state
  })
  .add(`UrlCycle.step x${BATCH}`, () => {
    let s = UrlCycle.initial({ alpha: false, retry: 2 })
    for (let i = 0; i < BATCH; i++) s = UrlCycle.step(s, results[i & 63]!, urlTiming).state
  })
  .add(`Pool.setChecker (20k servers, every call a transition) x${BATCH}`, () => {
    round++
    const base = (round * BATCH) % 20_000
    const up = Math.floor((round * BATCH) / 20_000) % 2 === 1
    for (let i = 0; i < BATCH; i++) Pool.setChecker(pool, base + i, 0, up)
  })
  .add("TcpCheck.probe (loopback connect + close)", async () => {
    await Effect.runPromise(TcpCheck.probe(tcp))
  })
await bench.run()
server.close()

console.log("per-operation cost (measured on a shared, loaded 2-vCPU VM: read ranges, not points)")
for (const t of bench.tasks) {
  const r = t.result
  if (r.state !== "completed") {
    console.log(`${t.name.padEnd(64)} ${r.state}`)
    continue
  }
  const mean = r.latency.mean
  const batched = t.name.includes(` x${BATCH}`)
  const ns = (batched ? mean / BATCH : mean) * 1e6
  console.log(`${t.name.padEnd(64)} ${ns.toFixed(0).padStart(10)} ns/op`)
}

const mode = process.env["BENCH_SCALE"]
if (mode === "none") process.exit(0)
const full = mode === "full"
const scale = full ? await runScale(20_000, 60, "tcp", 1000) : await runScale(2_000, 10, "tcp", 1000)
console.log(JSON.stringify(scale, null, 2))
console.log(
  scale.maxLatenessMs <= 100 && scale.failures === 0
    ? "scale: PASS (no check started more than 100 ms late, no failures)"
    : "scale: FAIL (see README: this VM's CPU share bounds the connect rate)"
)
