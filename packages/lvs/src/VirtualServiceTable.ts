/**
 * The director's virtual service table: services (TCP/UDP/SCTP `VIP:port`, port 0, firewall marks), their
 * destinations (real servers with weight, thresholds and forwarding method), schedulers, persistence and the
 * firewall-mark classifier, changed through typed {@link Command}s.
 *
 * Mirrors what `ipvsadm -A/-E/-D/-a/-e/-d/-C` do to the kernel's table (ip_vs_ctl.c): the same validation
 * rules (persistence required for port 0, DR/TUN destinations take the service port), destinations kept in
 * the scheduler's list newest first, a deleted destination kept in a "trash" and revived with its counters
 * when it is added again.
 *
 * The same class runs on both sides of the worker boundary: the control plane applies a command to its copy
 * first (so an invalid command fails there, naming the field), then posts the identical command to every I/O
 * worker, whose copy applies it between two batches. Both copies start empty and apply the same sequence, so
 * they assign the same statistics slots (indices into the shared {@link Stats} buffer) without talking.
 *
 * @module
 */
import { Persistence as ConntrackPersistence } from "@lvs-ts/conntrack"
import { Destination, DestinationDirectory, DestinationPool, defaultRegistry } from "@lvs-ts/schedulers"
import * as Frames from "./internal/Frames.ts"

/**
 * A virtual service's transport protocol.
 *
 * @example
 * ```ts
 * const p: VirtualServiceTable.Protocol = "tcp"
 * ```
 */
export type Protocol = "tcp" | "udp" | "sctp"

/**
 * Forwarding method of a destination: `nat` (ipvsadm `-m`, Masq), `dr` (`-g`, Route, the kernel default),
 * `tun` (`-i`, Tunnel, IPIP), `fullnat` (DPVS / alibaba `-b`, FullNat).
 *
 * @example
 * ```ts
 * const m: VirtualServiceTable.Method = "nat"
 * ```
 */
export type Method = "nat" | "dr" | "tun" | "fullnat"

/**
 * Encapsulation of a `tun` destination (ipvsadm `--tun-type`): `ipip` (IPIP or IPv6-in-IPv6, the default),
 * `gue` (Generic UDP Encapsulation to `tunnelPort`, `--tun-port`) or `gre`.
 *
 * @example
 * ```ts
 * const t: VirtualServiceTable.TunnelType = "gue"
 * ```
 */
export type TunnelType = "ipip" | "gue" | "gre"

/**
 * Codes of {@link TunnelType} as `@lvs-ts/packet`'s `Tunnel.TunnelType` numbers them (IP_VS_CONN_F_TUNNEL_TYPE_*).
 *
 * @example
 * ```ts
 * VirtualServiceTable.tunnelTypeCode.gre // 2
 * ```
 */
export const tunnelTypeCode = { ipip: 0, gue: 1, gre: 2 } as const

/**
 * Kernel protocol numbers of {@link Protocol}.
 *
 * @example
 * ```ts
 * VirtualServiceTable.protocolNumber.tcp // 6
 * ```
 */
export const protocolNumber = { tcp: 6, udp: 17, sctp: 132 } as const

/**
 * Forwarding method codes as conntrack stores them (IP_VS_CONN_F_MASQ, TUNNEL, DROUTE; FULLNAT 5).
 *
 * @example
 * ```ts
 * VirtualServiceTable.methodCode.dr // 3
 * ```
 */
export const methodCode = { nat: 0, tun: 2, dr: 3, fullnat: 5 } as const

/**
 * The `Forward` column of `ipvsadm -L` for each method.
 *
 * @example
 * ```ts
 * VirtualServiceTable.methodLabel.nat // "Masq"
 * ```
 */
export const methodLabel = { nat: "Masq", dr: "Route", tun: "Tunnel", fullnat: "FullNat" } as const

/**
 * Identifies a service: by protocol, address and port (`-t/-u/--sctp-service VIP:port`) or by firewall
 * mark (`-f mark`, with `family: 6` for `-f mark -6`). As in the kernel, fwmark services are keyed by
 * (family, mark): `FWM 1` and `FWM 1 IPv6` are two services.
 *
 * @example
 * ```ts
 * const web: VirtualServiceTable.ServiceKey = { protocol: "tcp", address: "10.200.1.100", port: 80 }
 * const marked: VirtualServiceTable.ServiceKey = { fwmark: 1 }
 * const marked6: VirtualServiceTable.ServiceKey = { fwmark: 1, family: 6 }
 * ```
 */
export type ServiceKey =
  | {
      readonly protocol: Protocol
      readonly address: string
      readonly port: number
      readonly fwmark?: undefined
      readonly family?: undefined
    }
  | {
      readonly fwmark: number
      /** Address family of a fwmark service (ipvsadm `-6`); default 4. */
      readonly family?: 4 | 6
      readonly protocol?: undefined
      readonly address?: undefined
      readonly port?: undefined
    }

/**
 * Persistence (`-p timeout -M netmask`).
 *
 * @example
 * ```ts
 * const p: VirtualServiceTable.Persistence = { timeout: 300, netmask: "255.255.255.0" }
 * ```
 */
export interface Persistence {
  /** Seconds (ipvsadm's default with a bare `-p` is 300). */
  readonly timeout: number
  /**
   * Client netmask grouping clients on one template: IPv4 services a dotted mask (default
   * 255.255.255.255); IPv6 services a prefix length `"1".."128"` (ipvsadm `-M 64`, default 128).
   */
  readonly netmask?: string
}

/**
 * A service's settings (`ipvsadm -A` / `-E`).
 *
 * @example
 * ```ts
 * const spec: VirtualServiceTable.ServiceSpec = { protocol: "tcp", address: "10.200.1.100", port: 80, scheduler: "wrr" }
 * ```
 */
