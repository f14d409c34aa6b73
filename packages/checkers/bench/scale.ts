/**
 * Scale benchmark: N real servers (default 20,000) on distinct loopback addresses 127.1.x.y, one TCP_CHECK each
 * with delay_loop 1 s, checked by this one process for D seconds (default 60). Reports how late check starts were
 * (acceptance: ≤ 100 ms), file descriptors, memory and CPU.
 *
 *   node --expose-gc --conditions=@lvs-ts/source bench/scale.ts [servers] [seconds] [tcp|tcp-node|noop] [delay_loop_ms]
 */

import { fork } from "node:child_process"
import * as fs from "node:fs"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { HealthChecker, Metrics, Probe } from "@lvs-ts/checkers"
import { Effect, Metric } from "effect"

const servers = Number(process.argv[2] ?? process.env["BENCH_SCALE_SERVERS"] ?? 20_000)
const seconds = Number(process.argv[3] ?? process.env["BENCH_SCALE_SECONDS"] ?? 60)
/**
 * "tcp" (TCP_CHECK through TcpEngine against the listener), "tcp-node" (TCP_CHECK with one Node socket and one
 * fiber per checker, the fallback path) or "noop" (a CUSTOM probe without I/O: the per-checker fiber scheduler
 * alone).
 */
const probeKind = (process.argv[4] ?? process.env["BENCH_SCALE_PROBE"] ?? "tcp") as "tcp" | "tcp-node" | "noop"
/** delay_loop in milliseconds (acceptance: 1000). */
const delayLoopMs = Number(process.argv[5] ?? process.env["BENCH_SCALE_DELAY_LOOP_MS"] ?? 1000)

/** keepalived's checker_priority for the checker (BENCH_CHECKER_PRIORITY, e.g. -5); unset: inherited. */
const priority =
  process.env["BENCH_CHECKER_PRIORITY"] !== undefined ? Number(process.env["BENCH_CHECKER_PRIORITY"]) : undefined

const fds = (): number => fs.readdirSync("/proc/self/fd").length
const limit = (): string => {
  const line = fs
    .readFileSync("/proc/self/limits", "utf8")
    .split("\n")
    .find((l) => l.startsWith("Max open files"))
  return line?.replace(/\s+/g, " ").trim() ?? "?"
}

/** CPU seconds per thread of a process (Linux /proc), by thread name. */
const threadCpu = (pid: number | "self"): Record<string, number> => {
  const out: Record<string, number> = {}
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8")
      const close = stat.lastIndexOf(")")
      const name = `${stat.slice(stat.indexOf("(") + 1, close)}#${tid}`
      const f = stat.slice(close + 2).split(" ")
      const ticks = Number(f[11]) + Number(f[12])
      out[name] = (out[name] ?? 0) + ticks / 100
    }
  } catch {
    // not Linux
  }
  return out
}
const diff = (a: Record<string, number>, b: Record<string, number>, wall: number): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const k of Object.keys(b)) {
    const pct = Math.round((((b[k] ?? 0) - (a[k] ?? 0)) / wall) * 100)
    if (pct > 0) out[k] = pct
  }
  return out
}

const address = (i: number) => `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`

