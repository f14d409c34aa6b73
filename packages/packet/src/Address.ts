/**
 * Conversions between text and the wire forms this package uses: IPv4 as an unsigned 32-bit number,
 * IPv6 as 16 bytes, MAC as 6 bytes. For configuration and logs, not for the per-packet path (these
 * allocate strings and throw on bad input, with a message naming the value).
 *
 * @module
 */

/**
 * Parses dotted-quad IPv4 text to an unsigned 32-bit number.
 *
 * @example
 * ```ts
 * Address.parseIpv4("10.0.0.1") // 0x0a000001
 * ```
 */
export const parseIpv4 = (text: string): number => {
  const parts = text.split(".")
  if (parts.length !== 4) throw new Error(`invalid IPv4 address "${text}": expected 4 dotted decimal parts`)
  let v = 0
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`invalid IPv4 address "${text}": bad part "${p}"`)
    v = v * 256 + Number(p)
  }
  return v
}

/**
 * Formats an unsigned 32-bit IPv4 address as dotted quad.
 *
 * @example
 * ```ts
 * Address.formatIpv4(0x0a000001) // "10.0.0.1"
 * ```
 */
export const formatIpv4 = (address: number): string =>
  `${(address >>> 24) & 255}.${(address >>> 16) & 255}.${(address >>> 8) & 255}.${address & 255}`

/**
 * Parses IPv6 text (RFC 4291 §2.2, with `::` and an optional trailing dotted quad) to 16 bytes.
 *
 * @example
 * ```ts
 * Address.parseIpv6("2001:db8::1") // Uint8Array(16) [0x20, 0x01, 0x0d, 0xb8, 0, ..., 1]
 * ```
 */
export const parseIpv6 = (text: string): Uint8Array => {
  const fail = (why: string): never => {
    throw new Error(`invalid IPv6 address "${text}": ${why}`)
  }
  const out = new Uint8Array(16)
  const halves = text.split("::")
  if (halves.length > 2) fail("more than one '::'")
  const groups = (s: string): Array<number> => {
    if (s === "") return []
    const res: Array<number> = []
    const items = s.split(":")
    items.forEach((g, i) => {
      if (i === items.length - 1 && g.includes(".")) {
        const v4 = parseIpv4(g)
        res.push(v4 >>> 16, v4 & 0xffff)
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) fail(`bad group "${g}"`)
        res.push(Number.parseInt(g, 16))
      }
    })
    return res
  }
  const head = groups(halves[0]!)
  const tail = halves.length === 2 ? groups(halves[1]!) : []
  const fill = 8 - head.length - tail.length
  if (halves.length === 2 ? fill < 1 : fill !== 0) fail("wrong number of groups")
  const all = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail]
  all.forEach((g, i) => {
    out[2 * i] = g >>> 8
    out[2 * i + 1] = g & 0xff
  })
  return out
}

/**
 * Formats 16 bytes at `offset` as canonical IPv6 text (RFC 5952: lower case, longest zero run as `::`).
 *
 * @example
 * ```ts
 * Address.formatIpv6(frame, 14 + 8) // "2001:db8::1"
 * ```
 */
export const formatIpv6 = (bytes: Uint8Array, offset: number): string => {
  const g: Array<number> = []
  for (let i = 0; i < 8; i++) g.push((bytes[offset + 2 * i]! << 8) | bytes[offset + 2 * i + 1]!)
  let bestStart = -1
  let bestLen = 1
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && g[j] === 0) j++
    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const hex = (a: Array<number>) => a.map((x) => x.toString(16)).join(":")
  if (bestStart < 0) return hex(g)
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`
}

/**
 * Parses a MAC address (`aa:bb:cc:dd:ee:ff` or with `-`) to 6 bytes.
 *
 * @example
 * ```ts
 * Address.parseMac("02:00:00:00:00:01")
 * ```
 */
export const parseMac = (text: string): Uint8Array => {
  const parts = text.split(/[:-]/)
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new Error(`invalid MAC address "${text}": expected six hex pairs`)
  }
  return Uint8Array.from(parts, (p) => Number.parseInt(p, 16))
}

/**
 * Formats 6 bytes at `offset` as a lower-case colon-separated MAC.
 *
 * @example
 * ```ts
 * Address.formatMac(frame, 6) // "02:00:00:00:00:01"
 * ```
 */
export const formatMac = (bytes: Uint8Array, offset: number): string => {
  const parts: Array<string> = []
  for (let i = 0; i < 6; i++) parts.push(bytes[offset + i]!.toString(16).padStart(2, "0"))
  return parts.join(":")
}
