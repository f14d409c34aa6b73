import { Checksum, Ipv4, Ipv6 } from "@lvs-ts/packet"
import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as Fragmenter from "../src/Fragmenter.ts"
import * as Reassembly from "../src/Reassembly.ts"

const { Outcome, Counter } = Reassembly

/** An IPv4 UDP datagram of `size` bytes (header 20) with a pattern payload and a valid UDP checksum. */
const datagram4 = (size: number, id = 7, protocol = 17, seed = 1): Uint8Array => {
  const d = new Uint8Array(size)
  Ipv4.write(d, 0, 0, size, id, 0, 64, protocol, 0x0a000001, 0x0a000064)
  for (let i = 20; i < size; i++) d[i] = (i * 31 + seed) & 0xff
  if (protocol === 17) {
    d[20] = 0x30
    d[21] = 0x39
    d[22] = 0x00
    d[23] = 0x35
    d[24] = (size - 20) >>> 8
    d[25] = (size - 20) & 0xff
    d[26] = 0
    d[27] = 0
    const c = Checksum.transport(d, 0, 20, 17, size - 20)
    d[26] = c >>> 8
    d[27] = c & 0xff
  }
  if (protocol === 6) d[32] = 5 << 4
  return d
}

/** An IPv6 UDP packet with `payload` bytes after the fixed header. */
const datagram6 = (payload: number, seed = 3): Uint8Array => {
  const d = new Uint8Array(40 + payload)
  const src = new Uint8Array(16)
  const dst = new Uint8Array(16)
  src[0] = 0xfd
  src[15] = 1
  dst[0] = 0xfd
  dst[15] = 0x64
  Ipv6.write(d, 0, 0, 0, payload, 17, 64, src, 0, dst, 0)
  for (let i = 40; i < d.length; i++) d[i] = (i * 17 + seed) & 0xff
  d[44] = payload >>> 8
  d[45] = payload & 0xff
  return d
}

const fragments4 = (d: Uint8Array, max: number): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  const n = Fragmenter.ipv4Count(d.length, 20, max)
  for (let i = 0; i < n; i++) {
    const f = new Uint8Array(max)
    const len = Fragmenter.writeIpv4(d, 0, d.length, max, i, f, 0)
    out.push(f.slice(0, len))
  }
  return out
}
const fragments6 = (d: Uint8Array, max: number, id: number): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  const u = Fragmenter.ipv6Unfragmentable(d, 0, d.length)
  const n = Fragmenter.ipv6Count(d.length, u, max)
  for (let i = 0; i < n; i++) {
    const f = new Uint8Array(max)
    const len = Fragmenter.writeIpv6(d, 0, d.length, u, max, id, i, f, 0)
    out.push(f.slice(0, len))
  }
  return out
}

const add = (r: Reassembly.Reassembler, f: Uint8Array, now = 0) =>
  f[0]! >>> 4 === 4 ? r.add4(f, 0, f.length, -1, 0, now) : r.add6(f, 0, f.length, -1, 0, now)

const assemble = (r: Reassembly.Reassembler): Uint8Array => {
  const out = new Uint8Array(70_000)
  const n = r.assemble(out, 0, out.length)
  return out.slice(0, n)
}

