/**
 * lblc / lblcr: cache hits, re-picks, replication, and the kernel's GC timing on the caller's clock.
 */
import {
  ConnectionKind,
  Destination,
  DestinationPool,
  type LocalityBasedLeastConnection,
  type LocalityBasedLeastConnectionReplication
} from "@lvs-ts/schedulers"
import { describe, expect, it } from "vitest"
import { label, packet, pickV4, poolOf, setV6 } from "./helpers.ts"
import { hash32 } from "./oracle/Kernel.ts"

const MIN = 60_000
const HOUR = 60 * MIN
const T0 = 5_000_000

describe("lblc", () => {
  it("keeps a destination address on its server; re-picks (wlc) when quiesced, and replaces the entry", () => {
    const { pool, dests } = poolOf({ scheduler: "lblc" }, [1, 1]) // list 1001, 1000
    const lblc = pool.scheduler as LocalityBasedLeastConnection
    expect(label(pickV4(pool, 1, 0xc0a80001, 0, T0))).toBe(1001)
    dests[1]!.bind(ConnectionKind.Active) // wlc would now prefer 1000, but the cache sticks
    expect(label(pickV4(pool, 2, 0xc0a80001, 0, T0 + 1))).toBe(1001)
    expect(label(pickV4(pool, 2, 0xc0a80002, 0, T0 + 1))).toBe(1000) // another address: wlc
    pool.edit(dests[1]!, { weight: 0 })
    expect(label(pickV4(pool, 3, 0xc0a80001, 0, T0 + 2))).toBe(1000)
    const entry = lblc.cachedAddresses().find((e) => e.address[0] === 0xc0a80001)!
    expect(lblc.cachedDestination(entry.entry)).toBe(dests[0])
    expect(lblc.entries).toBe(2)
  })

  it("treats a server as overloaded when active > weight and some server has active * 2 < weight", () => {
    const { pool, dests } = poolOf({ scheduler: "lblc" }, [4, 1]) // list 1001 (w1), 1000 (w4)
    expect(label(pickV4(pool, 1, 7, 0, T0))).toBe(1001)
    dests[1]!.bind(ConnectionKind.Active)
    dests[1]!.bind(ConnectionKind.Active) // 2 > 1, and 1000 has 0*2 < 4 -> overloaded
    expect(label(pickV4(pool, 1, 7, 0, T0))).toBe(1000)
    for (let i = 0; i < 2; i++) dests[0]!.bind(ConnectionKind.Active) // 1000: 2*2 < 4 no longer
    dests[1]!.unbind(ConnectionKind.Active)
    expect(label(pickV4(pool, 1, 7, 0, T0))).toBe(1000) // cached now, not overloaded (1 active, w1)
  })

  it("drops an idle entry at the first full scan at or after 24 h (full scans every 30 minutes)", () => {
    const { pool } = poolOf({ scheduler: "lblc" }, [1])
    const lblc = pool.scheduler as LocalityBasedLeastConnection
    pickV4(pool, 1, 42, 0, T0) // starts the 60 s timer and creates the entry
    lblc.tick(T0 + 24 * HOUR - 1)
    expect(lblc.entries).toBe(1)
    lblc.tick(T0 + 24 * HOUR) // the 48th full scan: age == expiration -> removed
    expect(lblc.entries).toBe(0)
  })

  it("an entry used later survives until a full scan finds it 24 h idle (between 24 h and 24 h 30 min)", () => {
    const { pool } = poolOf({ scheduler: "lblc" }, [1])
    const lblc = pool.scheduler as LocalityBasedLeastConnection
    pickV4(pool, 1, 42, 0, T0)
    pickV4(pool, 1, 42, 0, T0 + 10 * MIN) // refresh last use
    lblc.tick(T0 + 24 * HOUR + 10 * MIN - 1)
    expect(lblc.entries).toBe(1)
    lblc.tick(T0 + 24 * HOUR + 29 * MIN)
    expect(lblc.entries).toBe(1)
    lblc.tick(T0 + 24 * HOUR + 30 * MIN)
    expect(lblc.entries).toBe(0)
  })

  it("over 16384 entries: drops entries idle >= 6 min bucket by bucket until (excess * 4/3) are gone", () => {
    const { pool } = poolOf({ scheduler: "lblc" }, [1])
    const lblc = pool.scheduler as LocalityBasedLeastConnection
    const n = 16384 + 300
    const perBucket = new Array<number>(1024).fill(0)
    for (let i = 0; i < n; i++) {
      const addr = (0x0b000000 + i * 2654435761) >>> 0
      pickV4(pool, 1, addr, 0, T0)
      perBucket[hash32(addr, 10)]!++
    }
    expect(lblc.entries).toBe(n)
    lblc.tick(T0 + 60_000) // tick 1: idle < 6 min, nothing goes
    expect(lblc.entries).toBe(n)
    lblc.tick(T0 + 6 * MIN) // tick 6: everything is 6 min idle; goal = 300 * 4/3 = 400
    // Expected: whole buckets from rover + 1 on until at least 400 entries are removed.
    let removed = 0
    let j = 0
    for (let i = 0; i < 1024 && removed < 400; i++) {
      j = (j + 1) & 1023
      removed += perBucket[j]!
    }
    expect(lblc.entries).toBe(n - removed)
    expect(lblc.rover).toBe(j)
  })

  it("flushes its cache when the scheduler is replaced", () => {
    const { pool } = poolOf({ scheduler: "lblc" }, [1])
    const lblc = pool.scheduler as LocalityBasedLeastConnection
    pickV4(pool, 1, 42, 0, T0)
    pool.setScheduler("wlc")
    expect(lblc.entries).toBe(0)
  })
})

