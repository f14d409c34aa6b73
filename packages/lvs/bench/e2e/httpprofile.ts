/**
 * Where the director core's time goes per HTTP request (root): builds a lab as bench:e2e does (director
 * core 0, load core 1, RPS, bridge netfilter off), then for each variant runs wrk (keep-alive, or
 * `--close` for one connection per request) and prints per request: CPU of every director thread
 * (`schedstat`), their voluntary / involuntary context switches, the core's irq + softirq ticks and busy
 * time, the core's interrupts (`/proc/interrupts`: timer, rescheduling and function-call IPIs) and softirqs
 * (`/proc/softirqs`), `perf stat -C` software events and tracepoints (system calls, wake-ups, softirq runs,
 * IPIs sent), and for lvs-ts the I/O loop's frames, wake-ups and system calls from its counters.
 * `--perf` also samples the core (`perf record -e cpu-clock -C 0 -g`) and prints the top symbols.
 *
 * ```
 * pnpm --filter @lvs-ts/lvs exec node --conditions=@lvs-ts/source bench/e2e/httpprofile.ts \
 *   [--variants haproxy,nat,nat-uring,dr] [--duration 5] [--reps 1] [--close] [--perf] [--connections 16]
 * ```
 *
 * Variants: `haproxy` (TCP mode, one thread, as bench:e2e), `nat` / `dr` (the lvs-ts bench director,
 * backend `syscalls`), `nat-uring` / `dr-uring` (backend `io_uring`). The lvs-ts I/O worker and HAProxy run
 * at `SCHED_FIFO` 10 unless `--rt N` says otherwise (0: normal threads), as in bench:e2e. The `perf stat`
 * tracepoints cost a little per system call, more for the variant that makes more of them.
 *
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import * as Lab from "../../src/Lab.ts"
import * as T from "./Tools.ts"

const argv = process.argv.slice(2).filter((a) => a !== "--")
const text = (name: string): string | undefined => {
  const i = argv.indexOf(name)
  return i < 0 ? undefined : argv[i + 1]
}
const variants = (text("--variants") ?? "haproxy,nat,nat-uring").split(",")
const duration = Number(text("--duration") ?? 5)
const reps = Number(text("--reps") ?? 1)
const connections = Number(text("--connections") ?? 16)
const close = argv.includes("--close")
const perf = argv.includes("--perf")
const rt = text("--rt") ?? "10"
const nodeFlags = argv.filter((a) => a.startsWith("--node-flags=")).map((a) => a.slice("--node-flags=".length))
const directorCpu = 0
const loadCpu = 1
const name = text("--name") ?? "lvs-hprof"
const plan = Lab.plan({ name })
const d = plan.director
const [rs1, rs2] = plan.realServers as [Lab.RealServer, Lab.RealServer]
const client = plan.client.netns
const runDir = join(plan.stateDir, "..", `${name}-run`)
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

interface ThreadSample {
  readonly comm: string
  readonly ns: number
  readonly vol: number
  readonly invol: number
}
const threads = (pid: number): Record<string, ThreadSample> => {
  const out: Record<string, ThreadSample> = {}
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim()
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0])
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8")
      const vol = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0)
      const invol = Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0)
      out[tid] = { comm, ns, vol, invol }
    } catch {
      // thread gone
    }
  }
  return out
}

/** One CPU's column of `/proc/interrupts` or `/proc/softirqs`, by row name. */
const column = (file: string, cpu: number): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
    const parts = line.trim().split(/\s+/)
    if (parts.length < 2) continue
    const key = parts[0]!.replace(/:$/, "")
    const v = Number(parts[1 + cpu])
    if (Number.isFinite(v)) out[key] = v
  }
  return out
}

const core = () => {
  const f = readFileSync("/proc/stat", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`cpu${directorCpu} `))!
    .trim()
    .split(/\s+/)
    .map(Number)
  return {
    user: f[1]! / 100,
    system: f[3]! / 100,
    softirq: (f[6]! + f[7]!) / 100,
    idle: (f[4]! + f[5]!) / 100,
    wall: performance.now() / 1000
  }
}

