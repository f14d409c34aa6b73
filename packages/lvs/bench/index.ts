/**
 * TAP I/O benchmark.
 *
 * 1. In memory (tinybench, no privileges): the L2 responder's per-batch cost, and the koffi write-call
 *    shapes (address arithmetic vs. a typed-array view).
 * 2. Through one TAP queue in a network namespace (root; bounded: ~2 s per run, 3 interleaved repetitions):
 *    - rx: a kernel-side generator (`sendmmsg` UDP, 18-byte payload = 60-byte frames) floods frames out of
 *      the tap; the worker reads them in batches. Frames/s, syscalls per frame, batch sizes.
 *    - reflect: the same flood, each frame rewritten and written back from its slot (read + write).
 *    - tx: the worker writes one 60-byte frame in a loop.
 *    The worker is pinned to CPU 0 and the generator to CPU 1 when the machine has two or more CPUs.
 *
 * Run: `pnpm --filter @lvs-ts/lvs run bench` (as root for part 2). Options: `--seconds N`, `--reps N`,
 * `--no-pin` (let the scheduler place the worker and the generator), `--no-io-uring` (skip the io_uring rows).
 * rx and reflect run with both I/O backends: `syscalls` (poll + read/write per frame) and `io_uring`.
 */
import { execFileSync, spawn } from "node:child_process"
import { availableParallelism } from "node:os"
import { Effect, Exit, Scope } from "effect"
import { Bench } from "tinybench"
import type * as FrameHandler from "../src/FrameHandler.ts"
import * as Frames from "../src/internal/Frames.ts"
import * as Libc from "../src/internal/Libc.ts"
import * as L2Responder from "../src/L2Responder.ts"
import type * as PortCounters from "../src/PortCounters.ts"
import * as TapPorts from "../src/TapPorts.ts"

const argValue = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
const seconds = argValue("--seconds", 2)
const reps = argValue("--reps", 3)

// ---------------------------------------------------------------------------------------------------------
// 1. In memory
// ---------------------------------------------------------------------------------------------------------

const inMemory = async () => {
  const BATCH = 64
  const bytes = new Uint8Array(BATCH * 256 + 4096)
  const ourMac = new Uint8Array([2, 0, 0, 0, 1, 1])
  const peerMac = new Uint8Array([2, 0, 0, 0, 9, 9])
  const ours = Frames.parseIpv4("10.200.1.1")!
  const peer = Frames.parseIpv4("10.200.1.10")!
  const echo = new Uint8Array(98)
  Frames.writeIcmpEcho(echo, 0, Frames.ICMP_ECHO_REQUEST, ourMac, peerMac, peer, ours, 1, 1, 56)
  const arp = new Uint8Array(60)
  Frames.writeArp(arp, 0, Frames.ARP_REQUEST, new Uint8Array(6).fill(255), peerMac, peer, new Uint8Array(6), ours)
  let sent = 0
  const handler = L2Responder.make({
    bytes,
    view: new DataView(bytes.buffer),
    headroom: 64,
    frameCapacity: 192,
    scratch: Int32Array.of(BATCH * 256 + 64),
    queue: 0,
    ports: [{ index: 0, name: "bench0", ifindex: 1, mac: "02:aa:00:00:00:00", mtu: 1500 }],
    stats: new Float64Array(64),
    options: { ports: [{ mac: "02:00:00:00:01:01", addresses: ["10.200.1.1"] }], gratuitousArp: false },
    send: () => {
      sent++
      return true
    },
    flush: () => {},
    notify: () => {}
  }) as FrameHandler.Handler
  const batch: FrameHandler.Batch = {
    port: 0,
    count: BATCH,
    offsets: Int32Array.from({ length: BATCH }, (_, i) => i * 256 + 64),
    lengths: new Int32Array(BATCH)
  }
  const load = (template: Uint8Array) => {
    for (let i = 0; i < BATCH; i++) {
      bytes.set(template, batch.offsets[i]!)
      batch.lengths[i] = template.length
    }
  }
  const c = Libc.libc()
  const devNull = c.open("/dev/null", Libc.O_RDWR | Libc.O_CLOEXEC)
  const pool = new Uint8Array(new SharedArrayBuffer(1 << 16))
  const base = c.addressOf(pool)
  const bench = new Bench({ time: 500, warmupTime: 100 })
  bench
    .add(`L2Responder: ${BATCH} ICMP echo requests -> replies in place (incl. reloading the requests)`, () => {
      load(echo)
      handler.onBatch(batch)
    })
    .add(`L2Responder: ${BATCH} ARP requests -> replies in place (incl. reloading the requests)`, () => {
      load(arp)
      handler.onBatch(batch)
    })
    .add(`reload only: ${BATCH} x 98-byte copies (subtract from the echo row)`, () => load(echo))
    .add("koffi write(/dev/null, base + offset, 60): address arithmetic, no view", () => {
      c.write(devNull, base + 4160, 60)
    })
    .add("koffi write(/dev/null, pool.subarray(...), 60): a view per call", () => {
      c.writeFrom(devNull, pool.subarray(4160, 4220), 60)
    })
  await bench.run()
  c.close(devNull)
  console.log("## In memory (tinybench)\n")
  console.log("| task | ns/op | per frame (ns) | samples |")
  console.log("| --- | ---: | ---: | ---: |")
  for (const task of bench.tasks) {
    const r = task.result
    if (r.state !== "completed") continue
    const ns = r.latency.mean * 1e6
    const perFrame = task.name.startsWith("koffi") ? ns : ns / BATCH
    console.log(`| ${task.name} | ${ns.toFixed(0)} | ${perFrame.toFixed(1)} | ${r.latency.samplesCount} |`)
  }
  console.log(`\n(${sent} replies sent during the run.)\n`)
}

