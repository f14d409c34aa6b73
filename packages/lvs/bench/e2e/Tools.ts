/**
 * Helpers of the end-to-end benchmark: commands in namespaces, CPU accounting of the director core,
 * and the load generators (wrk, the paced UDP generator `udpgen.ts`, iperf3) with their output parsed.
 *
 * @module
 */
import { execFileSync, spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import type * as Lab from "../../src/Lab.ts"

/** Runs a command in a namespace; throws with its stderr on failure. */
export const nsExec = (netns: string, command: string, args: ReadonlyArray<string>, timeoutMs = 30_000): string =>
  execFileSync("ip", ["netns", "exec", netns, command, ...args], {
    encoding: "utf8",
    timeout: timeoutMs,
    stdio: ["ignore", "pipe", "pipe"]
  })

/** Runs a command in a namespace and ignores failure (teardown of what may already be gone). */
export const nsQuiet = (netns: string, command: string, args: ReadonlyArray<string>): void => {
  try {
    nsExec(netns, command, args)
  } catch {
    // already gone
  }
}

/** Writes a `/proc/sys` or `/sys` file from inside a namespace (sysfs is remounted by `ip netns exec`). */
export const nsWrite = (netns: string, file: string, value: string): void => {
  nsExec(netns, "sh", ["-c", `echo ${value} > ${file}`])
}

/** An interface counter (`/sys/class/net/<dev>/statistics/<name>`) inside a namespace. */
export const counter = (netns: string, dev: string, name: string): number =>
  Number(nsExec(netns, "cat", [`/sys/class/net/${dev}/statistics/${name}`]).trim())

const TICK = 100 // USER_HZ

/**
 * CPU time of the director core: ticks of `irq` + `softirq` of one CPU (`/proc/stat`, the kernel's
 * forwarding work: bridge, routing, netfilter, veth/tap delivery) plus `utime` + `stime` of the
 * director process if there is one (`/proc/<pid>/stat`, every thread). The two overlap: without
 * `CONFIG_IRQ_TIME_ACCOUNTING` a tick in softirq context while a task runs counts both in that task's
 * `stime` and in the CPU's softirq time, so the sum is only a secondary figure; `cpuSeconds().busy` (wall -
 * idle) is the director core's CPU.
 */
export interface CpuSample {
  readonly softirq: number
  readonly process: number
  /** idle + iowait of the core: precise under NO_HZ, and interrupts taken while idle are not counted as idle. */
  readonly idle: number
  readonly wall: number
}

/** Reads the current CPU counters of core `cpu` and process `pid` (seconds). */
export const cpuSample = (cpu: number, pid: number | undefined): CpuSample => {
  const line = readFileSync("/proc/stat", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`cpu${cpu} `))!
  const f = line.trim().split(/\s+/).map(Number)
  const softirq = ((f[6] ?? 0) + (f[7] ?? 0)) / TICK
  const idle = ((f[4] ?? 0) + (f[5] ?? 0)) / TICK
  let proc = 0
  if (pid !== undefined) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      // fields 14 and 15 (utime, stime); rest[0] is field 3
      proc = (Number(rest[11]) + Number(rest[12])) / TICK
    } catch {
      proc = 0
    }
  }
  return { softirq, process: proc, idle, wall: performance.now() / 1000 }
}

/**
 * Director-core CPU seconds between two samples: `busy` (wall - idle of the core, minus `baselineBusy` x
 * wall: what the core did beyond its quiet level, the figure the verdicts use) and `attributed` (the
 * process + the core's irq/softirq ticks: overlapping, see {@link CpuSample}).
 */
export const cpuSeconds = (
  a: CpuSample,
  b: CpuSample,
  baselineBusy = 0
): { attributed: number; busy: number; softirq: number; process: number } => {
  const wall = b.wall - a.wall
  return {
    attributed: b.softirq - a.softirq + (b.process - a.process),
    busy: Math.max(0, wall - (b.idle - a.idle) - baselineBusy * wall),
    softirq: b.softirq - a.softirq,
    process: b.process - a.process
  }
}

