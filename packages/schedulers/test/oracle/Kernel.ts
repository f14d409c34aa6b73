/**
 * Plain transcriptions of the kernel's scheduler rules as linear scans over an array in list order (index 0 =
 * the list head = newest). Deliberately naive: no indexes, no shortcuts, one loop per kernel loop, so that they
 * can be read side by side with net/netfilter/ipvs/ip_vs_*.c and trusted as the oracle.
 */

export const AVAILABLE = 1
export const OVERLOAD = 2

export interface ODest {
  readonly id: number
  readonly addr: number
  readonly port: number
  weight: number
  lastWeight: number
  u: number
  l: number
  flags: number
  active: number
  inactive: number
  persist: number
}

export const overhead = (d: ODest): number => d.active * 256 + d.inactive

// ---------- configuration and counters (ip_vs_ctl.c __ip_vs_update_dest, ip_vs_conn.c bind/unbind) ----------

export const applySettings = (d: ODest, weight: number, u: number, l: number, add: boolean): void => {
  if (add || weight !== 0) d.lastWeight = weight
  d.weight = weight
  d.flags |= AVAILABLE
  if (u === 0 || u > d.u) d.flags &= ~OVERLOAD
  d.u = u
  d.l = l
}

export const bind = (d: ODest, kind: number): void => {
  if (kind === 0) d.active++
  else if (kind === 1) d.inactive++
  else d.persist++
  if (d.u !== 0 && d.active + d.inactive >= d.u) d.flags |= OVERLOAD
}

export const unbind = (d: ODest, kind: number): void => {
  if (kind === 0) d.active = Math.max(0, d.active - 1)
  else if (kind === 1) d.inactive = Math.max(0, d.inactive - 1)
  else d.persist = Math.max(0, d.persist - 1)
  const total = d.active + d.inactive
  if (d.l !== 0) {
    if (total < d.l) d.flags &= ~OVERLOAD
  } else if (d.u !== 0) {
    if (total * 4 < d.u * 3) d.flags &= ~OVERLOAD
  } else {
    d.flags &= ~OVERLOAD
  }
}

// ---------- schedulers ----------

/** Result: a dest, or the none message. */
export type OPick = ODest | string
export const NONE = "no destination available"
export const OVER = "no destination available: all destinations are overloaded"

export interface OScheduler {
  init(list: Array<ODest>): void
  /** Called after the dest was prepended. */
  add(list: Array<ODest>, d: ODest): void
  /** Called BEFORE the dest is spliced out (index = its position). */
  del(list: Array<ODest>, d: ODest, index: number): void
  upd(list: Array<ODest>, d: ODest): void
  schedule(list: Array<ODest>, saddr: number, sport: number, daddr: number, now: number): OPick
}

const big = (x: number) => BigInt(x)
/** 64-bit signed product compare, as `(__s64)a * b > (__s64)c * d`. */
const gt64 = (a: number, b: number, c: number, d: number) => big(a) * big(b) > big(c) * big(d)

export const rr = (): OScheduler => {
  let cursor: ODest | null = null
  return {
    init: () => {
      cursor = null
    },
    add: () => {},
    del: (list, d, index) => {
      if (cursor === d) cursor = index === 0 ? null : list[index - 1]!
    },
    upd: () => {},
    schedule: (list) => {
      const p = cursor
      const last = p
      let dest: ODest | null = p
      let pass = 0
      do {
        const start = dest === null ? 0 : list.indexOf(dest) + 1
        for (let i = start; i < list.length; i++) {
          const x = list[i]!
          if ((x.flags & OVERLOAD) === 0 && x.weight > 0) {
            cursor = x
            return x
          }
          if (x === last) return NONE
        }
        dest = null
        pass++
      } while (pass < 2 && p !== null)
      return NONE
    }
  }
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b))

