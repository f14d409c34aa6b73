/**
 * Where the director core's CPU goes per forwarded packet (root): builds a lab, starts the lvs-ts bench
 * director (pinned to the director core, RPS steering the director namespace's receive work there too),
 * offers paced 60-byte UDP at each rate of `--rates`, and prints per rate: loss, CPU per delivered packet
 * of every director thread (`/proc/<pid>/task/<tid>/schedstat`, nanoseconds), the core's irq + softirq
 * and busy time, and the I/O loop's system calls and wake-ups per frame from its counters. `--perf`
 * additionally samples the director core with `perf record -C` and prints the top symbols.
 *
 * ```
 * pnpm --filter @lvs-ts/lvs exec node --conditions=@lvs-ts/source bench/e2e/profile.ts \
 *   --rates 20000,60000 --seconds 2 [--method nat|dr] [--variant lvs|kernel] [--raw] [--perf] [--children]
 *   [--handler] [--txqlen N] [--fifo PRIO] [--nice N] [--brnf] [--keep] [--node-flags=--perf-basic-prof]
 * ```
 *
 * Rate 0 is unpaced overload. `--raw` sends whole frames on a packet socket (as bench:e2e does), `--brnf`
 * keeps bridge netfilter on in the director namespace (bench:e2e turns it off for every variant).
 *
 * Extra environment (e.g. `LVS_TAP_SPIN_US`) is passed to the director as is.
 *
 * @module
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { Effect } from "effect"
import * as Lab from "../../src/Lab.ts"
import * as T from "./Tools.ts"

const argv = process.argv.slice(2).filter((a) => a !== "--")
const text = (name: string): string | undefined => {
  const i = argv.indexOf(name)
  return i < 0 ? undefined : argv[i + 1]
}
const rates = (text("--rates") ?? "20000,50000").split(",").map(Number)
const seconds = Number(text("--seconds") ?? 2)
const method = text("--method") ?? "nat"
/** `lvs` (the director, `--method`), or `kernel`: the director namespace as a plain Linux router. */
const variant = text("--variant") ?? "lvs"
const useRaw = argv.includes("--raw")
const directorCpu = Number(text("--director-cpu") ?? 0)
const loadCpu = Number(text("--load-cpu") ?? 1)
const perf = argv.includes("--perf")
const keep = argv.includes("--keep")
const nodeFlags = argv.filter((a) => a.startsWith("--node-flags=")).map((a) => a.slice("--node-flags=".length))
const name = text("--name") ?? "lvs-prof"
const plan = Lab.plan({ name })
const d = plan.director
const [rs1, rs2] = plan.realServers as [Lab.RealServer, Lab.RealServer]
const client = plan.client.netns
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

interface Threads {
  readonly [tid: string]: { readonly comm: string; readonly ns: number }
}
const threads = (pid: number): Threads => {
  const out: Record<string, { comm: string; ns: number }> = {}
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim()
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0])
      out[tid] = { comm, ns }
    } catch {
      // thread gone
    }
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
  return { softirq: (f[6]! + f[7]!) / 100, idle: (f[4]! + f[5]!) / 100, wall: performance.now() / 1000 }
}

interface Counters {
  ports: Array<{ rxFrames: number; txFrames: number; rxBatches: number; rxEagain: number; txDropped: number }>
  workers: Array<{ polls: number; pollTimeouts: number; spins: number }>
}
let lastCounters: Counters | undefined
const counters = async (child: ChildProcess): Promise<Counters> => {
  lastCounters = undefined
  child.kill("SIGUSR2")
  for (let i = 0; i < 100 && lastCounters === undefined; i++) await sleep(10)
  return lastCounters!
}

/** Drops on the way: the taps' queues (tx_dropped), the director namespace's and the servers' veths. */
const drops = () => ({
  tapc: T.counter(d.netns, d.clientPort.tap, "tx_dropped"),
  taps: T.counter(d.netns, d.serverPort.tap, "tx_dropped"),
  softnet: readFileSync("/proc/net/softnet_stat", "utf8")
    .trim()
    .split("\n")
    .reduce((s, l) => s + Number.parseInt(l.split(" ")[1]!, 16), 0),
  rs: T.counter(rs1.netns, "eth0", "rx_dropped") + T.counter(rs2.netns, "eth0", "rx_dropped")
})

const delivered = () => T.counter(rs1.netns, "eth0", "rx_packets") + T.counter(rs2.netns, "eth0", "rx_packets")