/** What wrk reports. */
export interface WrkResult {
  readonly requests: number
  readonly rps: number
  readonly p50ms: number
  readonly p99ms: number
  readonly errors: number
}

const toMs = (value: string): number => {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(value.trim())
  if (!m) return Number.NaN
  const n = Number(m[1])
  return m[2] === "us" ? n / 1000 : m[2] === "ms" ? n : m[2] === "s" ? n * 1000 : n * 60_000
}

/** Parses `wrk --latency` output. */
export const parseWrk = (out: string): WrkResult => {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN)
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? Number.NaN)
  const p50 = /^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? ""
  const p99 = /^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? ""
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0)
  const errors = (socketErrors ? socketErrors.slice(1).reduce((s, v) => s + Number(v), 0) : 0) + non2xx
  return { requests, rps, p50ms: toMs(p50), p99ms: toMs(p99), errors }
}

/** Runs wrk in the client namespace on CPU `cpu`; `close` sends `Connection: close` (one connection per request). */
export const wrk = (
  netns: string,
  cpu: number,
  url: string,
  seconds: number,
  connections: number,
  close: boolean
): { result: WrkResult; raw: string } => {
  const args = [
    "-c",
    String(cpu),
    "wrk",
    "-t1",
    `-c${connections}`,
    `-d${seconds}s`,
    "--timeout",
    "2s",
    "--latency",
    ...(close ? ["-H", "Connection: close"] : []),
    url
  ]
  const r = spawnSync("ip", ["netns", "exec", netns, "taskset", ...args], {
    encoding: "utf8",
    timeout: (seconds + 20) * 1000
  })
  const raw = `${r.stdout ?? ""}${r.stderr ?? ""}`
  return { result: parseWrk(raw), raw }
}

const udpgenScript = new URL("./udpgen.ts", import.meta.url).pathname

/**
 * Sends `count` 60-byte UDP frames from the client namespace with the paced generator (`udpgen.ts`),
 * at `pps` (0: as fast as it can), pinned to `cpu`; returns what it sent and over how long.
 */
export const udpgen = (
  netns: string,
  cpu: number,
  dst: string,
  port: number,
  count: number,
  pps: number,
  timeoutMs: number,
  rawFrames?: string
): { ok: boolean; sent: number; seconds: number; raw: string } => {
  // `taskset` before exec: every thread of the generator (V8's helpers included, which start before the script
  // could pin itself) lives on the load core, none on the director core whose busy time is measured.
  const r = spawnSync(
    "ip",
    [
      "netns",
      "exec",
      netns,
      "taskset",
      "-c",
      String(cpu),
      process.execPath,
      udpgenScript,
      dst,
      String(port),
      String(Math.round(count)),
      String(Math.round(pps)),
      String(cpu),
      ...(rawFrames !== undefined ? [rawFrames] : [])
    ],
    { encoding: "utf8", timeout: timeoutMs }
  )
  try {
    const out = JSON.parse(r.stdout) as { sent: number; seconds: number }
    return { ok: r.status === 0, sent: out.sent, seconds: out.seconds, raw: r.stderr }
  } catch {
    return { ok: false, sent: 0, seconds: Number.NaN, raw: `${r.stdout ?? ""}${r.stderr ?? ""}` }
  }
}

/**
 * The `raw=` argument of `udpgen.ts` for datagrams from `netns` to `target`: the next hop's MAC from the
 * namespace's neighbour table (resolve it first, e.g. with a few datagrams through the UDP socket), the
 * outgoing device, its MAC and the source address. `undefined` when the next hop is not resolved.
 */
export const rawFrames = (netns: string, target: string): string | undefined => {
  const [route] = JSON.parse(nsExec(netns, "ip", ["-j", "route", "get", target])) as Array<{
    gateway?: string
    dev: string
    prefsrc: string
  }>
  if (route === undefined) return undefined
  const hop = route.gateway ?? target
  const [neigh] = JSON.parse(nsExec(netns, "ip", ["-j", "neigh", "show", hop, "dev", route.dev])) as Array<{
    lladdr?: string
  }>
  if (neigh?.lladdr === undefined) return undefined
  const src = nsExec(netns, "cat", [`/sys/class/net/${route.dev}/address`]).trim()
  return `raw=${neigh.lladdr},${src},${route.prefsrc},${route.dev}`
}