export type ServiceSpec = ServiceKey & {
  /** Scheduler name (`-s`), default `wlc`. */
  readonly scheduler?: string
  /** Scheduler flags (`-b`, e.g. sh-fallback 0x08, sh-port 0x10). */
  readonly schedulerFlags?: number
  readonly persistence?: Persistence
  /**
   * FULLNAT local address pool: the sources the director uses towards real servers (DPVS `--laddr`), of
   * the service's family (IPv6 addresses for an IPv6 service).
   */
  readonly localAddresses?: ReadonlyArray<string>
}

/**
 * A destination's settings (`ipvsadm -a` / `-e`).
 *
 * @example
 * ```ts
 * const rs: VirtualServiceTable.DestinationSpec = { address: "10.200.2.12", port: 8000, weight: 2, method: "nat" }
 * ```
 */
export interface DestinationSpec {
  readonly address: string
  /** Real server port; DR and TUN destinations use the service port (ipvsadm forces it) unless fwmark. */
  readonly port?: number
  readonly weight?: number
  readonly upperThreshold?: number
  readonly lowerThreshold?: number
  /** Default `dr`, as ipvsadm's `-g`. */
  readonly method?: Method
  /** `tun` only: encapsulation (`--tun-type`), default `ipip`. */
  readonly tunnelType?: TunnelType
  /** `tun` with `gue`: the real server's GUE UDP port (`--tun-port`). */
  readonly tunnelPort?: number
  /** `tun` with `gue`/`gre`: add the UDP / GRE checksum (`--tun-csum`); default off (`--tun-nocsum`). */
  readonly tunnelChecksum?: boolean
}

/**
 * One firewall-mark classifier rule: packets to the director matching every given field get `mark`
 * (the role of an iptables / ip6tables mangle `MARK` rule in front of kernel IPVS). First match wins,
 * per address family. A rule's family comes from its prefixes (IPv4 `a.b.c.d/len` or IPv6 `addr/len`),
 * else from `family`; a rule with neither applies to both families (like the same rule in iptables and
 * ip6tables).
 *
 * @example
 * ```ts
 * const rule: VirtualServiceTable.ClassifierRule = { mark: 1, protocol: "tcp", destination: "10.200.1.100/32", ports: [80, 443] }
 * const rule6: VirtualServiceTable.ClassifierRule = { mark: 2, protocol: "tcp", destination: "fd00:200:1::/64", ports: [8080, 8090] }
 * ```
 */
export interface ClassifierRule {
  readonly mark: number
  readonly protocol?: Protocol
  /** Destination prefix `a.b.c.d/len` or `ipv6/len`. */
  readonly destination?: string
  /** Source prefix `a.b.c.d/len` or `ipv6/len`. */
  readonly source?: string
  /** Inclusive destination port range. */
  readonly ports?: readonly [number, number]
  /** Restricts a rule without prefixes to one family (4 or 6). */
  readonly family?: 4 | 6
}

/**
 * A change to the table. Plain data, so it can be posted to the I/O workers.
 *
 * @example
 * ```ts
 * const add: VirtualServiceTable.Command = { _tag: "AddService", service: { protocol: "tcp", address: "10.0.0.1", port: 80 } }
 * ```
 */
export type Command =
  | { readonly _tag: "AddService"; readonly service: ServiceSpec }
  | { readonly _tag: "EditService"; readonly service: ServiceSpec }
  | { readonly _tag: "DeleteService"; readonly service: ServiceKey }
  | { readonly _tag: "AddDestination"; readonly service: ServiceKey; readonly destination: DestinationSpec }
  | { readonly _tag: "EditDestination"; readonly service: ServiceKey; readonly destination: DestinationSpec }
  | {
      readonly _tag: "DeleteDestination"
      readonly service: ServiceKey
      readonly destination: { readonly address: string; readonly port?: number }
    }
  | { readonly _tag: "SetClassifier"; readonly rules: ReadonlyArray<ClassifierRule> }
  | { readonly _tag: "Clear" }

/**
 * Statistics slots: every service and destination owns one slot of {@link Stats.FIELDS} float64 counters
 * in a shared buffer, so the control plane reads the data plane's counters without a message.
 *
 * @example
 * ```ts
 * const conns = stats[slot * VirtualServiceTable.Stats.FIELDS + VirtualServiceTable.Stats.connections]
 * ```
 */
export const Stats = {
  connections: 0,
  inPackets: 1,
  outPackets: 2,
  inBytes: 3,
  outBytes: 4,
  /** Copied from the data plane's destination counters every tick (destinations only). */
  activeConnections: 5,
  inactiveConnections: 6,
  persistentConnections: 7,
  FIELDS: 8
} as const

/**
 * Default number of statistics slots (services + destinations).
 *
 * @example
 * ```ts
 * new Float64Array(new SharedArrayBuffer(VirtualServiceTable.DEFAULT_SLOTS * 8 * 8))
 * ```
 */
export const DEFAULT_SLOTS = 1024

/**
 * A destination as the table holds it.
 *
 * @example
 * ```ts
 * for (const d of service.destinations.values()) console.log(d.address, d.port, d.method)
 * ```
 */
export interface DestinationEntry {
  readonly address: string
  /** IPv4 address as a uint32 (0 for IPv6 destinations). */
  readonly addressValue: number
  /** Address family of the destination: the service's, or the other one for a `tun` destination. */
  readonly family: 4 | 6
  /** IPv6 address bytes (all zero for IPv4). */
  readonly address6: Uint8Array
  /** IPv6 address as four big-endian words, as conntrack stores it. */
  readonly address6Words: Uint32Array
  readonly port: number
  method: Method
  methodCode: number
  /** Encapsulation when `method` is `tun`. */
  tunnelType: TunnelType
  /** GUE destination port (0 unless `tunnelType` is `gue`). */
  tunnelPort: number
  tunnelChecksum: boolean
  /** The scheduler's object (weight, thresholds, connection counters). */
  readonly destination: Destination
  /** Id in the table's {@link DestinationDirectory} (what conntrack entries store). */
  readonly id: number
  /** Statistics slot. */
  readonly slot: number
  /** Whether it is linked in the service (false: in the trash). */
  linked: boolean
}

