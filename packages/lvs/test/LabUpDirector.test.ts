/**
 * `lvs lab up --director`: one command leaves a running lab with the director forwarding the sample table
 * (IPv4 and IPv6), and `lvs lab down` stops the director with everything else. Needs root.
 */
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import * as Lab from "../src/Lab.ts"
import * as Netns from "./helpers/Netns.ts"

const runDir = mkdtempSync(join(tmpdir(), "lvs-labup-test-"))
const options: Lab.Options = { name: `lvs${process.pid}-up`, runDir }
const cli = new URL("../src/bin/lvs.ts", import.meta.url).pathname

const lvs = (...args: Array<string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ["--conditions=@lvs-ts/source", cli, ...args],
      { timeout: 45_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr })
      }
    )
  })

/** Running (not gone and not a zombie: the CLI that started it exited, so init reaps it when it can). */
const running = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z"
  } catch {
    return false
  }
}

afterAll(async () => {
  await Effect.runPromise(Effect.ignore(Lab.down(options)))
  rmSync(runDir, { recursive: true, force: true })
})

describe.skipIf(!Netns.canRun)("lvs lab up --director (root)", { timeout: 55_000 }, () => {
  it("starts the director in the background with the sample table; lab down stops it", async () => {
    const flags = ["--name", options.name!, "--run-dir", runDir]
    expect((await lvs("lab", "up", "--respond", "--director", ...flags)).code).toBe(2) // both attach the taps
    const up = await lvs("lab", "up", "--no-verify", "--director", ...flags)
    expect(up.code, up.stderr).toBe(0)
    expect(up.stdout).toMatch(/director running \(pid \d+/)
    const plan = Lab.plan(options)
    const client = `${options.name}-client`
    const bodies: Record<string, number> = {}
    for (let i = 0; i < 3; i++) {
      const r = await Netns.run(client, "curl", ["-sS", "-m", "5", `http://${plan.vip}/`])
      bodies[r.stdout.trim()] = (bodies[r.stdout.trim()] ?? 0) + 1
    }
    expect(bodies).toEqual({ "rs1 port 80": 1, "rs2 port 8000": 2 })
    const v6 = await Netns.run(client, "curl", ["-6", "-sS", "-m", "5", `http://[${plan.vip6}]/`])
    expect(v6.stdout.trim()).toMatch(/^rs[12] port (80|8000)$/)
    const ftp = await Netns.run(client, "curl", ["-sS", "-m", "5", `http://${plan.vip}:21/`])
    expect(ftp.stdout.trim()).toBe("rs2 port 21")
    const status = await lvs("lab", "status", ...flags)
    expect(status.stdout).toMatch(/ok\s+director process: pid (\d+)/)
    const pid = Number(/director process: pid (\d+)/.exec(status.stdout)![1])
    expect(running(pid)).toBe(true)
    const down = await lvs("lab", "down", ...flags)
    expect(down.code).toBe(0)
    expect(running(pid), `director pid ${pid} still running`).toBe(false)
  })
})
