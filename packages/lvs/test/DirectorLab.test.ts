/**
 * End-to-end: the userspace director between real Linux network stacks (client, real servers) in network
 * namespaces. Needs root and /dev/net/tun (skipped otherwise). Each scenario builds its own lab with a
 * unique name (`lvs<pid>-…`), and always removes it.
 */
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import * as Lab from "../src/Lab.ts"
import * as LabDirector from "../src/LabDirector.ts"
import * as Capture from "./helpers/Capture.ts"
import * as Netns from "./helpers/Netns.ts"

const runDir = mkdtempSync(join(tmpdir(), "lvs-director-test-"))
const names: Array<string> = []
const labOptions = (tag: string): Lab.Options => {
  const name = `lvs${process.pid}-${tag}`
  names.push(name)
  return { name, runDir }
}

afterAll(async () => {
  for (const name of names) await Effect.runPromise(Effect.ignore(Lab.down({ name, runDir })))
  rmSync(runDir, { recursive: true, force: true })
})

const tally = (answers: ReadonlyArray<string>) => {
  const out: Record<string, number> = {}
  for (const a of answers) out[a] = (out[a] ?? 0) + 1
  return out
}

// A deterministic body (xorshift bytes), generated the same way in the real server and here.
const bodySource = (mb: number) => `
const size = ${mb} * 1024 * 1024
const chunk = Buffer.alloc(65536)
require("node:http").createServer((q, s) => {
  s.setHeader("content-length", size)
  let x = 2463534242, sent = 0
  const more = () => {
    while (sent < size) {
      for (let i = 0; i < chunk.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; chunk[i] = x & 0xff }
      sent += chunk.length
      if (!s.write(chunk)) return s.once("drain", more)
    }
    s.end()
  }
  more()
}).listen(9000, "0.0.0.0")`
const expectedHash = (mb: number) => {
  const h = createHash("sha256")
  const chunk = Buffer.alloc(65536)
  let x = 2463534242
  for (let sent = 0; sent < mb * 1024 * 1024; sent += chunk.length) {
    for (let i = 0; i < chunk.length; i++) {
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      chunk[i] = x & 0xff
    }
    h.update(chunk)
  }
  return h.digest("hex")
}
const BIG_MB = Number(process.env.LVS_E2E_DOWNLOAD_MB ?? 100)