describe("Fragmenter", () => {
  it("cuts IPv4 at multiples of 8 with MF, offsets and valid header checksums", () => {
    const d = datagram4(4028)
    const fs = fragments4(d, 1500)
    expect(fs.map((f) => f.length)).toEqual([1500, 1500, 1068])
    let offset = 0
    for (const [i, f] of fs.entries()) {
      expect(Ipv4.isChecksumValid(f, 0)).toBe(true)
      expect(Ipv4.fragmentOffset(f, 0)).toBe(offset)
      expect(Ipv4.moreFragments(f, 0)).toBe(i < fs.length - 1)
      expect(Ipv4.identification(f, 0)).toBe(7)
      expect(f.subarray(20)).toEqual(d.subarray(20 + offset, 20 + offset + f.length - 20))
      offset += f.length - 20
    }
  })
  it("cuts IPv6 with a fragment header carrying the id and the original next header", () => {
    const d = datagram6(4000)
    const fs = fragments6(d, 1280, 0xdeadbeef)
    expect(fs.every((f) => f.length <= 1280)).toBe(true)
    for (const f of fs) {
      expect(f[6]).toBe(44)
      expect(f[40]).toBe(17)
      expect(((f[44]! << 24) | (f[45]! << 16) | (f[46]! << 8) | f[47]!) >>> 0).toBe(0xdeadbeef)
      expect(Ipv6.payloadLength(f, 0)).toBe(f.length - 40)
    }
  })
  it("refuses sizes that leave no data", () => {
    expect(Fragmenter.ipv4Count(100, 20, 27)).toBe(0)
    expect(Fragmenter.writeIpv4(datagram4(100), 0, 100, 27, 0, new Uint8Array(100), 0)).toBe(0)
  })
})

