/**
 * A VRRP instance's configuration, with keepalived's defaults and its config-completion rules
 * (`vrrp_complete_instance`, reference §2.1, §2.4, §2.7, §2.14, §2.15).
 *
 * {@link make} turns what a user writes into a fully resolved {@link Instance}; rules keepalived fixes
 * with a warning are fixed the same way and the warning is returned, rules keepalived treats as fatal
 * throw a {@link ConfigError} naming the field and value.
 *
 * @module
 */
import * as Address from "./Address.ts"
import * as Advert from "./Advert.ts"

/**
 * The state an instance wants at start (`state MASTER|BACKUP`).
 *
 * @example
 * ```ts
 * Config.make({ name: "VI", vrid: 1, state: "MASTER", virtualAddresses: ["10.0.0.1"] }).instance.priority // 255
 * ```
 */
export type WantedState = "MASTER" | "BACKUP"

/**
 * A unicast peer (`unicast_peer { ADDR [min_ttl N] [max_ttl N] }`).
 *
 * @example
 * ```ts
 * const peer: Config.UnicastPeer = { address: "10.9.0.1", minTtl: 250 }
 * ```
 */
export interface UnicastPeer {
  readonly address: string
  readonly minTtl?: number | undefined
  readonly maxTtl?: number | undefined
}

/**
 * v2 authentication (`authentication { auth_type PASS; auth_pass … }`).
 *
 * @example
 * ```ts
 * const auth: Config.Authentication = { type: "PASS", password: "secret12" }
 * ```
 */
export type Authentication = { readonly type: "PASS"; readonly password: string } | { readonly type: "AH" }

/**
 * GARP / unsolicited NA timing (reference §2.9); seconds.
 *
 * @example
 * ```ts
 * Config.make({ name: "VI", vrid: 1, garp: { masterRepeat: 2, masterDelay: 2 }, virtualAddresses: ["10.0.0.1"] })
 * ```
 */
export interface Garp {
  readonly masterRepeat: number
  readonly masterDelay: number
  readonly masterRefresh: number
  readonly masterRefreshRepeat: number
  readonly lowerPrioRepeat: number
  readonly lowerPrioDelay: number
}

/**
 * Notification scripts of an instance (reference §2.11): command lines split without a shell.
 *
 * @example
 * ```ts
 * const notify: Config.Notify = { master: "/etc/vrrp/master.sh", generic: "/etc/vrrp/notify.sh", fifo: "/run/vrrp.fifo" }
 * ```
 */
export interface Notify {
  readonly master?: string | undefined
  readonly backup?: string | undefined
  readonly fault?: string | undefined
  readonly stop?: string | undefined
  readonly deleted?: string | undefined
  /** The generic `notify` script; gets `INSTANCE <name> <STATE> <prio>` appended. */
  readonly generic?: string | undefined
  readonly masterRxLowerPri?: string | undefined
  /** Run the scripts as this user (name or uid), like keepalived's `script_user` / per-script user. */
  readonly user?: string | undefined
  /** … and group (name or gid); default the user's primary group. */
  readonly group?: string | undefined
  /** `notify_priority_changes`: write `MASTER_PRIORITY` / `BACKUP_PRIORITY` FIFO lines on changes. */
  readonly priorityChanges?: boolean | undefined
  /** `notify_fifo` path: lines such as `INSTANCE "VI_1" MASTER 100`. */
  readonly fifo?: string | undefined
}

/**
 * A tracker reference on the instance: the tracker's name plus an optional weight override.
 *
 * @example
 * ```ts
 * const ref: Config.TrackRef = { name: "chk_haproxy", weight: -20 }
 * ```
 */
export interface TrackRef {
  readonly name: string
  readonly weight?: number | undefined
  readonly reverse?: boolean | undefined
}

