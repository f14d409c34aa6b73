import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { Config, Engine, Tracker } from "../src/index.ts"
import { Link, lines, node } from "./helpers/Link.ts"

const realWait = (ms: number) => Effect.promise(() => new Promise<void>((r) => setTimeout(r, ms)))

describe("rise/fall counter (reference §2.8, exact rule)", () => {
  it("the first result after start applies at once; then fall failures to go down, rise successes to come up", () => {
    const rf = new Tracker.RiseFall({ rise: 2, fall: 2 })
    expect([rf.counter, rf.status]).toEqual([1, "init"])
    // Observed: the first failure reduced priority at once despite fall 2…
    expect(rf.record(false)).toEqual({ status: "ko", changed: true })
    expect(rf.counter).toBe(0)
    // …and the recovery needed 2 successes.
    expect(rf.record(true)).toEqual({ status: "ko", changed: false })
    expect(rf.record(true)).toEqual({ status: "ok", changed: true })
    expect(rf.counter).toBe(3)
    // From fully OK, fall (2) consecutive failures go down; a success in between resets to max.
    expect(rf.record(false).status).toBe("ok")
    expect(rf.record(true).status).toBe("ok")
    expect(rf.counter).toBe(3)
    expect(rf.record(false).status).toBe("ok")
    expect(rf.record(false)).toEqual({ status: "ko", changed: true })
  })

  it("a first success applies at once; init_fail starts failed and needs rise successes", () => {
    const ok = new Tracker.RiseFall({ rise: 3, fall: 1 })
    expect(ok.record(true)).toEqual({ status: "ok", changed: true })
    const failing = new Tracker.RiseFall({ rise: 3, fall: 1, initFail: true })
    expect(failing.status).toBe("ko")
    expect(failing.record(true).status).toBe("ko")
    expect(failing.record(true).status).toBe("ko")
    expect(failing.record(true)).toEqual({ status: "ok", changed: true })
    expect(failing.record(false)).toEqual({ status: "ko", changed: true })
  })

  it("matches a reference model of the counter over random sequences", () => {
    // Independent model: OK after `rise` consecutive successes from KO, KO after `fall` consecutive failures
    // from OK, first result applied at once (unless init_fail).
    for (let seed = 1; seed < 200; seed++) {
      let x = seed
      const rnd = () => {
        x = (x * 1103515245 + 12345) & 0x7fffffff
        return x
      }
      const rise = 1 + (rnd() % 4)
      const fall = 1 + (rnd() % 4)
      const rf = new Tracker.RiseFall({ rise, fall })
      let model: "init" | "ok" | "ko" = "init"
      let run = 0
      let last: boolean | undefined
      for (let i = 0; i < 40; i++) {
        const r = rnd() % 3 !== 0
        run = r === last ? run + 1 : 1
        last = r
        if (model === "init") model = r ? "ok" : "ko"
        else if (model === "ko" && r && run >= rise) model = "ok"
        else if (model === "ok" && !r && run >= fall) model = "ko"
        expect(rf.record(r).status).toBe(model)
      }
    }
  })
})