export const wrr = () => {
  const m = { cl: null as ODest | null, cw: 0, mw: 0, di: 1 }
  const recompute = (list: Array<ODest>) => {
    let g = 0
    for (const d of list) if (d.weight > 0) g = g > 0 ? gcd(d.weight, g) : d.weight
    m.di = g > 0 ? g : 1
    let max = 0
    for (const d of list) if (d.weight > max) max = d.weight
    m.mw = max - (m.di - 1)
  }
  const changed = (list: Array<ODest>) => {
    m.cl = null
    recompute(list)
    if (m.cw > m.mw || m.cw === 0) m.cw = m.mw
    else if (m.di > 1) m.cw = Math.trunc(m.cw / m.di) * m.di + 1
  }
  const s: OScheduler & { mark: typeof m } = {
    mark: m,
    init: (list) => {
      m.cl = null
      recompute(list)
      m.cw = m.mw
    },
    add: (list) => changed(list),
    del: (list, _d, index) => changed(list.filter((_, i) => i !== index)),
    upd: (list) => changed(list),
    schedule: (list) => {
      let dest: ODest | null = m.cl
      if (m.mw === 0) return NONE
      const last = dest
      let stop: ODest | null = null
      let lastPass = false
      let restarted = false
      for (let guard = 0; guard < 10_000_000; guard++) {
        const start = dest === null ? 0 : list.indexOf(dest) + 1
        for (let i = start; i < list.length; i++) {
          dest = list[i]!
          if ((dest.flags & OVERLOAD) === 0 && dest.weight >= m.cw) {
            m.cl = dest
            return dest
          }
          if (dest === stop) {
            m.cl = dest
            return OVER
          }
        }
        dest = null
        m.cw -= m.di
        if (m.cw <= 0) {
          m.cw = m.mw
          if (lastPass || last === null) {
            m.cl = null
            return OVER
          }
          restarted = true
        }
        lastPass = m.cw <= m.di
        if (lastPass && restarted && last !== null) stop = last
      }
      throw new Error("wrr oracle did not terminate")
    }
  }
  return s
}

const stateless = (schedule: (list: Array<ODest>) => OPick): OScheduler => ({
  init: () => {},
  add: () => {},
  del: () => {},
  upd: () => {},
  schedule: (list) => schedule(list)
})

export const lc = () =>
  stateless((list) => {
    let least: ODest | null = null
    let loh = 0
    for (const d of list) {
      if ((d.flags & OVERLOAD) !== 0 || d.weight === 0) continue
      const doh = overhead(d)
      if (least === null || doh < loh) {
        least = d
        loh = doh
      }
    }
    return least ?? NONE
  })

/** wlc and sed differ only in the overhead function. */
const weightedLeast = (oh: (d: ODest) => number) => (list: Array<ODest>) => {
  let i = 0
  let least: ODest | null = null
  for (; i < list.length; i++) {
    const d = list[i]!
    if ((d.flags & OVERLOAD) === 0 && d.weight > 0) {
      least = d
      break
    }
  }
  if (least === null) return NONE
  let loh = oh(least)
  for (i++; i < list.length; i++) {
    const d = list[i]!
    if ((d.flags & OVERLOAD) !== 0) continue
    const doh = oh(d)
    if (gt64(loh, d.weight, doh, least.weight)) {
      least = d
      loh = doh
    }
  }
  return least
}

export const wlc = () => stateless(weightedLeast(overhead))
export const sed = () => stateless(weightedLeast((d) => d.active + 1))

export const nq = () =>
  stateless((list) => {
    let least: ODest | null = null
    let loh = 0
    for (const d of list) {
      if ((d.flags & OVERLOAD) !== 0 || d.weight === 0) continue
      const doh = d.active + 1
      if (d.active === 0) return d
      if (least === null || gt64(loh, d.weight, doh, least.weight)) {
        least = d
        loh = doh
      }
    }
    return least ?? NONE
  })