/**
 * A virtual service as the table holds it.
 *
 * @example
 * ```ts
 * table.find({ protocol: "tcp", address: "10.200.1.100", port: 80 })?.pool.scheduler.name // "wrr"
 * ```
 */
export interface Service {
  /** Small integer id (what conntrack entries store); also the service's statistics slot. */
  readonly id: number
  readonly slot: number
  readonly key: string
  readonly protocol: Protocol | undefined
  /** Kernel protocol number; 0 for fwmark services. */
  readonly protocolNumber: number
  readonly address: string | undefined
  /** IPv4 VIP as a uint32 (0 for IPv6 and fwmark services). */
  readonly addressValue: number
  /** Address family (of the VIP; for a fwmark service, its `family`, default 4). */
  readonly family: 4 | 6
  /** IPv6 VIP bytes (all zero for IPv4). */
  readonly address6: Uint8Array
  readonly port: number
  readonly fwmark: number
  scheduler: string
  schedulerFlags: number
  readonly pool: DestinationPool
  persistence: Persistence | undefined
  /** What conntrack's persistence needs (rebuilt on edit). */
  persistent: ConntrackPersistence.PersistentService | undefined
  /** IPv4 FULLNAT local address pool (IPv4 services). */
  localAddresses: ReadonlyArray<number>
  /** IPv6 FULLNAT local address pool, 16 bytes per address (IPv6 services). */
  localAddresses6: Uint8Array
  readonly destinations: Map<string, DestinationEntry>
}

const MAX_SERVICES = 4096

const parsePrefix6 = (text: string): { address: Uint8Array; length: number } | undefined => {
  const [a, l] = text.split("/")
  const parsed = Frames.parseIpv6(a ?? "")
  const length = l === undefined ? 128 : Number(l)
  if (parsed === undefined || !Number.isInteger(length) || length < 0 || length > 128) return undefined
  const address = new Uint8Array(16)
  for (let k = 0; k < 16; k++) {
    const bits = Math.max(0, Math.min(8, length - k * 8))
    address[k] = parsed[k]! & ((0xff00 >>> bits) & 0xff)
  }
  return { address, length }
}

/** Whether the `length`-bit prefix of 16 bytes of `a` at `ao` equals `net` (16 bytes at `no`, already masked). */
const prefixMatches6 = (a: Uint8Array, ao: number, net: Uint8Array, no: number, length: number): boolean => {
  const whole = length >>> 3
  for (let k = 0; k < whole; k++) if (a[ao + k] !== net[no + k]) return false
  const rest = length & 7
  if (rest === 0) return true
  return (a[ao + whole]! & ((0xff00 >>> rest) & 0xff)) === net[no + whole]
}

const parsePrefix = (text: string): { address: number; mask: number } | undefined => {
  const [a, l] = text.split("/")
  const address = Frames.parseIpv4(a ?? "")
  const length = l === undefined ? 32 : Number(l)
  if (address === undefined || !Number.isInteger(length) || length < 0 || length > 32) return undefined
  const mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0
  return { address: (address & mask) >>> 0, mask }
}

/**
 * Text key of a service: `tcp/10.0.0.1/80` or `fwm/1`.
 *
 * @example
 * ```ts
 * VirtualServiceTable.keyOf({ fwmark: 3 }) // "fwm/3"
 * VirtualServiceTable.keyOf({ fwmark: 3, family: 6 }) // "fwm6/3"
 * ```
 */
export const keyOf = (key: ServiceKey): string =>
  key.fwmark !== undefined
    ? `${key.family === 6 ? "fwm6" : "fwm"}/${key.fwmark}`
    : `${key.protocol}/${key.address}/${key.port}`

/** Validated IPv6 addresses as one buffer, 16 bytes each. */
const pool6 = (addresses: ReadonlyArray<string>): Uint8Array => {
  const out = new Uint8Array(16 * addresses.length)
  for (const [i, a] of addresses.entries()) out.set(Frames.parseIpv6(a)!, i * 16)
  return out
}

/** A classifier rule's family: from its prefixes, else `family`; undefined = both families. */
const ruleFamily = (r: ClassifierRule): 4 | 6 | undefined => {
  const text = r.destination ?? r.source
  if (text !== undefined) return text.includes(":") ? 6 : 4
  return r.family
}

/** An IPv6 persistence netmask: a prefix length `"64"` or `"/64"` in 1..128. */
const prefixLengthOf = (text: string): number | undefined => {
  const n = Number(text.startsWith("/") ? text.slice(1) : text)
  return /^\/?\d{1,3}$/.test(text) && Number.isInteger(n) && n >= 1 && n <= 128 ? n : undefined
}

const isPort = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= 65535
const isU32 = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= 0xffffffff

/**
 * The table. Construct one per side (control plane, each I/O worker) and feed both the same commands.
 *
 * @example
 * ```ts
 * const table = new VirtualServiceTable()
 * table.apply({ _tag: "AddService", service: { protocol: "tcp", address: "10.200.1.100", port: 80, scheduler: "wrr" } })
 * table.apply({ _tag: "AddDestination", service: { protocol: "tcp", address: "10.200.1.100", port: 80 },
 *   destination: { address: "10.200.2.11", port: 80, weight: 1, method: "nat" } }) // undefined: applied
 * ```
 */
