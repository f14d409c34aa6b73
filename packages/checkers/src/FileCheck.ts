/**
 * FILE_CHECK: read an integer from a file (keepalived's `track_file`) and turn it into a state and a dynamic
 * weight for the real server.
 *
 * Mirrors `keepalived/check/check_file.c` + `trackers/track_file.c`: a missing, empty or non-numeric file reads
 * as 0; with weight 0 a non-zero value means down; otherwise value × weight (negated with `reverse`) is added
 * to the real server's weight, and a result ≤ −254 (keepalived's fault threshold) means down. keepalived watches
 * the file with inotify; here it is read every delay_loop (no retries, as in keepalived).
 *
 * @since 0.1.0
 */

import * as fs from "node:fs/promises"
import * as Effect from "effect/Effect"
import type * as Config from "./Config.ts"
import * as Probe from "./Probe.ts"

/** keepalived's track-file fault threshold. */
const FAULT = -254

/**
 * Interpret a file's value.
 *
 * @example
 * ```ts
 * import { FileCheck } from "@lvs-ts/checkers"
 * console.log(FileCheck.interpret(3, 2, false)) // { ok: true, contribution: 6 }
 * console.log(FileCheck.interpret(1, 0, false)) // { ok: false, contribution: 0 }
 * ```
 * @since 0.1.0
 */
export const interpret = (
  value: number,
  weight: number,
  reverse: boolean
): { readonly ok: boolean; readonly contribution: number } => {
  if (weight === 0) return { ok: value === 0, contribution: 0 }
  const contribution = value * weight * (reverse ? -1 : 1)
  return contribution <= FAULT ? { ok: false, contribution: 0 } : { ok: true, contribution }
}

/**
 * Parse the file contents (keepalived reads a leading decimal integer; anything else is 0).
 *
 * @example
 * ```ts
 * import { FileCheck } from "@lvs-ts/checkers"
 * console.log(FileCheck.parse("-12\n")) // -12
 * ```
 * @since 0.1.0
 */
export const parse = (text: string): number => {
  const m = /^\s*([+-]?\d+)/.exec(text)
  return m ? Number.parseInt(m[1]!, 10) : 0
}

/**
 * One FILE_CHECK read.
 *
 * @example
 * ```ts
 * import { Config, FileCheck } from "@lvs-ts/checkers"
 * const r = Config.resolve({ realServers: [] }, { address: "10.0.0.2", port: 80, checkers: [] },
 *   { type: "FILE_CHECK", file: "/run/weights/rs2", weight: 1 })
 * const attempt = FileCheck.probe(r, "[10.0.0.2]:tcp:80")
 * ```
 * @since 0.1.0
 */
export const probe = (r: Config.Resolved, label: string): Effect.Effect<Probe.Result> => {
  const c = r.checker
  if (c.type !== "FILE_CHECK") return Effect.succeed(Probe.failure("Error", `${c.type} is not FILE_CHECK`))
  return Effect.promise(() => fs.readFile(c.file, "utf8").catch(() => "")).pipe(
    Effect.map((text) => {
      const value = parse(text)
      const v = interpret(value, c.weight ?? 0, c.reverse ?? false)
      return v.ok
        ? Probe.success(undefined, v.contribution)
        : Probe.failure("BadReply", `FILE_CHECK on service ${label}: track file ${c.file} value ${value}.`, 0)
    })
  )
}
