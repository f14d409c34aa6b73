import { describe, expect, it } from "vitest"
import {
  ConnectionFlags,
  ConnectionParams,
  ConnectionTable,
  type Destinations,
  Direction,
  Protocol,
  TcpState
} from "../src/index.ts"
import { CIP, conn, ip, makeTable, RIP, VIP } from "./helpers.ts"

describe("lookups in both directions", () => {
  it("NAT: in on client -> VIP, out on RIP -> client", () => {
    const { table } = makeTable()
    const e = table.insert(conn({ clientPort: 40000, destinationPort: 8080 }), 0)
    expect(table.lookupIn(Protocol.TCP, CIP, 40000, VIP, 80)).toBe(e)
    expect(table.lookupOut(Protocol.TCP, RIP, 8080, CIP, 40000)).toBe(e)
    // Wrong protocol, port or direction tuple misses.
    expect(table.lookupIn(Protocol.UDP, CIP, 40000, VIP, 80)).toBe(-1)
    expect(table.lookupIn(Protocol.TCP, CIP, 40001, VIP, 80)).toBe(-1)
    expect(table.lookupOut(Protocol.TCP, VIP, 80, CIP, 40000)).toBe(-1)
  })

  it("DR/TUN: out matches the reply from VIP:VPORT", () => {
    const { table } = makeTable()
    const e = table.insert(conn({ method: ConnectionFlags.DROUTE }), 0)
    expect(table.lookupOut(Protocol.TCP, VIP, 80, CIP, 51234)).toBe(e)
    expect(table.lookupOut(Protocol.TCP, RIP, 80, CIP, 51234)).toBe(-1)
  })

  it("out lookups tell methods and protocols apart exactly (the reply record and the out slot's tag)", () => {
    const { table } = makeTable()
    // A DR entry's reply record holds RIP and the client too, but a DR reply comes from the VIP.
    const dr = table.insert(conn({ method: ConnectionFlags.DROUTE, clientPort: 1000 }), 0)
    expect(table.lookupOut(Protocol.TCP, RIP, 80, CIP, 1000)).toBe(-1)
    expect(table.lookupOut(Protocol.TCP, VIP, 80, CIP, 1000)).toBe(dr)
    const nat = table.insert(conn({ clientPort: 1000 }), 0)
    expect(table.lookupOut(Protocol.TCP, RIP, 80, CIP, 1000)).toBe(nat)
    expect(table.lookupOut(Protocol.TCP, VIP, 80, CIP, 1000)).toBe(dr)
    // Same tuple, other protocols: no match until one exists.
    expect(table.lookupOut(Protocol.UDP, RIP, 80, CIP, 1000)).toBe(-1)
    expect(table.lookupOut(Protocol.SCTP, RIP, 80, CIP, 1000)).toBe(-1)
    expect(table.lookupOut(47, RIP, 80, CIP, 1000)).toBe(-1)
    const udp = table.insert(conn({ protocol: Protocol.UDP, clientPort: 1000 }), 0)
    expect(table.lookupOut(Protocol.UDP, RIP, 80, CIP, 1000)).toBe(udp)
    expect(table.lookupOut(Protocol.TCP, RIP, 80, CIP, 1000)).toBe(nat)
    // NAT keeps no local address or port even though its reply record holds the client there.
    expect(table.localAddress(nat)).toBe(0)
    expect(table.localPort(nat)).toBe(0)
    expect(table.destinationAddress(dr)).toBe(RIP)
  })

  it("maxConnections is bounded so entry numbers fit the index slots", () => {
    expect(() => ConnectionTable.make({ maxConnections: 2 ** 28 })).toThrow(/maxConnections/)
    expect(ConnectionTable.make({ maxConnections: 2 ** 28 - 16384 }).maxConnections).toBe(2 ** 28 - 16384)
  })

  it("FULLNAT: out matches RIP -> local address", () => {
    const { table } = makeTable()
    const p = conn({ method: ConnectionFlags.FULLNAT })
    p.localAddress = ip("10.1.1.1")
    p.localPort = 33000
    const e = table.insert(p, 0)
    expect(table.lookupOut(Protocol.TCP, RIP, 80, ip("10.1.1.1"), 33000)).toBe(e)
    expect(table.lookupOut(Protocol.TCP, RIP, 80, CIP, 51234)).toBe(-1)
    expect(table.localAddress(e)).toBe(ip("10.1.1.1"))
    expect(table.localPort(e)).toBe(33000)
  })

  it("IPv6 entries are found with all 128 bits compared, in and out", () => {
    const { table } = makeTable()
    const p = conn()
    p.ipv6 = true
    p.clientAddress6.set([0x20010db8, 0, 0, 2])
    p.virtualAddress6.set([0x20010db8, 0, 0, 0x100])
    p.destinationAddress6.set([0xfd000000, 0, 0, 1])
    const e = table.insert(p, 0)
    expect(table.isIpv6(e)).toBe(true)
    const c = new Uint32Array([0x20010db8, 0, 0, 2])
    const v = new Uint32Array([0x20010db8, 0, 0, 0x100])
    const d = new Uint32Array([0xfd000000, 0, 0, 1])
    expect(table.lookupIn6(Protocol.TCP, c, 0, 51234, v, 0, 80)).toBe(e)
    expect(table.lookupOut6(Protocol.TCP, d, 0, 80, c, 0, 51234)).toBe(e)
    // Same folded value, different address: (2 ^ 1) folding collisions must not match.
    const other = new Uint32Array([0x20010db8, 0, 0, 3])
    expect(table.lookupIn6(Protocol.TCP, other, 0, 51234, v, 0, 80)).toBe(-1)
    expect(table.lookupIn(Protocol.TCP, 2, 51234, 0x100, 80)).toBe(-1)
    const out = new Uint32Array(4)
    table.readDestinationAddress6(e, out, 0)
    expect([...out]).toEqual([0xfd000000, 0, 0, 1])
    table.expireNow(e, 0)
    expect(table.lookupIn6(Protocol.TCP, c, 0, 51234, v, 0, 80)).toBe(-1)
  })

  it("batched lookups agree with scalar lookups", () => {
    const { table } = makeTable()
    const keys = new Uint32Array(4 * 300)
    const want: Array<number> = []
    for (let i = 0; i < 300; i++) {
      const p = conn({ client: ip("10.9.0.0") + i, clientPort: 1000 + i })
      const e = i % 3 === 0 ? -1 : table.insert(p, 0)
      want.push(e)
      keys.set([ip("10.9.0.0") + i, VIP, ((1000 + i) << 16) | 80, Protocol.TCP], 4 * i)
    }
    const out = new Int32Array(300)
    expect(table.lookupInBatch(keys, 300, out)).toBe(200)
    expect([...out]).toEqual(want)
  })

  it("rejects invalid parameters with INVALID, not a throw", () => {
    const { table } = makeTable()
    expect(table.insert(conn({ protocol: 1 }), 0)).toBe(ConnectionTable.INVALID)
    expect(table.insert(conn({ clientPort: 70000 }), 0)).toBe(ConnectionTable.INVALID)
    const p = conn()
    p.control = 5
    expect(table.insert(p, 0)).toBe(ConnectionTable.INVALID)
    expect(table.size).toBe(0)
  })
})

