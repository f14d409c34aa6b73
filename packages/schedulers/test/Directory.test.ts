/**
 * The id-keyed accounting adapter, driven the way @lvs-ts/conntrack's DestinationAccounting/DestinationStatus
 * callbacks are called (structurally typed here, without importing conntrack).
 */
import { DestinationDirectory, DestinationFlags } from "@lvs-ts/schedulers"
import { describe, expect, it } from "vitest"
import { label, pickV4, poolOf } from "./helpers.ts"

/** The shape conntrack expects (copied structurally: the packages must not depend on each other). */
interface Accounting {
  connectionBound(destination: number, active: boolean): void
  connectionUnbound(destination: number, active: boolean): void
  connectionActivated(destination: number): void
  connectionDeactivated(destination: number): void
  templateBound(destination: number): void
  templateUnbound(destination: number): void
  isAvailable(destination: number): boolean
  weight(destination: number): number
}

describe("DestinationDirectory", () => {
  it("feeds counters, thresholds and the scheduler from id-keyed table callbacks", () => {
    const { pool, dests } = poolOf({ scheduler: "lc" }, [1, 1]) // list 1001, 1000
    const directory = new DestinationDirectory()
    const table: Accounting = directory
    const [a, b] = dests.map((d) => directory.register(d)) as [number, number]
    pool.edit(dests[1]!, { upperThreshold: 2 })
    expect(label(pickV4(pool))).toBe(1001)
    table.connectionBound(b, false) // new entries start INACTIVE
    table.connectionActivated(b) // SYN_RECV -> ESTABLISHED
    expect(dests[1]!.activeConnections).toBe(1)
    expect(label(pickV4(pool))).toBe(1000)
    table.connectionBound(b, false)
    expect(dests[1]!.flags & DestinationFlags.Overload).toBeTruthy() // 2 >= 2
    table.templateBound(a)
    expect(dests[0]!.persistentConnections).toBe(1)
    table.connectionDeactivated(b)
    table.connectionUnbound(b, false)
    table.connectionUnbound(b, false) // total 0 < 2*3/4 -> cleared
    expect(dests[1]!.flags & DestinationFlags.Overload).toBe(0)
    expect(label(pickV4(pool))).toBe(1001)
    expect(table.isAvailable(b)).toBe(true)
    pool.remove(dests[1]!)
    expect(table.isAvailable(b)).toBe(false)
    table.connectionUnbound(b, true) // a trashed destination still takes unbinds
    expect(table.weight(a)).toBe(1)
    expect(table.weight(999)).toBe(0)
    table.connectionBound(999, true) // unknown ids are ignored, never thrown on
  })

  it("reuses freed ids and keeps ids stable per destination", () => {
    const { dests } = poolOf({ scheduler: "rr" }, [1, 1, 1])
    const directory = new DestinationDirectory()
    expect(dests.map((d) => directory.register(d))).toEqual([0, 1, 2])
    expect(directory.register(dests[1]!)).toBe(1)
    directory.unregister(dests[1]!)
    expect(directory.idOf(dests[1]!)).toBe(-1)
    expect(directory.register(dests[1]!)).toBe(1)
    expect(directory.get(2)).toBe(dests[2])
  })
})
