/**
 * A real server of a virtual service, with the kernel's counters, flags and thresholds.
 *
 * Mirrors `struct ip_vs_dest` (include/net/ip_vs.h) and the accounting done by `ip_vs_bind_dest` /
 * `ip_vs_unbind_dest` (ip_vs_conn.c) and the TCP/SCTP state handlers (active <-> inactive moves).
 *
 * @module
 */

/**
 * Destination flag bits, as in `IP_VS_DEST_F_*` (include/uapi/linux/ip_vs.h).
 *
 * @example
 * ```ts
 * if (dest.flags & DestinationFlags.Overload) console.log("over the upper threshold")
 * ```
 */
export const DestinationFlags = {
  /** Linked into a service (cleared when deleted but still referenced: the kernel's "trash"). */
  Available: 0x1,
  /** Over the upper connection threshold; schedulers skip it. */
  Overload: 0x2
} as const

/**
 * What kind of connection a bind/unbind accounts for.
 *
 * Mirrors the kernel's choice in `ip_vs_bind_dest`: templates count in `persistconns`, normal connections in
 * `activeconns` unless they carry `IP_VS_CONN_F_INACTIVE`, then in `inactconns`.
 *
 * @example
 * ```ts
 * dest.bind(ConnectionKind.Active)
 * ```
 */
export const ConnectionKind = {
  Active: 0,
  Inactive: 1,
  Template: 2
} as const

/**
 * One of {@link ConnectionKind}'s values.
 *
 * @example
 * ```ts
 * const kind: ConnectionKind = ConnectionKind.Template
 * ```
 */
export type ConnectionKind = (typeof ConnectionKind)[keyof typeof ConnectionKind]

/**
 * Who is told when a linked destination's counters or OVERLOAD flag change (the pool, which tells its scheduler).
 *
 * This is the hook that keeps the schedulers' indexes exact; the kernel has none because its schedulers scan.
 *
 * @example
 * ```ts
 * const watcher: DestinationWatcher = { countersChanged: (d) => console.log(d.activeConnections) }
 * ```
 */
export interface DestinationWatcher {
  countersChanged(dest: Destination): void
}

/**
 * Settings given when a destination is added or edited (`ipvsadm -a/-e -w -x -y`).
 *
 * @example
 * ```ts
 * const s: DestinationSettings = { weight: 3, upperThreshold: 100, lowerThreshold: 0 }
 * ```
 */
export interface DestinationSettings {
  /** 0..2^31-1 (ipvsadm limits to 0..65535); 0 = quiesced. */
  readonly weight?: number
  /** `-x`: OVERLOAD when active + inactive >= this (0 = no limit). */
  readonly upperThreshold?: number
  /** `-y`: OVERLOAD cleared below this (0 = below 3/4 of the upper threshold). */
  readonly lowerThreshold?: number
}

/**
 * Address families, as the kernel's `AF_INET` / `AF_INET6` distinction.
 *
 * @example
 * ```ts
 * const af: AddressFamily = 6
 * ```
 */
export type AddressFamily = 4 | 6

const MAX_INT = 0x7fffffff

/**
 * A real server: address, port, weight, thresholds, flags and connection counters.
 *
 * The address is stored as four big-endian 32-bit words (`address0..3`; IPv4 uses `address0` only), which is
 * what every hashing scheduler folds. Counters are plain numbers changed only through {@link bind},
 * {@link unbind}, {@link activeToInactive} and {@link inactiveToActive}, so the pool's scheduler sees every change.
 *
 * @example
 * ```ts
 * const a = Destination.make("10.0.0.1", 80, { weight: 2 })
 * pool.add(a)
 * a.bind(ConnectionKind.Active) // the connection table bound a new connection
 * ```
 */
export class Destination {
  /** Discriminant, so results are told apart from {@link NoDestination} without `instanceof`. */
  readonly _tag = "Destination" as const
  readonly family: AddressFamily
  /** Address words in network order as unsigned 32-bit numbers (IPv4: word 0 only). */
  readonly address0: number
  readonly address1: number
  readonly address2: number
  readonly address3: number
  readonly port: number
  /** Current weight (`dest->weight`). */
  weight = 1
  /** Last non-zero weight (set on add even when 0), used by mh so quiescing does not reshuffle the table. */
  lastWeight = 1
  upperThreshold = 0
  lowerThreshold = 0
  /** {@link DestinationFlags} bits. */
  flags = 0
  activeConnections = 0
  inactiveConnections = 0
  persistentConnections = 0
  /** The pool this destination is linked into, or undefined when not linked (never added, or deleted). */
  watcher: DestinationWatcher | undefined = undefined
  /** Position in the pool's slot array while linked (-1 otherwise); ascending slot = list order. */
  slot = -1