export class VirtualServiceTable {
  /** Ids for conntrack, and the accounting callbacks conntrack calls (pass it as its `destinations`). */
  readonly directory = new DestinationDirectory()
  readonly services = new Map<string, Service>()
  /** Service by id (conntrack's service field). */
  readonly byId: Array<Service | undefined> = []
  /** Destination entry by directory id. */
  readonly destinationById: Array<DestinationEntry | undefined> = []
  /** Data-plane lookup columns over the non-fwmark services (linear scan; rebuilt on change). */
  lookupCount = 0
  lookupProtocol = new Int32Array(64)
  lookupAddress = new Uint32Array(64)
  lookupPort = new Int32Array(64)
  lookupService: Array<Service> = []
  /** The same for IPv6 services (16 address bytes per service in `lookup6Address`). */
  lookup6Count = 0
  lookup6Protocol = new Int32Array(16)
  lookup6Address = new Uint8Array(16 * 16)
  lookup6Port = new Int32Array(16)
  lookup6Service: Array<Service> = []
  /** IPv4 fwmark services by mark. */
  readonly byMark = new Map<number, Service>()
  /** IPv6 fwmark services by mark. */
  readonly byMark6 = new Map<number, Service>()
  /** How many TCP services listen on port 21 (enables the FTP data lookup of ip_vs_service_find). */
  ftpServices = 0
  /** Compiled classifier (columns; `classifierCount` rules). */
  classifierCount = 0
  classifierMark = new Uint32Array(0)
  classifierProtocol = new Int32Array(0)
  classifierDst = new Uint32Array(0)
  classifierDstMask = new Uint32Array(0)
  classifierSrc = new Uint32Array(0)
  classifierSrcMask = new Uint32Array(0)
  classifierPortLow = new Int32Array(0)
  classifierPortHigh = new Int32Array(0)
  /** Compiled IPv6 classifier (16 bytes per prefix, masked; `classifier6Count` rules). */
  classifier6Count = 0
  classifier6Mark = new Uint32Array(0)
  classifier6Protocol = new Int32Array(0)
  classifier6Dst = new Uint8Array(0)
  classifier6DstLength = new Int32Array(0)
  classifier6Src = new Uint8Array(0)
  classifier6SrcLength = new Int32Array(0)
  classifier6PortLow = new Int32Array(0)
  classifier6PortHigh = new Int32Array(0)
  classifier: ReadonlyArray<ClassifierRule> = []
  /** Bumped on every applied change (the data plane refreshes derived state when it moves). */
  version = 0
  private readonly freeSlots: Array<number> = []
  private nextSlot = 0
  private readonly freeServiceIds: Array<number> = []
  private readonly slots: number

  constructor(options: { readonly slots?: number } = {}) {
    this.slots = options.slots ?? DEFAULT_SLOTS
  }

  /**
   * Applies a command; returns `undefined` when applied, else a message naming the field and value
   * (the table is then unchanged).
   */
  apply(command: Command): string | undefined {
    const r = this.applyInner(command)
    if (r === undefined) {
      this.version++
      this.rebuildLookup()
    }
    return r
  }

  /** The service with this key, if any. */
  find(key: ServiceKey): Service | undefined {
    return this.services.get(keyOf(key))
  }

  /**
   * Data-plane service lookup in ip_vs_service_find's order (ipvs.md §2.6): fwmark (when `mark` != 0),
   * exact `<protocol, VIP, port>`, the FTP control service for TCP data connections (port 20 or >= 1024)
   * when a port-21 service exists, then the port-zero service. Returns the service or undefined.
   */
  lookup(mark: number, protocol: number, address: number, port: number): Service | undefined {
    if (mark !== 0) {
      const s = this.byMark.get(mark)
      if (s !== undefined) return s
    }
    const n = this.lookupCount
    const lp = this.lookupProtocol
    const la = this.lookupAddress
    const lport = this.lookupPort
    for (let i = 0; i < n; i++) {
      if (lp[i] === protocol && la[i] === address && lport[i] === port) return this.lookupService[i]
    }
    if (this.ftpServices > 0 && protocol === 6 && (port === 20 || port >= 1024)) {
      for (let i = 0; i < n; i++) {
        if (lp[i] === 6 && la[i] === address && lport[i] === ConntrackPersistence.FTP_PORT) return this.lookupService[i]
      }
    }
    for (let i = 0; i < n; i++) {
      if (lp[i] === protocol && la[i] === address && lport[i] === 0) return this.lookupService[i]
    }
    return undefined
  }

  /**
   * IPv6 service lookup (the address is 16 bytes of `b` at `offset`): the IPv6 fwmark service (when
   * `mark` != 0), exact `<protocol, VIP, port>`, then the port-zero service. Returns the service or undefined.
   */
  lookup6(mark: number, protocol: number, b: Uint8Array, offset: number, port: number): Service | undefined {
    if (mark !== 0) {
      const s = this.byMark6.get(mark)
      if (s !== undefined) return s
    }
    const n = this.lookup6Count
    let zero: Service | undefined
    for (let i = 0; i < n; i++) {
      if (this.lookup6Protocol[i] !== protocol || !this.same6(i, b, offset)) continue
      const p = this.lookup6Port[i]
      if (p === port) return this.lookup6Service[i]
      if (p === 0) zero = this.lookup6Service[i]
    }
    return zero
  }

  /** Whether 16 bytes of `b` at `offset` are the VIP of some IPv6 service. */
  isVirtualAddress6(b: Uint8Array, offset: number): boolean {
    for (let i = 0; i < this.lookup6Count; i++) if (this.same6(i, b, offset)) return true
    return false
  }

  private same6(i: number, b: Uint8Array, offset: number): boolean {
    const a = this.lookup6Address
    const base = i * 16
    for (let k = 0; k < 16; k++) if (a[base + k] !== b[offset + k]) return false
    return true
  }