describe("lblcr", () => {
  it("adds a server to the set when its member is overloaded, and picks the least loaded member", () => {
    const { pool, dests } = poolOf({ scheduler: "lblcr" }, [4, 1]) // list 1001 (w1), 1000 (w4)
    const lblcr = pool.scheduler as LocalityBasedLeastConnectionReplication
    expect(label(pickV4(pool, 1, 9, 0, T0))).toBe(1001)
    dests[1]!.bind(ConnectionKind.Active)
    dests[1]!.bind(ConnectionKind.Active) // overloaded (2 > 1, 1000 half empty)
    expect(label(pickV4(pool, 1, 9, 0, T0 + 1))).toBe(1000)
    const entry = lblcr.cachedAddresses()[0]!.entry
    expect(lblcr.members(entry)).toEqual([dests[0], dests[1]]) // newest first
    expect(label(pickV4(pool, 1, 9, 0, T0 + 2))).toBe(1000) // least loaded member
  })

  it("shrinks a set older than the expiration by its most loaded member, after choosing", () => {
    const { pool, dests } = poolOf({ scheduler: "lblcr", schedulerOptions: { expiration: HOUR } }, [4, 1])
    const lblcr = pool.scheduler as LocalityBasedLeastConnectionReplication
    pickV4(pool, 1, 9, 0, T0)
    dests[1]!.bind(ConnectionKind.Active)
    dests[1]!.bind(ConnectionKind.Active)
    pickV4(pool, 1, 9, 0, T0 + 1) // set {1000, 1001}, modified at T0 + 1
    const entry = lblcr.cachedAddresses()[0]!.entry
    expect(label(pickV4(pool, 1, 9, 0, T0 + 1 + HOUR))).toBe(1000) // not strictly older yet
    expect(lblcr.members(entry)).toHaveLength(2)
    expect(label(pickV4(pool, 1, 9, 0, T0 + 2 + HOUR))).toBe(1000) // chosen first, then 1001 (2/1) removed
    expect(lblcr.members(entry)).toEqual([dests[0]])
  })

  it("reports the quiet none when there is no entry and nothing is available", () => {
    const { pool } = poolOf({ scheduler: "lblcr" }, [0])
    const r = pickV4(pool, 1, 9, 0, T0)
    expect(r._tag === "NoDestination" && r.logged).toBe(false)
  })

  it("ignores a member deleted from the service (not AVAILABLE) and re-picks", () => {
    const { pool, dests } = poolOf({ scheduler: "lblcr" }, [1, 1])
    expect(label(pickV4(pool, 1, 9, 0, T0))).toBe(1001)
    pool.remove(dests[1]!)
    expect(label(pickV4(pool, 1, 9, 0, T0))).toBe(1000)
    expect(dests[1]).toBeInstanceOf(Destination)
  })
})

describe("lblc over IPv6", () => {
  it("keys entries by the full address even when two addresses fold to the same bucket", () => {
    const pool = new DestinationPool({ family: 6, scheduler: "lblc" })
    const a = new Destination(6, 0x20010db8, 0, 0, 1, 80)
    const b = new Destination(6, 0x20010db8, 0, 0, 2, 81)
    pool.add(a)
    pool.add(b) // list b, a
    const lblc = pool.scheduler as LocalityBasedLeastConnection
    // x and y differ but XOR-fold to the same 32 bits: same bucket, different entries.
    const x = [0x20010db8, 1, 2, 3]
    const y = [0x20010db8, 3, 2, 1]
    setV6([0, 0, 0, 1], x)
    expect(pool.pick(packet, 0, 16, 0, T0)).toBe(b)
    b.bind(ConnectionKind.Active)
    setV6([0, 0, 0, 1], y)
    expect(pool.pick(packet, 0, 16, 0, T0)).toBe(a) // a miss for y: wlc picks the idle a
    setV6([0, 0, 0, 1], x)
    expect(pool.pick(packet, 0, 16, 0, T0)).toBe(b) // x still cached on b
    expect(lblc.entries).toBe(2)
    expect(lblc.cachedAddresses().map((e) => e.address)).toEqual(expect.arrayContaining([x, y]))
  })
})
