// Property test: random packet sequences through the ConnectionTable and through a deliberately simple reference
// model (a Map plus the state tables), requiring identical entries, states, expiries, packet/byte counters and
// destination counters after every step.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { ConnectionFlags, Destinations, Direction, Protocol, SctpState, TcpState, type Timeouts } from "../src/index.ts"
import { conn, makeTable, RIP, VIP } from "./helpers.ts"

interface ModelEntry {
  protocol: number
  method: number
  client: number
  clientPort: number
  dest: number
  state: number
  inactive: boolean
  noOutput: boolean
  expires: number
  timeout: number
  inPkts: number
  outPkts: number
  inBytes: number
  outBytes: number
}

const PROTOCOLS = [Protocol.TCP, Protocol.UDP, Protocol.SCTP]
const METHODS = [ConnectionFlags.MASQ, ConnectionFlags.DROUTE, ConnectionFlags.TUNNEL, ConnectionFlags.FULLNAT]
const LADDR = 0x0a636301

type Op =
  | { kind: "insert"; client: number; port: number; proto: number; method: number; dest: number }
  | { kind: "packet"; pick: number; out: boolean; signal: number; bytes: number }
  | { kind: "advance"; dt: number }
  | { kind: "expireNow"; pick: number }
  | { kind: "handshake"; pick: number }
  | { kind: "secure"; on: boolean }
  | { kind: "timeouts"; tcp: number; tcpfin: number; udp: number }

const key = (proto: number, client: number, port: number) => `${proto}/${client}/${port}`
const clientAddress = (c: number) => 0x0a000000 + c * 0x10001

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("insert" as const),
      client: fc.nat(5),
      port: fc.nat(1),
      proto: fc.constantFrom(...PROTOCOLS),
      method: fc.constantFrom(...METHODS),
      dest: fc.constantFrom(0, 1, 2, Destinations.NONE)
    })
  },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("packet" as const),
      pick: fc.nat(1000),
      out: fc.boolean(),
      // TCP flag bytes (incl. none) or SCTP chunk types (incl. unknown)
      signal: fc.oneof(
        fc.constantFrom(0x02, 0x10, 0x01, 0x11, 0x04, 0x14, 0x12, 0x18, 0x08, 0x06),
        fc.nat(0x3f),
        fc.nat(20)
      ),
      bytes: fc.nat(1500)
    })
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      dt: fc.constantFrom(0, 1, 15, 16, 17, 999, 2000, 3000, 5000, 10_000, 30_000, 60_000, 120_000, 900_000, 2_000_000)
    })
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("expireNow" as const), pick: fc.nat(1000) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("secure" as const), on: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("handshake" as const), pick: fc.nat(1000) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("timeouts" as const),
      tcp: fc.constantFrom(0, 5, 900, 3600),
      tcpfin: fc.constantFrom(0, 1, 120),
      udp: fc.constantFrom(0, 2, 300)
    })
  }
)

// The model's own transition: plain code over the state tables, no table machinery.
const modelPacket = (
  m: ModelEntry,
  out: boolean,
  signal: number,
  bytes: number,
  secure: boolean,
  t: Timeouts.Timeouts,
  active: Int32Array,
  inactive: Int32Array,
  now: number
) => {
  if (out) {
    m.outPkts++
    m.outBytes += bytes
  } else {
    m.inPkts++
    m.inBytes += bytes
  }
  if (m.protocol === Protocol.UDP) {
    m.timeout = t.udp[0]!
  } else {
    let dir = out ? Direction.OUTPUT : Direction.INPUT
    if (m.noOutput) {
      if (out) m.noOutput = false
      else dir = Direction.INPUT_ONLY
    }
    const next =
      m.protocol === Protocol.TCP
        ? TcpState.next(secure, dir, TcpState.eventOf(signal), m.state)
        : SctpState.next(dir, SctpState.eventOf(signal), m.state)
    const isActive = m.protocol === Protocol.TCP ? TcpState.isActive(next) : next === SctpState.ESTABLISHED
    if (next !== m.state && m.dest !== Destinations.NONE) {
      if (!m.inactive && !isActive) {
        m.inactive = true
        active[m.dest]!--
        inactive[m.dest]!++
      } else if (m.inactive && isActive) {
        m.inactive = false
        active[m.dest]!++
        inactive[m.dest]!--
      }
    }
    m.state = next
    m.timeout = m.protocol === Protocol.TCP ? t.tcp[next]! : t.sctp[next]!
  }
  m.expires = now + m.timeout
}