/**
 * Makes a real server's UDP sink (port 9) cheap: an nftables `netdev` ingress rule on `eth0` drops the
 * datagrams before the IP stack (no socket lookup, no ICMP port unreachable attempt), after the
 * interface has counted them in `rx_packets`. The load core then has more left for the generator.
 */
export const udpSinkDrop = (netns: string): void => {
  nsQuiet(netns, "nft", ["delete", "table", "netdev", "lvs_bench_sink"])
  nsExec(netns, "nft", ["add", "table", "netdev", "lvs_bench_sink"])
  nsExec(netns, "nft", [
    "add",
    "chain",
    "netdev",
    "lvs_bench_sink",
    "in",
    "{ type filter hook ingress device eth0 priority 0 ; }"
  ])
  nsExec(netns, "nft", ["add", "rule", "netdev", "lvs_bench_sink", "in", "udp", "dport", "9", "drop"])
}

/** Bulk TCP with iperf3 (one stream, client -> server, `seconds`): bits per second received. */
export const iperf3 = (
  clientNs: string,
  serverNs: string,
  cpu: number,
  target: string,
  seconds: number,
  pidFile: string
): { bps: number; raw: string } => {
  const server = spawnSync(
    "ip",
    ["netns", "exec", serverNs, "taskset", "-c", String(cpu), "iperf3", "-s", "-1", "-D", "-p", "5201", "-I", pidFile],
    { encoding: "utf8", timeout: 10_000 }
  )
  if (server.status !== 0) return { bps: Number.NaN, raw: server.stderr }
  spawnSync("sleep", ["0.3"])
  const r = spawnSync(
    "ip",
    [
      "netns",
      "exec",
      clientNs,
      "taskset",
      "-c",
      String(cpu),
      "iperf3",
      "-c",
      target,
      "-p",
      "5201",
      "-t",
      String(seconds),
      "-J",
      "--connect-timeout",
      "2000"
    ],
    { encoding: "utf8", timeout: (seconds + 15) * 1000 }
  )
  // make sure the one-off server is gone (it exits after one test, or on error)
  try {
    const pid = Number(readFileSync(pidFile, "utf8").trim())
    if (pid > 0) process.kill(pid, "SIGTERM")
  } catch {
    // exited already
  }
  try {
    const json = JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second?: number } }; error?: string }
    return { bps: json.end?.sum_received?.bits_per_second ?? Number.NaN, raw: json.error ?? "" }
  } catch {
    return { bps: Number.NaN, raw: `${r.stdout}${r.stderr}` }
  }
}

/** `rps_cpus` / `taskset` mask of one CPU. */
export const cpuMask = (cpu: number): string => (1 << cpu).toString(16)

/**
 * The benches' CPU layout on a lab: the kernel's receive work of the director namespace is steered to the director
 * core with RPS (director-side veths; `vc2` exists only with DR) and that of the client and the real servers to the
 * load core (`eth1` of the client exists only with DR), as if the director were a machine whose NIC interrupts
 * land on its one core. Devices that do not exist are skipped.
 */
export const steerReceiveWork = (plan: Lab.Plan, directorCpu: number, loadCpu: number): void => {
  const write = (netns: string, dev: string, cpu: number) => {
    try {
      nsWrite(netns, `/sys/class/net/${dev}/queues/rx-0/rps_cpus`, cpuMask(cpu))
    } catch {
      // a DR-only device, absent now
    }
  }
  for (const dev of ["vc", "vs1", "vs2", "vc2"]) write(plan.director.netns, dev, directorCpu)
  write(plan.client.netns, "eth0", loadCpu)
  write(plan.client.netns, "eth1", loadCpu)
  for (const rs of plan.realServers) write(rs.netns, "eth0", loadCpu)
}

/**
 * No netfilter on the lab's bridged frames: the bridges stand for cables and a switch, and `br_netfilter`, when the
 * host has it, turns the hooks on in every new namespace (~3 µs per bridged frame here). Routed and local traffic
 * still passes the IP hooks as usual. A host without `br_netfilter` has nothing to turn off.
 */
