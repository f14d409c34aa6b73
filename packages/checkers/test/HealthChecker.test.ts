import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, expect, it } from "@effect/vitest"
import { type Config, HealthChecker, Probe } from "@lvs-ts/checkers"
import { Effect } from "effect"
import { TestClock } from "effect/testing"

/** A probe whose answers the test scripts: true = success, false = failure. */
const scripted = (answers: Array<boolean>) => ({
  type: "CUSTOM" as const,
  name: "SCRIPTED",
  probe: Effect.sync(() => ((answers.shift() ?? true) ? Probe.success() : Probe.failure("Refused", "scripted failure")))
})

const switchable = (state: { ok: boolean }) => ({
  type: "CUSTOM" as const,
  name: "SWITCH",
  probe: Effect.sync(() => (state.ok ? Probe.success() : Probe.failure("Refused", "switched off")))
})

const logs = (events: ReadonlyArray<HealthChecker.Event>) =>
  events.flatMap((e) => (e._tag === "Log" ? [e.message] : []))
const director = (events: ReadonlyArray<HealthChecker.Event>) =>
  events.flatMap((e) =>
    e._tag === "AddDestination" || e._tag === "EditDestination"
      ? [`${e._tag} ${e.destination} w=${e.weight}`]
      : e._tag === "RemoveDestination"
        ? [`${e._tag} ${e.destination}`]
        : []
  )
const starts = (events: ReadonlyArray<HealthChecker.Event>) =>
  events.flatMap((e) => (e._tag === "CheckResult" ? [e.startedAt] : []))

const vs = (
  realServers: ReadonlyArray<Config.RealServer>,
  extra: Partial<Config.VirtualServer> = {}
): Config.VirtualServer => ({
  address: "192.0.2.1",
  port: 80,
  protocol: "tcp" as const,
  delayLoop: "10 seconds",
  retry: 2,
  delayBeforeRetry: "1 second",
  warmup: 0,
  connectTimeout: "3 seconds",
  realServers,
  ...extra
})