export const fo = () =>
  stateless((list) => {
    let h: ODest | null = null
    let hw = 0
    for (const d of list) {
      if ((d.flags & OVERLOAD) === 0 && d.weight > hw) {
        h = d
        hw = d.weight
      }
    }
    return h ?? NONE
  })

export const ovf = () =>
  stateless((list) => {
    let h: ODest | null = null
    for (const d of list) {
      const w = d.weight
      if ((d.flags & OVERLOAD) !== 0 || d.active > w || w === 0) continue
      if (h === null || w > h.weight) h = d
    }
    return h ?? NONE
  })

export const twos = (random: (bound: number) => number) =>
  stateless((list) => {
    let choice1: ODest | null = null
    let choice2: ODest | null = null
    let total = 0
    for (const d of list) {
      if ((d.flags & OVERLOAD) === 0 && d.weight > 0) {
        total += d.weight
        choice1 = d
      }
    }
    if (choice1 === null) return NONE
    total += 1
    let r1 = random(total)
    let r2 = random(total)
    let w1 = -1
    let w2 = -1
    let oh1 = 0
    let oh2 = 0
    for (const d of list) {
      if ((d.flags & OVERLOAD) !== 0) continue
      if (d.weight <= 0) continue
      r1 -= d.weight
      r2 -= d.weight
      if (r1 <= 0 && w1 === -1) {
        choice1 = d
        w1 = d.weight
        oh1 = ((d.active << 8) + d.inactive) | 0
      }
      if (r2 <= 0 && w2 === -1) {
        choice2 = d
        w2 = d.weight
        oh2 = ((d.active << 8) + d.inactive) | 0
      }
      if (w1 !== -1 && w2 !== -1) break
    }
    // C int products wrap at 32 bits.
    if (choice2 !== null && Math.imul(w2, oh1) > Math.imul(w1, oh2)) return choice2
    return choice1
  })

// hash_32 with GOLDEN_RATIO_32, via BigInt to stay independent of the fast code's Math.imul.
export const hash32 = (v: number, bits: number): number =>
  Number(((BigInt(v >>> 0) * 0x61c88647n) & 0xffffffffn) >> BigInt(32 - bits))

export const sh = (bits: number, fallback: boolean, withPort: boolean) => {
  const size = 1 << bits
  let buckets: Array<ODest | null> = []
  const reassign = (list: Array<ODest>) => {
    buckets = []
    let p = 0
    let count = 0
    for (let i = 0; i < size; i++) {
      if (list.length === 0) {
        buckets.push(null)
        continue
      }
      const d = list[p]!
      buckets.push(d)
      if (++count >= d.weight) {
        p = (p + 1) % list.length
        count = 0
      }
    }
  }
  const unavailable = (d: ODest) => d.weight <= 0 || (d.flags & OVERLOAD) !== 0
  const key = (addr: number, port: number, offset: number) => (offset + hash32(port + addr, bits)) % size
  const s: OScheduler = {
    init: (list) => reassign(list),
    add: (list) => reassign(list),
    del: (list, _d, index) => reassign(list.filter((_, i) => i !== index)),
    upd: (list) => reassign(list),
    schedule: (_list, saddr, sport) => {
      const port = withPort ? sport : 0
      if (!fallback) {
        const d = buckets[key(saddr, port, 0)]
        return d === null || d === undefined || unavailable(d) ? NONE : d
      }
      const ihash = key(saddr, port, 0)
      const first = buckets[ihash]
      if (first === null || first === undefined) return NONE
      if (!unavailable(first)) return first
      for (let offset = 0; offset < size; offset++) {
        const roffset = (offset + ihash) % size
        const d = buckets[key(saddr, port, roffset)]
        if (d === null || d === undefined) break
        if (!unavailable(d)) return d
      }
      return NONE
    }
  }
  return s
}

