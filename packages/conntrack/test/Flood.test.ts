// SYN flood: one million SYNs from random sources against a bounded table while 10,000 established flows keep
// passing packets. No established flow may be lost, memory stays under the configured bound, every refused or
// dropped entry is counted. (A data-structure test: no real packets.)
import { describe, expect, it } from "vitest"
import {
  ConnectionFlags,
  ConnectionParams,
  ConnectionTable,
  Destinations,
  Direction,
  Protocol,
  TcpState
} from "../src/index.ts"

describe("SYN flood defence", () => {
  it("1 M random SYNs do not displace 10,000 established flows", () => {
    const MAX = 100_000
    const FLOWS = 10_000
    const SYNS = 1_000_000
    const counters = Destinations.makeCounters(8)
    const table = ConnectionTable.make({
      maxConnections: MAX,
      seed: 7,
      destinations: counters,
      behaviour: { dropEntry: 1, secureTcp: 1, defenceThreshold: 0.9 }
    })
    const VIP = 0xcfaf2c6e
    const p = ConnectionParams.make()
    p.protocol = Protocol.TCP
    p.virtualAddress = VIP
    p.virtualPort = 443
    p.destinationPort = 443
    p.method = ConnectionFlags.MASQ
    let now = 0

    // Legitimate clients: 10.1.x.y:40000 -> VIP:443, fully established through the director (NAT).
    const flowEntry = new Int32Array(FLOWS)
    for (let i = 0; i < FLOWS; i++) {
      p.clientAddress = 0x0a010000 + i
      p.clientPort = 40000
      p.destination = i & 7
      p.destinationAddress = 0xc0a80a01 + (i & 7)
      const e = table.insert(p, now)
      table.packet(e, Direction.INPUT, TcpState.SYN, 60, now)
      table.packet(e, Direction.OUTPUT, TcpState.SYN | TcpState.ACK, 60, now)
      table.packet(e, Direction.INPUT, TcpState.ACK, 52, now)
      flowEntry[i] = e
    }
    expect(counters.active.reduce((a, b) => a + b, 0)).toBe(FLOWS)

    // Attack sources from 100.64.0.0/10 with random ports (xorshift), 10,000 SYNs per simulated second.
    let rng = 0x2545f491
    let refusedSyn = 0
    let lost = 0
    let flowCursor = 0
    for (let n = 1; n <= SYNS; n++) {
      rng ^= rng << 13
      rng ^= rng >>> 17
      rng ^= rng << 5
      const src = (0x64400000 | (rng & 0x3fffff)) >>> 0
      const sport = 1024 + ((rng >>> 22) & 0x3ff) * 60
      if (table.lookupIn(Protocol.TCP, src, sport, VIP, 443) < 0 && table.schedulesNew(Protocol.TCP, TcpState.SYN)) {
        p.clientAddress = src
        p.clientPort = sport
        p.destination = n & 7
        const e = table.insert(p, now)
        if (e >= 0) table.packet(e, Direction.INPUT, TcpState.SYN, 60, now)
        else refusedSyn++
      }
      if (n % 1000 === 0) {
        // 1,000 established flows send data in both directions every 1,000 SYNs (each flow once per second).
        for (let k = 0; k < 1000; k++) {
          const i = flowCursor
          flowCursor = (flowCursor + 1) % FLOWS
          const e = table.lookupIn(Protocol.TCP, 0x0a010000 + i, 40000, VIP, 443)
          if (e !== flowEntry[i]) {
            lost++
            continue
          }
          table.packet(e, Direction.INPUT, TcpState.ACK, 1400, now)
          const r = table.lookupOut(Protocol.TCP, 0xc0a80a01 + (i & 7), 443, 0x0a010000 + i, 40000)
          if (r !== e) lost++
          else table.packet(r, Direction.OUTPUT, TcpState.ACK, 1400, now)
        }
      }
      if (n % 10_000 === 0) {
        now += 1000
        table.advance(now)
        table.defend(now, MAX / 32)
        expect(table.size).toBeLessThanOrEqual(MAX)
        expect(table.byteSize()).toBeLessThanOrEqual(table.maxByteSize())
      }
    }

    expect(lost).toBe(0)
    for (let i = 0; i < FLOWS; i++) {
      const e = table.lookupIn(Protocol.TCP, 0x0a010000 + i, 40000, VIP, 443)
      expect(e).toBe(flowEntry[i])
      expect(table.state(e)).toBe(TcpState.ESTABLISHED)
    }
    // The flood filled the table and was contained by eviction and drop_entry; every SYN is accounted for.
    const s = table.stats
    expect(table.size).toBeGreaterThan(MAX * 0.5)
    expect(s.evicted + s.defenceDropped).toBeGreaterThan(0)
    expect(s.refusedFull).toBe(refusedSyn)
    expect(s.inserted - FLOWS + refusedSyn).toBeLessThanOrEqual(SYNS)
    expect(s.inserted - s.evicted - s.defenceDropped - s.expired - s.expiredNow).toBe(table.size)
    // Memory bound: 80 B per slot in 16384-slot chunks; two indexes of 4-byte slots, at most MAX / 0.8 * 1.25 slots
    // each once grown, plus the next (1.25 times larger) pair mid-resize; the wheel (131072 slots); the IPv6 pool.
    const indexSlots = Math.ceil((1.25 * MAX) / 0.8) + 16
    const bound =
      Math.ceil(MAX / 16384) * 16384 * 80 +
      2 * 4 * (indexSlots + 1.25 * indexSlots + 16) +
      131072 * 4 +
      Math.ceil(MAX / 4096) * 4096 * 64
    expect(table.maxByteSize()).toBeLessThanOrEqual(bound)
    expect(table.byteSize()).toBeLessThanOrEqual(bound)
    // Destination counters still add up: established flows active, the rest inactive or SYN_RECV (active).
    const total = counters.active.reduce((a, b) => a + b, 0) + counters.inactive.reduce((a, b) => a + b, 0)
    expect(total).toBe(table.size)
  }, 120_000)
})