describe("growth with incremental rehashing", () => {
  it("every entry stays findable in both directions while the indexes grow many times", () => {
    const { table } = makeTable({ maxConnections: 200_000, initialBuckets: 16 })
    const n = 150_000
    let lastBuckets = table.bucketCount
    let doublings = 0
    for (let i = 0; i < n; i++) {
      const e = table.insert(conn({ client: 0x0b000000 + i, clientPort: i & 0xffff, destination: i & 63 }), 0)
      if (e < 0) throw new Error(`insert ${i} failed: ${e}`)
      if (table.bucketCount !== lastBuckets) {
        doublings++
        lastBuckets = table.bucketCount
      }
      // Spot-check older entries while a rehash is in progress.
      if (table.rehashing && (i & 1023) === 0) {
        for (let j = 0; j <= i; j += 997) {
          if (table.lookupIn(Protocol.TCP, 0x0b000000 + j, j & 0xffff, VIP, 80) < 0) throw new Error(`lost ${j}`)
          if (table.lookupOut(Protocol.TCP, RIP, 80, 0x0b000000 + j, j & 0xffff) < 0) throw new Error(`lost out ${j}`)
        }
      }
    }
    expect(doublings).toBeGreaterThanOrEqual(10)
    for (let j = 0; j < n; j++) {
      if (table.lookupIn(Protocol.TCP, 0x0b000000 + j, j & 0xffff, VIP, 80) < 0) throw new Error(`lost ${j}`)
    }
    expect(table.size).toBe(n)
    // Memory per entry slot stays within the 96-byte budget.
    expect(table.byteSize() / table.allocatedEntries).toBeLessThanOrEqual(96)
  }, 60_000)

  it("removing half the entries during a rehash leaves the other half findable", () => {
    const { table } = makeTable({ maxConnections: 50_000, initialBuckets: 16 })
    const entries: Array<number> = []
    for (let i = 0; i < 40_000; i++) entries.push(table.insert(conn({ client: 0x0c000000 + i }), 0))
    for (let i = 0; i < 40_000; i += 2) table.expireNow(entries[i]!, 0)
    for (let i = 0; i < 40_000; i++) {
      const found = table.lookupIn(Protocol.TCP, 0x0c000000 + i, 51234, VIP, 80)
      if (found >= 0 !== (i % 2 === 1)) throw new Error(`entry ${i}: found=${found}`)
    }
    expect(table.size).toBe(20_000)
  }, 60_000)
})

