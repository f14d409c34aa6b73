/**
 * The director on the lab: the classic LVS-NAT sample table (VIP:80 to rs1:80 weight 1 and rs2:8000
 * weight 2, VIP:21 to rs2:21), the lab's port plan as director ports, the LVS-DR real-server set-up, and
 * the demo that builds the lab, starts the director, sends traffic, prints the table with counters and
 * tears everything down.
 *
 * @module
 */
import { execFile, spawn } from "node:child_process"
import { existsSync, openSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, type Scope } from "effect"
import * as Director from "./Director.ts"
import * as Lab from "./Lab.ts"
import * as Listing from "./Listing.ts"
import type * as TapPorts from "./TapPorts.ts"
import type * as VST from "./VirtualServiceTable.ts"

/**
 * The sample table for a forwarding method: `nat` is the LVS-NAT howto's example; `dr` and `tun` use
 * port 80 on both real servers (DR/TUN cannot change the port).
 *
 * @example
 * ```ts
 * LabDirector.sampleServices(Lab.plan(), "nat")[0]!.destinations!.length // 2
 * ```
 */
export const sampleServices = (plan: Lab.Plan, method: VST.Method = "nat"): Array<Director.ServiceConfig> => {
  const [rs1, rs2] = plan.realServers
  const web = { protocol: "tcp", address: plan.vip, port: 80, scheduler: "wrr" } as const
  const ftp = { protocol: "tcp", address: plan.vip, port: 21, scheduler: "wlc" } as const
  const rs2WebPort = method === "nat" || method === "fullnat" ? 8000 : 80
  const local = method === "fullnat" ? { localAddresses: ["10.200.2.50"] } : {}
  return [
    {
      service: { ...web, ...local },
      destinations: [
        { address: rs1!.address, port: 80, weight: 1, method },
        { address: rs2!.address, port: rs2WebPort, weight: 2, method }
      ]
    },
    { service: { ...ftp, ...local }, destinations: [{ address: rs2!.address, port: 21, weight: 1, method }] }
  ]
}

/**
 * The IPv6 sample table: `[VIP6]:80` to both real servers' IPv6 addresses, weights 1 and 2 (NAT and
 * FULLNAT map rs2 to port 8000 as in the IPv4 table; DR and TUN keep port 80). FULLNAT sources from the
 * local address {@link LOCAL_ADDRESS6} on the servers' network.
 *
 * @example
 * ```ts
 * LabDirector.sampleServices6(Lab.plan(), "nat")[0]!.service.address // "fd00:200:1::100"
 * ```
 */
export const sampleServices6 = (plan: Lab.Plan, method: VST.Method = "nat"): Array<Director.ServiceConfig> => {
  const [rs1, rs2] = plan.realServers
  const web = { protocol: "tcp", address: plan.vip6, port: 80, scheduler: "wrr" } as const
  const mapped = method === "nat" || method === "fullnat"
  return [
    {
      service: method === "fullnat" ? { ...web, localAddresses: [LOCAL_ADDRESS6] } : web,
      destinations: [
        { address: rs1!.address6, port: 80, weight: 1, method },
        { address: rs2!.address6, port: mapped ? 8000 : 80, weight: 2, method }
      ]
    }
  ]
}

/**
 * The lab's IPv6 FULLNAT local address (on the servers' network fd00:200:2::/64).
 *
 * @example
 * ```ts
 * LabDirector.LOCAL_ADDRESS6 // "fd00:200:2::50"
 * ```
 */
export const LOCAL_ADDRESS6 = "fd00:200:2::50"

/**
 * Director options for the lab's taps and addresses.
 *
 * @example
 * ```ts
 * const options = LabDirector.directorOptions(Lab.plan(), LabDirector.sampleServices(Lab.plan()))
 * ```
 */
