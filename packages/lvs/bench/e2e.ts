/**
 * End-to-end benchmark (root): the lab's namespaces, one interleaved run, lvs-ts NAT and DR beside plain
 * kernel forwarding, nftables DNAT (`numgen inc mod 2`) and HAProxy in TCP mode, each in the director
 * namespace, built before and torn down after its turn.
 *
 * ```
 * pnpm --filter @lvs-ts/lvs run bench:e2e [-- --reps 3 --duration 4 --udp-trial 0.5 --steps 6 --json out.json]
 * ```
 *
 * The director (the lvs-ts process, HAProxy, or the director namespace's kernel through RPS) runs on one
 * core (`--director-cpu`, default 0); wrk, the UDP generator, iperf3 and the real servers' HTTP servers on the other
 * (`--load-cpu`, default 1). See the README's "End-to-end benchmark" section for the method.
 *
 * @module
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import * as Lab from "../src/Lab.ts"
import * as T from "./e2e/Tools.ts"

// ---------------------------------------------------------------------------------------------- options

const argv = process.argv.slice(2).filter((a) => a !== "--")
const flag = (name: string, fallback: number): number => {
  const i = argv.indexOf(name)
  if (i < 0) return fallback
  const v = Number(argv[i + 1])
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`${name} ${argv[i + 1]} must be a positive number`)
    process.exit(2)
  }
  return v
}
const text = (name: string): string | undefined => {
  const i = argv.indexOf(name)
  return i < 0 ? undefined : argv[i + 1]
}
if (argv.includes("--help") || argv.includes("-h")) {
  console.log(
    "usage: bench:e2e [--reps N=3] [--cpu-reps N=2] [--duration S=5 (wrk)] [--bulk S=3 (iperf3)] [--udp-trial S=0.5] [--steps N=8]\n" +
      "                 [--loss FRACTION=0.001] [--overload-count N=400000] [--connections N=16]\n" +
      "                 [--variants kernel,nft,haproxy,lvs-nat,lvs-dr (also: lvs-nat-syscalls, lvs-dr-syscalls, c-nat: the minimal C forwarder, UDP only)]\n" +
      "                 [--director-cpu 0] [--load-cpu 1] [--director-rt 10] [--quiet-max 0.05] [--udp-socket] [--json FILE] [--name lvs-bench] [--verbose]"
  )
  process.exit(0)
}
const reps = Math.round(flag("--reps", 3))
/**
 * Extra repetitions of only the HTTP measurements (keep-alive and new connections) for the variants whose
 * CPU per request is compared (HAProxy and lvs-ts): the per-repetition spread of those figures was larger
 * than the differences, so they get more samples than the UDP and bulk figures. 0 turns them off.
 */
const cpuReps = argv.includes("--cpu-reps") ? Math.max(0, Math.round(Number(text("--cpu-reps")))) : 2
const duration = flag("--duration", 5)
/** Before a variant is measured, wait (up to 15 s) until the director core is at most this busy. */
const quietMax = argv.includes("--quiet-max") ? Number(text("--quiet-max")) : 0.05
const bulkSeconds = flag("--bulk", 3)
const udpTrial = flag("--udp-trial", 0.5)
const steps = Math.round(flag("--steps", 8))
const lossTolerance = argv.includes("--loss") ? Number(text("--loss")) : 0.001
const connections = Math.round(flag("--connections", 16))
const directorCpu = argv.includes("--director-cpu") ? Number(text("--director-cpu")) : 0
const loadCpu = argv.includes("--load-cpu") ? Number(text("--load-cpu")) : 1
const name = text("--name") ?? "lvs-bench"
const jsonOut = text("--json")
const verbose = argv.includes("--verbose")
const overloadCount = Math.round(flag("--overload-count", 400_000))
/** SCHED_FIFO priority of the lvs-ts director's I/O worker (`TapPorts` `realtimePriority`); 0: a normal thread. */
/** Use the UDP-socket generator instead of raw AF_PACKET frames (the old, slower generator). */
const udpSocket = argv.includes("--udp-socket")
const directorRt = argv.includes("--director-rt") ? Number(text("--director-rt")) : 10
const allVariants = [
  "kernel",
  "nft",
  "haproxy",
  "lvs-nat",
  "lvs-dr",
  "lvs-nat-syscalls",
  "lvs-dr-syscalls",
  "c-nat"
] as const
type Variant = (typeof allVariants)[number]
const defaultVariants: Array<Variant> = ["kernel", "nft", "haproxy", "lvs-nat", "lvs-dr"]
const variants = (text("--variants")?.split(",") ?? defaultVariants) as Array<Variant>
for (const v of variants)
  if (!allVariants.includes(v)) {
    console.error(`unknown variant ${v} (one of ${allVariants.join(", ")})`)
    process.exit(2)
  }

