/**
 * Oracle tests: the fast schedulers against plain linear-scan transcriptions of the kernel (./Kernel.ts) on
 * random pools, loads, weights, flags, thresholds and add/delete/edit/bind/unbind sequences. Every pick must
 * agree, and so must every destination's OVERLOAD flag after every step.
 *
 * Runs per scheduler: SCHED_ORACLE_RUNS (default 60; the README records a run with >= 1 million picks).
 */
import {
  type ConnectionKind,
  Destination,
  DestinationFlags,
  DestinationPool,
  type Pick,
  ServiceFlags
} from "@lvs-ts/schedulers"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { packet, setV4 } from "../helpers.ts"
import * as K from "./Kernel.ts"

const RUNS = Number(process.env.SCHED_ORACLE_RUNS ?? 60)
const MAX_OPS = Number(process.env.SCHED_ORACLE_OPS ?? 150)
let totalPicks = 0

type Op =
  | { t: "add"; weight: number; u: number; l: number; revive: number }
  | { t: "remove"; i: number }
  | { t: "edit"; i: number; weight: number; u: number; l: number }
  | { t: "bind"; i: number; kind: number; n: number }
  | { t: "unbind"; i: number; kind: number; n: number }
  | { t: "toInactive"; i: number }
  | { t: "toActive"; i: number }
  | { t: "pick"; saddr: number; sport: number; daddr: number; n: number }
  | { t: "time"; dt: number }

const weightArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 5 }) },
  { weight: 2, arbitrary: fc.constantFrom(6, 8, 12, 100, 65535) }
)
const thresholdArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 8 }) }
)
const addrArb = fc.constantFrom(0x0a000001, 0x0a000002, 0xc0a80001, 0x7f000001, 0xffffffff, 0x01020304, 0, 0x80000000)

const opArbWith = (addWeight: number, removeWeight: number): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: addWeight,
      arbitrary: fc.record({
        t: fc.constant("add" as const),
        weight: weightArb,
        u: thresholdArb,
        l: thresholdArb,
        revive: fc.nat(7)
      })
    },
    { weight: removeWeight, arbitrary: fc.record({ t: fc.constant("remove" as const), i: fc.nat() }) },
    {
      weight: 2,
      arbitrary: fc.record({
        t: fc.constant("edit" as const),
        i: fc.nat(),
        weight: weightArb,
        u: thresholdArb,
        l: thresholdArb
      })
    },
    {
      weight: 6,
      arbitrary: fc.record({
        t: fc.constant("bind" as const),
        i: fc.nat(),
        kind: fc.nat(2),
        n: fc.integer({ min: 1, max: 4 })
      })
    },
    {
      weight: 4,
      arbitrary: fc.record({
        t: fc.constant("unbind" as const),
        i: fc.nat(),
        kind: fc.nat(2),
        n: fc.integer({ min: 1, max: 4 })
      })
    },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("toInactive" as const), i: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("toActive" as const), i: fc.nat() }) },
    {
      weight: 8,
      arbitrary: fc.record({
        t: fc.constant("pick" as const),
        saddr: addrArb,
        sport: fc.nat(65535),
        daddr: addrArb,
        n: fc.integer({ min: 1, max: 6 })
      })
    },
    {
      weight: 1,
      arbitrary: fc.record({ t: fc.constant("time" as const), dt: fc.oneof(fc.nat(120_000), fc.nat(3 * 86_400_000)) })
    }
  )
const opArb = opArbWith(4, 1)
/** Many adds and removes: pools of ~100-200 destinations, renumbering (relayout) and compaction on the way. */
const churnArb = opArbWith(14, 6)

/** A deterministic random source; two instances with the same seed give the same stream. */
const lcg = (seed: number) => {
  let s = seed >>> 0 || 1
  return (bound: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return Math.floor((s / 4294967296) * bound)
  }
}

interface Setup {
  readonly name: string
  readonly flags?: number
  readonly options?: Record<string, unknown>
  readonly oracle: (seed: number) => K.OScheduler
}

