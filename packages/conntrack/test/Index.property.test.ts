// The open-addressed indexes under random inserts (with many duplicate keys), removals, lookups in both directions
// and resizes, against a model that is just a list of live entries. Tables start at 8 index slots, so every run
// goes through many incremental resizes, probe runs wrap around the end of the index, and backward-shift deletion
// runs on every removal.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { ConnectionFlags, ConnectionParams, Protocol } from "../src/index.ts"
import { makeTable } from "./helpers.ts"

interface Live {
  entry: number
  inKey: string
  outKey: string | null
  epoch: number
  seq: number
}

interface Shape {
  v6: boolean
  template: boolean
  proto: number
  method: number
  client: number
  cport: number
  vip: number
  vport: number
  daddr: number
  dport: number
  laddr: number
  lport: number
}

type Op = { kind: "insert"; shape: Shape } | { kind: "remove"; pick: number } | { kind: "advance" }

const METHODS = [ConnectionFlags.MASQ, ConnectionFlags.FULLNAT, ConnectionFlags.DROUTE]
const VIPS = [0x0a000064, 0xc0000201]
const DADDRS = [0xc0a80a01, 0xc0a80a02, 0x8000000a] // one above 2^31: int32 comparisons must hold

const shapeArb: fc.Arbitrary<Shape> = fc.record({
  v6: fc.boolean(),
  template: fc.nat(9).map((n) => n < 2),
  proto: fc.constantFrom(Protocol.TCP, Protocol.UDP, Protocol.SCTP),
  method: fc.constantFrom(...METHODS),
  client: fc.nat(24),
  cport: fc.nat(2),
  vip: fc.nat(1),
  vport: fc.constantFrom(80, 443),
  daddr: fc.nat(2),
  dport: fc.constantFrom(80, 8080),
  laddr: fc.nat(1),
  lport: fc.nat(3)
})

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 7, arbitrary: fc.record({ kind: fc.constant("insert" as const), shape: shapeArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("remove" as const), pick: fc.nat(100_000) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("advance" as const) }) }
)

const clientOf = (s: Shape): number => (0x0b000000 + s.client * 0x01010101) >>> 0
const cportOf = (s: Shape): number => (s.template ? 0 : 40000 + s.cport)
const vipOf = (s: Shape): number => VIPS[s.vip]!
const daddrOf = (s: Shape): number => DADDRS[s.daddr]!
const laddrOf = (s: Shape): number => 0x0a0a0000 + s.laddr
const lportOf = (s: Shape): number => 1024 + s.lport
const v6Of = (word: number): Uint32Array => Uint32Array.of(0x20010db8, 0, word >>> 16, word & 0xffff)

const inKey = (s: Shape): string =>
  `${s.template ? "T" : "C"}/${s.v6}/${s.proto}/${clientOf(s)}/${cportOf(s)}/${vipOf(s)}/${s.vport}`

// The reply tuple as lookupOut receives it: source, source port, destination, destination port.
const outTuple = (s: Shape): [number, number, number, number] => {
  if (s.method === ConnectionFlags.MASQ) return [daddrOf(s), s.dport, clientOf(s), cportOf(s)]
  if (s.method === ConnectionFlags.FULLNAT) return [daddrOf(s), s.dport, laddrOf(s), lportOf(s)]
  return [vipOf(s), s.vport, clientOf(s), cportOf(s)]
}
const outKey = (s: Shape): string | null => (s.template ? null : `${s.v6}/${s.proto}/${outTuple(s).join("/")}`)

const params = (s: Shape): ConnectionParams.ConnectionParams => {
  const p = ConnectionParams.make()
  p.protocol = s.proto
  p.method = s.method
  p.destination = 0
  p.ipv6 = s.v6
  if (s.template) p.flags = ConnectionFlags.TEMPLATE
  p.clientPort = cportOf(s)
  p.virtualPort = s.vport
  p.destinationPort = s.dport
  if (s.method === ConnectionFlags.FULLNAT) p.localPort = lportOf(s)
  if (s.v6) {
    p.clientAddress6.set(v6Of(clientOf(s)))
    p.virtualAddress6.set(v6Of(vipOf(s)))
    p.destinationAddress6.set(v6Of(daddrOf(s)))
    p.localAddress6.set(v6Of(laddrOf(s)))
  } else {
    p.clientAddress = clientOf(s)
    p.virtualAddress = vipOf(s)
    p.destinationAddress = daddrOf(s)
    p.localAddress = laddrOf(s)
  }
  return p
}

const lookupInOf = (table: ReturnType<typeof makeTable>["table"], s: Shape): number => {
  if (s.v6) {
    const c = v6Of(clientOf(s))
    const v = v6Of(vipOf(s))
    return s.template
      ? table.lookupTemplate6(s.proto, c, 0, v, 0, s.vport)
      : table.lookupIn6(s.proto, c, 0, cportOf(s), v, 0, s.vport)
  }
  return s.template
    ? table.lookupTemplate(s.proto, clientOf(s), vipOf(s), s.vport)
    : table.lookupIn(s.proto, clientOf(s), cportOf(s), vipOf(s), s.vport)
}

const lookupOutOf = (table: ReturnType<typeof makeTable>["table"], s: Shape): number => {
  const [src, sport, dst, dport] = outTuple(s)
  return s.v6
    ? table.lookupOut6(s.proto, v6Of(src), 0, sport, v6Of(dst), 0, dport)
    : table.lookupOut(s.proto, src | 0, sport, dst | 0, dport)
}

