/**
 * The lab: a client, a director and real servers in network namespaces on one machine, wired so that all
 * traffic between the client and the servers crosses the director's TAP devices.
 *
 * ```
 *  <name>-client            <name>-director                                  <name>-rs1 / <name>-rs2
 *  eth0 10.200.1.10 ── vc ─ [brc] ─ tapc ⇄ userspace ⇄ taps ─ [brs] ─ vs1 ── eth0 10.200.2.11 (http :80)
 *                                     director (TAP I/O)           └─ vs2 ── eth0 10.200.2.12 (http :80, :8000)
 * ```
 *
 * Address plan (private, RFC 1918, chosen to be unlikely to clash with a host's networks):
 * - client network 10.200.1.0/24: client 10.200.1.10; director 10.200.1.1 (DIP) and 10.200.1.100 (VIP),
 *   owned by the userspace director on `tapc` with MAC 02:00:0a:c8:01:01.
 * - server network 10.200.2.0/24: director 10.200.2.1 on `taps` with MAC 02:00:0a:c8:02:01; real servers
 *   10.200.2.11 and 10.200.2.12.
 * - Routes: only connected networks, plus `10.200.1.0/24 via 10.200.2.1` on the real servers (the director
 *   is their gateway back to clients, as LVS-NAT requires). No namespace has a default route, so nothing
 *   can leave the lab.
 * - IPv6 (unique local addresses, RFC 4193, no default route either): client network fd00:200:1::/64 with
 *   client fd00:200:1::10, director fd00:200:1::1 and VIP fd00:200:1::100; server network
 *   fd00:200:2::/64 with director fd00:200:2::1 and real servers fd00:200:2::11 / ::12, which route
 *   fd00:200:1::/64 via fd00:200:2::1. Addresses are added with `nodad` (usable at once).
 *
 * The director namespace's kernel owns no address: its bridges only switch frames between the veths and
 * the persistent TAP devices `tapc` and `taps`, which a director process attaches to (from a worker that
 * `setns`'s into the namespace, see {@link TapPorts}). State (names, pids) is kept in
 * `<runDir>/<name>/state.json` so that `down` removes exactly what `up` created, and is idempotent.
 *
 * @module
 */
import { execFile, spawn } from "node:child_process"
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Schema } from "effect"
import * as L2Responder from "./L2Responder.ts"
import * as TapPorts from "./TapPorts.ts"

/**
 * Where and how to build the lab.
 *
 * @example
 * ```ts
 * Lab.up({ name: "lvs-lab", runDir: "/run/lvs-ts/lab", queues: 1 })
 * ```
 */
export interface Options {
  /** Prefix of every namespace name. Default `lvs-lab`. */
  readonly name?: string
  /** Directory for state and logs. Default `/run/lvs-ts/lab`. */
  readonly runDir?: string
  /** TAP queues per director port (multi-queue when above 1). Default 1. */
  readonly queues?: number
  /** I/O backend of the director-side processes (`verify`, `respond`). Default `syscalls`. */
  readonly backend?: "syscalls" | "io_uring"
  /** `SCHED_FIFO` priority of the director's TAP I/O worker (`lab director`; 0 or absent: a normal thread). */
  readonly realtimePriority?: number
}

/**
 * A real server of the plan.
 *
 * @example
 * ```ts
 * Lab.plan().realServers[1] // { name: "rs2", address: "10.200.2.12", httpPorts: [80, 8000], ... }
 * ```
 */
export interface RealServer {
  readonly name: string
  readonly netns: string
  readonly address: string
  /** IPv6 address on the server network. */
  readonly address6: string
  readonly httpPorts: ReadonlyArray<number>
}

/**
 * The full plan: names and addresses, derived from the options.
 *
 * @example
 * ```ts
 * const p: Lab.Plan = Lab.plan({ name: "demo" }) // p.client.netns === "demo-client"
 * ```
 */
