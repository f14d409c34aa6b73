/**
 * IPv4 and IPv6 address text <-> bytes, the way VRRP carries them (network byte order, 4 or 16 bytes).
 *
 * Control-plane helpers: adverts are decoded at most a few hundred times a second, so these allocate
 * small arrays and strings. Parsing never throws; it returns `undefined` for text that is not an address.
 *
 * @module
 */

/**
 * An address family as VRRP uses it: keepalived instances are either IPv4 or IPv6, never both.
 *
 * @example
 * ```ts
 * const f: Address.Family = "ipv4"
 * ```
 */
export type Family = "ipv4" | "ipv6"

/**
 * Bytes per address of a family: 4 for IPv4, 16 for IPv6 (the unit of the VRRP address list).
 *
 * @example
 * ```ts
 * Address.length("ipv6") // 16
 * ```
 */
export const length = (family: Family): 4 | 16 => (family === "ipv4" ? 4 : 16)

/**
 * Parses dotted-quad IPv4 text into 4 bytes, or `undefined` when it is not exactly four 0..255 decimals.
 *
 * @example
 * ```ts
 * Address.parseIpv4("10.9.0.100") // Uint8Array [10, 9, 0, 100]
 * ```
 */
export const parseIpv4 = (text: string): Uint8Array | undefined => {
  const parts = text.split(".")
  if (parts.length !== 4) return undefined
  const out = new Uint8Array(4)
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!
    if (!/^\d{1,3}$/.test(p)) return undefined
    const n = Number(p)
    if (n > 255) return undefined
    out[i] = n
  }
  return out
}

/**
 * Parses IPv6 text (RFC 4291 §2.2, `::` compression and an embedded dotted quad) into 16 bytes.
 *
 * @example
 * ```ts
 * Address.parseIpv6("ff02::12") // 16 bytes ending in 0x00 0x12
 * ```
 */
export const parseIpv6 = (text: string): Uint8Array | undefined => {
  const zone = text.indexOf("%")
  if (zone >= 0) text = text.slice(0, zone)
  const halves = text.split("::")
  if (halves.length > 2) return undefined
  const words = (s: string): Array<number> | undefined => {
    if (s === "") return []
    const out: Array<number> = []
    const groups = s.split(":")
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!
      if (i === groups.length - 1 && g.includes(".")) {
        const v4 = parseIpv4(g)
        if (v4 === undefined) return undefined
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!)
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined
        out.push(Number.parseInt(g, 16))
      }
    }
    return out
  }
  const head = words(halves[0]!)
  const tail = halves.length === 2 ? words(halves[1]!) : []
  if (head === undefined || tail === undefined) return undefined
  const fill = 8 - head.length - tail.length
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined
  const all = [...head, ...new Array<number>(fill).fill(0), ...tail]
  const out = new Uint8Array(16)
  for (let i = 0; i < 8; i++) {
    out[2 * i] = all[i]! >>> 8
    out[2 * i + 1] = all[i]! & 0xff
  }
  return out
}

/**
 * Parses an address of the given family.
 *
 * @example
 * ```ts
 * Address.parse("ipv4", "224.0.0.18")
 * ```
 */
export const parse = (family: Family, text: string): Uint8Array | undefined =>
  family === "ipv4" ? parseIpv4(text) : parseIpv6(text)

/**
 * The family of an address text, or `undefined` when it is neither.
 *
 * @example
 * ```ts
 * Address.familyOf("fe80::1") // "ipv6"
 * ```
 */
export const familyOf = (text: string): Family | undefined =>
  parseIpv4(text) !== undefined ? "ipv4" : parseIpv6(text) !== undefined ? "ipv6" : undefined

/**
 * Formats 4 or 16 bytes at `offset` as text (IPv6 in RFC 5952 canonical form).
 *
 * @example
 * ```ts
 * Address.format(new Uint8Array([10, 9, 0, 1]), 0, "ipv4") // "10.9.0.1"
 * ```
 */
export const format = (bytes: Uint8Array, offset: number, family: Family): string => {
  if (family === "ipv4") return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`
  const w: Array<number> = []
  for (let i = 0; i < 8; i++) w.push((bytes[offset + 2 * i]! << 8) | bytes[offset + 2 * i + 1]!)
  // RFC 5952 §4.2: compress the longest run (length >= 2) of zero words, the first one on a tie.
  let bestStart = -1
  let bestLen = 1
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && w[j] === 0) j++
    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const hex = (a: Array<number>) => a.map((x) => x.toString(16)).join(":")
  if (bestStart < 0) return hex(w)
  return `${hex(w.slice(0, bestStart))}::${hex(w.slice(bestStart + bestLen))}`
}

/**
 * Normalises address text (so `FF02:0::12` and `ff02::12` compare equal), or `undefined` if invalid.
 *
 * @example
 * ```ts
 * Address.canonical("FF02:0::12") // "ff02::12"
 * ```
 */
export const canonical = (text: string): string | undefined => {
  const family = familyOf(text)
  if (family === undefined) return undefined
  return format(parse(family, text)!, 0, family)
}

/**
 * Compares two addresses of one family numerically (network order), as keepalived's equal-priority
 * tie-break does: negative, zero or positive.
 *
 * @example
 * ```ts
 * Address.compare("10.9.0.2", "10.9.0.1") > 0 // true
 * ```
 */
export const compare = (a: string, b: string): number => {
  const fa = familyOf(a)
  const fb = familyOf(b)
  if (fa === undefined || fa !== fb) return 0
  const x = parse(fa, a)!
  const y = parse(fb, b)!
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! - y[i]!
  return 0
}

/**
 * Whether an address text is multicast (224.0.0.0/4 or ff00::/8).
 *
 * @example
 * ```ts
 * Address.isMulticast("224.0.0.18") // true
 * ```
 */
export const isMulticast = (text: string): boolean => {
  const v4 = parseIpv4(text)
  if (v4 !== undefined) return (v4[0]! & 0xf0) === 0xe0
  const v6 = parseIpv6(text)
  return v6 !== undefined && v6[0] === 0xff
}