export const directorOptions = (
  plan: Lab.Plan,
  services: ReadonlyArray<Director.ServiceConfig>,
  extra: Partial<Director.Options> = {}
): Director.Options => {
  const d = plan.director
  const withPrefix = (a: string, i: number) => (i === 0 ? `${a}/24` : `${a}/32`)
  const withPrefix6 = (a: string, i: number) => (i === 0 ? `${a}/64` : `${a}/128`)
  const addresses = (port: typeof d.clientPort) => [
    ...port.addresses.map(withPrefix),
    ...port.addresses6.map(withPrefix6)
  ]
  return {
    netns: d.netns,
    ports: [
      { name: d.clientPort.tap, mac: d.clientPort.mac, addresses: addresses(d.clientPort) },
      { name: d.serverPort.tap, mac: d.serverPort.mac, addresses: addresses(d.serverPort) }
    ],
    services,
    ...extra
  }
}

const run = (command: string, args: ReadonlyArray<string>, timeout = 15_000) =>
  Effect.callback<{ ok: boolean; stdout: string; stderr: string }>((resume) => {
    execFile(command, args, { encoding: "utf8", timeout }, (error, stdout, stderr) => {
      resume(Effect.succeed({ ok: error === null, stdout, stderr: stderr || (error?.message ?? "") }))
    })
  })

/**
 * Runs a command inside a lab namespace; never fails (the result says).
 *
 * @example
 * ```ts
 * const r = yield* LabDirector.exec("lvs-lab-client", "curl", ["-sS", "http://10.200.1.100/"])
 * ```
 */
export const exec = (netns: string, command: string, args: ReadonlyArray<string>, timeout = 15_000) =>
  run("ip", ["netns", "exec", netns, command, ...args], timeout)

/**
 * Starts an extra HTTP listener (answering `<name> port <port>`) on a real server, e.g. rs2:21 for the
 * sample's FTP-port service; it lives in the lab's namespace, so `lab down` stops it. Waits until it listens.
 *
 * @example
 * ```ts
 * yield* LabDirector.startListener(plan, plan.realServers[1]!, 21)
 * ```
 */
export const startListener = (plan: Lab.Plan, rs: Lab.RealServer, port: number) =>
  Effect.gen(function* () {
    const source = `require("node:http").createServer((q, s) => s.end(${JSON.stringify(`${rs.name} port ${port}\n`)})).listen(${port}, "0.0.0.0")`
    const log = openSync(join(plan.stateDir, `${rs.name}-${port}.log`), "a")
    const child = spawn("ip", ["netns", "exec", rs.netns, process.execPath, "-e", source], {
      detached: true,
      stdio: ["ignore", log, log]
    })
    child.unref()
    for (let i = 0; i < 300; i++) {
      const out = yield* exec(rs.netns, "ss", ["-Hltn", `sport = :${port}`])
      if (out.stdout.trim().length > 0) return true
      yield* Effect.sleep("50 millis")
    }
    return false
  })

/**
 * Configures the real servers as the classic LVS-DR real-server script does (VIP on `lo` /32,
 * `arp_ignore=1`, `arp_announce=2`), and gives the client a second leg on the server network so the
 * replies reach it without crossing the director: the real servers route the client network via that leg.
 *
 * @example
 * ```ts
 * yield* LabDirector.setupDirectRouting(plan)
 * ```
 */
