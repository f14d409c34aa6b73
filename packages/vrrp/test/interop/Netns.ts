/**
 * Test harness for interop in network namespaces: two namespaces joined by a veth pair, keepalived in
 * one, our peer (kernel transport) in the other, tcpdump on the link. Everything started here is
 * stopped by process id, and the namespaces are always deleted.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export const canRun = (): string | undefined => {
  if (process.getuid?.() !== 0) return "needs root (network namespaces, raw sockets)"
  if (spawnSync("keepalived", ["--version"]).error !== undefined) return "keepalived is not installed"
  if (spawnSync("tshark", ["--version"]).error !== undefined) return "tshark is not installed"
  if (spawnSync("tcpdump", ["--version"]).error !== undefined) return "tcpdump is not installed"
  return undefined
}

export interface Line {
  readonly t: number
  readonly text: string
}

export interface Proc {
  readonly child: ChildProcess
  readonly lines: Array<Line>
  readonly exited: Promise<void>
}

const capture = (child: ChildProcess): Proc => {
  const lines: Array<Line> = []
  let partial = ""
  const onData = (d: Buffer) => {
    const t = Date.now()
    const parts = (partial + d.toString("utf8")).split("\n")
    partial = parts.pop()!
    for (const p of parts) lines.push({ t, text: p })
  }
  child.stdout?.on("data", onData)
  child.stderr?.on("data", onData)
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()))
  return { child, lines, exited }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export const waitFor = async <A>(what: string, f: () => A | undefined, timeoutMs: number): Promise<A> => {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    const v = f()
    if (v !== undefined && v !== false) return v
    await sleep(20)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

let counter = 0

export class Pair {
  readonly ours: string
  readonly theirs: string
  readonly dir: string
  readonly pcap: string
  private readonly procs: Array<Proc> = []
  private tcpdump: Proc | undefined

  constructor() {
    const id = `${process.pid}${counter++}`
    this.ours = `vrrp${id}a`
    this.theirs = `vrrp${id}b`
    this.dir = mkdtempSync(join(tmpdir(), "vrrp-interop-"))
    this.pcap = join(this.dir, "link.pcap")
    const ip = (...args: Array<string>) => execFileSync("ip", args)
    ip("netns", "add", this.ours)
    ip("netns", "add", this.theirs)
    ip("link", "add", "vA", "netns", this.ours, "type", "veth", "peer", "name", "vB", "netns", this.theirs)
    ip("-n", this.ours, "addr", "add", "10.9.0.1/24", "dev", "vA")
    ip("-n", this.theirs, "addr", "add", "10.9.0.2/24", "dev", "vB")
    for (const [ns, dev] of [
      [this.ours, "vA"],
      [this.theirs, "vB"]
    ] as const) {
      ip("-n", ns, "link", "set", "lo", "up")
      ip("-n", ns, "link", "set", dev, "up")
    }
  }

  /** Starts tcpdump on keepalived's side of the link (VRRP only). */
  async startCapture(): Promise<void> {
    const p = capture(
      spawn(
        "ip",
        [
          "netns",
          "exec",
          this.theirs,
          "tcpdump",
          "--immediate-mode",
          "-i",
          "vB",
          "-U",
          "-n",
          "-w",
          this.pcap,
          "ip proto 112"
        ],
        {
          stdio: ["ignore", "pipe", "pipe"]
        }
      )
    )
    this.tcpdump = p
    await waitFor("tcpdump to start", () => p.lines.some((l) => l.text.includes("listening")), 5000)
  }

  async stopCapture(): Promise<void> {
    if (this.tcpdump === undefined) return
    this.tcpdump.child.kill("SIGINT")
    await this.tcpdump.exited
    this.tcpdump = undefined
  }

  /** Starts keepalived (VRRP only, foreground, console log, detail) with this configuration. */
  keepalived(name: string, conf: string): Proc {
    const f = join(this.dir, `${name}.conf`)
    writeFileSync(f, conf)
    const pid = (s: string) => join(this.dir, `${name}.${s}.pid`)
    const p = capture(
      spawn(
        "ip",
        [
          "netns",
          "exec",
          this.theirs,
          "keepalived",
          "-n",
          "-l",
          "-D",
          "-P",
          "-f",
          f,
          "-p",
          pid("main"),
          "-r",
          pid("vrrp"),
          "-c",
          pid("check")
        ],
        { stdio: ["ignore", "pipe", "pipe"] }
      )
    )
    this.procs.push(p)
    return p
  }

  /** Starts our peer (Router over the kernel transport) in our namespace. */
  peer(router: object): Proc {
    const p = capture(
      spawn(
        "ip",
        [
          "netns",
          "exec",
          this.ours,
          process.execPath,
          "--conditions=@lvs-ts/source",
          join(import.meta.dirname, "peer.ts"),
          JSON.stringify({ interface: "vA", router })
        ],
        { stdio: ["ignore", "pipe", "pipe"] }
      )
    )
    this.procs.push(p)
    return p
  }

  /** SIGTERM (or another signal) to a process started here and everything it runs in the namespace. */
  async stop(p: Proc, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    p.child.kill(signal)
    await Promise.race([p.exited, sleep(5000)])
  }

  /** tshark's decode of the captured adverts. */
  decoded(): Array<{ time: number; src: string; version: number; vrid: number; prio: number; checksum: string }> {
    const out = execFileSync(
      "tshark",
      [
        "-r",
        this.pcap,
        "-Y",
        "vrrp",
        "-o",
        "vrrp.v3_checksum_as_in_v2:FALSE",
        "-T",
        "fields",
        "-E",
        "separator=,",
        "-e",
        "frame.time_epoch",
        "-e",
        "ip.src",
        "-e",
        "vrrp.version",
        "-e",
        "vrrp.virt_rtr_id",
        "-e",
        "vrrp.prio",
        "-e",
        "vrrp.checksum.status"
      ],
      { encoding: "utf8" }
    )
    return out
      .trim()
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => {
        const [time, src, version, vrid, prio, checksum] = l.split(",")
        return {
          time: Number(time) * 1000,
          src: src!,
          version: Number(version),
          vrid: Number(vrid),
          prio: Number(prio),
          checksum: checksum!
        }
      })
  }

  /** Number of packets tshark sees from a source, VRRP or not (to spot undecodable ones). */
  packetsFrom(src: string): number {
    const out = execFileSync(
      "tshark",
      ["-r", this.pcap, "-Y", `ip.src == ${src}`, "-T", "fields", "-e", "frame.number"],
      {
        encoding: "utf8"
      }
    )
    return out.trim() === "" ? 0 : out.trim().split("\n").length
  }

  async close(): Promise<void> {
    await this.stopCapture().catch(() => undefined)
    for (const p of this.procs) if (p.child.exitCode === null) p.child.kill("SIGTERM")
    await Promise.race([Promise.all(this.procs.map((p) => p.exited)), sleep(3000)])
    // Anything still running inside our namespaces (keepalived's VRRP child) was started by us: stop it by pid.
    for (const ns of [this.ours, this.theirs]) {
      const pids = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).stdout.trim().split(/\s+/)
      for (const pid of pids) if (pid !== "") spawnSync("kill", ["-KILL", pid])
      spawnSync("ip", ["netns", "del", ns])
    }
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** Our peer's JSON lines. */
export const events = (p: Proc): Array<{ t: number; log?: string; instance?: string; to?: string; from?: string }> =>
  p.lines.flatMap((l) => {
    try {
      return [JSON.parse(l.text)]
    } catch {
      return []
    }
  })