export const bridgeNetfilterOff = (netns: string): void => {
  for (const key of ["iptables", "ip6tables", "arptables"])
    try {
      nsWrite(netns, `/proc/sys/net/bridge/bridge-nf-call-${key}`, "0")
    } catch {
      // no br_netfilter on this host
    }
}

/** Pins every thread of the lab's HTTP servers to the load core. */
export const pinServers = (plan: Lab.Plan, state: Lab.State, loadCpu: number): void => {
  for (const server of state.servers)
    nsQuiet(plan.client.netns, "taskset", ["-a", "-p", "-c", String(loadCpu), String(server.pid)])
}

/**
 * HAProxy in TCP mode, one thread: VIP:80 round robin over the first two real servers, and with `bulk` VIP:5201 to
 * the first (iperf3).
 */
export const haproxyConfig = (
  plan: Lab.Plan,
  options: { readonly pidfile?: string; readonly bulk?: boolean }
): string => {
  const [rs1, rs2] = plan.realServers
  return `global
  maxconn 4000
  nbthread 1
${options.pidfile === undefined ? "" : `  pidfile ${options.pidfile}\n`}defaults
  mode tcp
  timeout connect 2s
  timeout client 30s
  timeout server 30s
frontend web
  bind ${plan.vip}:80
  default_backend web
backend web
  balance roundrobin
  server rs1 ${rs1!.address}:80
  server rs2 ${rs2!.address}:80
${
  options.bulk === true
    ? `frontend bulk
  bind ${plan.vip}:5201
  default_backend bulk
backend bulk
  server rs1 ${rs1!.address}:5201
`
    : ""
}`
}

/**
 * The classic LVS-DR real-server set-up (VIP on `lo` /32, `arp_ignore=1`, `arp_announce=2`) and a second client leg
 * (`eth1`, 10.200.2.10, peer `vc2` on the director's server bridge) so replies bypass the director: the lab's own
 * set-up, IPv4 only, kept here so the benches' before/after stays exact whatever the lab grows.
 */
export const setupDirectRouting = (plan: Lab.Plan): void => {
  const d = plan.director
  const client = plan.client.netns
  nsExec(d.netns, "ip", ["link", "add", "vc2", "type", "veth", "peer", "name", "eth1", "netns", client])
  nsExec(d.netns, "ip", ["link", "set", "vc2", "master", d.serverPort.bridge])
  nsExec(d.netns, "ip", ["link", "set", "vc2", "up"])
  nsExec(client, "ip", ["addr", "replace", "10.200.2.10/24", "dev", "eth1"])
  nsExec(client, "ip", ["link", "set", "eth1", "up"])
  nsWrite(client, "/proc/sys/net/ipv4/conf/all/rp_filter", "0")
  nsWrite(client, "/proc/sys/net/ipv4/conf/eth1/rp_filter", "0")
  for (const rs of plan.realServers) {
    for (const dev of ["all", "eth0"]) {
      nsWrite(rs.netns, `/proc/sys/net/ipv4/conf/${dev}/arp_ignore`, "1")
      nsWrite(rs.netns, `/proc/sys/net/ipv4/conf/${dev}/arp_announce`, "2")
    }
    nsExec(rs.netns, "ip", ["addr", "replace", `${plan.vip}/32`, "dev", "lo"])
    nsExec(rs.netns, "ip", ["route", "replace", plan.clientNetwork, "via", "10.200.2.10"])
  }
}

/** Undoes {@link setupDirectRouting}: no DR leg, no VIP on the servers, their route to clients via the director. */
export const undoDirectRouting = (plan: Lab.Plan): void => {
  const d = plan.director
  nsQuiet(d.netns, "ip", ["link", "del", "vc2"])
  for (const rs of plan.realServers) {
    nsQuiet(rs.netns, "ip", ["addr", "del", `${plan.vip}/32`, "dev", "lo"])
    nsQuiet(rs.netns, "ip", ["route", "replace", plan.clientNetwork, "via", d.serverPort.addresses[0]!])
  }
}