export const setupDirectRouting = (plan: Lab.Plan) =>
  Effect.gen(function* () {
    const d = plan.director
    const steps: Array<[string, Array<string>]> = [
      [d.netns, ["ip", "link", "add", "vc2", "type", "veth", "peer", "name", "eth1", "netns", plan.client.netns]],
      [d.netns, ["ip", "link", "set", "vc2", "master", d.serverPort.bridge]],
      [d.netns, ["ip", "link", "set", "vc2", "up"]],
      [plan.client.netns, ["ip", "addr", "add", "10.200.2.10/24", "dev", "eth1"]],
      [plan.client.netns, ["ip", "-6", "addr", "add", "fd00:200:2::10/64", "dev", "eth1", "nodad"]],
      [plan.client.netns, ["ip", "link", "set", "eth1", "up"]],
      // Replies arrive on eth1 for the address of eth0: loose reverse-path filtering on the client.
      [plan.client.netns, ["sh", "-c", "echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter"]],
      [plan.client.netns, ["sh", "-c", "echo 0 > /proc/sys/net/ipv4/conf/eth1/rp_filter"]]
    ]
    for (const rs of plan.realServers) {
      steps.push(
        [rs.netns, ["sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore"]],
        [rs.netns, ["sh", "-c", "echo 2 > /proc/sys/net/ipv4/conf/all/arp_announce"]],
        [rs.netns, ["sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/eth0/arp_ignore"]],
        [rs.netns, ["sh", "-c", "echo 2 > /proc/sys/net/ipv4/conf/eth0/arp_announce"]],
        [rs.netns, ["ip", "addr", "add", `${plan.vip}/32`, "dev", "lo"]],
        [rs.netns, ["ip", "route", "replace", plan.clientNetwork, "via", "10.200.2.10"]],
        // IPv6: the VIP6 on lo (Linux answers NDP only for addresses of the receiving interface, so no
        // arp_ignore equivalent is needed) and the client network through the client's eth1.
        [rs.netns, ["ip", "-6", "addr", "add", `${plan.vip6}/128`, "dev", "lo"]],
        [rs.netns, ["ip", "-6", "route", "replace", plan.clientNetwork6, "via", "fd00:200:2::10"]]
      )
    }
    // sysctls written through /proc/sys from inside the namespace (no dependency on procps' sysctl).
    for (const [ns, [command, ...args]] of steps) {
      const r = yield* exec(ns, command!, args)
      if (!r.ok) return `${ns}: ${command} ${args.join(" ")}: ${r.stderr.trim()}`
    }
    return undefined
  })

const isSource = import.meta.url.endsWith(".ts")
const realServerCli = new URL(isSource ? "./bin/realserver.ts" : "./bin/realserver.js", import.meta.url).pathname

/**
 * Starts the userspace LVS-TUN endpoint (`lvs-realserver tun`, see `RealServerTunnel`) in a real server's
 * namespace, decapsulating IPIP, IPv6-in-IPv6 and GRE (IPv4 or IPv6 outer, to the server's two addresses) from its
 * `eth0` (and GUE to `guePort` when given); `lab down` stops it with the namespace's processes. Waits
 * until it is ready; returns false (with the log) when it did not start.
 *
 * @example
 * ```ts
 * yield* LabDirector.startTunnelEndpoint(plan, plan.realServers[0]!)
 * ```
 */
export const startTunnelEndpoint = (plan: Lab.Plan, rs: Lab.RealServer, guePort?: number) =>
  Effect.gen(function* () {
    const logFile = join(plan.stateDir, `${rs.name}-tun.log`)
    const log = openSync(logFile, "a")
    const args = [
      ...(isSource ? ["--conditions=@lvs-ts/source"] : []),
      realServerCli,
      "tun",
      "--interface",
      "eth0",
      "--address",
      rs.address,
      "--address",
      rs.address6,
      ...(guePort !== undefined ? ["--gue-port", String(guePort)] : [])
    ]
    const child = spawn("ip", ["netns", "exec", rs.netns, process.execPath, ...args], {
      detached: true,
      stdio: ["ignore", log, log]
    })
    child.unref()
    for (let i = 0; i < 300; i++) {
      const text = existsSync(logFile) ? readFileSync(logFile, "utf8") : ""
      if (text.includes("ready")) return { ok: true, log: text }
      if (child.exitCode !== null) return { ok: false, log: text }
      yield* Effect.sleep("50 millis")
    }
    return { ok: false, log: existsSync(logFile) ? readFileSync(logFile, "utf8") : "" }
  })

/**
 * Starts the director on a lab that is up (scoped).
 *
 * @example
 * ```ts
 * const director = yield* LabDirector.start(Lab.plan(), LabDirector.sampleServices(Lab.plan()))
 * ```
 */
export const start = (
  plan: Lab.Plan,
  services: ReadonlyArray<Director.ServiceConfig>,
  extra: Partial<Director.Options> = {}
): Effect.Effect<Director.Director, Director.DirectorError | TapPorts.TapPortsError, Scope.Scope> =>
  Director.make(directorOptions(plan, services, extra))

