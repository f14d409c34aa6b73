/**
 * Custom schedulers by name, and the destination model's parsing and validation.
 */
import {
  Destination,
  type DestinationPool,
  defaultRegistry,
  noDestinationAvailable,
  type Pick,
  DestinationPool as Pool,
  type Scheduler,
  SchedulerRegistry
} from "@lvs-ts/schedulers"
import { describe, expect, it } from "vitest"
import { label, pickV4 } from "./helpers.ts"

/** A custom scheduler: always the LAST destination in list order (the oldest), skipping weight 0. */
class Oldest implements Scheduler {
  readonly name = "oldest"
  private pool: DestinationPool | undefined
  init(pool: DestinationPool): void {
    this.pool = pool
  }
  done(): void {
    this.pool = undefined
  }
  added(): void {}
  removed(): void {}
  updated(): void {}
  countersChanged(): void {}
  relayout(): void {}
  schedule(): Pick {
    const pool = this.pool!
    for (let i = pool.capacity - 1; i >= pool.head; i--) {
      const d = pool.slots[i]
      if (d !== undefined && d.weight > 0) return d
    }
    return noDestinationAvailable
  }
}

describe("scheduler registry", () => {
  it("registers a custom scheduler by name and pools use it", () => {
    defaultRegistry.register("oldest", () => new Oldest())
    try {
      const pool = new Pool({ scheduler: "oldest" })
      pool.add(new Destination(4, 1, 0, 0, 0, 1))
      pool.add(new Destination(4, 2, 0, 0, 0, 2))
      expect(label(pickV4(pool))).toBe(1)
      pool.setScheduler("rr")
      expect(label(pickV4(pool))).toBe(2)
    } finally {
      defaultRegistry.unregister("oldest")
    }
  })

  it("knows the fourteen kernel schedulers and names unknown ones in its error", () => {
    expect(defaultRegistry.names().sort()).toEqual(
      ["dh", "fo", "lblc", "lblcr", "lc", "mh", "nq", "ovf", "rr", "sed", "sh", "twos", "wlc", "wrr"].sort()
    )
    expect(() => new Pool({ scheduler: "nope" })).toThrow(/Scheduler not found: "nope"/)
    expect(() => new SchedulerRegistry().register("", () => new Oldest())).toThrow(/1\.\.15/)
  })
})

describe("Destination and pool validation", () => {
  it("parses and prints IPv4 and IPv6 addresses", () => {
    expect(Destination.make("10.0.0.1", 80).toString()).toBe("10.0.0.1:80")
    expect(Destination.make("2001:db8::10", 443).toString()).toBe("[2001:db8::10]:443")
    expect(Destination.make("::ffff:10.0.0.1", 1).toString()).toBe("[::ffff:a00:1]:1")
    expect(Destination.make("2001:db8::1", 1).foldedAddress()).toBe((0x20010db8 ^ 1) >>> 0)
    expect(() => Destination.make("10.0.0.256", 80)).toThrow(/invalid address "10.0.0.256"/)
    expect(() => Destination.make("1::2::3", 80)).toThrow(/invalid address/)
    expect(() => Destination.make("10.0.0.1", 70000)).toThrow(/port must be 0..65535, got 70000/)
  })

  it("rejects duplicates, bad settings and foreign destinations with clear errors", () => {
    const pool = new Pool()
    const a = Destination.make("10.0.0.1", 80)
    pool.add(a)
    expect(() => pool.add(Destination.make("10.0.0.1", 80))).toThrow(/already exists/)
    expect(() => pool.edit(a, { weight: -1 })).toThrow(/weight must be an integer 0\.\.2147483647, got -1/)
    expect(() => pool.edit(Destination.make("10.0.0.2", 80), { weight: 1 })).toThrow(/not in this pool/)
    expect(pool.find("10.0.0.1", 80)).toBe(a)
  })

  it("a removed destination keeps its counters, ignores unbinds gracefully and revives at the head", () => {
    const pool = new Pool({ scheduler: "rr" })
    const a = Destination.make("10.0.0.1", 80)
    const b = Destination.make("10.0.0.2", 80)
    pool.add(a)
    pool.add(b)
    a.bind(0)
    pool.remove(a)
    a.unbind(0)
    a.unbind(0) // never below zero
    expect(a.activeConnections).toBe(0)
    pool.add(a)
    expect(pool.destinations()).toEqual([a, b])
  })

  it("survives heavy churn: thousands of adds and removes keep list order and picks exact", () => {
    const pool = new Pool({ scheduler: "wlc" })
    const live: Array<Destination> = []
    let seed = 7
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return seed % n
    }
    for (let step = 0; step < 20_000; step++) {
      if (live.length < 5 || rnd(3) > 0) {
        const d = new Destination(4, step, 0, 0, 0, step & 0xffff)
        pool.add(d, { weight: rnd(4) })
        live.unshift(d)
      } else {
        const [d] = live.splice(rnd(live.length), 1)
        pool.remove(d!)
      }
      if (live.length > 3000) for (const d of live.splice(0, 2500)) pool.remove(d)
      if (step % 97 === 0) {
        const d = live[rnd(live.length)]!
        d.bind(rnd(2) as 0 | 1)
        // the linear scan (kernel wlc) over the expected list order
        let best: Destination | undefined
        for (const x of live) {
          if (x.weight === 0) continue
          if (best === undefined || best.overhead() * x.weight > x.overhead() * best.weight) best = x
        }
        expect(pickV4(pool)).toBe(best ?? noDestinationAvailable)
      }
    }
    expect(pool.destinations()).toEqual(live)
  })
})

describe("hot path robustness", () => {
  it("twos clamps a misbehaving random source instead of crashing", () => {
    for (const bad of [Number.NaN, -5, 1e12, 2.5]) {
      const pool = new Pool({ scheduler: "twos", schedulerOptions: { random: () => bad } })
      pool.add(new Destination(4, 1, 0, 0, 0, 1), { weight: 2 })
      pool.add(new Destination(4, 2, 0, 0, 0, 2), { weight: 3 })
      expect(pickV4(pool)._tag, String(bad)).toBe("Destination")
    }
  })

  it("short packets and out-of-range offsets do not throw in any scheduler", () => {
    for (const name of defaultRegistry.names()) {
      const pool = new Pool({ scheduler: name, family: 6 })
      pool.add(new Destination(6, 1, 2, 3, 4, 1))
      expect(() => pool.pick(new Uint8Array(3), 100, -7, 99999, 0), name).not.toThrow()
    }
  })
})
