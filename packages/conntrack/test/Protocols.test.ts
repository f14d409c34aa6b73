// UDP and SCTP state handling, timeouts and accounting (ipvs.md section 2.1).
import { describe, expect, it } from "vitest"
import { ConnectionFlags, Direction, Protocol, SctpState, UdpState } from "../src/index.ts"
import { conn, makeTable } from "./helpers.ts"

// SCTP chunk types.
const DATA = 0
const INIT = 1
const INIT_ACK = 2
const SACK = 3
const ABORT = 6
const SHUTDOWN = 7
const SHUTDOWN_ACK = 8
const ERROR = 9
const COOKIE_ECHO = 10
const COOKIE_ACK = 11
const SHUTDOWN_COMPLETE = 14

describe("UDP", () => {
  it("one state, 300 s timeout on every packet, always counted inactive", () => {
    const { table, counters } = makeTable()
    const e = table.insert(conn({ protocol: Protocol.UDP, virtualPort: 53 }), 0)
    expect(table.expiresAt(e)).toBe(3000)
    table.packet(e, Direction.INPUT, 0, 100, 0)
    expect(table.state(e)).toBe(UdpState.NORMAL)
    expect(table.stateName(e)).toBe("UDP")
    expect(table.expiresAt(e)).toBe(300_000)
    table.packet(e, Direction.OUTPUT, 0, 500, 100_000)
    expect(table.expiresAt(e)).toBe(400_000)
    expect(counters.active[0]).toBe(0)
    expect(counters.inactive[0]).toBe(1)
    expect([table.inPackets(e), table.outPackets(e), table.inBytes(e), table.outBytes(e)]).toEqual([1, 1, 100, 500])
    table.timeouts.setIpvsadm({ tcp: 0, tcpfin: 0, udp: 30 })
    table.packet(e, Direction.INPUT, 0, 100, 200_000)
    expect(table.expiresAt(e)).toBe(230_000)
    table.advance(230_000)
    expect(table.isLive(e)).toBe(false)
    expect(counters.inactive[0]).toBe(0)
  })
})

