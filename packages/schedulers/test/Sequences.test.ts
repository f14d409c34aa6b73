/**
 * Sequence tests from the reference (ipvs.md §1): rr/wrr order across add/delete/edit, each scheduler's
 * documented tie-breaks, the weight-0 / OVERLOAD table and the "none" results.
 */
import {
  allDestinationsOverloaded,
  ConnectionKind,
  Destination,
  DestinationFlags,
  type DestinationHashing,
  DestinationPool,
  noDestinationAvailable,
  ServiceFlags,
  schedulerLogLine
} from "@lvs-ts/schedulers"
import { describe, expect, it } from "vitest"
import { label, pickV4, poolOf } from "./helpers.ts"

const picks = (pool: DestinationPool, n: number) => Array.from({ length: n }, () => label(pickV4(pool)))
// Ports: the i-th weight given to poolOf gets port 1000 + i; the LAST one added is the list head.

describe("rr", () => {
  it("walks newest-first: add A, B, C -> C, B, A, C, B, A", () => {
    const { pool } = poolOf({ scheduler: "rr" }, [1, 1, 1])
    expect(picks(pool, 6)).toEqual([1002, 1001, 1000, 1002, 1001, 1000])
  })

  it("continues correctly across add, delete and edit", () => {
    const { pool, dests } = poolOf({ scheduler: "rr" }, [1, 1, 1]) // list C B A
    expect(picks(pool, 2)).toEqual([1002, 1001]) // cursor at B
    const d = new Destination(4, 0x0a0000ff, 0, 0, 0, 2000)
    pool.add(d) // list D C B A; the cursor stays on B
    expect(picks(pool, 3)).toEqual([1000, 2000, 1002])
    pool.remove(dests[2]!) // delete C = the cursor -> cursor moves to its predecessor D
    expect(picks(pool, 2)).toEqual([1001, 1000])
    pool.edit(dests[1]!, { weight: 0 }) // quiesce B
    expect(picks(pool, 3)).toEqual([2000, 1000, 2000])
  })

  it("skips OVERLOAD and returns the kernel's none when nothing is eligible", () => {
    const { pool, dests } = poolOf({ scheduler: "rr" }, [1, 0])
    pool.edit(dests[0]!, { upperThreshold: 1 })
    dests[0]!.bind(ConnectionKind.Active)
    expect(dests[0]!.flags & DestinationFlags.Overload).toBe(DestinationFlags.Overload)
    expect(pickV4(pool)).toBe(noDestinationAvailable)
  })
})

describe("wrr", () => {
  it("weights 4,3,2 (list order A B C) give A A B A B C A B C once the cycle is running", () => {
    const { pool } = poolOf({ scheduler: "rr" }, [2, 3, 4]) // C added first, A last -> list A B C
    pool.setScheduler("wrr") // init: cw = mw = 4
    const A = 1002
    const B = 1001
    const C = 1000
    expect(picks(pool, 18)).toEqual([A, A, B, A, B, C, A, B, C, A, A, B, A, B, C, A, B, C])
  })

  it("adding servers one at a time starts with a lap at cw = 1 (A B C), then the steady cycle", () => {
    const { pool } = poolOf({ scheduler: "wrr" }, [2, 3, 4])
    const A = 1002
    const B = 1001
    const C = 1000
    expect(picks(pool, 12)).toEqual([A, B, C, A, A, B, A, B, C, A, B, C])
  })

  it("steps by the gcd: A w4, B w2 -> A A B repeating", () => {
    const { pool } = poolOf({ scheduler: "rr" }, [2, 4])
    pool.setScheduler("wrr")
    expect(picks(pool, 6)).toEqual([1001, 1001, 1000, 1001, 1001, 1000])
  })

  it("add/delete/edit reset the cursor to the head and adjust cw by the kernel's rule", () => {
    const { pool, dests } = poolOf({ scheduler: "rr" }, [2, 3, 4]) // A B C = 1002 1001 1000
    pool.setScheduler("wrr")
    expect(picks(pool, 4)).toEqual([1002, 1002, 1001, 1002]) // cw 2 now, cursor A
    const wrr = pool.scheduler as unknown as { cw: number; mw: number; di: number }
    pool.edit(dests[1]!, { weight: 6 }) // B w6: di 2 -> ... weights 4,6,2 -> di 2, mw 5; cw 2 -> 2/2*2+1 = 3
    expect([wrr.di, wrr.mw, wrr.cw]).toEqual([2, 5, 3])
    // cw 3 from the head: A B (C is below 3); wrap -> cw 1: A B C; wrap -> cw 5: B (only B has 6)
    expect(picks(pool, 6)).toEqual([1002, 1001, 1002, 1001, 1000, 1001])
  })

  it("reports 'all destinations are overloaded' when every server is OVERLOAD", () => {
    const { pool, dests } = poolOf({ scheduler: "wrr" }, [1, 1])
    for (const d of dests) {
      pool.edit(d, { upperThreshold: 1 })
      d.bind(ConnectionKind.Inactive)
    }
    expect(pickV4(pool)).toBe(allDestinationsOverloaded)
  })

  it("all weights 0 -> plain 'no destination available'", () => {
    const { pool } = poolOf({ scheduler: "wrr" }, [0, 0])
    expect(pickV4(pool)).toBe(noDestinationAvailable)
  })
})

