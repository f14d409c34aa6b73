/**
 * Trackers that move an instance's priority or force it into FAULT (reference §2.8): the exact rise/fall
 * counter of `vrrp_script`, the weight rules (sign and `reverse`), `track_file` (value × weight), and the
 * Effect runners for scripts (no shell, timeout with SIGTERM then SIGKILL after 2 s), interfaces
 * (operstate) and files, all on Effect's Clock.
 *
 * @module
 */
import { spawn } from "node:child_process"
import { promises as fs } from "node:fs"
import { constants } from "node:os"
import { Effect } from "effect"
import * as Notify from "./Notify.ts"

/**
 * A tracker's status: no result yet, OK, or failed.
 *
 * @example
 * ```ts
 * new Tracker.RiseFall({ rise: 2, fall: 2 }).status // "init"
 * ```
 */
export type Status = "init" | "ok" | "ko"

/**
 * The effect of one tracker on an instance: an additive priority adjustment, or FAULT.
 *
 * @example
 * ```ts
 * const { fault, adjustment } = Tracker.weighted("ko", -20, false)
 * ```
 */
export interface Impact {
  readonly fault: boolean
  readonly adjustment: number
}

/**
 * keepalived's rise/fall counter `r` in [0, rise+fall−1]; OK ⇔ r ≥ rise (reference §2.8, exact).
 *
 * @example
 * ```ts
 * const rf = new Tracker.RiseFall({ rise: 2, fall: 2 })
 * rf.record(false).status // "ko": the first result after start applies at once
 * rf.record(true).status  // still "ko" (needs 2 successes)
 * ```
 */
export class RiseFall {
  readonly rise: number
  readonly fall: number
  counter: number
  status: Status

  constructor(options: {
    readonly rise?: number | undefined
    readonly fall?: number | undefined
    readonly initFail?: boolean | undefined
  }) {
    this.rise = Math.max(1, options.rise ?? 1)
    this.fall = Math.max(1, options.fall ?? 1)
    this.counter = options.initFail === true ? 0 : this.rise - 1
    this.status = options.initFail === true ? "ko" : "init"
  }

  get max(): number {
    return this.rise + this.fall - 1
  }

  /** Records one result; `changed` says whether the status that trackers apply changed. */
  record(success: boolean): { readonly status: Status; readonly changed: boolean } {
    const before = this.status
    if (success) {
      if (this.counter < this.rise - 1) this.counter++
      else if (this.counter !== this.max) {
        if (this.counter === this.rise - 1) this.status = "ok"
        this.counter = this.max
      }
    } else {
      if (this.counter > this.rise) this.counter--
      else {
        if (this.counter === this.rise || this.status === "init") this.status = "ko"
        this.counter = 0
      }
    }
    return { status: this.status, changed: before !== this.status }
  }
}

/**
 * The effect of a script/interface/process status with a weight (reference §2.8): weight 0 ⇒ FAULT on
 * failure (with `reverse`: while up); weight > 0 ⇒ +weight while OK; weight < 0 ⇒ weight while failed;
 * `reverse` flips which state applies and the sign. No result yet: an unweighted tracker holds the
 * instance in FAULT (silently, as keepalived waits for first results), a weighted one contributes nothing.
 *
 * @example
 * ```ts
 * Tracker.weighted("ko", -20, false) // { fault: false, adjustment: -20 }
 * Tracker.weighted("ok", 10, true)   // { fault: false, adjustment: 0 }
 * ```
 */
export const weighted = (status: Status, weight: number, reverse: boolean): Impact => {
  if (weight === 0) return { fault: status === "init" || (status === "ko") !== reverse, adjustment: 0 }
  if (status === "init") return { fault: false, adjustment: 0 }
  const ok = status === "ok"
  if (!reverse) {
    if (weight > 0 && ok) return { fault: false, adjustment: weight }
    if (weight < 0 && !ok) return { fault: false, adjustment: weight }
  } else {
    if (weight > 0 && !ok) return { fault: false, adjustment: -weight }
    if (weight < 0 && ok) return { fault: false, adjustment: -weight }
  }
  return { fault: false, adjustment: 0 }
}

/**
 * The effect of a `track_file` value (reference §2.8): value × weight (default weight 1), negated by
 * `reverse`, clamped to [−254, 253], −254 meaning FAULT; with weight 0 a non-zero value (with `reverse`:
 * a zero value) is a failure.
 *
 * @example
 * ```ts
 * Tracker.fileEffect(-300, 1, false) // { fault: true, adjustment: 0 }
 * Tracker.fileEffect(5, -2, false)   // { fault: false, adjustment: -10 }
 * ```
 */