describe("open-addressed indexes", () => {
  it("a duplicated key finds the newest entry first, and the older one once the newest is gone", () => {
    const { table } = makeTable()
    const first = table.insert(conn({ clientPort: 40000 }), 0)
    const second = table.insert(conn({ clientPort: 40000 }), 0)
    expect(second).not.toBe(first)
    expect(table.lookupIn(Protocol.TCP, CIP, 40000, VIP, 80)).toBe(second)
    expect(table.lookupOut(Protocol.TCP, RIP, 80, CIP, 40000)).toBe(second)
    const third = table.insert(conn({ clientPort: 40000 }), 0)
    expect(table.lookupIn(Protocol.TCP, CIP, 40000, VIP, 80)).toBe(third)
    table.expireNow(third, 0)
    expect(table.lookupIn(Protocol.TCP, CIP, 40000, VIP, 80)).toBe(second)
    table.expireNow(second, 0)
    expect(table.lookupIn(Protocol.TCP, CIP, 40000, VIP, 80)).toBe(first)
    expect(table.lookupOut(Protocol.TCP, RIP, 80, CIP, 40000)).toBe(first)
    table.expireNow(first, 0)
    expect(table.lookupIn(Protocol.TCP, CIP, 40000, VIP, 80)).toBe(-1)
    expect(table.lookupOut(Protocol.TCP, RIP, 80, CIP, 40000)).toBe(-1)
  })

  it("an entry inserted during a resize is found before an older duplicate still in the drained index", () => {
    const { table } = makeTable({ maxConnections: 100_000, initialBuckets: 16 })
    const older = table.insert(conn({ client: ip("10.7.0.1"), clientPort: 1 }), 0)
    let i = 0
    while (!table.rehashing) table.insert(conn({ client: 0x0d000000 + i++ }), 0)
    const newer = table.insert(conn({ client: ip("10.7.0.1"), clientPort: 1 }), 0)
    expect(table.rehashing).toBe(true)
    expect(table.lookupIn(Protocol.TCP, ip("10.7.0.1"), 1, VIP, 80)).toBe(newer)
    expect(table.lookupOut(Protocol.TCP, RIP, 80, ip("10.7.0.1"), 1)).toBe(newer)
    table.expireNow(newer, 0)
    expect(table.lookupIn(Protocol.TCP, ip("10.7.0.1"), 1, VIP, 80)).toBe(older)
  })

  it("batched lookups agree with scalar lookups while a resize is in progress", () => {
    const { table } = makeTable({ maxConnections: 100_000, initialBuckets: 16 })
    const n = 3000
    const keys = new Uint32Array(4 * (n + 64))
    const out = new Int32Array(n)
    let checked = 0
    for (let i = 0; i < n; i++) {
      // Every third key is never inserted (a miss).
      if (i % 3 !== 0) table.insert(conn({ client: 0x0e000000 + i, clientPort: 2000 + (i & 1023) }), 0)
      keys.set([0x0e000000 + i, VIP, ((2000 + (i & 1023)) << 16) | 80, Protocol.TCP], 64 + 4 * i)
      if (table.rehashing && i % 97 === 0) {
        const hits = table.lookupInBatch(keys, i + 1, out, 64)
        let want = 0
        for (let j = 0; j <= i; j++) {
          const e = table.lookupIn(Protocol.TCP, 0x0e000000 + j, 2000 + (j & 1023), VIP, 80)
          if (e >= 0) want++
          if (out[j] !== e) throw new Error(`key ${j}: batch ${out[j]} scalar ${e}`)
        }
        expect(hits).toBe(want)
        checked++
      }
    }
    expect(checked).toBeGreaterThan(3)
  })

  it("batched out lookups agree with scalar ones for NAT, FULLNAT and DR replies, during resizes too", () => {
    const { table } = makeTable({ maxConnections: 100_000, initialBuckets: 16 })
    const methods = [ConnectionFlags.MASQ, ConnectionFlags.FULLNAT, ConnectionFlags.DROUTE]
    const n = 3000
    const keys = new Uint32Array(4 * n)
    const out = new Int32Array(n)
    let checked = 0
    for (let i = 0; i < n; i++) {
      const method = methods[i % 3]!
      const client = 0x0e100000 + i
      const p = conn({ client, clientPort: 3000 + (i & 511), method, destinationAddress: 0xc0a80000 + (i & 7) })
      p.localAddress = 0x0a640001
      p.localPort = 10000 + i
      // Every fifth connection is never inserted (its reply is a miss).
      if (i % 5 !== 0) table.insert(p, 0)
      const reply =
        method === ConnectionFlags.MASQ
          ? [0xc0a80000 + (i & 7), client, (80 << 16) | (3000 + (i & 511))]
          : method === ConnectionFlags.FULLNAT
            ? [0xc0a80000 + (i & 7), 0x0a640001, (80 << 16) | (10000 + i)]
            : [VIP, client, (80 << 16) | (3000 + (i & 511))]
      keys.set([...reply, Protocol.TCP], 4 * i)
      if ((table.rehashing && i % 61 === 0) || i === n - 1) {
        const hits = table.lookupOutBatch(keys, i + 1, out)
        let want = 0
        for (let j = 0; j <= i; j++) {
          const q = 4 * j
          const e = table.lookupOut(
            Protocol.TCP,
            keys[q]! | 0,
            keys[q + 2]! >>> 16,
            keys[q + 1]! | 0,
            keys[q + 2]! & 0xffff
          )
          if (e >= 0) want++
          if (out[j] !== e) throw new Error(`reply ${j}: batch ${out[j]} scalar ${e}`)
        }
        expect(hits).toBe(want)
        checked++
      }
    }
    expect(checked).toBeGreaterThan(3)
    expect(table.lookupOutBatch(keys, n, out)).toBe(n - n / 5)
  })

  it("the index stays at most 0.8 full once a resize completes, and grows by 1.25", () => {
    const { table } = makeTable({ maxConnections: 200_000, initialBuckets: 1024 })
    let slots = table.bucketCount
    for (let i = 0; i < 100_000; i++) {
      table.insert(conn({ client: 0x0f000000 + i }), 0)
      if (table.bucketCount !== slots) {
        expect(table.bucketCount).toBe(Math.ceil((slots * 1.25) / 16) * 16)
        slots = table.bucketCount
      }
      if (!table.rehashing) expect(table.size).toBeLessThanOrEqual(Math.ceil(0.8 * table.bucketCount) + 1)
    }
    expect(slots).toBeGreaterThan(100_000 / 0.8)
  }, 30_000)
})