interface IoCounters {
  readonly ports: Array<Record<string, number>>
  readonly workers: Array<Record<string, number>>
}
const latest: { counters: IoCounters | undefined } = { counters: undefined }
const ioCounters = async (child: ChildProcess): Promise<IoCounters | undefined> => {
  latest.counters = undefined
  child.kill("SIGUSR2")
  for (let i = 0; i < 100 && latest.counters === undefined; i++) await sleep(10)
  return latest.counters
}

const haproxyConfig = T.haproxyConfig(plan, {})

const start = async (variant: string): Promise<{ pid: number; child: ChildProcess }> => {
  if (variant === "haproxy") {
    T.nsExec(d.netns, "ip", ["addr", "replace", `${plan.vip}/32`, "dev", d.clientPort.bridge])
    T.nsExec(d.netns, "ip", ["addr", "replace", "10.200.1.1/24", "dev", d.clientPort.bridge])
    T.nsExec(d.netns, "ip", ["addr", "replace", "10.200.2.1/24", "dev", d.serverPort.bridge])
    const file = join(runDir, "haproxy.cfg")
    writeFileSync(file, haproxyConfig)
    // At the lvs-ts worker's SCHED_FIFO priority, as in bench:e2e.
    const chrt = rt !== "0" ? ["chrt", "-f", rt] : []
    const child = spawn(
      "taskset",
      ["-c", String(directorCpu), ...chrt, "ip", "netns", "exec", d.netns, "haproxy", "-db", "-f", file],
      { stdio: ["ignore", "ignore", "inherit"] }
    )
    for (let i = 0; i < 100; i++) {
      if (T.nsExec(d.netns, "ss", ["-Hltn", "sport = :80"]).trim().length > 0) break
      await sleep(50)
    }
    return { pid: child.pid!, child }
  }
  const [method, backend] = variant.split("-") as [string, string | undefined]
  const child = spawn(
    "taskset",
    [
      "-c",
      String(directorCpu),
      process.execPath,
      "--conditions=@lvs-ts/source",
      ...nodeFlags,
      new URL("./director.ts", import.meta.url).pathname,
      "--name",
      name,
      "--method",
      method,
      "--backend",
      backend === "uring" ? "io_uring" : "syscalls"
    ],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, LVS_TAP_REALTIME_PRIORITY: rt } }
  )
  let buffer = ""
  let ready = false
  child.stdout!.on("data", (chunk: Buffer) => {
    buffer += chunk.toString()
    let nl = buffer.indexOf("\n")
    while (nl >= 0) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      if (line === "ready") ready = true
      else if (line.startsWith("counters ")) latest.counters = JSON.parse(line.slice(9)) as IoCounters
      nl = buffer.indexOf("\n")
    }
  })
  for (let i = 0; i < 400 && !ready; i++) await sleep(50)
  if (!ready) throw new Error(`director ${variant} did not start`)
  await sleep(300)
  return { pid: child.pid!, child }
}

const stopVariant = async (variant: string, child: ChildProcess) => {
  child.kill("SIGTERM")
  for (let i = 0; i < 50 && child.exitCode === null && child.signalCode === null; i++) await sleep(100)
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  if (variant === "haproxy") {
    T.nsQuiet(d.netns, "ip", ["addr", "flush", "dev", d.clientPort.bridge])
    T.nsQuiet(d.netns, "ip", ["addr", "flush", "dev", d.serverPort.bridge])
  }
  if (variant.startsWith("dr")) undoDr()
  for (const ns of [client, rs1.netns, rs2.netns]) T.nsQuiet(ns, "ip", ["neigh", "flush", "all"])
}

const setupDr = () => {
  T.setupDirectRouting(plan)
  T.steerReceiveWork(plan, directorCpu, loadCpu)
}
const undoDr = () => T.undoDirectRouting(plan)