describe("open-addressed indexes against a list model", () => {
  it("random inserts with duplicate keys, removals and resizes keep both directions exact", () => {
    let mostResizes = 0
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 100, maxLength: 500 }), (ops) => {
        const { table } = makeTable({ maxConnections: 5000, initialBuckets: 4 })
        const live: Array<Live> = []
        const shapes = new Map<number, Shape>()
        let epoch = 0
        let seq = 0
        let lastSlots = table.bucketCount
        let resizes = 0

        // For each key: found entry must be live with that key; the newest when it was inserted after the latest
        // resize began (a resize may reorder duplicates that were both in the index it drains).
        const check = (s: Shape): void => {
          const ik = inKey(s)
          const sameIn = live.filter((l) => l.inKey === ik)
          const e = lookupInOf(table, s)
          if (sameIn.length === 0) expect(e).toBe(-1)
          else {
            expect(sameIn.map((l) => l.entry)).toContain(e)
            const newest = sameIn.reduce((a, b) => (a.seq > b.seq ? a : b))
            if (newest.epoch === epoch) expect(e).toBe(newest.entry)
          }
          const ok = outKey(s)
          if (ok === null) return
          const sameOut = live.filter((l) => l.outKey === ok)
          const o = lookupOutOf(table, s)
          if (sameOut.length === 0) expect(o).toBe(-1)
          else {
            expect(sameOut.map((l) => l.entry)).toContain(o)
            const newest = sameOut.reduce((a, b) => (a.seq > b.seq ? a : b))
            if (newest.epoch === epoch) expect(o).toBe(newest.entry)
          }
        }

        for (const op of ops) {
          if (op.kind === "insert") {
            const e = table.insert(params(op.shape), 0)
            expect(e).toBeGreaterThanOrEqual(0)
            // An insert that starts a resize was placed in the index the resize drains: it belongs to the epoch before.
            const placedIn = epoch
            if (table.bucketCount !== lastSlots) {
              lastSlots = table.bucketCount
              epoch++
              resizes++
            }
            live.push({ entry: e, inKey: inKey(op.shape), outKey: outKey(op.shape), epoch: placedIn, seq: seq++ })
            shapes.set(e, op.shape)
            check(op.shape)
          } else if (op.kind === "remove") {
            if (live.length === 0) continue
            const [gone] = live.splice(op.pick % live.length, 1)
            expect(table.expireNow(gone!.entry, 0)).toBe(true)
            check(shapes.get(gone!.entry)!)
          } else {
            table.advance(0)
          }
          expect(table.size).toBe(live.length)
          // Load factor bound of the current index.
          expect(table.size).toBeLessThanOrEqual(0.95 * table.bucketCount + 1)
        }
        for (const l of live) check(shapes.get(l.entry)!)
        // Every live entry reads back the tuple it was created with (what listings print): the reply record holds
        // the reply tuple, so the getters must undo its per-method layout.
        for (const l of live) {
          const sh = shapes.get(l.entry)!
          expect(table.protocol(l.entry)).toBe(sh.proto)
          expect(table.method(l.entry)).toBe(sh.method)
          expect(table.isIpv6(l.entry)).toBe(sh.v6)
          expect(table.clientPort(l.entry)).toBe(cportOf(sh))
          expect(table.virtualPort(l.entry)).toBe(sh.vport)
          expect(table.destinationPort(l.entry)).toBe(sh.dport)
          expect(table.localPort(l.entry)).toBe(sh.method === ConnectionFlags.FULLNAT ? lportOf(sh) : 0)
          if (sh.v6) {
            const w = new Uint32Array(4)
            table.readClientAddress6(l.entry, w, 0)
            expect([...w]).toEqual([...v6Of(clientOf(sh))])
            table.readDestinationAddress6(l.entry, w, 0)
            expect([...w]).toEqual([...v6Of(daddrOf(sh))])
            expect(table.localAddress(l.entry)).toBe(0)
          } else {
            expect(table.clientAddress(l.entry)).toBe(clientOf(sh))
            expect(table.virtualAddress(l.entry)).toBe(vipOf(sh))
            expect(table.destinationAddress(l.entry)).toBe(daddrOf(sh))
            expect(table.localAddress(l.entry)).toBe(sh.method === ConnectionFlags.FULLNAT ? laddrOf(sh) : 0)
          }
        }
        // The same tuples under another protocol are absent in both directions (the out slot's tag is exact).
        for (const l of live.slice(0, 20)) {
          const sh = shapes.get(l.entry)!
          const other = { ...sh, proto: sh.proto === Protocol.TCP ? Protocol.SCTP : Protocol.TCP }
          if (!live.some((m) => m.inKey === inKey(other))) expect(lookupInOf(table, other)).toBe(-1)
          const ok = outKey(other)
          if (ok !== null && !live.some((m) => m.outKey === ok)) expect(lookupOutOf(table, other)).toBe(-1)
        }
        // Absent keys: clients never inserted.
        for (const l of live.slice(0, 20)) {
          const s = { ...shapes.get(l.entry)!, client: 1000, lport: 1000 }
          expect(lookupInOf(table, s)).toBe(-1)
          if (!s.template) expect(lookupOutOf(table, s)).toBe(-1)
        }
        mostResizes = Math.max(mostResizes, resizes)
      }),
      { numRuns: 150 }
    )
    // The runs did exercise resizes (8 slots grow past 0.8 load within the first few inserts).
    expect(mostResizes).toBeGreaterThanOrEqual(4)
  }, 60_000)
})