/**
 * `curl -6` from the client to `http://[VIP6]:port/`; returns the body or `error: ...`.
 *
 * @example
 * ```ts
 * const body = yield* LabDirector.curl6(plan, 80) // "rs2 port 8000"
 * ```
 */
export const curl6 = (plan: Lab.Plan, port: number) =>
  Effect.map(
    exec(plan.client.netns, "curl", [
      "-6",
      "-sS",
      "-m",
      "5",
      "-H",
      "Connection: close",
      `http://[${plan.vip6}]:${port}/`
    ]),
    (r) => (r.ok ? r.stdout.trim() : `error: ${r.stderr.trim()}`)
  )

/**
 * `curl` from the client; returns the body (trimmed) or `error: ...`.
 *
 * @example
 * ```ts
 * yield* LabDirector.curl(plan, 80) // "rs2 port 8000"
 * ```
 */
export const curl = (plan: Lab.Plan, port: number) =>
  Effect.map(
    exec(plan.client.netns, "curl", ["-sS", "-m", "5", "-H", "Connection: close", `http://${plan.vip}:${port}/`]),
    (r) => (r.ok ? r.stdout.trim() : `error: ${r.stderr.trim()}`)
  )

/**
 * Demo options: the lab's, plus `keep` (leave the lab up afterwards).
 *
 * @example
 * ```ts
 * const o: LabDirector.DemoOptions = { name: "lvs-demo", keep: true }
 * ```
 */
export interface DemoOptions extends Lab.Options {
  readonly keep?: boolean
  /** Keep the director running after the traffic until interrupted (then tear down unless `keep`). */
  readonly serve?: boolean
}

/**
 * The demo: build the lab, start the NAT director with the sample table, curl the VIP, print the table
 * with counters (`ipvsadm -L -n` and `--stats`), tear everything down. `print` receives each line.
 *
 * @example
 * ```ts
 * await Effect.runPromise(LabDirector.demo({ name: "lvs-demo" }, console.log))
 * ```
 */
export const demo = (options: DemoOptions = {}, print: (line: string) => void = console.log, requests = 9) =>
  Effect.gen(function* () {
    const plan = Lab.plan(options)
    print(`# building the lab ${plan.name} (client, director on TAP devices, rs1, rs2)`)
    yield* Lab.up(options)
    const rs2 = plan.realServers[1]!
    yield* startListener(plan, rs2, 21)
    print("# starting the director: LVS-NAT sample table")
    return yield* Effect.scoped(
      Effect.gen(function* () {
        const director = yield* start(plan, sampleServices(plan, "nat"), { log: print })
        print(Listing.table((yield* director.snapshot).services))
        print(`# ${requests} requests to http://${plan.vip}/ from the client (${plan.client.address})`)
        const answers: Record<string, number> = {}
        for (let i = 0; i < requests; i++) {
          const body = yield* curl(plan, 80)
          print(`  ${body}`)
          answers[body] = (answers[body] ?? 0) + 1
        }
        print(`# http://${plan.vip}:21/`)
        print(`  ${yield* curl(plan, 21)}`)
        print(`# http://${plan.vip}:81/ (no service: refused as by the kernel)`)
        print(`  ${yield* curl(plan, 81)}`)
        yield* Effect.sleep("300 millis") // the data plane publishes destination counters every tick
        const snapshot = yield* director.snapshot
        print("# ipvsadm -L -n")
        print(Listing.table(snapshot.services))
        print("# ipvsadm -L -n --stats")
        print(Listing.stats(snapshot.services))
        const counters = yield* director.counters
        print(
          `# data plane: ${Object.entries(counters)
            .filter(([, v]) => v > 0)
            .map(([k, v]) => `${k}=${v}`)
            .join(" ")}`
        )
        if (options.serve === true) {
          print(
            `# the director keeps running: try ip netns exec ${plan.client.netns} curl http://${plan.vip}/ ; Ctrl-C stops`
          )
          yield* Effect.never
        }
        return { answers, snapshot, counters }
      })
    )
  }).pipe(
    Effect.ensuring(
      Effect.gen(function* () {
        if (options.keep === true) return
        print("# tearing the lab down")
        yield* Effect.ignore(Lab.down(options))
      })
    )
  )