describe("timers", () => {
  it("a new entry gets 3 s until a packet sets the state timeout", () => {
    const { table, counters } = makeTable()
    const e = table.insert(conn(), 1000)
    expect(table.expiresAt(e)).toBe(4000)
    expect(table.advance(3999)).toBe(0)
    expect(table.advance(4000)).toBe(1)
    expect(table.isLive(e)).toBe(false)
    expect(counters.inactive[0]).toBe(0)
  })

  it("each packet re-arms the timer with the current state's timeout; expiry frees at the exact ms", () => {
    const { table, counters } = makeTable()
    const e = table.insert(conn(), 0)
    table.packet(e, Direction.INPUT, TcpState.SYN, 60, 0)
    expect(table.expiresAt(e)).toBe(60_000)
    table.packet(e, Direction.INPUT, TcpState.ACK, 40, 10_000)
    expect(table.state(e)).toBe(TcpState.ESTABLISHED)
    expect(counters.active[0]).toBe(1)
    expect(table.expiresAt(e)).toBe(910_000)
    // Moving to an earlier expiry (CLOSE, 10 s) must move the wheel filing too.
    table.packet(e, Direction.INPUT, TcpState.RST, 40, 20_000)
    expect(table.expiresAt(e)).toBe(30_000)
    expect(table.advance(29_999)).toBe(0)
    expect(table.advance(30_000)).toBe(1)
    expect(counters.active[0]).toBe(0)
    expect(counters.inactive[0]).toBe(0)
    expect(table.stats.expired).toBe(1)
  })

  it("an expiry moved earlier after the wheel re-filed the entry still fires on time", () => {
    const { table } = makeTable()
    const e = table.insert(conn(), 0)
    table.packet(e, Direction.INPUT, TcpState.SYN, 60, 0)
    table.packet(e, Direction.INPUT, TcpState.ACK, 60, 0) // ESTABLISHED, 900 s
    expect(table.advance(5000)).toBe(0) // the wheel passes the 3 s filing and re-files the entry at 900 s
    table.packet(e, Direction.INPUT, TcpState.RST, 40, 6000) // CLOSE: 10 s
    expect(table.advance(15_999)).toBe(0)
    expect(table.advance(16_000)).toBe(1)
  })

  it("large time jumps expire everything due, and nothing early", () => {
    const { table } = makeTable()
    const early = table.insert(conn({ clientPort: 1 }), 0)
    table.packet(early, Direction.INPUT, TcpState.SYN | TcpState.ACK, 60, 0)
    const late = table.insert(conn({ clientPort: 2 }), 0)
    table.setTimeout(late, 5 * 86_400_000, 0)
    expect(table.advance(86_400_000)).toBe(1)
    expect(table.isLive(late)).toBe(true)
    expect(table.advance(5 * 86_400_000 - 1)).toBe(0)
    expect(table.advance(5 * 86_400_000)).toBe(1)
  })

  it("advance() does bounded work per call: due entries left over expire in the following calls, none early", () => {
    const { table, counters } = makeTable({ maxConnections: 20_000 })
    const entries: Array<number> = []
    for (let i = 0; i < 5000; i++) entries.push(table.insert(conn({ clientPort: 1000 + i, destination: i & 7 }), 0))
    // 1000 more that are not due: their 3 s filing is walked past and re-filed at 60 s.
    for (let i = 0; i < 1000; i++) {
      const e = table.insert(conn({ clientPort: 20_000 + i }), 0)
      table.packet(e, Direction.INPUT, TcpState.SYN, 60, 0)
    }
    // Budget 400 units: an expiry costs 4, so at most 100 entries per call (the first call walks past 400 of the
    // newest, not-due entries: the wheel's lists are newest first).
    let freed = table.advance(3000, 400)
    expect(freed).toBe(0)
    freed += table.advance(3000, 400)
    expect(freed).toBe(0)
    freed += table.advance(3000, 400) // 200 walked past, then 50 expiries
    expect(freed).toBe(50)
    // An entry still waiting on the pending list can be expired directly (its wheel links stay consistent).
    const waiting = entries.find((e) => table.isLive(e))!
    expect(table.expireNow(waiting, 3000)).toBe(true)
    let calls = 3
    while (table.size > 1000) {
      const n = table.advance(3000, 400)
      expect(n).toBeLessThanOrEqual(100)
      freed += n
      calls++
      expect(calls).toBeLessThan(200)
    }
    expect(freed).toBe(4999)
    for (const e of entries) expect(table.isLive(e)).toBe(false)
    expect(table.lookupIn(Protocol.TCP, CIP, 20_500, VIP, 80)).toBeGreaterThanOrEqual(0)
    // Every expiry told its destination: only the 1000 SYN_RECV (active) connections are still counted.
    let inactive = 0
    for (let d = 0; d < 8; d++) inactive += counters.inactive[d]!
    expect(inactive).toBe(0)
    expect(counters.active[0]).toBe(1000)
    // The re-filed ones expire at 60 s, not before.
    expect(table.advance(59_999, Number.POSITIVE_INFINITY)).toBe(0)
    expect(table.advance(60_000, Number.POSITIVE_INFINITY)).toBe(1000)
    expect(table.size).toBe(0)
  })

  it("an entry re-armed earlier while on the pending list still expires on time", () => {
    const { table } = makeTable()
    for (let i = 0; i < 50; i++) table.insert(conn({ clientPort: 1000 + i }), 0)
    const e = table.insert(conn({ clientPort: 999 }), 0)
    table.packet(e, Direction.INPUT, TcpState.SYN, 60, 0)
    table.packet(e, Direction.INPUT, TcpState.ACK, 60, 0) // ESTABLISHED, 900 s, still filed at 3 s
    // Budget 8: two entries per call; the rest of the 3 s slot waits on the pending list.
    table.advance(3000, 8)
    table.packet(e, Direction.INPUT, TcpState.RST, 40, 3000) // CLOSE: 10 s, moved earlier out of the pending list
    expect(table.expiresAt(e)).toBe(13_000)
    let freed = 0
    for (let i = 0; i < 100 && table.size > 1; i++) freed += table.advance(3000, 8)
    expect(freed + 2).toBeGreaterThanOrEqual(50)
    expect(table.isLive(e)).toBe(true)
    expect(table.advance(12_999, Number.POSITIVE_INFINITY)).toBe(0)
    expect(table.advance(13_000, Number.POSITIVE_INFINITY)).toBe(1)
    expect(table.size).toBe(0)
  })

  it("--set tcp tcpfin udp changes the ESTABLISHED, FIN_WAIT and UDP timeouts for the next packet", () => {
    const { table } = makeTable()
    table.timeouts.setIpvsadm({ tcp: 3600, tcpfin: 30, udp: 0 })
    expect(table.timeouts.ipvsadm()).toEqual({ tcp: 3600, tcpfin: 30, udp: 300 })
    const e = table.insert(conn({ method: ConnectionFlags.DROUTE }), 0)
    table.packet(e, Direction.INPUT, TcpState.SYN, 60, 0)
    table.packet(e, Direction.INPUT, TcpState.ACK, 60, 0)
    expect(table.timeout(e)).toBe(3_600_000)
    table.packet(e, Direction.INPUT, TcpState.FIN | TcpState.ACK, 60, 0)
    expect(table.state(e)).toBe(TcpState.FIN_WAIT)
    expect(table.timeout(e)).toBe(30_000)
    expect(() => table.timeouts.setIpvsadm({ tcp: 2678401, tcpfin: 0, udp: 0 })).toThrow(/tcp = 2678401/)
  })
})