export interface Plan {
  readonly name: string
  readonly stateDir: string
  readonly queues: number
  readonly client: {
    readonly netns: string
    readonly address: string
    readonly prefix: number
    readonly address6: string
  }
  readonly director: {
    readonly netns: string
    readonly clientPort: {
      readonly tap: string
      readonly bridge: string
      readonly mac: string
      readonly addresses: ReadonlyArray<string>
      /** IPv6 addresses (the first is on the port's /64, the rest are /128 VIPs). */
      readonly addresses6: ReadonlyArray<string>
    }
    readonly serverPort: {
      readonly tap: string
      readonly bridge: string
      readonly mac: string
      readonly addresses: ReadonlyArray<string>
      readonly addresses6: ReadonlyArray<string>
    }
  }
  readonly realServers: ReadonlyArray<RealServer>
  readonly clientNetwork: string
  readonly serverNetwork: string
  readonly vip: string
  readonly clientNetwork6: string
  readonly serverNetwork6: string
  readonly vip6: string
}

/**
 * What `up` records.
 *
 * @example
 * ```ts
 * const state: Lab.State = await Effect.runPromise(Lab.up())
 * state.servers.map((s) => s.pid)
 * ```
 */
export interface State {
  readonly plan: Plan
  readonly servers: ReadonlyArray<{ readonly name: string; readonly pid: number }>
  /**
   * The background process attached to the director taps (`up --respond`: a responder; `up --director`:
   * the forwarding director with the sample table), if any.
   */
  readonly director?: { readonly pid: number; readonly log: string; readonly kind?: "respond" | "director" }
  readonly createdAt: string
}

/**
 * A lab step failed: which step, and the command's own message.
 *
 * @example
 * ```ts
 * Lab.up().pipe(Effect.catchTag("LabError", (e) => Effect.logError(e.step, e.message)))
 * ```
 */
export class LabError extends Schema.TaggedError<LabError>()("LabError", {
  step: Schema.String,
  message: Schema.String
}) {}

/**
 * Derives the plan for a lab name.
 *
 * @example
 * ```ts
 * Lab.plan({ name: "lvs-lab" }).director.netns // "lvs-lab-director"
 * ```
 */
export const plan = (options: Options = {}): Plan => {
  const name = options.name ?? "lvs-lab"
  const runDir = options.runDir ?? "/run/lvs-ts/lab"
  return {
    name,
    stateDir: join(runDir, name),
    queues: options.queues ?? 1,
    client: { netns: `${name}-client`, address: "10.200.1.10", prefix: 24, address6: "fd00:200:1::10" },
    director: {
      netns: `${name}-director`,
      clientPort: {
        tap: "tapc",
        bridge: "brc",
        mac: "02:00:0a:c8:01:01",
        addresses: ["10.200.1.1", "10.200.1.100"],
        addresses6: ["fd00:200:1::1", "fd00:200:1::100"]
      },
      serverPort: {
        tap: "taps",
        bridge: "brs",
        mac: "02:00:0a:c8:02:01",
        addresses: ["10.200.2.1"],
        addresses6: ["fd00:200:2::1"]
      }
    },
    realServers: [
      { name: "rs1", netns: `${name}-rs1`, address: "10.200.2.11", address6: "fd00:200:2::11", httpPorts: [80] },
      { name: "rs2", netns: `${name}-rs2`, address: "10.200.2.12", address6: "fd00:200:2::12", httpPorts: [80, 8000] }
    ],
    clientNetwork: "10.200.1.0/24",
    serverNetwork: "10.200.2.0/24",
    vip: "10.200.1.100",
    clientNetwork6: "fd00:200:1::/64",
    serverNetwork6: "fd00:200:2::/64",
    vip6: "fd00:200:1::100"
  }
}

const validateName = (name: string): LabError | undefined =>
  /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,40}$/.test(name)
    ? undefined
    : new LabError({
        step: "validate",
        message: `name ${JSON.stringify(name)} must match [a-zA-Z0-9][a-zA-Z0-9_.-]{0,40}`
      })

/** Runs a command, failing with its stderr. */
const run = (step: string, command: string, args: ReadonlyArray<string>) =>
  Effect.callback<string, LabError>((resume) => {
    execFile(command, args, { encoding: "utf8", timeout: 20_000 }, (error, stdout, stderr) => {
      if (error) {
        const detail = (stderr || error.message).trim()
        resume(Effect.fail(new LabError({ step, message: `${command} ${args.join(" ")}: ${detail}` })))
      } else {
        resume(Effect.succeed(stdout))
      }
    })
  })

/** Runs a command and ignores failure (teardown of things that may already be gone). */
const runQuiet = (command: string, args: ReadonlyArray<string>) => Effect.ignore(run("quiet", command, args))