const run = (setup: Setup, ops: ReadonlyArray<Op>, seed: number) => {
  const pool = new DestinationPool({
    scheduler: setup.name,
    flags: setup.flags ?? 0,
    schedulerOptions: { ...(setup.options ?? {}), random: lcg(seed) }
  })
  const oracle = setup.oracle(seed)
  const list: Array<K.ODest> = [] // oracle list, index 0 = head
  const all: Array<{ o: K.ODest; f: Destination }> = []
  const linked = new Set<number>()
  const fast = new Map<number, Destination>()
  oracle.init(list)
  let now = 1_000_000
  const check = (r: Pick, o: K.OPick, what: string) => {
    const got = r._tag === "Destination" ? `dest ${r.port}` : r.message
    const want = typeof o === "string" ? o : `dest ${o.port}`
    if (got !== want) throw new Error(`${setup.name}: ${what}: fast ${got}, kernel ${want}`)
  }
  for (const op of ops) {
    switch (op.t) {
      case "add": {
        const dead = all.filter((x) => !linked.has(x.o.id))
        if (op.revive < dead.length && op.revive % 2 === 0) {
          // Trash revival: the same destination comes back with its counters, at the head.
          const x = dead[op.revive]!
          K.applySettings(x.o, op.weight, op.u, op.l, true)
          list.unshift(x.o)
          pool.add(x.f, { weight: op.weight, upperThreshold: op.u, lowerThreshold: op.l })
          linked.add(x.o.id)
          oracle.add(list, x.o)
          break
        }
        const id = all.length
        const o: K.ODest = {
          id,
          addr: (0x0a000000 + id * 7919) >>> 0,
          port: 1000 + id,
          weight: 1,
          lastWeight: 1,
          u: 0,
          l: 0,
          flags: 0,
          active: 0,
          inactive: 0,
          persist: 0
        }
        K.applySettings(o, op.weight, op.u, op.l, true)
        const f = new Destination(4, o.addr, 0, 0, 0, o.port)
        list.unshift(o)
        pool.add(f, { weight: op.weight, upperThreshold: op.u, lowerThreshold: op.l })
        all.push({ o, f })
        fast.set(id, f)
        linked.add(id)
        oracle.add(list, o)
        break
      }
      case "remove": {
        if (list.length === 0) break
        const index = op.i % list.length
        const o = list[index]!
        oracle.del(list, o, index)
        list.splice(index, 1)
        o.flags &= ~K.AVAILABLE
        linked.delete(o.id)
        pool.remove(fast.get(o.id)!)
        break
      }
      case "edit": {
        if (list.length === 0) break
        const o = list[op.i % list.length]!
        K.applySettings(o, op.weight, op.u, op.l, false)
        pool.edit(fast.get(o.id)!, { weight: op.weight, upperThreshold: op.u, lowerThreshold: op.l })
        oracle.upd(list, o)
        break
      }
      case "bind":
      case "unbind":
      case "toInactive":
      case "toActive": {
        // Any destination, linked or not: the connection table still holds deleted ones.
        if (all.length === 0) break
        const x = all[op.i % all.length]!
        const n = op.t === "bind" || op.t === "unbind" ? op.n : 1
        for (let k = 0; k < n; k++) {
          if (op.t === "bind") {
            K.bind(x.o, op.kind)
            x.f.bind(op.kind as ConnectionKind)
          } else if (op.t === "unbind") {
            K.unbind(x.o, op.kind)
            x.f.unbind(op.kind as ConnectionKind)
          } else if (op.t === "toInactive") {
            if (x.o.active > 0) x.o.active--
            x.o.inactive++
            x.f.activeToInactive()
          } else {
            if (x.o.inactive > 0) x.o.inactive--
            x.o.active++
            x.f.inactiveToActive()
          }
        }
        break
      }
      case "pick": {
        for (let k = 0; k < op.n; k++) {
          setV4(op.saddr, op.daddr)
          const r = pool.pick(packet, 0, 16, op.sport, now)
          const o = oracle.schedule(list, op.saddr, op.sport, op.daddr, now)
          totalPicks++
          check(r, o, `pick #${k} of ${JSON.stringify(op)}`)
          // Traffic: the chosen destination gets a connection, as the director would bind it.
          if (typeof o !== "string" && k % 2 === 0) {
            K.bind(o, 0)
            fast.get(o.id)!.bind(0)
          }
        }
        break
      }
      case "time":
        now += op.dt
        break
    }
    for (const x of all) {
      const want = x.o.flags & (K.OVERLOAD | K.AVAILABLE)
      const got = x.f.flags & (DestinationFlags.Overload | DestinationFlags.Available)
      if (got !== want || x.f.activeConnections !== x.o.active || x.f.inactiveConnections !== x.o.inactive) {
        throw new Error(`${setup.name}: dest ${x.o.port} state differs after ${JSON.stringify(op)}`)
      }
    }
  }
  // The pool's list order must be the kernel's.
  expect(pool.destinations().map((d) => d.port)).toEqual(list.map((o) => o.port))
}

