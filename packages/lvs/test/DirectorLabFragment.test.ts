/**
 * End-to-end fragments: large UDP datagrams (4000 and 20000 bytes) from a real client kernel (MTU 1500, so
 * it fragments them) through the userspace director to a real server and back, by NAT, DR, TUN (with the
 * userspace `lvs-realserver tun`, which reassembles fragmented IPIP) and IPv6 NAT. A capture at the real
 * server shows the fragments the director sent. Needs root and /dev/net/tun (skipped otherwise); every
 * lab has a unique name and is removed.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import * as Lab from "../src/Lab.ts"
import * as LabDirector from "../src/LabDirector.ts"
import * as Capture from "./helpers/Capture.ts"
import * as Netns from "./helpers/Netns.ts"

const runDir = mkdtempSync(join(tmpdir(), "lvs-fragment-test-"))
const names: Array<string> = []
const labOptions = (tag: string): Lab.Options => {
  const name = `lvs${process.pid}-f${tag}`
  names.push(name)
  return { name, runDir }
}

afterAll(async () => {
  for (const name of names) await Effect.runPromise(Effect.ignore(Lab.down({ name, runDir })))
  rmSync(runDir, { recursive: true, force: true })
})

/** A UDP server answering every datagram with 4000 bytes: the first 16 hex of its sha256, its length, a pattern. */
const serverSource = (family: 4 | 6, bind: string, port: number) =>
  `const c = require("node:crypto"); const s = require("node:dgram").createSocket("udp${family}")
s.on("message", (m, r) => { const h = c.createHash("sha256").update(m).digest("hex").slice(0, 16)
  const reply = Buffer.alloc(4000); for (let i = 0; i < reply.length; i++) reply[i] = (i * 7 + 3) & 0xff
  reply.write(h + " " + m.length + " ", 0); s.send(reply, r.port, r.address) })
s.bind(${port}, "${bind}")`

/** The client: sends 4000 and 20000 bytes, checks each 4000-byte answer; prints `size:length header body`. */
const clientSource = (family: 4 | 6, vip: string, port: number) =>
  `const c = require("node:crypto"); const s = require("node:dgram").createSocket("udp${family}")
const body = (n) => { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = (i * 13 + n) & 0xff; return b }
s.connect(${port}, "${vip}", async () => {
  const out = []
  for (const n of [4000, 20000]) {
    const b = body(n); const head = c.createHash("sha256").update(b).digest("hex").slice(0, 16) + " " + n + " "
    let got = "timeout"
    for (let attempt = 0; attempt < 3 && got === "timeout"; attempt++) {
      got = await new Promise((ok) => {
        const t = setTimeout(() => { s.removeAllListeners("message"); ok("timeout") }, 2000)
        s.once("message", (m) => { clearTimeout(t); let good = true
          for (let i = head.length; i < m.length; i++) if (m[i] !== ((i * 7 + 3) & 0xff)) good = false
          ok(m.length + " " + (m.toString("latin1", 0, head.length) === head) + " " + good) })
        s.send(b)
      })
    }
    out.push(n + ":" + got)
  }
  console.log(out.join(" ")); process.exit(0)
})`

const EXPECTED = "4000:4000 true true 20000:4000 true true"