describe("behaviour switches", () => {
  const established = (table: ConnectionTable.ConnectionTable, clientPort = 51234, destination = 0) => {
    const e = table.insert(conn({ clientPort, destination }), 0)
    table.packet(e, Direction.INPUT, TcpState.SYN, 60, 0)
    table.packet(e, Direction.INPUT, TcpState.ACK, 60, 0)
    return e
  }

  it("conn_reuse_mode 1: a SYN on TIME_WAIT/CLOSE reschedules and expires the old entry", () => {
    const { table, counters } = makeTable()
    const e = established(table)
    table.packet(e, Direction.INPUT, TcpState.RST, 40, 0)
    expect(table.state(e)).toBe(TcpState.CLOSE)
    expect(table.inbound(e, true, 1)).toBe(ConnectionTable.RESCHEDULE)
    expect(table.isLive(e)).toBe(false)
    expect(counters.inactive[0]).toBe(0)
    // A non-SYN packet on CLOSE is simply forwarded.
    const f = established(table, 2)
    table.packet(f, Direction.INPUT, TcpState.RST, 40, 0)
    expect(table.inbound(f, false, 1)).toBe(ConnectionTable.FORWARD)
    table.behaviour.connReuseMode = 0
    expect(table.inbound(f, true, 1)).toBe(ConnectionTable.FORWARD)
  })

  it("conn_reuse_mode 2 adds FIN_WAIT entries with NOOUTPUT", () => {
    const { table } = makeTable()
    const e = table.insert(conn({ method: ConnectionFlags.DROUTE }), 0)
    table.packet(e, Direction.INPUT, TcpState.SYN, 60, 0)
    table.packet(e, Direction.INPUT, TcpState.ACK, 60, 0)
    table.packet(e, Direction.INPUT, TcpState.FIN, 60, 0)
    expect(table.state(e)).toBe(TcpState.FIN_WAIT)
    expect(table.inbound(e, true, 1)).toBe(ConnectionTable.FORWARD)
    table.behaviour.connReuseMode = 3
    expect(table.inbound(e, true, 1)).toBe(ConnectionTable.RESCHEDULE)
  })

  it("expire_nodest_conn: deleted destination drops packets; with the switch the entry expires", () => {
    const { table, counters } = makeTable()
    const e = established(table)
    counters.setAvailable(0, false)
    expect(table.inbound(e, false, 5)).toBe(ConnectionTable.DROP)
    expect(table.isLive(e)).toBe(true)
    table.behaviour.expireNodestConn = true
    expect(table.inbound(e, false, 5)).toBe(ConnectionTable.DROP)
    expect(table.isLive(e)).toBe(false)
    expect(counters.active[0]).toBe(0)
  })

  it("expire_nodest_conn also reschedules a SYN to a quiesced (weight 0) destination", () => {
    const { table, counters } = makeTable()
    const e = established(table)
    counters.setWeight(0, 0)
    expect(table.inbound(e, true, 5)).toBe(ConnectionTable.FORWARD)
    table.behaviour.expireNodestConn = true
    expect(table.inbound(e, true, 5)).toBe(ConnectionTable.RESCHEDULE)
    expect(table.isLive(e)).toBe(false)
  })

  it("expireDestination removes a deleted destination's entries in slices", () => {
    const { table, counters } = makeTable()
    for (let i = 0; i < 300; i++) established(table, i, i % 3)
    expect(counters.active[1]).toBe(100)
    let cursor = 0
    let slices = 0
    while (cursor >= 0) {
      cursor = table.expireDestination(1, cursor, 50, 0)
      slices++
    }
    expect(slices).toBe(6)
    expect(counters.active[1]).toBe(0)
    expect(counters.active[0]).toBe(100)
    expect(table.size).toBe(200)
  })

  it("sloppy_tcp lets any non-RST segment create an entry; SCTP needs INIT unless sloppy_sctp", () => {
    const { table } = makeTable()
    expect(table.schedulesNew(Protocol.TCP, TcpState.SYN)).toBe(true)
    expect(table.schedulesNew(Protocol.TCP, TcpState.SYN | TcpState.ACK)).toBe(true)
    expect(table.schedulesNew(Protocol.TCP, TcpState.SYN | TcpState.RST)).toBe(false)
    expect(table.schedulesNew(Protocol.TCP, TcpState.ACK)).toBe(false)
    table.behaviour.sloppyTcp = true
    expect(table.schedulesNew(Protocol.TCP, TcpState.ACK)).toBe(true)
    expect(table.schedulesNew(Protocol.TCP, TcpState.RST)).toBe(false)
    expect(table.schedulesNew(Protocol.SCTP, 0)).toBe(false)
    expect(table.schedulesNew(Protocol.SCTP, 1)).toBe(true)
    table.behaviour.sloppySctp = true
    expect(table.schedulesNew(Protocol.SCTP, 0)).toBe(true)
    expect(table.schedulesNew(Protocol.UDP, 0)).toBe(true)
  })

  it("secure_tcp automatic mode switches tables only while the table is under pressure", () => {
    const { table } = makeTable({ maxConnections: 10, behaviour: { secureTcp: 1, defenceThreshold: 0.5 } })
    const e = table.insert(conn({ clientPort: 1 }), 0)
    table.packet(e, Direction.INPUT, TcpState.SYN, 60, 0)
    table.packet(e, Direction.INPUT, TcpState.ACK, 60, 0)
    expect(table.state(e)).toBe(TcpState.ESTABLISHED) // normal tables: client ACK establishes
    for (let i = 2; i <= 6; i++) table.insert(conn({ clientPort: i }), 0)
    expect(table.secureTcpActive).toBe(true)
    const f = table.insert(conn({ clientPort: 99 }), 0)
    table.packet(f, Direction.INPUT, TcpState.SYN, 60, 0)
    table.packet(f, Direction.INPUT, TcpState.ACK, 60, 0)
    expect(table.state(f)).toBe(TcpState.SYN_RECV) // secure tables: only the RS's ACK establishes
    table.packet(f, Direction.OUTPUT, TcpState.SYN | TcpState.ACK, 60, 0)
    expect(table.state(f)).toBe(TcpState.SYNACK)
    table.packet(f, Direction.OUTPUT, TcpState.ACK, 60, 0)
    expect(table.state(f)).toBe(TcpState.ESTABLISHED)
  })
})