describe("weights (reference §2.8)", () => {
  it("weight 0 faults on failure (reverse: while up); +w while OK; -w while failed; reverse flips", () => {
    expect(Tracker.weighted("ko", 0, false)).toEqual({ fault: true, adjustment: 0 })
    expect(Tracker.weighted("ok", 0, true)).toEqual({ fault: true, adjustment: 0 })
    expect(Tracker.weighted("ok", 0, false)).toEqual({ fault: false, adjustment: 0 })
    expect(Tracker.weighted("init", 0, false).fault).toBe(true)
    expect(Tracker.weighted("ok", 10, false).adjustment).toBe(10)
    expect(Tracker.weighted("ko", 10, false).adjustment).toBe(0)
    expect(Tracker.weighted("ko", -20, false).adjustment).toBe(-20)
    expect(Tracker.weighted("ok", -20, false).adjustment).toBe(0)
    expect(Tracker.weighted("ko", 10, true).adjustment).toBe(-10)
    expect(Tracker.weighted("ok", -20, true).adjustment).toBe(20)
    expect(Tracker.weighted("init", 10, false).adjustment).toBe(0)
  })

  it("track_file: value x weight, reverse negates, clamp [-254, 253], -254 = FAULT; weight 0: non-zero fails", () => {
    expect(Tracker.fileEffect(5, -2, false)).toEqual({ fault: false, adjustment: -10 })
    expect(Tracker.fileEffect(5, -2, true)).toEqual({ fault: false, adjustment: 10 })
    expect(Tracker.fileEffect(1000, 1, false)).toEqual({ fault: false, adjustment: 253 })
    expect(Tracker.fileEffect(-1000, 1, false)).toEqual({ fault: true, adjustment: 0 })
    expect(Tracker.fileEffect(3, 0, false).fault).toBe(true)
    expect(Tracker.fileEffect(0, 0, true).fault).toBe(true)
    expect(Tracker.fileEffect(0, 0, false).fault).toBe(false)
  })

  it("notify_priority_changes: a MASTER_PRIORITY / BACKUP_PRIORITY event on each change", () => {
    const e = new Engine.Engine(
      Config.make({ name: "VI", vrid: 1, notify: { priorityChanges: true }, virtualAddresses: ["10.0.0.1"] }).instance
    )
    e.start(0)
    expect(e.setAdjustment(-10, 0).filter((a) => a._tag === "Notify")).toEqual([
      { _tag: "Notify", event: "BACKUP_PRIORITY", priority: 90 }
    ])
    e.tick(10_000_000)
    expect(e.state).toBe("MASTER")
    expect(e.setAdjustment(0, 0).filter((a) => a._tag === "Notify")).toEqual([
      { _tag: "Notify", event: "MASTER_PRIORITY", priority: 100 }
    ])
  })

  it("effective priority is clamped to 1..254; owners never move; BACKUP down timer shifts by the MDI change", () => {
    const e = new Engine.Engine(
      Config.make({ name: "VI", vrid: 1, priority: 100, virtualAddresses: ["10.0.0.1"] }).instance
    )
    e.start(0)
    const before = e.downTimerExpiry!
    expect(e.setAdjustment(500, 0)).toEqual([
      { _tag: "Log", level: "info", message: "(VI) Changing effective priority from 100 to 254" }
    ])
    expect(e.priority).toBe(254)
    // skew(254) - skew(100) = (2 - 156)/256 s.
    expect(e.downTimerExpiry! - before).toBe(Math.floor((2 * 1e6) / 256) - Math.floor((156 * 1e6) / 256))
    e.setAdjustment(-500, 0)
    expect(e.priority).toBe(1)
    const owner = new Engine.Engine(
      Config.make({ name: "O", vrid: 1, priority: 255, virtualAddresses: ["10.0.0.1"] }).instance
    )
    expect(owner.setAdjustment(-100, 0)).toEqual([])
    expect(owner.priority).toBe(255)
  })
})

describe("trackers in a running router (real scripts and files)", () => {
  it.effect(
    "a weighted script (rise 2, fall 2) moves the priority and the master role; a track_file faults",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "vrrp-track-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        const ok = join(dir, "ok")
        writeFileSync(ok, "")
        const prio = join(dir, "prio")
        writeFileSync(prio, "0")
        const link = yield* Link.make
        const a = yield* node(link, "A", {
          instances: [
            {
              name: "VI",
              vrid: 51,
              priority: 100,
              primaryAddress: "10.9.0.1",
              virtualAddresses: ["10.9.0.100"],
              trackScripts: [{ name: "chk" }],
              trackFiles: [{ name: "f" }]
            }
          ],
          scripts: [{ name: "chk", script: `/usr/bin/test -e ${ok}`, weight: -60, rise: 2, fall: 2 }],
          files: [{ name: "f", file: prio }]
        })
        const b = yield* node(link, "B", {
          instances: [
            { name: "VI", vrid: 51, priority: 80, primaryAddress: "10.9.0.2", virtualAddresses: ["10.9.0.100"] }
          ]
        })
        // Each step advances the clock by exactly one script interval (1 s), then waits in real time for that
        // run's result; larger jumps would also fire the run's own timeout timer on the TestClock.
        const runs = () => a.scripts.get("chk")?.runs ?? 0
        const step = (seconds: number) =>
          Effect.gen(function* () {
            for (let i = 0; i < seconds; i++) {
              const before = runs()
              yield* TestClock.adjust(1000)
              const end = Date.now() + 10_000
              while (runs() === before && Date.now() < end) yield* realWait(10)
              expect(runs()).toBe(before + 1)
            }
          })
        while (runs() === 0) yield* realWait(10)
        yield* step(5)
        expect(a.state("VI")).toBe("MASTER")
        expect(a.engines.get("VI")!.priority).toBe(100)
        // Script starts failing: from fully OK it takes fall = 2 failures.
        rmSync(ok)
        yield* step(1)
        expect(a.engines.get("VI")!.priority).toBe(100)
        yield* step(1)
        expect(a.engines.get("VI")!.priority).toBe(40)
        expect(lines(a)).toContain("(VI) Changing effective priority from 100 to 40")
        expect(lines(a)).toContain("VRRP_Script(chk) failed (exited with status 1)")
        expect(lines(a)).toContain("Script `chk` now returning 1")
        // B (80) now discards A's priority-40 adverts and takes over after its down timer.
        yield* step(4)
        expect(b.state("VI")).toBe("MASTER")
        expect(a.state("VI")).toBe("BACKUP")
        // Recovery needs rise = 2 successes; then A (100) preempts B (80).
        writeFileSync(ok, "")
        yield* step(1)
        expect(a.engines.get("VI")!.priority).toBe(40)
        yield* step(1)
        expect(a.engines.get("VI")!.priority).toBe(100)
        expect(lines(a)).toContain("VRRP_Script(chk) succeeded")
        yield* step(5)
        expect(a.state("VI")).toBe("MASTER")
        // track_file with the default weight 1: -254 means FAULT (files are polled every second).
        writeFileSync(prio, "-254")
        yield* step(1)
        const end = Date.now() + 5000
        while (a.state("VI") !== "FAULT" && Date.now() < end) {
          yield* TestClock.adjust(1)
          yield* realWait(10)
        }
        expect(a.state("VI")).toBe("FAULT")
        expect(lines(a)).toContain("(VI) Entering FAULT STATE")
        expect(lines(a)).toContain("(VI) fault reason: tracked file f")
      }),
    20_000
  )
})

