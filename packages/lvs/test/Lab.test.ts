import { execFile } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import * as Lab from "../src/Lab.ts"
import * as Netns from "./helpers/Netns.ts"

const runDir = mkdtempSync(join(tmpdir(), "lvs-lab-test-"))
const options: Lab.Options = { name: `lvs${process.pid}-lab`, runDir }
const cli = new URL("../src/bin/lvs.ts", import.meta.url).pathname

const lvs = (...args: Array<string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ["--conditions=@lvs-ts/source", cli, ...args],
      { timeout: 60_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr })
      }
    )
  })

const labNamespaces = () =>
  Netns.ip("netns", "list")
    .split("\n")
    .filter((line) => line.startsWith(`${options.name}-`))

describe("Lab plan", { timeout: 30_000 }, () => {
  it("keeps every interface name within IFNAMSIZ and has no default route in the plan", () => {
    const p = Lab.plan(options)
    for (const name of [
      p.director.clientPort.tap,
      p.director.serverPort.tap,
      p.director.clientPort.bridge,
      "vs1",
      "vs2",
      "vc"
    ]) {
      expect(name.length).toBeLessThan(16)
    }
    expect(p.realServers.map((rs) => rs.address)).toEqual(["10.200.2.11", "10.200.2.12"])
    expect(p.director.clientPort.addresses).toContain(p.vip)
  })

  it("the CLI explains its usage and rejects unknown options", async () => {
    const help = await lvs("--help")
    expect(help.stderr).toContain("usage: lvs lab")
    const bad = await lvs("lab", "up", "--bogus")
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("unknown option --bogus")
  })
})

describe.skipIf(!Netns.canRun)("Lab in network namespaces (root)", { timeout: 60_000 }, () => {
  afterAll(async () => {
    await Effect.runPromise(Effect.ignore(Lab.down(options)))
    rmSync(runDir, { recursive: true, force: true })
  })

  it("comes up wired: the responder on the director taps answers ARP and ping, the HTTP servers answer", async () => {
    const state = await Effect.runPromise(Lab.up(options))
    expect(state.servers).toHaveLength(2)
    expect(labNamespaces().sort()).toEqual(
      ["client", "director", "rs1", "rs2"].map((n) => `${options.name}-${n}`).sort()
    )
    // No namespace of the lab has a default route.
    for (const ns of labNamespaces()) expect(Netns.ip("-n", ns.split(" ")[0]!, "route", "show", "default")).toBe("")
    const checks = await Effect.runPromise(Lab.verify(options))
    for (const check of checks) expect(check, check.what).toMatchObject({ ok: true })
    expect(checks.length).toBeGreaterThanOrEqual(8)
    // A background responder keeps the director's addresses reachable after up; down stops it.
    const next = await Effect.runPromise(Lab.startResponder(options))
    expect(next.director?.pid).toBeGreaterThan(0)
    const ping = await Netns.run(`${options.name}-client`, "ping", ["-n", "-c", "1", "-W", "2", Lab.plan(options).vip])
    expect(ping.code).toBe(0)
    const status = await Effect.runPromise(Lab.status(options))
    expect(status.every((entry) => entry.ok)).toBe(true)
    expect(status.some((entry) => entry.what === "director process")).toBe(true)
  })

  it("comes down completely and idempotently, including through the CLI", async () => {
    const state = await Effect.runPromise(Lab.status(options))
    expect(state.some((e) => e.what === "http rs1" && e.ok)).toBe(true)
    const pids = state
      .filter((e) => e.detail.startsWith("pid "))
      .map((e) => Number(e.detail.split(" ")[1]!.replace(",", "")))
    expect(pids).toHaveLength(3)
    const down = await lvs("lab", "down", "--name", options.name!, "--run-dir", runDir)
    expect(down.code).toBe(0)
    expect(labNamespaces()).toEqual([])
    for (const pid of pids) expect(() => process.kill(pid, 0), `pid ${pid} still alive`).toThrow()
    expect(existsSync(join(runDir, options.name!))).toBe(false)
    const again = await lvs("lab", "down", "--name", options.name!, "--run-dir", runDir)
    expect(again.code).toBe(0)
    const status = await lvs("lab", "status", "--name", options.name!, "--run-dir", runDir)
    expect(status.code).toBe(1)
    expect(status.stdout).toContain("no state: lab is down")
  })
})