export const dh = (bits: number) => {
  const size = 1 << bits
  let buckets: Array<ODest | null> = []
  const reassign = (list: Array<ODest>) => {
    buckets = []
    for (let i = 0; i < size; i++) buckets.push(list.length === 0 ? null : list[i % list.length]!)
  }
  const s: OScheduler = {
    init: (list) => reassign(list),
    add: (list) => reassign(list),
    del: (list, _d, index) => reassign(list.filter((_, i) => i !== index)),
    upd: () => {},
    schedule: (_list, _s, _p, daddr) => {
      const d = buckets[hash32(daddr, bits)]
      if (d === null || d === undefined || (d.flags & AVAILABLE) === 0 || d.weight <= 0 || (d.flags & OVERLOAD) !== 0) {
        return NONE
      }
      return d
    }
  }
  return s
}

// ---- SipHash-c-d, BigInt, generic over the message (the textbook algorithm) ----
const M64 = (1n << 64n) - 1n
const rotl = (x: bigint, b: bigint) => ((x << b) | (x >> (64n - b))) & M64
export const sipHashBig = (k0: bigint, k1: bigint, msg: Uint8Array, c: number, d: number): bigint => {
  let v0 = 0x736f6d6570736575n ^ k0
  let v1 = 0x646f72616e646f6dn ^ k1
  let v2 = 0x6c7967656e657261n ^ k0
  let v3 = 0x7465646279746573n ^ k1
  const round = () => {
    v0 = (v0 + v1) & M64
    v1 = rotl(v1, 13n) ^ v0
    v0 = rotl(v0, 32n)
    v2 = (v2 + v3) & M64
    v3 = rotl(v3, 16n) ^ v2
    v0 = (v0 + v3) & M64
    v3 = rotl(v3, 21n) ^ v0
    v2 = (v2 + v1) & M64
    v1 = rotl(v1, 17n) ^ v2
    v2 = rotl(v2, 32n)
  }
  const full = msg.length - (msg.length % 8)
  for (let i = 0; i < full; i += 8) {
    let m = 0n
    for (let j = 7; j >= 0; j--) m = (m << 8n) | BigInt(msg[i + j]!)
    v3 ^= m
    for (let r = 0; r < c; r++) round()
    v0 ^= m
  }
  let b = BigInt(msg.length & 0xff) << 56n
  for (let j = msg.length - 1; j >= full; j--) b |= BigInt(msg[j]!) << BigInt(8 * (j - full))
  v3 ^= b
  for (let r = 0; r < c; r++) round()
  v0 ^= b
  v2 ^= 0xffn
  for (let r = 0; r < d; r++) round()
  return v0 ^ v1 ^ v2 ^ v3
}

/** hsiphash(&v, 4, {k, k}) on x86_64: SipHash-1-3 of v's 4 little-endian bytes, low 32 bits. */
export const hsiphashBig = (v: number, k: number): number => {
  const msg = new Uint8Array(4)
  new DataView(msg.buffer).setUint32(0, v >>> 0, true)
  return Number(sipHashBig(BigInt(k), BigInt(k), msg, 1, 3) & 0xffffffffn)
}

