#!/usr/bin/env node
/**
 * `lvs-demo`: builds the lab, starts the userspace director with the classic LVS-NAT table, curls the VIP
 * from the client, prints the table with counters (`ipvsadm -L -n --stats` style) and tears the lab down.
 * Needs root (network namespaces, TAP devices).
 *
 * ```
 * node --conditions=@lvs-ts/source packages/lvs/src/bin/demo.ts [--name NAME] [--run-dir DIR] [--requests N] [--keep] [--serve]
 * ```
 *
 * @module
 */
import { Cause, Effect, Exit, Fiber } from "effect"
import * as LabDirector from "../LabDirector.ts"

const usage = "usage: demo [--name NAME] [--run-dir DIR] [--requests N] [--keep] [--serve]"

const main = async () => {
  const argv = process.argv.slice(2)
  let name = "lvs-demo"
  let runDir: string | undefined
  let requests = 9
  let keep = false
  let serve = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--") continue
    if (arg === "--name") name = argv[++i] ?? name
    else if (arg === "--run-dir") runDir = argv[++i]
    else if (arg === "--requests") requests = Number(argv[++i])
    else if (arg === "--keep") keep = true
    else if (arg === "--serve") serve = true
    else {
      console.error(arg === "--help" || arg === "-h" ? usage : `unknown option ${arg}\n${usage}`)
      process.exit(arg === "--help" || arg === "-h" ? 0 : 2)
    }
  }
  if (!Number.isInteger(requests) || requests < 1 || requests > 10_000) {
    console.error(`--requests ${requests} must be an integer in 1..10000`)
    process.exit(2)
  }
  if (process.getuid?.() !== 0) {
    console.error("the demo needs root (network namespaces and TAP devices): run it with sudo")
    process.exit(1)
  }
  const fiber = Effect.runFork(
    LabDirector.demo(
      { name, keep, serve, ...(runDir !== undefined ? { runDir } : {}) },
      (line) => console.log(line),
      requests
    )
  )
  // Ctrl-C / SIGTERM interrupt the demo: the director's scope closes and the lab is torn down (unless --keep).
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => Effect.runFork(Fiber.interrupt(fiber)))
  const exit = await Effect.runPromise(Fiber.await(fiber))
  if (Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)) process.exit(0)
  if (Exit.isFailure(exit)) {
    console.error(Cause.pretty(exit.cause))
    process.exit(1)
  }
  process.exit(0)
}

void main()