describe("Reassembler", () => {
  it("reassembles in order, exactly the original datagram, and records frag_max_size", () => {
    const r = new Reassembly.Reassembler()
    const d = datagram4(4028)
    const fs = fragments4(d, 1500)
    expect(fs.slice(0, -1).map((f) => add(r, f))).toEqual([Outcome.Queued, Outcome.Queued])
    expect(add(r, fs[2]!)).toBe(Outcome.Complete)
    expect(assemble(r)).toEqual(d)
    expect(r.fragmentMax).toBe(1500)
    expect(r.dontFragment).toBe(false)
    expect(r.counters[Counter.reassembled]).toBe(1)
    expect(r.queueCount).toBe(0)
    expect(r.memory).toBe(0)
  })
  it("reassembles out of order and ignores duplicates", () => {
    const r = new Reassembly.Reassembler()
    const d = datagram4(20028, 9)
    const fs = fragments4(d, 1500).reverse()
    expect(add(r, fs[0]!)).toBe(Outcome.Queued)
    expect(add(r, fs[0]!)).toBe(Outcome.Duplicate)
    for (const f of fs.slice(1, -1)) expect(add(r, f)).toBe(Outcome.Queued)
    expect(add(r, fs[3]!)).toBe(Outcome.Duplicate)
    expect(add(r, fs[fs.length - 1]!)).toBe(Outcome.Complete)
    expect(assemble(r)).toEqual(d)
    expect(r.counters[Counter.duplicate]).toBe(2)
  })
  it("sets DF on the reassembled header when the largest fragment had DF", () => {
    const r = new Reassembly.Reassembler()
    const d = datagram4(3000)
    const fs = fragments4(d, 1500)
    fs[0]![6]! |= 0x40
    fs[0]![10] = 0
    fs[0]![11] = 0
    const c = Checksum.compute(fs[0]!, 0, 20)
    fs[0]![10] = c >>> 8
    fs[0]![11] = c & 0xff
    for (const f of fs) add(r, f)
    const out = assemble(r)
    expect(r.dontFragment).toBe(true)
    expect(Ipv4.dontFragment(out, 0)).toBe(true)
    expect(Ipv4.isChecksumValid(out, 0)).toBe(true)
  })
  it("drops the whole datagram on overlap (Linux 4.19+, RFC 5722)", () => {
    const r = new Reassembly.Reassembler()
    const d = datagram4(4028)
    const fs = fragments4(d, 1500)
    expect(add(r, fs[0]!)).toBe(Outcome.Queued)
    // A fragment at offset 1472 - 8 that reaches into the second: overlaps the first's tail.
    const bad = fs[1]!.slice()
    bad[6] = 0x20
    bad[7] = (1472 - 8) >>> 3
    bad[10] = 0
    bad[11] = 0
    const c = Checksum.compute(bad, 0, 20)
    bad[10] = c >>> 8
    bad[11] = c & 0xff
    expect(add(r, bad)).toBe(Outcome.Overlap)
    expect(r.queueCount).toBe(0)
    expect(r.memory).toBe(0)
    expect(r.counters[Counter.overlap]).toBe(1)
    // The rest now starts a new queue that never completes (the first fragment is gone).
    expect(add(r, fs[1]!)).toBe(Outcome.Queued)
    expect(add(r, fs[2]!)).toBe(Outcome.Queued)
  })
  it("times out: quotes the first fragment when it arrived, nothing when it did not", () => {
    const r = new Reassembly.Reassembler({ timeoutMs: 30_000 })
    const a = fragments4(datagram4(4028, 1), 1500)
    const b = fragments4(datagram4(4028, 2), 1500)
    add(r, a[0]!, 1000)
    add(r, b[1]!, 2000)
    const out = new Uint8Array(2000)
    expect(r.expireOne(30_999, out, 14, 548)).toBe(-1)
    const n = r.expireOne(31_000, out, 14, 548)
    expect(n).toBe(20 + 548)
    expect(out.subarray(14 + 20, 14 + n)).toEqual(a[0]!.subarray(20, 20 + 548))
    expect(Ipv4.moreFragments(out, 14)).toBe(true)
    expect(Ipv4.totalLength(out, 14)).toBe(n)
    expect(Ipv4.isChecksumValid(out, 14)).toBe(true)
    expect(r.expireOne(31_500, out, 14, 548)).toBe(-1)
    expect(r.expireOne(32_000, out, 14, 548)).toBe(0)
    expect(r.counters[Counter.timedOut]).toBe(2)
    expect(r.queueCount).toBe(0)
  })
  it("stays within highThresh, evicting the oldest queues down to lowThresh", () => {
    const r = new Reassembly.Reassembler({ highThresh: 64 * 1024, lowThresh: 48 * 1024 })
    const all = Array.from({ length: 40 }, (_, i) => fragments4(datagram4(4028, i + 1), 1500))
    for (const fs of all) {
      add(r, fs[0]!)
      expect(r.memory).toBeLessThanOrEqual(64 * 1024)
    }
    expect(r.counters[Counter.evicted]).toBeGreaterThan(0)
    // The newest datagram is still there and completes; the oldest was evicted (its rest starts over).
    const last = all[all.length - 1]!
    add(r, last[1]!)
    expect(add(r, last[2]!)).toBe(Outcome.Complete)
    expect(assemble(r).length).toBe(4028)
    expect(add(r, all[0]![1]!)).toBe(Outcome.Queued)
  })
  it("drops hostile fragments and counts them", () => {
    const r = new Reassembly.Reassembler()
    // RFC 1858: a TCP first fragment shorter than the TCP header, and a TCP fragment at offset 8.
    const tcp = datagram4(1000, 5, 6)
    const tiny = fragments4(tcp, 36)[0]!
    expect(tiny.length).toBe(36)
    expect(add(r, tiny)).toBe(Outcome.Tiny)
    const at8 = fragments4(tcp, 28)[1]!
    expect(Ipv4.fragmentOffset(at8, 0)).toBe(8)
    expect(add(r, at8)).toBe(Outcome.Tiny)
    // Ping of death: offset + length beyond 65535.
    const big = fragments4(datagram4(1500), 1000)[1]!
    big[6] = 0x1f
    big[7] = 0xff
    big[10] = 0
    big[11] = 0
    const c = Checksum.compute(big, 0, 20)
    big[10] = c >>> 8
    big[11] = c & 0xff
    expect(add(r, big)).toBe(Outcome.TooBig)
    // Bad header checksum, truncated header.
    const fs = fragments4(datagram4(3000), 1500)
    const broken = fs[0]!.slice()
    broken[10]! ^= 1
    expect(add(r, broken)).toBe(Outcome.Bad)
    expect(add(r, fs[0]!.subarray(0, 10))).toBe(Outcome.Bad)
    // A second last fragment that disagrees on the length.
    expect(add(r, fs[2]!)).toBe(Outcome.Queued)
    const shorter = fs[2]!.slice(0, fs[2]!.length - 8)
    Ipv4.setTotalLength(shorter, 0, shorter.length)
    Ipv4.updateChecksum(shorter, 0)
    expect(add(r, shorter)).toBe(Outcome.Bad)
    expect(r.counters[Counter.tiny]).toBe(2)
    expect(r.counters[Counter.tooBig]).toBe(1)
    expect(r.counters[Counter.bad]).toBe(3)
    // Not a fragment.
    expect(add(r, datagram4(100))).toBe(Outcome.NotFragment)
  })
  it("reassembles IPv6 and removes the fragment header", () => {
    const r = new Reassembly.Reassembler()
    const d = datagram6(4000)
    const fs = fragments6(d, 1280, 42)
    for (const f of fs.slice(1)) expect(add(r, f)).toBe(Outcome.Queued)
    expect(add(r, fs[0]!)).toBe(Outcome.Complete)
    expect(assemble(r)).toEqual(d)
    expect(r.family).toBe(6)
    expect(r.id).toBe(42)
    expect(r.fragmentMax).toBe(1280)
  })
  it("IPv6: treats an atomic fragment as a whole packet and drops a first fragment without the upper header", () => {
    const r = new Reassembly.Reassembler()
    const d = datagram6(100)
    const atomic = fragments6(d, 1280, 1)[0]!
    expect(atomic[43]! & 1).toBe(0)
    expect(add(r, atomic)).toBe(Outcome.Complete)
    expect(assemble(r)).toEqual(d)
    // RFC 7112: hop-by-hop options fill the first fragment, the UDP header is in the second.
    const p = new Uint8Array(40 + 8 + 24)
    p.set(datagram6(32).subarray(0, 40))
    p[6] = 44
    p[40] = 0 // fragment header: next = hop-by-hop
    p[43] = 1 // offset 0, M
    p[48] = 17
    p[49] = 2 // 24 bytes of options: no room left for the UDP header
    Ipv6.setPayloadLength(p, 0, p.length - 40)
    expect(r.add6(p, 0, p.length, -1, 0, 0)).toBe(Outcome.Tiny)
    const odd = fragments6(datagram6(3000), 1280, 2)[0]!.slice(0, 1000)
    Ipv6.setPayloadLength(odd, 0, 1000 - 40 - 4)
    expect(r.add6(odd, 0, 996, -1, 0, 0)).toBe(Outcome.Bad)
  })

  const cover = fc
    .record({
      size: fc.integer({ min: 29, max: 30_000 }),
      cuts: fc.array(fc.integer({ min: 1, max: 4000 }), { maxLength: 30 }),
      order: fc.array(fc.nat(), { maxLength: 60 }),
      dups: fc.array(fc.nat(), { maxLength: 5 }),
      v6: fc.boolean()
    })
    .map(({ cuts, dups, order, size, v6 }) => {
      const d = v6 ? datagram6(size, size & 0xff) : datagram4(size + 20, size & 0xffff)
      const header = v6 ? 40 : 20
      const payload = d.length - header
      const points = [...new Set(cuts.map((c) => ((c * 8) % payload) & ~7).filter((c) => c > 0))].sort((a, b) => a - b)
      const bounds = [0, ...points, payload]
      const pieces: Array<Uint8Array> = []
      for (let i = 0; i + 1 < bounds.length; i++) {
        const start = bounds[i]!
        const end = bounds[i + 1]!
        const more = end < payload
        if (v6) {
          const f = new Uint8Array(48 + end - start)
          f.set(d.subarray(0, 40))
          f[6] = 44
          f[40] = 17
          f[42] = start >>> 8
          f[43] = (start & 0xf8) | (more ? 1 : 0)
          f[47] = 9
          f.set(d.subarray(40 + start, 40 + end), 48)
          Ipv6.setPayloadLength(f, 0, f.length - 40)
          pieces.push(f)
        } else {
          const f = new Uint8Array(20 + end - start)
          f.set(d.subarray(0, 20))
          f.set(d.subarray(20 + start, 20 + end), 20)
          Ipv4.setTotalLength(f, 0, f.length)
          f[6] = (more ? 0x20 : 0) | ((start >>> 11) & 0x1f)
          f[7] = (start >>> 3) & 0xff
          Ipv4.updateChecksum(f, 0)
          pieces.push(f)
        }
      }
      // A random permutation, plus duplicates of random pieces.
      const perm = pieces.map((_, i) => i)
      for (let i = perm.length - 1; i > 0; i--) {
        const j = (order[i % Math.max(1, order.length)] ?? 0) % (i + 1)
        ;[perm[i], perm[j]] = [perm[j]!, perm[i]!]
      }
      const stream = perm.map((i) => pieces[i]!)
      for (const k of dups) stream.splice(k % (stream.length + 1), 0, pieces[k % pieces.length]!)
      return { d, stream, single: pieces.length === 1 }
    })

  it("property: a valid cover in any order, with duplicates, reassembles exactly the original", () => {
    fc.assert(
      fc.property(cover, ({ d, single, stream }) => {
        const r = new Reassembly.Reassembler()
        let complete = 0
        let result: Uint8Array | undefined
        for (const f of stream) {
          const o = add(r, f)
          expect([Outcome.Queued, Outcome.Complete, Outcome.Duplicate, Outcome.NotFragment]).toContain(o)
          if (o === Outcome.Complete) {
            complete++
            const a = assemble(r)
            result ??= a
          }
        }
        if (single && d[0]! >>> 4 === 4) return // one piece of IPv4 is no fragment at all
        // Late duplicates of an already completed datagram open (at most) one new queue, as in Linux.
        expect(complete).toBeGreaterThanOrEqual(1)
        expect(result).toEqual(d)
        expect(r.queueCount).toBeLessThanOrEqual(1)
      }),
      { numRuns: 150 }
    )
  })

  it("property: random fragment streams never throw and never exceed the arena or the queue table", () => {
    const fragment = fc.record({
      v6: fc.boolean(),
      id: fc.integer({ min: 0, max: 3 }),
      offset: fc.integer({ min: 0, max: 8191 }),
      length: fc.integer({ min: 0, max: 1600 }),
      more: fc.boolean(),
      protocol: fc.constantFrom(6, 17, 1, 58, 0, 44, 60),
      truncate: fc.integer({ min: 0, max: 60 }),
      garbage: fc.boolean(),
      dt: fc.integer({ min: 0, max: 20_000 })
    })
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 80 }), (list) => {
        const r = new Reassembly.Reassembler({ highThresh: 32 * 1024, lowThresh: 24 * 1024, maxQueues: 8 })
        const out = new Uint8Array(70_000)
        let now = 0
        for (const f of list) {
          now += f.dt
          const buf = new Uint8Array(48 + f.length)
          for (let i = 0; i < buf.length; i++) buf[i] = (i * 7 + f.offset) & 0xff
          if (f.v6) {
            buf[0] = 0x60
            buf[6] = 44
            buf[40] = f.protocol
            buf[42] = (f.offset >>> 5) & 0xff
            buf[43] = ((f.offset << 3) & 0xf8) | (f.more ? 1 : 0)
            buf[44] = 0
            buf[47] = f.id
            Ipv6.setPayloadLength(buf, 0, buf.length - 40)
          } else {
            Ipv4.write(buf, 0, 0, buf.length, f.id, f.more ? 0x2000 : 0, 64, f.protocol, 1, 2)
            buf[6]! |= (f.offset >>> 8) & 0x1f
            buf[7] = f.offset & 0xff
            Ipv4.updateChecksum(buf, 0)
          }
          if (f.garbage) buf[2]! ^= 0x55
          const len = Math.max(0, buf.length - f.truncate)
          const o = f.v6 ? r.add6(buf, 0, len, -1, 0, now) : r.add4(buf, 0, len, -1, 0, now)
          if (o === Outcome.Complete) expect(r.assemble(out, 0, out.length)).toBeGreaterThan(0)
          while (r.expireOne(now, out, 14, 548) >= 0) {}
          expect(r.memory).toBeLessThanOrEqual(32 * 1024)
          expect(r.queueCount).toBeLessThanOrEqual(8)
        }
        r.clear()
        expect(r.memory).toBe(0)
      }),
      { numRuns: 300 }
    )
  })
})
