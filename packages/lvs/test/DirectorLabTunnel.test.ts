/**
 * End-to-end LVS-TUN with GUE and GRE encapsulation (ipvsadm `--tun-type gue --tun-port` / `gre`): real
 * servers behind the userspace tunnel endpoint answer, and a capture on the director's server port shows the
 * encapsulation. Needs root and /dev/net/tun; each scenario builds and removes its own lab.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import type * as Director from "../src/Director.ts"
import * as Lab from "../src/Lab.ts"
import * as LabDirector from "../src/LabDirector.ts"
import type * as VST from "../src/VirtualServiceTable.ts"
import * as Capture from "./helpers/Capture.ts"
import * as Netns from "./helpers/Netns.ts"

const runDir = mkdtempSync(join(tmpdir(), "lvs-tunnel-test-"))
const names: Array<string> = []
afterAll(async () => {
  for (const name of names) await Effect.runPromise(Effect.ignore(Lab.down({ name, runDir })))
  rmSync(runDir, { recursive: true, force: true })
})

const GUE_PORT = 6080

const withTunnel = (
  services: Array<Director.ServiceConfig>,
  tunnelType: VST.TunnelType
): Array<Director.ServiceConfig> =>
  services.map((s) => ({
    ...s,
    destinations: (s.destinations ?? []).map((d) => ({
      ...d,
      tunnelType,
      ...(tunnelType === "gue" ? { tunnelPort: GUE_PORT } : {})
    }))
  }))

const scenario = (tunnelType: "gue" | "gre", filter: string, expected: ReadonlyArray<RegExp>) => async () => {
  const options: Lab.Options = { name: `lvs${process.pid}-${tunnelType}`, runDir }
  names.push(options.name!)
  const plan = Lab.plan(options)
  await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        yield* Lab.up(options)
        expect(yield* LabDirector.setupDirectRouting(plan)).toBeUndefined()
        for (const rs of plan.realServers) {
          const started = yield* LabDirector.startTunnelEndpoint(plan, rs, tunnelType === "gue" ? GUE_PORT : undefined)
          expect(started.ok, started.log).toBe(true)
        }
        const director = yield* LabDirector.start(plan, withTunnel(LabDirector.sampleServices(plan, "tun"), tunnelType))
        const pcap = join(runDir, `${plan.name}.pcap`)
        const capture = yield* Capture.start(plan.director.netns, "taps", pcap, filter)
        const answers: Record<string, number> = {}
        for (let i = 0; i < 6; i++) {
          const body = yield* LabDirector.curl(plan, 80)
          answers[body] = (answers[body] ?? 0) + 1
        }
        expect(answers).toEqual({ "rs1 port 80": 2, "rs2 port 80": 4 })
        yield* capture.stop
        const read = yield* LabDirector.exec(plan.director.netns, "tcpdump", ["-n", "-v", "-r", pcap])
        for (const pattern of expected) expect(read.stdout).toMatch(pattern)
        // The payload carries the client's packet: inner source 10.200.1.10 and destination VIP 10.200.1.100.
        const hex = yield* LabDirector.exec(plan.director.netns, "tcpdump", ["-n", "-x", "-r", pcap])
        const bytes = hex.stdout
          .split("\n")
          .filter((line) => /^\s+0x[0-9a-f]+:/.test(line))
          .map((line) => line.replace(/^\s+0x[0-9a-f]+:/, "").replace(/\s+/g, ""))
          .join("")
        expect(bytes).toContain("0ac8010a0ac80164")
        expect((yield* director.counters).tunnelled).toBeGreaterThan(0)
      })
    )
  )
}

describe.skipIf(!Netns.canRun)("LVS-TUN with GUE and GRE (root, network namespaces)", { timeout: 55_000 }, () => {
  it(
    "GUE: UDP to --tun-port between director and servers, the inner client -> VIP packet inside",
    scenario("gue", `udp dst port ${GUE_PORT}`, [
      new RegExp(`10\\.200\\.2\\.1\\.\\d+ > 10\\.200\\.2\\.11\\.${GUE_PORT}: UDP`),
      new RegExp(`10\\.200\\.2\\.1\\.\\d+ > 10\\.200\\.2\\.12\\.${GUE_PORT}: UDP`)
    ])
  )
  it(
    "GRE: GRE between director and servers carrying the client -> VIP packet",
    scenario("gre", "ip proto 47", [
      /10\.200\.2\.1 > 10\.200\.2\.11: GREv0/,
      /10\.200\.2\.1 > 10\.200\.2\.12: GREv0/,
      // tcpdump decodes the GRE payload: the client's packet to the VIP.
      /10\.200\.1\.10\.\d+ > 10\.200\.1\.100\.80: Flags \[S\]/
    ])
  )
  it("IPv6 outer: GUE over IPv6 to rs1 and GRE over IPv6 to rs2 (per destination), the IPv6 endpoint decapsulates both", async () => {
    const options: Lab.Options = { name: `lvs6-${process.pid}-tg`, runDir }
    names.push(options.name!)
    const plan = Lab.plan(options)
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* Lab.up(options)
          expect(yield* LabDirector.setupDirectRouting(plan)).toBeUndefined()
          for (const rs of plan.realServers) {
            const started = yield* LabDirector.startTunnelEndpoint(plan, rs, GUE_PORT)
            expect(started.ok, started.log).toBe(true)
          }
          const [web] = LabDirector.sampleServices6(plan, "tun")
          const [d1, d2] = web!.destinations!
          const director = yield* LabDirector.start(plan, [
            {
              service: web!.service,
              destinations: [
                { ...d1!, tunnelType: "gue", tunnelPort: GUE_PORT },
                { ...d2!, tunnelType: "gre" }
              ]
            }
          ])
          const pcap = join(runDir, `${plan.name}.pcap`)
          const capture = yield* Capture.start(
            plan.director.netns,
            "taps",
            pcap,
            `ip6 and (udp dst port ${GUE_PORT} or ip6 proto 47)`
          )
          const answers: Record<string, number> = {}
          for (let i = 0; i < 6; i++) {
            const body = yield* LabDirector.curl6(plan, 80)
            answers[body] = (answers[body] ?? 0) + 1
          }
          expect(answers).toEqual({ "rs1 port 80": 2, "rs2 port 80": 4 })
          yield* capture.stop
          const read = yield* LabDirector.exec(plan.director.netns, "tcpdump", ["-n", "-r", pcap])
          expect(read.stdout, capture.log()).toMatch(
            new RegExp(`fd00:200:2::1\\.\\d+ > fd00:200:2::11\\.${GUE_PORT}: UDP`)
          )
          expect(read.stdout).toMatch(/fd00:200:2::1 > fd00:200:2::12: GREv0/)
          expect(read.stdout).not.toMatch(/> fd00:200:2::12\.6080/) // GRE only to rs2
          expect((yield* director.counters).tunnelled).toBeGreaterThanOrEqual(6)
        })
      )
    )
  })
})