  /** Firewall mark for a packet from the classifier (0 = none). Allocation-free. */
  classify(protocol: number, source: number, destination: number, port: number): number {
    const n = this.classifierCount
    for (let i = 0; i < n; i++) {
      const p = this.classifierProtocol[i]!
      if (p !== 0 && p !== protocol) continue
      if ((destination & this.classifierDstMask[i]!) >>> 0 !== this.classifierDst[i]) continue
      if ((source & this.classifierSrcMask[i]!) >>> 0 !== this.classifierSrc[i]) continue
      if (port < this.classifierPortLow[i]! || port > this.classifierPortHigh[i]!) continue
      return this.classifierMark[i]!
    }
    return 0
  }

  /**
   * Firewall mark for an IPv6 packet from the classifier (0 = none); source and destination are 16 bytes
   * of `b` at `sourceOffset` / `destinationOffset`. Allocation-free.
   */
  classify6(protocol: number, b: Uint8Array, sourceOffset: number, destinationOffset: number, port: number): number {
    const n = this.classifier6Count
    for (let i = 0; i < n; i++) {
      const p = this.classifier6Protocol[i]!
      if (p !== 0 && p !== protocol) continue
      if (port < this.classifier6PortLow[i]! || port > this.classifier6PortHigh[i]!) continue
      const dl = this.classifier6DstLength[i]!
      if (dl > 0 && !prefixMatches6(b, destinationOffset, this.classifier6Dst, i * 16, dl)) continue
      const sl = this.classifier6SrcLength[i]!
      if (sl > 0 && !prefixMatches6(b, sourceOffset, this.classifier6Src, i * 16, sl)) continue
      return this.classifier6Mark[i]!
    }
    return 0
  }

  /** Whether `address` is a virtual address of some service (the director must answer ARP for it). */
  isVirtualAddress(address: number): boolean {
    for (let i = 0; i < this.lookupCount; i++) if (this.lookupAddress[i] === address) return true
    return false
  }

  /** Whether `address` is in some service's FULLNAT local address pool. */
  isLocalAddress(address: number): boolean {
    for (const s of this.services.values()) for (const a of s.localAddresses) if (a === address) return true
    return false
  }

  private allocSlot(): number {
    const s = this.freeSlots.pop()
    if (s !== undefined) return s
    if (this.nextSlot >= this.slots) return -1
    return this.nextSlot++
  }

  private checkService(spec: ServiceSpec, adding: boolean): string | undefined {
    const v6 = spec.fwmark !== undefined ? spec.family === 6 : Frames.parseIpv6(spec.address) !== undefined
    if (spec.fwmark !== undefined) {
      if (!isU32(spec.fwmark) || spec.fwmark === 0) return `fwmark ${spec.fwmark} must be an integer in 1..4294967295`
      if (spec.family !== undefined && spec.family !== 4 && spec.family !== 6) {
        return `family ${JSON.stringify(spec.family)} must be 4 or 6`
      }
    } else {
      if (!(spec.protocol in protocolNumber)) return `protocol ${JSON.stringify(spec.protocol)} is not tcp, udp or sctp`
      if (Frames.parseIpv4(spec.address) === undefined && !v6) {
        return `address ${JSON.stringify(spec.address)} is not IPv4 or IPv6`
      }
      if (!isPort(spec.port)) return `port ${spec.port} is not in 0..65535`
      if (spec.port === 0 && spec.persistence === undefined && adding) {
        return "port 0 (all ports) requires persistence, as in ipvsadm"
      }
    }
    if (spec.scheduler !== undefined && !defaultRegistry.has(spec.scheduler)) {
      return `scheduler ${JSON.stringify(spec.scheduler)} is unknown (known: ${defaultRegistry.names().join(", ")})`
    }
    if (spec.persistence !== undefined) {
      const t = spec.persistence.timeout
      if (!(typeof t === "number" && Number.isInteger(t) && t >= 1 && t <= 2678400)) {
        return `persistence.timeout ${t} must be an integer number of seconds in 1..2678400`
      }
      const m = spec.persistence.netmask
      if (v6 && m !== undefined && prefixLengthOf(m) === undefined) {
        return `persistence.netmask ${JSON.stringify(m)} is not an IPv6 prefix length 1..128 (ipvsadm -M 64)`
      }
      if (!v6 && m !== undefined && Frames.parseIpv4(m) === undefined) {
        return `persistence.netmask ${JSON.stringify(m)} is not an IPv4 netmask`
      }
    }
    for (const [i, a] of (spec.localAddresses ?? []).entries()) {
      if (v6 && Frames.parseIpv6(a) === undefined) {
        return `localAddresses[${i}] ${JSON.stringify(a)} is not IPv6 (the service is IPv6)`
      }
      if (!v6 && Frames.parseIpv4(a) === undefined) return `localAddresses[${i}] ${JSON.stringify(a)} is not IPv4`
    }
    if (spec.schedulerFlags !== undefined && !(isU32(spec.schedulerFlags) && spec.schedulerFlags <= 0xff)) {
      return `schedulerFlags ${spec.schedulerFlags} must be in 0..255`
    }
    return undefined
  }

  private persistentOf(s: Service): ConntrackPersistence.PersistentService | undefined {
    const p = s.persistence
    if (p === undefined) return undefined
    const v6 = s.family === 6
    return {
      service: s.id,
      fwmark: s.fwmark,
      virtualPort: s.port,
      timeout: p.timeout * 1000,
      netmask: v6 || p.netmask === undefined ? 0xffffffff : Frames.parseIpv4(p.netmask)!,
      prefixLength: v6 && p.netmask !== undefined ? prefixLengthOf(p.netmask)! : 128
    }
  }