describe("least-connection family tie-breaks", () => {
  it("lc: minimum overhead, earlier in list wins ties, weight ignored except 0", () => {
    const { pool, dests } = poolOf({ scheduler: "lc" }, [1, 5, 0]) // list: w0(1002) w5(1001) w1(1000)
    expect(label(pickV4(pool))).toBe(1001) // tie at 0: first eligible in list order
    dests[1]!.bind(ConnectionKind.Inactive) // 1001 overhead 1
    expect(label(pickV4(pool))).toBe(1000)
    dests[0]!.bind(ConnectionKind.Inactive)
    expect(label(pickV4(pool))).toBe(1001) // tie again -> earlier
  })

  it("wlc: overhead/weight with cross-multiplication; ties keep the earlier one", () => {
    const { pool, dests } = poolOf({ scheduler: "wlc" }, [1, 2]) // list: w2(1001), w1(1000)
    dests[1]!.bind(ConnectionKind.Active) // 256/2
    expect(label(pickV4(pool))).toBe(1000) // 0/1
    dests[0]!.bind(ConnectionKind.Active) // 256/1 vs 256/2
    expect(label(pickV4(pool))).toBe(1001)
    dests[1]!.bind(ConnectionKind.Active) // 512/2 = 256/1: tie -> earlier (1001)
    expect(label(pickV4(pool))).toBe(1001)
  })

  it("sed ignores inactive connections and counts active + 1", () => {
    const { pool, dests } = poolOf({ scheduler: "sed" }, [1, 3]) // list: w3(1001), w1(1000)
    for (let i = 0; i < 50; i++) dests[0]!.bind(ConnectionKind.Inactive)
    dests[1]!.bind(ConnectionKind.Active) // (1+1)/3 vs (0+1)/1
    expect(label(pickV4(pool))).toBe(1001)
    dests[1]!.bind(ConnectionKind.Active)
    dests[1]!.bind(ConnectionKind.Active) // 4/3 vs 1/1
    expect(label(pickV4(pool))).toBe(1000)
  })

  it("nq returns the first idle server even if a later one is heavier", () => {
    const { pool, dests } = poolOf({ scheduler: "nq" }, [100, 1, 1]) // list 1002 w1, 1001 w1, 1000 w100
    dests[2]!.bind(ConnectionKind.Active)
    expect(label(pickV4(pool))).toBe(1001)
    dests[1]!.bind(ConnectionKind.Active)
    expect(label(pickV4(pool))).toBe(1000) // sed: 1/100 wins
  })

  it("fo: highest weight, first wins ties, OVERLOAD skipped, weight 0 never", () => {
    const { pool, dests } = poolOf({ scheduler: "fo" }, [5, 9, 9, 0])
    expect(label(pickV4(pool))).toBe(1002)
    pool.edit(dests[2]!, { upperThreshold: 1 })
    dests[2]!.bind(ConnectionKind.Active)
    expect(label(pickV4(pool))).toBe(1001)
  })

  it("ovf: highest weight among servers with active <= weight", () => {
    const { pool, dests } = poolOf({ scheduler: "ovf" }, [1, 2])
    expect(label(pickV4(pool))).toBe(1001)
    dests[1]!.bind(ConnectionKind.Active)
    dests[1]!.bind(ConnectionKind.Active)
    expect(label(pickV4(pool))).toBe(1001) // 2 <= 2
    dests[1]!.bind(ConnectionKind.Active)
    expect(label(pickV4(pool))).toBe(1000)
  })

  it("twos: r = 0 selects the first server, r = total the last; keeps the lower overhead/weight", () => {
    const rs: Array<number> = []
    const { pool, dests } = poolOf(
      { scheduler: "twos", schedulerOptions: { random: (n) => rs.shift() ?? n - 1 } },
      [1, 2, 3]
    ) // list 1002 w3, 1001 w2, 1000 w1, total 6
    rs.push(0, 6)
    expect(label(pickV4(pool))).toBe(1002) // both 0 overhead: choice1 kept
    dests[2]!.bind(ConnectionKind.Active)
    rs.push(0, 6)
    expect(label(pickV4(pool))).toBe(1000) // 3*0 vs 1*256 -> choice2
    rs.push(3, 4) // 3 -> first (3-3 <= 0), 4 -> second
    expect(label(pickV4(pool))).toBe(1001)
  })
})

