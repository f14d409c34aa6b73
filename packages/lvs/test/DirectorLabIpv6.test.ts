/**
 * End-to-end IPv6: the userspace director between real Linux IPv6 stacks in network namespaces (the lab's
 * ULA plan fd00:200:1::/64 and fd00:200:2::/64, no default route). Needs root and /dev/net/tun.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import * as ForwardingHandler from "../src/ForwardingHandler.ts"
import * as Lab from "../src/Lab.ts"
import * as LabDirector from "../src/LabDirector.ts"
import * as Capture from "./helpers/Capture.ts"
import * as Netns from "./helpers/Netns.ts"

const runDir = mkdtempSync(join(tmpdir(), "lvs-director6-test-"))
const name = `lvs${process.pid}-v6`
const options: Lab.Options = { name, runDir }
const drOptions: Lab.Options = { name: `lvs${process.pid}-v6dr`, runDir }
const fullnatOptions: Lab.Options = { name: `lvs6-${process.pid}-fn`, runDir }
const tunOptions: Lab.Options = { name: `lvs6-${process.pid}-tun`, runDir }
const crossOptions: Lab.Options = { name: `lvs6-${process.pid}-x`, runDir }

afterAll(async () => {
  await Effect.runPromise(Effect.ignore(Lab.down(options)))
  await Effect.runPromise(Effect.ignore(Lab.down(drOptions)))
  await Effect.runPromise(Effect.ignore(Lab.down(fullnatOptions)))
  await Effect.runPromise(Effect.ignore(Lab.down(tunOptions)))
  await Effect.runPromise(Effect.ignore(Lab.down(crossOptions)))
  rmSync(runDir, { recursive: true, force: true })
})

const tally = (answers: ReadonlyArray<string>) => {
  const out: Record<string, number> = {}
  for (const a of answers) out[a] = (out[a] ?? 0) + 1
  return out
}

describe.skipIf(!Netns.canRun)("director end to end over IPv6 (root, network namespaces)", { timeout: 55_000 }, () => {
  it("NAT: curl -6 reaches both real servers 1:2; ping6 of the VIP; hop limit 1 -> time exceeded; no service -> refused", async () => {
    const plan = Lab.plan(options)
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* Lab.up(options)
          const director = yield* LabDirector.start(plan, LabDirector.sampleServices6(plan, "nat"), {
            log: () => {}
          })
          const answers: Array<string> = []
          for (let i = 0; i < 9; i++) answers.push(yield* LabDirector.curl6(plan, 80))
          expect(tally(answers)).toEqual({ "rs1 port 80": 3, "rs2 port 8000": 6 })
          // The client resolved the VIP by NDP and the director answers echo for it.
          const ping = yield* LabDirector.exec(plan.client.netns, "ping", ["-6", "-c", "1", "-W", "2", plan.vip6])
          expect(ping.ok).toBe(true)
          const neigh = yield* LabDirector.exec(plan.client.netns, "ip", ["-6", "neigh", "show", plan.vip6])
          expect(neigh.stdout).toContain(plan.director.clientPort.mac)
          // Route the server network through the director (the lab's client has only its own network).
          const route = yield* LabDirector.exec(plan.client.netns, "ip", [
            "-6",
            "route",
            "add",
            plan.serverNetwork6,
            "via",
            plan.director.clientPort.addresses6[0]!
          ])
          expect(route.stderr).toBe("")
          // Hop limit 1 through the director to a real server: ICMPv6 time exceeded from the director.
          const trace = yield* LabDirector.exec(plan.client.netns, "ping", [
            "-6",
            "-c",
            "1",
            "-W",
            "2",
            "-t",
            "1",
            plan.realServers[0]!.address6
          ])
          expect(`${trace.stdout}${trace.stderr}`).toMatch(/Time exceeded|Time to live exceeded|Hop limit/i)
          // Routed (no service) IPv6 traffic reaches the real server with hop limit 64 - 1.
          const routed = yield* LabDirector.exec(plan.client.netns, "ping", [
            "-6",
            "-c",
            "1",
            "-W",
            "2",
            plan.realServers[0]!.address6
          ])
          expect(routed.stdout).toMatch(/ttl=63/)
          // A port without a service: the director's stack refuses (TCP RST).
          const refused = yield* LabDirector.exec(plan.client.netns, "curl", [
            "-6",
            "-sS",
            "-m",
            "3",
            `http://[${plan.vip6}]:81/`
          ])
          expect(refused.ok).toBe(false)
          expect(refused.stderr).toMatch(/Couldn't connect|Connection refused/)
          yield* Effect.sleep("300 millis")
          const snapshot = yield* director.snapshot
          const svc = snapshot.services.find((s) => s.address === plan.vip6)
          expect(svc?.stats.connections).toBe(9)
          const counters = yield* director.counters
          expect(counters.ndpAdvertisements).toBeGreaterThan(0)
          expect(counters.forwardedIn).toBeGreaterThan(0)
          expect(counters.dropHandlerFault ?? 0).toBe(0)
          expect(ForwardingHandler.Stat.ndpAdvertisements).toBeGreaterThan(0)
        })
      )
    )
  })

  it("DR: real servers own the VIP6 on lo and answer the client directly; the director's port sees no reply", async () => {
    const plan = Lab.plan(drOptions)
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* Lab.up(drOptions)
          expect(yield* LabDirector.setupDirectRouting(plan)).toBeUndefined()
          // setupDirectRouting also does the IPv6 side: client on the server network as fd00:200:2::10, VIP6
          // on the servers' lo, fd00:200:1::/64 routed through the client.
          const vip6OnLo = yield* LabDirector.exec(plan.realServers[0]!.netns, "ip", [
            "-6",
            "addr",
            "show",
            "dev",
            "lo"
          ])
          expect(vip6OnLo.stdout).toContain(`${plan.vip6}/128`)
          yield* LabDirector.start(plan, LabDirector.sampleServices6(plan, "dr"), { log: () => {} })
          const pcap = join(runDir, `${plan.name}.pcap`)
          const capture = yield* Capture.start(plan.director.netns, "tapc", pcap, "ip6 and tcp")
          yield* Effect.sleep("200 millis")
          const answers: Array<string> = []
          for (let i = 0; i < 6; i++) answers.push(yield* LabDirector.curl6(plan, 80))
          expect(tally(answers)).toEqual({ "rs1 port 80": 2, "rs2 port 80": 4 })
          yield* capture.stop
          const read = yield* LabDirector.exec(plan.director.netns, "tcpdump", ["-n", "-r", pcap])
          expect(read.stdout, `${read.stderr} ${capture.log()}`).toMatch(
            /fd00:200:1::10\.\d+ > fd00:200:1::100\.80: Flags \[S\]/
          )
          expect(read.stdout).not.toMatch(/fd00:200:1::100\.80 > fd00:200:1::10\./) // no reply crosses the director
        })
      )
    )
  })

  it("FULLNAT: real servers see the IPv6 local address; the SYN at a real server carries TOA (kind 254, len 20) with the client's address and port", async () => {
    const plan = Lab.plan(fullnatOptions)
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* Lab.up(fullnatOptions)
          const director = yield* LabDirector.start(plan, LabDirector.sampleServices6(plan, "fullnat"), {
            log: () => {}
          })
          const rs2 = plan.realServers[1]!
          const pcap = join(runDir, `${plan.name}.pcap`)
          const tap = yield* Capture.start(rs2.netns, "eth0", pcap, "ip6 and tcp")
          const answers: Array<string> = []
          for (let i = 0; i < 6; i++) answers.push(yield* LabDirector.curl6(plan, 80))
          expect(tally(answers)).toEqual({ "rs1 port 80": 2, "rs2 port 8000": 4 })
          yield* tap.stop
          const read = yield* LabDirector.exec(rs2.netns, "tcpdump", ["-n", "-r", pcap])
          // rs2 sees the local address, never the client: the SYN comes from LIP to rs2:8000.
          expect(read.stdout, `${read.stderr} ${tap.log()}`).toMatch(
            /fd00:200:2::50\.\d+ > fd00:200:2::12\.8000: Flags \[S\]/
          )
          expect(read.stdout).not.toMatch(/fd00:200:1::10\.\d+ >/)
          // TOA: kind 254 (fe), length 20 (14), the client port, then fd00:200:1::10 in 16 bytes.
          const raw = readFileSync(pcap).toString("hex")
          const toa = /fe14([0-9a-f]{4})fd000200000100000000000000000010/.exec(raw)
          expect(toa, "no IPv6 TOA option in the capture").not.toBeNull()
          const clientPort = Number.parseInt(toa![1]!, 16)
          expect(read.stdout).toMatch(/fd00:200:2::50\.\d+ > fd00:200:2::12\.8000/)
          expect(clientPort).toBeGreaterThanOrEqual(1024)
          // The server's answers went back through the director as VIP6 -> client.
          const counters = yield* director.counters
          expect(counters.toaInserted).toBe(6)
          expect(counters.toaFailed ?? 0).toBe(0)
          expect(counters.forwardedOut).toBeGreaterThan(0)
          const snapshot = yield* director.snapshot
          expect(snapshot.services.find((s) => s.address === plan.vip6)?.stats.connections).toBe(6)
          // Persistence switched on while the director runs (ipvsadm -E -p 300 -M 64): the client sticks.
          const [web] = LabDirector.sampleServices6(plan, "fullnat")
          yield* director.editService({ ...web!.service, persistence: { timeout: 300, netmask: "64" } })
          const sticky: Array<string> = []
          for (let i = 0; i < 5; i++) sticky.push(yield* LabDirector.curl6(plan, 80))
          expect(Object.keys(tally(sticky))).toHaveLength(1)
          expect(sticky[0]).toMatch(/^rs[12] port/)
        })
      )
    )
  })

  it("TUN: IPv6-in-IPv6 (next header 41) to real servers behind the shipped userspace endpoint; they answer the client directly", async () => {
    const plan = Lab.plan(tunOptions)
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* Lab.up(tunOptions)
          expect(yield* LabDirector.setupDirectRouting(plan)).toBeUndefined()
          for (const rs of plan.realServers) {
            const started = yield* LabDirector.startTunnelEndpoint(plan, rs)
            expect(started.ok, started.log).toBe(true)
          }
          const director = yield* LabDirector.start(plan, LabDirector.sampleServices6(plan, "tun"), {
            log: () => {}
          })
          const pcap = join(runDir, `${plan.name}.pcap`)
          const tap = yield* Capture.start(plan.director.netns, "taps", pcap, "ip6 proto 41")
          const clientSide = join(runDir, `${plan.name}-client.pcap`)
          const tapc = yield* Capture.start(plan.director.netns, "tapc", clientSide, "ip6 and tcp")
          const answers: Array<string> = []
          for (let i = 0; i < 6; i++) answers.push(yield* LabDirector.curl6(plan, 80))
          expect(tally(answers)).toEqual({ "rs1 port 80": 2, "rs2 port 80": 4 })
          yield* tap.stop
          yield* tapc.stop
          const read = yield* LabDirector.exec(plan.director.netns, "tcpdump", ["-n", "-r", pcap])
          // Outer fd00:200:2::1 -> RIP6 (next header 41), inner client -> [VIP6]:80 unchanged.
          for (const rs of plan.realServers) {
            expect(read.stdout, `${read.stderr} ${tap.log()}`).toMatch(
              new RegExp(`fd00:200:2::1 > ${rs.address6}: IP6 fd00:200:1::10\\.\\d+ > fd00:200:1::100\\.80`)
            )
          }
          // Replies go from the servers straight to the client: none crosses the director's client port.
          const client = yield* LabDirector.exec(plan.director.netns, "tcpdump", ["-n", "-r", clientSide])
          expect(client.stdout).toMatch(/fd00:200:1::10\.\d+ > fd00:200:1::100\.80: Flags \[S\]/)
          expect(client.stdout).not.toMatch(/fd00:200:1::100\.80 > fd00:200:1::10\./)
          expect((yield* director.counters).tunnelled).toBeGreaterThan(0)
        })
      )
    )
  })

  it("TUN across families: IPv4 service to the servers' IPv6 addresses (IPv4-in-IPv6), IPv6 service to their IPv4 ones (IPv6-in-IPv4)", async () => {
    const plan = Lab.plan(crossOptions)
    const [rs1, rs2] = plan.realServers
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* Lab.up(crossOptions)
          expect(yield* LabDirector.setupDirectRouting(plan)).toBeUndefined()
          for (const rs of plan.realServers) {
            const started = yield* LabDirector.startTunnelEndpoint(plan, rs)
            expect(started.ok, started.log).toBe(true)
          }
          const web4 = { protocol: "tcp", address: plan.vip, port: 80, scheduler: "wrr" } as const
          const web6 = { protocol: "tcp", address: plan.vip6, port: 80, scheduler: "wrr" } as const
          const director = yield* LabDirector.start(
            plan,
            [
              {
                service: web4,
                destinations: [
                  { address: rs1!.address6, weight: 1, method: "tun" },
                  { address: rs2!.address6, weight: 2, method: "tun" }
                ]
              },
              {
                service: web6,
                destinations: [
                  { address: rs1!.address, weight: 1, method: "tun" },
                  { address: rs2!.address, weight: 2, method: "tun" }
                ]
              }
            ],
            { log: () => {} }
          )
          const pcap = join(runDir, `${plan.name}.pcap`)
          const tap = yield* Capture.start(
            plan.director.netns,
            "taps",
            pcap,
            "(ip6 and ip6 proto 4) or (ip and ip proto 41)"
          )
          const answers4: Array<string> = []
          const answers6: Array<string> = []
          for (let i = 0; i < 6; i++) answers4.push(yield* LabDirector.curl(plan, 80))
          for (let i = 0; i < 6; i++) answers6.push(yield* LabDirector.curl6(plan, 80))
          expect(tally(answers4)).toEqual({ "rs1 port 80": 2, "rs2 port 80": 4 })
          expect(tally(answers6)).toEqual({ "rs1 port 80": 2, "rs2 port 80": 4 })
          yield* tap.stop
          const read = yield* LabDirector.exec(plan.director.netns, "tcpdump", ["-n", "-r", pcap])
          for (const rs of plan.realServers) {
            // IPv6 outer fd00:200:2::1 -> RIP6 carrying the client's IPv4 SYN to VIP:80 ...
            expect(read.stdout, `${read.stderr} ${tap.log()}`).toMatch(
              new RegExp(`fd00:200:2::1 > ${rs.address6}: IP 10\\.200\\.1\\.10\\.\\d+ > 10\\.200\\.1\\.100\\.80`)
            )
            // ... and IPv4 outer 10.200.2.1 -> RIP carrying the client's IPv6 SYN to [VIP6]:80.
            expect(read.stdout).toMatch(
              new RegExp(
                `10\\.200\\.2\\.1 > ${rs.address.replaceAll(".", "\\.")}: IP6 fd00:200:1::10\\.\\d+ > fd00:200:1::100\\.80`
              )
            )
          }
          expect((yield* director.counters).tunnelled).toBeGreaterThanOrEqual(12)
        })
      )
    )
  })
})
