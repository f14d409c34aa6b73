/**
 * Notifications on state changes, as keepalived sends them (reference §2.11): the state-specific script
 * first, then the generic `notify` script with four appended arguments `INSTANCE|GROUP <name> <STATE>
 * <priority>`, each executed without a shell (the command line is split with shell-like quoting), and
 * FIFO lines such as `INSTANCE "VI_1" MASTER 100`.
 *
 * @module
 */
import { spawn } from "node:child_process"
import { promises as fs, constants as fsConstants, readFileSync } from "node:fs"
import { Context, Effect, Layer } from "effect"
import type * as Config from "./Config.ts"
import type * as Engine from "./Engine.ts"

/**
 * Who a notification is about: an instance, or a sync group (whose priority is always 0).
 *
 * @example
 * ```ts
 * Notify.fifoLine("GROUP", "G1", "MASTER", 0) // 'GROUP "G1" MASTER 0'
 * ```
 */
export type Kind = "INSTANCE" | "GROUP"

/**
 * Splits a command line into argv like a POSIX shell word-splitter, without running a shell: blanks
 * separate words, single quotes are literal, double quotes allow `\"` `\\` `\$` escapes, a backslash
 * outside quotes escapes the next character.
 *
 * @example
 * ```ts
 * Notify.splitCommand(`/bin/notify.sh "a b" c\\ d`) // ["/bin/notify.sh", "a b", "c d"]
 * ```
 */
export const splitCommand = (line: string): Array<string> => {
  const out: Array<string> = []
  let word = ""
  let inWord = false
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!
    if (ch === "'") {
      const end = line.indexOf("'", i + 1)
      word += end < 0 ? line.slice(i + 1) : line.slice(i + 1, end)
      i = end < 0 ? line.length : end
      inWord = true
    } else if (ch === '"') {
      inWord = true
      for (i++; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === "\\" && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!)) i++
        word += line[i]
      }
    } else if (ch === "\\" && i + 1 < line.length) {
      word += line[++i]
      inWord = true
    } else if (ch === " " || ch === "\t" || ch === "\n") {
      if (inWord) out.push(word)
      word = ""
      inWord = false
    } else {
      word += ch
      inWord = true
    }
  }
  if (inWord) out.push(word)
  return out
}

/**
 * The argv lists keepalived runs for an event, in order: the state-specific script (as written), then
 * the generic script with `kind name EVENT priority` appended. `MASTER_RX_LOWER_PRI` runs only
 * `notify_master_rx_lower_pri`.
 *
 * @example
 * ```ts
 * Notify.commands({ master: "/m.sh", generic: "/n.sh A" }, "INSTANCE", "V2_plain", "MASTER", 150)
 * // [["/m.sh"], ["/n.sh", "A", "INSTANCE", "V2_plain", "MASTER", "150"]]
 * ```
 */
export const commands = (
  notify: Config.Notify,
  kind: Kind,
  name: string,
  event: Engine.NotifyEvent,
  priority: number
): Array<Array<string>> => {
  const out: Array<Array<string>> = []
  // Priority-change events only go to FIFOs (keepalived `notify_priority_changes`).
  if (event === "MASTER_PRIORITY" || event === "BACKUP_PRIORITY") return out
  const specific =
    event === "MASTER"
      ? notify.master
      : event === "BACKUP"
        ? notify.backup
        : event === "FAULT"
          ? notify.fault
          : event === "STOP"
            ? notify.stop
            : notify.masterRxLowerPri
  if (specific !== undefined) out.push(splitCommand(specific))
  if (notify.generic !== undefined && event !== "MASTER_RX_LOWER_PRI")
    out.push([...splitCommand(notify.generic), kind, name, event, String(kind === "GROUP" ? 0 : priority)])
  return out
}