export const mh = (size: number, fallback: boolean, withPort: boolean) => {
  const index = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071].indexOf(size) + 8
  const tabBits = Math.floor(index / 2)
  let lookup: Array<ODest | null> = new Array(size).fill(null)
  const H = (addr: number, port: number, key: number, offset: number) => hsiphashBig((offset + port + addr) >>> 0, key)
  const fls = (x: number) => (x === 0 ? 0 : Math.floor(Math.log2(x)) + 1)
  const changed = (list: Array<ODest>) => {
    let g = 0
    for (const d of list) if (d.lastWeight > 0) g = g > 0 ? gcd(d.lastWeight, g) : d.lastWeight
    let rshift = 0
    if (g >= 1) {
      let w = 0
      for (const d of list) if (d.lastWeight > w) w = d.lastWeight
      const shift = fls(Math.trunc(w / g)) - tabBits
      rshift = Math.max(shift, 0)
    }
    if (list.length > size) return
    if (g < 1) {
      lookup = new Array(size).fill(null)
      return
    }
    const setup = list.map((d) => {
      const offset = H(d.addr, d.port, 2654435761, 0) % size
      const skip = (H(d.addr, d.port, 2654446892, 0) % (size - 1)) + 1
      const t = Math.trunc(d.lastWeight / g) >> rshift
      return { d, perm: offset, skip, turns: t !== 0 ? t : d.lastWeight !== 0 ? 1 : 0 }
    })
    const table = new Array<boolean>(size).fill(false)
    let n = 0
    let dtCount = 0
    for (;;) {
      let p = 0
      while (p < setup.length) {
        const ds = setup[p]!
        if (ds.turns < 1) {
          p++
          continue
        }
        let c = ds.perm
        while (table[c]) {
          ds.perm += ds.skip
          if (ds.perm >= size) ds.perm -= size
          c = ds.perm
        }
        table[c] = true
        lookup[c] = ds.d
        if (++n === size) return
        if (++dtCount >= ds.turns) {
          dtCount = 0
          p++
        }
      }
    }
  }
  const unavailable = (d: ODest) => d.weight <= 0 || (d.flags & OVERLOAD) !== 0
  const s: OScheduler & { lookup: () => Array<ODest | null> } = {
    lookup: () => lookup,
    init: (list) => changed(list),
    add: (list) => changed(list),
    del: (list, _d, index) => changed(list.filter((_, i) => i !== index)),
    upd: (list) => changed(list),
    schedule: (_list, saddr, sport) => {
      const port = withPort ? sport : 0
      const ihash = H(saddr, port, 2654435761, 0) % size
      const first = lookup[ihash]
      if (first === null || first === undefined) return NONE
      if (!unavailable(first)) return first
      if (!fallback) return NONE
      for (let offset = 0; offset < size; offset++) {
        const roffset = (offset + ihash) % size
        const d = lookup[H(saddr, port, 2654435761, roffset) % size]
        if (d === null || d === undefined) break
        if (!unavailable(d)) return d
      }
      return NONE
    }
  }
  return s
}

// ---- lblc / lblcr ----

interface Entry {
  addr: number
  lastuse: number
  dest: ODest | null
  set: Array<ODest>
  lastmod: number
}

const isOverloaded = (d: ODest, list: Array<ODest>) => {
  if (d.active > d.weight) {
    for (const x of list) if (x.active * 2 < x.weight) return true
  }
  return false
}

/** The GC timer of ip_vs_lblc.c / ip_vs_lblcr.c, run at each due 60 s tick. */
const gcTimer = (expiration: number, maxSize: number) => {
  const t = { entries: [] as Array<Entry>, counter: 1, rover: 0, next: Number.NaN }
  const bucketOf = (e: Entry) => hash32(e.addr, 10)
  const check = (now: number) => {
    if (t.counter % 30 === 0) {
      let j = t.rover
      for (let i = 0; i < 1024; i++) {
        j = (j + 1) & 1023
        t.entries = t.entries.filter((e) => bucketOf(e) !== j || now < e.lastuse + expiration)
      }
      t.rover = j
      t.counter = 1
      return
    }
    if (t.entries.length <= maxSize) {
      t.counter++
      return
    }
    let goal = Math.trunc(((t.entries.length - maxSize) * 4) / 3)
    if (goal > maxSize / 2) goal = maxSize / 2
    let j = t.rover
    for (let i = 0; i < 1024; i++) {
      j = (j + 1) & 1023
      const before = t.entries.length
      t.entries = t.entries.filter((e) => bucketOf(e) !== j || now < e.lastuse + 6 * 60_000)
      goal -= before - t.entries.length
      if (goal <= 0) break
    }
    t.rover = j
  }
  const advance = (now: number) => {
    if (Number.isNaN(t.next)) {
      t.next = now + 60_000
      return
    }
    while (now >= t.next) {
      check(t.next)
      t.next += 60_000
    }
  }
  return { t, advance }
}

