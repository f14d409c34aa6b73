/**
 * The lvs-ts director for the end-to-end benchmark, as its own process so its CPU time
 * (`/proc/<pid>/stat`, every thread) is the director's alone and `taskset` pins it to the director core.
 *
 * ```
 * taskset -c 0 node --conditions=@lvs-ts/source bench/e2e/director.ts --name lvs-bench --method nat|dr
 * ```
 *
 * Prints `ready` once the TAP ports run; SIGTERM closes the director's scope and exits.
 *
 * @module
 */
import { Cause, Effect, Fiber } from "effect"
import type * as Director from "../../src/Director.ts"
import * as Lab from "../../src/Lab.ts"
import * as LabDirector from "../../src/LabDirector.ts"
import type * as VST from "../../src/VirtualServiceTable.ts"

const argv = process.argv.slice(2)
const arg = (name: string, fallback: string) => {
  const i = argv.indexOf(name)
  return i >= 0 ? (argv[i + 1] ?? fallback) : fallback
}
const name = arg("--name", "lvs-bench")
const method = arg("--method", "nat") as VST.Method
const plan = Lab.plan({ name })
/** `--backend syscalls|io_uring|auto`: the TAP I/O backend (default: the Director's, `auto`). */
const backendArg = arg("--backend", "")
const backend = backendArg === "syscalls" || backendArg === "io_uring" || backendArg === "auto" ? backendArg : undefined

/** The bench's table: HTTP round robin over both servers, iperf3 and the UDP sink on rs1 only. */
export const services = (p: Lab.Plan, m: VST.Method): Array<Director.ServiceConfig> => {
  const [rs1, rs2] = p.realServers
  return [
    {
      service: { protocol: "tcp", address: p.vip, port: 80, scheduler: "rr" },
      destinations: [
        { address: rs1!.address, port: 80, method: m },
        { address: rs2!.address, port: 80, method: m }
      ]
    },
    {
      service: { protocol: "tcp", address: p.vip, port: 5201, scheduler: "rr" },
      destinations: [{ address: rs1!.address, port: 5201, method: m }]
    },
    {
      service: { protocol: "udp", address: p.vip, port: 9, scheduler: "rr" },
      destinations: [{ address: rs1!.address, port: 9, method: m }]
    }
  ]
}

const program = Effect.scoped(
  Effect.gen(function* () {
    const director = yield* LabDirector.start(plan, services(plan, method), {
      ...(backend !== undefined ? { backend } : {}),
      logNoDestination: false,
      log: (line) => console.error(line)
    })
    // SIGUSR2 prints the I/O counters as one JSON line (the profiler reads system calls per frame from them).
    process.on("SIGUSR2", () => {
      Effect.runPromise(Effect.all([director.ports.counters, director.counters])).then(([snapshot, handler]) =>
        console.log(`counters ${JSON.stringify({ ...snapshot, handler })}`)
      )
    })
    console.error(`director: TAP backend ${director.ports.backend}`)
    console.log("ready")
    return yield* Effect.never
  })
)

const fiber = Effect.runFork(program)
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => {
    Effect.runPromise(Fiber.interrupt(fiber)).then(
      () => process.exit(0),
      () => process.exit(1)
    )
  })
Effect.runPromise(Fiber.await(fiber)).then((exit) => {
  if (exit._tag === "Failure" && !Cause.hasInterruptsOnly(exit.cause)) {
    console.error(String(exit.cause))
    process.exit(1)
  }
})