const perfEvents = [
  "cpu-clock",
  "context-switches",
  "raw_syscalls:sys_enter",
  "sched:sched_wakeup",
  "irq:softirq_entry",
  "ipi:ipi_send_cpu",
  "irq_vectors:call_function_single_entry",
  "irq_vectors:reschedule_entry",
  "irq_vectors:local_timer_entry",
  "net:net_dev_xmit"
]

const measure = async (variant: string, rep: number) => {
  if (variant.startsWith("dr")) setupDr()
  const { pid, child } = await start(variant)
  try {
    const url = `http://${plan.vip}/`
    T.wrk(client, loadCpu, url, 1, 4, close) // warm-up
    const c0 = variant === "haproxy" ? undefined : await ioCounters(child)
    const t0 = threads(pid)
    const k0 = core()
    const i0 = column("/proc/interrupts", directorCpu)
    const s0 = column("/proc/softirqs", directorCpu)
    const stat = spawn(
      "perf",
      ["stat", "-x", ",", "-C", String(directorCpu), "-e", perfEvents.join(","), "-o", join(runDir, "stat.txt")],
      { stdio: "ignore" }
    )
    const rec = perf
      ? spawn(
          "perf",
          ["record", "-q", "-e", "cpu-clock", "-C", String(directorCpu), "-g", "-o", join(runDir, `${variant}.perf`)],
          {
            stdio: "ignore"
          }
        )
      : undefined
    await sleep(100)
    const { result } = T.wrk(client, loadCpu, url, duration, connections, close)
    for (const p of [stat, rec]) {
      if (p === undefined) continue
      p.kill("SIGINT")
      await new Promise((r) => p.once("exit", r))
    }
    const k1 = core()
    const t1 = threads(pid)
    const i1 = column("/proc/interrupts", directorCpu)
    const s1 = column("/proc/softirqs", directorCpu)
    const c1 = variant === "haproxy" ? undefined : await ioCounters(child)
    const n = result.requests
    const per = (x: number) => ((x / n) * 1e6).toFixed(2)
    const perN = (x: number) => (x / n).toFixed(3)
    console.log(
      `\n== ${variant} rep ${rep} (${close ? "new connection per request" : "keep-alive"}): ${result.rps.toFixed(0)} req/s, ${n} requests, p50 ${result.p50ms} ms, p99 ${result.p99ms} ms, errors ${result.errors}`
    )
    let proc = 0
    let topTid = ""
    let topNs = 0
    for (const tid of Object.keys(t1)) {
      const a = t0[tid]
      const b = t1[tid]!
      const ns = b.ns - (a?.ns ?? 0)
      if (ns > topNs) {
        topNs = ns
        topTid = tid
      }
      proc += ns / 1e9
      if (ns > 1e6)
        console.log(
          `  thread ${b.comm}: ${per(ns / 1e9)} µs/req, switches per req voluntary ${perN(b.vol - (a?.vol ?? 0))} involuntary ${perN(b.invol - (a?.invol ?? 0))}`
        )
    }
    const wall = k1.wall - k0.wall
    const softirq = k1.softirq - k0.softirq
    console.log(
      `  process ${per(proc)} µs/req; core irq+softirq ticks ${per(softirq)} µs/req (process + softirq = ${per(proc + softirq)}); core busy ${per(wall - (k1.idle - k0.idle))} µs/req; core user/system ticks ${per(k1.user - k0.user)} / ${per(k1.system - k0.system)}`
    )
    const irqs = ["LOC", "RES", "CAL", "TLB", "IWI"].map((k) => `${k} ${perN((i1[k] ?? 0) - (i0[k] ?? 0))}`).join(", ")
    const softs = Object.keys(s1)
      .map((k) => [k, (s1[k] ?? 0) - (s0[k] ?? 0)] as const)
      .filter(([, v]) => v > 0)
      .map(([k, v]) => `${k} ${perN(v)}`)
      .join(", ")
    console.log(`  core interrupts per req: ${irqs}; softirqs per req: ${softs}`)
    const statText = readFileSync(join(runDir, "stat.txt"), "utf8")
    const events: Array<string> = []
    for (const line of statText.split("\n")) {
      const f = line.split(",")
      if (f.length < 3 || !Number.isFinite(Number(f[0]))) continue
      const v = Number(f[0])
      const ev = f[2]!
      events.push(ev === "cpu-clock" ? `cpu-clock ${per(v / 1e3)} µs` : `${ev} ${perN(v)}`)
    }
    console.log(`  perf stat -C ${directorCpu} per req: ${events.join(", ")}`)
    if (c0 !== undefined && c1 !== undefined) {
      const sum = (c: IoCounters, k: string) => c.ports.reduce((s, p) => s + (p[k] ?? 0), 0)
      const rx = sum(c1, "rxFrames") - sum(c0, "rxFrames")
      const tx = sum(c1, "txFrames") - sum(c0, "txFrames")
      const batches = sum(c1, "rxBatches") - sum(c0, "rxBatches")
      const eagain = sum(c1, "rxEagain") - sum(c0, "rxEagain")
      const polls = (c1.workers[0]!.polls ?? 0) - (c0.workers[0]!.polls ?? 0)
      const timeouts = (c1.workers[0]!.pollTimeouts ?? 0) - (c0.workers[0]!.pollTimeouts ?? 0)
      console.log(
        `  I/O per req: rx frames ${perN(rx)}, tx frames ${perN(tx)}, batches ${perN(batches)} (mean ${(rx / Math.max(1, batches)).toFixed(2)}), polls/enters ${perN(polls)} (timeouts ${perN(timeouts)}), EAGAIN reads ${perN(eagain)}`
      )
    }
    if (rec !== undefined) {
      const file = join(runDir, `${variant}.perf`)
      const report = (args: ReadonlyArray<string>, top: number) =>
        spawnSync("perf", ["report", "-i", file, "--stdio", "-g", "none", ...args], {
          encoding: "utf8",
          maxBuffer: 64 << 20
        })
          .stdout.split("\n")
          .filter((l) => l.trim() !== "" && !l.startsWith("#"))
          .slice(0, top)
          .join("\n")
      console.log("  -- core samples by command")
      console.log(report(["--no-children", "--sort", "comm"], 8))
      console.log(`  -- busiest director thread ${topTid}: by dso`)
      console.log(report(["--no-children", "--tid", topTid, "--sort", "dso"], 10))
      console.log(`  -- busiest director thread ${topTid}: self, by symbol`)
      console.log(report(["--no-children", "--tid", topTid, "--sort", "sym", "--percent-limit", "0.7"], 45))
      console.log(`  -- busiest director thread ${topTid}: inclusive, by symbol`)
      console.log(report(["--children", "--tid", topTid, "--sort", "sym", "--percent-limit", "2"], 60))
      console.log("  -- idle / softirq context (swapper): inclusive")
      console.log(report(["--children", "--comm", "swapper", "--sort", "sym", "--percent-limit", "2"], 25))
    }
  } finally {
    await stopVariant(variant, child)
  }
}

const main = async () => {
  mkdirSync(runDir, { recursive: true })
  await Effect.runPromise(Lab.up({ name }))
  try {
    const state = JSON.parse(readFileSync(`${plan.stateDir}/state.json`, "utf8")) as Lab.State
    T.pinServers(plan, state, loadCpu)
    T.steerReceiveWork(plan, directorCpu, loadCpu)
    T.bridgeNetfilterOff(d.netns)
    for (let rep = 1; rep <= reps; rep++) for (const v of variants) await measure(v, rep)
  } finally {
    await Effect.runPromise(Effect.ignore(Lab.down({ name })))
  }
}

void main().catch((e) => {
  console.error(e)
  process.exit(1)
})