/**
 * What a user writes: everything but `name`, `vrid`, `virtualAddresses` has a keepalived default.
 *
 * @example
 * ```ts
 * const input: Config.Input = { name: "VI_1", vrid: 51, priority: 150, virtualAddresses: ["10.9.0.100"] }
 * ```
 */
export interface Input {
  readonly name: string
  readonly vrid: number
  readonly interface?: string | undefined
  /** `version`; default 2 for IPv4 (global `vrrp_version`), 3 for IPv6. */
  readonly version?: 2 | 3 | undefined
  readonly state?: WantedState | undefined
  readonly priority?: number | undefined
  /** `advert_int` in seconds (0.01..255); default 1. */
  readonly advertInterval?: number | undefined
  readonly virtualAddresses: ReadonlyArray<string>
  readonly excludedAddresses?: ReadonlyArray<string> | undefined
  /** `virtual_routes` lines (`ip route` syntax) the owner applies while MASTER. */
  readonly virtualRoutes?: ReadonlyArray<string> | undefined
  /** The interface's primary address: source of adverts and the equal-priority tie-break. */
  readonly primaryAddress?: string | undefined
  readonly mcastSourceIp?: string | undefined
  readonly mcastGroup?: string | undefined
  readonly unicastSourceIp?: string | undefined
  readonly unicastPeers?: ReadonlyArray<string | UnicastPeer> | undefined
  readonly unicastTtl?: number | undefined
  readonly checkUnicastSrc?: boolean | undefined
  readonly authentication?: Authentication | undefined
  readonly nopreempt?: boolean | undefined
  /** `preempt_delay` in seconds (0..1000). */
  readonly preemptDelay?: number | undefined
  readonly downTimerAdverts?: number | undefined
  readonly lowerPrioNoAdvert?: boolean | undefined
  readonly higherPrioSendAdvert?: boolean | undefined
  readonly checksumAsV2?: boolean | undefined
  readonly ownerIgnoreAdverts?: boolean | undefined
  readonly skipCheckAdvAddr?: boolean | undefined
  /** Reject adverts whose VIP list differs (keepalived <= 2.3.2) instead of only logging it (HEAD). */
  readonly rejectAddressMismatch?: boolean | undefined
  readonly logUnknownVrids?: boolean | undefined
  readonly strict?: boolean | undefined
  readonly garp?: Partial<Garp> | undefined
  readonly notify?: Notify | undefined
  readonly trackScripts?: ReadonlyArray<TrackRef> | undefined
  readonly trackInterfaces?: ReadonlyArray<TrackRef> | undefined
  readonly trackFiles?: ReadonlyArray<TrackRef> | undefined
}

/**
 * A resolved instance: every default applied, every completion rule enforced.
 *
 * @example
 * ```ts
 * const vi: Config.Instance = Config.make(input).instance
 * vi.advertInterval // centiseconds
 * ```
 */
export interface Instance {
  readonly name: string
  readonly vrid: number
  readonly interface: string | undefined
  readonly version: 2 | 3
  readonly family: Address.Family
  readonly wantedState: WantedState
  readonly priority: number
  /** Local advertisement interval in centiseconds. */
  readonly advertInterval: number
  readonly virtualAddresses: ReadonlyArray<string>
  readonly excludedAddresses: ReadonlyArray<string>
  readonly virtualRoutes: ReadonlyArray<string>
  readonly primaryAddress: string | undefined
  /** Source address put on adverts (unicast_src_ip / mcast_src_ip / primary address). */
  readonly sourceAddress: string | undefined
  readonly mcastGroup: string
  readonly unicastPeers: ReadonlyArray<UnicastPeer>
  readonly unicastTtl: number
  readonly checkUnicastSrc: boolean
  readonly authType: number
  /** 8 bytes: the zero-padded PASS password, or zeros. */
  readonly authData: Uint8Array
  readonly nopreempt: boolean
  /** Seconds. */
  readonly preemptDelay: number
  readonly downTimerAdverts: number
  readonly lowerPrioNoAdvert: boolean
  readonly higherPrioSendAdvert: boolean
  readonly checksumAsV2: boolean
  readonly ownerIgnoreAdverts: boolean
  readonly skipCheckAdvAddr: boolean
  readonly rejectAddressMismatch: boolean
  readonly logUnknownVrids: boolean
  readonly strict: boolean
  readonly garp: Garp
  readonly notify: Notify
  readonly trackScripts: ReadonlyArray<TrackRef>
  readonly trackInterfaces: ReadonlyArray<TrackRef>
  readonly trackFiles: ReadonlyArray<TrackRef>
}