describe("bounded memory", () => {
  it("refuses new entries beyond maxConnections when nothing is evictable, and counts them", () => {
    const { table } = makeTable({ maxConnections: 4 })
    for (let i = 0; i < 4; i++) {
      const e = table.insert(conn({ clientPort: i }), 0)
      table.packet(e, Direction.INPUT, TcpState.SYN, 60, 0)
      table.packet(e, Direction.INPUT, TcpState.ACK, 60, 0)
    }
    expect(table.insert(conn({ clientPort: 10 }), 0)).toBe(ConnectionTable.FULL)
    expect(table.insert(conn({ clientPort: 11 }), 0)).toBe(ConnectionTable.FULL)
    expect(table.stats.refusedFull).toBe(2)
    expect(table.size).toBe(4)
  })

  it("evicts an embryonic entry (never an established one) for a new connection when full", () => {
    const { table, counters } = makeTable({ maxConnections: 4 })
    const est: Array<number> = []
    for (let i = 0; i < 3; i++) {
      const e = table.insert(conn({ clientPort: i }), 0)
      table.packet(e, Direction.INPUT, TcpState.SYN, 60, 0)
      table.packet(e, Direction.INPUT, TcpState.ACK, 60, 0)
      est.push(e)
    }
    const syn = table.insert(conn({ clientPort: 100 }), 0)
    table.packet(syn, Direction.INPUT, TcpState.SYN, 60, 0)
    let inserted = 0
    for (let i = 0; i < 50; i++) {
      const e = table.insert(conn({ clientPort: 200 + i }), 0)
      if (e >= 0) {
        inserted++
        table.packet(e, Direction.INPUT, TcpState.SYN, 60, 0)
      }
    }
    expect(inserted + table.stats.refusedFull).toBe(50)
    expect(table.stats.evicted).toBe(inserted)
    expect(inserted).toBeGreaterThan(0)
    for (let i = 0; i < 3; i++) expect(table.lookupIn(Protocol.TCP, CIP, i, VIP, 80)).toBe(est[i])
    expect(counters.active[0]).toBe(4) // 3 established + 1 SYN_RECV
    expect(table.size).toBe(4)
  })

  it("defend() drops embryonic entries only under pressure (drop_entry 1) or always (3)", () => {
    const { table } = makeTable({ maxConnections: 100, behaviour: { dropEntry: 1, defenceThreshold: 0.5 } })
    for (let i = 0; i < 40; i++)
      table.packet(table.insert(conn({ clientPort: i }), 0), Direction.INPUT, TcpState.SYN, 60, 0)
    expect(table.defend(0, 1000)).toBe(0)
    for (let i = 40; i < 60; i++)
      table.packet(table.insert(conn({ clientPort: i }), 0), Direction.INPUT, TcpState.SYN, 60, 0)
    const dropped = table.defend(0, 1000)
    expect(dropped).toBeGreaterThan(0)
    expect(table.stats.defenceDropped).toBe(dropped)
    expect(table.size).toBe(60 - dropped)
  })
})

