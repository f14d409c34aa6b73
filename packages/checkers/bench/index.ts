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

import { fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Config, Pool, RetryMachine, TcpCheck, TcpEngine, UrlCycle } from "@lvs-ts/checkers"
import { Effect, Exit, Scope } from "effect"
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

// The real server: the scale bench's accept-and-close listener process (koffi accept loops, backlog 4096), so
// the listener's cost is not billed to the checker and 1,000 concurrent connects do not overflow a Node backlog.
const listener = fork(fileURLToPath(new URL("./listener.ts", import.meta.url)), [], {
  stdio: ["ignore", "pipe", "inherit", "ipc"]
})
const port = await new Promise<number>((resolve) =>
  listener.stdout!.once("data", (d: Buffer) => resolve(Number(d.toString().trim())))
)
const tcp = Config.resolve({ realServers: [] }, { address: "127.0.0.1", port, checkers: [] }, { type: "TCP_CHECK" })

// One engine for the engine benches (closed at the end of the file).
const engineScope = Effect.runSync(Scope.make())
const engine = await Effect.runPromise(Scope.provide(TcpEngine.make(), engineScope))
const target = TcpEngine.target("127.0.0.1", port) as TcpEngine.Target

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
  .add("TcpCheck.probe (Node socket; loopback connect + close)", async () => {
    await Effect.runPromise(TcpCheck.probe(tcp))
  })
  .add("TcpCheck.probeWith (TcpEngine; loopback connect + close)", async () => {
    await Effect.runPromise(TcpCheck.probeWith(engine, tcp))
  })
  .add(`TcpEngine.connect, ${BATCH} concurrent (loopback connect + close) x${BATCH}`, async () => {
    await new Promise<void>((resolve) => {
      let n = 0
      for (let i = 0; i < BATCH; i++) engine.connect(target, 5000, () => ++n === BATCH && resolve())
    })
  })
await bench.run()
await Effect.runPromise(Scope.close(engineScope, Exit.void))
listener.kill("SIGTERM")

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