export const runScale = async (n = servers, durationS = seconds, kind = probeKind, delayMs = delayLoopMs) => {
  const listener = fork(fileURLToPath(new URL("./listener.ts", import.meta.url)), [], {
    stdio: ["ignore", "pipe", "inherit", "ipc"],
    // The listener's stdout carries its port: keep diagnostics such as --trace-gc to the checker process.
    execArgv: process.execArgv.filter((a) => !a.startsWith("--trace") && !a.startsWith("--cpu-prof"))
  })
  const port = await new Promise<number>((resolve) =>
    listener.stdout!.once("data", (d: Buffer) => resolve(Number(d.toString().trim())))
  )
  const listenerUsage = () =>
    new Promise<{ cpu: NodeJS.CpuUsage; rss: number }>((resolve) => {
      listener.once("message", (m) => resolve(m as { cpu: NodeJS.CpuUsage; rss: number }))
      listener.send("usage")
    })
  const loopDelay = monitorEventLoopDelay({ resolution: 10 })
  let failures = 0
  let maxFds = fds()
  const fdsBefore = maxFds
  const t00 = performance.now()
  const program = Effect.scoped(
    Effect.gen(function* () {
      const hc = yield* HealthChecker.make({
        log: false,
        runScripts: false,
        tcpEngine: kind === "tcp-node" ? "node" : "engine",
        priority,
        tcpEngineThreads:
          process.env["BENCH_ENGINE_THREADS"] !== undefined ? Number(process.env["BENCH_ENGINE_THREADS"]) : undefined,
        onEvent: (e) => {
          if (e._tag === "CheckResult" && !e.result.ok) failures++
        },
        virtualServers: [
          {
            address: "192.0.2.1",
            port: 80,
            protocol: "tcp",
            delayLoop: delayMs,
            // first checks spread over one delay_loop, as keepalived's warmup does
            warmup: delayMs,
            connectTimeout: "5 seconds",
            realServers: Array.from({ length: n }, (_, i) => ({
              address: address(i),
              port,
              checkers: [
                kind !== "noop"
                  ? ({ type: "TCP_CHECK" } as const)
                  : ({ type: "CUSTOM", name: "NOOP", probe: Effect.succeed(Probe.success()) } as const)
              ]
            }))
          }
        ]
      })
      process.stderr.write(`started ${n} checkers in ${Math.round(performance.now() - t00)} ms\n`)
      const cpu0 = process.cpuUsage()
      const threads0 = threadCpu("self")
      const listenerThreads0 = threadCpu(listener.pid!)
      const l0 = yield* Effect.promise(listenerUsage)
      const t0 = performance.now()
      loopDelay.enable()
      // Per-second event-loop stalls, to see when (start-up, steady state) the main thread was held up.
      const secondDelay = monitorEventLoopDelay({ resolution: 10 })
      secondDelay.enable()
      let peakRss = 0
      let peakHeap = 0
      for (let s = 0; s < durationS; s++) {
        yield* Effect.sleep("1 second")
        const m = process.memoryUsage()
        peakRss = Math.max(peakRss, m.rss)
        peakHeap = Math.max(peakHeap, m.heapUsed)
        maxFds = Math.max(maxFds, fds())
        const st = yield* hc.stats
        const stall = Math.round(secondDelay.max / 1e6)
        secondDelay.reset()
        process.stderr.write(
          `t=${s + 1}s checks=${st.checks} maxLate=${st.maxLatenessMs}ms inFlight=${st.inFlight} fds=${fds()} heap=${Math.round(m.heapUsed / 2 ** 20)}MiB loopStall=${stall}ms\n`
        )
      }
      loopDelay.disable()
      secondDelay.disable()
      const wall = (performance.now() - t0) / 1000
      const cpu = process.cpuUsage(cpu0)
      const threads = diff(threads0, threadCpu("self"), wall)
      const listenerThreads = diff(listenerThreads0, threadCpu(listener.pid!), wall)
      const l1 = yield* Effect.promise(listenerUsage)
      const stats = yield* hc.stats
      const snap = yield* hc.snapshot
      const alive = snap.virtualServers[0]!.realServers.filter((r) => r.alive).length
      const lateness = yield* Metric.value(Metrics.lateness)
      const latency = yield* Metric.value(Metrics.latency(kind === "noop" ? "NOOP" : "TCP_CHECK"))
      return {
        probe: kind,
        checkerPriority: priority ?? "inherited",
        servers: n,
        delayLoopMs: delayMs,
        seconds: Math.round(wall),
        checks: stats.checks,
        checksPerSecond: Math.round(stats.checks / wall),
        failures,
        alive,
        maxLatenessMs: stats.maxLatenessMs,
        startsLaterThan100Ms: stats.lateOver100Ms,
        meanLatenessMs: Number((lateness.sum / Math.max(1, lateness.count)).toFixed(2)),
        meanCheckLatencyMs: Number((latency.sum / Math.max(1, latency.count)).toFixed(2)),
        maxCheckLatencyMs: latency.max,
        eventLoopDelayP99Ms: Number((loopDelay.percentile(99) / 1e6).toFixed(1)),
        eventLoopDelayMaxMs: Number((loopDelay.max / 1e6).toFixed(1)),
        maxInFlight: stats.maxInFlight,
        fdsBefore,
        maxFds,
        fdLimit: limit(),
        peakRssMiB: Math.round(peakRss / 2 ** 20),
        peakHeapMiB: Math.round(peakHeap / 2 ** 20),
        checkerCpuPercent: Math.round(((cpu.user + cpu.system) / 1e6 / wall) * 100),
        listenerCpuPercent: Math.round(
          ((l1.cpu.user - l0.cpu.user + l1.cpu.system - l0.cpu.system) / 1e6 / wall) * 100
        ),
        listenerRssMiB: Math.round(l1.rss / 2 ** 20),
        checkerThreadsCpuPercent: threads,
        listenerThreadsCpuPercent: listenerThreads
      }
    })
  )
  try {
    return await Effect.runPromise(program)
  } finally {
    listener.kill("SIGTERM")
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await runScale()
  console.log(JSON.stringify(r, null, 2))
  const ok = r.maxLatenessMs <= 100 && r.failures === 0
  console.log(ok ? "PASS: no check started more than 100 ms late, no failures" : "FAIL")
  process.exitCode = ok ? 0 : 1
}