const main = async () => {
  await Effect.runPromise(Lab.up({ name }))
  let child: ChildProcess | undefined
  try {
    const state = JSON.parse(readFileSync(`${plan.stateDir}/state.json`, "utf8")) as Lab.State
    T.pinServers(plan, state, loadCpu)
    T.steerReceiveWork(plan, directorCpu, loadCpu)
    let pid: number | undefined
    let target = plan.vip
    if (variant === "kernel") {
      // As bench:e2e's kernel variant: DIPs on the bridges, ip_forward, the client routes via 10.200.1.1.
      T.nsExec(d.netns, "ip", ["addr", "replace", "10.200.1.1/24", "dev", d.clientPort.bridge])
      T.nsExec(d.netns, "ip", ["addr", "replace", "10.200.2.1/24", "dev", d.serverPort.bridge])
      T.nsWrite(d.netns, "/proc/sys/net/ipv4/ip_forward", "1")
      T.nsExec(client, "ip", ["route", "replace", plan.serverNetwork, "via", "10.200.1.1"])
      target = rs1.address
    } else {
      const script = new URL("./director.ts", import.meta.url).pathname
      child = spawn(
        "taskset",
        [
          "-c",
          String(directorCpu),
          process.execPath,
          "--conditions=@lvs-ts/source",
          ...nodeFlags,
          script,
          "--name",
          name,
          "--method",
          method
        ],
        { stdio: ["ignore", "pipe", "inherit"] }
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
          else if (line.startsWith("counters ")) lastCounters = JSON.parse(line.slice(9)) as Counters
          nl = buffer.indexOf("\n")
        }
      })
      for (let i = 0; i < 400 && !ready; i++) await sleep(50)
      if (!ready) throw new Error("director did not start")
      pid = child.pid!
      await sleep(300)
    }
    const txqlen = text("--txqlen")
    if (txqlen !== undefined && variant !== "kernel")
      for (const tap of [d.clientPort.tap, d.serverPort.tap])
        T.nsExec(d.netns, "ip", ["link", "set", tap, "txqueuelen", txqlen])
    if (argv.includes("--sink-drop")) for (const rs of [rs1, rs2]) T.udpSinkDrop(rs.netns)
    // As bench:e2e: no netfilter on the lab's bridged frames (`--brnf` keeps the host's default).
    if (!argv.includes("--brnf")) T.bridgeNetfilterOff(d.netns)
    const nice = text("--nice")
    if (nice !== undefined && pid !== undefined)
      for (const tid of readdirSync(`/proc/${pid}/task`))
        execFileSync("renice", ["-n", nice, "-p", tid], { stdio: "ignore" })
    const chrt = text("--fifo")
    if (chrt !== undefined && pid !== undefined)
      for (const tid of readdirSync(`/proc/${pid}/task`))
        execFileSync("chrt", ["-f", "-p", chrt, tid], { stdio: "ignore" })
    T.udpgen(client, loadCpu, target, 9, 2000, 20_000, 15_000) // warm-up: ARP, JIT
    await sleep(300)
    const raw = useRaw ? T.rawFrames(client, target) : undefined
    if (useRaw) console.log(`raw frames: ${raw ?? "next hop not resolved, using the UDP socket"}`)
    for (const rate of rates) {
      // Rate 0: unpaced overload, as many datagrams as `--overload-count` (default 400000).
      const count = rate === 0 ? Number(text("--overload-count") ?? 400_000) : Math.round(rate * seconds)
      const c0 = child !== undefined ? await counters(child) : undefined
      const t0 = pid !== undefined ? threads(pid) : {}
      const k0 = core()
      const d0 = delivered()
      const x0 = drops()
      const perfProc = perf
        ? spawn("perf", ["record", "-q", "-C", String(directorCpu), "-g", "-o", `/tmp/${name}-${rate}.perf`], {
            stdio: "ignore"
          })
        : undefined
      const g = T.udpgen(client, loadCpu, target, 9, count, rate, 60_000, raw)
      if (perfProc !== undefined) {
        perfProc.kill("SIGINT")
        await new Promise((r) => perfProc.once("exit", r))
      }
      await sleep(200)
      const k1 = core()
      const t1 = pid !== undefined ? threads(pid) : {}
      const c1 = child !== undefined ? await counters(child) : undefined
      const got = Math.min(g.sent, delivered() - d0)
      const x1 = drops()
      const per = (x: number) => ((x / Math.max(1, got)) * 1e6).toFixed(2)
      const wall = k1.wall - k0.wall
      console.log(
        `\n== ${variant === "kernel" ? "kernel" : method} ${rate === 0 ? "unpaced" : (rate / 1000).toFixed(0)} kpps offered (${(g.sent / g.seconds / 1000).toFixed(1)} achieved): sent ${g.sent}, delivered ${got}, loss ${(((g.sent - got) / g.sent) * 100).toFixed(3)}%, delivered ${(got / g.seconds / 1000).toFixed(1)} kpps`
      )
      console.log(
        `  drops: tapc queue ${x1.tapc - x0.tapc}, taps queue ${x1.taps - x0.taps}, backlog (softnet) ${x1.softnet - x0.softnet}, servers ${x1.rs - x0.rs}`
      )
      let total = 0
      let topTid = ""
      let topNs = 0
      for (const tid of Object.keys(t1)) {
        const ns = t1[tid]!.ns - (t0[tid]?.ns ?? 0)
        if (ns > topNs) {
          topNs = ns
          topTid = tid
        }
        total += ns / 1e9
        if (ns > 1e6) console.log(`  thread ${tid} ${t1[tid]!.comm}: ${per(ns / 1e9)} µs/pkt`)
      }
      console.log(`  process total: ${per(total)} µs/pkt`)
      console.log(`  core ${directorCpu} irq+softirq (ticks): ${per(k1.softirq - k0.softirq)} µs/pkt`)
      console.log(
        `  core ${directorCpu} busy (wall - idle): ${per(wall - (k1.idle - k0.idle))} µs/pkt over ${wall.toFixed(2)} s`
      )
      if (c0 === undefined || c1 === undefined) continue
      const sum = (c: Counters, k: "rxFrames" | "txFrames" | "rxBatches" | "rxEagain" | "txDropped") =>
        c.ports.reduce((s, p) => s + p[k], 0)
      const rx = sum(c1, "rxFrames") - sum(c0, "rxFrames")
      const tx = sum(c1, "txFrames") - sum(c0, "txFrames")
      const batches = sum(c1, "rxBatches") - sum(c0, "rxBatches")
      const eagain = sum(c1, "rxEagain") - sum(c0, "rxEagain")
      const polls = c1.workers[0]!.polls - c0.workers[0]!.polls
      const spins = c1.workers[0]!.spins - c0.workers[0]!.spins
      const f = (x: number) => (x / Math.max(1, rx)).toFixed(3)
      console.log(
        `  I/O loop per rx frame: polls ${f(polls)}, spin polls ${f(spins)}, reads ${f(rx + eagain)} (EAGAIN ${f(eagain)}), writes ${f(tx)}, batches ${f(batches)} (mean ${(rx / Math.max(1, batches)).toFixed(1)} frames); txDropped ${sum(c1, "txDropped") - sum(c0, "txDropped")}`
      )
      if (argv.includes("--handler")) {
        const h0 = (c0 as unknown as { handler: Record<string, number> }).handler
        const h1 = (c1 as unknown as { handler: Record<string, number> }).handler
        console.log(
          `  handler: ${Object.keys(h1)
            .filter((k) => h1[k] !== h0[k])
            .map((k) => `${k} ${h1[k]! - (h0[k] ?? 0)}`)
            .join(", ")}`
        )
      }
      if (perf) {
        const file = `/tmp/${name}-${rate}.perf`
        const report = (args: ReadonlyArray<string>, top: number) => {
          const r = spawnSync("perf", ["report", "-i", file, "--stdio", "-g", "none", ...args], {
            encoding: "utf8",
            maxBuffer: 64 << 20
          })
          return r.stdout
            .split("\n")
            .filter((l) => l.trim() !== "" && !l.startsWith("#"))
            .slice(0, top)
            .join("\n")
        }
        console.log("  -- core samples by command")
        console.log(report(["--no-children", "--sort", "comm"], 8))
        console.log(`  -- busiest director thread ${topTid}: user / kernel`)
        console.log(report(["--no-children", "--tid", topTid, "--sort", "dso"], 8))
        console.log(`  -- busiest director thread ${topTid}, inclusive (children)`)
        console.log(
          report(
            ["--children", "--tid", topTid, "--sort", "sym", "--percent-limit", "1.5"],
            Number(text("--top") ?? 50)
          )
        )
        console.log("  -- idle / softirq context (swapper), inclusive")
        console.log(report(["--children", "--comm", "swapper", "--sort", "sym", "--percent-limit", "1"], 25))
      }
    }
  } finally {
    if (child !== undefined) {
      child.kill("SIGTERM")
      await sleep(1000)
      if (child.exitCode === null) child.kill("SIGKILL")
    }
    if (!keep) await Effect.runPromise(Effect.ignore(Lab.down({ name })))
  }
}

void main().catch((e) => {
  console.error(e)
  execFileSync("true")
  process.exit(1)
})