export const lblc = (expiration: number, maxSize = 16384) => {
  const gc = gcTimer(expiration, maxSize)
  const s: OScheduler & { gc: typeof gc } = {
    gc,
    init: () => {},
    add: () => {},
    del: () => {},
    upd: () => {},
    schedule: (list, _s, _p, daddr, now) => {
      gc.advance(now)
      const en = gc.t.entries.find((e) => e.addr === daddr)
      if (en !== undefined) {
        en.lastuse = now
        const d = en.dest!
        if ((d.flags & AVAILABLE) !== 0 && d.weight > 0 && !isOverloaded(d, list)) return d
      }
      const d = weightedLeast(overhead)(list)
      if (typeof d === "string") return NONE
      const old = gc.t.entries.find((e) => e.addr === daddr)
      if (old !== undefined) {
        if (old.dest === d) return d
        gc.t.entries = gc.t.entries.filter((e) => e !== old)
      }
      gc.t.entries.push({ addr: daddr, lastuse: now, dest: d, set: [], lastmod: 0 })
      return d
    }
  }
  return s
}

export const lblcr = (expiration: number, maxSize = 16384) => {
  const gc = gcTimer(expiration, maxSize)
  const setMin = (set: Array<ODest>): ODest | null => {
    let i = 0
    let least: ODest | null = null
    for (; i < set.length; i++) {
      const e = set[i]!
      if ((e.flags & OVERLOAD) !== 0) continue
      if (e.weight > 0 && (e.flags & AVAILABLE) !== 0) {
        least = e
        break
      }
    }
    if (least === null) return null
    let loh = overhead(least)
    for (i++; i < set.length; i++) {
      const d = set[i]!
      if ((d.flags & OVERLOAD) !== 0) continue
      const doh = overhead(d)
      if (gt64(loh, d.weight, doh, least.weight) && (d.flags & AVAILABLE) !== 0) {
        least = d
        loh = doh
      }
    }
    return least
  }
  const setMax = (set: Array<ODest>): ODest | null => {
    let i = 0
    let most: ODest | null = null
    for (; i < set.length; i++) {
      if (set[i]!.weight > 0) {
        most = set[i]!
        break
      }
    }
    if (most === null) return null
    let moh = overhead(most)
    for (i++; i < set.length; i++) {
      const d = set[i]!
      const doh = overhead(d)
      if (big(moh) * big(d.weight) < big(doh) * big(most.weight) && d.weight > 0) {
        most = d
        moh = doh
      }
    }
    return most
  }
  const s: OScheduler & { gc: typeof gc } = {
    gc,
    init: () => {},
    add: () => {},
    del: () => {},
    upd: () => {},
    schedule: (list, _s, _p, daddr, now) => {
      gc.advance(now)
      const en = gc.t.entries.find((e) => e.addr === daddr)
      if (en !== undefined) {
        en.lastuse = now
        let dest = setMin(en.set)
        if (en.set.length > 1 && now > en.lastmod + expiration) {
          const m = setMax(en.set)
          if (m !== null) {
            en.set = en.set.filter((x) => x !== m)
            en.lastmod = now
          }
        }
        if (dest !== null && !isOverloaded(dest, list)) return dest
        const d = weightedLeast(overhead)(list)
        if (typeof d === "string") return NONE
        dest = d
        if (!en.set.includes(dest)) {
          en.set.unshift(dest)
          en.lastmod = now
        }
        return dest
      }
      const d = weightedLeast(overhead)(list)
      if (typeof d === "string") return NONE
      gc.t.entries.push({ addr: daddr, lastuse: now, dest: null, set: [d], lastmod: now })
      return d
    }
  }
  return s
}