if (process.getuid?.() !== 0) {
  console.error("bench:e2e needs root (network namespaces, TAP devices, taskset)")
  process.exit(1)
}

const plan = Lab.plan({ name })
const d = plan.director
const [rs1, rs2] = plan.realServers as [Lab.RealServer, Lab.RealServer]
const client = plan.client.netns
const runDir = join(plan.stateDir, "..", `${name}-bench`)
mkdirSync(runDir, { recursive: true })
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`)
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

// ------------------------------------------------------------------------------------------ variants

interface Running {
  /** The director process whose CPU counts (lvs-ts, HAProxy); undefined for the kernel variants. */
  readonly pid: number | undefined
  readonly child?: ChildProcess
  /** Where the client sends HTTP / iperf3 / UDP, and the next hop's MAC for raw UDP frames. */
  readonly target: string
  readonly udp: boolean
  /** False for c-nat, which forwards the UDP stream only (no HTTP, no bulk TCP). */
  readonly http?: boolean
  readonly stop: () => Promise<void>
}

/** The director namespace as a Linux router: DIPs (and the VIP) on the bridges, ip_forward. */
const kernelRouter = (vip: boolean, forward: boolean) => {
  T.nsExec(d.netns, "ip", ["addr", "replace", "10.200.1.1/24", "dev", d.clientPort.bridge])
  if (vip) T.nsExec(d.netns, "ip", ["addr", "replace", `${plan.vip}/32`, "dev", d.clientPort.bridge])
  T.nsExec(d.netns, "ip", ["addr", "replace", "10.200.2.1/24", "dev", d.serverPort.bridge])
  T.nsWrite(d.netns, "/proc/sys/net/ipv4/ip_forward", forward ? "1" : "0")
}

const nftRules = `table ip lvs_bench {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${plan.vip} tcp dport 80 dnat to numgen inc mod 2 map { 0 : ${rs1.address}, 1 : ${rs2.address} }
    ip daddr ${plan.vip} tcp dport 5201 dnat to ${rs1.address}
    ip daddr ${plan.vip} udp dport 9 dnat to ${rs1.address}
  }
}
`

const haproxyConfig = T.haproxyConfig(plan, { pidfile: `${runDir}/haproxy.pid`, bulk: true })

const waitForLine = (child: ChildProcess, line: string, ms: number) =>
  new Promise<boolean>((resolve) => {
    let buffer = ""
    const timer = setTimeout(() => resolve(false), ms)
    child.stdout?.on("data", (chunk: Buffer) => {
      buffer += chunk.toString()
      if (buffer.includes(line)) {
        clearTimeout(timer)
        resolve(true)
      }
    })
    child.once("exit", () => {
      clearTimeout(timer)
      resolve(false)
    })
  })

const stopChild = async (child: ChildProcess) => {
  if (child.exitCode !== null || child.pid === undefined) return
  const exited = new Promise<void>((r) => child.once("exit", () => r()))
  child.kill("SIGTERM")
  await Promise.race([exited, sleep(5000)])
  if (child.exitCode === null) child.kill("SIGKILL")
}

const setupDirectRouting = () => T.setupDirectRouting(plan)

/**
 * Puts the lab back to its plain state whatever a variant (or its failed start) left: no addresses on the
 * bridges, no forwarding, no nftables table, no DR leg or VIP on the servers, the servers' route via the
 * director, no client route, fresh neighbour caches. Idempotent.
 */
const reset = () => {
  T.nsQuiet(d.netns, "nft", ["delete", "table", "ip", "lvs_bench"])
  try {
    T.nsWrite(d.netns, "/proc/sys/net/ipv4/ip_forward", "0")
  } catch {
    // namespace gone
  }
  T.nsQuiet(d.netns, "ip", ["addr", "flush", "dev", d.clientPort.bridge])
  T.nsQuiet(d.netns, "ip", ["addr", "flush", "dev", d.serverPort.bridge])
  T.nsQuiet(client, "ip", ["route", "del", plan.serverNetwork, "via", "10.200.1.1"])
  T.undoDirectRouting(plan)
  flushNeighbours()
}

const flushNeighbours = () => {
  for (const ns of [client, rs1.netns, rs2.netns]) T.nsQuiet(ns, "ip", ["neigh", "flush", "all"])
}

const setRps = () => {
  T.bridgeNetfilterOff(d.netns)
  T.steerReceiveWork(plan, directorCpu, loadCpu)
}

/**
 * The lvs-ts director; `backend` undefined: the Director's default (`auto`: io_uring where available), the
 * `-syscalls` variants force `poll()` + `read()` + `write()` for comparison.
 */
const startLvs = async (method: "nat" | "dr", backend?: "syscalls"): Promise<Running> => {
  if (method === "dr") {
    setupDirectRouting()
    setRps()
  }
  const script = new URL("./e2e/director.ts", import.meta.url).pathname
  const child = spawn(
    "taskset",
    [
      "-c",
      String(directorCpu),
      process.execPath,
      "--conditions=@lvs-ts/source",
      script,
      "--name",
      name,
      "--method",
      method,
      ...(backend !== undefined ? ["--backend", backend] : [])
    ],
    {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, LVS_TAP_REALTIME_PRIORITY: String(directorRt) }
    }
  )
  if (!(await waitForLine(child, "ready", 20_000))) {
    await stopChild(child)
    throw new Error(`the lvs-ts director (${method}) did not start`)
  }
  await sleep(300) // gratuitous ARP, neighbour resolution of the real servers
  return {
    pid: child.pid,
    child,
    target: plan.vip,
    udp: true,
    stop: () => stopChild(child)
  }
}

/**
 * The issue's reference: a minimal C forwarder over the same taps (bench/e2e/cforward.c: ARP for the VIP, UDP to
 * VIP rewritten to rs1, one read() and one write() per frame), at the same core and scheduling as lvs-ts's worker.
 */
const startC = async (): Promise<Running> => {
  const source = new URL("./e2e/cforward.c", import.meta.url).pathname
  const binary = join(runDir, "cforward")
  execFileSync("cc", ["-O2", "-Wall", "-o", binary, source], { stdio: "inherit" })
  const mac = T.nsExec(rs1.netns, "cat", ["/sys/class/net/eth0/address"]).trim()
  const rt = directorRt > 0 ? ["chrt", "-f", String(directorRt)] : []
  const child = spawn(
    "taskset",
    [
      "-c",
      String(directorCpu),
      ...rt,
      "ip",
      "netns",
      "exec",
      d.netns,
      binary,
      d.clientPort.tap,
      d.serverPort.tap,
      plan.vip,
      rs1.address,
      mac
    ],
    { stdio: ["ignore", "pipe", "inherit"] }
  )
  if (!(await waitForLine(child, "ready", 5000))) {
    await stopChild(child)
    throw new Error("the C forwarder did not start")
  }
  return { pid: child.pid, child, target: plan.vip, udp: true, http: false, stop: () => stopChild(child) }
}

const start = async (variant: Variant): Promise<Running> => {
  switch (variant) {
    case "kernel": {
      kernelRouter(false, true)
      T.nsExec(client, "ip", ["route", "replace", plan.serverNetwork, "via", "10.200.1.1"])
      return { pid: undefined, target: rs1.address, udp: true, stop: async () => {} }
    }
    case "nft": {
      kernelRouter(true, true)
      const file = join(runDir, "rules.nft")
      writeFileSync(file, nftRules)
      T.nsExec(d.netns, "nft", ["-f", file])
      return { pid: undefined, target: plan.vip, udp: true, stop: async () => {} }
    }
    case "haproxy": {
      kernelRouter(true, false)
      const file = join(runDir, "haproxy.cfg")
      writeFileSync(file, haproxyConfig)
      // `ip netns exec`, `taskset` and `chrt` exec, so the pid is HAProxy's own (-db: foreground, no daemon).
      // Same scheduling as lvs-ts's I/O worker (SCHED_FIFO at --director-rt): a normal-priority HAProxy
      // loses its core to whatever else runs there, which the earlier runs charged to HAProxy.
      const rt = directorRt > 0 ? ["chrt", "-f", String(directorRt)] : []
      const child = spawn(
        "taskset",
        ["-c", String(directorCpu), ...rt, "ip", "netns", "exec", d.netns, "haproxy", "-db", "-f", file],
        { stdio: ["ignore", "ignore", "inherit"] }
      )
      for (let i = 0; i < 100; i++) {
        const out = T.nsExec(d.netns, "ss", ["-Hltn", `sport = :80`])
        if (out.trim().length > 0) break
        await sleep(50)
      }
      return {
        pid: child.pid,
        child,
        target: plan.vip,
        udp: false,
        stop: () => stopChild(child)
      }
    }
    case "lvs-nat":
      return startLvs("nat")
    case "lvs-dr":
      return startLvs("dr")
    case "lvs-nat-syscalls":
      return startLvs("nat", "syscalls")
    case "lvs-dr-syscalls":
      return startLvs("dr", "syscalls")
    case "c-nat":
      return startC()
  }
}

// ---------------------------------------------------------------------------------------- measurements

interface Result {
  variant: Variant
  rep: number
  kaRps: number
  kaP50: number
  kaP99: number
  kaErrors: number
  kaCpuUs: number
  kaAttributedUs: number
  quietBusy: number
  /** 1-minute load average when the variant's measurements started (the machine is shared). */
  loadAverage: number
  connRps: number
  connP50: number
  connP99: number
  connErrors: number
  connCpuUs: number
  connAttributedUs: number
  lossFreePps: number
  overloadOfferedPps: number
  overloadDeliveredPps: number
  pktCpuUs: number
  pktAttributedUs: number
  bulkMbps: number
}

const measureHttp = (r: Running, close: boolean, baseline: number) => {
  const a = T.cpuSample(directorCpu, r.pid)
  const { result, raw } = T.wrk(client, loadCpu, `http://${r.target}/`, duration, connections, close)
  const b = T.cpuSample(directorCpu, r.pid)
  const cpu = T.cpuSeconds(a, b, baseline)
  if (!Number.isFinite(result.rps)) log(`wrk failed: ${raw.trim().split("\n").slice(-3).join(" / ")}`)
  return {
    ...result,
    cpuUs: (cpu.busy / result.requests) * 1e6,
    attributedUs: (cpu.attributed / result.requests) * 1e6
  }
}