/**
 * A FIFO line: `INSTANCE "VI_1" MASTER 100`, `GROUP "G1" BACKUP 0`, `INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100`.
 *
 * @example
 * ```ts
 * Notify.fifoLine("INSTANCE", "VI_1", "MASTER", 100) // 'INSTANCE "VI_1" MASTER 100'
 * ```
 */
export const fifoLine = (kind: Kind, name: string, event: Engine.NotifyEvent, priority: number): string =>
  `${kind} "${name}" ${event} ${kind === "GROUP" ? 0 : priority}`

/**
 * Runs notifications; the live layer executes scripts and writes FIFOs, other layers may record.
 *
 * @example
 * ```ts
 * Effect.provide(program, Notify.Notifier.layer)
 * ```
 */
export class Notifier extends Context.Service<
  Notifier,
  {
    readonly notify: (
      notify: Config.Notify,
      kind: Kind,
      name: string,
      event: Engine.NotifyEvent,
      priority: number
    ) => Effect.Effect<void>
  }
>()("@lvs-ts/vrrp/Notify/Notifier") {
  /**
   * Executes scripts asynchronously without a shell (STOP scripts are awaited up to 1 s, like keepalived
   * at shutdown) and appends lines to the FIFO (skipped when no reader has it open).
   */
  static readonly layer: Layer.Layer<Notifier> = Layer.succeed(Notifier, {
    notify: (notify, kind, name, event, priority) =>
      Effect.gen(function* () {
        const ids = resolveIds(notify.user, notify.group)
        const runs = commands(notify, kind, name, event, priority).map((argv) => exec(argv, ids))
        if (event === "STOP") yield* Effect.promise(() => Promise.race([Promise.all(runs), sleepMs(1000)]))
        if (notify.fifo !== undefined) {
          const line = `${fifoLine(kind, name, event, priority)}\n`
          yield* Effect.promise(() => writeFifo(notify.fifo!, line))
        }
      })
  })
}

const sleepMs = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref())

interface Ids {
  readonly uid?: number
  readonly gid?: number
}

/** Resolves user/group names (or numbers) from /etc/passwd and /etc/group, as keepalived does at config time. */
const resolveIds = (user: string | undefined, group: string | undefined): Ids => {
  if (user === undefined && group === undefined) return {}
  const table = (path: string) => {
    try {
      return readFileSync(path, "utf8")
        .split("\n")
        .map((l) => l.split(":"))
    } catch {
      return []
    }
  }
  const ids: { uid?: number; gid?: number } = {}
  if (user !== undefined) {
    const row = table("/etc/passwd").find((r) => r[0] === user || r[2] === user)
    const uid = row?.[2] ?? (/^\d+$/.test(user) ? user : undefined)
    if (uid !== undefined) ids.uid = Number(uid)
    if (row?.[3] !== undefined) ids.gid = Number(row[3])
  }
  if (group !== undefined) {
    const row = table("/etc/group").find((r) => r[0] === group || r[2] === group)
    const gid = row?.[2] ?? (/^\d+$/.test(group) ? group : undefined)
    if (gid !== undefined) ids.gid = Number(gid)
  }
  return ids
}

const exec = (argv: ReadonlyArray<string>, ids: Ids): Promise<number | null> =>
  new Promise((resolve) => {
    if (argv.length === 0) return resolve(null)
    try {
      const child = spawn(argv[0]!, argv.slice(1), { stdio: "ignore", shell: false, ...ids })
      child.on("error", () => resolve(null))
      child.on("exit", (code) => resolve(code))
    } catch {
      // e.g. EPERM switching user when not root: keepalived also just fails to run the script.
      resolve(null)
    }
  })

const writeFifo = async (path: string, line: string): Promise<void> => {
  try {
    // O_NONBLOCK: a FIFO without a reader fails with ENXIO instead of blocking the daemon.
    const fh = await fs.open(path, fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_NONBLOCK)
    try {
      await fh.write(line)
    } finally {
      await fh.close()
    }
  } catch {
    // keepalived also drops notifications when the FIFO cannot be written.
  }
}