const setups: ReadonlyArray<Setup> = [
  { name: "rr", oracle: () => K.rr() },
  { name: "wrr", oracle: () => K.wrr() },
  { name: "lc", oracle: () => K.lc() },
  { name: "wlc", oracle: () => K.wlc() },
  { name: "sed", oracle: () => K.sed() },
  { name: "nq", oracle: () => K.nq() },
  { name: "fo", oracle: () => K.fo() },
  { name: "ovf", oracle: () => K.ovf() },
  { name: "twos", oracle: (seed) => K.twos(lcg(seed)) },
  { name: "sh", oracle: () => K.sh(8, false, false) },
  { name: "sh", flags: ServiceFlags.Fallback | ServiceFlags.Port, oracle: () => K.sh(8, true, true) },
  { name: "sh", flags: ServiceFlags.Fallback, options: { tableBits: 4 }, oracle: () => K.sh(4, true, false) },
  { name: "dh", oracle: () => K.dh(8) },
  { name: "mh", options: { tableSize: 251 }, oracle: () => K.mh(251, false, false) },
  { name: "mh", oracle: () => K.mh(4093, false, false) },
  {
    name: "mh",
    flags: ServiceFlags.Fallback | ServiceFlags.Port,
    options: { tableSize: 251 },
    oracle: () => K.mh(251, true, true)
  },
  { name: "lblc", options: { expiration: 3_600_000 }, oracle: () => K.lblc(3_600_000) },
  { name: "lblcr", options: { expiration: 600_000 }, oracle: () => K.lblcr(600_000) }
]

describe("oracle under churn: large pools, many adds/removes (slot renumbering and compaction)", () => {
  for (const setup of setups.filter((x) => ["rr", "wrr", "wlc", "nq", "twos", "lblcr"].includes(x.name))) {
    it(`${setup.name}: every pick and every flag`, { timeout: 600_000 }, () => {
      fc.assert(
        fc.property(
          fc.array(churnArb, { minLength: 200, maxLength: 3 * MAX_OPS, size: "max" }),
          fc.nat(),
          (ops, seed) => run(setup, ops, seed)
        ),
        { numRuns: Math.max(1, Math.ceil(RUNS / 4)) }
      )
    })
  }
})

describe("oracle: fast schedulers agree with linear-scan transcriptions of the kernel", () => {
  afterAll(() => {
    console.log(`oracle picks compared: ${totalPicks}`)
  })
  for (const setup of setups) {
    const title = `${setup.name}${setup.flags ? ` flags=0x${setup.flags.toString(16)}` : ""}${setup.options ? ` ${JSON.stringify(setup.options)}` : ""}`
    it(`${title}: every pick and every OVERLOAD flag`, { timeout: 600_000 }, () => {
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 10, maxLength: MAX_OPS, size: "max" }), fc.nat(), (ops, seed) =>
          run(setup, ops, seed)
        ),
        { numRuns: RUNS }
      )
    })
  }
})
