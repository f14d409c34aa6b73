/**
 * Run a program from an argv array, without a shell, in its own process group, with keepalived's timeout
 * escalation: SIGTERM to the process group at the timeout, SIGKILL 2 seconds later if it is still there.
 *
 * Used for MISC_CHECK (`misc_path`, `misc_timeout`) and the notify_up / notify_down / quorum_up / quorum_down
 * scripts. keepalived also execs these without a shell (users who write redirections get them passed as
 * arguments: issue #600), with stdio on /dev/null.
 *
 * @since 0.1.0
 */

import * as child_process from "node:child_process"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

/**
 * How the program ended.
 *
 * @example
 * ```ts
 * import type { Script } from "@lvs-ts/checkers"
 * const o: Script.Outcome = { exitCode: 0, signal: null, timedOut: false, error: undefined }
 * ```
 * @since 0.1.0
 */
export interface Outcome {
  readonly exitCode: number | null
  readonly signal: NodeJS.Signals | null
  readonly timedOut: boolean
  /** spawn error (e.g. ENOENT) */
  readonly error: string | undefined
}

/**
 * Options: timeout (none by default), delay before SIGKILL (2 s), uid/gid to run as.
 *
 * @example
 * ```ts
 * import type { Script } from "@lvs-ts/checkers"
 * const o: Script.Options = { timeoutMs: 5000 }
 * ```
 * @since 0.1.0
 */
export interface Options {
  readonly timeoutMs?: number | undefined
  readonly killAfterMs?: number | undefined
  readonly uid?: number | undefined
  readonly gid?: number | undefined
  readonly env?: NodeJS.ProcessEnv | undefined
}

const killGroup = (child: child_process.ChildProcess, signal: NodeJS.Signals): void => {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    try {
      child.kill(signal)
    } catch {
      // already gone
    }
  }
}

const waitExit = (child: child_process.ChildProcess, spawnError: { value: string | undefined }) =>
  Effect.callback<Outcome>((resume) => {
    const done = () =>
      resume(
        Effect.succeed({
          exitCode: child.exitCode,
          signal: child.signalCode,
          timedOut: false,
          error: spawnError.value
        })
      )
    if (child.exitCode !== null || child.signalCode !== null || spawnError.value !== undefined) return done()
    const onExit = () => done()
    const onError = (e: Error) => {
      spawnError.value = (e as NodeJS.ErrnoException).code ?? e.message
      done()
    }
    child.once("exit", onExit)
    child.once("error", onError)
    return Effect.sync(() => {
      child.off("exit", onExit)
      child.off("error", onError)
    })
  })

/**
 * Run `argv`; never fails (spawn errors are reported in `error`). Interrupting the effect SIGKILLs the group.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Script } from "@lvs-ts/checkers"
 * Effect.runPromise(Script.run(["/bin/sh", "-c", "exit 3"])).then((o) => console.log(o.exitCode)) // 3
 * ```
 * @since 0.1.0
 */
export const run = (argv: ReadonlyArray<string>, options: Options = {}): Effect.Effect<Outcome> =>
  Effect.scoped(
    Effect.gen(function* () {
      const [file, ...args] = argv
      if (file === undefined) return { exitCode: null, signal: null, timedOut: false, error: "empty argv" }
      const spawnError: { value: string | undefined } = { value: undefined }
      const child = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const c = child_process.spawn(file, args, {
            stdio: "ignore",
            detached: true,
            shell: false,
            ...(options.uid !== undefined ? { uid: options.uid } : {}),
            ...(options.gid !== undefined ? { gid: options.gid } : {}),
            ...(options.env !== undefined ? { env: options.env } : {})
          })
          c.on("error", (e: NodeJS.ErrnoException) => {
            spawnError.value = e.code ?? e.message
          })
          return c
        }),
        (c, exit) => Effect.sync(() => (Exit.isSuccess(exit) ? undefined : killGroup(c, "SIGKILL")))
      )
      const exited = waitExit(child, spawnError)
      if (options.timeoutMs === undefined) return yield* exited
      const first = yield* Effect.timeoutOption(exited, options.timeoutMs)
      if (first._tag === "Some") return first.value
      killGroup(child, "SIGTERM")
      // Escalate in the background so the timeout is reported at once, as keepalived does.
      yield* Effect.forkDetach(
        Effect.sleep(options.killAfterMs ?? 2000).pipe(Effect.andThen(Effect.sync(() => killGroup(child, "SIGKILL"))))
      )
      return { exitCode: null, signal: null, timedOut: true, error: undefined }
    })
  )