describe("iteration", () => {
  it("scan visits every live entry once, in bounded steps, while entries come and go", () => {
    const { table } = makeTable()
    for (let i = 0; i < 1000; i++) table.insert(conn({ clientPort: i }), 0)
    const seen = new Set<number>()
    const visitor = { visit: (_t: ConnectionTable.ConnectionTable, e: number) => void seen.add(e) }
    let cursor = 0
    let steps = 0
    while (cursor >= 0) {
      cursor = table.scan(cursor, 64, visitor)
      steps++
      // Expire an entry already visited and one not yet visited between steps.
      if (steps === 3) {
        table.expireNow(0, 0)
        table.expireNow(999, 0)
      }
    }
    expect(steps).toBeGreaterThanOrEqual(1000 / 64)
    expect(seen.has(999)).toBe(false)
    expect(seen.size).toBe(999)
  })

  it("syncNeeded follows the master's rules: forced state changes, packet rule, templates", () => {
    const { table } = makeTable()
    const e = table.insert(conn(), 0)
    table.packet(e, Direction.INPUT, TcpState.SYN, 60, 0)
    expect(table.isSyncState(e)).toBe(false)
    expect(table.syncNeeded(e, true, 3, 50)).toBe(false)
    table.packet(e, Direction.INPUT, TcpState.ACK, 60, 0)
    expect(table.syncNeeded(e, true, 3, 50)).toBe(false) // ESTABLISHED follows the packet rule (2 packets)
    table.packet(e, Direction.INPUT, TcpState.ACK, 60, 0)
    expect(table.syncNeeded(e, false, 3, 50)).toBe(true) // 3rd packet
    table.packet(e, Direction.INPUT, TcpState.FIN, 60, 0)
    expect(table.syncNeeded(e, true, 3, 50)).toBe(true) // forced: CLOSE_WAIT
  })
})