/** The director core's busy fraction with no bench traffic (other tenants, timers), over `seconds`. */
const quietBusy = async (seconds: number) => {
  const a = T.cpuSample(directorCpu, undefined)
  await sleep(seconds * 1000)
  const b = T.cpuSample(directorCpu, undefined)
  return T.cpuSeconds(a, b).busy / (b.wall - a.wall)
}

/**
 * Waits until the director core is quiet (busy at most `quietMax` over half a second), for up to 15 s,
 * so a variant is not measured while another tenant of the machine runs there; returns the busy fraction
 * of the last half second (the baseline subtracted from "core busy").
 */
const waitQuiet = async () => {
  let busy = await quietBusy(0.5)
  for (let i = 0; i < 29 && busy > quietMax; i++) busy = await quietBusy(0.5)
  return busy
}

const udpCounters = () => ({
  delivered: T.counter(rs1.netns, "eth0", "rx_packets") + T.counter(rs2.netns, "eth0", "rx_packets")
})

const measureUdp = async (r: Running, baseline: number) => {
  // Prime the path (ARP on every hop) with a few paced datagrams.
  T.udpgen(client, loadCpu, r.target, 9, 50, 1000, 10_000)
  await sleep(200)
  // Then whole frames on a packet socket to the resolved next hop: the same datagram, cheaper to send.
  const raw = udpSocket ? undefined : T.rawFrames(client, r.target)
  if (!udpSocket && raw === undefined) log("udpgen: next hop not resolved, using the UDP socket")
  const trial = (count: number, pps: number) => {
    const a = udpCounters()
    const c0 = T.cpuSample(directorCpu, r.pid)
    const g = T.udpgen(client, loadCpu, r.target, 9, count, pps, Math.max(15_000, udpTrial * 20_000), raw)
    const c1 = T.cpuSample(directorCpu, r.pid)
    blockFor(200)
    const b = udpCounters()
    // Sent: the generator's count (the interface counter would add the client's ARP); delivered: frames
    // the real servers' interfaces received (capped at sent: they also see the director's ARP).
    const sent = g.sent
    const delivered = Math.min(sent, b.delivered - a.delivered)
    const cpu = T.cpuSeconds(c0, c1, baseline)
    return { sent, delivered, seconds: g.seconds, cpu: cpu.busy, attributed: cpu.attributed, ok: g.ok, raw: g.raw }
  }
  // Unpaced overload: as fast as the generator can send (about 1 s on the development machine).
  const o = trial(overloadCount, 0)
  if (!o.ok) log(`udpgen: ${o.raw.trim().split("\n").slice(-2).join(" / ")}`)
  const offered = o.sent / o.seconds
  const deliveredRate = o.delivered / o.seconds
  // Geometric bisection of the loss-free rate between 2 kpps and the generator's unpaced rate. The CPU per
  // packet is taken at the highest passing rate (paced, no loss), where every offered packet is forwarded;
  // under overload a forwarder that shares its core with the kernel's receive work can livelock, so CPU per
  // delivered packet there says more about the livelock than about the forwarder.
  let lo = 0
  let a = 2000
  let b = Math.max(offered, 4000)
  let pktCpuUs = Number.NaN
  let pktAttributedUs = Number.NaN
  for (let i = 0; i < steps; i++) {
    const rate = i === 0 ? a : Math.sqrt(a * b)
    const t = trial(Math.max(500, Math.round(rate * udpTrial)), rate)
    const loss = t.sent === 0 ? 1 : 1 - t.delivered / t.sent
    // The generator must have kept its pace for the step to count as a pass at this rate.
    const paced = t.sent / t.seconds >= rate * 0.95
    const pass = loss <= lossTolerance && paced
    if (pass) {
      lo = rate
      a = rate
      pktCpuUs = (t.cpu / Math.max(1, t.delivered)) * 1e6
      pktAttributedUs = (t.attributed / Math.max(1, t.delivered)) * 1e6
    } else if (i === 0) {
      b = rate
      break
    } else b = rate
    if (verbose)
      log(
        `  step ${(rate / 1000).toFixed(1)} kpps: sent ${t.sent} in ${t.seconds.toFixed(2)} s, delivered ${t.delivered}, loss ${(loss * 100).toFixed(3)}%${pass ? "" : " (fail)"}`
      )
  }
  return { lossFreePps: lo, offered, deliveredRate, pktCpuUs, pktAttributedUs }
}