describe.skipIf(!Netns.canRun)("director end to end (root, network namespaces)", { timeout: 120_000 }, () => {
  it("NAT: the classic LVS-NAT table, 1:2 ratio, port 21 to rs2 only, other ports refused, large download intact", async () => {
    const options = labOptions("nat")
    const plan = Lab.plan(options)
    const logs: Array<string> = []
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* Lab.up(options)
          expect(yield* LabDirector.startListener(plan, plan.realServers[1]!, 21)).toBe(true)
          const director = yield* LabDirector.start(plan, LabDirector.sampleServices(plan, "nat"), {
            log: (line) => logs.push(line)
          })
          const web: Array<string> = []
          for (let i = 0; i < 9; i++) web.push(yield* LabDirector.curl(plan, 80))
          expect(tally(web)).toEqual({ "rs1 port 80": 3, "rs2 port 8000": 6 })
          const ftp: Array<string> = []
          for (let i = 0; i < 3; i++) ftp.push(yield* LabDirector.curl(plan, 21))
          expect(tally(ftp)).toEqual({ "rs2 port 21": 3 })
          // No service on port 81: the director's own stack answers with a RST (curl: connection refused).
          const refused = yield* LabDirector.exec(plan.client.netns, "curl", [
            "-sS",
            "-m",
            "3",
            `http://${plan.vip}:81/`
          ])
          expect(refused.ok).toBe(false)
          expect(refused.stderr).toMatch(/Couldn't connect|Connection refused/)
          // UDP to a port without service: ICMP port unreachable (a connected UDP socket sees ECONNREFUSED).
          const udp = yield* LabDirector.exec(plan.client.netns, process.execPath, [
            "-e",
            `const s = require("node:dgram").createSocket("udp4"); s.on("error", (e) => { console.log(e.code); process.exit(0) });
             s.connect(9999, "${plan.vip}", () => { s.send("x"); setTimeout(() => s.send("y"), 200); setTimeout(() => { console.log("no answer"); process.exit(0) }, 2000) })`
          ])
          expect(udp.stdout.trim()).toBe("ECONNREFUSED")
          // A service with no destination: ICMP port unreachable and the kernel's log line.
          yield* director.addService({ protocol: "tcp", address: plan.vip, port: 8080, scheduler: "rr" })
          const none = yield* LabDirector.exec(plan.client.netns, "curl", [
            "-sS",
            "-m",
            "3",
            `http://${plan.vip}:8080/`
          ])
          expect(none.ok).toBe(false)
          yield* Effect.sleep("200 millis")
          expect(logs).toContain(`IPVS: rr: TCP ${plan.vip}:8080 - no destination available`)
          // Added while traffic flows: a bulk service, then a large download through NAT arrives intact.
          const rs1 = plan.realServers[0]!
          yield* LabDirector.exec(rs1.netns, "true", [])
          const server = yield* LabDirector.exec(rs1.netns, "sh", [
            "-c",
            `nohup ${process.execPath} -e '${bodySource(BIG_MB).replace(/'/g, "'\\''")}' >/dev/null 2>&1 &`
          ])
          expect(server.ok).toBe(true)
          yield* director.addService({ protocol: "tcp", address: plan.vip, port: 9000, scheduler: "rr" })
          yield* director.addDestination(
            { protocol: "tcp", address: plan.vip, port: 9000 },
            { address: rs1.address, port: 9000, method: "nat" }
          )
          for (let i = 0; i < 100; i++) {
            const out = yield* LabDirector.exec(rs1.netns, "ss", ["-Hltn", "sport = :9000"])
            if (out.stdout.trim().length > 0) break
            yield* Effect.sleep("50 millis")
          }
          const started = performance.now()
          const download = yield* LabDirector.exec(
            plan.client.netns,
            "sh",
            ["-c", `curl -sS -m 90 http://${plan.vip}:9000/ | sha256sum`],
            100_000
          )
          const seconds = (performance.now() - started) / 1000
          expect(download.stdout.split(" ")[0]).toBe(expectedHash(BIG_MB))
          console.log(`NAT download: ${BIG_MB} MB in ${seconds.toFixed(1)} s (${(BIG_MB / seconds).toFixed(1)} MB/s)`)
          yield* Effect.sleep("300 millis")
          const snapshot = yield* director.snapshot
          const service = snapshot.services.find((s) => s.port === 80)!
          expect(service.stats.connections).toBe(9)
          expect(service.destinations.map((d) => [d.port, d.stats.connections])).toEqual([
            [8000, 6],
            [80, 3]
          ])
          const counters = yield* director.counters
          expect(counters.forwardedIn).toBeGreaterThan(0)
          expect(counters.dropNoDestination).toBe(1)
        })
      )
    )
  })

  it("DR: replies go from the real servers straight to the client (none crosses the director)", async () => {
    const options = labOptions("dr")
    const plan = Lab.plan(options)
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* Lab.up(options)
          expect(yield* LabDirector.setupDirectRouting(plan)).toBeUndefined()
          const director = yield* LabDirector.start(plan, LabDirector.sampleServices(plan, "dr"))
          // Capture on the director's client-side tap: no reply from the VIP's port 80 may appear there.
          const pcap = join(runDir, `${plan.name}.pcap`)
          const capture = yield* Capture.start(plan.director.netns, "tapc", pcap, "tcp")
          expect(capture.log()).toContain("listening on tapc")
          const web: Array<string> = []
          for (let i = 0; i < 6; i++) web.push(yield* LabDirector.curl(plan, 80))
          expect(tally(web)).toEqual({ "rs1 port 80": 2, "rs2 port 80": 4 })
          yield* capture.stop
          const read = yield* LabDirector.exec(plan.director.netns, "tcpdump", ["-n", "-r", pcap])
          const lines = read.stdout
            .trim()
            .split("\n")
            .filter((l) => l.length > 0)
          expect(lines.filter((l) => l.includes(`${plan.vip}.80 >`))).toEqual([]) // no reply crossed the director
          expect(lines.filter((l) => l.includes(`> ${plan.vip}.80:`)).length).toBeGreaterThan(0) // requests did
          const counters = yield* director.counters
          expect(counters.forwardedOut).toBe(0)
          expect(counters.forwardedIn).toBeGreaterThan(0)
        })
      )
    )
  })

  it("FULLNAT: real servers see the local address, the SYN carries TOA with the client; persistence sticks", async () => {
    const options = labOptions("fnat")
    const plan = Lab.plan(options)
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* Lab.up(options)
          const services = LabDirector.sampleServices(plan, "fullnat")
          const director = yield* LabDirector.start(plan, services)
          const rs2 = plan.realServers[1]!
          const pcap = join(runDir, `${plan.name}.pcap`)
          const capture = yield* Capture.start(rs2.netns, "eth0", pcap, "tcp[13] == 2")
          const web: Array<string> = []
          for (let i = 0; i < 3; i++) web.push(yield* LabDirector.curl(plan, 80))
          expect(tally(web)).toEqual({ "rs1 port 80": 1, "rs2 port 8000": 2 })
          yield* capture.stop
          const syns = (yield* LabDirector.exec(rs2.netns, "tcpdump", ["-n", "-r", pcap])).stdout
          const raw = readFileSync(pcap).toString("hex")
          // Source = the local address; TOA (kind 254) = client port (2 bytes) + 10.200.1.10 (0a c8 01 0a).
          expect(syns).toMatch(/10\.200\.2\.50\.\d+ > 10\.200\.2\.12\.8000/)
          expect(raw).toMatch(/fe08[0-9a-f]{4}0ac8010a/)
          expect(syns).not.toMatch(/10\.200\.1\.10\.\d+ >/)
          // Persistence switched on while the director runs: one client now sticks to one server.
          yield* director.editService({ ...services[0]!.service, persistence: { timeout: 300 } })
          const sticky: Array<string> = []
          for (let i = 0; i < 5; i++) sticky.push(yield* LabDirector.curl(plan, 80))
          expect(Object.keys(tally(sticky))).toHaveLength(1)
          expect(sticky[0]).toMatch(/^rs[12] port/)
        })
      )
    )
  })

  it("UDP: a stream of datagrams arrives intact through NAT; path MTU: oversized DF packets get fragmentation needed", async () => {
    const options = labOptions("udp")
    const plan = Lab.plan(options)
    const rs1 = plan.realServers[0]!
    const udp = { protocol: "udp", address: plan.vip, port: 5000 } as const
    const COUNT = 3000
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* Lab.up(options)
          const director = yield* LabDirector.start(
            plan,
            [
              {
                service: { ...udp, scheduler: "rr" },
                destinations: [{ address: rs1.address, port: 5001, method: "nat" }]
              }
            ],
            { ports: LabDirector.directorOptions(plan, []).ports.map((p, i) => (i === 1 ? { ...p, mtu: 1400 } : p)) }
          )
          // Receiver on rs1:5001: counts datagrams and hashes them in arrival order; exits after 1.5 s idle.
          const receiver = spawn(
            "ip",
            [
              "netns",
              "exec",
              rs1.netns,
              process.execPath,
              "-e",
              `const h = require("node:crypto").createHash("sha256"); let n = 0, t
               const s = require("node:dgram").createSocket("udp4")
               let last = -1, disorder = ""
               const done = () => { console.log(n + " " + h.digest("hex") + " " + disorder.trim()); process.exit(0) }
               s.on("message", (m) => { n++; h.update(m); const q = m.readUInt32BE(0); if (q !== last + 1 && disorder.length < 300) disorder += last + "->" + q + " "; last = q; clearTimeout(t); t = setTimeout(done, 1500) })
               s.bind(5001, () => { console.log("ready"); t = setTimeout(done, 20000) })`
            ],
            { stdio: ["ignore", "pipe", "inherit"] }
          )
          let received = ""
          receiver.stdout.on("data", (chunk) => {
            received += String(chunk)
          })
          const finished = new Promise((resolve) => receiver.on("exit", resolve))
          for (let i = 0; i < 200 && !received.includes("ready"); i++) yield* Effect.sleep("50 millis")
          const payload = (i: number) => {
            const b = Buffer.alloc(512, i & 0xff)
            b.writeUInt32BE(i, 0)
            return b
          }
          // Resolve the VIP first: Linux may send a datagram directly while it still flushes the ARP queue
          // on another core (a client-side reordering this test is not about).
          yield* LabDirector.exec(plan.client.netns, "ping", ["-c", "1", "-W", "2", plan.vip])
          // And let the director resolve rs1 first (it asks as soon as the destination is configured; on a
          // loaded machine the first request can go unanswered and the retry comes a second later, after
          // the stream, whose first 128 datagrams would wait and the rest be dropped): rs1 learns the
          // director's address from the request it answers.
          for (let i = 0; i < 60; i++) {
            const neigh = yield* LabDirector.exec(rs1.netns, "ip", ["neigh", "show", "10.200.2.1"])
            if (neigh.stdout.includes(plan.director.serverPort.mac)) break
            yield* Effect.sleep("100 millis")
          }
          const send = yield* LabDirector.exec(
            plan.client.netns,
            process.execPath,
            [
              "-e",
              `const s = require("node:dgram").createSocket("udp4"); let i = 0
               s.connect(5000, "${plan.vip}", () => {
                 const burst = () => {
                   for (let k = 0; k < 50 && i < ${COUNT}; k++, i++) {
                     const b = Buffer.alloc(512, i & 0xff); b.writeUInt32BE(i, 0); s.send(b)
                   }
                   if (i < ${COUNT}) setTimeout(burst, 5); else setTimeout(() => process.exit(0), 200)
                 }
                 burst()
               })`
            ],
            30_000
          )
          expect(send.ok).toBe(true)
          yield* Effect.promise(() => finished)
          const h = createHash("sha256")
          for (let i = 0; i < COUNT; i++) h.update(payload(i))
          const [count, hash, ...disorder] = received.trim().split("\n").at(-1)!.split(" ")
          expect(`${count} ${hash}`, `out of order: ${disorder.join(" ")}`).toBe(`${COUNT} ${h.digest("hex")}`)
          const snapshot = yield* director.snapshot
          expect(snapshot.services[0]!.stats.inPackets).toBe(COUNT)
          // Path MTU: the server-side port has MTU 1400; a 1500-byte DF datagram gets ICMP fragmentation needed
          // (mtu 1400) from the director, and the client's kernel lowers its path MTU to the VIP.
          // Linux sends UDP with DF while the datagram fits its path MTU (IP_PMTUDISC_WANT, the default).
          const big = yield* LabDirector.exec(plan.client.netns, process.execPath, [
            "-e",
            `const s = require("node:dgram").createSocket("udp4")
             s.on("error", (e) => { console.log(e.code); process.exit(0) })
             s.connect(5000, "${plan.vip}", () => s.send(Buffer.alloc(1472), () => setTimeout(() => process.exit(0), 1000)))`
          ])
          expect(big.stdout.trim(), big.stderr).toBe("EMSGSIZE") // the ICMP error reached the connected socket
          const route = yield* LabDirector.exec(plan.client.netns, "ip", ["route", "get", plan.vip])
          expect(route.stdout).toMatch(/mtu 1400/) // learned from the director's fragmentation needed
          expect((yield* director.counters).dropFragNeeded).toBe(1)
        })
      )
    )
  })

  it("TUN: real servers behind the userspace tunnel endpoint answer; IPIP between director and servers", async () => {
    const options = labOptions("tun")
    const plan = Lab.plan(options)
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* Lab.up(options)
          expect(yield* LabDirector.setupDirectRouting(plan)).toBeUndefined()
          for (const rs of plan.realServers) {
            const started = yield* LabDirector.startTunnelEndpoint(plan, rs)
            expect(started.ok, started.log).toBe(true)
          }
          const director = yield* LabDirector.start(plan, LabDirector.sampleServices(plan, "tun"))
          const pcap = join(runDir, `${plan.name}.pcap`)
          const capture = yield* Capture.start(plan.director.netns, "taps", pcap, "ip proto 4")
          const web: Array<string> = []
          for (let i = 0; i < 6; i++) web.push(yield* LabDirector.curl(plan, 80))
          expect(tally(web)).toEqual({ "rs1 port 80": 2, "rs2 port 80": 4 })
          yield* capture.stop
          const read = yield* LabDirector.exec(plan.director.netns, "tcpdump", ["-n", "-r", pcap])
          // Outer 10.200.2.1 -> RIP, inner client -> VIP:80 (tcpdump shows the inner packet after "IP ... > ...: IP").
          expect(read.stdout).toMatch(/10\.200\.2\.1 > 10\.200\.2\.12: IP 10\.200\.1\.10\.\d+ > 10\.200\.1\.100\.80/)
          expect(read.stdout).toMatch(/10\.200\.2\.1 > 10\.200\.2\.11: IP 10\.200\.1\.10\.\d+ > 10\.200\.1\.100\.80/)
          expect((yield* director.counters).tunnelled).toBeGreaterThan(0)
        })
      )
    )
  })

  it("persistence: a client sticks to one server within the timeout and moves after expiry", async () => {
    const options = labOptions("pers")
    const plan = Lab.plan(options)
    const udp = { protocol: "udp", address: plan.vip, port: 5000 } as const
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* Lab.up(options)
          // A UDP server on each real server answering with its name.
          for (const rs of plan.realServers) {
            const source = `const s = require("node:dgram").createSocket("udp4"); s.on("message", (m, r) => s.send("${rs.name}", r.port, r.address)); s.bind(5001)`
            yield* LabDirector.exec(rs.netns, "sh", [
              "-c",
              `nohup ${process.execPath} -e '${source}' >/dev/null 2>&1 &`
            ])
            for (let i = 0; i < 100; i++) {
              if ((yield* LabDirector.exec(rs.netns, "ss", ["-Hlun", "sport = :5001"])).stdout.trim().length > 0) break
              yield* Effect.sleep("50 millis")
            }
          }
          const director = yield* LabDirector.start(plan, [
            {
              service: { ...udp, scheduler: "rr", persistence: { timeout: 2 } },
              destinations: plan.realServers.map((rs) => ({ address: rs.address, port: 5001, method: "nat" as const }))
            }
          ])
          yield* director.setTimeouts({ udp: 1 }) // connections expire after 1 s, the template after 2 s
          // Each query from a new source port is a new connection; persistence keys on the client address.
          const ask = `const ask = () => new Promise((ok) => { const s = require("node:dgram").createSocket("udp4");
             const t = setTimeout(() => { s.close(); ok("timeout") }, 2000);
             s.on("message", (m) => { clearTimeout(t); s.close(); ok(String(m)) });
             s.send("?", 5000, "${plan.vip}") })
             ;(async () => { const out = []; for (let i = 0; i < 3; i++) out.push(await ask())
               await new Promise((r) => setTimeout(r, 4500)); out.push(await ask()); console.log(out.join(" ")) })()`
          const r = yield* LabDirector.exec(plan.client.netns, process.execPath, ["-e", ask], 20_000)
          const [a, b, c, after] = r.stdout.trim().split(" ")
          expect([b, c], r.stderr).toEqual([a, a])
          expect(a).toMatch(/^rs[12]$/)
          expect(after).toMatch(/^rs[12]$/)
          expect(after).not.toBe(a) // rr moved on once the template expired
        })
      )
    )
  })
})