// ---------------------------------------------------------------------------------------------------------
// 2. Through a TAP queue
// ---------------------------------------------------------------------------------------------------------

const ns = `lvs${process.pid}-bench`
const ip = (...args: Array<string>) => execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
const twoCpus = availableParallelism() >= 2 && !process.argv.includes("--no-pin")
const workerCpu = twoCpus ? 0 : undefined
const generatorCpu = twoCpus ? 1 : undefined

const handlerModule = new URL("./BenchHandler.ts", import.meta.url)
const generatorScript = new URL("./generator.ts", import.meta.url).pathname

type Backend = "syscalls" | "io_uring"

const openPorts = async (mode: "count" | "reflect", backend: Backend) => {
  const scope = Scope.makeUnsafe()
  const ports = await Effect.runPromise(
    Scope.provide(
      TapPorts.make({
        netns: ns,
        backend,
        ports: [{ name: "lvsb0" }],
        batchSize: 64,
        pollTimeoutMs: 100,
        handler: { module: handlerModule, options: { mode, ...(workerCpu !== undefined ? { cpu: workerCpu } : {}) } }
      }),
      scope
    )
  )
  // The tap was recreated: give it the address and the generator's static neighbour again.
  ip("-n", ns, "addr", "replace", "10.9.0.1/24", "dev", "lvsb0")
  ip("-n", ns, "neigh", "replace", "10.9.0.2", "lladdr", "02:00:00:00:00:02", "dev", "lvsb0")
  return { ports, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

const generate = (ms: number, onStart: () => void) =>
  new Promise<{ sent: number }>((resolve, reject) => {
    const args = [
      "netns",
      "exec",
      ns,
      process.execPath,
      "--conditions=@lvs-ts/source",
      generatorScript,
      "10.9.0.2",
      "9",
      "18",
      String(ms)
    ]
    if (generatorCpu !== undefined) args.push(String(generatorCpu))
    const child = spawn("ip", args, { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    child.stdout.on("data", (d) => {
      out += String(d)
      if (out.startsWith("start\n")) {
        out = out.slice(6)
        onStart()
      }
    })
    child.on("exit", (code) =>
      code === 0 ? resolve(JSON.parse(out) as { sent: number }) : reject(new Error(`generator exited ${code}`))
    )
  })

const kernelTxDropped = () => {
  const [link] = JSON.parse(ip("-n", ns, "-s", "-j", "link", "show", "dev", "lvsb0")) as Array<{
    stats64: { tx: { dropped: number } }
  }>
  return link!.stats64.tx.dropped
}

interface Row {
  readonly mode: string
  readonly rep: number
  readonly rxFps: number
  readonly txFps: number
  readonly syscallsPerFrame: number
  readonly meanBatch: number
  readonly histogram: ReadonlyArray<number>
  readonly offered: number
  readonly kernelDropped: number
  /** Worker thread CPU time per frame handled (µs), from the handler's tick samples. */
  readonly cpuPerFrameUs: number
}

const rxRow = (
  mode: string,
  backend: Backend,
  rep: number,
  port: PortCounters.Port,
  worker: PortCounters.Worker,
  ms: number,
  offered: number,
  dropped: number,
  cpuPerFrameUs: number
): Row => {
  const reads = port.rxFrames + port.rxEagain + port.rxErrors
  const writes = port.txFrames + port.txErrors + port.txDropped
  // io_uring: reads and writes are ring entries, not system calls; `polls` counts io_uring_enter calls.
  const syscalls = backend === "io_uring" ? worker.polls : reads + writes + worker.polls
  return {
    mode: `${mode} (${backend})`,
    rep,
    rxFps: port.rxFrames / (ms / 1000),
    txFps: port.txFrames / (ms / 1000),
    syscallsPerFrame: syscalls / Math.max(1, port.rxFrames),
    meanBatch: port.rxFrames / Math.max(1, port.rxBatches),
    histogram: port.batchHistogram,
    offered,
    kernelDropped: dropped,
    cpuPerFrameUs
  }
}

const runRx = async (mode: "count" | "reflect", backend: Backend, rep: number): Promise<Row> => {
  const { ports, close } = await openPorts(mode, backend)
  try {
    const droppedBefore = kernelTxDropped()
    let before = Effect.runSync(ports.counters)
    let started = performance.now()
    let cpuBefore = Effect.runSync(ports.handlerStats)
    const { sent } = await generate(seconds * 1000, () => {
      before = Effect.runSync(ports.counters)
      cpuBefore = Effect.runSync(ports.handlerStats)
      started = performance.now()
    })
    // Let the reader drain what is still queued in the tap.
    // Drain what is still queued in the tap, and let one more tick sample the CPU time.
    await new Promise((resolve) => setTimeout(resolve, 150))
    const ms = performance.now() - started - 130
    const after = Effect.runSync(ports.counters)
    const cpuAfter = Effect.runSync(ports.handlerStats)
    const cpuPerFrameUs = ((cpuAfter[8]! - cpuBefore[8]!) * 1000) / Math.max(1, cpuAfter[9]! - cpuBefore[9]!)
    const diff = (field: keyof PortCounters.Port) =>
      (after.ports[0]![field] as number) - (before.ports[0]![field] as number)
    const port: PortCounters.Port = {
      ...after.ports[0]!,
      rxFrames: diff("rxFrames"),
      rxBytes: diff("rxBytes"),
      txFrames: diff("txFrames"),
      rxBatches: diff("rxBatches"),
      rxEagain: diff("rxEagain"),
      rxErrors: diff("rxErrors"),
      txErrors: diff("txErrors"),
      txDropped: diff("txDropped"),
      batchHistogram: after.ports[0]!.batchHistogram.map((v, i) => v - before.ports[0]!.batchHistogram[i]!)
    }
    const worker = { ...after.workers[0]!, polls: after.workers[0]!.polls - before.workers[0]!.polls }
    return rxRow(mode, backend, rep, port, worker, ms, sent, kernelTxDropped() - droppedBefore, cpuPerFrameUs)
  } finally {
    await close()
  }
}

const runTx = async (rep: number): Promise<Row> => {
  const { ports, close } = await openPorts("count", "syscalls")
  try {
    await Effect.runPromise(ports.control({ ms: seconds * 1000 }))
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000 + 200))
    let stats = await Effect.runPromise(ports.handlerStats)
    for (let i = 0; i < 50 && stats[1] === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      stats = await Effect.runPromise(ports.handlerStats)
    }
    const counters = await Effect.runPromise(ports.counters)
    const port = counters.ports[0]!
    return {
      mode: "tx (syscalls)",
      rep,
      rxFps: 0,
      txFps: stats[0]! / (stats[1]! / 1000),
      syscallsPerFrame: (port.txFrames + port.txErrors + port.txDropped) / Math.max(1, port.txFrames),
      meanBatch: 0,
      histogram: [],
      offered: 0,
      kernelDropped: 0,
      cpuPerFrameUs: (stats[3]! * 1000) / Math.max(1, stats[0]!)
    }
  } finally {
    await close()
  }
}

const viaTap = async () => {
  if (process.getuid?.() !== 0) {
    console.log("## Through a TAP queue\n\nskipped: needs root (TAP devices in a network namespace).")
    return
  }
  ip("netns", "add", ns)
  try {
    ip("netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
    ip("netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1")
    ip("-n", ns, "link", "set", "lo", "up")
    const rows: Array<Row> = []
    const uring = !process.argv.includes("--no-io-uring")
    for (let rep = 1; rep <= reps; rep++) {
      rows.push(await runRx("count", "syscalls", rep))
      if (uring) rows.push(await runRx("count", "io_uring", rep))
      rows.push(await runRx("reflect", "syscalls", rep))
      if (uring) rows.push(await runRx("reflect", "io_uring", rep))
      rows.push(await runTx(rep))
    }
    const k = (n: number) => `${(n / 1000).toFixed(0)}k`
    console.log("## Through one TAP queue (60-byte frames)\n")
    console.log(
      `worker on CPU ${workerCpu ?? "any"}, generator on CPU ${generatorCpu ?? "any"}, ${seconds} s per run, ${reps} interleaved repetitions\n`
    )
    console.log(
      "| mode | rep | read frames/s | written frames/s | worker CPU µs/frame | syscalls/frame | mean batch | batches 1/2-3/4-7/8-15/16-31/32-63/64+ | offered by generator | kernel tap drops |"
    )
    console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
    for (const r of rows) {
      console.log(
        `| ${r.mode} | ${r.rep} | ${r.rxFps ? k(r.rxFps) : "-"} | ${r.txFps ? k(r.txFps) : "-"} | ${r.cpuPerFrameUs.toFixed(2)} | ${r.syscallsPerFrame.toFixed(2)} | ${r.meanBatch ? r.meanBatch.toFixed(1) : "-"} | ${r.histogram.length ? r.histogram.slice(0, 7).join("/") : "-"} | ${r.offered ? `${k(r.offered / seconds)}/s` : "-"} | ${r.kernelDropped || "-"} |`
      )
    }
    const median = (mode: string, pick: (r: Row) => number) => {
      const xs = rows
        .filter((r) => r.mode === mode)
        .map(pick)
        .sort((a, b) => a - b)
      return xs[Math.floor(xs.length / 2)]!
    }
    console.log("\nmedians:")
    for (const mode of [...new Set(rows.map((r) => r.mode))]) {
      const fps = median(mode, (r) => (r.mode.startsWith("tx") ? r.txFps : r.rxFps))
      console.log(
        `- ${mode}: ${k(fps)} frames/s, ${median(mode, (r) => r.cpuPerFrameUs).toFixed(2)} µs worker CPU/frame, ${median(mode, (r) => r.syscallsPerFrame).toFixed(2)} syscalls/frame`
      )
    }
  } finally {
    ip("netns", "del", ns)
  }
}

console.log(
  `# @lvs-ts/lvs TAP I/O benchmark (${new Date().toISOString()}, node ${process.version}, ${availableParallelism()} CPUs)\n`
)
await inMemory()
await viaTap()