/** Blocks this thread (the trial helpers are synchronous): lets in-flight frames arrive before counting. */
const blockFor = (ms: number) => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/** `httpOnly`: only the keep-alive and new-connection runs (the extra CPU repetitions). */
const measure = async (variant: Variant, rep: number, httpOnly = false): Promise<Result> => {
  let r: Running
  try {
    r = await start(variant)
  } catch (e) {
    reset()
    throw e
  }
  try {
    const http = r.http !== false
    // Warm up: a few requests so ARP, conntrack and JIT are in place.
    if (http) T.wrk(client, loadCpu, `http://${r.target}/`, 1, 4, false)
    const baseline = await waitQuiet()
    const loadAverage = Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0])
    const none = {
      rps: Number.NaN,
      p50ms: Number.NaN,
      p99ms: Number.NaN,
      errors: 0,
      cpuUs: Number.NaN,
      attributedUs: Number.NaN
    }
    const ka = http ? measureHttp(r, false, baseline) : none
    if (http)
      log(
        `${variant} rep ${rep}: keep-alive ${ka.rps.toFixed(0)} req/s, p50 ${ka.p50ms} ms, p99 ${ka.p99ms} ms, core ${ka.cpuUs.toFixed(1)} µs/req (process + ticks ${ka.attributedUs.toFixed(1)}; quiet core ${(baseline * 100).toFixed(0)}% busy, load average ${loadAverage})`
      )
    const conn = http ? measureHttp(r, true, baseline) : none
    if (http)
      log(
        `${variant} rep ${rep}: new connections ${conn.rps.toFixed(0)}/s, p50 ${conn.p50ms} ms, p99 ${conn.p99ms} ms, core ${conn.cpuUs.toFixed(1)} µs/conn (process + ticks ${conn.attributedUs.toFixed(1)})`
      )
    let udp = {
      lossFreePps: Number.NaN,
      offered: Number.NaN,
      deliveredRate: Number.NaN,
      pktCpuUs: Number.NaN,
      pktAttributedUs: Number.NaN
    }
    if (r.udp && !httpOnly) {
      udp = await measureUdp(r, baseline)
      log(
        `${variant} rep ${rep}: UDP loss-free ${(udp.lossFreePps / 1000).toFixed(1)} kpps; overload offered ${(udp.offered / 1000).toFixed(0)} kpps, delivered ${(udp.deliveredRate / 1000).toFixed(1)} kpps, core ${udp.pktCpuUs.toFixed(2)} µs/pkt (process + ticks ${udp.pktAttributedUs.toFixed(2)})`
      )
    }
    const bulk =
      httpOnly || !http
        ? { bps: Number.NaN, raw: "" }
        : T.iperf3(client, rs1.netns, loadCpu, r.target, bulkSeconds, join(runDir, "iperf3.pid"))
    if (!httpOnly && http)
      log(
        `${variant} rep ${rep}: bulk TCP ${(bulk.bps / 1e6).toFixed(0)} Mbit/s${bulk.raw ? ` (${bulk.raw.trim().slice(0, 200)})` : ""}`
      )
    return {
      variant,
      rep,
      kaRps: ka.rps,
      kaP50: ka.p50ms,
      kaP99: ka.p99ms,
      kaErrors: ka.errors,
      kaCpuUs: ka.cpuUs,
      kaAttributedUs: ka.attributedUs,
      quietBusy: baseline,
      loadAverage,
      connRps: conn.rps,
      connP50: conn.p50ms,
      connP99: conn.p99ms,
      connErrors: conn.errors,
      connCpuUs: conn.cpuUs,
      connAttributedUs: conn.attributedUs,
      lossFreePps: udp.lossFreePps,
      overloadOfferedPps: udp.offered,
      overloadDeliveredPps: udp.deliveredRate,
      pktCpuUs: udp.pktCpuUs,
      pktAttributedUs: udp.pktAttributedUs,
      bulkMbps: bulk.bps / 1e6
    }
  } finally {
    await r.stop()
    reset()
  }
}