const ip = (step: string, ...args: Array<string>) => run(step, "ip", args)
const inNs = (netns: string, step: string, ...args: Array<string>) => run(step, "ip", ["-n", netns, ...args])

/** The HTTP server each real server runs: answers every request with its own name. */
const httpServerSource = (name: string, ports: ReadonlyArray<number>) => `
const http = require("node:http")
for (const port of ${JSON.stringify(ports)}) {
  http.createServer((req, res) => {
    res.setHeader("content-type", "text/plain")
    res.end(${JSON.stringify(name)} + " port " + port + "\\n")
  }).listen(port, "::") // dual stack: IPv4 and IPv6 clients
}
process.title = "lvs-lab-http-${name}"
`

const readState = (p: Plan): State | undefined => {
  const file = join(p.stateDir, "state.json")
  if (!existsSync(file)) return undefined
  try {
    return JSON.parse(readFileSync(file, "utf8")) as State
  } catch {
    return undefined
  }
}

const namespaces = (p: Plan): Array<string> => [
  p.client.netns,
  p.director.netns,
  ...p.realServers.map((rs) => rs.netns)
]

const listNetns = Effect.map(
  Effect.orElseSucceed(ip("list", "netns", "list"), () => ""),
  (out) =>
    out
      .split("\n")
      .map((line) => line.split(" ")[0]!)
      .filter((name) => name.length > 0)
)

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  // A zombie (a background process whose starter exited, not yet reaped by init) is not alive.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.charAt(stat.lastIndexOf(")") + 2) !== "Z"
  } catch {
    return true
  }
}

/**
 * Removes everything a lab of this name may have created: stops the recorded HTTP servers and any other
 * process left in the lab's namespaces, deletes the namespaces (which removes their veths, bridges and
 * taps) and the state directory. Safe to run any number of times.
 *
 * @example
 * ```ts
 * await Effect.runPromise(Lab.down({ name: "lvs-lab" }))
 * ```
 */
export const down = (options: Options = {}): Effect.Effect<void, LabError> =>
  Effect.gen(function* () {
    const p = plan(options)
    const invalid = validateName(p.name)
    if (invalid) return yield* invalid
    const state = readState(p)
    const existing = new Set(yield* listNetns)
    const pids = new Set<number>(state?.servers.map((s) => s.pid) ?? [])
    if (state?.director !== undefined) pids.add(state.director.pid)
    for (const ns of namespaces(p)) {
      if (!existing.has(ns)) continue
      const out = yield* Effect.orElseSucceed(ip("pids", "netns", "pids", ns), () => "")
      for (const line of out.split("\n")) if (/^\d+$/.test(line.trim())) pids.add(Number(line.trim()))
    }
    for (const pid of pids) {
      if (pid !== process.pid && isAlive(pid)) {
        try {
          process.kill(pid, "SIGTERM")
        } catch {
          // already gone
        }
      }
    }
    // Give them a moment, then make sure.
    for (let i = 0; i < 20 && [...pids].some((pid) => pid !== process.pid && isAlive(pid)); i++) {
      yield* Effect.sleep("50 millis")
    }
    for (const pid of pids) {
      if (pid !== process.pid && isAlive(pid)) {
        try {
          process.kill(pid, "SIGKILL")
        } catch {
          // already gone
        }
      }
    }
    for (const ns of namespaces(p)) if (existing.has(ns)) yield* runQuiet("ip", ["netns", "del", ns])
    rmSync(p.stateDir, { recursive: true, force: true })
  })

/**
 * Builds the lab (after removing any leftover of the same name): namespaces, veths, bridges, the
 * director's persistent TAP devices, addresses and routes, and one HTTP server per real server.
 *
 * @example
 * ```ts
 * const state = await Effect.runPromise(Lab.up({ name: "lvs-lab" }))
 * state.plan.vip // "10.200.1.100"
 * ```
 */