  /**
   * Checks a destination spec; `currentMethod` is the method an edited destination keeps when the spec
   * names none. As in the kernel, only a `tun` destination may be of the other address family than its
   * service (IPv4-in-IPv6 or IPv6-in-IPv4 tunnels).
   */
  private checkDestination(s: Service, d: DestinationSpec, currentMethod?: Method): string | undefined {
    const family = Frames.parseIpv4(d.address) !== undefined ? 4 : Frames.parseIpv6(d.address) !== undefined ? 6 : 0
    if (family === 0) {
      return `destination.address ${JSON.stringify(d.address)} is not ${s.family === 6 ? "IPv6" : "IPv4"}`
    }
    if (family !== s.family && (d.method ?? currentMethod ?? "dr") !== "tun") {
      return s.family === 6
        ? `destination.address ${JSON.stringify(d.address)} is not IPv6 (the service ${s.key} is IPv6; only a tun destination may be IPv4)`
        : `destination.address ${JSON.stringify(d.address)} is not IPv4 (only a tun destination of an IPv4 service may be IPv6)`
    }
    if (d.port !== undefined && !isPort(d.port)) return `destination.port ${d.port} is not in 0..65535`
    if (d.method !== undefined && !(d.method in methodCode)) {
      return `destination.method ${JSON.stringify(d.method)} is not nat, dr, tun or fullnat`
    }
    if (d.tunnelType !== undefined) {
      if (!(d.tunnelType in tunnelTypeCode)) {
        return `destination.tunnelType ${JSON.stringify(d.tunnelType)} is not ipip, gue or gre`
      }
      if (d.method !== "tun") return "destination.tunnelType needs method tun"
      if (d.tunnelType === "gue" && !(isPort(d.tunnelPort) && d.tunnelPort > 0)) {
        return `destination.tunnelPort ${d.tunnelPort} must be in 1..65535 for a gue tunnel (ipvsadm --tun-port)`
      }
    }
    for (const f of ["weight", "upperThreshold", "lowerThreshold"] as const) {
      const v = d[f]
      if (v !== undefined && !(Number.isInteger(v) && v >= 0 && v <= 0x7fffffff)) {
        return `destination.${f} ${v} must be an integer in 0..2147483647`
      }
    }
    if (d.method === "fullnat" && s.localAddresses.length === 0 && s.localAddresses6.length === 0) {
      return "a fullnat destination needs the service's localAddresses (the local address pool)"
    }
    return undefined
  }

  private setTunnel(entry: DestinationEntry, d: DestinationSpec): void {
    entry.tunnelType = d.tunnelType ?? "ipip"
    entry.tunnelPort = entry.tunnelType === "gue" ? (d.tunnelPort ?? 0) : 0
    entry.tunnelChecksum = d.tunnelChecksum ?? false
  }

  /** ipvsadm: DR/TUN destinations of a non-fwmark service take the service port. */
  private destinationPort(s: Service, d: DestinationSpec): number {
    const method = d.method ?? "dr"
    if ((method === "dr" || method === "tun") && s.fwmark === 0) return s.port
    return d.port ?? s.port
  }

