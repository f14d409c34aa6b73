#!/usr/bin/env node
/**
 * `lvs`: the command-line entry of the userspace director. This release has the lab commands:
 *
 * ```
 * lvs lab up      [--name N] [--run-dir D] [--queues Q] [--no-verify] [--respond | --director [--method M]]
 *                             build the lab, verify it, optionally leave a responder or the director running
 * lvs lab director [--name N] [--method nat|dr|tun|fullnat]  run the director with the sample table until Ctrl-C
 * lvs lab verify  [--name N]                                           answer ARP/ping on the taps and check
 * lvs lab respond [--name N]                                           answer ARP/ping until Ctrl-C
 * lvs lab status  [--name N] [--json]
 * lvs lab down    [--name N] [--run-dir D]
 * ```
 *
 * @module
 */
import { Cause, Effect, Exit, Fiber } from "effect"
import type * as Director from "../Director.ts"
import * as L2Responder from "../L2Responder.ts"
import * as Lab from "../Lab.ts"
import * as LabDirector from "../LabDirector.ts"
import * as Listing from "../Listing.ts"
import * as TapPorts from "../TapPorts.ts"
import type * as VST from "../VirtualServiceTable.ts"

const usage = `usage: lvs lab <up|down|status|verify|respond|director> [--name NAME] [--run-dir DIR] [--queues N] [--no-verify] [--respond] [--director] [--method M] [--io-uring] [--realtime PRIO] [--json]

  up       build the lab (namespaces, bridges, director taps, HTTP real servers), then verify it;
           --respond leaves an ARP/ICMP responder running on the director taps (stopped by down);
           --director leaves the forwarding director running with the sample table (stopped by down)
  director run the director on the lab's taps with the sample table (IPv4 VIP:80 and :21, IPv6 [VIP6]:80;
           --method nat (default), dr, tun or fullnat) until interrupted
  down     remove everything the lab created (idempotent)
  status   show what exists
  verify   attach an ARP/ICMP responder to the director taps and check connectivity
  respond  run the ARP/ICMP responder on the director taps until interrupted

  --io-uring  use the io_uring I/O backend for the director-side TAP I/O (verify, respond)
  --realtime PRIO  run the director's TAP I/O worker as a SCHED_FIFO thread of priority PRIO (1-99): it then keeps
              forwarding under a flood instead of losing its core to the kernel's receive work
`

interface Args {
  readonly command: ReadonlyArray<string>
  readonly options: Lab.Options
  readonly verify: boolean
  readonly respond: boolean
  readonly director: boolean
  readonly method: VST.Method
  readonly json: boolean
}