  constructor(family: AddressFamily, a0: number, a1: number, a2: number, a3: number, port: number) {
    this.family = family
    this.address0 = a0 >>> 0
    this.address1 = family === 6 ? a1 >>> 0 : 0
    this.address2 = family === 6 ? a2 >>> 0 : 0
    this.address3 = family === 6 ? a3 >>> 0 : 0
    this.port = port & 0xffff
  }

  /**
   * Builds a destination from a textual IPv4/IPv6 address; settings apply when it is added to a pool.
   *
   * Throws a clear error naming the bad value (control plane only).
   *
   * @example
   * ```ts
   * const d = Destination.make("2001:db8::10", 443)
   * ```
   */
  static make(address: string, port: number, settings?: DestinationSettings): Destination {
    const words = parseAddress(address)
    if (words === undefined) throw new Error(`Destination.make: invalid address "${address}"`)
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
      throw new Error(`Destination.make: port must be 0..65535, got ${port}`)
    }
    const d = new Destination(words.length === 1 ? 4 : 6, words[0]!, words[1] ?? 0, words[2] ?? 0, words[3] ?? 0, port)
    if (settings !== undefined) {
      const problem = checkSettings(settings)
      if (problem !== undefined) throw new Error(`Destination.make: ${problem}`)
      d.weight = settings.weight ?? 1
      d.lastWeight = d.weight
      d.upperThreshold = settings.upperThreshold ?? 0
      d.lowerThreshold = settings.lowerThreshold ?? 0
    }
    return d
  }

  /**
   * The kernel's load metric `ip_vs_dest_conn_overhead`: active * 256 + inactive.
   *
   * Exact (the kernel's int would wrap at 2^23 active connections; we do not reproduce that).
   *
   * @example
   * ```ts
   * d.overhead() // 256 after one active connection
   * ```
   */
  overhead(): number {
    return this.activeConnections * 256 + this.inactiveConnections
  }

  /**
   * Accounts a newly bound connection, then applies the upper threshold (mirrors `ip_vs_bind_dest`).
   *
   * OVERLOAD is set when the upper threshold is non-zero and active + inactive >= it; templates count
   * in `persistentConnections` and not in that sum, but still trigger the check, as in the kernel.
   *
   * @example
   * ```ts
   * d.bind(ConnectionKind.Active)
   * ```
   */
  bind(kind: ConnectionKind): void {
    if (kind === ConnectionKind.Active) this.activeConnections++
    else if (kind === ConnectionKind.Inactive) this.inactiveConnections++
    else this.persistentConnections++
    if (this.upperThreshold !== 0 && this.activeConnections + this.inactiveConnections >= this.upperThreshold) {
      this.flags |= DestinationFlags.Overload
    }
    if (this.watcher !== undefined) this.watcher.countersChanged(this)
  }

  /**
   * Accounts a connection going away, then applies the lower threshold (mirrors `ip_vs_unbind_dest`).
   *
   * OVERLOAD is cleared when: lower threshold != 0 and total < lower; else upper != 0 and total * 4 < upper * 3
   * (the 3/4 rule); else (no thresholds) always. Counters never go below 0 (the kernel would; a table that
   * unbinds more than it bound is a bug we refuse to amplify).
   *
   * @example
   * ```ts
   * d.unbind(ConnectionKind.Inactive)
   * ```
   */
  unbind(kind: ConnectionKind): void {
    if (kind === ConnectionKind.Active) {
      if (this.activeConnections > 0) this.activeConnections--
    } else if (kind === ConnectionKind.Inactive) {
      if (this.inactiveConnections > 0) this.inactiveConnections--
    } else if (this.persistentConnections > 0) this.persistentConnections--
    const total = this.activeConnections + this.inactiveConnections
    if (this.lowerThreshold !== 0) {
      if (total < this.lowerThreshold) this.flags &= ~DestinationFlags.Overload
    } else if (this.upperThreshold !== 0) {
      if (total * 4 < this.upperThreshold * 3) this.flags &= ~DestinationFlags.Overload
    } else {
      this.flags &= ~DestinationFlags.Overload
    }
    if (this.watcher !== undefined) this.watcher.countersChanged(this)
  }

  /**
   * A bound connection left an active state (e.g. TCP ESTABLISHED -> FIN_WAIT): active--, inactive++.
   *
   * Mirrors the protocol state handlers (`set_tcp_state` etc.); thresholds are not re-evaluated, as in the kernel.
   *
   * @example
   * ```ts
   * d.activeToInactive()
   * ```
   */
  activeToInactive(): void {
    if (this.activeConnections > 0) this.activeConnections--
    this.inactiveConnections++
    if (this.watcher !== undefined) this.watcher.countersChanged(this)
  }

  /**
   * A bound connection entered an active state (e.g. SYN_RECV -> ESTABLISHED from INACTIVE): inactive--, active++.
   *
   * @example
   * ```ts
   * d.inactiveToActive()
   * ```
   */
  inactiveToActive(): void {
    if (this.inactiveConnections > 0) this.inactiveConnections--
    this.activeConnections++
    if (this.watcher !== undefined) this.watcher.countersChanged(this)
  }

  /**
   * The address folded to 32 bits as the kernel hashes it (IPv6: XOR of the four words), host order.
   *
   * @example
   * ```ts
   * Destination.make("10.0.0.1", 80).foldedAddress() // 0x0a000001
   * ```
   */
  foldedAddress(): number {
    return this.family === 4 ? this.address0 : (this.address0 ^ this.address1 ^ this.address2 ^ this.address3) >>> 0
  }

  /**
   * `address:port` as ipvsadm prints it (IPv6 in brackets).
   *
   * @example
   * ```ts
   * Destination.make("10.0.0.1", 80).toString() // "10.0.0.1:80"
   * ```
   */
  toString(): string {
    if (this.family === 4) return `${formatV4(this.address0)}:${this.port}`
    return `[${formatV6([this.address0, this.address1, this.address2, this.address3])}]:${this.port}`
  }
}