describe("SCTP", () => {
  const run = (method: number, steps: ReadonlyArray<[number, number, number]>) => {
    const { table, counters } = makeTable()
    const e = table.insert(conn({ protocol: Protocol.SCTP, method }), 0)
    const seen: Array<string> = []
    for (const [direction, chunk, _] of steps) {
      table.packet(e, direction, chunk, 64, 0)
      seen.push(SctpState.names[table.state(e)]!)
    }
    return { table, counters, e, seen }
  }

  it("NAT association setup and shutdown (client INIT, server INIT-ACK, COOKIE-ECHO, COOKIE-ACK)", () => {
    const { table, counters, e, seen } = run(ConnectionFlags.MASQ, [
      [Direction.INPUT, INIT, 0],
      [Direction.OUTPUT, INIT_ACK, 0],
      [Direction.INPUT, COOKIE_ECHO, 0],
      [Direction.OUTPUT, COOKIE_ACK, 0],
      [Direction.INPUT, DATA, 0],
      [Direction.OUTPUT, SACK, 0],
      [Direction.INPUT, SHUTDOWN, 0],
      [Direction.OUTPUT, SHUTDOWN_ACK, 0],
      [Direction.INPUT, SHUTDOWN_COMPLETE, 0]
    ])
    expect(seen).toEqual([
      "INIT1",
      "C-SENT",
      "C-REPLIED",
      "ESTABLISHED",
      "ESTABLISHED",
      "ESTABLISHED",
      "S-RECEIVED",
      "S-ACK-SENT",
      "CLOSED"
    ])
    expect(table.timeout(e)).toBe(61_000)
    expect(counters.active[0]).toBe(0)
    expect(counters.inactive[0]).toBe(1)
  })

  it("only ESTABLISHED is active; timeouts follow the state", () => {
    const { table, counters } = makeTable()
    const e = table.insert(conn({ protocol: Protocol.SCTP }), 0)
    table.packet(e, Direction.INPUT, INIT, 64, 0)
    expect(table.timeout(e)).toBe(4000) // INIT1
    table.packet(e, Direction.INPUT, INIT, 64, 0)
    expect(table.state(e)).toBe(SctpState.INIT)
    expect(table.timeout(e)).toBe(61_000)
    expect(counters.active[0]).toBe(0)
    table.packet(e, Direction.OUTPUT, INIT_ACK, 64, 0)
    table.packet(e, Direction.INPUT, COOKIE_ECHO, 64, 0)
    table.packet(e, Direction.OUTPUT, COOKIE_ACK, 64, 0)
    expect(table.state(e)).toBe(SctpState.ESTABLISHED)
    expect(table.timeout(e)).toBe(900_000)
    expect(counters.active[0]).toBe(1)
    table.packet(e, Direction.INPUT, ABORT, 64, 0)
    expect(table.state(e)).toBe(SctpState.CLOSED)
    expect(counters.active[0]).toBe(0)
  })

  it("DR (INPUT_ONLY): the client's COOKIE-ECHO establishes without seeing the server", () => {
    const { seen } = run(ConnectionFlags.DROUTE, [
      [Direction.INPUT, INIT, 0],
      [Direction.INPUT, COOKIE_ECHO, 0],
      [Direction.INPUT, DATA, 0]
    ])
    expect(seen).toEqual(["INIT1", "ESTABLISHED", "ESTABLISHED"])
  })

  it("an INIT answered by ABORT is REJECTED (4 s); ERROR during COOKIE_ECHOED closes", () => {
    const { table, e, seen } = run(ConnectionFlags.MASQ, [
      [Direction.INPUT, INIT, 0],
      [Direction.OUTPUT, ABORT, 0]
    ])
    expect(seen).toEqual(["INIT1", "REJECTED"])
    expect(table.timeout(e)).toBe(4000)
    const server = run(ConnectionFlags.MASQ, [
      [Direction.OUTPUT, INIT, 0],
      [Direction.INPUT, INIT_ACK, 0],
      [Direction.OUTPUT, COOKIE_ECHO, 0],
      [Direction.INPUT, ERROR, 0]
    ])
    expect(server.seen).toEqual(["C-WAIT", "COOKIE", "C-ECHOED", "CLOSED"])
  })

  it("unknown chunk types count as DATA; every state and event yields a valid state", () => {
    expect(SctpState.eventOf(200)).toBe(SctpState.EVENT_DATA)
    expect(SctpState.eventOf(SACK)).toBe(SctpState.EVENT_DATA)
    for (let d = 0; d < 3; d++) {
      for (let ev = 0; ev < SctpState.EVENT_COUNT; ev++) {
        for (let s = 0; s < SctpState.COUNT; s++) {
          const n = SctpState.next(d, ev, s)
          expect(n).toBeGreaterThanOrEqual(0)
          expect(n).toBeLessThan(SctpState.COUNT)
        }
      }
    }
    // ABORT always ends in CLOSED or REJECTED.
    for (let d = 0; d < 3; d++) {
      for (let s = 0; s < SctpState.COUNT; s++) {
        expect([SctpState.CLOSED, SctpState.REJECTED]).toContain(SctpState.next(d, SctpState.EVENT_ABORT, s))
      }
    }
  })

  it("conn_reuse_mode: an INIT on a CLOSED association reschedules", () => {
    const { table, e } = run(ConnectionFlags.MASQ, [
      [Direction.INPUT, INIT, 0],
      [Direction.OUTPUT, ABORT, 0],
      [Direction.INPUT, ABORT, 0]
    ])
    expect(table.state(e)).toBe(SctpState.CLOSED)
    expect(table.inbound(e, table.schedulesNew(Protocol.SCTP, INIT), 0)).toBe(2)
  })
})