export const up = (options: Options = {}): Effect.Effect<State, LabError> =>
  Effect.gen(function* () {
    const p = plan(options)
    const invalid = validateName(p.name)
    if (invalid) return yield* invalid
    yield* down(options)
    mkdirSync(p.stateDir, { recursive: true })
    const d = p.director
    for (const ns of namespaces(p)) {
      yield* ip("netns", "netns", "add", ns)
      yield* inNs(ns, "lo", "link", "set", "lo", "up")
    }
    // Director namespace: two bridges, each with a persistent tap for the userspace director.
    for (const port of [d.clientPort, d.serverPort]) {
      yield* inNs(d.netns, "bridge", "link", "add", port.bridge, "type", "bridge")
      const mq = p.queues > 1 ? ["multi_queue"] : []
      yield* inNs(d.netns, "tuntap", "tuntap", "add", "dev", port.tap, "mode", "tap", ...mq)
      yield* inNs(d.netns, "tap master", "link", "set", port.tap, "master", port.bridge)
      yield* inNs(d.netns, "tap up", "link", "set", port.tap, "up")
      yield* inNs(d.netns, "bridge up", "link", "set", port.bridge, "up")
    }
    const attach = (peerNs: string, local: string, bridge: string, address: string, address6: string) =>
      Effect.gen(function* () {
        yield* inNs(d.netns, "veth", "link", "add", local, "type", "veth", "peer", "name", "eth0", "netns", peerNs)
        yield* inNs(d.netns, "veth master", "link", "set", local, "master", bridge)
        yield* inNs(d.netns, "veth up", "link", "set", local, "up")
        yield* inNs(peerNs, "addr", "addr", "add", `${address}/24`, "dev", "eth0")
        yield* inNs(peerNs, "addr6", "-6", "addr", "add", `${address6}/64`, "dev", "eth0", "nodad")
        yield* inNs(peerNs, "eth0 up", "link", "set", "eth0", "up")
      })
    // The director namespace's kernel stays off IPv6 (its bridges only switch frames).
    yield* run("ipv6 off", "ip", [
      "netns",
      "exec",
      d.netns,
      "sh",
      "-c",
      "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6"
    ]).pipe(Effect.ignore)
    yield* attach(p.client.netns, "vc", d.clientPort.bridge, p.client.address, p.client.address6)
    const servers: Array<{ name: string; pid: number }> = []
    for (const [i, rs] of p.realServers.entries()) {
      yield* attach(rs.netns, `vs${i + 1}`, d.serverPort.bridge, rs.address, rs.address6)
      yield* inNs(rs.netns, "route", "route", "add", p.clientNetwork, "via", d.serverPort.addresses[0]!)
      yield* inNs(rs.netns, "route6", "-6", "route", "add", p.clientNetwork6, "via", d.serverPort.addresses6[0]!)
      const log = openSync(join(p.stateDir, `${rs.name}.log`), "a")
      const child = spawn(
        "ip",
        ["netns", "exec", rs.netns, process.execPath, "-e", httpServerSource(rs.name, rs.httpPorts)],
        {
          detached: true,
          stdio: ["ignore", log, log]
        }
      )
      child.unref()
      if (child.pid === undefined)
        return yield* new LabError({ step: "http", message: `could not start the HTTP server of ${rs.name}` })
      servers.push({ name: rs.name, pid: child.pid })
    }
    const state: State = { plan: p, servers, createdAt: new Date().toISOString() }
    writeFileSync(join(p.stateDir, "state.json"), `${JSON.stringify(state, null, 2)}\n`)
    // Wait until every HTTP server listens (bounded).
    for (const rs of p.realServers) {
      for (const port of rs.httpPorts) {
        let listening = false
        for (let i = 0; i < 300 && !listening; i++) {
          const out = yield* Effect.orElseSucceed(
            run("ss", "ip", ["netns", "exec", rs.netns, "ss", "-Hltn", `sport = :${port}`]),
            () => ""
          )
          listening = out.trim().length > 0
          if (!listening) yield* Effect.sleep("50 millis")
        }
        if (!listening)
          return yield* new LabError({
            step: "http",
            message: `${rs.name} is not listening on port ${port} (see ${p.stateDir}/${rs.name}.log)`
          })
      }
    }
    return state
  })

/**
 * One line of `status`.
 *
 * @example
 * ```ts
 * for (const e of entries) console.log(e.ok ? "ok" : "--", e.what, e.detail)
 * ```
 */
export interface StatusEntry {
  readonly what: string
  readonly ok: boolean
  readonly detail: string
}

/**
 * Reports whether each part of the lab exists: namespaces, taps, HTTP server processes.
 *
 * @example
 * ```ts
 * const entries = await Effect.runPromise(Lab.status({ name: "lvs-lab" }))
 * entries.every((e) => e.ok)
 * ```
 */