/**
 * A fatal configuration error, naming the instance, field and value.
 *
 * @example
 * ```ts
 * try { Config.make({ name: "VI", vrid: 0, virtualAddresses: [] }) } catch (e) { if (e instanceof Config.ConfigError) console.log(e.field) }
 * ```
 */
export class ConfigError extends Error {
  readonly instance: string
  readonly field: string
  readonly value: unknown
  constructor(instance: string, field: string, value: unknown, reason: string) {
    super(`(${instance}) ${field} ${JSON.stringify(value)}: ${reason}`)
    this.name = "ConfigError"
    this.instance = instance
    this.field = field
    this.value = value
  }
}

/**
 * A resolved instance plus the warnings keepalived would log while completing it.
 *
 * @example
 * ```ts
 * const { instance, warnings } = Config.make(input)
 * for (const w of warnings) console.warn(w)
 * ```
 */
export interface Resolved {
  readonly instance: Instance
  readonly warnings: ReadonlyArray<string>
}

/**
 * keepalived's GARP defaults (reference §2.1).
 *
 * @example
 * ```ts
 * Config.defaultGarp.masterRepeat // 5
 * ```
 */
export const defaultGarp: Garp = {
  masterRepeat: 5,
  masterDelay: 5,
  masterRefresh: 0,
  masterRefreshRepeat: 1,
  lowerPrioRepeat: 5,
  lowerPrioDelay: 5
}

/**
 * Resolves an instance configuration with keepalived's defaults and completion rules.
 *
 * @example
 * ```ts
 * const { instance } = Config.make({ name: "VI_1", vrid: 51, priority: 150, virtualAddresses: ["10.9.0.100"] })
 * instance.advertInterval // 100 (centiseconds)
 * ```
 */