/**
 * Checks destination settings, returning a message naming the bad field, or undefined when valid.
 *
 * @example
 * ```ts
 * checkSettings({ weight: -1 }) // "weight must be an integer 0..2147483647, got -1"
 * ```
 */
export const checkSettings = (s: DestinationSettings): string | undefined => {
  for (const key of ["weight", "upperThreshold", "lowerThreshold"] as const) {
    const v = s[key]
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > MAX_INT)) {
      return `${key} must be an integer 0..${MAX_INT}, got ${v}`
    }
  }
  return undefined
}

const formatV4 = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`

const formatV6 = (w: ReadonlyArray<number>): string => {
  const groups: Array<number> = []
  for (const x of w) groups.push(x >>> 16, x & 0xffff)
  // Longest run of zero groups (length >= 2) becomes "::" (RFC 5952).
  let best = -1
  let bestLen = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) {
      best = i
      bestLen = j - i
    }
    i = j
  }
  const hex = (gs: Array<number>) => gs.map((g) => g.toString(16)).join(":")
  if (best < 0) return hex(groups)
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`
}

/**
 * Parses dotted IPv4 (one word) or IPv6 text (four words), undefined when invalid.
 *
 * @example
 * ```ts
 * parseAddress("::1") // [0, 0, 0, 1]
 * ```
 */
export const parseAddress = (text: string): Array<number> | undefined => {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text)
  if (v4 !== null) {
    const b = v4.slice(1).map(Number)
    if (b.some((x) => x > 255)) return undefined
    return [((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0]
  }
  if (!text.includes(":")) return undefined
  let head = text
  const lastColon = text.lastIndexOf(":")
  const tail = text.slice(lastColon + 1)
  if (tail.includes(".")) {
    // Embedded IPv4 (e.g. ::ffff:10.0.0.1): rewrite it as two hex groups.
    const w = parseAddress(tail)
    if (w === undefined || w.length !== 1) return undefined
    head = `${text.slice(0, lastColon + 1)}${(w[0]! >>> 16).toString(16)}:${(w[0]! & 0xffff).toString(16)}`
  }
  const parts = head.split("::")
  if (parts.length > 2) return undefined
  const parse = (s: string) => (s === "" ? [] : s.split(":"))
  const left = parse(parts[0]!)
  const right = parts.length === 2 ? parse(parts[1]!) : []
  const groups: Array<number> = []
  for (const g of [...left, ...right]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined
  }
  const total = left.length + right.length
  if (parts.length === 1 && total !== 8) return undefined
  if (parts.length === 2 && total > 7) return undefined
  for (const g of left) groups.push(Number.parseInt(g, 16))
  for (let i = total; i < 8; i++) groups.push(0)
  for (const g of right) groups.push(Number.parseInt(g, 16))
  const words: Array<number> = []
  for (let i = 0; i < 8; i += 2) words.push(((groups[i]! << 16) | groups[i + 1]!) >>> 0)
  return words
}