const parse = (argv: ReadonlyArray<string>): Args | string => {
  const command: Array<string> = []
  let name: string | undefined
  let runDir: string | undefined
  let queues: number | undefined
  let ioUring = false
  let verify = true
  let respond = false
  let director = false
  let method = "nat"
  let json = false
  let realtime: number | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const value = () => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${arg} needs a value`)
      return v
    }
    try {
      if (arg === "--name") name = value()
      else if (arg === "--run-dir") runDir = value()
      else if (arg === "--queues") queues = Number(value())
      else if (arg === "--no-verify") verify = false
      else if (arg === "--json") json = true
      else if (arg === "--respond") respond = true
      else if (arg === "--director") director = true
      else if (arg === "--method") method = value()
      else if (arg === "--io-uring") ioUring = true
      else if (arg === "--realtime") realtime = Number(value())
      else if (arg === "-h" || arg === "--help") return usage
      else if (arg.startsWith("-")) return `unknown option ${arg}\n\n${usage}`
      else command.push(arg)
    } catch (error) {
      return `${(error as Error).message}\n\n${usage}`
    }
  }
  if (queues !== undefined && (!Number.isInteger(queues) || queues < 1 || queues > 16)) {
    return `--queues ${queues} is not an integer in 1..16`
  }
  if (realtime !== undefined && (!Number.isInteger(realtime) || realtime < 1 || realtime > 99)) {
    return `--realtime ${realtime} is not an integer in 1..99`
  }
  if (!["nat", "dr", "tun", "fullnat"].includes(method)) return `--method ${method} is not nat, dr, tun or fullnat`
  if (respond && director) return "--respond and --director both attach to the director taps: pick one"
  const options: Lab.Options = {
    ...(name !== undefined ? { name } : {}),
    ...(runDir !== undefined ? { runDir } : {}),
    ...(queues !== undefined ? { queues } : {}),
    ...(ioUring ? { backend: "io_uring" as const } : {}),
    ...(realtime !== undefined ? { realtimePriority: realtime } : {})
  }
  return { command, options, verify, respond, director, method: method as VST.Method, json }
}

const printChecks = (checks: ReadonlyArray<Lab.Check>) =>
  Effect.sync(() => {
    for (const c of checks) console.log(`${c.ok ? "ok  " : "FAIL"} ${c.what}: ${c.detail}`)
    return checks.every((c) => c.ok)
  })

const printPlan = (p: Lab.Plan) =>
  Effect.sync(() => {
    console.log(`lab ${p.name} (state in ${p.stateDir})`)
    console.log(`  client    ${p.client.netns}: ${p.client.address}/24 (network ${p.clientNetwork})`)
    console.log(
      `  director  ${p.director.netns}: ${p.director.clientPort.tap} ${p.director.clientPort.mac} ${p.director.clientPort.addresses.join(", ")} | ${p.director.serverPort.tap} ${p.director.serverPort.mac} ${p.director.serverPort.addresses.join(", ")}`
    )
    for (const rs of p.realServers)
      console.log(`  ${rs.name.padEnd(9)} ${rs.netns}: ${rs.address}/24, http on ${rs.httpPorts.join(", ")}`)
    console.log(
      `  VIP ${p.vip}; no default routes; real servers route ${p.clientNetwork} via ${p.director.serverPort.addresses[0]}`
    )
  })

const program = (args: Args): Effect.Effect<number, Lab.LabError | TapPorts.TapPortsError | Director.DirectorError> =>
  Effect.gen(function* () {
    const [group, sub] = args.command
    if (group !== "lab" || sub === undefined) {
      console.error(usage)
      return 2
    }
    switch (sub) {
      case "up": {
        const state = yield* Lab.up(args.options)
        yield* printPlan(state.plan)
        let ok = true
        if (args.verify) {
          ok = yield* printChecks(yield* Lab.verify(args.options))
          console.log(ok ? "lab is up and wired" : "lab is up but some checks failed")
        }
        if (args.respond) {
          const next = yield* Lab.startResponder(args.options)
          console.log(`responder running (pid ${next.director?.pid}, log ${next.director?.log})`)
        }
        if (args.director) {
          const next = yield* Lab.startDirector(args.options, args.method)
          const p = state.plan
          console.log(
            `director running (pid ${next.director?.pid}, log ${next.director?.log}), ${args.method} sample table`
          )
          console.log(`  try: ip netns exec ${p.client.netns} curl http://${p.vip}/`)
          console.log(`       ip netns exec ${p.client.netns} curl -6 'http://[${p.vip6}]/'`)
          console.log(`  stop: lvs lab down${p.name === "lvs-lab" ? "" : ` --name ${p.name}`}`)
        }
        return ok ? 0 : 1
      }
      case "down": {
        yield* Lab.down(args.options)
        console.log(`lab ${Lab.plan(args.options).name} is down`)
        return 0
      }
      case "status": {
        const entries = yield* Lab.status(args.options)
        if (args.json) console.log(JSON.stringify({ plan: Lab.plan(args.options), entries }, null, 2))
        else for (const e of entries) console.log(`${e.ok ? "ok  " : "--  "} ${e.what}: ${e.detail}`)
        return entries.every((e) => e.ok) ? 0 : 1
      }
      case "verify": {
        return (yield* printChecks(yield* Lab.verify(args.options))) ? 0 : 1
      }
      case "respond": {
        const p = Lab.plan(args.options)
        return yield* Effect.scoped(
          Effect.gen(function* () {
            const ports = yield* TapPorts.make({
              netns: p.director.netns,
              backend: args.options.backend ?? "syscalls",
              ports: [{ name: p.director.clientPort.tap }, { name: p.director.serverPort.tap }],
              handler: {
                module: L2Responder.handlerModule,
                options: {
                  ports: [
                    { mac: p.director.clientPort.mac, addresses: p.director.clientPort.addresses },
                    { mac: p.director.serverPort.mac, addresses: p.director.serverPort.addresses }
                  ]
                } satisfies L2Responder.Options
              }
            })
            console.log(
              `answering ARP and ping for ${[...p.director.clientPort.addresses, ...p.director.serverPort.addresses].join(", ")}; Ctrl-C to stop`
            )
            yield* Effect.addFinalizer(() =>
              Effect.flatMap(ports.counters, (c) =>
                Effect.sync(() => {
                  for (const port of c.ports)
                    console.log(
                      `${port.name}: rx ${port.rxFrames} frames ${port.rxBytes} bytes, tx ${port.txFrames} frames ${port.txBytes} bytes`
                    )
                })
              )
            )
            return yield* Effect.never
          })
        )
      }
      case "director": {
        const p = Lab.plan(args.options)
        const rs2 = p.realServers[1]!
        if (args.method === "nat" || args.method === "fullnat") {
          // The sample's port-21 service (rs2:21): a listener there, as the demo starts one.
          yield* LabDirector.startListener(p, rs2, 21)
        }
        if (args.method === "dr" || args.method === "tun") {
          const problem = yield* LabDirector.setupDirectRouting(p)
          if (problem !== undefined) console.error(`direct routing setup: ${problem}`)
          if (args.method === "tun") for (const rs of p.realServers) yield* LabDirector.startTunnelEndpoint(p, rs)
        }
        const services: Array<Director.ServiceConfig> = [
          ...LabDirector.sampleServices(p, args.method),
          // IPv6 for every method: [VIP6]:80 (FULLNAT from LabDirector.LOCAL_ADDRESS6).
          ...LabDirector.sampleServices6(p, args.method)
        ]
        return yield* Effect.scoped(
          Effect.gen(function* () {
            const director = yield* LabDirector.start(p, services, {
              backend: args.options.backend ?? "syscalls",
              ...(args.options.realtimePriority !== undefined
                ? { realtimePriority: args.options.realtimePriority }
                : {}),
              log: (line) => console.log(line)
            })
            console.log(Listing.table((yield* director.snapshot).services))
            console.log(`director running on ${p.director.netns} (${args.method}); Ctrl-C or lvs lab down stops it`)
            yield* Effect.addFinalizer(() =>
              Effect.flatMap(director.snapshot, (snapshot) =>
                Effect.sync(() => console.log(Listing.stats(snapshot.services)))
              )
            )
            return yield* Effect.never
          })
        )
      }
      default:
        console.error(`unknown command lab ${sub}\n\n${usage}`)
        return 2
    }
  })

const args = parse(process.argv.slice(2))
if (typeof args === "string") {
  console.error(args)
  process.exitCode = args === usage ? 0 : 2
} else {
  const fiber = Effect.runFork(program(args))
  const stop = () => Effect.runFork(Fiber.interrupt(fiber))
  process.once("SIGINT", stop)
  process.once("SIGTERM", stop)
  const exit = await Effect.runPromise(Fiber.await(fiber))
  process.removeListener("SIGINT", stop)
  process.removeListener("SIGTERM", stop)
  if (Exit.isSuccess(exit)) {
    process.exitCode = exit.value
  } else if (Cause.hasInterruptsOnly(exit.cause)) {
    process.exitCode = 0
  } else {
    const error = Cause.squash(exit.cause)
    console.error(`lvs: ${error instanceof Error ? error.message : String(error)}`)
    process.exitCode = 1
  }
}