  private applyInner(c: Command): string | undefined {
    switch (c._tag) {
      case "AddService": {
        const problem = this.checkService(c.service, true)
        if (problem !== undefined) return problem
        const key = keyOf(c.service)
        if (this.services.has(key)) return `service ${key} already exists`
        const id = this.freeServiceIds.pop() ?? this.byId.length
        if (id >= MAX_SERVICES) return `too many services (at most ${MAX_SERVICES})`
        const slot = this.allocSlot()
        if (slot < 0) return `no statistics slot left (${this.slots} slots)`
        const spec = c.service
        const scheduler = spec.scheduler ?? "wlc"
        const v6 =
          spec.address === undefined
            ? spec.family === 6
              ? new Uint8Array(16)
              : undefined
            : Frames.parseIpv6(spec.address)
        const s: Service = {
          id,
          slot,
          key,
          protocol: spec.protocol,
          protocolNumber: spec.protocol === undefined ? 0 : protocolNumber[spec.protocol],
          address: spec.address,
          addressValue: spec.address === undefined || v6 !== undefined ? 0 : Frames.parseIpv4(spec.address)!,
          family: v6 === undefined ? 4 : 6,
          address6: v6 ?? new Uint8Array(16),
          port: spec.port ?? 0,
          fwmark: spec.fwmark ?? 0,
          scheduler,
          schedulerFlags: spec.schedulerFlags ?? 0,
          pool: new DestinationPool({ scheduler, flags: spec.schedulerFlags ?? 0, family: v6 === undefined ? 4 : 6 }),
          persistence: spec.persistence,
          persistent: undefined,
          localAddresses: v6 === undefined ? (spec.localAddresses ?? []).map((a) => Frames.parseIpv4(a)!) : [],
          localAddresses6: v6 === undefined ? new Uint8Array(0) : pool6(spec.localAddresses ?? []),
          destinations: new Map()
        }
        s.persistent = this.persistentOf(s)
        this.services.set(key, s)
        this.byId[id] = s
        if (s.fwmark !== 0) (s.family === 6 ? this.byMark6 : this.byMark).set(s.fwmark, s)
        return undefined
      }
      case "EditService": {
        const s = this.find(c.service)
        if (s === undefined) return `service ${keyOf(c.service)} does not exist`
        const problem = this.checkService(c.service, false)
        if (problem !== undefined) return problem
        if (s.port === 0 && s.fwmark === 0 && c.service.persistence === undefined) {
          return "port 0 (all ports) requires persistence, as in ipvsadm"
        }
        const scheduler = c.service.scheduler ?? s.scheduler
        const flags = c.service.schedulerFlags ?? s.schedulerFlags
        if (scheduler !== s.scheduler || flags !== s.schedulerFlags) {
          // ipvsadm -E -s: done on the old scheduler, init on the new; flags go with the pool.
          s.pool.flags = flags
          s.pool.setScheduler(scheduler)
          s.scheduler = scheduler
          s.schedulerFlags = flags
        }
        s.persistence = c.service.persistence
        s.persistent = this.persistentOf(s)
        if (c.service.localAddresses !== undefined && s.family === 6) {
          s.localAddresses6 = pool6(c.service.localAddresses)
        } else if (c.service.localAddresses !== undefined) {
          s.localAddresses = c.service.localAddresses.map((a) => Frames.parseIpv4(a)!)
        }
        return undefined
      }
      case "DeleteService": {
        const s = this.find(c.service)
        if (s === undefined) return `service ${keyOf(c.service)} does not exist`
        for (const d of s.destinations.values()) if (d.linked) s.pool.remove(d.destination)
        this.services.delete(s.key)
        this.byId[s.id] = undefined
        this.freeServiceIds.push(s.id)
        if (s.fwmark !== 0) (s.family === 6 ? this.byMark6 : this.byMark).delete(s.fwmark)
        // The slot is not reused: connections of the deleted service may still be counted against their
        // destinations' slots, and a fresh service should start from zero. Slots are bounded by `slots`.
        return undefined
      }
      case "AddDestination":
      case "EditDestination": {
        const s = this.find(c.service)
        if (s === undefined) return `service ${keyOf(c.service)} does not exist`
        const port = this.destinationPort(s, c.destination)
        const dkey = `${c.destination.address}:${port}`
        const existing = s.destinations.get(dkey)
        const problem = this.checkDestination(
          s,
          c.destination,
          c._tag === "EditDestination" && existing?.linked ? existing.method : undefined
        )
        if (problem !== undefined) return problem
        const settings = {
          ...(c.destination.weight !== undefined ? { weight: c.destination.weight } : {}),
          ...(c.destination.upperThreshold !== undefined ? { upperThreshold: c.destination.upperThreshold } : {}),
          ...(c.destination.lowerThreshold !== undefined ? { lowerThreshold: c.destination.lowerThreshold } : {})
        }
        if (c._tag === "EditDestination") {
          if (existing === undefined || !existing.linked)
            return `destination ${dkey} of service ${s.key} does not exist`
          s.pool.edit(existing.destination, settings)
          if (c.destination.method !== undefined) {
            existing.method = c.destination.method
            existing.methodCode = methodCode[c.destination.method]
          }
          this.setTunnel(existing, c.destination)
          return undefined
        }
        if (existing?.linked) return `destination ${dkey} of service ${s.key} already exists`
        const method = c.destination.method ?? "dr"
        if (existing !== undefined) {
          // Revived from the trash: same object, counters kept, back at the head of the list.
          existing.method = method
          existing.methodCode = methodCode[method]
          existing.linked = true
          this.setTunnel(existing, c.destination)
          s.pool.add(existing.destination, { weight: 1, ...settings })
          return undefined
        }
        const slot = this.allocSlot()
        if (slot < 0) return `no statistics slot left (${this.slots} slots)`
        const destination = Destination.make(c.destination.address, port)
        const id = this.directory.register(destination)
        const v4 = Frames.parseIpv4(c.destination.address)
        const d6 = v4 === undefined ? Frames.parseIpv6(c.destination.address)! : new Uint8Array(16)
        const entry: DestinationEntry = {
          address: c.destination.address,
          addressValue: v4 ?? 0,
          family: v4 === undefined ? 6 : 4,
          address6: d6,
          address6Words: Frames.ipv6Words(d6),
          port,
          method,
          methodCode: methodCode[method],
          tunnelType: c.destination.tunnelType ?? "ipip",
          tunnelPort: c.destination.tunnelType === "gue" ? (c.destination.tunnelPort ?? 0) : 0,
          tunnelChecksum: c.destination.tunnelChecksum ?? false,
          destination,
          id,
          slot,
          linked: true
        }
        s.destinations.set(dkey, entry)
        this.destinationById[id] = entry
        s.pool.add(destination, { weight: 1, ...settings })
        return undefined
      }
      case "DeleteDestination": {
        const s = this.find(c.service)
        if (s === undefined) return `service ${keyOf(c.service)} does not exist`
        const port = this.destinationPort(s, { address: c.destination.address, port: c.destination.port ?? s.port })
        const dkey = `${c.destination.address}:${c.destination.port ?? port}`
        const existing = s.destinations.get(dkey) ?? s.destinations.get(`${c.destination.address}:${port}`)
        if (existing === undefined || !existing.linked) return `destination ${dkey} of service ${s.key} does not exist`
        s.pool.remove(existing.destination)
        existing.linked = false
        return undefined
      }
      case "SetClassifier": {
        const compiled6 = this.compileClassifier6(c.rules)
        if (typeof compiled6 === "string") return compiled6
        const rules4 = c.rules.filter((r) => ruleFamily(r) !== 6)
        const n = rules4.length
        const compiled = {
          mark: new Uint32Array(n),
          protocol: new Int32Array(n),
          dst: new Uint32Array(n),
          dstMask: new Uint32Array(n),
          src: new Uint32Array(n),
          srcMask: new Uint32Array(n),
          low: new Int32Array(n),
          high: new Int32Array(n)
        }
        for (let i = 0; i < n; i++) {
          const r = rules4[i]!
          // Validated by compileClassifier6 (every rule, both families).
          const dst = r.destination === undefined ? { address: 0, mask: 0 } : parsePrefix(r.destination)!
          const src = r.source === undefined ? { address: 0, mask: 0 } : parsePrefix(r.source)!
          const [low, high] = r.ports ?? [0, 65535]
          compiled.mark[i] = r.mark
          compiled.protocol[i] = r.protocol === undefined ? 0 : protocolNumber[r.protocol]
          compiled.dst[i] = dst.address
          compiled.dstMask[i] = dst.mask
          compiled.src[i] = src.address
          compiled.srcMask[i] = src.mask
          compiled.low[i] = low
          compiled.high[i] = high
        }
        this.classifier = c.rules
        this.classifierCount = n
        this.classifierMark = compiled.mark
        this.classifierProtocol = compiled.protocol
        this.classifierDst = compiled.dst
        this.classifierDstMask = compiled.dstMask
        this.classifierSrc = compiled.src
        this.classifierSrcMask = compiled.srcMask
        this.classifierPortLow = compiled.low
        this.classifierPortHigh = compiled.high
        this.classifier6Count = compiled6.count
        this.classifier6Mark = compiled6.mark
        this.classifier6Protocol = compiled6.protocol
        this.classifier6Dst = compiled6.dst
        this.classifier6DstLength = compiled6.dstLength
        this.classifier6Src = compiled6.src
        this.classifier6SrcLength = compiled6.srcLength
        this.classifier6PortLow = compiled6.low
        this.classifier6PortHigh = compiled6.high
        return undefined
      }
      case "Clear": {
        for (const s of this.services.values()) {
          for (const d of s.destinations.values()) if (d.linked) s.pool.remove(d.destination)
        }
        this.services.clear()
        this.byMark.clear()
        this.byMark6.clear()
        this.byId.length = 0
        this.freeServiceIds.length = 0
        return undefined
      }
      default:
        return `unknown command ${JSON.stringify((c as { _tag?: unknown })._tag)}`
    }
  }