describe("accounting through a custom DestinationAccounting", () => {
  it("reports bind, transitions and unbind in kernel order", () => {
    const log: Array<string> = []
    const destinations: Destinations.Destinations = {
      connectionBound: (d, a) => void log.push(`bind ${d} ${a ? "active" : "inactive"}`),
      connectionUnbound: (d, a) => void log.push(`unbind ${d} ${a ? "active" : "inactive"}`),
      connectionActivated: (d) => void log.push(`activate ${d}`),
      connectionDeactivated: (d) => void log.push(`deactivate ${d}`),
      templateBound: (d) => void log.push(`tbind ${d}`),
      templateUnbound: (d) => void log.push(`tunbind ${d}`),
      isAvailable: () => true,
      weight: () => 1
    }
    const table = ConnectionTable.make({ maxConnections: 10, destinations })
    const p = ConnectionParams.make()
    p.destination = 7
    const e = table.insert(p, 0)
    table.packet(e, Direction.INPUT, TcpState.SYN, 60, 0) // NONE -> SR (active)
    table.packet(e, Direction.INPUT, TcpState.ACK, 60, 0) // SR -> ES (still active)
    table.packet(e, Direction.INPUT, TcpState.FIN, 60, 0) // ES -> CW (inactive)
    table.advance(60_000)
    expect(log).toEqual(["bind 7 inactive", "activate 7", "deactivate 7", "unbind 7 inactive"])
  })
})

describe("byte counters", () => {
  it("carry past 2^32 into the high word (48-bit counters) and keep directions apart", () => {
    const { table } = makeTable({ maxConnections: 16 })
    const e = table.insert(conn({}), 0)
    let expectedIn = 0
    // 0xfffffff0 + 1500 crosses 2^32; then enough 1 GB steps to carry several times.
    const steps = [0xfffffff0, 1500, 1_000_000_000, 3_000_000_000, 4_294_967_295, 7]
    for (const bytes of steps) {
      table.packet(e, Direction.INPUT, TcpState.ACK, bytes, 0)
      expectedIn += bytes
      expect(table.inBytes(e)).toBe(expectedIn)
    }
    table.packet(e, Direction.OUTPUT, TcpState.ACK, 0xffffffff, 0)
    table.packet(e, Direction.OUTPUT, TcpState.ACK, 2, 0)
    expect(table.outBytes(e)).toBe(0xffffffff + 2)
    expect(table.inBytes(e)).toBe(expectedIn)
  })
})

describe("growth", () => {
  // Every column is one view over its own growable buffer, replaced by a longer view when the table adds 16384 entry
  // slots: an entry written before several such growths must read back the same in every column (a view at a wrong
  // offset, or one column not re-viewed, would show here as zeros or another entry's values).
  it("keeps every column of an early entry intact while the table grows by many chunks", () => {
    const { table } = makeTable({ maxConnections: 100_000 })
    const local = ip("10.9.8.7")
    const p = conn({ destinationPort: 8080, destination: 5, service: 9, method: ConnectionFlags.FULLNAT })
    p.localAddress = local
    p.localPort = 61000
    const first = table.insert(p, 0)
    table.packet(first, Direction.INPUT, TcpState.SYN, 0xfffffff0, 0)
    table.packet(first, Direction.INPUT, TcpState.ACK, 1500, 0)
    table.packet(first, Direction.OUTPUT, TcpState.ACK, 700, 0)
    // The fields packets change (state, flags, timer, counters), read the same way before and after the growth.
    const live = (): Array<number> => [
      table.state(first),
      table.flags(first),
      table.expiresAt(first),
      table.timeout(first),
      table.inPackets(first),
      table.outPackets(first),
      table.inBytes(first),
      table.outBytes(first)
    ]
    const before = live()
    const slots = table.allocatedEntries
    const others: Array<number> = []
    for (let i = 0; i < 5 * 16384; i++)
      others.push(table.insert(conn({ client: 0x0d000000 + i, destination: i & 63, service: i & 7 }), 0))
    expect(table.allocatedEntries).toBeGreaterThanOrEqual(slots + 4 * 16384)
    expect(table.allocatedEntries % 16384).toBe(0)
    expect([
      table.clientAddress(first),
      table.clientPort(first),
      table.virtualAddress(first),
      table.virtualPort(first),
      table.destinationAddress(first),
      table.destinationPort(first),
      table.localAddress(first),
      table.localPort(first),
      table.service(first),
      table.destination(first)
    ]).toEqual([CIP, 51234, VIP, 80, RIP, 8080, local, 61000, 9, 5])
    expect(live()).toEqual(before)
    expect(before.slice(4)).toEqual([2, 1, 0xfffffff0 + 1500, 700])
    expect(table.lookupIn(Protocol.TCP, CIP, 51234, VIP, 80)).toBe(first)
    expect(table.lookupOut(Protocol.TCP, RIP, 8080, local, 61000)).toBe(first)
    // Entries written into the last chunks read back too.
    const last = others[others.length - 1]!
    expect([table.clientAddress(last), table.destination(last), table.service(last)]).toEqual([
      0x0d000000 + 5 * 16384 - 1,
      63,
      7
    ])
    expect(table.byteSize()).toBeLessThanOrEqual(table.maxByteSize())
  })
})