export const status = (options: Options = {}): Effect.Effect<ReadonlyArray<StatusEntry>, LabError> =>
  Effect.gen(function* () {
    const p = plan(options)
    const state = readState(p)
    const existing = new Set(yield* listNetns)
    const entries: Array<StatusEntry> = [
      {
        what: "state",
        ok: state !== undefined,
        detail: state ? `${p.stateDir}/state.json (up since ${state.createdAt})` : "no state: lab is down"
      }
    ]
    for (const ns of namespaces(p))
      entries.push({ what: `netns ${ns}`, ok: existing.has(ns), detail: existing.has(ns) ? "present" : "missing" })
    if (existing.has(p.director.netns)) {
      for (const port of [p.director.clientPort, p.director.serverPort]) {
        const out = yield* Effect.orElseSucceed(
          inNs(p.director.netns, "tap", "-br", "link", "show", "dev", port.tap),
          () => ""
        )
        entries.push({ what: `tap ${port.tap}`, ok: out.length > 0, detail: out.trim() || "missing" })
      }
    }
    if (state?.director !== undefined) {
      const alive = isAlive(state.director.pid)
      entries.push({
        what: "director process",
        ok: alive,
        detail: alive ? `pid ${state.director.pid}, log ${state.director.log}` : `pid ${state.director.pid} gone`
      })
    }
    for (const server of state?.servers ?? []) {
      const alive = isAlive(server.pid)
      entries.push({
        what: `http ${server.name}`,
        ok: alive,
        detail: alive ? `pid ${server.pid}` : `pid ${server.pid} gone`
      })
    }
    return entries
  })

/**
 * One connectivity check of `verify`.
 *
 * @example
 * ```ts
 * checks.filter((c) => !c.ok).map((c) => c.what)
 * ```
 */
export interface Check {
  readonly what: string
  readonly ok: boolean
  readonly detail: string
}

/**
 * Proves the wiring end to end: attaches an {@link L2Responder} to the director's taps (answering ARP and
 * ping for the DIPs and the VIP), pings them from the client and a real server, and fetches each real
 * server's HTTP page from the other real server. The responder is stopped when the checks end.
 *
 * @example
 * ```ts
 * const checks = await Effect.runPromise(Lab.verify({ name: "lvs-lab" }))
 * checks.every((c) => c.ok)
 * ```
 */
export const verify = (options: Options = {}): Effect.Effect<ReadonlyArray<Check>, LabError | TapPorts.TapPortsError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const p = plan(options)
      const d = p.director
      const ports = yield* TapPorts.make({
        netns: d.netns,
        queues: p.queues,
        backend: options.backend ?? "syscalls",
        ports: [{ name: d.clientPort.tap }, { name: d.serverPort.tap }],
        handler: {
          module: L2Responder.handlerModule,
          options: {
            ports: [
              { mac: d.clientPort.mac, addresses: d.clientPort.addresses },
              { mac: d.serverPort.mac, addresses: d.serverPort.addresses }
            ]
          } satisfies L2Responder.Options
        }
      })
      const checks: Array<Check> = []
      const check = (what: string, netns: string, command: string, args: ReadonlyArray<string>, expect?: RegExp) =>
        Effect.gen(function* () {
          const out = yield* Effect.result(run(what, "ip", ["netns", "exec", netns, command, ...args]))
          const ok = out._tag === "Success" && (expect === undefined || expect.test(out.success))
          const detail =
            out._tag === "Success" ? out.success.trim().split("\n").slice(-2).join(" / ") : out.failure.message
          checks.push({ what, ok, detail })
        })
      for (const address of d.clientPort.addresses) {
        yield* check(
          `client -> director ${address} (ARP + ping)`,
          p.client.netns,
          "ping",
          ["-n", "-c", "2", "-i", "0.2", "-W", "1", address],
          / 0% packet loss/
        )
      }
      for (const rs of p.realServers) {
        yield* check(
          `${rs.name} -> director ${d.serverPort.addresses[0]} (ARP + ping)`,
          rs.netns,
          "ping",
          ["-n", "-c", "2", "-i", "0.2", "-W", "1", d.serverPort.addresses[0]!],
          / 0% packet loss/
        )
      }
      const [rs1, rs2] = p.realServers
      if (rs1 && rs2) {
        for (const [from, to] of [
          [rs2, rs1],
          [rs1, rs2]
        ] as const) {
          for (const port of to.httpPorts) {
            yield* check(
              `${from.name} -> http://${to.address}:${port}`,
              from.netns,
              "curl",
              ["-sS", "-m", "3", `http://${to.address}:${port}/`],
              new RegExp(`^${to.name} port ${port}`)
            )
          }
        }
      }
      const counters = yield* ports.counters
      const stats = yield* ports.handlerStats
      checks.push({
        what: "director TAP I/O counters",
        ok: counters.ports.every((port) => port.rxErrors === 0 && port.txErrors === 0),
        detail:
          counters.ports.map((port) => `${port.name}: rx ${port.rxFrames} tx ${port.txFrames}`).join(", ") +
          `; ARP replies ${stats[L2Responder.Stat.arpReplies]}, echo replies ${stats[L2Responder.Stat.echoReplies]}`
      })
      return checks
    })
  )