describe("script runner (no shell, timeout)", () => {
  it.live("exit codes, signals and timeouts with keepalived's texts; the timed-out process group is killed", () =>
    Effect.gen(function* () {
      expect(yield* Tracker.runScript("/bin/true", 1)).toEqual({ _tag: "Exited", code: 0 })
      expect(yield* Tracker.runScript("/bin/sh -c 'exit 3'", 1)).toEqual({ _tag: "Exited", code: 3 })
      // No shell: metacharacters are plain arguments.
      expect(yield* Tracker.runScript("/usr/bin/test x = 'x;' ", 1)).toEqual({ _tag: "Exited", code: 1 })
      expect(yield* Tracker.runScript("/bin/sh -c 'kill -KILL $$'", 1)).toEqual({
        _tag: "Signalled",
        signal: "SIGKILL"
      })
      expect(yield* Tracker.runScript("/no/such/script", 1)).toEqual({ _tag: "Exited", code: 127 })
      const started = Date.now()
      const r = yield* Tracker.runScript("/bin/sleep 30", 0.3)
      expect(r).toEqual({ _tag: "TimedOut" })
      expect(Date.now() - started).toBeLessThan(2000)
      expect(Tracker.failureText("chk", r)).toBe("VRRP_Script(chk) timed_out")
      expect(Tracker.failureText("chk", { _tag: "Signalled", signal: "SIGKILL" })).toBe(
        "VRRP_Script(chk) failed (due to signal 9)"
      )
      // The sleep was killed (its process group got SIGTERM).
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 100)))
      const { execFileSync } = yield* Effect.promise(() => import("node:child_process"))
      const left = (() => {
        try {
          return execFileSync("pgrep", ["-f", "^/bin/sleep 30$"], { encoding: "utf8" }).trim()
        } catch {
          return ""
        }
      })()
      expect(left).toBe("")
    })
  )

  it.effect("an instance waiting for an unweighted script's first result is held in FAULT silently", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const a = yield* node(link, "A", {
        instances: [
          {
            name: "VI",
            vrid: 51,
            primaryAddress: "10.9.0.1",
            virtualAddresses: ["10.9.0.100"],
            trackScripts: [{ name: "chk" }]
          }
        ],
        scripts: [{ name: "chk", script: "/bin/true" }]
      })
      expect(a.transitions[0]?.to ?? "FAULT").toBe("FAULT")
      for (let i = 0; i < 500 && (a.scripts.get("chk")?.runs ?? 0) === 0; i++) yield* realWait(10)
      yield* TestClock.adjust(1)
      expect(a.state("VI")).toBe("BACKUP")
      expect(lines(a)).toEqual(["VRRP_Script(chk) succeeded", "(VI) Entering BACKUP STATE"])
    })
  )
})
