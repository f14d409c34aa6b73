/**
 * Interop with a real keepalived 2.2 (Debian package) on one veth link between two network namespaces,
 * our side running the Router over the kernel transport in a plain Node process (reference §2.16).
 * Needs root; skipped with a message otherwise.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { canRun, events, Pair, type Proc, sleep, waitFor } from "./Netns.ts"

const reason = canRun()
if (reason !== undefined) console.warn(`vrrp interop tests skipped: ${reason}`)

const instance = (
  name: string,
  vrid: number,
  priority: number,
  vip: string,
  extra: { version?: number; advert?: number; pass?: string } = {}
) => `vrrp_instance ${name} {
  state BACKUP
  interface vB
  virtual_router_id ${vrid}
  priority ${priority}
  advert_int ${extra.advert ?? 1}
${extra.version === 3 ? "  version 3\n" : ""}${
  extra.pass === undefined ? "" : `  authentication {\n    auth_type PASS\n    auth_pass ${extra.pass}\n  }\n`
}  virtual_ipaddress {
    ${vip}/${vip.includes(":") ? 128 : 32}
  }
}
`
const conf = (body: string) => `global_defs {\n  router_id keepalived_B\n}\n${body}`

const ours = (
  name: string,
  vrid: number,
  priority: number,
  vip: string,
  extra: { version?: 2 | 3; advert?: number; pass?: string } = {}
) => ({
  logDetail: true,
  instances: [
    {
      name,
      vrid,
      priority,
      interface: "vA",
      virtualAddresses: [vip],
      ...(extra.version === undefined ? {} : { version: extra.version }),
      ...(extra.advert === undefined ? {} : { advertInterval: extra.advert }),
      ...(extra.pass === undefined ? {} : { authentication: { type: "PASS", password: extra.pass } })
    }
  ]
})

const saw = (p: Proc, text: string) => p.lines.find((l) => l.text.includes(text))
const state = (p: Proc, name: string, to: string) => events(p).find((e) => e.instance === name && e.to === to)
const logged = (p: Proc, text: string) => events(p).find((e) => e.log === text)

describe.skipIf(reason !== undefined)("interop with keepalived 2.2 in network namespaces", () => {
  let pair: Pair

  beforeAll(async () => {
    pair = new Pair()
    await pair.startCapture()
  })

  afterAll(async () => {
    await pair?.close()
  })

  let ka: Proc
  let we: Proc

  it("(a) ours 150 vs keepalived 100: ours becomes MASTER, keepalived logs the higher priority", async () => {
    ka = pair.keepalived("a", conf(instance("VI_1", 51, 100, "10.9.0.100")))
    await waitFor("keepalived MASTER", () => saw(ka, "(VI_1) Entering MASTER STATE"), 10_000)
    we = pair.peer(ours("VI_1", 51, 150, "10.9.0.100"))
    await waitFor("our MASTER", () => state(we, "VI_1", "MASTER"), 10_000)
    await waitFor(
      "keepalived to yield",
      () => saw(ka, "(VI_1) Master received advert from 10.9.0.1 with higher priority 150, ours 100"),
      3000
    )
    await waitFor("keepalived BACKUP", () => ka.lines.findLast((l) => l.text.includes("Entering BACKUP STATE")), 3000)
    expect(logged(we, "(VI_1) received lower priority (100) advert from 10.9.0.2 - discarding")).toBeDefined()
    // Takeover after our Master_Down_Interval, 3 + 106/256 s, counted from our start.
    const start = state(we, "VI_1", "BACKUP")!.t
    expect(state(we, "VI_1", "MASTER")!.t - start).toBeGreaterThan(3300)
    expect(state(we, "VI_1", "MASTER")!.t - start).toBeLessThan(3700)
  }, 30_000)

  it("(b) stop ours: keepalived takes over within the skew time of our priority-0 advert", async () => {
    await sleep(1500)
    await pair.stop(we)
    await waitFor("keepalived MASTER again", () => saw(ka, "(VI_1) Backup received priority 0 advertisement"), 3000)
    await sleep(1500)
    await pair.stopCapture()
    const adverts = pair.decoded().filter((a) => a.vrid === 51)
    const zero = adverts.find((a) => a.src === "10.9.0.1" && a.prio === 0)!
    expect(zero).toBeDefined()
    const next = adverts.find((a) => a.src === "10.9.0.2" && a.time > zero.time)!
    // keepalived's skew at priority 100: 156/256 s = 609 ms.
    console.info(
      `interop (b): keepalived took over ${(next.time - zero.time).toFixed(1)} ms after our priority-0 advert`
    )
    expect(next.time - zero.time).toBeGreaterThan(550)
    expect(next.time - zero.time).toBeLessThan(800)
    await pair.stop(ka)
    await pair.startCapture()
  }, 30_000)

  it("(c) reversed priorities with preemption", async () => {
    ka = pair.keepalived("c", conf(instance("VI_3", 53, 150, "10.9.0.103")))
    await waitFor("keepalived MASTER", () => saw(ka, "(VI_3) Entering MASTER STATE"), 10_000)
    we = pair.peer(ours("VI_3", 53, 100, "10.9.0.103"))
    await sleep(5000)
    expect(state(we, "VI_3", "MASTER")).toBeUndefined()
    // keepalived stops: ours takes over after the skew of its priority-0 advert.
    await pair.stop(ka)
    await waitFor("our MASTER", () => state(we, "VI_3", "MASTER"), 3000)
    expect(logged(we, "(VI_3) Backup received priority 0 advertisement")).toBeDefined()
    // keepalived comes back with the higher priority and preempts us.
    ka = pair.keepalived("c2", conf(instance("VI_3", 53, 150, "10.9.0.103")))
    await waitFor(
      "keepalived to discard ours",
      () => saw(ka, "(VI_3) received lower priority (100) advert from 10.9.0.1 - discarding"),
      10_000
    )
    await waitFor(
      "our BACKUP",
      () => logged(we, "(VI_3) Master received advert from 10.9.0.2 with higher priority 150, ours 100"),
      10_000
    )
    await waitFor(
      "our transition to BACKUP",
      () => (events(we).findLast((e) => e.instance === "VI_3")?.to === "BACKUP" ? true : undefined),
      3000
    )
    await pair.stop(we)
    await pair.stop(ka)
  }, 40_000)

  it("(d) PASS authentication: matching passwords elect normally", async () => {
    ka = pair.keepalived("d", conf(instance("VI_4", 54, 100, "10.9.0.104", { pass: "secret12" })))
    await waitFor("keepalived MASTER", () => saw(ka, "(VI_4) Entering MASTER STATE"), 10_000)
    we = pair.peer(ours("VI_4", 54, 150, "10.9.0.104", { pass: "secret12" }))
    await waitFor("our MASTER", () => state(we, "VI_4", "MASTER"), 10_000)
    await waitFor(
      "keepalived yields",
      () => saw(ka, "(VI_4) Master received advert from 10.9.0.1 with higher priority 150"),
      3000
    )
    await pair.stop(we)
    await pair.stop(ka)
  }, 30_000)

  it("(d) PASS authentication: a wrong password is rejected on both sides with the reference texts", async () => {
    ka = pair.keepalived("d2", conf(instance("VI_5", 55, 100, "10.9.0.105", { pass: "secret12" })))
    await waitFor("keepalived MASTER", () => saw(ka, "(VI_5) Entering MASTER STATE"), 10_000)
    we = pair.peer(ours("VI_5", 55, 150, "10.9.0.105", { pass: "wrong123" }))
    await waitFor("our MASTER", () => state(we, "VI_5", "MASTER"), 10_000)
    await waitFor("keepalived rejects ours", () => saw(ka, "(VI_5) received an invalid passwd!"), 3000)
    expect(logged(we, "(VI_5) received an invalid passwd from 10.9.0.2!")).toBeDefined()
    // Neither accepted the other: keepalived never logged our higher priority.
    expect(saw(ka, "higher priority 150")).toBeUndefined()
    await pair.stop(we)
    await pair.stop(ka)
  }, 30_000)

  it("(e) v3 at 100 ms adverts: failover under 400 ms; tshark decodes every advert we sent as valid VRRP", async () => {
    ka = pair.keepalived("e", conf(instance("VI_6", 56, 100, "10.9.0.106", { version: 3, advert: 0.1 })))
    await waitFor("keepalived MASTER", () => saw(ka, "(VI_6) Entering MASTER STATE"), 10_000)
    we = pair.peer(ours("VI_6", 56, 150, "10.9.0.106", { version: 3, advert: 0.1 }))
    await waitFor("our MASTER", () => state(we, "VI_6", "MASTER"), 10_000)
    await waitFor(
      "keepalived yields",
      () => saw(ka, "(VI_6) Master received advert from 10.9.0.1 with higher priority 150"),
      3000
    )
    await sleep(500)
    // A hard failure: no priority-0 advert.
    const masters = () => ka.lines.filter((l) => l.text.includes("(VI_6) Entering MASTER STATE")).length
    const before = masters()
    await pair.stop(we, "SIGKILL")
    await waitFor("keepalived MASTER", () => masters() > before, 3000)
    await sleep(300)
    await pair.stopCapture()
    const adverts = pair.decoded().filter((a) => a.vrid === 56)
    const lastOurs = adverts.findLast((a) => a.src === "10.9.0.1")!
    const takeover = adverts.find((a) => a.src === "10.9.0.2" && a.time > lastOurs.time)!
    // Master_Down_Interval at priority 100: 3 x 100 ms + 156 x 100/256 ms = 361 ms.
    console.info(
      `interop (e): keepalived took over ${(takeover.time - lastOurs.time).toFixed(1)} ms after our last advert`
    )
    expect(takeover.time - lastOurs.time).toBeGreaterThan(340)
    expect(takeover.time - lastOurs.time).toBeLessThan(400)
    // Every advert we sent in (c)-(e) decodes as valid VRRP with a good checksum.
    const all = pair.decoded()
    const mine = all.filter((a) => a.src === "10.9.0.1")
    expect(mine.length).toBeGreaterThan(10)
    expect(mine.length).toBe(pair.packetsFrom("10.9.0.1"))
    for (const a of mine) {
      // Wireshark's checksum status: 1 = good (0 = bad, 2 = unverified).
      expect(a.checksum).toBe("1")
      expect([2, 3]).toContain(a.version)
    }
    expect(mine.some((a) => a.version === 3) && mine.some((a) => a.version === 2)).toBe(true)
  }, 30_000)

  it("(f) IPv6 (v3 over a raw IPv6 socket): ours 150 vs keepalived 100, then our priority-0 advert", async () => {
    ka = pair.keepalived("f", conf(instance("VI_7", 57, 100, "2001:db8::107")))
    await waitFor("keepalived MASTER", () => saw(ka, "(VI_7) Entering MASTER STATE"), 15_000)
    we = pair.peer(ours("VI_7", 57, 150, "2001:db8::107"))
    await waitFor("our MASTER", () => state(we, "VI_7", "MASTER"), 10_000)
    const yielded = await waitFor(
      "keepalived to yield",
      () =>
        ka.lines.find((l) =>
          /\(VI_7\) Master received advert from fe80::[0-9a-f:]+ with higher priority 150, ours 100/.test(l.text)
        ),
      3000
    )
    expect(yielded).toBeDefined()
    expect(
      events(we).some((e) => /\(VI_7\) received lower priority \(100\) advert from fe80::/.test(e.log ?? ""))
    ).toBe(true)
    await sleep(1500)
    await pair.stop(we)
    await waitFor("keepalived to take over", () => saw(ka, "(VI_7) Backup received priority 0 advertisement"), 3000)
    await pair.stop(ka)
  }, 40_000)

  it("(g) v3 unicast (pseudo-header with the peer as destination): ours 150 vs keepalived 100", async () => {
    ka = pair.keepalived(
      "g",
      conf(`vrrp_instance VI_8 {
  state BACKUP
  interface vB
  version 3
  virtual_router_id 60
  priority 100
  advert_int 1
  unicast_src_ip 10.9.0.2
  unicast_peer {
    10.9.0.1
  }
  virtual_ipaddress {
    10.9.0.160/32
  }
}
`)
    )
    await waitFor("keepalived MASTER", () => saw(ka, "(VI_8) Entering MASTER STATE"), 10_000)
    we = pair.peer({
      logDetail: true,
      instances: [
        {
          name: "VI_8",
          vrid: 60,
          version: 3,
          priority: 150,
          interface: "vA",
          unicastSourceIp: "10.9.0.1",
          unicastPeers: ["10.9.0.2"],
          checkUnicastSrc: true,
          virtualAddresses: ["10.9.0.160"]
        }
      ]
    })
    await waitFor("our MASTER", () => state(we, "VI_8", "MASTER"), 10_000)
    await waitFor(
      "keepalived yields",
      () => saw(ka, "(VI_8) Master received advert from 10.9.0.1 with higher priority 150, ours 100"),
      3000
    )
    expect(logged(we, "(VI_8) received lower priority (100) advert from 10.9.0.2 - discarding")).toBeDefined()
    await pair.stop(we)
    await waitFor("keepalived takes over", () => saw(ka, "(VI_8) Backup received priority 0 advertisement"), 3000)
    await pair.stop(ka)
  }, 40_000)
})