describe("HealthChecker under TestClock", () => {
  it.effect("reproduces keepalived's schedule: first result, retries while up, delay_loop while down", () =>
    Effect.gen(function* () {
      const events: Array<HealthChecker.Event> = []
      const answers = [true, false, false, false, false, true, true]
      yield* HealthChecker.make({
        virtualServers: [vs([{ address: "10.0.0.1", port: 80, checkers: [scripted(answers)] }])],
        onEvent: (e) => events.push(e),
        log: false
      })
      yield* TestClock.adjust("45 seconds")
      const t0 = starts(events)[0]!
      // ok@0, fail@10 (retry 1), fail@11 (retry 2), fail@12 -> down, fail@22 (down: delay_loop), ok@32 -> up
      expect(starts(events).map((t) => (t - t0) / 1000)).toEqual([0, 10, 11, 12, 22, 32, 42])
      expect(logs(events)).toEqual([
        "Activating healthchecker for service [10.0.0.1]:tcp:80 for VS [192.0.2.1]:tcp:80",
        "Adding service [10.0.0.1]:tcp:80 to VS [192.0.2.1]:tcp:80",
        "Gained quorum 1+0=1 <= 1 for VS [192.0.2.1]:tcp:80",
        "SCRIPTED on service [10.0.0.1]:tcp:80 succeed.",
        "SCRIPTED on service [10.0.0.1]:tcp:80 failed after 2 retries.",
        "Removing service [10.0.0.1]:tcp:80 from VS [192.0.2.1]:tcp:80",
        "Lost quorum 1-0=1 > 0 for VS [192.0.2.1]:tcp:80",
        "SCRIPTED on service [10.0.0.1]:tcp:80 succeed.",
        "Adding service [10.0.0.1]:tcp:80 to VS [192.0.2.1]:tcp:80",
        "Gained quorum 1+0=1 <= 1 for VS [192.0.2.1]:tcp:80"
      ])
    })
  )

  it.effect("first failure removes at once ('failed.'); alpha keeps a server out until its first success", () =>
    Effect.gen(function* () {
      const events: Array<HealthChecker.Event> = []
      yield* HealthChecker.make({
        virtualServers: [
          vs([
            { address: "10.0.0.1", port: 80, checkers: [scripted([false])] },
            { address: "10.0.0.2", port: 80, alpha: true, checkers: [scripted([true])] }
          ])
        ],
        onEvent: (e) => events.push(e),
        log: false
      })
      // warmup 0: both first checks ran at start
      yield* TestClock.adjust("1 second")
      expect(logs(events)).toContain("SCRIPTED on service [10.0.0.1]:tcp:80 failed.")
      expect(director(events)).toEqual([
        "AddDestination [10.0.0.1]:tcp:80 w=1",
        "RemoveDestination [10.0.0.1]:tcp:80",
        "AddDestination [10.0.0.2]:tcp:80 w=1"
      ])
    })
  )

  it.effect("quorum gain and loss with hysteresis, sorry server in and out", () =>
    Effect.gen(function* () {
      const events: Array<HealthChecker.Event> = []
      const s = [{ ok: true }, { ok: true }, { ok: true }]
      yield* HealthChecker.make({
        virtualServers: [
          vs(
            s.map((st, i) => ({ address: `10.0.0.${i + 1}`, port: 80, retry: 0, checkers: [switchable(st)] })),
            { quorum: 2, hysteresis: 1, sorryServer: { address: "10.9.9.9", port: 80 } }
          )
        ],
        onEvent: (e) => events.push(e),
        log: false
      })
      yield* TestClock.adjust("5 seconds")
      expect(logs(events)).toContain("Gained quorum 2+1=3 <= 3 for VS [192.0.2.1]:tcp:80")
      s[0]!.ok = false
      yield* TestClock.adjust("10 seconds")
      // 2 is not < q-h = 1: still up
      expect(logs(events).filter((m) => m.startsWith("Lost"))).toEqual([])
      s[1]!.ok = false
      events.length = 0
      yield* TestClock.adjust("10 seconds")
      // 1 is not < q-h = 1 either
      expect(logs(events).filter((m) => m.startsWith("Lost"))).toEqual([])
      s[2]!.ok = false
      yield* TestClock.adjust("10 seconds")
      expect(logs(events)).toEqual([
        "SWITCH on service [10.0.0.2]:tcp:80 failed.",
        "Removing service [10.0.0.2]:tcp:80 from VS [192.0.2.1]:tcp:80",
        "SWITCH on service [10.0.0.3]:tcp:80 failed.",
        "Removing service [10.0.0.3]:tcp:80 from VS [192.0.2.1]:tcp:80",
        "Lost quorum 2-1=1 > 0 for VS [192.0.2.1]:tcp:80",
        "Adding sorry server [10.9.9.9]:tcp:80 to VS [192.0.2.1]:tcp:80",
        "Removing alive servers from the pool for VS [192.0.2.1]:tcp:80"
      ])
      expect(director(events).at(-1)).toBe("AddDestination [10.9.9.9]:tcp:80 w=1")
      events.length = 0
      s[0]!.ok = true
      s[1]!.ok = true
      yield* TestClock.adjust("10 seconds")
      // 1 alive: not >= q+h = 3; 2 alive: still not; needs all three
      expect(director(events)).toEqual([])
      s[2]!.ok = true
      yield* TestClock.adjust("10 seconds")
      expect(logs(events)).toContain("Gained quorum 2+1=3 <= 3 for VS [192.0.2.1]:tcp:80")
      expect(director(events)).toEqual([
        "RemoveDestination [10.9.9.9]:tcp:80",
        "AddDestination [10.0.0.1]:tcp:80 w=1",
        "AddDestination [10.0.0.2]:tcp:80 w=1",
        "AddDestination [10.0.0.3]:tcp:80 w=1"
      ])
      const hc = yield* HealthChecker.make({ virtualServers: [], log: false })
      assert.strictEqual((yield* hc.stats).checks, 0)
    })
  )

  it.effect("a checker that hangs is cut at connect_timeout and counts as a failure", () =>
    Effect.gen(function* () {
      const events: Array<HealthChecker.Event> = []
      yield* HealthChecker.make({
        virtualServers: [
          vs([{ address: "10.0.0.1", port: 80, checkers: [{ type: "CUSTOM", name: "HANG", probe: Effect.never }] }])
        ],
        onEvent: (e) => events.push(e),
        log: false
      })
      yield* TestClock.adjust("2 seconds")
      expect(logs(events).some((m) => m.includes("failed"))).toBe(false)
      yield* TestClock.adjust("2 seconds")
      expect(logs(events)).toContain("HANG on service [10.0.0.1]:tcp:80 failed.")
    })
  )

  it.effect("flap damper holds a flapping server down with exponential back-off, visible in the snapshot", () =>
    Effect.gen(function* () {
      const events: Array<HealthChecker.Event> = []
      const st = { ok: true }
      const hc = yield* HealthChecker.make({
        virtualServers: [vs([{ address: "10.0.0.1", port: 80, retry: 0, checkers: [switchable(st)] }])],
        onEvent: (e) => events.push(e),
        log: false,
        flapDamper: { threshold: 2, windowMs: 120_000, holdMs: 30_000 }
      })
      // flap: down at 10, up at 20, down at 30 -> second down within the window: hold 30 s
      for (const ok of [false, true, false]) {
        yield* TestClock.adjust("10 seconds")
        st.ok = ok
      }
      yield* TestClock.adjust("10 seconds")
      st.ok = true
      const snap = yield* hc.snapshot
      const rs = snap.virtualServers[0]!.realServers[0]!
      expect(rs.damper?.held).toBe(true)
      expect(rs.damper?.level).toBe(1)
      expect(logs(events).filter((m) => m.startsWith("Flap damper"))).toEqual([
        "Flap damper: holding [10.0.0.1]:tcp:80 of VS [192.0.2.1]:tcp:80 down for 30000 ms (level 1)"
      ])
      // the checker is up again but the server stays out until the hold-down ends
      yield* TestClock.adjust("15 seconds")
      expect((yield* hc.snapshot).virtualServers[0]!.realServers[0]!.alive).toBe(false)
      yield* TestClock.adjust("20 seconds")
      expect((yield* hc.snapshot).virtualServers[0]!.realServers[0]!.alive).toBe(true)
      // flapping again in the episode doubles the hold-down
      st.ok = false
      yield* TestClock.adjust("10 seconds")
      expect(
        logs(events)
          .filter((m) => m.startsWith("Flap damper"))
          .at(-1)
      ).toBe("Flap damper: holding [10.0.0.1]:tcp:80 of VS [192.0.2.1]:tcp:80 down for 60000 ms (level 2)")
    })
  )

  it.live("runs notify_down / notify_up without a shell", () =>
    Effect.gen(function* () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `checkers-${process.pid}-`))
      const st = { ok: true }
      yield* HealthChecker.make({
        virtualServers: [
          vs(
            [
              {
                address: "10.0.0.1",
                port: 80,
                retry: 0,
                notifyDown: ["/usr/bin/touch", path.join(dir, "down marker")],
                notifyUp: ["/usr/bin/touch", path.join(dir, "up")],
                checkers: [switchable(st)]
              }
            ],
            { delayLoop: "50 millis" }
          )
        ],
        log: false
      })
      st.ok = false
      yield* Effect.sleep("400 millis")
      st.ok = true
      yield* Effect.sleep("400 millis")
      // the space stays inside one argument: no shell word splitting
      expect(fs.existsSync(path.join(dir, "down marker"))).toBe(true)
      expect(fs.existsSync(path.join(dir, "up"))).toBe(true)
      fs.rmSync(dir, { recursive: true, force: true })
    })
  )

  it.live("omega runs notify_down and quorum_down at shutdown, in line", () =>
    Effect.gen(function* () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `checkers-${process.pid}-omega-`))
      yield* Effect.scoped(
        HealthChecker.make({
          virtualServers: [
            vs(
              [
                {
                  address: "10.0.0.1",
                  port: 80,
                  notifyDown: ["/usr/bin/touch", path.join(dir, "rs-down")],
                  checkers: [switchable({ ok: true })]
                }
              ],
              { omega: true, quorumDown: ["/usr/bin/touch", path.join(dir, "quorum-down")] }
            )
          ],
          log: false
        })
      )
      expect(fs.existsSync(path.join(dir, "rs-down"))).toBe(true)
      expect(fs.existsSync(path.join(dir, "quorum-down"))).toBe(true)
      fs.rmSync(dir, { recursive: true, force: true })
    })
  )

  it.effect("suspend stops the checkers of one real server (its FiberMap entry), the others go on", () =>
    Effect.gen(function* () {
      const events: Array<HealthChecker.Event> = []
      const hc = yield* HealthChecker.make({
        virtualServers: [
          vs([
            { address: "10.0.0.1", port: 80, checkers: [switchable({ ok: true })] },
            { address: "10.0.0.2", port: 80, checkers: [switchable({ ok: true })] }
          ])
        ],
        onEvent: (e) => events.push(e),
        log: false
      })
      yield* TestClock.adjust("15 seconds")
      yield* hc.suspend("[192.0.2.1]:tcp:80", "[10.0.0.1]:tcp:80")
      events.length = 0
      yield* TestClock.adjust("30 seconds")
      const checked = new Set(events.flatMap((e) => (e._tag === "CheckResult" ? [e.destination] : [])))
      expect([...checked]).toEqual(["[10.0.0.2]:tcp:80"])
    })
  )
})