const startServer = (rs: Lab.RealServer, family: 4 | 6, bind: string, port: number) =>
  Effect.gen(function* () {
    const source = serverSource(family, bind, port).replace(/'/g, "'\\''")
    yield* LabDirector.exec(rs.netns, "sh", ["-c", `nohup ${process.execPath} -e '${source}' >/dev/null 2>&1 &`])
    for (let i = 0; i < 100; i++) {
      if ((yield* LabDirector.exec(rs.netns, "ss", ["-Hlun", `sport = :${port}`])).stdout.trim().length > 0) return
      yield* Effect.sleep("50 millis")
    }
  })

const exchange = (plan: Lab.Plan, family: 4 | 6, vip: string, port: number) =>
  Effect.map(
    LabDirector.exec(plan.client.netns, process.execPath, ["-e", clientSource(family, vip, port)], 30_000),
    (r) => `${r.stdout.trim()}${r.stderr.trim()}`
  )

/** The capture as tcpdump prints it, briefly and then verbosely (IP header fields). */
const packets = (netns: string, pcap: string) =>
  Effect.gen(function* () {
    const brief = yield* LabDirector.exec(netns, "tcpdump", ["-n", "-r", pcap])
    const verbose = yield* LabDirector.exec(netns, "tcpdump", ["-n", "-v", "-r", pcap])
    return `${brief.stdout}\n${verbose.stdout}`
  })

describe.skipIf(!Netns.canRun)(
  "director end to end with IP fragments (root, network namespaces)",
  { timeout: 90_000 },
  () => {
    it("NAT: 4000- and 20000-byte datagrams reach the real server intact, its 4000-byte reply reaches the client", async () => {
      const options = labOptions("nat")
      const plan = Lab.plan(options)
      const rs1 = plan.realServers[0]!
      await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            yield* Lab.up(options)
            yield* startServer(rs1, 4, "0.0.0.0", 5301)
            const director = yield* LabDirector.start(plan, [
              {
                service: { protocol: "udp", address: plan.vip, port: 5300, scheduler: "rr" },
                destinations: [{ address: rs1.address, port: 5301, method: "nat" }]
              }
            ])
            const pcap = join(runDir, `${plan.name}.pcap`)
            const capture = yield* Capture.start(rs1.netns, "eth0", pcap, "ip[6:2] & 0x3fff != 0")
            expect(yield* exchange(plan, 4, plan.vip, 5300)).toBe(EXPECTED)
            yield* capture.stop
            const seen = yield* packets(rs1.netns, pcap)
            // Fragments from the client (DNAT'ed to rs1:5301) arrived at the server, and its reply left fragmented.
            expect(seen).toMatch(/10\.200\.1\.10\.\d+ > 10\.200\.2\.11\.5301: UDP/)
            expect(seen).toMatch(/IP 10\.200\.1\.10 > 10\.200\.2\.11: (udp|ip-proto-17)/)
            expect(seen).toMatch(/ttl 63, id \d+, offset 1480, flags \[\+\], proto UDP \(17\), length 1500/)
            expect(seen).toMatch(/10\.200\.2\.11\.5301 > 10\.200\.1\.10\.\d+: UDP/)
            const counters = yield* director.counters
            expect(counters.reassembled).toBeGreaterThanOrEqual(4) // 2 requests in, 2 replies out
            expect(counters.fragmentsOut).toBeGreaterThan(0)
            expect(counters.dropFragment).toBe(0)
          })
        )
      )
    })

    it("DR: the reassembled datagram goes re-fragmented to the real server, which answers the client directly", async () => {
      const options = labOptions("dr")
      const plan = Lab.plan(options)
      const rs1 = plan.realServers[0]!
      await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            yield* Lab.up(options)
            expect(yield* LabDirector.setupDirectRouting(plan)).toBeUndefined()
            yield* startServer(rs1, 4, plan.vip, 5300)
            const director = yield* LabDirector.start(plan, [
              {
                service: { protocol: "udp", address: plan.vip, port: 5300, scheduler: "rr" },
                destinations: [{ address: rs1.address, port: 5300, method: "dr" }]
              }
            ])
            const pcap = join(runDir, `${plan.name}.pcap`)
            const capture = yield* Capture.start(rs1.netns, "eth0", pcap, "ip[6:2] & 0x3fff != 0")
            expect(yield* exchange(plan, 4, plan.vip, 5300)).toBe(EXPECTED)
            yield* capture.stop
            const seen = yield* packets(rs1.netns, pcap)
            expect(seen).toMatch(/10\.200\.1\.10\.\d+ > 10\.200\.1\.100\.5300: UDP/)
            expect(seen).toMatch(/ttl 63, id \d+, offset 1480, flags \[\+\], proto UDP \(17\), length 1500/)
            const counters = yield* director.counters
            expect(counters.reassembled).toBe(2)
            expect(counters.forwardedOut).toBe(0)
          })
        )
      )
    })

    it("TUN: the outer IPIP packet is fragmented and the userspace endpoint reassembles it before decapsulating", async () => {
      const options = labOptions("tun")
      const plan = Lab.plan(options)
      const rs1 = plan.realServers[0]!
      await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            yield* Lab.up(options)
            expect(yield* LabDirector.setupDirectRouting(plan)).toBeUndefined()
            const endpoint = yield* LabDirector.startTunnelEndpoint(plan, rs1)
            expect(endpoint.ok, endpoint.log).toBe(true)
            yield* startServer(rs1, 4, plan.vip, 5300)
            const director = yield* LabDirector.start(plan, [
              {
                service: { protocol: "udp", address: plan.vip, port: 5300, scheduler: "rr" },
                destinations: [{ address: rs1.address, port: 5300, method: "tun" }]
              }
            ])
            const pcap = join(runDir, `${plan.name}.pcap`)
            const capture = yield* Capture.start(rs1.netns, "eth0", pcap, "ip proto 4")
            expect(yield* exchange(plan, 4, plan.vip, 5300)).toBe(EXPECTED)
            yield* capture.stop
            const seen = yield* packets(rs1.netns, pcap)
            // Outer fragments 10.200.2.1 > 10.200.2.11, protocol IPIP, the first with MF.
            expect(seen).toMatch(/flags \[\+\], proto IPIP \(4\)/)
            expect(seen).toMatch(/offset 1480, flags \[\+\], proto IPIP \(4\), length 1500/)
            expect(seen).toMatch(/10\.200\.2\.1 > 10\.200\.2\.11: IP/)
            const counters = yield* director.counters
            expect(counters.tunnelled).toBe(2)
            expect(counters.fragmentsOut).toBeGreaterThan(2)
          })
        )
      )
    })

    it("IPv6 NAT: large datagrams both ways, re-fragmented with a fragment header at the real server", async () => {
      const options = labOptions("v6")
      const plan = Lab.plan(options)
      const rs1 = plan.realServers[0]!
      await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            yield* Lab.up(options)
            yield* startServer(rs1, 6, "::", 5301)
            const director = yield* LabDirector.start(plan, [
              {
                service: { protocol: "udp", address: plan.vip6, port: 5300, scheduler: "rr" },
                destinations: [{ address: rs1.address6, port: 5301, method: "nat" }]
              }
            ])
            const pcap = join(runDir, `${plan.name}.pcap`)
            const capture = yield* Capture.start(rs1.netns, "eth0", pcap, "ip6 and ip6[6] == 44")
            expect(yield* exchange(plan, 6, plan.vip6, 5300)).toBe(EXPECTED)
            yield* capture.stop
            const seen = yield* packets(rs1.netns, pcap)
            expect(seen).toMatch(
              /fd00:200:1::10 > fd00:200:2::11: frag \(0x[0-9a-f]+:0\|1448\) \d+ > 5301: UDP, length 20000/
            )
            expect(seen).toMatch(/fd00:200:1::10 > fd00:200:2::11: frag \(0x[0-9a-f]+:1448\|1448\)/)
            const counters = yield* director.counters
            expect(counters.reassembled).toBeGreaterThanOrEqual(4)
          })
        )
      )
    })
  }
)