// ------------------------------------------------------------------------------------------------ report

const median = (xs: ReadonlyArray<number>): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b)
  if (s.length === 0) return Number.NaN
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : "n/a")

const medians = (rs: ReadonlyArray<Result>) => {
  const m = (k: keyof Result) => median(rs.map((r) => r[k] as number))
  return {
    kaRps: m("kaRps"),
    kaP50: m("kaP50"),
    kaP99: m("kaP99"),
    kaCpuUs: m("kaCpuUs"),
    kaAttributedUs: m("kaAttributedUs"),
    quietBusy: m("quietBusy"),
    connRps: m("connRps"),
    connP50: m("connP50"),
    connP99: m("connP99"),
    connCpuUs: m("connCpuUs"),
    connAttributedUs: m("connAttributedUs"),
    lossFreePps: m("lossFreePps"),
    overloadDeliveredPps: m("overloadDeliveredPps"),
    overloadOfferedPps: m("overloadOfferedPps"),
    pktCpuUs: m("pktCpuUs"),
    pktAttributedUs: m("pktAttributedUs"),
    bulkMbps: m("bulkMbps")
  }
}

const report = (results: ReadonlyArray<Result>) => {
  const lines = [
    "| variant | keep-alive req/s | p50 / p99 ms | core µs/req (process + ticks) | new conn/s | p50 / p99 ms | core µs/conn (process + ticks) | loss-free 60 B kpps | overload delivered kpps (offered) | core µs/pkt (process + ticks) | bulk TCP Mbit/s | quiet core busy |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  ]
  const med: Partial<Record<Variant, ReturnType<typeof medians>>> = {}
  for (const v of variants) {
    const rs = results.filter((r) => r.variant === v)
    const row = medians(rs)
    med[v] = row
    lines.push(
      `| ${v} | ${fmt(row.kaRps)} | ${fmt(row.kaP50, 2)} / ${fmt(row.kaP99, 2)} | ${fmt(row.kaCpuUs, 1)} (${fmt(row.kaAttributedUs, 1)}) | ${fmt(row.connRps)} | ${fmt(row.connP50, 2)} / ${fmt(row.connP99, 2)} | ${fmt(row.connCpuUs, 1)} (${fmt(row.connAttributedUs, 1)}) | ${fmt(row.lossFreePps / 1000, 1)} | ${fmt(row.overloadDeliveredPps / 1000, 1)} (${fmt(row.overloadOfferedPps / 1000, 0)}) | ${fmt(row.pktCpuUs, 2)} (${fmt(row.pktAttributedUs, 2)}) | ${fmt(row.bulkMbps)} | ${fmt(row.quietBusy * 100)}% |`
    )
  }
  console.log(
    `\nMedians of ${reps} interleaved repetitions (HTTP columns of HAProxy and lvs-ts: of ${reps + cpuReps}):\n`
  )
  console.log(lines.join("\n"))
  const perRep: Array<string> = []
  for (const v of variants) {
    const rs = results.filter((r) => r.variant === v)
    const list = (k: keyof Result, digits: number) => rs.map((r) => fmt(r[k] as number, digits)).join(" / ")
    perRep.push(
      `${v}: core µs/req ${list("kaCpuUs", 1)} (process + ticks ${list("kaAttributedUs", 1)}); core µs/conn ${list("connCpuUs", 1)} (process + ticks ${list("connAttributedUs", 1)}); quiet core busy % ${rs.map((r) => fmt(r.quietBusy * 100)).join(" / ")}; load average ${rs.map((r) => fmt(r.loadAverage, 1)).join(" / ")}`
    )
  }
  // Paired by repetition: each lvs-ts figure against HAProxy's of the same repetition (minutes apart, so
  // slow drift in the machine's other load affects both), then the median of those ratios.
  for (const v of variants.filter((x) => x.startsWith("lvs-"))) {
    const ratios = (k: keyof Result) => {
      const out: Array<number> = []
      for (const r of results.filter((x) => x.variant === v)) {
        const h = results.find((x) => x.variant === "haproxy" && x.rep === r.rep)
        if (h !== undefined) out.push((r[k] as number) / (h[k] as number))
      }
      return out
    }
    const ka = ratios("kaCpuUs")
    const conn = ratios("connCpuUs")
    if (ka.length > 0)
      perRep.push(
        `${v} / haproxy, same repetition: per request ${ka.map((x) => fmt(x, 2)).join(" / ")} (median ${fmt(median(ka), 2)}); per connection ${conn.map((x) => fmt(x, 2)).join(" / ")} (median ${fmt(median(conn), 2)})`
      )
  }
  console.log(`\nPer repetition (in run order):\n${perRep.map((t) => `- ${t}`).join("\n")}`)
  const targets: Array<string> = []
  const h = med.haproxy
  const k = med.kernel
  for (const v of variants.filter((x) => x.startsWith("lvs-"))) {
    const row = med[v]
    if (row === undefined) continue
    if (h !== undefined) {
      targets.push(
        `${v}: director-core CPU per keep-alive request ${fmt(row.kaCpuUs, 1)} µs vs HAProxy ${fmt(h.kaCpuUs, 1)} µs: ${row.kaCpuUs <= h.kaCpuUs ? "holds" : "MISSED"} (process + ticks: ${fmt(row.kaAttributedUs, 1)} vs ${fmt(h.kaAttributedUs, 1)} µs)`
      )
      targets.push(
        `${v}: director-core CPU per new connection ${fmt(row.connCpuUs, 1)} µs vs HAProxy ${fmt(h.connCpuUs, 1)} µs: ${row.connCpuUs <= h.connCpuUs ? "holds" : "MISSED"} (process + ticks: ${fmt(row.connAttributedUs, 1)} vs ${fmt(h.connAttributedUs, 1)} µs)`
      )
    }
    if (k !== undefined) {
      const share = row.lossFreePps / k.lossFreePps
      // When the kernel forwarded everything the generator offered even at overload, its loss-free figure is the
      // generator's limit, not the kernel's: the share is then an upper bound, which can only show a miss.
      const verdict =
        share < 0.2
          ? "MISSED"
          : generatorBound(k)
            ? "no verdict: the kernel's figure is the generator's limit"
            : "holds"
      targets.push(
        `${v}: loss-free small-packet rate ${fmt(row.lossFreePps / 1000, 1)} kpps = ${fmt(share * 100, 0)}% of kernel forwarding's ${fmt(k.lossFreePps / 1000, 1)} kpps (target >= 20%): ${verdict}`
      )
    }
  }
  // The issue's reference point: the minimal C forwarder over the same taps, when it ran.
  const c = med["c-nat"]
  if (c !== undefined) {
    const ofKernel =
      k !== undefined
        ? ` = ${fmt((c.lossFreePps / k.lossFreePps) * 100, 0)}% of kernel forwarding's${generatorBound(k) ? " (an upper bound: the kernel's figure is the generator's limit)" : ""}`
        : ""
    targets.push(`c-nat (reference, not a target): loss-free ${fmt(c.lossFreePps / 1000, 1)} kpps${ofKernel}`)
    for (const v of variants.filter((x) => x.startsWith("lvs-"))) {
      const row = med[v]
      if (row !== undefined)
        targets.push(`${v}: loss-free ${fmt((row.lossFreePps / c.lossFreePps) * 100, 0)}% of the C forwarder's`)
    }
  }
  console.log(`\nTargets:\n${targets.map((t) => `- ${t}`).join("\n")}`)
  return { medians: med, targets, perRep, table: lines.join("\n") }
}

/** True when a variant delivered (nearly) all the generator offered at overload: its loss-free rate is then a floor. */
const generatorBound = (row: { overloadDeliveredPps: number; overloadOfferedPps: number }): boolean =>
  row.overloadDeliveredPps >= 0.98 * row.overloadOfferedPps

// -------------------------------------------------------------------------------------------------- main

const main = async () => {
  const started = performance.now()
  log(`building the lab ${name}`)
  await Effect.runPromise(Lab.up({ name }))
  const results: Array<Result> = []
  let interrupted = false
  const onSignal = () => {
    interrupted = true
  }
  process.once("SIGINT", onSignal)
  process.once("SIGTERM", onSignal)
  try {
    const state = JSON.parse(readFileSync(join(plan.stateDir, "state.json"), "utf8")) as Lab.State
    T.pinServers(plan, state, loadCpu)
    setRps()
    // The servers drop the UDP sink's datagrams at ingress (counted, then dropped before the IP stack), so
    // the shared load core has more left for the generator: the kernel variants' loss-free rate is otherwise
    // the generator's limit.
    for (const rs of plan.realServers) T.udpSinkDrop(rs.netns)
    log(
      `director core ${directorCpu}, load core ${loadCpu}; ${reps} reps x [${variants.join(", ")}]; wrk ${duration} s x2, iperf3 ${bulkSeconds} s, UDP ${steps} steps of ${udpTrial} s`
    )
    for (let rep = 1; rep <= reps && !interrupted; rep++) {
      // Rotate the order each repetition so drift in the machine's load spreads over all variants.
      const order = variants.map((_, i) => variants[(i + rep - 1) % variants.length]!)
      for (const v of order) {
        if (interrupted) break
        try {
          results.push(await measure(v, rep))
        } catch (e) {
          log(`${v} rep ${rep} failed: ${e instanceof Error ? e.message : String(e)}`)
        }
      }
    }
    // Extra HTTP-only repetitions of the variants whose CPU per request/connection is compared.
    const compared = variants.filter((v) => v === "haproxy" || v.startsWith("lvs-"))
    for (let extra = 1; extra <= cpuReps && !interrupted; extra++) {
      const rep = reps + extra
      const order = compared.map((_, i) => compared[(i + rep - 1) % compared.length]!)
      for (const v of order) {
        if (interrupted) break
        try {
          results.push(await measure(v, rep, true))
        } catch (e) {
          log(`${v} rep ${rep} (HTTP only) failed: ${e instanceof Error ? e.message : String(e)}`)
        }
      }
    }
  } finally {
    log("tearing the lab down")
    await Effect.runPromise(Effect.ignore(Lab.down({ name })))
    rmSync(runDir, { recursive: true, force: true })
  }
  const summary = report(results)
  const load = readFileSync("/proc/loadavg", "utf8").trim()
  console.log(`\n${((performance.now() - started) / 1000).toFixed(0)} s; load average at the end: ${load}`)
  if (jsonOut !== undefined) writeFileSync(jsonOut, `${JSON.stringify({ results, ...summary }, null, 2)}\n`)
}

void main().catch((e) => {
  console.error(e)
  process.exit(1)
})