  /**
   * Checks every rule (naming `rules[i].field`) and compiles the IPv6 ones; a string is the problem.
   */
  private compileClassifier6(rules: ReadonlyArray<ClassifierRule>) {
    for (const [i, r] of rules.entries()) {
      if (!isU32(r.mark) || r.mark === 0) return `rules[${i}].mark ${r.mark} must be in 1..4294967295`
      if (r.protocol !== undefined && !(r.protocol in protocolNumber)) {
        return `rules[${i}].protocol ${JSON.stringify(r.protocol)} is not tcp, udp or sctp`
      }
      if (r.family !== undefined && r.family !== 4 && r.family !== 6) {
        return `rules[${i}].family ${JSON.stringify(r.family)} must be 4 or 6`
      }
      for (const field of ["destination", "source"] as const) {
        const text = r[field]
        if (text === undefined) continue
        const is6 = text.includes(":")
        if (is6 ? parsePrefix6(text) === undefined : parsePrefix(text) === undefined) {
          return `rules[${i}].${field} ${JSON.stringify(text)} is not a.b.c.d/len or an IPv6 prefix`
        }
      }
      const families = [r.destination, r.source].filter((t) => t !== undefined).map((t) => (t.includes(":") ? 6 : 4))
      if (r.family !== undefined) families.push(r.family)
      if (families.some((f) => f !== families[0])) {
        return `rules[${i}] mixes IPv4 and IPv6 (destination, source and family must agree)`
      }
      const [low, high] = r.ports ?? [0, 65535]
      if (!isPort(low) || !isPort(high) || low > high) return `rules[${i}].ports [${low}, ${high}] is not a range`
    }
    const list = rules.filter((r) => ruleFamily(r) !== 4)
    const n = list.length
    const out = {
      count: n,
      mark: new Uint32Array(n),
      protocol: new Int32Array(n),
      dst: new Uint8Array(16 * n),
      dstLength: new Int32Array(n),
      src: new Uint8Array(16 * n),
      srcLength: new Int32Array(n),
      low: new Int32Array(n),
      high: new Int32Array(n)
    }
    for (let i = 0; i < n; i++) {
      const r = list[i]!
      out.mark[i] = r.mark
      out.protocol[i] = r.protocol === undefined ? 0 : protocolNumber[r.protocol]
      if (r.destination !== undefined) {
        const d = parsePrefix6(r.destination)!
        out.dst.set(d.address, i * 16)
        out.dstLength[i] = d.length
      }
      if (r.source !== undefined) {
        const d = parsePrefix6(r.source)!
        out.src.set(d.address, i * 16)
        out.srcLength[i] = d.length
      }
      const [low, high] = r.ports ?? [0, 65535]
      out.low[i] = low
      out.high[i] = high
    }
    return out
  }

  private rebuildLookup(): void {
    const all = [...this.services.values()].filter((s) => s.fwmark === 0)
    const list = all.filter((s) => s.family === 4)
    const list6 = all.filter((s) => s.family === 6)
    if (this.lookup6Protocol.length < list6.length) {
      const cap = Math.max(list6.length, this.lookup6Protocol.length * 2)
      this.lookup6Protocol = new Int32Array(cap)
      this.lookup6Address = new Uint8Array(cap * 16)
      this.lookup6Port = new Int32Array(cap)
    }
    for (let i = 0; i < list6.length; i++) {
      const s = list6[i]!
      this.lookup6Protocol[i] = s.protocolNumber
      this.lookup6Address.set(s.address6, i * 16)
      this.lookup6Port[i] = s.port
    }
    this.lookup6Service = list6
    this.lookup6Count = list6.length
    const n = list.length
    if (this.lookupProtocol.length < n) {
      const cap = Math.max(n, this.lookupProtocol.length * 2)
      this.lookupProtocol = new Int32Array(cap)
      this.lookupAddress = new Uint32Array(cap)
      this.lookupPort = new Int32Array(cap)
    }
    for (let i = 0; i < n; i++) {
      const s = list[i]!
      this.lookupProtocol[i] = s.protocolNumber
      this.lookupAddress[i] = s.addressValue
      this.lookupPort[i] = s.port
    }
    this.lookupService = list
    this.lookupCount = n
    this.ftpServices = list.filter((s) => s.protocolNumber === 6 && s.port === ConntrackPersistence.FTP_PORT).length
  }
}