export const make = (input: Input): Resolved => {
  const warnings: Array<string> = []
  const n = input.name
  const warn = (s: string) => warnings.push(`(${n}) ${s}`)
  if (!Number.isInteger(input.vrid) || input.vrid < 1 || input.vrid > 255)
    throw new ConfigError(n, "virtual_router_id", input.vrid, "must be 1..255")
  const addrs = [...input.virtualAddresses, ...(input.excludedAddresses ?? [])]
  const first = input.virtualAddresses[0] ?? input.unicastPeers?.[0]
  const family: Address.Family =
    (first === undefined ? undefined : Address.familyOf(typeof first === "string" ? first : first.address)) ?? "ipv4"
  for (const a of input.virtualAddresses) {
    if (Address.familyOf(a) !== family)
      throw new ConfigError(n, "virtual_ipaddress", a, `all VIPs of an instance must be ${family}`)
  }
  for (const a of addrs) if (Address.familyOf(a) === undefined) throw new ConfigError(n, "address", a, "not an address")
  const strict = input.strict ?? false
  let version: 2 | 3 = input.version ?? (family === "ipv6" ? 3 : 2)
  if (family === "ipv6" && version === 2 && strict) {
    warn("cannot use IPv6 with VRRP version 2; setting version 3")
    version = 3
  }
  let priority = input.priority ?? (input.state === "MASTER" ? 255 : 100)
  if (!Number.isInteger(priority) || priority < 1 || priority > 255) {
    warn(`priority ${priority} outside range [1, 255]; using default 100`)
    priority = 100
  }
  let wantedState: WantedState = input.state ?? (priority === 255 ? "MASTER" : "BACKUP")
  if (strict && priority === 255) wantedState = "MASTER"
  const seconds = input.advertInterval ?? 1
  if (!(seconds >= 0.01 && seconds <= 255)) throw new ConfigError(n, "advert_int", seconds, "must be 0.01..255 s")
  let advertInterval: number
  if (version === 2) {
    const whole = Math.max(1, Math.round(seconds))
    if (whole !== seconds) warn(`advert_int ${seconds} must be whole seconds for VRRPv2; rounded to ${whole}`)
    advertInterval = whole * 100
  } else {
    advertInterval = Math.min(Advert.V3_INTERVAL_MASK, Math.max(1, Math.round(seconds * 100)))
    if (advertInterval !== seconds * 100) warn(`advert_int ${seconds} rounded to ${advertInterval / 100} s`)
  }
  let authType: number = Advert.AuthType.none
  let authData: Uint8Array = new Uint8Array(Advert.AUTH_DATA_LENGTH)
  const auth = input.authentication
  if (auth !== undefined) {
    if (auth.type === "AH")
      // AH needs HMAC-MD5-96 over mutable-field-zeroed IP headers and anti-replay state; we refuse it
      // rather than ship a half-compatible implementation (RFC 3768 removed authentication anyway).
      throw new ConfigError(n, "auth_type", "AH", "IPsec-AH authentication is not supported; use PASS or none")
    if (strict) warn("authentication is not allowed in strict mode; disabled")
    else if (version === 3) warn("authentication is not supported with VRRPv3; disabled")
    else if (family === "ipv6") warn("authentication is not supported with IPv6; disabled")
    else if (auth.password === "") warn("auth_pass missing; authentication disabled")
    else {
      if (new TextEncoder().encode(auth.password).length > 8) warn("Truncating auth_pass to 8 characters")
      authType = Advert.AuthType.pass
      authData = Advert.passwordBytes(auth.password)
    }
  }
  let nopreempt = input.nopreempt ?? false
  let preemptDelay = input.preemptDelay ?? 0
  if (!(preemptDelay >= 0 && preemptDelay <= 1000)) throw new ConfigError(n, "preempt_delay", preemptDelay, "0..1000 s")
  if (nopreempt && priority === 255) {
    warn("nopreempt is incompatible with priority 255 - resetting")
    nopreempt = false
  }
  if (wantedState === "MASTER" && priority < 255 && (nopreempt || preemptDelay > 0)) {
    warn("nopreempt/preempt_delay are incompatible with initial state MASTER - clearing")
    nopreempt = false
    preemptDelay = 0
  }
  if (preemptDelay > 0 && (nopreempt || strict)) {
    warn("preempt_delay is incompatible with nopreempt/strict mode - resetting")
    preemptDelay = 0
  }
  const downTimerAdverts = input.downTimerAdverts ?? 3
  if (!Number.isInteger(downTimerAdverts) || downTimerAdverts < 1 || downTimerAdverts > 100)
    throw new ConfigError(n, "down_timer_adverts", downTimerAdverts, "must be 1..100")
  const unicastPeers = (input.unicastPeers ?? []).map((p) => (typeof p === "string" ? { address: p } : p))
  for (const p of unicastPeers)
    if (Address.familyOf(p.address) !== family)
      throw new ConfigError(n, "unicast_peer", p.address, `must be ${family} like the VIPs`)
  if (strict && unicastPeers.length > 0) throw new ConfigError(n, "unicast_peer", unicastPeers.length, "strict mode")
  if (strict && input.virtualAddresses.length === 0)
    throw new ConfigError(n, "virtual_ipaddress", 0, "strict mode requires VIPs")
  // keepalived caps the VIP list at what fits a 1500-byte MTU (IP header, VRRP header, v2 auth bytes).
  const maxVips = Math.floor((1500 - 20 - Advert.HEADER_LENGTH - Advert.AUTH_DATA_LENGTH) / Address.length(family))
  if (input.virtualAddresses.length > Math.min(255, maxVips))
    throw new ConfigError(n, "virtual_ipaddress", input.virtualAddresses.length, "too many VIPs for one advert")
  for (const [field, value] of [
    ["primary address", input.primaryAddress],
    ["mcast_src_ip", input.mcastSourceIp],
    ["unicast_src_ip", input.unicastSourceIp],
    ["mcast_dst_ip", input.mcastGroup]
  ] as const) {
    if (value !== undefined && Address.familyOf(value) !== family)
      throw new ConfigError(n, field, value, `must be an ${family} address like the VIPs`)
  }
  const primaryAddress = input.primaryAddress
  const mcastGroup = input.mcastGroup ?? (family === "ipv4" ? Advert.MULTICAST_GROUP_V4 : Advert.MULTICAST_GROUP_V6)
  if (!Address.isMulticast(mcastGroup)) throw new ConfigError(n, "mcast_dst_ip", mcastGroup, "not a multicast group")
  const sourceAddress =
    unicastPeers.length > 0
      ? (input.unicastSourceIp ?? primaryAddress)
      : (input.mcastSourceIp ?? input.unicastSourceIp ?? primaryAddress)
  let ownerIgnoreAdverts = input.ownerIgnoreAdverts ?? false
  if (strict) ownerIgnoreAdverts = true
  const garpIn = input.garp ?? {}
  const masterRepeat = garpIn.masterRepeat ?? defaultGarp.masterRepeat
  const masterDelay = garpIn.masterDelay ?? defaultGarp.masterDelay
  return {
    warnings,
    instance: {
      name: n,
      vrid: input.vrid,
      interface: input.interface,
      version,
      family,
      wantedState,
      priority,
      advertInterval,
      virtualAddresses: input.virtualAddresses.map((a) => Address.canonical(a)!),
      excludedAddresses: (input.excludedAddresses ?? []).map((a) => Address.canonical(a)!),
      virtualRoutes: input.virtualRoutes ?? [],
      primaryAddress,
      sourceAddress,
      mcastGroup,
      unicastPeers,
      unicastTtl: input.unicastTtl ?? 255,
      checkUnicastSrc: input.checkUnicastSrc ?? false,
      authType,
      authData,
      nopreempt,
      preemptDelay,
      downTimerAdverts,
      lowerPrioNoAdvert: strict ? true : (input.lowerPrioNoAdvert ?? false),
      higherPrioSendAdvert: strict ? false : (input.higherPrioSendAdvert ?? false),
      checksumAsV2: input.checksumAsV2 ?? false,
      ownerIgnoreAdverts,
      skipCheckAdvAddr: input.skipCheckAdvAddr ?? false,
      rejectAddressMismatch: input.rejectAddressMismatch ?? false,
      logUnknownVrids: input.logUnknownVrids ?? false,
      strict,
      garp: {
        masterRepeat,
        masterDelay,
        masterRefresh: garpIn.masterRefresh ?? 0,
        masterRefreshRepeat: garpIn.masterRefreshRepeat ?? 1,
        lowerPrioRepeat: strict ? 0 : (garpIn.lowerPrioRepeat ?? masterRepeat),
        lowerPrioDelay: garpIn.lowerPrioDelay ?? masterDelay
      },
      notify: input.notify ?? {},
      trackScripts: input.trackScripts ?? [],
      trackInterfaces: input.trackInterfaces ?? [],
      trackFiles: input.trackFiles ?? []
    }
  }
}

/**
 * Whether the instance advertises by unicast (it has peers).
 *
 * @example
 * ```ts
 * Config.isUnicast(instance) // false for multicast instances
 * ```
 */
export const isUnicast = (instance: Instance): boolean => instance.unicastPeers.length > 0