export const fileEffect = (value: number, weight: number, reverse: boolean): Impact => {
  if (weight === 0) return { fault: (value !== 0) !== reverse, adjustment: 0 }
  const product = Math.min(253, Math.max(-254, value * weight * (reverse ? -1 : 1)))
  return product === -254 ? { fault: true, adjustment: 0 } : { fault: false, adjustment: product }
}

/**
 * A `vrrp_script` definition. Times in seconds.
 *
 * @example
 * ```ts
 * const s: Tracker.Script = { name: "chk", script: "/usr/local/bin/check", interval: 2, weight: -20, rise: 2, fall: 2 }
 * ```
 */
export interface Script {
  readonly name: string
  /** The command line, split without a shell. */
  readonly script: string
  readonly interval?: number | undefined
  readonly timeout?: number | undefined
  readonly weight?: number | undefined
  readonly reverse?: boolean | undefined
  readonly rise?: number | undefined
  readonly fall?: number | undefined
  readonly initFail?: boolean | undefined
}

/**
 * The result of one script run.
 *
 * @example
 * ```ts
 * const r = yield* Tracker.runScript("/bin/true", 1)
 * if (r._tag === "Exited") console.log(r.code)
 * ```
 */
export type RunResult =
  | { readonly _tag: "Exited"; readonly code: number }
  | { readonly _tag: "Signalled"; readonly signal: string }
  | { readonly _tag: "TimedOut" }

/**
 * Runs one script without a shell; on timeout SIGTERM goes to its process group and SIGKILL follows
 * after 2 s. Completes on Effect's Clock (interruptible timeout).
 *
 * @example
 * ```ts
 * const r = yield* Tracker.runScript("/bin/true", 1)
 * ```
 */
export const runScript = (command: string, timeoutSeconds: number): Effect.Effect<RunResult> =>
  Effect.callback<RunResult>((resume) => {
    const argv = Notify.splitCommand(command)
    if (argv.length === 0) {
      resume(Effect.succeed({ _tag: "Exited", code: 127 }))
      return
    }
    const child = spawn(argv[0]!, argv.slice(1), { stdio: "ignore", detached: true, shell: false })
    let done = false
    const finish = (r: RunResult) => {
      if (done) return
      done = true
      resume(Effect.succeed(r))
    }
    child.on("error", () => finish({ _tag: "Exited", code: 127 }))
    child.on("exit", (code, signal) =>
      finish(signal !== null ? { _tag: "Signalled", signal } : { _tag: "Exited", code: code ?? 1 })
    )
    return Effect.sync(() => {
      if (!done && child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGTERM")
        } catch {}
        const pid = child.pid
        setTimeout(() => {
          try {
            process.kill(-pid, "SIGKILL")
          } catch {}
        }, 2000).unref()
      }
    })
  }).pipe(
    Effect.timeoutOption(Math.max(1, timeoutSeconds * 1000)),
    Effect.map((o) => (o._tag === "Some" ? o.value : ({ _tag: "TimedOut" } as const)))
  )

const signalNumber = (signal: string): number | string =>
  (constants.signals as Record<string, number | undefined>)[signal] ?? signal

/**
 * keepalived's log line for a failed run: "VRRP_Script(NAME) failed (exited with status N)", "… failed
 * (due to signal N)" or "VRRP_Script(NAME) timed_out".
 *
 * @example
 * ```ts
 * Tracker.failureText("chk", { _tag: "Exited", code: 1 }) // "VRRP_Script(chk) failed (exited with status 1)"
 * ```
 */
export const failureText = (name: string, r: RunResult): string =>
  r._tag === "Exited"
    ? `VRRP_Script(${name}) failed (exited with status ${r.code})`
    : r._tag === "Signalled"
      ? `VRRP_Script(${name}) failed (due to signal ${signalNumber(r.signal)})`
      : `VRRP_Script(${name}) timed_out`

/**
 * Whether an interface is up, from `/sys/class/net/IF/operstate` ("up", or "unknown" for interfaces
 * without carrier reporting such as TAP/dummy that are administratively up).
 *
 * @example
 * ```ts
 * const up = yield* Tracker.interfaceUp("eth0")
 * ```
 */
export const interfaceUp = (name: string): Effect.Effect<boolean> =>
  Effect.promise(() =>
    fs.readFile(`/sys/class/net/${name}/operstate`, "utf8").then(
      (s) => s.trim() === "up" || s.trim() === "unknown",
      () => false
    )
  )

/**
 * Reads a tracked file's integer (keepalived reads the leading integer; unreadable or non-numeric is 0).
 *
 * @example
 * ```ts
 * const v = yield* Tracker.readFileValue("/run/prio")
 * ```
 */
export const readFileValue = (path: string): Effect.Effect<number> =>
  Effect.promise(() =>
    fs.readFile(path, "utf8").then(
      (s) => {
        const n = Number.parseInt(s.trim(), 10)
        return Number.isFinite(n) ? n : 0
      },
      () => 0
    )
  )
