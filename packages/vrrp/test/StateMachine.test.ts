/**
 * State machine under TestClock (reference §2.6–§2.7, §2.16 timings): routers with real TAP transports
 * exchanging real frames on a virtual link.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import type { Config } from "../src/index.ts"
import { Link, lines, node, transitionAt } from "./helpers/Link.ts"

const v2plain = (name: string, priority: number, address: string, extra: Partial<Config.Input> = {}): Config.Input => ({
  name,
  vrid: 51,
  priority,
  primaryAddress: address,
  virtualAddresses: ["10.9.0.100"],
  ...extra
})

const v3inst = (name: string, priority: number, address: string, extra: Partial<Config.Input> = {}): Config.Input => ({
  name,
  vrid: 52,
  version: 3,
  advertInterval: 0.5,
  priority,
  primaryAddress: address,
  virtualAddresses: ["10.9.0.101", "10.9.0.102"],
  ...extra
})

describe("timers (reference §2.6, observed §2.16)", () => {
  it.effect("v2 prio 100, advert 1 s: BACKUP -> MASTER after 3 x 1 + 156/256 = 3.609375 s", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const b = yield* node(link, "B", { instances: [v2plain("V2_plain", 100, "10.9.0.2")] })
      expect(b.state("V2_plain")).toBe("BACKUP")
      expect(lines(b)).toContain("(V2_plain) Entering BACKUP STATE (init)")
      yield* TestClock.adjust(3609)
      expect(b.state("V2_plain")).toBe("BACKUP")
      yield* TestClock.adjust(1)
      expect(b.state("V2_plain")).toBe("MASTER")
      expect(transitionAt(b, "V2_plain", "MASTER")).toBe(3609.375)
      expect(lines(b)).toEqual(
        expect.arrayContaining([
          "(V2_plain) Receive advertisement timeout",
          "(V2_plain) Entering MASTER STATE",
          "(V2_plain) setting VIPs."
        ])
      )
      // The advert goes out first, then VIPs are set, then GARPs.
      const first = link.frames.findIndex((f) => f.frame[12] === 0x08 && f.frame[13] === 0x00)
      const garp = link.frames.findIndex((f) => f.frame[13] === 0x06)
      expect(first).toBeGreaterThanOrEqual(0)
      expect(first).toBeLessThan(garp)
      // A master advertises every advert_int.
      yield* TestClock.adjust(5000)
      const sent = link.adverts("B").map((a) => a.at)
      expect(sent.slice(0, 6)).toEqual([3609.375, 4609.375, 5609.375, 6609.375, 7609.375, 8609.375])
    })
  )

  it.effect("v3 prio 100, advert 0.5 s: takeover after 3 x 0.5 + 156 x 0.5/256 = 1.8046875 s", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const b = yield* node(link, "B", { instances: [v3inst("V3_inst", 100, "10.9.0.2")] })
      yield* TestClock.adjust(1804)
      expect(b.state("V3_inst")).toBe("BACKUP")
      yield* TestClock.adjust(1)
      expect(b.state("V3_inst")).toBe("MASTER")
      // keepalived computes skew in whole microseconds: 156 x 500000 / 256 = 304687.5 -> 304687.
      expect(transitionAt(b, "V3_inst", "MASTER")).toBe(1804.687)
      yield* TestClock.adjust(1000)
      const a = link.adverts("B")
      expect(a[1]!.at - a[0]!.at).toBe(500)
    })
  )

  it.effect("higher priority preempts: A 150 discards B's adverts and takes over after 3 + 106/256 s", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const b = yield* node(link, "B", { instances: [v2plain("V2_plain", 100, "10.9.0.2")] })
      yield* TestClock.adjust(5000)
      expect(b.state("V2_plain")).toBe("MASTER")
      const a = yield* node(link, "A", { instances: [v2plain("V2_plain", 150, "10.9.0.1")] })
      yield* TestClock.adjust(5000)
      expect(a.state("V2_plain")).toBe("MASTER")
      expect(b.state("V2_plain")).toBe("BACKUP")
      // 3 s + 106/256 s, in whole microseconds like keepalived: 3.414062 s.
      expect(transitionAt(a, "V2_plain", "MASTER")! - 5000).toBe(3414.062)
      expect(lines(a)).toContain("(V2_plain) received lower priority (100) advert from 10.9.0.2 - discarding")
      // Logged once, although three lower-priority adverts were discarded.
      expect(lines(a).filter((l) => l.includes("discarding"))).toHaveLength(1)
      expect(lines(b)).toContain("(V2_plain) Master received advert from 10.9.0.1 with higher priority 150, ours 100")
      expect(lines(b)).toContain("(V2_plain) Entering BACKUP STATE")
      expect(lines(b)).toContain("(V2_plain) removing VIPs.")
      expect(transitionAt(b, "V2_plain", "BACKUP", 5000)).toBe(transitionAt(a, "V2_plain", "MASTER"))
    })
  )

  it.effect("priority-0 advert on stop: the backup takes over after its skew (0.609 s at prio 100)", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const b = yield* node(link, "B", { instances: [v2plain("V2_plain", 100, "10.9.0.2")] })
      const a = yield* node(link, "A", { instances: [v2plain("V2_plain", 150, "10.9.0.1")] })
      yield* TestClock.adjust(10_000)
      expect(a.state("V2_plain")).toBe("MASTER")
      yield* TestClock.adjust(300)
      yield* a.stop
      expect(a.state("V2_plain")).toBe("STOP")
      const zero = link.adverts("A").filter((x) => x.priority === 0)
      expect(zero).toHaveLength(1)
      const stoppedAt = zero[0]!.at
      yield* TestClock.adjust(2000)
      expect(b.state("V2_plain")).toBe("MASTER")
      expect(transitionAt(b, "V2_plain", "MASTER", stoppedAt)! - stoppedAt).toBe(609.375)
      expect(lines(b)).toContain("(V2_plain) Backup received priority 0 advertisement")
      expect(lines(a)).toContain("(V2_plain) sent 0 priority")
    })
  )

  it.effect("a silent master (link failure): the backup takes over after Master_Down_Interval", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const b = yield* node(link, "B", { instances: [v2plain("V2_plain", 100, "10.9.0.2")] })
      const a = yield* node(link, "A", { instances: [v2plain("V2_plain", 150, "10.9.0.1")] })
      yield* TestClock.adjust(10_000)
      link.setUp("A", false)
      const lastA = link.adverts("A").at(-1)!.at
      yield* TestClock.adjust(5000)
      expect(a.state("V2_plain")).toBe("MASTER")
      expect(transitionAt(b, "V2_plain", "MASTER", 5000)! - lastA).toBe(3609.375)
    })
  )

  it.effect("v3 backups adopt the master's interval (0.5 s master, 1 s backup: down after 1.5 s + skew)", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const a = yield* node(link, "A", { instances: [v3inst("V3", 200, "10.9.0.1")] })
      const b = yield* node(link, "B", { instances: [v3inst("V3", 100, "10.9.0.2", { advertInterval: 1 })] })
      yield* TestClock.adjust(5000)
      expect(a.state("V3")).toBe("MASTER")
      expect(b.engines.get("V3")!.masterAdverInterval).toBe(50)
      expect(lines(b).join("\n")).toContain("advertisement interval mismatch ours = 100 centi-sec rcv'd=50 centi-sec")
      link.setUp("A", false)
      const lastA = link.adverts("A").at(-1)!.at
      yield* TestClock.adjust(5000)
      expect(transitionAt(b, "V3", "MASTER")! - lastA).toBe(1500 + 304.687)
      // Its own adverts still go out every local advert_int (1 s).
      const sent = link.adverts("B").map((x) => x.at)
      expect(sent[1]! - sent[0]!).toBe(1000)
    })
  )
})

describe("election rules (reference §2.6–§2.7)", () => {
  it.effect("nopreempt: a higher-priority backup never takes over from a running master", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const b = yield* node(link, "B", { instances: [v2plain("V2_plain", 100, "10.9.0.2")] })
      yield* TestClock.adjust(5000)
      const a = yield* node(link, "A", { instances: [v2plain("V2_plain", 150, "10.9.0.1", { nopreempt: true })] })
      yield* TestClock.adjust(30_000)
      expect(a.state("V2_plain")).toBe("BACKUP")
      expect(b.state("V2_plain")).toBe("MASTER")
      expect(a.engines.get("V2_plain")!.masterSource).toBe("10.9.0.2")
    })
  )

  it.effect("preempt_delay 2 s: takeover within [pd + MDI - advert_int, pd + MDI] after the first lower advert", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const b = yield* node(link, "B", { instances: [v2plain("V2_plain", 100, "10.9.0.2")] })
      yield* TestClock.adjust(5000)
      const a = yield* node(link, "A", { instances: [v2plain("V2_plain", 150, "10.9.0.1", { preemptDelay: 2 })] })
      yield* TestClock.adjust(10_000)
      const firstLower = link.adverts("B").find((x) => x.at >= 5000)!.at
      const took = transitionAt(a, "V2_plain", "MASTER")!
      const mdi = 3414.062
      expect(took - firstLower).toBeGreaterThanOrEqual(2000 + mdi - 1000)
      expect(took - firstLower).toBeLessThanOrEqual(2000 + mdi)
      // Without the delay the same setup takes over after MDI measured from A's start.
      expect(took - 5000).toBeGreaterThan(mdi)
      expect(b.state("V2_plain")).toBe("BACKUP")
    })
  )

  it.effect("a master answers a lower-priority advert at once (split brain healed) and re-sends GARPs", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const a = yield* node(link, "A", { instances: [v2plain("V2_plain", 150, "10.9.0.1")] })
      const b = yield* node(link, "B", { instances: [v2plain("V2_plain", 100, "10.9.0.2")] })
      link.setSide("B", 1)
      yield* TestClock.adjust(10_000)
      expect(a.state("V2_plain")).toBe("MASTER")
      expect(b.state("V2_plain")).toBe("MASTER")
      // Heal between A's advert (10.414 s) and B's (10.609 s), so B's lower-priority advert reaches A first.
      yield* TestClock.adjust(500)
      link.setSide("B", 0)
      const garpsBefore = link.garps("A").length
      yield* TestClock.adjust(1000)
      const bAdvert = link.adverts("B").find((x) => x.at >= 10_500)!
      const answer = link.adverts("A").find((x) => x.at >= bAdvert.at)!
      expect(answer.at).toBe(bAdvert.at)
      expect(lines(a)).toContain(
        "(V2_plain) Received advert from 10.9.0.2 with lower priority 100, ours 150, forcing new election"
      )
      expect(b.state("V2_plain")).toBe("BACKUP")
      expect(link.garps("A").length - garpsBefore).toBe(5)
    })
  )

  it.effect("equal priorities: the higher primary address wins between two masters", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const a = yield* node(link, "A", { instances: [v2plain("V2_plain", 100, "10.9.0.1")] })
      const b = yield* node(link, "B", { instances: [v2plain("V2_plain", 100, "10.9.0.2")] })
      link.setSide("B", 1)
      yield* TestClock.adjust(5000)
      link.setSide("B", 0)
      yield* TestClock.adjust(3000)
      expect(b.state("V2_plain")).toBe("MASTER")
      expect(a.state("V2_plain")).toBe("BACKUP")
      expect(lines(a)).toContain(
        "(V2_plain) Master received advert from 10.9.0.2 with same priority 100 but higher IP address than ours"
      )
    })
  )

  it.effect("the address owner (255) is MASTER at once; an equal-priority backup accepts the master", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const o = yield* node(link, "O", { instances: [v2plain("V2_plain", 255, "10.9.0.1")] })
      expect(o.state("V2_plain")).toBe("MASTER")
      expect(transitionAt(o, "V2_plain", "MASTER")).toBe(0)
      expect(o.engines.get("V2_plain")!.instance.wantedState).toBe("MASTER")
      const b = yield* node(link, "B", { instances: [v2plain("V2_plain", 254, "10.9.0.2")] })
      yield* TestClock.adjust(20_000)
      expect(b.state("V2_plain")).toBe("BACKUP")
    })
  )

  it.effect("FAULT from MASTER sends two priority-0 adverts back to back; the backup takes over in skew time", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const a = yield* node(link, "A", { instances: [v2plain("V2_plain", 150, "10.9.0.1")] })
      const b = yield* node(link, "B", { instances: [v2plain("V2_plain", 100, "10.9.0.2")] })
      yield* TestClock.adjust(10_000)
      yield* a.setFault("V2_plain", "interface eth0 down", true)
      expect(a.state("V2_plain")).toBe("FAULT")
      const zeros = link.adverts("A").filter((x) => x.priority === 0)
      expect(zeros).toHaveLength(2)
      expect(zeros[0]!.at).toBe(zeros[1]!.at)
      // IP IDs n and n+1.
      expect(zeros[1]!.id).toBe(zeros[0]!.id + 1)
      yield* TestClock.adjust(1000)
      expect(transitionAt(b, "V2_plain", "MASTER", 10_000)! - zeros[0]!.at).toBe(609.375)
      expect(lines(a)).toContain("(V2_plain) Entering FAULT STATE")
      // Recovery: back to BACKUP (B is master at 100, A at 150 preempts after its down timer).
      yield* a.setFault("V2_plain", "interface eth0 down", false)
      expect(a.state("V2_plain")).toBe("BACKUP")
      yield* TestClock.adjust(5000)
      expect(a.state("V2_plain")).toBe("MASTER")
    })
  )

  it.effect("bad adverts never change state: a flood of wrong-password adverts at priority 254", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const pass = { authentication: { type: "PASS" as const, password: "secret12" } }
      const b = yield* node(link, "B", { instances: [v2plain("V2_pass", 100, "10.9.0.2", pass)] })
      const evil = yield* node(link, "E", {
        instances: [
          v2plain("V2_pass", 254, "10.9.0.66", { state: "MASTER", authentication: { type: "PASS", password: "wrong" } })
        ]
      })
      yield* TestClock.adjust(10_000)
      expect(evil.state("V2_pass")).toBe("MASTER")
      // B ignored the bad adverts: it took over on its own timer at exactly 3.609375 s and stays MASTER.
      expect(transitionAt(b, "V2_pass", "MASTER")).toBe(3609.375)
      expect(b.state("V2_pass")).toBe("MASTER")
      expect(b.transitions).toHaveLength(2)
      expect(b.engines.get("V2_pass")!.counters.authFailure).toBe(7)
      // Logged once per cause, again once after the flags were cleared on entering MASTER.
      const bad = b.log.filter((l) => l.message.includes("invalid passwd"))
      expect(bad.map((l) => l.message)).toEqual([
        "(V2_pass) received an invalid passwd from 10.9.0.66!",
        "(V2_pass) received an invalid passwd from 10.9.0.66!"
      ])
      expect(bad[0]!.at).toBeLessThan(3609.375)
      expect(bad[1]!.at).toBeGreaterThan(3609.375)
    })
  )
})

describe("GARP (reference §2.9)", () => {
  it.effect("garp_master_repeat 2, delay 2: two ARPs per VIP at once and two more 2 s later", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const b = yield* node(link, "B", {
        instances: [v3inst("V3_inst", 100, "10.9.0.2", { garp: { masterRepeat: 2, masterDelay: 2 } })]
      })
      yield* TestClock.adjust(10_000)
      expect(b.state("V3_inst")).toBe("MASTER")
      const t = transitionAt(b, "V3_inst", "MASTER")!
      const times = link.garps("B").map((g) => g.at - t)
      expect(times).toEqual([0, 0, 0, 0, 2000, 2000, 2000, 2000])
      // keepalived's form: who-has VIP tell VIP, target MAC ff:ff:ff:ff:ff:ff, from the virtual MAC.
      const g = Buffer.from(link.garps("B")[0]!.frame).toString("hex")
      expect(g).toBe(
        "ffffffffffff00005e0001340806" + "0001080006040001" + "00005e000134" + "0a090065" + "ffffffffffff" + "0a090065"
      )
    })
  )
})

describe("two address owners (reference §2.7, HEAD)", () => {
  it.effect("the lower-address owner yields, the higher one stays MASTER; both log the conflict", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const b = yield* node(link, "B", { instances: [v2plain("V2_plain", 255, "10.9.0.2")] })
      const a = yield* node(link, "A", { instances: [v2plain("V2_plain", 255, "10.9.0.1")] })
      yield* TestClock.adjust(3000)
      expect(a.state("V2_plain")).toBe("BACKUP")
      expect(b.state("V2_plain")).toBe("MASTER")
      const conflict = (who: string) =>
        `(V2_plain) CONFIGURATION ERROR: local instance and ${who} are both configured as address owner, please resolve`
      expect(lines(a)).toContain(conflict("10.9.0.2"))
      expect(lines(b).filter((l) => l === conflict("10.9.0.1"))).toHaveLength(1)
      expect(lines(a)).toContain(
        "(V2_plain) Master received advert from 10.9.0.2 with same priority 255 but higher IP address than ours"
      )
    })
  )
})

describe("more GARP and election options", () => {
  it.effect("garp_master_refresh re-announces periodically while MASTER", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const b = yield* node(link, "B", {
        instances: [
          v2plain("V2_plain", 100, "10.9.0.2", {
            garp: { masterRepeat: 1, masterDelay: 0, masterRefresh: 10, masterRefreshRepeat: 2 }
          })
        ]
      })
      yield* TestClock.adjust(30_000)
      const t = transitionAt(b, "V2_plain", "MASTER")!
      expect(link.garps("B").map((g) => g.at - t)).toEqual([0, 10_000, 10_000, 20_000, 20_000])
    })
  )

  it.effect("higher_prio_send_advert: a yielding master sends one more advert first", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const b = yield* node(link, "B", {
        instances: [v2plain("V2_plain", 100, "10.9.0.2", { higherPrioSendAdvert: true })]
      })
      yield* TestClock.adjust(5000)
      yield* node(link, "A", { instances: [v2plain("V2_plain", 150, "10.9.0.1", { state: "MASTER" })] })
      yield* TestClock.adjust(5000)
      expect(b.state("V2_plain")).toBe("BACKUP")
      const yielded = transitionAt(b, "V2_plain", "BACKUP", 5000)!
      expect(
        link
          .adverts("B")
          .filter((x) => x.at === yielded)
          .map((x) => x.priority)
      ).toEqual([100])
    })
  )
})