describe("hashing schedulers: fill order and unavailable buckets", () => {
  it("dh gives bucket i to the i-th destination in list order (mod n), weight ignored, no refill on edit", () => {
    const { pool, dests } = poolOf({ scheduler: "dh" }, [1, 7, 1]) // list 1002, 1001, 1000
    const dh = pool.scheduler as DestinationHashing
    expect(dh.buckets.slice(0, 6).map((d) => d?.port)).toEqual([1002, 1001, 1000, 1002, 1001, 1000])
    pool.edit(dests[0]!, { weight: 0 })
    expect(dh.buckets[2]).toBe(dests[0]) // still there, but unavailable at lookup
    let addr = 0
    while (dh.buckets[Math.imul(addr, 0x61c88647) >>> 24] !== dests[0]) addr++
    expect(pickV4(pool, 0, addr)).toBe(noDestinationAvailable)
  })

  it("sh without fallback returns none for an unavailable bucket; with fallback it probes the kernel's offsets", () => {
    const { pool, dests } = poolOf({ scheduler: "sh" }, [1, 1]) // buckets alternate 1001, 1000
    pool.edit(dests[1]!, { weight: 0 }) // 1001 unavailable (refill: weight 0 still takes one bucket)
    let client = 0
    while (pickV4(pool, client)._tag === "Destination") client++
    pool.flags = ServiceFlags.Fallback
    expect(pickV4(pool, client)).toBe(dests[0])
  })
})

describe("thresholds (OVERLOAD)", () => {
  it("upper threshold sets OVERLOAD on bind; 3/4 rule clears it when the lower threshold is 0", () => {
    const d = new Destination(4, 1, 0, 0, 0, 1)
    const pool = new DestinationPool({ scheduler: "wlc" })
    pool.add(d, { upperThreshold: 4 })
    for (let i = 0; i < 4; i++) d.bind(ConnectionKind.Active)
    expect(d.flags & DestinationFlags.Overload).toBeTruthy()
    expect(pickV4(pool)).toBe(noDestinationAvailable)
    d.unbind(ConnectionKind.Active) // 3*4 < 4*3? no
    expect(d.flags & DestinationFlags.Overload).toBeTruthy()
    d.unbind(ConnectionKind.Active) // 2*4 < 12
    expect(d.flags & DestinationFlags.Overload).toBe(0)
    expect(pickV4(pool)).toBe(d)
  })

  it("lower threshold: cleared only below it; templates do not count but still trigger the check", () => {
    const d = new Destination(4, 1, 0, 0, 0, 1)
    const pool = new DestinationPool()
    pool.add(d, { upperThreshold: 2, lowerThreshold: 1 })
    d.bind(ConnectionKind.Active)
    d.bind(ConnectionKind.Template)
    expect(d.flags & DestinationFlags.Overload).toBe(0)
    d.bind(ConnectionKind.Inactive)
    expect(d.flags & DestinationFlags.Overload).toBeTruthy()
    d.unbind(ConnectionKind.Inactive) // total 1, not < 1
    expect(d.flags & DestinationFlags.Overload).toBeTruthy()
    d.unbind(ConnectionKind.Active)
    expect(d.flags & DestinationFlags.Overload).toBe(0)
    expect(d.persistentConnections).toBe(1)
  })

  it("edit clears OVERLOAD only when the new upper threshold is 0 or above the old one", () => {
    const d = new Destination(4, 1, 0, 0, 0, 1)
    const pool = new DestinationPool()
    pool.add(d, { upperThreshold: 2 })
    d.bind(ConnectionKind.Active)
    d.bind(ConnectionKind.Active)
    pool.edit(d, { upperThreshold: 2 })
    expect(d.flags & DestinationFlags.Overload).toBeTruthy()
    pool.edit(d, { upperThreshold: 1 })
    expect(d.flags & DestinationFlags.Overload).toBeTruthy()
    pool.edit(d, { upperThreshold: 3 })
    expect(d.flags & DestinationFlags.Overload).toBe(0)
  })
})

describe("none results", () => {
  it("carry the kernel's log text", () => {
    const pool = new DestinationPool({ scheduler: "wlc" })
    const r = pickV4(pool)
    expect(r).toBe(noDestinationAvailable)
    expect(schedulerLogLine("wlc", "TCP", "10.0.0.1", 80, noDestinationAvailable.message)).toBe(
      "wlc: TCP 10.0.0.1:80 - no destination available"
    )
    expect(schedulerLogLine("wrr", "UDP", "2001:db8::1", 53, allDestinationsOverloaded.message)).toBe(
      "wrr: UDP [2001:db8::1]:53 - no destination available: all destinations are overloaded"
    )
    expect(schedulerLogLine("rr", "TCP", "", 0, "no destination available", 1)).toBe(
      "rr: FWM 1 0x00000001 - no destination available"
    )
  })

  it("every built-in scheduler returns none on an empty pool and never throws", () => {
    for (const name of [
      "rr",
      "wrr",
      "lc",
      "wlc",
      "sed",
      "nq",
      "fo",
      "ovf",
      "twos",
      "sh",
      "dh",
      "mh",
      "lblc",
      "lblcr"
    ]) {
      const pool = new DestinationPool({ scheduler: name })
      expect(pickV4(pool)._tag, name).toBe("NoDestination")
    }
  })
})
