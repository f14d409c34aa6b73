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
import { Notify } from "../src/index.ts"
import { Link, node } from "./helpers/Link.ts"

const realWait = (ms: number) => Effect.promise(() => new Promise<void>((r) => setTimeout(r, ms)))

describe("notify (reference §2.11)", () => {
  it("splits command lines like a shell would, without running one", () => {
    expect(Notify.splitCommand(`/bin/n.sh "a b" 'c $d' e\\ f  "x\\"y"`)).toEqual([
      "/bin/n.sh",
      "a b",
      "c $d",
      "e f",
      'x"y'
    ])
    expect(Notify.splitCommand("  ")).toEqual([])
    expect(Notify.splitCommand(`a "" b`)).toEqual(["a", "", "b"])
  })

  it("state script first, then the generic script with INSTANCE|GROUP name STATE prio appended", () => {
    const n = { master: "/m.sh x", generic: "/notify.sh A" }
    expect(Notify.commands(n, "INSTANCE", "V2_plain", "MASTER", 150)).toEqual([
      ["/m.sh", "x"],
      ["/notify.sh", "A", "INSTANCE", "V2_plain", "MASTER", "150"]
    ])
    expect(Notify.commands(n, "GROUP", "G1", "FAULT", 150)).toEqual([["/notify.sh", "A", "GROUP", "G1", "FAULT", "0"]])
    expect(
      Notify.commands({ masterRxLowerPri: "/l.sh", generic: "/g" }, "INSTANCE", "V", "MASTER_RX_LOWER_PRI", 1)
    ).toEqual([["/l.sh"]])
  })

  it("priority-change events only go to FIFOs", () => {
    expect(Notify.commands({ generic: "/g", master: "/m" }, "INSTANCE", "V", "MASTER_PRIORITY", 90)).toEqual([])
    expect(Notify.fifoLine("INSTANCE", "VI_1", "BACKUP_PRIORITY", 90)).toBe('INSTANCE "VI_1" BACKUP_PRIORITY 90')
  })

  it("FIFO lines", () => {
    expect(Notify.fifoLine("INSTANCE", "VI_1", "MASTER", 100)).toBe('INSTANCE "VI_1" MASTER 100')
    expect(Notify.fifoLine("GROUP", "G1", "BACKUP", 100)).toBe('GROUP "G1" BACKUP 0')
    expect(Notify.fifoLine("INSTANCE", "VI_1", "MASTER_RX_LOWER_PRI", 100)).toBe(
      'INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100'
    )
  })

  it.effect(
    "real scripts get the observed argument list; the FIFO gets the lines",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "vrrp-notify-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        const out = join(dir, "out")
        const script = join(dir, "notify.sh")
        writeFileSync(script, `#!/bin/sh\necho "$@" >> ${out}\n`)
        chmodSync(script, 0o755)
        const fifo = join(dir, "fifo")
        execFileSync("mkfifo", [fifo])
        // Hold the FIFO open (read-write, non-blocking) like a consumer would; read what arrived at the end.
        const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK)
        yield* Effect.addFinalizer(() => Effect.sync(() => closeSync(fd)))
        const link = yield* Link.make
        const a = yield* node(link, "A", {
          instances: [
            {
              name: "V2_plain",
              vrid: 51,
              priority: 150,
              primaryAddress: "10.9.0.1",
              virtualAddresses: ["10.9.0.100"],
              notify: { generic: `${script} A`, master: `${script} "only master"`, fifo }
            }
          ]
        })
        yield* TestClock.adjust(4000)
        yield* a.stop
        // Scripts run asynchronously (as in keepalived): wait for all four, then compare as a set.
        const read = () => (existsSync(out) ? readFileSync(out, "utf8").trim().split("\n") : [])
        for (let i = 0; i < 500 && read().length < 4; i++) yield* realWait(10)
        const got = read().sort()
        expect(got).toEqual([
          "A INSTANCE V2_plain BACKUP 150",
          "A INSTANCE V2_plain MASTER 150",
          "A INSTANCE V2_plain STOP 150",
          "only master"
        ])
        let fifoText = ""
        const buf = Buffer.alloc(4096)
        for (let i = 0; i < 500 && fifoText.split("\n").length < 4; i++) {
          try {
            fifoText += buf.subarray(0, readSync(fd, buf)).toString("utf8")
          } catch {
            // EAGAIN: nothing yet
          }
          if (fifoText.split("\n").length < 4) yield* realWait(10)
        }
        expect(fifoText).toBe(
          'INSTANCE "V2_plain" BACKUP 150\nINSTANCE "V2_plain" MASTER 150\nINSTANCE "V2_plain" STOP 150\n'
        )
      }),
    10_000
  )

  it.effect.skipIf(process.getuid?.() !== 0)("scripts run as the configured user (root only)", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "vrrp-notify-user-"))
      chmodSync(dir, 0o777)
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const out = join(dir, "out")
      const notifier = yield* Notify.Notifier
      yield* notifier.notify(
        { master: `/bin/sh -c "id -u >> ${out}"`, user: "nobody" },
        "INSTANCE",
        "VI",
        "MASTER",
        100
      )
      for (let i = 0; i < 500 && !existsSync(out); i++) yield* realWait(10)
      yield* realWait(50)
      const nobody = execFileSync("id", ["-u", "nobody"], { encoding: "utf8" }).trim()
      expect(readFileSync(out, "utf8").trim()).toBe(nobody)
    }).pipe(Effect.provide(Notify.Notifier.layer))
  )
})