const isSource = import.meta.url.endsWith(".ts")
const cliPath = new URL(isSource ? "./bin/lvs.ts" : "./bin/lvs.js", import.meta.url).pathname

/**
 * Starts `lvs lab respond` as a background process attached to the director taps (ARP and ping for the
 * director's addresses), records its pid in the lab state so `down` stops it, and waits until it answers.
 * Only one process can attach to a (single-queue) tap: `verify` fails while it runs.
 *
 * @example
 * ```ts
 * await Effect.runPromise(Effect.andThen(Lab.up(options), Lab.startResponder(options)))
 * ```
 */
export const startResponder = (options: Options = {}): Effect.Effect<State, LabError> =>
  startBackground(options, "respond", "answering ARP", [])

/**
 * Starts `lvs lab director` as a background process: the forwarding director on the lab's taps with the
 * sample LVS-NAT table (IPv4 and IPv6), records its pid so `down` stops it, and waits until it forwards.
 * `method` picks the sample table's forwarding method (`nat` by default).
 *
 * @example
 * ```ts
 * await Effect.runPromise(Effect.andThen(Lab.up(options), Lab.startDirector(options)))
 * // ip netns exec lvs-lab-client curl http://10.200.1.100/
 * ```
 */
export const startDirector = (options: Options = {}, method = "nat"): Effect.Effect<State, LabError> =>
  startBackground(options, "director", "director running", ["--method", method])

const startBackground = (
  options: Options,
  kind: "respond" | "director",
  readyText: string,
  extra: ReadonlyArray<string>
): Effect.Effect<State, LabError> =>
  Effect.gen(function* () {
    const p = plan(options)
    const state = readState(p)
    if (state === undefined)
      return yield* new LabError({ step: kind, message: `lab ${p.name} is not up (no ${p.stateDir}/state.json)` })
    if (state.director !== undefined && isAlive(state.director.pid)) {
      if ((state.director.kind ?? "respond") === kind) return state
      return yield* new LabError({
        step: kind,
        message: `a ${state.director.kind ?? "respond"} process (pid ${state.director.pid}) is attached to the taps; run lab down first`
      })
    }
    const log = join(p.stateDir, "director.log")
    const fd = openSync(log, "a")
    const args = [
      ...(isSource ? ["--conditions=@lvs-ts/source"] : process.execArgv),
      cliPath,
      "lab",
      kind,
      "--name",
      p.name,
      "--run-dir",
      join(p.stateDir, ".."),
      "--queues",
      String(p.queues),
      ...(options.backend === "io_uring" ? ["--io-uring"] : []),
      ...(options.realtimePriority ? ["--realtime", String(options.realtimePriority)] : []),
      ...extra
    ]
    const child = spawn(process.execPath, args, { detached: true, stdio: ["ignore", fd, fd] })
    child.unref()
    if (child.pid === undefined) return yield* new LabError({ step: kind, message: `could not start lab ${kind}` })
    const next: State = { ...state, director: { pid: child.pid, log, kind } }
    writeFileSync(join(p.stateDir, "state.json"), `${JSON.stringify(next, null, 2)}\n`)
    for (let i = 0; i < 300; i++) {
      const text = existsSync(log) ? readFileSync(log, "utf8") : ""
      if (text.includes(readyText)) return next
      if (!isAlive(child.pid)) break
      yield* Effect.sleep("50 millis")
    }
    const text = existsSync(log) ? readFileSync(log, "utf8").trim() : ""
    return yield* new LabError({
      step: kind,
      message: `lab ${kind} did not start: ${text || "no output"} (${log})`
    })
  })
