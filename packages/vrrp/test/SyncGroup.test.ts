import { execFileSync } from "node:child_process"
import {
  chmodSync,
  closeSync,
  constants,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync
} from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import type { Config } from "../src/index.ts"
import { Link, lines, node, transitionAt } from "./helpers/Link.ts"

const member = (name: string, vrid: number, priority: number, address: string): Config.Input => ({
  name,
  vrid,
  priority,
  primaryAddress: address,
  virtualAddresses: [`10.9.${vrid}.100`]
})

const realWait = (ms: number) => Effect.promise(() => new Promise<void>((r) => setTimeout(r, ms)))

describe("sync groups (reference §2.10)", () => {
  it.effect(
    "members move together: a fault in one member moves the whole group, and the peer group takes over",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "vrrp-sync-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        const out = join(dir, "out")
        const script = join(dir, "notify.sh")
        writeFileSync(script, `#!/bin/sh\necho "$@" >> ${out}\n`)
        chmodSync(script, 0o755)
        const fifo = join(dir, "fifo")
        execFileSync("mkfifo", [fifo])
        const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK)
        yield* Effect.addFinalizer(() => Effect.sync(() => closeSync(fd)))
        const link = yield* Link.make
        const a = yield* node(link, "A", {
          instances: [member("VI_1", 51, 150, "10.9.0.1"), member("VI_2", 52, 150, "10.9.0.1")],
          syncGroups: [{ name: "G", members: ["VI_1", "VI_2"], notify: { generic: script, fifo } }]
        })
        const b = yield* node(link, "B", {
          instances: [member("VI_1", 51, 100, "10.9.0.2"), member("VI_2", 52, 100, "10.9.0.2")],
          syncGroups: [{ name: "G", members: ["VI_1", "VI_2"] }]
        })
        yield* TestClock.adjust(5000)
        expect([a.state("VI_1"), a.state("VI_2")]).toEqual(["MASTER", "MASTER"])
        expect([b.state("VI_1"), b.state("VI_2")]).toEqual(["BACKUP", "BACKUP"])
        yield* a.setFault("VI_1", "interface eth1 down", true)
        expect([a.state("VI_1"), a.state("VI_2")]).toEqual(["FAULT", "FAULT"])
        // Both members released with priority-0 adverts, so B takes both over after the skew.
        yield* TestClock.adjust(1000)
        expect([b.state("VI_1"), b.state("VI_2")]).toEqual(["MASTER", "MASTER"])
        // The fault clears: A's members leave FAULT together and preempt B again.
        yield* a.setFault("VI_1", "interface eth1 down", false)
        expect([a.state("VI_1"), a.state("VI_2")]).toEqual(["BACKUP", "BACKUP"])
        yield* TestClock.adjust(5000)
        expect([a.state("VI_1"), a.state("VI_2")]).toEqual(["MASTER", "MASTER"])
        expect([b.state("VI_1"), b.state("VI_2")]).toEqual(["BACKUP", "BACKUP"])
        // Scripts run asynchronously (as in keepalived, their order is not guaranteed): wait for all five.
        const read = () => (existsSync(out) ? readFileSync(out, "utf8").trim().split("\n") : [])
        for (let i = 0; i < 500 && read().length < 5; i++) yield* realWait(10)
        expect(read().sort()).toEqual(
          ["GROUP G BACKUP 0", "GROUP G MASTER 0", "GROUP G FAULT 0", "GROUP G BACKUP 0", "GROUP G MASTER 0"].sort()
        )
        // The FIFO gets the group's lines in order (written asynchronously: read until all five arrived).
        let fifoText = ""
        const buf = Buffer.alloc(4096)
        for (let i = 0; i < 500 && fifoText.split("\n").length < 6; i++) {
          try {
            fifoText += buf.subarray(0, readSync(fd, buf)).toString("utf8")
          } catch {
            // EAGAIN: nothing yet
          }
          if (fifoText.split("\n").length < 6) yield* realWait(10)
        }
        expect(fifoText).toBe(
          [
            'GROUP "G" BACKUP 0',
            'GROUP "G" MASTER 0',
            'GROUP "G" FAULT 0',
            'GROUP "G" BACKUP 0',
            'GROUP "G" MASTER 0',
            ""
          ].join("\n")
        )
      }),
    10_000
  )

  it.effect("a member whose timer expires waits until every member wants MASTER; one BACKUP forces all", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      // Only VI_2 has a live master elsewhere (M, priority 200 on VRID 52).
      const m = yield* node(link, "M", { instances: [member("VI_2", 52, 200, "10.9.0.9")] })
      const a = yield* node(link, "A", {
        instances: [member("VI_1", 51, 100, "10.9.0.1"), member("VI_2", 52, 100, "10.9.0.1")],
        syncGroups: [{ name: "G", members: ["VI_1", "VI_2"] }]
      })
      yield* TestClock.adjust(20_000)
      // VI_1 alone would have become MASTER after 3.61 s; the group holds it in BACKUP.
      expect(m.state("VI_2")).toBe("MASTER")
      expect([a.state("VI_1"), a.state("VI_2")]).toEqual(["BACKUP", "BACKUP"])
      expect(a.engines.get("VI_1")!.wantsMaster).toBe(true)
      // M stops: VI_2 takes over after the skew and pulls VI_1 with it at the same instant.
      yield* m.stop
      yield* TestClock.adjust(1000)
      expect([a.state("VI_1"), a.state("VI_2")]).toEqual(["MASTER", "MASTER"])
      expect(transitionAt(a, "VI_1", "MASTER")).toBe(transitionAt(a, "VI_2", "MASTER"))
      // A higher-priority peer for VI_2 comes back: VI_2 goes BACKUP and forces VI_1 to BACKUP.
      yield* node(link, "M2", { instances: [member("VI_2", 52, 200, "10.9.0.9")] })
      yield* TestClock.adjust(10_000)
      expect([a.state("VI_1"), a.state("VI_2")]).toEqual(["BACKUP", "BACKUP"])
      expect(lines(a)).toContain("VRRP_Group(G) Syncing instances to BACKUP state")
    })
  )

  it.effect("a member configured MASTER starts with advert_int + minimal skew, then waits for the group", () =>
    Effect.gen(function* () {
      const link = yield* Link.make
      const a = yield* node(link, "A", {
        instances: [{ ...member("VI_1", 51, 100, "10.9.0.1"), state: "MASTER" }, member("VI_2", 52, 100, "10.9.0.1")],
        syncGroups: [{ name: "G", members: ["VI_1", "VI_2"] }]
      })
      expect(a.engines.get("VI_1")!.downTimerExpiry).toBe(1_000_000 + Math.floor(1_000_000 / 256))
      yield* TestClock.adjust(1100)
      expect(a.engines.get("VI_1")!.wantsMaster).toBe(true)
      expect(a.state("VI_1")).toBe("BACKUP")
      yield* TestClock.adjust(3000)
      expect(transitionAt(a, "VI_1", "MASTER")).toBe(3609.375)
      expect(transitionAt(a, "VI_2", "MASTER")).toBe(3609.375)
    })
  )
})