describe("ConnectionTable against a Map-based reference model", () => {
  it("random packet sequences give identical states, expiries and counters", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 150 }), (ops) => {
        const { table, counters } = makeTable({ maxConnections: 1000, initialBuckets: 4 })
        const model = new Map<string, ModelEntry>()
        const active = new Int32Array(3)
        const inactive = new Int32Array(3)
        let secure = false
        let now = 5
        const find = (m: ModelEntry, out: boolean): number => {
          const c = clientAddress(m.client)
          if (!out) return table.lookupIn(m.protocol, c, m.clientPort, VIP, 80)
          if (m.method === ConnectionFlags.MASQ) return table.lookupOut(m.protocol, RIP, 8080, c, m.clientPort)
          if (m.method === ConnectionFlags.FULLNAT)
            return table.lookupOut(m.protocol, RIP, 8080, LADDR, 20000 + m.client * 4 + m.clientPort)
          return table.lookupOut(m.protocol, VIP, 80, c, m.clientPort)
        }
        for (const op of ops) {
          switch (op.kind) {
            case "insert": {
              const k = key(op.proto, op.client, op.port)
              if (model.has(k)) break
              const p = conn({
                protocol: op.proto,
                client: clientAddress(op.client),
                clientPort: op.port,
                method: op.method,
                destination: op.dest,
                destinationPort: 8080
              })
              p.localAddress = LADDR
              p.localPort = 20000 + op.client * 4 + op.port
              expect(table.insert(p, now)).toBeGreaterThanOrEqual(0)
              model.set(k, {
                protocol: op.proto,
                method: op.method,
                client: op.client,
                clientPort: op.port,
                dest: op.dest,
                state: 0,
                inactive: true,
                noOutput: op.method !== ConnectionFlags.MASQ && op.method !== ConnectionFlags.FULLNAT,
                expires: now + 3000,
                timeout: 3000,
                inPkts: 0,
                outPkts: 0,
                inBytes: 0,
                outBytes: 0
              })
              if (op.dest !== Destinations.NONE) inactive[op.dest]!++
              break
            }
            case "packet": {
              // Packets go to existing entries (picked by position) so sequences exercise the state machines.
              const m = [...model.values()][op.pick % Math.max(1, model.size)]
              if (m === undefined) break
              const e = find(m, op.out)
              expect(e).toBeGreaterThanOrEqual(0)
              table.packet(e, op.out ? Direction.OUTPUT : Direction.INPUT, op.signal, op.bytes, now)
              modelPacket(m, op.out, op.signal, op.bytes, secure, table.timeouts, active, inactive, now)
              break
            }
            case "handshake": {
              // SYN, SYN-ACK, ACK: makes long-lived (ESTABLISHED) entries common, so later FIN/RST packets move
              // expiries earlier after the wheel has re-filed them.
              const m = [...model.values()][op.pick % Math.max(1, model.size)]
              if (m === undefined || m.protocol !== Protocol.TCP) break
              const steps: Array<[boolean, number]> = [
                [false, TcpState.SYN],
                [true, TcpState.SYN | TcpState.ACK],
                [false, TcpState.ACK]
              ]
              for (const [out, flags] of steps) {
                const e = find(m, out)
                expect(e).toBeGreaterThanOrEqual(0)
                table.packet(e, out ? Direction.OUTPUT : Direction.INPUT, flags, 60, now)
                modelPacket(m, out, flags, 60, secure, table.timeouts, active, inactive, now)
              }
              break
            }
            case "advance": {
              now += op.dt
              table.advance(now)
              for (const [k, m] of model) {
                if (m.expires <= now) {
                  model.delete(k)
                  if (m.dest !== Destinations.NONE) {
                    if (m.inactive) inactive[m.dest]!--
                    else active[m.dest]!--
                  }
                }
              }
              break
            }
            case "expireNow": {
              const m = [...model.values()][op.pick % Math.max(1, model.size)]
              if (m === undefined) break
              const k = key(m.protocol, m.client, m.clientPort)
              table.expireNow(find(m, false), now)
              model.delete(k)
              if (m.dest !== Destinations.NONE) {
                if (m.inactive) inactive[m.dest]!--
                else active[m.dest]!--
              }
              break
            }
            case "secure":
              secure = op.on
              table.behaviour.secureTcp = op.on ? 3 : 0
              break
            case "timeouts":
              table.timeouts.setIpvsadm(op)
              break
          }
          // Full comparison after every step.
          expect(table.size).toBe(model.size)
          for (const m of model.values()) {
            const e = find(m, false)
            expect(e).toBeGreaterThanOrEqual(0)
            expect(find(m, true)).toBe(e)
            expect(table.state(e)).toBe(m.state)
            expect(table.expiresAt(e)).toBe(m.expires)
            expect(table.timeout(e)).toBe(m.timeout)
            expect((table.flags(e) & ConnectionFlags.INACTIVE) !== 0).toBe(m.inactive)
            expect((table.flags(e) & ConnectionFlags.NOOUTPUT) !== 0).toBe(m.noOutput)
            expect([table.inPackets(e), table.outPackets(e), table.inBytes(e), table.outBytes(e)]).toEqual([
              m.inPkts,
              m.outPkts,
              m.inBytes,
              m.outBytes
            ])
          }
          for (let d = 0; d < 3; d++) {
            expect(counters.active[d]).toBe(active[d])
            expect(counters.inactive[d]).toBe(inactive[d])
          }
        }
      }),
      { numRuns: 300 }
    )
  })
})
