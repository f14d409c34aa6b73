import { Pool } from "@lvs-ts/checkers"
import fc from "fast-check"
import { describe, expect, it } from "vitest"

const VS = "[192.0.2.1]:tcp:80"
const rs = (n: number, extra: Partial<Pool.RealServerInput> = {}): Pool.RealServerInput => ({
  address: `10.0.0.${n}`,
  port: 80,
  checkers: 1,
  ...extra
})
const logs = (a: ReadonlyArray<Pool.Action>) => a.flatMap((x) => (x._tag === "Log" ? [x.message] : []))
const director = (a: ReadonlyArray<Pool.Action>) =>
  a.flatMap((x) =>
    x._tag === "AddDestination" || x._tag === "EditDestination"
      ? [`${x._tag} ${x.destination} w=${x.weight}`]
      : x._tag === "RemoveDestination"
        ? [`${x._tag} ${x.destination}`]
        : []
  )
const scripts = (a: ReadonlyArray<Pool.Action>) => a.flatMap((x) => (x._tag === "RunScript" ? [x.script] : []))

describe("Pool (keepalived ipwrapper.c)", () => {
  it("start: alive servers are added, quorum evaluated once: 'Gained quorum' + quorum_up", () => {
    const pool = Pool.make({
      address: "192.0.2.1",
      port: 80,
      protocol: "tcp",
      quorum: 2,
      quorumUp: ["/bin/true"],
      realServers: [rs(1), rs(2), rs(3)]
    })
    const a = Pool.start(pool)
    expect(director(a)).toEqual([
      "AddDestination [10.0.0.1]:tcp:80 w=1",
      "AddDestination [10.0.0.2]:tcp:80 w=1",
      "AddDestination [10.0.0.3]:tcp:80 w=1"
    ])
    expect(logs(a)).toContain(`Gained quorum 2+0=2 <= 3 for VS ${VS}`)
    expect(scripts(a)).toEqual(["quorum_up"])
  })

  it("quorum loss installs the sorry server and removes alive servers; gain reverses it", () => {
    const pool = Pool.make({
      address: "192.0.2.1",
      port: 80,
      protocol: "tcp",
      quorum: 2,
      quorumDown: ["/bin/false"],
      quorumUp: ["/bin/true"],
      sorryServer: { address: "10.9.9.9", port: 8080 },
      realServers: [rs(1, { notifyDown: ["/bin/true"] }), rs(2), rs(3)]
    })
    Pool.start(pool)
    const down1 = Pool.setChecker(pool, 0, 0, false)
    expect(logs(down1)).toEqual([`Removing service [10.0.0.1]:tcp:80 from VS ${VS}`])
    expect(scripts(down1)).toEqual(["notify_down"])
    expect(down1).toContainEqual({ _tag: "Notify", line: `RS [10.0.0.1]:tcp:80 ${VS} DOWN` })
    const down2 = Pool.setChecker(pool, 1, 0, false)
    expect(logs(down2)).toEqual([
      `Removing service [10.0.0.2]:tcp:80 from VS ${VS}`,
      `Lost quorum 2-0=2 > 1 for VS ${VS}`,
      `Adding sorry server [10.9.9.9]:tcp:8080 to VS ${VS}`,
      `Removing alive servers from the pool for VS ${VS}`,
      `Removing service [10.0.0.3]:tcp:80 from VS ${VS}`
    ])
    expect(director(down2)).toEqual([
      "RemoveDestination [10.0.0.2]:tcp:80",
      "RemoveDestination [10.0.0.3]:tcp:80",
      "AddDestination [10.9.9.9]:tcp:8080 w=1"
    ])
    expect(scripts(down2)).toEqual(["quorum_down"])
    // While the sorry server is in use, RS changes are recorded but not pushed.
    const up1 = Pool.setChecker(pool, 0, 0, true)
    expect(logs(up1)).toEqual([
      `Gained quorum 2+0=2 <= 2 for VS ${VS}`,
      `Removing sorry server [10.9.9.9]:tcp:8080 from VS ${VS}`,
      `Adding alive servers to the pool for VS ${VS}`,
      `Adding service [10.0.0.1]:tcp:80 to VS ${VS}`,
      `Adding service [10.0.0.3]:tcp:80 to VS ${VS}`
    ])
    expect(director(up1)).toEqual([
      "RemoveDestination [10.9.9.9]:tcp:8080",
      "AddDestination [10.0.0.1]:tcp:80 w=1",
      "AddDestination [10.0.0.3]:tcp:80 w=1"
    ])
    expect(scripts(up1)).toEqual(["quorum_up"])
    expect(pool.sorryActive).toBe(false)
  })

  it("hysteresis: gained at >= q+h, lost below q-h (or 0)", () => {
    const pool = Pool.make({
      address: "192.0.2.1",
      port: 80,
      protocol: "tcp",
      quorum: 3,
      hysteresis: 1,
      realServers: [1, 2, 3, 4, 5].map((n) => rs(n))
    })
    const trace: Array<string> = []
    const rec = (a: ReadonlyArray<Pool.Action>) => {
      for (const m of logs(a)) if (m.includes("quorum")) trace.push(m)
    }
    rec(Pool.start(pool)) // sum 5 >= 4: gained
    rec(Pool.setChecker(pool, 0, 0, false)) // 4
    rec(Pool.setChecker(pool, 1, 0, false)) // 3
    rec(Pool.setChecker(pool, 2, 0, false)) // 2: not < 2, still up
    rec(Pool.setChecker(pool, 3, 0, false)) // 1 < 2: lost
    rec(Pool.setChecker(pool, 0, 0, true)) // 2
    rec(Pool.setChecker(pool, 1, 0, true)) // 3: not >= 4, still down
    rec(Pool.setChecker(pool, 2, 0, true)) // 4: gained
    expect(trace).toEqual([
      `Gained quorum 3+1=4 <= 5 for VS ${VS}`,
      `Lost quorum 3-1=2 > 1 for VS ${VS}`,
      `Gained quorum 3+1=4 <= 4 for VS ${VS}`
    ])
  })

  it("starting below quorum with a sorry server: 'Starting with quorum down' (prints q+h) and the sorry server", () => {
    const pool = Pool.make({
      address: "192.0.2.1",
      port: 80,
      protocol: "tcp",
      quorum: 2,
      hysteresis: 1,
      sorryServer: { address: "10.9.9.9" },
      realServers: [rs(1, { initiallyFailed: [0] }), rs(2, { initiallyFailed: [0] }), rs(3)]
    })
    const a = Pool.start(pool)
    expect(logs(a)).toContain(`Starting with quorum down 2-1=3 > 1 for VS ${VS}`)
    expect(director(a)).toEqual([
      "AddDestination [10.0.0.3]:tcp:80 w=1",
      "RemoveDestination [10.0.0.3]:tcp:80",
      "AddDestination [10.9.9.9]:tcp:80 w=1"
    ])
    // without a sorry server nothing is logged or run
    const p2 = Pool.make({
      address: "192.0.2.1",
      port: 80,
      protocol: "tcp",
      quorum: 2,
      realServers: [rs(1, { initiallyFailed: [0] }), rs(2)]
    })
    expect(logs(Pool.start(p2)).filter((m) => m.includes("quorum"))).toEqual([])
  })

  it("inhibit_on_failure: down edits to weight 0, up edits back; dead-at-start installed with weight 0", () => {
    const pool = Pool.make({
      address: "192.0.2.1",
      port: 80,
      protocol: "tcp",
      inhibitOnFailure: true,
      realServers: [rs(1, { weight: 3 }), rs(2, { initiallyFailed: [0] })]
    })
    expect(director(Pool.start(pool))).toEqual([
      "AddDestination [10.0.0.1]:tcp:80 w=3",
      "AddDestination [10.0.0.2]:tcp:80 w=0"
    ])
    const d = Pool.setChecker(pool, 0, 0, false)
    expect(logs(d)).toEqual([`Disabling service [10.0.0.1]:tcp:80 of VS ${VS}`, `Lost quorum 1-0=1 > 0 for VS ${VS}`])
    expect(director(d)).toEqual(["EditDestination [10.0.0.1]:tcp:80 w=0"])
    const u = Pool.setChecker(pool, 0, 0, true)
    expect(logs(u)).toEqual([`Enabling service [10.0.0.1]:tcp:80 of VS ${VS}`, `Gained quorum 1+0=1 <= 3 for VS ${VS}`])
    expect(director(u)).toEqual(["EditDestination [10.0.0.1]:tcp:80 w=3"])
    const stop = Pool.stop(pool)
    expect(logs(stop)).toContain(`Shutting down (inhibited) service [10.0.0.1]:tcp:80 from VS ${VS}`)
    expect(director(stop)).toEqual(["RemoveDestination [10.0.0.1]:tcp:80", "RemoveDestination [10.0.0.2]:tcp:80"])
  })

  it("alive = no failed checker: only the first failing and the last recovering checker change the server", () => {
    const pool = Pool.make({ address: "192.0.2.1", port: 80, protocol: "tcp", realServers: [rs(1, { checkers: 2 })] })
    Pool.start(pool)
    expect(director(Pool.setChecker(pool, 0, 0, false))).toEqual(["RemoveDestination [10.0.0.1]:tcp:80"])
    expect(Pool.setChecker(pool, 0, 1, false)).toEqual([])
    expect(Pool.setChecker(pool, 0, 0, true)).toEqual([])
    expect(director(Pool.setChecker(pool, 0, 1, true))).toEqual(["AddDestination [10.0.0.1]:tcp:80 w=1"])
  })

  it("dynamic weight: contributions add up, are clamped, pushed only in the pool, and re-evaluate the quorum", () => {
    const pool = Pool.make({
      address: "192.0.2.1",
      port: 80,
      protocol: "tcp",
      quorum: 2,
      realServers: [rs(1, { weight: 1, checkers: 2 }), rs(2, { weight: 1 })]
    })
    Pool.start(pool)
    const a = Pool.setContribution(pool, 0, 0, 4)
    expect(logs(a)).toEqual([`Changing weight from 1 to 5 for active service [10.0.0.1]:tcp:80 of VS ${VS}`])
    expect(director(a)).toEqual(["EditDestination [10.0.0.1]:tcp:80 w=5"])
    // 1 + 4 - 10 clamps to 0: the weight sum 1 < quorum 2, lost
    expect(logs(Pool.setContribution(pool, 0, 1, -10)).at(-1)).toBe(`Lost quorum 2-0=2 > 1 for VS ${VS}`)
    expect(Pool.realServer(pool, 0).weight).toBe(0)
    Pool.setChecker(pool, 1, 0, false)
    const b = Pool.setContribution(pool, 1, 0, 6)
    expect(logs(b)).toEqual([`Changing weight from 1 to 7 for inactive service [10.0.0.2]:tcp:80 of VS ${VS}`])
    expect(director(b)).toEqual([])
  })

  it("config fixes: quorum above the total weight, hysteresis >= quorum", () => {
    const pool = Pool.make({
      address: "192.0.2.1",
      port: 80,
      protocol: "tcp",
      quorum: 10,
      hysteresis: 20,
      realServers: [rs(1, { weight: 2 }), rs(2, { weight: 3 })]
    })
    expect(pool.quorum).toBe(5)
    expect(pool.hysteresis).toBe(4)
    expect(pool.warnings).toEqual([
      `Warning - quorum 10 for ${VS} exceeds total weight of real servers 5, reducing quorum to 5`,
      `Virtual server ${VS}: hysteresis 20 >= quorum 5; setting hysteresis to 4`
    ])
  })

  it("omega runs notify_down and quorum_down at shutdown", () => {
    const pool = Pool.make({
      address: "192.0.2.1",
      port: 80,
      protocol: "tcp",
      omega: true,
      quorumDown: ["/bin/true"],
      realServers: [rs(1, { notifyDown: ["/bin/true"] })]
    })
    Pool.start(pool)
    expect(scripts(Pool.stop(pool))).toEqual(["notify_down", "quorum_down"])
  })

  it("property: the incremental weight sum equals the sum of alive effective weights; in-pool servers are installed", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant("chk" as const), rs: fc.nat(5), checker: fc.nat(1), up: fc.boolean() }),
            fc.record({
              kind: fc.constant("w" as const),
              rs: fc.nat(5),
              checker: fc.nat(1),
              c: fc.integer({ min: -5, max: 10 })
            })
          ),
          { maxLength: 80 }
        ),
        fc.boolean(),
        (ops, inhibit) => {
          const pool = Pool.make({
            address: "192.0.2.1",
            port: 80,
            protocol: "tcp",
            quorum: 4,
            hysteresis: 1,
            inhibitOnFailure: inhibit,
            sorryServer: { address: "10.9.9.9" },
            realServers: [0, 1, 2, 3, 4, 5].map((n) => rs(n + 1, { checkers: 2, weight: (n % 3) + 1 }))
          })
          Pool.start(pool)
          for (const op of ops) {
            if (op.kind === "chk") Pool.setChecker(pool, op.rs, op.checker, op.up)
            else Pool.setContribution(pool, op.rs, op.checker, op.c)
            let sum = 0
            for (let i = 0; i < 6; i++) {
              const v = Pool.realServer(pool, i)
              if (v.alive) sum += v.weight
              expect(v.alive).toBe(v.failedCheckers.length === 0)
              if (v.alive && !pool.sorryActive) expect([v.installed, v.installedWeight]).toEqual([true, v.weight])
              else if (inhibit) expect([v.installed, v.installedWeight]).toEqual([true, 0])
              else expect(v.installed).toBe(false)
            }
            expect(Pool.weightSum(pool)).toBe(sum)
            if (pool.quorumUp) expect(sum).toBeGreaterThanOrEqual(pool.quorum - pool.hysteresis)
            expect(pool.sorryActive).toBe(!pool.quorumUp)
          }
        }
      ),
      { numRuns: 300 }
    )
  })
})
