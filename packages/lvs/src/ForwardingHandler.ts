/**
 * The director's forwarding frame handler: the whole IPVS data path plus the director's own L2/L3, run
 * inside each TAP I/O worker over the frames where they lie in the shared pool.
 *
 * Per frame (IPv4): ARP (answer for owned addresses, learn neighbours) → parse → header checks (IPv4
 * header checksum, fragments, TTL, reverse-path source check) → for the director's own addresses (DIPs,
 * VIPs, FULLNAT local addresses) the IPVS `LOCAL_IN` path: connection lookup (in, then out for FULLNAT
 * replies), else classifier mark + service lookup in ip_vs_service_find's order, scheduling (with
 * persistence templates) and connection insert, else the local stack's answer (TCP RST, ICMP port
 * unreachable, ICMP echo); for transit packets the IPVS `FORWARD` path (NAT replies from real servers,
 * ICMP errors about tracked connections) and otherwise plain routing. Output: route lookup, MTU check
 * (ICMP fragmentation needed when DF), neighbour resolution (one frame queued per unresolved neighbour),
 * Ethernet rewrite, `send`.
 *
 * IPv6 takes the same path with NDP in place of ARP, hop limit in place of TTL and packet too big in
 * place of fragmentation needed; the classifier has IPv6 rules for IPv6 fwmark services, and routes of
 * both families (connected prefixes, static routes, default gateways) choose the next hop.
 *
 * Methods (ipvs.md §3): NAT rewrites the destination in and the source out (the director is the real
 * servers' gateway); DR only rewrites MACs; TUN prepends an outer header into the slot's headroom (IPIP,
 * IPv6-in-IPv6, or across families IPv4-in-IPv6 / IPv6-in-IPv4; GUE and GRE likewise); FULLNAT rewrites
 * both ends (local address pool, per-address port allocation) and inserts the TOA option into the SYN
 * (kind 254: client port and IPv4 address, length 8, or IPv6 address, length 20).
 *
 * Nothing is allocated per frame: one parser and one connection-parameter object per worker, typed-array
 * tables (neighbours, routes, statistics), ICMP/ARP built in scratch slots. The control plane reaches this
 * code only through `onControl` messages ({@link VirtualServiceTable.Command}s) applied between batches.
 *
 * @module
 */
import {
  ConnectionFlags,
  ConnectionParams,
  ConnectionTable,
  Direction,
  Persistence,
  Protocol,
  TcpState
} from "@lvs-ts/conntrack"
import {
  Arp,
  Checksum,
  Ethernet,
  Icmp,
  Icmpv6,
  IpProtocol,
  Ipv4,
  Ipv6,
  Nat,
  Ndp,
  PacketParser,
  ParseResult,
  Tcp,
  Tunnel
} from "@lvs-ts/packet"
import { type Destination, schedulerLogLine } from "@lvs-ts/schedulers"
import * as Fragmenter from "./Fragmenter.ts"
import * as FrameHandler from "./FrameHandler.ts"
import * as Frames from "./internal/Frames.ts"
import * as Reassembly from "./Reassembly.ts"
import * as TapDevice from "./TapDevice.ts"
import * as VST from "./VirtualServiceTable.ts"

/**
 * One director port (index-aligned with the `TapPorts` ports).
 *
 * @example
 * ```ts
 * const client: ForwardingHandler.PortConfig = { mac: "02:00:0a:c8:01:01", addresses: ["10.200.1.1/24", "10.200.1.100/32"] }
 * ```
 */
export interface PortConfig {
  /** The director's MAC on this port. */
  readonly mac: string
  /**
   * Addresses the director owns here, `a.b.c.d/len` or `ipv6/len` (len gives the connected network; default
   * /32 or /128).
   */
  readonly addresses: ReadonlyArray<string>
}

/**
 * A static route (`ip route add destination via gateway`, `ip -6 route add ...`), IPv4 or IPv6; the gateway
 * must be on a connected network of the same family. `0.0.0.0/0` and `::/0` are the default routes.
 * Longest prefix wins; connected networks are routes without a gateway.
 *
 * @example
 * ```ts
 * const r: ForwardingHandler.Route = { destination: "0.0.0.0/0", via: "10.200.1.254" }
 * const r6: ForwardingHandler.Route = { destination: "::/0", via: "fd00:200:1::fe" }
 * ```
 */
export interface Route {
  readonly destination: string
  readonly via: string
}

/**
 * Handler options (`handler.options` of `TapPorts`).
 *
 * @example
 * ```ts
 * const o: ForwardingHandler.Options = { ports, stats: new SharedArrayBuffer(1024 * 8 * 8), commands: [] }
 * ```
 */
export interface Options {
  readonly ports: ReadonlyArray<PortConfig>
  readonly routes?: ReadonlyArray<Route>
  /** Shared service/destination counters: `queues * slots * VirtualServiceTable.Stats.FIELDS` float64s. */
  readonly stats: SharedArrayBuffer
  /** Statistics slots per queue (default VirtualServiceTable.DEFAULT_SLOTS). */
  readonly slots?: number
  /** Commands applied at start, in order (the table the control plane built before starting). */
  readonly commands?: ReadonlyArray<VST.Command>
  /** Connection table bound (default 1,000,000). */
  readonly maxConnections?: number
  /** Route transit traffic that belongs to no connection (default true: the director is a router). */
  readonly forwarding?: boolean
  /** Print the kernel's scheduler error line when no destination is available (default true, rate-limited). */
  readonly logNoDestination?: boolean
  /** Neighbour entries are re-probed after this long (ms, default 30000) and dropped after 4x without answer. */
  readonly neighbourReachableMs?: number
  /** Send gratuitous ARP for every owned address at start (default true). */
  readonly gratuitousArp?: boolean
  /**
   * IP reassembly limits (Linux `ipfrag_high_thresh` 4 MiB, `ipfrag_low_thresh` 3 MiB, `ipfrag_time` 30 s
   * by default), per worker.
   */
  readonly reassembly?: Reassembly.Options
}

/**
 * A control message the handler understands (`TapPorts.control`).
 *
 * @example
 * ```ts
 * yield* ports.control({ _tag: "Command", command: { _tag: "Clear" } } satisfies ForwardingHandler.Control)
 * ```
 */
export type Control =
  | { readonly _tag: "Command"; readonly command: VST.Command }
  | { readonly _tag: "SetTimeouts"; readonly tcp?: number; readonly tcpfin?: number; readonly udp?: number }

/**
 * An event the handler sends to the control plane (`TapPorts.events`): a log line, e.g. the kernel's
 * `IPVS: wrr: TCP 10.200.1.100:80 - no destination available` (rate-limited to one per second).
 *
 * @example
 * ```ts
 * const e: ForwardingHandler.Event = { _tag: "Log", line: "IPVS: rr: TCP 10.0.0.1:80 - no destination available" }
 * ```
 */
export interface Event {
  readonly _tag: "Log"
  readonly line: string
}

/**
 * Indices of the handler's counters in `TapPorts.handlerStats` (64 per worker): what was done, and one
 * counter per drop reason.
 *
 * @example
 * ```ts
 * const s = yield* ports.handlerStats
 * s[ForwardingHandler.Stat.dropNoDestination]
 * ```
 */
export const Stat = {
  arpReplies: 0,
  arpRequests: 1,
  gratuitousArps: 2,
  echoReplies: 3,
  forwardedIn: 4,
  forwardedOut: 5,
  routed: 6,
  icmpErrorsSent: 7,
  resetsSent: 8,
  connectionsCreated: 9,
  neighbourQueued: 10,
  icmpRelated: 11,
  controlApplied: 12,
  controlRejected: 13,
  toaInserted: 14,
  tunnelled: 15,
  dropMalformed: 16,
  dropIpChecksum: 17,
  dropNotForUs: 18,
  dropEtherType: 19,
  dropIpv6: 20,
  /** Fragments dropped for want of reassembly memory (every older queue already evicted). */
  dropFragment: 21,
  dropTtl: 22,
  dropSpoofed: 23,
  dropNoRoute: 24,
  dropNeighbour: 25,
  dropNoDestination: 26,
  dropTableFull: 27,
  dropProtocol: 28,
  dropFragNeeded: 29,
  /** Too big for the egress MTU and not fragmentable here (DF in a frame past the MTU checks, MTU < 68). */
  dropTooBig: 30,
  dropIcmpChecksum: 31,
  dropUnavailable: 32,
  dropVlan: 33,
  dropTx: 34,
  dropHeadroom: 35,
  dropPortsExhausted: 36,
  dropNotScheduled: 37,
  dropHandlerFault: 38,
  dropArp: 39,
  dropIcmpUnrelated: 40,
  dropLocal: 41,
  /** IPv6: neighbour advertisements sent in answer to solicitations for our addresses. */
  ndpAdvertisements: 42,
  /** IPv6: neighbour solicitations sent to resolve next hops. */
  ndpSolicitations: 43,
  /** IPv6: unsolicited neighbour advertisements (the IPv6 gratuitous ARP) when taking an address. */
  unsolicitedAdvertisements: 44,
  /** IPv6: NDP messages that failed validation (hop limit not 255, bad checksum, short). */
  dropNdp: 45,
  /** FULLNAT SYNs forwarded without TOA: no room in the 40-byte option area (or malformed options). */
  toaFailed: 46,
  /** IPv4 / IPv6 fragments received (all of them go to reassembly before any lookup, as in Linux). */
  fragmentsReceived: 47,
  /** Datagrams reassembled and passed on to the normal path. */
  reassembled: 48,
  /** Datagrams fragmented on output (egress MTU or the largest received fragment, `frag_max_size`). */
  fragmentedOut: 49,
  /** Fragments sent by output fragmentation. */
  fragmentsOut: 50,
  /** Reassembly queues expired (`ipfrag_time`); an ICMP time exceeded (code 1) went out when the first fragment had arrived. */
  reassemblyTimeouts: 51,
  /** Reassembly queues evicted, oldest first, to stay under the memory threshold. */
  reassemblyEvicted: 52,
  /** Datagrams discarded for overlapping fragments (Linux 4.19+, RFC 5722). */
  dropFragmentOverlap: 53,
  /** Duplicate fragments dropped (the datagram's queue is kept). */
  dropFragmentDuplicate: 54,
  /** Datagrams that would exceed 65535 bytes (or the reassembly buffer): discarded. */
  dropFragmentTooBig: 55,
  /** Malformed fragments, offsets or lengths inconsistent with the last fragment: datagram discarded. */
  dropFragmentBad: 56,
  /** Tiny first fragments (RFC 1858 for IPv4 TCP, RFC 7112 for IPv6 header chains). */
  dropFragmentTiny: 57,
  /** ICMP / ICMPv6 time exceeded, fragment reassembly time exceeded (code 1), sent on expiry. */
  fragmentTimeExceeded: 58,
  /** Duplicate address detection answered: ARP probes (sender 0.0.0.0) and DAD solicitations (source ::). */
  dadDefences: 59
} as const

/**
 * Counter names by index, for listings.
 *
 * @example
 * ```ts
 * ForwardingHandler.statNames[ForwardingHandler.Stat.dropTtl] // "dropTtl"
 * ```
 */
export const statNames: ReadonlyArray<string> = (() => {
  const names: Array<string> = []
  for (const [k, v] of Object.entries(Stat)) names[v] = k
  return names
})()

/**
 * URL of this module, to pass as `TapPorts` `handler.module`.
 *
 * @example
 * ```ts
 * TapPorts.make({ ports, handler: { module: ForwardingHandler.handlerModule, options } })
 * ```
 */
export const handlerModule: URL = new URL(
  import.meta.url.endsWith(".ts") ? "./ForwardingHandler.ts" : "./ForwardingHandler.js",
  import.meta.url
)

/**
 * Scratch slots kept, at the end of the scratch area, for one reassembled datagram (they are contiguous in
 * the pool): 48 slots of at least 1536 bytes hold 65535 bytes plus an Ethernet header and tunnel headroom.
 *
 * @example
 * ```ts
 * ForwardingHandler.ASSEMBLY_SLOTS // 48
 * ```
 */
export const ASSEMBLY_SLOTS = 48

/**
 * Number of scratch slots the handler wants (`TapPorts` `scratchSlots`): 3 for frames it originates
 * (ICMP, ARP/NDP, output fragments), {@link ASSEMBLY_SLOTS} for a reassembled datagram and the rest for
 * frames waiting for neighbour resolution (up to {@link PENDING_PER_NEIGHBOUR} per neighbour).
 *
 * @example
 * ```ts
 * TapPorts.make({ ..., scratchSlots: ForwardingHandler.SCRATCH_SLOTS })
 * ```
 */
export const SCRATCH_SLOTS = 258 + ASSEMBLY_SLOTS

const parsePrefix = (text: string): { address: number; length: number } | undefined => {
  const [a, l] = text.split("/")
  const address = Frames.parseIpv4(a ?? "")
  const length = l === undefined ? 32 : Number(l)
  if (address === undefined || !Number.isInteger(length) || length < 0 || length > 32) return undefined
  return { address, length }
}
const parsePrefix6 = (text: string): { address: Uint8Array; length: number } | undefined => {
  const [a, l] = text.split("/")
  const address = Frames.parseIpv6(a ?? "")
  const length = l === undefined ? 128 : Number(l)
  if (address === undefined || !Number.isInteger(length) || length < 0 || length > 128) return undefined
  return { address, length }
}
const isV6Text = (text: string): boolean => text.includes(":")
const maskOf = (length: number): number => (length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0)

/**
 * Checks options and returns a problem naming the field, or `undefined`.
 *
 * @example
 * ```ts
 * ForwardingHandler.validate({ ports: [{ mac: "02:00:00:00:00:01", addresses: ["10.0.0.1/24"] }], stats }) // undefined
 * ```
 */
export const validate = (options: Options): string | undefined => {
  if (!Array.isArray(options.ports) || options.ports.length === 0) return "ports is empty"
  for (let p = 0; p < options.ports.length; p++) {
    const port = options.ports[p]!
    const mac = TapDevice.parseMac(port.mac)
    if (mac === undefined || (mac[0]! & 1) === 1)
      return `ports[${p}].mac ${JSON.stringify(port.mac)} is not a unicast MAC`
    for (let a = 0; a < port.addresses.length; a++) {
      const text = port.addresses[a]!
      if (isV6Text(text) ? parsePrefix6(text) === undefined : parsePrefix(text) === undefined) {
        return `ports[${p}].addresses[${a}] ${JSON.stringify(text)} is not a.b.c.d[/len] or an IPv6 prefix`
      }
    }
  }
  for (const [i, r] of (options.routes ?? []).entries()) {
    if (isV6Text(r.destination)) {
      if (parsePrefix6(r.destination) === undefined)
        return `routes[${i}].destination ${JSON.stringify(r.destination)} is not an IPv6 prefix`
      if (Frames.parseIpv6(r.via) === undefined)
        return `routes[${i}].via ${JSON.stringify(r.via)} is not IPv6 (the destination is IPv6)`
      continue
    }
    if (parsePrefix(r.destination) === undefined)
      return `routes[${i}].destination ${JSON.stringify(r.destination)} is not a.b.c.d/len`
    if (Frames.parseIpv4(r.via) === undefined) return `routes[${i}].via ${JSON.stringify(r.via)} is not IPv4`
  }
  if (!(options.stats instanceof SharedArrayBuffer)) return "stats must be a SharedArrayBuffer"
  return undefined
}

// Neighbour states.
const N_FREE = 0
const N_INCOMPLETE = 1
const N_REACHABLE = 2
const N_DELETED = 3
const NEIGHBOURS = 1024 // power of two; open addressing
const ARP_RETRY_MS = 1000
const ARP_TRIES = 3
const ORIGIN_SLOTS = 3
/** The scratch slot output fragments are written to. */
const FRAGMENT_SLOT = 2
/** Data bytes of the first fragment quoted in a reassembly time exceeded (576 - 20 - 8 - a 60-byte header). */
const TIME_EXCEEDED_QUOTE = 488

/**
 * Frames queued per unresolved neighbour (in scratch slots) until its ARP reply; later ones are dropped
 * and counted. The kernel queues by bytes (`unres_qlen_bytes`); a first burst of a flow must survive.
 *
 * @example
 * ```ts
 * ForwardingHandler.PENDING_PER_NEIGHBOUR // 128
 * ```
 */
export const PENDING_PER_NEIGHBOUR = 128
// schedule() results besides an entry index.
const NO_DESTINATION = -1
const NOT_SCHEDULED = -2
const TABLE_FULL = -3

/**
 * The handler factory (run inside each TAP worker).
 *
 * @example
 * ```ts
 * TapPorts.make({ ports, scratchSlots: ForwardingHandler.SCRATCH_SLOTS, handler: { module: ForwardingHandler.handlerModule, options } })
 * ```
 */
export const make = FrameHandler.define((ctx) => {
  const options = ctx.options as Options
  const problem = validate(options)
  if (problem !== undefined) throw new Error(`ForwardingHandler: ${problem}`)
  const b = ctx.bytes
  const stats = ctx.stats
  const nports = ctx.ports.length
  const slots = options.slots ?? VST.DEFAULT_SLOTS
  // Counters accumulate in a private array (writes to a shared typed array are several times slower in V8)
  // and dirty slots are copied to the shared buffer after every batch.
  const shared = new Float64Array(options.stats)
  const counterBase = ctx.queue * slots * VST.Stats.FIELDS
  const counters = new Float64Array(slots * VST.Stats.FIELDS)
  const dirty = new Uint8Array(slots)
  const dirtyList = new Int32Array(slots)
  let dirtyCount = 0
  let slotDestination: Array<VST.DestinationEntry | undefined> = []
  const F = VST.Stats.FIELDS
  const forwarding = options.forwarding ?? true
  const logNoDestination = options.logNoDestination ?? true
  const reachableMs = options.neighbourReachableMs ?? 30_000

  // ---- ports, owned addresses, routes ----
  const macs = new Uint8Array(6 * nports)
  /** Each port's MAC as a view into `macs`, made once: ARP/NDP writers take a view, and a `subarray` per call allocates. */
  const portMac = Array.from({ length: nports }, (_, p) => macs.subarray(p * 6, p * 6 + 6))
  const portAddresses: Array<Uint32Array> = []
  const primary = new Uint32Array(nports)
  const mtus = new Int32Array(nports)
  const routeNet: Array<number> = []
  const routeMask: Array<number> = []
  const routeVia: Array<number> = []
  const routePort: Array<number> = []
  const routeLen: Array<number> = []
  for (let p = 0; p < nports; p++) {
    const config = options.ports[p]
    if (config !== undefined) macs.set(TapDevice.parseMac(config.mac)!, p * 6)
    const list = (config?.addresses ?? []).filter((a) => !isV6Text(a)).map((a) => parsePrefix(a)!)
    portAddresses.push(Uint32Array.from(list.map((a) => a.address)))
    primary[p] = list[0]?.address ?? 0
    mtus[p] = ctx.ports[p]!.mtu
    for (const a of list) {
      if (a.length === 32) continue
      const mask = maskOf(a.length)
      routeNet.push((a.address & mask) >>> 0)
      routeMask.push(mask)
      routeVia.push(0)
      routePort.push(p)
      routeLen.push(a.length)
    }
  }
  const connectedCount = routeNet.length
  const findRoute = (dst: number, connectedOnly: boolean): number => {
    let best = -1
    let bestLen = -1
    const n = connectedOnly ? connectedCount : routeNet.length
    for (let i = 0; i < n; i++) {
      if ((dst & routeMask[i]!) >>> 0 === routeNet[i] && routeLen[i]! > bestLen) {
        best = i
        bestLen = routeLen[i]!
      }
    }
    return best
  }
  for (const r of options.routes ?? []) {
    if (isV6Text(r.destination)) continue // IPv6 routes: below, with the IPv6 tables
    const d = parsePrefix(r.destination)!
    const via = Frames.parseIpv4(r.via)!
    const c = findRoute(via, true)
    if (c < 0)
      throw new Error(`ForwardingHandler: route ${r.destination} via ${r.via}: gateway is on no connected network`)
    const mask = maskOf(d.length)
    routeNet.push((d.address & mask) >>> 0)
    routeMask.push(mask)
    routeVia.push(via)
    routePort.push(routePort[c]!)
    routeLen.push(d.length)
  }
  const rNet = Uint32Array.from(routeNet)
  const rMask = Uint32Array.from(routeMask)
  const rVia = Uint32Array.from(routeVia)
  const rPort = Int32Array.from(routePort)
  const rLen = Int32Array.from(routeLen)
  const nroutes = rNet.length
  /** Longest-prefix match; returns the route index or -1. */
  const route = (dst: number): number => {
    let best = -1
    let bestLen = -1
    for (let i = 0; i < nroutes; i++) {
      if ((dst & rMask[i]!) >>> 0 === rNet[i] && rLen[i]! > bestLen) {
        best = i
        bestLen = rLen[i]!
      }
    }
    return best
  }

  // ---- the virtual service table and the connection table ----
  const vst = new VST.VirtualServiceTable({ slots })
  const conns = ConnectionTable.make({
    maxConnections: options.maxConnections ?? 1_000_000,
    destinations: vst.directory,
    startTime: performance.now()
  })
  const params = ConnectionParams.make()
  // Owned addresses: port addresses + VIPs + FULLNAT local addresses (rebuilt when the table changes).
  let local = new Uint32Array(0)
  let tunnels: Array<Tunnel.Tunnel | undefined> = []
  const tunnelMac: Array<Uint8Array | undefined> = []
  // FULLNAT: per service (by id), the next local address (round robin) and per local address the last port.
  let localNext = new Int32Array(0)
  let localPortCursor: Array<Uint16Array | undefined> = []
  const rebuild = () => {
    const set = new Set<number>()
    for (const list of portAddresses) for (const a of list) set.add(a)
    for (const s of vst.services.values()) {
      if (s.fwmark === 0 && s.family === 4) set.add(s.addressValue)
      for (const a of s.localAddresses) set.add(a)
    }
    local = Uint32Array.from(set)
    slotDestination = []
    for (const d of vst.destinationById) if (d !== undefined) slotDestination[d.slot] = d
    const cursors: Array<Uint16Array | undefined> = []
    for (const s of vst.services.values()) {
      const previous = localPortCursor[s.id]
      const n = s.family === 6 ? s.localAddresses6.length / 16 : s.localAddresses.length
      cursors[s.id] = previous !== undefined && previous.length === n ? previous : new Uint16Array(n).fill(1023)
    }
    localPortCursor = cursors
    rebuild6()
    if (localNext.length < vst.byId.length) localNext = new Int32Array(vst.byId.length + 16)
    // Outer-IPv4 tunnels: every tun destination with an IPv4 address (of an IPv4 or an IPv6 service).
    tunnels = []
    for (const s of vst.services.values()) {
      for (const d of s.destinations.values()) {
        if (d.method !== "tun" || d.family !== 4) continue
        const r = route(d.addressValue)
        const port = r < 0 ? 0 : rPort[r]!
        const mac = tunnelMac[d.id] ?? new Uint8Array(6)
        tunnelMac[d.id] = mac
        tunnels[d.id] = Tunnel.make({
          type: VST.tunnelTypeCode[d.tunnelType],
          port: d.tunnelPort,
          checksum: d.tunnelChecksum,
          outerVersion: 4,
          source4: primary[port]!,
          destination4: d.addressValue,
          destinationMac: mac,
          sourceMac: portMac[port]!
        })
      }
    }
  }
  const isLocal = (ip: number): boolean => {
    const l = local
    for (let i = 0; i < l.length; i++) if (l[i] === ip) return true
    return false
  }
  /** ARP: answer for addresses configured on the port, and for VIPs / local addresses routed out of it. */
  const ownsOnPort = (port: number, ip: number): boolean => {
    const list = portAddresses[port]!
    for (let i = 0; i < list.length; i++) if (list[i] === ip) return true
    if (!isLocal(ip)) return false
    const r = route(ip)
    return r >= 0 && rPort[r] === port && rVia[r] === 0
  }

  // ---- neighbours (ARP table): open addressing over typed arrays ----
  const nIp = new Uint32Array(NEIGHBOURS)
  const nState = new Uint8Array(NEIGHBOURS)
  const nMac = new Uint8Array(NEIGHBOURS * 6)
  const nPort = new Int32Array(NEIGHBOURS)
  const nConfirmed = new Float64Array(NEIGHBOURS)
  const nProbed = new Float64Array(NEIGHBOURS)
  const nTries = new Int32Array(NEIGHBOURS)
  // Per neighbour, a FIFO of scratch slots linked through slotNext.
  const nPending = new Int32Array(NEIGHBOURS).fill(-1) // head slot
  const nPendingTail = new Int32Array(NEIGHBOURS).fill(-1)
  const nPendingCount = new Int32Array(NEIGHBOURS)
  const slotNext = new Int32Array(ctx.scratch.length).fill(-1)
  const slotLength = new Int32Array(ctx.scratch.length)
  // The last scratch slots, contiguous in the pool, hold one reassembled datagram (when the pool has them:
  // at least PENDING_PER_NEIGHBOUR slots stay for neighbour queues).
  const assemblySlots = Math.max(0, Math.min(ASSEMBLY_SLOTS, ctx.scratch.length - ORIGIN_SLOTS - PENDING_PER_NEIGHBOUR))
  const firstAssembly = ctx.scratch.length - assemblySlots
  let assemblyCapacity = 0
  if (assemblySlots > 0) {
    const stride = assemblySlots > 1 ? ctx.scratch[firstAssembly + 1]! - ctx.scratch[firstAssembly]! : 0
    let contiguous = true
    for (let i = firstAssembly + 1; i < ctx.scratch.length; i++) {
      if (ctx.scratch[i]! - ctx.scratch[i - 1]! !== stride) contiguous = false
    }
    assemblyCapacity = contiguous
      ? ctx.scratch[ctx.scratch.length - 1]! + ctx.frameCapacity - ctx.scratch[firstAssembly]!
      : ctx.frameCapacity
  }
  const assemblyOffset = assemblySlots > 0 ? ctx.scratch[firstAssembly]! : -1
  const freePending: Array<number> = []
  for (let i = firstAssembly - 1; i >= ORIGIN_SLOTS; i--) freePending.push(i)

  /**
   * Copies a frame waiting for neighbour resolution (ARP or ND) into a free scratch slot, with the
   * port's source MAC and the EtherType already written, and appends it to the neighbour's FIFO. One
   * mechanism for both families: the per-family tables are passed in, so nothing is allocated.
   */
  const queuePending = (
    b: Uint8Array,
    o: number,
    frameLength: number,
    port: number,
    etherType: number,
    i: number,
    head: Int32Array,
    tailOf: Int32Array,
    count: Int32Array
  ): void => {
    if (count[i]! >= PENDING_PER_NEIGHBOUR || freePending.length === 0 || frameLength > ctx.frameCapacity) {
      stats[Stat.dropNeighbour]!++
      return
    }
    const slot = freePending.pop()!
    const start = ctx.scratch[slot]!
    b.copyWithin(start, o, o + frameLength)
    for (let k = 0; k < 6; k++) b[start + 6 + k] = macs[port * 6 + k]!
    b[start + 12] = etherType >>> 8
    b[start + 13] = etherType & 0xff
    slotLength[slot] = frameLength
    slotNext[slot] = -1
    const tail = tailOf[i]!
    if (tail >= 0) slotNext[tail] = slot
    else head[i] = slot
    tailOf[i] = slot
    count[i]!++
    stats[Stat.neighbourQueued]!++
  }
  let neighbourCount = 0
  let deletedCount = 0
  const hashIp = (ip: number): number => Math.imul(ip ^ (ip >>> 16), 0x45d9f3b) >>> 22 // 10 bits
  const findNeighbour = (ip: number): number => {
    let i = hashIp(ip) & (NEIGHBOURS - 1)
    for (let n = 0; n < NEIGHBOURS; n++) {
      const s = nState[i]!
      if (s === N_FREE) return -1
      if (s !== N_DELETED && nIp[i] === ip) return i
      i = (i + 1) & (NEIGHBOURS - 1)
    }
    return -1
  }
  const insertNeighbour = (ip: number, port: number): number => {
    if (neighbourCount + deletedCount >= (NEIGHBOURS * 3) / 4) return -1
    let i = hashIp(ip) & (NEIGHBOURS - 1)
    while (nState[i] !== N_FREE && nState[i] !== N_DELETED) i = (i + 1) & (NEIGHBOURS - 1)
    if (nState[i] === N_DELETED) deletedCount--
    nIp[i] = ip
    nState[i] = N_INCOMPLETE
    nPort[i] = port
    nTries[i] = 0
    nPending[i] = -1
    nPendingTail[i] = -1
    nPendingCount[i] = 0
    neighbourCount++
    return i
  }
  const deleteNeighbour = (i: number) => {
    let slot = nPending[i]!
    while (slot >= 0) {
      const next = slotNext[slot]!
      freePending.push(slot)
      stats[Stat.dropNeighbour]!++
      slot = next
    }
    nPending[i] = -1
    nPendingTail[i] = -1
    nPendingCount[i] = 0
    nState[i] = N_DELETED
    neighbourCount--
    deletedCount++
  }
  const sendArpRequest = (port: number, target: number) => {
    const o = ctx.scratch[1]!
    const n = Arp.writeRequest(b, o, portMac[port]!, sourceFor(port, target), target)
    if (ctx.send(port, o, n)) stats[Stat.arpRequests]!++
    ctx.flush()
  }
  /** The port address on the same network as `target` (the kernel's arp_announce=2 choice). */
  const sourceFor = (port: number, target: number): number => {
    for (let i = 0; i < connectedCount; i++) {
      if (rPort[i] === port && (target & rMask[i]!) >>> 0 === rNet[i]) {
        const list = portAddresses[port]!
        for (let a = 0; a < list.length; a++) if ((list[a]! & rMask[i]!) >>> 0 === rNet[i]) return list[a]!
      }
    }
    return primary[port]!
  }
  const learn = (port: number, ip: number, macOffset: number, create: boolean, now: number) => {
    let i = findNeighbour(ip)
    if (i < 0) {
      if (!create) return
      const r = route(ip)
      if (r < 0 || rPort[r] !== port || rVia[r] !== 0) return
      i = insertNeighbour(ip, port)
      if (i < 0) return
    }
    for (let k = 0; k < 6; k++) nMac[i * 6 + k] = b[macOffset + k]!
    nState[i] = N_REACHABLE
    nPort[i] = port
    nConfirmed[i] = now
    nTries[i] = 0
    let slot = nPending[i]!
    nPending[i] = -1
    nPendingTail[i] = -1
    nPendingCount[i] = 0
    while (slot >= 0) {
      const start = ctx.scratch[slot]!
      for (let k = 0; k < 6; k++) b[start + k] = nMac[i * 6 + k]!
      if (!ctx.send(port, start, slotLength[slot]!)) stats[Stat.dropTx]!++
      ctx.flush()
      const next = slotNext[slot]!
      freePending.push(slot)
      slot = next
    }
  }

  // ---- statistics ----
  const count = (slot: number, field: number, value: number) => {
    counters[slot * F + field]! += value
    if (dirty[slot] === 0) {
      dirty[slot] = 1
      dirtyList[dirtyCount++] = slot
    }
  }
  let lastLog = -1e9
  const logNoDest = (service: VST.Service, message: string, now: number) => {
    if (!logNoDestination || now - lastLog < 1000) return
    lastLog = now
    ctx.notify({
      _tag: "Log",
      line: `IPVS: ${schedulerLogLine(
        service.scheduler,
        (service.protocol ?? "ip").toUpperCase(),
        service.address ?? "0.0.0.0",
        service.port,
        message,
        service.fwmark
      )}`
    } satisfies Event)
  }

  // ---- output ----
  /**
   * Sends the IPv4 packet at `l3` (frame at `o` with room for an Ethernet header before `l3`) towards
   * `dst` out of the route's port. Returns false when dropped (counted).
   */
  const output = (o: number, l3: number, l3Length: number, nextHop: number, port: number, now: number): boolean => {
    if (l3Length > mtus[port]! || (fragMax !== 0 && l3Length > fragMax)) {
      // The IP layer behind IPVS: fragment when allowed (ip_fragment / ip_do_fragment).
      if ((b[l3 + Ipv4.FLAGS_FRAGMENT]! & 0x40) === 0) return outputFragments(l3, l3Length, nextHop, port, now)
      if (l3Length > mtus[port]!) {
        stats[Stat.dropTooBig]!++
        return false
      }
    }
    const frameLength = l3 - o + l3Length
    let i = findNeighbour(nextHop)
    if (i >= 0 && nState[i] === N_REACHABLE) {
      const m = i * 6
      for (let k = 0; k < 6; k++) b[o + k] = nMac[m + k]!
      for (let k = 0; k < 6; k++) b[o + 6 + k] = macs[port * 6 + k]!
      b[o + 12] = 0x08
      b[o + 13] = 0x00
      if (now - nConfirmed[i]! > reachableMs && now - nProbed[i]! > ARP_RETRY_MS) {
        nProbed[i] = now
        sendArpRequest(port, nextHop) // refresh while still using the entry (the kernel's STALE/PROBE)
      }
      if (!ctx.send(port, o, frameLength)) {
        stats[Stat.dropTx]!++
        return false
      }
      return true
    }
    if (i < 0) {
      i = insertNeighbour(nextHop, port)
      if (i < 0) {
        stats[Stat.dropNeighbour]!++
        return false
      }
    }
    // Queue the frame (FIFO per neighbour, bounded); it is sent when the neighbour answers.
    queuePending(b, o, frameLength, port, 0x0800, i, nPending, nPendingTail, nPendingCount)
    if (nTries[i] === 0 || now - nProbed[i]! > ARP_RETRY_MS) {
      nProbed[i] = now
      nTries[i]!++
      sendArpRequest(port, nextHop)
    }
    return false
  }

  /**
   * Sends the IPv4 datagram at `l3` as fragments of at most the egress MTU, and for a reassembled datagram
   * of at most its largest received fragment (`frag_max_size`, as ip_do_fragment does); each fragment is
   * built in the fragment scratch slot and goes through {@link output}.
   */
  const outputFragments = (l3: number, l3Length: number, nextHop: number, port: number, now: number): boolean => {
    const mtu = mtus[port]!
    const limit = fragMax !== 0 && fragMax < mtu ? fragMax : mtu
    const ihl = (b[l3]! & 0x0f) << 2
    const n = Fragmenter.ipv4Count(l3Length, ihl, limit)
    const fo = ctx.scratch[FRAGMENT_SLOT]!
    if (n === 0 || limit > ctx.frameCapacity - Ethernet.HEADER_LENGTH) {
      stats[Stat.dropTooBig]!++
      return false
    }
    let sent = true
    for (let i = 0; i < n; i++) {
      const length = Fragmenter.writeIpv4(b, l3, l3Length, limit, i, b, fo + Ethernet.HEADER_LENGTH)
      if (!output(fo, fo + Ethernet.HEADER_LENGTH, length, nextHop, port, now)) sent = false
      ctx.flush() // the next fragment reuses the slot
      stats[Stat.fragmentsOut]!++
    }
    stats[Stat.fragmentedOut]!++
    return sent
  }

  const p = new PacketParser()
  let ipId = 1
  // Reassembly (defrag in front of IPVS) and what output fragmentation needs to know about the datagram
  // being handled: its largest fragment (0 when it was not reassembled) and, for IPv6, its fragment id.
  const reasm = new Reassembly.Reassembler(options.reassembly)
  let fragMax = 0
  let fragId6 = 0
  let reassembledL3 = -1
  let fragmentId6 = 1
  /** A GUE source port in 49152..65535 from the client address and port (stable per flow). */
  const guePort = (address: number, port: number): number =>
    49152 | ((Math.imul(address ^ (port << 16) ^ port, 0x9e3779b1) >>> 18) & 0x3fff)

  /** ICMP error about the parsed packet, from `source`, back out of the port it came in. */
  const sendIcmpError = (inPort: number, type: number, code: number, rest: number, source: number) => {
    if (!Icmp.mayReplyWithError(b, p)) return
    const o = ctx.scratch[0]!
    const n = Icmp.writeError(b, o, b, p, type, code, rest, source)
    if (n > 0 && ctx.send(inPort, o, n)) stats[Stat.icmpErrorsSent]!++
    ctx.flush()
  }

  /** TTL handling for a forwarded packet: false (and ICMP time exceeded sent) when it would expire. */
  const decrementTtl = (inPort: number, l3: number, dst: number): boolean => {
    if (Ipv4.decrementTtl(b, l3)) return true
    stats[Stat.dropTtl]!++
    sendIcmpError(inPort, Icmp.Type.TimeExceeded, 0, 0, isLocal(dst) ? dst : primary[inPort]!)
    return false
  }

  /** MTU check before any rewrite (ip_vs_xmit's ensure_mtu_is_adequate). */
  const fits = (inPort: number, l3Length: number, mtu: number, dst: number): boolean => {
    if (l3Length <= mtu) return true
    if (p.dontFragment) {
      stats[Stat.dropFragNeeded]!++
      sendIcmpError(
        inPort,
        Icmp.Type.DestinationUnreachable,
        Icmp.UnreachableCode.FragmentationNeeded,
        mtu & 0xffff,
        isLocal(dst) ? dst : primary[inPort]!
      )
      return false
    }
    return true // the IP layer fragments it on output
  }

  // ---- scheduling ----
  const chooser = {
    service: undefined as VST.Service | undefined,
    l3: 0,
    sport: 0,
    now: 0,
    failure: "",
    choose(_service: number, conn: ConnectionParams.ConnectionParams): boolean {
      const s = this.service!
      const v6 = s.family === 6
      const r = s.pool.pick(b, this.l3 + (v6 ? 8 : 12), this.l3 + (v6 ? 24 : 16), this.sport, this.now)
      if (r._tag !== "Destination") {
        this.failure = r.logged ? r.message : ""
        return false
      }
      this.describe(vst.directory.idOf(r as Destination), conn)
      return true
    },
    describe(destination: number, conn: ConnectionParams.ConnectionParams): void {
      const d = vst.destinationById[destination]!
      conn.destination = destination
      if (d.family === 6) conn.destinationAddress6.set(d.address6Words)
      else conn.destinationAddress = d.addressValue
      conn.destinationPort = d.port === 0 ? conn.virtualPort : d.port
      conn.method = d.methodCode
    }
  }

  /** Allocates a FULLNAT local address and port unique for the reply tuple; false when exhausted. */
  const allocateLocal = (s: VST.Service, protocol: number): boolean => {
    const pool = s.localAddresses
    const cursors = localPortCursor[s.id]
    if (pool.length === 0 || cursors === undefined) return false
    for (let tries = 0; tries < 64; tries++) {
      const k = localNext[s.id]! % pool.length
      localNext[s.id] = (k + 1) % pool.length
      const lip = pool[k]!
      const port = cursors[k]! >= 65535 ? 1024 : cursors[k]! + 1
      cursors[k] = port
      if (conns.lookupOut(protocol, params.destinationAddress, params.destinationPort, lip, port) < 0) {
        params.localAddress = lip
        params.localPort = port
        return true
      }
    }
    return false
  }

  /** ip_vs_schedule, IPv4: returns the new entry, or -1 (no destination: ICMP sent), -2 (not scheduled), -3 (full). */
  const schedule = (
    s: VST.Service,
    protocol: number,
    src: number,
    sport: number,
    dst: number,
    dport: number,
    now: number
  ) => {
    params.reset()
    params.clientAddress = src
    params.virtualAddress = dst
    return scheduleParams(s, protocol, sport, dport, now)
  }

  /** ip_vs_schedule for IPv6 services: the client and virtual addresses are words 0-3 and 4-7 of `w6`. */
  const schedule6 = (s: VST.Service, protocol: number, sport: number, dport: number, now: number) => {
    params.reset()
    params.ipv6 = true
    for (let w = 0; w < 4; w++) {
      params.clientAddress6[w] = w6[w]!
      params.virtualAddress6[w] = w6[4 + w]!
    }
    return scheduleParams(s, protocol, sport, dport, now)
  }

  /** The family-independent rest of ip_vs_schedule, for `params` with its addresses (and family) filled in. */
  const scheduleParams = (s: VST.Service, protocol: number, sport: number, dport: number, now: number) => {
    params.protocol = protocol
    params.clientPort = sport
    params.virtualPort = dport
    params.service = s.id
    chooser.service = s
    chooser.l3 = p.l3Offset
    chooser.sport = sport
    chooser.now = now
    chooser.failure = "no destination available"
    let e: number
    if (s.persistent !== undefined) {
      // Local addresses are chosen once the destination is known (persistentChooser).
      e = Persistence.schedule(conns, s.persistent, params, persistentChooser, now)
      if (e === Persistence.NO_DESTINATION) {
        logNoDest(s, chooser.failure, now)
        return NO_DESTINATION
      }
    } else {
      if (s.port !== 0 && dport !== s.port && s.fwmark === 0) return NOT_SCHEDULED
      if (!chooser.choose(s.id, params)) {
        logNoDest(s, chooser.failure, now)
        return NO_DESTINATION
      }
      if (params.method === ConnectionFlags.FULLNAT && !allocateLocalFor(s, params)) {
        stats[Stat.dropPortsExhausted]!++
        return TABLE_FULL
      }
      e = conns.insert(params, now)
    }
    if (e < 0) return TABLE_FULL
    count(s.slot, VST.Stats.connections, 1)
    const d = vst.destinationById[conns.destination(e)]
    if (d !== undefined) count(d.slot, VST.Stats.connections, 1)
    stats[Stat.connectionsCreated]!++
    return e
  }

  // Persistence path: FULLNAT local address allocated once the destination is chosen.
  const persistentChooser = {
    choose(service: number, conn: ConnectionParams.ConnectionParams): boolean {
      if (!chooser.choose(service, conn)) return false
      if (conn.method === ConnectionFlags.FULLNAT && !allocateLocalFor(chooser.service!, conn)) return false
      return true
    },
    describe(destination: number, conn: ConnectionParams.ConnectionParams): void {
      chooser.describe(destination, conn)
      if (conn.method === ConnectionFlags.FULLNAT) allocateLocalFor(chooser.service!, conn)
    }
  }

  /**
   * IPv6 {@link allocateLocal}: a local address of the service's IPv6 pool (round robin) and a port such
   * that no connection has the reply tuple RIP:RPORT -> LIP:LPORT; written into `params`.
   */
  const allocateLocal6 = (s: VST.Service, protocol: number): boolean => {
    const pool = s.localAddresses6
    const n = pool.length >>> 4
    const cursors = localPortCursor[s.id]
    if (n === 0 || cursors === undefined) return false
    const lip = params.localAddress6
    for (let tries = 0; tries < 64; tries++) {
      const k = localNext[s.id]! % n
      localNext[s.id] = (k + 1) % n
      for (let w = 0; w < 4; w++) lip[w] = Frames.readU32(pool, k * 16 + w * 4)
      const port = cursors[k]! >= 65535 ? 1024 : cursors[k]! + 1
      cursors[k] = port
      if (conns.lookupOut6(protocol, params.destinationAddress6, 0, params.destinationPort, lip, 0, port) < 0) {
        params.localPort = port
        return true
      }
    }
    return false
  }
  const allocateLocalFor = (s: VST.Service, conn: ConnectionParams.ConnectionParams): boolean =>
    conn.ipv6 ? allocateLocal6(s, conn.protocol) : allocateLocal(s, conn.protocol)

  // ---- forwarding of tracked packets ----
  const signalOf = (protocol: number): number =>
    protocol === Protocol.TCP ? p.tcpFlags : protocol === Protocol.SCTP ? (b[p.l4Offset + 12] ?? 0) : 0

  /** Client -> real server for entry `e`. */
  const forwardIn = (inPort: number, o: number, e: number, protocol: number, signal: number, now: number): void => {
    const l3 = p.l3Offset
    const l3Length = p.l3End - l3
    const method = conns.method(e)
    if (method === ConnectionFlags.TUNNEL && vst.destinationById[conns.destination(e)]?.family === 6) {
      tunnelAcross(inPort, e, protocol, signal, now) // IPv4-in-IPv6 to an IPv6 real server
      return
    }
    const daddr = conns.destinationAddress(e)
    const r = route(daddr)
    if (r < 0) return void stats[Stat.dropNoRoute]!++
    const port = rPort[r]!
    const overhead = method === ConnectionFlags.TUNNEL ? (tunnels[conns.destination(e)]?.overhead ?? 0) : 0
    const dst = Ipv4.destination(b, l3)
    if (!fits(inPort, l3Length, mtus[port]! - overhead, dst)) return
    if (!decrementTtl(inPort, l3, dst)) return
    // Related ICMP errors are accounted but run no state transition (ip_vs_in_icmp).
    if (protocol !== IpProtocol.Icmp) conns.packet(e, Direction.INPUT, signal, l3Length, now)
    const svc = vst.byId[conns.service(e)]
    const d = vst.destinationById[conns.destination(e)]
    if (svc !== undefined) {
      count(svc.slot, VST.Stats.inPackets, 1)
      count(svc.slot, VST.Stats.inBytes, l3Length)
    }
    if (d !== undefined) {
      count(d.slot, VST.Stats.inPackets, 1)
      count(d.slot, VST.Stats.inBytes, l3Length)
    }
    const nextHop = rVia[r] === 0 ? daddr : rVia[r]!
    let length = l3Length
    if (method === ConnectionFlags.MASQ) {
      if (p.icmpType >= 0 && protocol === IpProtocol.Icmp) {
        Nat.icmpErrorInV4(b, p, daddr, conns.destinationPort(e))
      } else {
        Nat.setDestinationV4(b, l3, p.l4Offset, protocol, daddr, conns.destinationPort(e))
      }
    } else if (method === ConnectionFlags.FULLNAT) {
      if (protocol === Protocol.TCP && (signal & TcpState.SYN) !== 0 && (signal & TcpState.ACK) === 0) {
        const grew = Tcp.setToa(b, l3, p.l4Offset, conns.clientPort(e), conns.clientAddress(e))
        if (grew >= 0) {
          length += grew
          stats[Stat.toaInserted]!++
        } else stats[Stat.toaFailed]!++
      }
      Nat.setAddressesV4(
        b,
        l3,
        p.l4Offset,
        protocol,
        conns.localAddress(e),
        conns.localPort(e),
        daddr,
        conns.destinationPort(e)
      )
    } else if (method === ConnectionFlags.TUNNEL) {
      const t = tunnels[conns.destination(e)]
      if (t === undefined) return void stats[Stat.dropNoRoute]!++
      // Resolve the real server's MAC first (the tunnel header carries it).
      const i = findNeighbour(nextHop)
      if (i < 0 || nState[i] !== N_REACHABLE) {
        // Queue the encapsulated frame; the MAC is patched in when the neighbour answers.
      } else {
        for (let k = 0; k < 6; k++) t.destinationMac[k] = nMac[i * 6 + k]!
      }
      if (length + t.overhead > 65535) return void stats[Stat.dropTooBig]!++
      ipId = (ipId + 1) & 0xffff
      // GUE source port: a flow hash, so the real server's RSS spreads flows (udp_flow_src_port).
      const start = Tunnel.encapsulate(b, l3, length, t, ipId, guePort(conns.clientAddress(e), conns.clientPort(e)))
      if (start < 0) return void stats[Stat.dropHeadroom]!++
      stats[Stat.tunnelled]!++
      if (output(start, start + Ethernet.HEADER_LENGTH, length + t.overhead, nextHop, port, now)) {
        stats[Stat.forwardedIn]!++
      }
      return
    }
    // DR: nothing but the MAC rewrite (next hop = the real server).
    if (output(o, l3, length, nextHop, port, now)) stats[Stat.forwardedIn]!++
  }

  /** Real server -> client for entry `e` (NAT and FULLNAT replies). */
  const forwardOut = (inPort: number, o: number, e: number, protocol: number, signal: number, now: number): void => {
    const l3 = p.l3Offset
    const l3Length = p.l3End - l3
    const method = conns.method(e)
    const caddr = conns.clientAddress(e)
    const r = route(caddr)
    if (r < 0) return void stats[Stat.dropNoRoute]!++
    const port = rPort[r]!
    const dst = Ipv4.destination(b, l3)
    if (!fits(inPort, l3Length, mtus[port]!, dst)) return
    if (!decrementTtl(inPort, l3, dst)) return
    if (protocol !== IpProtocol.Icmp) conns.packet(e, Direction.OUTPUT, signal, l3Length, now)
    const svc = vst.byId[conns.service(e)]
    const d = vst.destinationById[conns.destination(e)]
    if (svc !== undefined) {
      count(svc.slot, VST.Stats.outPackets, 1)
      count(svc.slot, VST.Stats.outBytes, l3Length)
    }
    if (d !== undefined) {
      count(d.slot, VST.Stats.outPackets, 1)
      count(d.slot, VST.Stats.outBytes, l3Length)
    }
    if (protocol === IpProtocol.Icmp) {
      Nat.icmpErrorOutV4(b, p, conns.virtualAddress(e), conns.virtualPort(e))
    } else if (method === ConnectionFlags.FULLNAT) {
      Nat.setAddressesV4(
        b,
        l3,
        p.l4Offset,
        protocol,
        conns.virtualAddress(e),
        conns.virtualPort(e),
        caddr,
        conns.clientPort(e)
      )
    } else {
      Nat.setSourceV4(b, l3, p.l4Offset, protocol, conns.virtualAddress(e), conns.virtualPort(e))
    }
    const nextHop = rVia[r] === 0 ? caddr : rVia[r]!
    if (output(o, l3, l3Length, nextHop, port, now)) stats[Stat.forwardedOut]!++
  }

  // ---- local delivery (the director's own stack) ----
  const echo = (inPort: number, o: number) => {
    const l3 = p.l3Offset
    const ihl = p.l3HeaderLength
    const total = p.l3End - l3
    const icmp = p.l4Offset
    if (!Icmp.isChecksumValid(b, icmp, total - ihl)) return void stats[Stat.dropIcmpChecksum]!++
    b.copyWithin(o, o + 6, o + 12)
    for (let k = 0; k < 6; k++) b[o + 6 + k] = macs[inPort * 6 + k]!
    const src = Ipv4.source(b, l3)
    const dst = Ipv4.destination(b, l3)
    Ipv4.setSource(b, l3, dst)
    Ipv4.setDestination(b, l3, src)
    b[l3 + 8] = 64
    Ipv4.updateChecksum(b, l3)
    b[icmp] = Icmp.Type.EchoReply
    Frames.writeU16(b, icmp + 2, Checksum.update16(Frames.readU16(b, icmp + 2), 0x0800, 0x0000))
    if (ctx.send(inPort, o, p.l3End - o)) stats[Stat.echoReplies]!++
  }

  const deliverLocal = (inPort: number, protocol: number, dst: number) => {
    if (protocol === Protocol.TCP) {
      if ((p.tcpFlags & TcpState.RST) !== 0) return void stats[Stat.dropLocal]!++
      const o = ctx.scratch[0]!
      const n = Tcp.writeReset(b, o, b, p)
      if (n > 0 && ctx.send(inPort, o, n)) stats[Stat.resetsSent]!++
      ctx.flush()
    } else if (protocol === Protocol.UDP) {
      sendIcmpError(inPort, Icmp.Type.DestinationUnreachable, Icmp.UnreachableCode.Port, 0, dst)
      stats[Stat.dropLocal]!++
    } else {
      sendIcmpError(inPort, Icmp.Type.DestinationUnreachable, Icmp.UnreachableCode.Protocol, 0, dst)
      stats[Stat.dropProtocol]!++
    }
  }

  /** ICMP error to or through the director: related to a tracked connection (ip_vs_in_icmp / out_icmp)? */
  const icmpError = (inPort: number, o: number, toUs: boolean, now: number): boolean => {
    if (p.innerResult !== ParseResult.Ok || p.innerSourcePort < 0) return false
    const il3 = p.innerL3Offset
    const iproto = p.innerProtocol
    if (!Protocol.isSupported(iproto)) return false
    const isrc = Ipv4.source(b, il3)
    const idst = Ipv4.destination(b, il3)
    // Embedded = a packet the director sent: towards the client (VIP -> CIP) or towards a real server.
    let e = toUs ? conns.lookupIn(iproto, idst, p.innerDestinationPort, isrc, p.innerSourcePort) : -1
    if (e >= 0) {
      if (!Icmp.isChecksumValid(b, p.l4Offset, p.l3End - p.l4Offset)) {
        stats[Stat.dropIcmpChecksum]!++
        return true
      }
      stats[Stat.icmpRelated]!++
      forwardIn(inPort, o, e, IpProtocol.Icmp, 0, now)
      return true
    }
    // From a real server about a packet we forwarded (CIP -> RIP, or LIP -> RIP for FULLNAT).
    e = conns.lookupOut(iproto, idst, p.innerDestinationPort, isrc, p.innerSourcePort)
    if (e >= 0 && (conns.method(e) === ConnectionFlags.MASQ || conns.method(e) === ConnectionFlags.FULLNAT)) {
      if (!Icmp.isChecksumValid(b, p.l4Offset, p.l3End - p.l4Offset)) {
        stats[Stat.dropIcmpChecksum]!++
        return true
      }
      stats[Stat.icmpRelated]!++
      if (conns.method(e) === ConnectionFlags.FULLNAT) {
        // Outer destination is our local address: send it to the client instead.
        Ipv4.setDestination(b, p.l3Offset, conns.clientAddress(e))
        Ipv4.updateChecksum(b, p.l3Offset)
      }
      forwardOut(inPort, o, e, IpProtocol.Icmp, 0, now)
      return true
    }
    return false
  }

  // ---- defrag in front of IPVS, and its expiry ----
  /** Copies the reassembler's counters into the handler's (they are this worker's alone). */
  const syncReassembly = () => {
    const c = reasm.counters
    stats[Stat.fragmentsReceived] = c[Reassembly.Counter.fragments]!
    stats[Stat.reassembled] = c[Reassembly.Counter.reassembled]!
    stats[Stat.reassemblyTimeouts] = c[Reassembly.Counter.timedOut]!
    stats[Stat.reassemblyEvicted] = c[Reassembly.Counter.evicted]!
    stats[Stat.dropFragmentOverlap] = c[Reassembly.Counter.overlap]!
    stats[Stat.dropFragmentDuplicate] = c[Reassembly.Counter.duplicate]!
    stats[Stat.dropFragmentTooBig] = c[Reassembly.Counter.tooBig]!
    stats[Stat.dropFragmentBad] = c[Reassembly.Counter.bad]!
    stats[Stat.dropFragmentTiny] = c[Reassembly.Counter.tiny]!
    stats[Stat.dropFragment] = c[Reassembly.Counter.noMemory]!
  }

  /**
   * The datagram just completed goes, as one frame in the assembly slots (the completing fragment's
   * Ethernet header in front), through the normal path: service lookup, scheduling, conntrack, rewrite;
   * output then re-fragments it at no more than its largest fragment.
   */
  const deliverReassembled = (inPort: number, o: number, now: number) => {
    if (assemblyOffset < 0) {
      reasm.assemble(b, 0, 0) // no room: counted as too big
      return syncReassembly()
    }
    const ao = assemblyOffset
    for (let k = 0; k < Ethernet.HEADER_LENGTH; k++) b[ao + k] = b[o + k]!
    const n = reasm.assemble(b, ao + Ethernet.HEADER_LENGTH, assemblyCapacity - Ethernet.HEADER_LENGTH)
    syncReassembly()
    if (n < 0) return
    fragMax = reasm.fragmentMax
    fragId6 = reasm.id
    reassembledL3 = ao + Ethernet.HEADER_LENGTH
    // No try/finally here (it costs a boxed number per datagram in V8): a fault is caught in onBatch,
    // which resets these two as well.
    if (reasm.family === 6) {
      b[ao + 12] = 0x86
      b[ao + 13] = 0xdd
      ipv6(inPort, ao, Ethernet.HEADER_LENGTH + n, now)
    } else ipv4(inPort, ao, Ethernet.HEADER_LENGTH + n, now)
    fragMax = 0
    reassembledL3 = -1
  }

  /** An IPv4 fragment: source checks as for any packet, then reassembly. */
  const fragment4 = (inPort: number, o: number, length: number, now: number) => {
    const l3 = o + Ethernet.HEADER_LENGTH
    const src = Ipv4.source(b, l3)
    const rs = route(src)
    if (rs < 0 || rPort[rs] !== inPort || isLocal(src) || src === 0 || src >>> 28 >= 14) {
      return void stats[Stat.dropSpoofed]!++
    }
    const outcome = reasm.add4(b, l3, length - Ethernet.HEADER_LENGTH, o, inPort, now)
    if (outcome === Reassembly.Outcome.Complete) return deliverReassembled(inPort, o, now)
    syncReassembly()
  }

  /** An IPv6 packet with extension headers: reassembled when it is a fragment (false when it is not). */
  const fragment6 = (inPort: number, o: number, length: number, now: number): boolean => {
    const l3 = o + Ethernet.HEADER_LENGTH
    const srcOff = l3 + Ipv6.SOURCE
    const rs = route6(b, srcOff)
    if (rs < 0 || r6Port[rs] !== inPort || b[srcOff] === 0xff || isLocal6(b, srcOff)) return false
    const outcome = reasm.add6(b, l3, length - Ethernet.HEADER_LENGTH, o, inPort, now)
    if (outcome === Reassembly.Outcome.NotFragment) return false
    if (outcome === Reassembly.Outcome.Complete) deliverReassembled(inPort, o, now)
    else syncReassembly()
    return true
  }

  /**
   * Expired reassembly queues (ip_expire / ip6frag_expire_frag_queue): when the first fragment had
   * arrived, ICMP time exceeded code 1 quoting it goes back to the source — for IPv4 only when the
   * datagram was for one of the director's addresses (an end host; Linux skips it for defrag in front of
   * forwarding), for IPv6 as netfilter's defrag does.
   */
  const expireFragments = (now: number) => {
    const fo = ctx.scratch[FRAGMENT_SLOT]!
    const l3 = fo + Ethernet.HEADER_LENGTH
    for (let n = reasm.expireOne(now, b, l3, TIME_EXCEEDED_QUOTE); n >= 0; ) {
      if (n > 0) fragmentTimeExceeded(reasm.port, fo, l3, n)
      n = reasm.expireOne(now, b, l3, TIME_EXCEEDED_QUOTE)
    }
    syncReassembly()
  }
  const fragmentTimeExceeded = (port: number, fo: number, l3: number, n: number) => {
    const out = ctx.scratch[0]!
    const ol3 = out + Ethernet.HEADER_LENGTH
    for (let k = 0; k < 6; k++) {
      b[out + k] = b[fo + 6 + k]!
      b[out + 6 + k] = macs[port * 6 + k]!
    }
    if (b[out]! & 1) return // the fragment came from a multicast source MAC: never answer
    let total: number
    if (reasm.family === 4) {
      const dst = Ipv4.destination(b, l3)
      const src = Ipv4.source(b, l3)
      if (!isLocal(dst) || src === 0 || src >>> 28 >= 14) return
      // Never an ICMP error about an ICMP error (RFC 1122 3.2.2).
      const ihl = (b[l3]! & 0x0f) << 2
      if (b[l3 + 9] === IpProtocol.Icmp && n > ihl && Icmp.isError(b[l3 + ihl]!)) return
      b[out + 12] = 0x08
      b[out + 13] = 0x00
      total = Ipv4.HEADER_LENGTH + Icmp.HEADER_LENGTH + n
      ipId = (ipId + 1) & 0xffff
      Ipv4.write(b, ol3, 0xc0, total, ipId, 0, 64, IpProtocol.Icmp, dst, src)
      const l4 = ol3 + Ipv4.HEADER_LENGTH
      b[l4] = Icmp.Type.TimeExceeded
      b[l4 + 1] = 1
      b.fill(0, l4 + 2, l4 + 8)
      b.copyWithin(l4 + Icmp.EMBEDDED, l3, l3 + n)
      Icmp.updateChecksum(b, l4, Icmp.HEADER_LENGTH + n)
    } else {
      if (b[l3 + Ipv6.SOURCE] === 0xff) return
      // Never an ICMPv6 error about an ICMPv6 error (RFC 4443 2.4): the fragment header's next header.
      const u = n >= 48 && b[l3 + 6] === 44 ? l3 + 40 : -1
      if (u >= 0 && b[u] === IpProtocol.Icmpv6 && n >= 49 && Icmpv6.isError(b[u + 8]!)) return
      b[out + 12] = 0x86
      b[out + 13] = 0xdd
      const local = isLocal6(b, l3 + Ipv6.DESTINATION)
      total = Ipv6.HEADER_LENGTH + Icmpv6.HEADER_LENGTH + n
      Ipv6.write(
        b,
        ol3,
        0,
        0,
        Icmpv6.HEADER_LENGTH + n,
        IpProtocol.Icmpv6,
        64,
        local ? b : primary6,
        local ? l3 + Ipv6.DESTINATION : port * 16,
        b,
        l3 + Ipv6.SOURCE
      )
      const l4 = ol3 + Ipv6.HEADER_LENGTH
      b[l4] = Icmpv6.Type.TimeExceeded
      b[l4 + 1] = 1
      b.fill(0, l4 + 2, l4 + 8)
      b.copyWithin(l4 + Icmpv6.EMBEDDED, l3, l3 + n)
      Icmpv6.updateChecksum(b, ol3, l4, Icmpv6.HEADER_LENGTH + n)
    }
    if (ctx.send(port, out, Ethernet.HEADER_LENGTH + total)) {
      stats[Stat.fragmentTimeExceeded]!++
      stats[Stat.icmpErrorsSent]!++
    }
    ctx.flush()
  }

  const ipv4 = (inPort: number, o: number, length: number, now: number) => {
    // Fragments (MF or an offset) go to reassembly first: IPVS never sees a fragment.
    if (length >= 34 && ((b[o + 20]! & 0x3f) | b[o + 21]!) !== 0) return fragment4(inPort, o, length, now)
    const res = p.parse(b, o, length)
    if (res !== ParseResult.Ok) return void stats[Stat.dropMalformed]!++
    if (p.vlanCount > 0) return void stats[Stat.dropVlan]!++
    const l3 = p.l3Offset
    if (!Ipv4.isChecksumValid(b, l3)) return void stats[Stat.dropIpChecksum]!++
    const src = Ipv4.source(b, l3)
    const dst = Ipv4.destination(b, l3)
    // Martians and spoofed sources (rp_filter=1: the source must route back out of the receiving port).
    const rs = route(src)
    if (rs < 0 || rPort[rs] !== inPort || isLocal(src) || src === 0 || src >>> 28 >= 14) {
      return void stats[Stat.dropSpoofed]!++
    }
    const protocol = p.protocol
    const fragment = p.fragmentOffset !== 0 || p.moreFragments
    if (isLocal(dst)) {
      if (fragment) return void stats[Stat.dropFragment]!++ // no reassembly: IPVS never schedules fragments
      if (protocol === Protocol.TCP || protocol === Protocol.UDP || protocol === Protocol.SCTP) {
        const sport = p.sourcePort
        const dport = p.destinationPort
        const signal = signalOf(protocol)
        let e = conns.lookupIn(protocol, src, sport, dst, dport)
        if (e >= 0) {
          const isNew = protocol === Protocol.TCP ? (signal & (TcpState.SYN | TcpState.RST)) === TcpState.SYN : false
          const verdict = conns.inbound(e, isNew, now)
          if (verdict === ConnectionTable.DROP) return void stats[Stat.dropUnavailable]!++
          if (verdict === ConnectionTable.FORWARD) return forwardIn(inPort, o, e, protocol, signal, now)
          e = -1 // RESCHEDULE: fall through to scheduling
        }
        e = conns.lookupOut(protocol, src, sport, dst, dport)
        if (e >= 0 && conns.method(e) === ConnectionFlags.FULLNAT) {
          return forwardOut(inPort, o, e, protocol, signal, now)
        }
        const mark = vst.classifierCount > 0 ? vst.classify(protocol, src, dst, dport) : 0
        const s = vst.lookup(mark, protocol, dst, dport)
        if (s !== undefined && conns.schedulesNew(protocol, signal)) {
          const ne = schedule(s, protocol, src, sport, dst, dport, now)
          if (ne >= 0) return forwardIn(inPort, o, ne, protocol, signal, now)
          if (ne === NO_DESTINATION) {
            // ip_vs_leave: ICMP port unreachable to the client, packet dropped.
            stats[Stat.dropNoDestination]!++
            sendIcmpError(inPort, Icmp.Type.DestinationUnreachable, Icmp.UnreachableCode.Port, 0, dst)
            return
          }
          if (ne === TABLE_FULL) return void stats[Stat.dropTableFull]!++
          stats[Stat.dropNotScheduled]!++
        }
        return deliverLocal(inPort, protocol, dst)
      }
      if (protocol === IpProtocol.Icmp) {
        if (p.icmpType === Icmp.Type.EchoRequest) return echo(inPort, o)
        if (Icmp.isError(p.icmpType) && icmpError(inPort, o, true, now)) return
        return void stats[Stat.dropIcmpUnrelated]!++
      }
      return deliverLocal(inPort, protocol, dst)
    }
    // Transit: replies of NAT connections, ICMP errors about connections, plain routing.
    if (!fragment && (protocol === Protocol.TCP || protocol === Protocol.UDP || protocol === Protocol.SCTP)) {
      const e = conns.lookupOut(protocol, src, p.sourcePort, dst, p.destinationPort)
      if (e >= 0 && conns.method(e) === ConnectionFlags.MASQ) {
        return forwardOut(inPort, o, e, protocol, signalOf(protocol), now)
      }
    } else if (!fragment && protocol === IpProtocol.Icmp && Icmp.isError(p.icmpType)) {
      if (icmpError(inPort, o, false, now)) return
    }
    if (!forwarding) return void stats[Stat.dropNotForUs]!++
    const r = route(dst)
    if (r < 0) {
      stats[Stat.dropNoRoute]!++
      sendIcmpError(inPort, Icmp.Type.DestinationUnreachable, Icmp.UnreachableCode.Network, 0, primary[inPort]!)
      return
    }
    const port = rPort[r]!
    const l3Length = p.l3End - l3
    if (!fits(inPort, l3Length, mtus[port]!, dst)) return
    if (!decrementTtl(inPort, l3, dst)) return
    if (output(o, l3, l3Length, rVia[r] === 0 ? dst : rVia[r]!, port, now)) stats[Stat.routed]!++
  }

  // ---- IPv6: owned addresses, connected prefixes, neighbours (NDP), forwarding ----
  // Per port: owned addresses (16 bytes each) and connected prefixes; then the static IPv6 routes (a
  // gateway on a connected prefix, resolved by NDP like any neighbour), `::/0` being the default route.
  const port6: Array<Uint8Array> = []
  const primary6 = new Uint8Array(16 * nports)
  const r6NetList: Array<Uint8Array> = []
  const r6LenList: Array<number> = []
  const r6PortList: Array<number> = []
  for (let p6 = 0; p6 < nports; p6++) {
    const list = (options.ports[p6]?.addresses ?? []).filter(isV6Text).map((a) => parsePrefix6(a)!)
    const bytes = new Uint8Array(16 * list.length)
    for (const [i, a] of list.entries()) bytes.set(a.address, i * 16)
    port6.push(bytes)
    if (list[0] !== undefined) primary6.set(list[0].address, p6 * 16)
    for (const a of list) {
      if (a.length === 128) continue
      const net = new Uint8Array(16)
      for (let k = 0; k < 16; k++) {
        const bits = Math.max(0, Math.min(8, a.length - k * 8))
        net[k] = a.address[k]! & ((0xff00 >>> bits) & 0xff)
      }
      r6NetList.push(net)
      r6LenList.push(a.length)
      r6PortList.push(p6)
    }
  }
  const connected6 = r6LenList.length
  const r6ViaList: Array<Uint8Array | undefined> = r6LenList.map(() => undefined)
  /** Longest-prefix match over the first `n` routes (the connected ones first, then static). */
  const match6 = (
    a: Uint8Array,
    off: number,
    n: number,
    nets: Uint8Array,
    lens: ArrayLike<number>,
    start = 0
  ): number => {
    let best = -1
    let bestLen = -1
    for (let i = start; i < n; i++) {
      const len = lens[i]!
      if (len <= bestLen) continue
      let k = 0
      let ok = true
      for (; k < len >>> 3; k++) {
        if (a[off + k] !== nets[i * 16 + k]) {
          ok = false
          break
        }
      }
      if (ok && (len & 7) !== 0) {
        const m = (0xff00 >>> (len & 7)) & 0xff
        if ((a[off + k]! & m) !== nets[i * 16 + k]) ok = false
      }
      if (ok) {
        best = i
        bestLen = len
      }
    }
    return best
  }
  {
    const connectedNets = new Uint8Array(16 * connected6)
    for (const [i, n] of r6NetList.entries()) connectedNets.set(n, i * 16)
    for (const r of options.routes ?? []) {
      if (!isV6Text(r.destination)) continue
      const d = parsePrefix6(r.destination)!
      const via = Frames.parseIpv6(r.via)!
      const c = match6(via, 0, connected6, connectedNets, r6LenList)
      if (c < 0) {
        throw new Error(`ForwardingHandler: route ${r.destination} via ${r.via}: gateway is on no connected network`)
      }
      const net = new Uint8Array(16)
      for (let k = 0; k < 16; k++) {
        const bits = Math.max(0, Math.min(8, d.length - k * 8))
        net[k] = d.address[k]! & ((0xff00 >>> bits) & 0xff)
      }
      r6NetList.push(net)
      r6LenList.push(d.length)
      r6PortList.push(r6PortList[c]!)
      r6ViaList.push(via)
    }
  }
  const n6routes = r6LenList.length
  const r6Net = new Uint8Array(16 * n6routes)
  for (const [i, n] of r6NetList.entries()) r6Net.set(n, i * 16)
  const r6Len = Int32Array.from(r6LenList)
  const r6Port = Int32Array.from(r6PortList)
  /** Per route: the gateway (16 bytes) when `r6Gateway[i]` is 1; connected routes have none. */
  const r6Via = new Uint8Array(16 * n6routes)
  const r6Gateway = new Uint8Array(n6routes)
  for (const [i, v] of r6ViaList.entries()) {
    if (v === undefined) continue
    r6Via.set(v, i * 16)
    r6Gateway[i] = 1
  }
  /** The next hop for route `r` towards the address in `a`: the gateway's bytes, or `a` itself (on-link). */
  const hopArray = (r: number, a: Uint8Array): Uint8Array => (r6Gateway[r] === 1 ? r6Via : a)
  const hopOffset = (r: number, off: number): number => (r6Gateway[r] === 1 ? r * 16 : off)
  /** Longest-prefix match over the IPv6 routes for the 16 bytes of `a` at `off`; -1 if none. */
  const route6 = (a: Uint8Array, off: number): number => {
    let best = -1
    let bestLen = -1
    for (let i = 0; i < n6routes; i++) {
      const len = r6Len[i]!
      if (len <= bestLen) continue
      let k = 0
      let ok = true
      for (; k < len >>> 3; k++) {
        if (a[off + k] !== r6Net[i * 16 + k]) {
          ok = false
          break
        }
      }
      if (ok && (len & 7) !== 0) {
        const m = (0xff00 >>> (len & 7)) & 0xff
        if ((a[off + k]! & m) !== r6Net[i * 16 + k]) ok = false
      }
      if (ok) {
        best = i
        bestLen = len
      }
    }
    return best
  }
  const same16 = (a: Uint8Array, ao: number, c: Uint8Array, co: number): boolean => {
    for (let k = 0; k < 16; k++) if (a[ao + k] !== c[co + k]) return false
    return true
  }
  // All owned IPv6 addresses (port addresses + IPv6 VIPs), rebuilt with the table.
  let local6 = new Uint8Array(0)
  const isLocal6 = (a: Uint8Array, off: number): boolean => {
    const l = local6
    for (let i = 0; i < l.length; i += 16) if (same16(a, off, l, i)) return true
    return false
  }
  /** NDP: answer for addresses configured on the port, and for VIPs on a network connected to it. */
  const ownsOnPort6 = (port: number, a: Uint8Array, off: number): boolean => {
    const list = port6[port]!
    for (let i = 0; i < list.length; i += 16) if (same16(a, off, list, i)) return true
    if (!isLocal6(a, off)) return false
    const r = route6(a, off)
    return r >= 0 && r6Port[r] === port && r6Gateway[r] === 0
  }
  const rebuild6 = () => {
    const parts: Array<Uint8Array> = [...port6]
    for (const s of vst.services.values()) {
      if (s.family === 6 && s.fwmark === 0) parts.push(s.address6)
      if (s.family === 6) parts.push(s.localAddresses6)
    }
    const seen = new Set<string>()
    const out: Array<number> = []
    for (const part of parts) {
      for (let i = 0; i < part.length; i += 16) {
        const k = part.subarray(i, i + 16).join(",")
        if (seen.has(k)) continue
        seen.add(k)
        for (let j = 0; j < 16; j++) out.push(part[i + j]!)
      }
    }
    local6 = Uint8Array.from(out)
    // Outer-IPv6 tunnels: every tun destination with an IPv6 address (of an IPv6 or an IPv4 service).
    tunnels6 = []
    for (const s of vst.services.values()) {
      for (const d of s.destinations.values()) {
        if (d.method !== "tun" || d.family !== 6) continue
        const r = route6(d.address6, 0)
        const port = r < 0 ? 0 : r6Port[r]!
        const mac = tunnelMac6[d.id] ?? new Uint8Array(6)
        tunnelMac6[d.id] = mac
        tunnels6[d.id] = Tunnel.make({
          // ipip: IPv6-in-IPv6 (next header 41) or IPv4-in-IPv6 (4), the kernel's ip6_tunnel; or GUE / GRE.
          type: VST.tunnelTypeCode[d.tunnelType],
          port: d.tunnelPort,
          checksum: d.tunnelChecksum,
          outerVersion: 6,
          source6: primary6.slice(port * 16, port * 16 + 16),
          destination6: d.address6,
          destinationMac: mac,
          sourceMac: portMac[port]!
        })
      }
    }
  }
  let tunnels6: Array<Tunnel.Tunnel | undefined> = []
  const tunnelMac6: Array<Uint8Array | undefined> = []

  // Neighbour cache: a small linear table (IPv6 real servers and clients on connected networks are few).
  const N6 = 256
  const n6Ip = new Uint8Array(N6 * 16)
  const n6State = new Uint8Array(N6)
  const n6Mac = new Uint8Array(N6 * 6)
  const n6Port = new Int32Array(N6)
  const n6Confirmed = new Float64Array(N6)
  const n6Probed = new Float64Array(N6)
  const n6Tries = new Int32Array(N6)
  const n6Pending = new Int32Array(N6).fill(-1)
  const n6PendingTail = new Int32Array(N6).fill(-1)
  const n6PendingCount = new Int32Array(N6)
  let n6High = 0 // entries >= n6High are free
  const findNeighbour6 = (a: Uint8Array, off: number): number => {
    for (let i = 0; i < n6High; i++) {
      const st = n6State[i]!
      if (st !== N_FREE && st !== N_DELETED && same16(a, off, n6Ip, i * 16)) return i
    }
    return -1
  }
  const insertNeighbour6 = (a: Uint8Array, off: number, port: number): number => {
    let i = 0
    while (i < n6High && n6State[i] !== N_FREE && n6State[i] !== N_DELETED) i++
    if (i >= N6) return -1
    if (i === n6High) n6High++
    for (let k = 0; k < 16; k++) n6Ip[i * 16 + k] = a[off + k]!
    n6State[i] = N_INCOMPLETE
    n6Port[i] = port
    n6Tries[i] = 0
    n6Pending[i] = -1
    n6PendingTail[i] = -1
    n6PendingCount[i] = 0
    return i
  }
  const deleteNeighbour6 = (i: number) => {
    let slot = n6Pending[i]!
    while (slot >= 0) {
      const next = slotNext[slot]!
      freePending.push(slot)
      stats[Stat.dropNeighbour]!++
      slot = next
    }
    n6Pending[i] = -1
    n6PendingTail[i] = -1
    n6PendingCount[i] = 0
    n6State[i] = N_DELETED
  }
  /** The port address on the same prefix as `target` (else the port's first IPv6 address). */
  const sourceFor6 = (port: number, a: Uint8Array, off: number): number => {
    const r = match6(a, off, connected6, r6Net, r6Len)
    const list = port6[port]!
    if (r >= 0) {
      for (let i = 0; i < list.length; i += 16) if (match6(list, i, connected6, r6Net, r6Len) === r) return i
    }
    return 0
  }
  /** Neighbour solicitation for `target` (multicast to its solicited-node group, RFC 4861 §7.2.2). */
  const sendSolicitation = (port: number, a: Uint8Array, off: number) => {
    const list = port6[port]!
    if (list.length === 0) return
    const o = ctx.scratch[1]!
    const si = sourceFor6(port, a, off)
    // Ethernet 33:33:ff:xx:xx:xx, IPv6 ff02::1:ffxx:xxxx, hop limit 255.
    b[o] = 0x33
    b[o + 1] = 0x33
    b[o + 2] = 0xff
    b[o + 3] = a[off + 13]!
    b[o + 4] = a[off + 14]!
    b[o + 5] = a[off + 15]!
    for (let k = 0; k < 6; k++) b[o + 6 + k] = macs[port * 6 + k]!
    b[o + 12] = 0x86
    b[o + 13] = 0xdd
    const l3 = o + Ethernet.HEADER_LENGTH
    Ipv6.write(b, l3, 0, 0, 32, IpProtocol.Icmpv6, 255, list, si, a, off)
    const d = l3 + Ipv6.DESTINATION
    b.fill(0, d, d + 16)
    b[d] = 0xff
    b[d + 1] = 0x02
    b[d + 11] = 0x01
    b[d + 12] = 0xff
    b[d + 13] = a[off + 13]!
    b[d + 14] = a[off + 14]!
    b[d + 15] = a[off + 15]!
    const l4 = l3 + Ipv6.HEADER_LENGTH
    b[l4] = Icmpv6.Type.NeighborSolicitation
    b[l4 + 1] = 0
    b.fill(0, l4 + 2, l4 + 8)
    for (let k = 0; k < 16; k++) b[l4 + Ndp.TARGET + k] = a[off + k]!
    b[l4 + Ndp.OPTIONS] = Ndp.OptionType.SourceLinkLayerAddress
    b[l4 + Ndp.OPTIONS + 1] = 1
    for (let k = 0; k < 6; k++) b[l4 + Ndp.OPTIONS + 2 + k] = macs[port * 6 + k]!
    Icmpv6.updateChecksum(b, l3, l4, 32)
    if (ctx.send(port, o, Ethernet.HEADER_LENGTH + Ipv6.HEADER_LENGTH + 32)) stats[Stat.ndpSolicitations]!++
    ctx.flush()
  }
  const learn6 = (port: number, a: Uint8Array, off: number, macOffset: number, create: boolean, now: number) => {
    let i = findNeighbour6(a, off)
    if (i < 0) {
      if (!create) return
      const r = route6(a, off)
      if (r < 0 || r6Port[r] !== port || r6Gateway[r] === 1) return
      i = insertNeighbour6(a, off, port)
      if (i < 0) return
    }
    for (let k = 0; k < 6; k++) n6Mac[i * 6 + k] = b[macOffset + k]!
    n6State[i] = N_REACHABLE
    n6Port[i] = port
    n6Confirmed[i] = now
    n6Tries[i] = 0
    let slot = n6Pending[i]!
    n6Pending[i] = -1
    n6PendingTail[i] = -1
    n6PendingCount[i] = 0
    while (slot >= 0) {
      const start = ctx.scratch[slot]!
      for (let k = 0; k < 6; k++) b[start + k] = n6Mac[i * 6 + k]!
      if (!ctx.send(port, start, slotLength[slot]!)) stats[Stat.dropTx]!++
      ctx.flush()
      const next = slotNext[slot]!
      freePending.push(slot)
      slot = next
    }
  }
  /** Sends the IPv6 packet at `l3` towards the next hop (16 bytes of `nh` at `nho`); false when dropped. */
  const output6 = (
    o: number,
    l3: number,
    l3Length: number,
    nh: Uint8Array,
    nho: number,
    port: number,
    now: number
  ): boolean => {
    if (l3Length > mtus[port]! || (fragMax !== 0 && l3Length > fragMax)) {
      return outputFragments6(l3, l3Length, nh, nho, port, now)
    }
    const frameLength = l3 - o + l3Length
    let i = findNeighbour6(nh, nho)
    if (i >= 0 && n6State[i] === N_REACHABLE) {
      for (let k = 0; k < 6; k++) b[o + k] = n6Mac[i * 6 + k]!
      for (let k = 0; k < 6; k++) b[o + 6 + k] = macs[port * 6 + k]!
      b[o + 12] = 0x86
      b[o + 13] = 0xdd
      if (now - n6Confirmed[i]! > reachableMs && now - n6Probed[i]! > ARP_RETRY_MS) {
        n6Probed[i] = now
        sendSolicitation(port, n6Ip, i * 16)
      }
      if (!ctx.send(port, o, frameLength)) {
        stats[Stat.dropTx]!++
        return false
      }
      return true
    }
    if (i < 0) {
      i = insertNeighbour6(nh, nho, port)
      if (i < 0) {
        stats[Stat.dropNeighbour]!++
        return false
      }
    }
    queuePending(b, o, frameLength, port, 0x86dd, i, n6Pending, n6PendingTail, n6PendingCount)
    if (n6Tries[i] === 0 || now - n6Probed[i]! > ARP_RETRY_MS) {
      n6Probed[i] = now
      n6Tries[i]!++
      sendSolicitation(port, n6Ip, i * 16)
    }
    return false
  }
  /**
   * Sends the IPv6 packet at `l3` as fragments (ip6_fragment): a reassembled datagram at no more than its
   * largest received fragment and with its original id (netfilter defrag + ip6_fragment), a tunnel's
   * outer packet at the egress MTU with a fresh id. Only what the director itself may fragment gets here:
   * {@link fits6} already sent packet too big for everything else.
   */
  const outputFragments6 = (
    l3: number,
    l3Length: number,
    nh: Uint8Array,
    nho: number,
    port: number,
    now: number
  ): boolean => {
    const mtu = mtus[port]!
    const limit = fragMax !== 0 && fragMax < mtu ? fragMax : mtu
    const unfragmentable = Fragmenter.ipv6Unfragmentable(b, l3, l3 + l3Length)
    const n = unfragmentable < 0 ? 0 : Fragmenter.ipv6Count(l3Length, unfragmentable, limit)
    const fo = ctx.scratch[FRAGMENT_SLOT]!
    if (n === 0 || limit > ctx.frameCapacity - Ethernet.HEADER_LENGTH) {
      stats[Stat.dropTooBig]!++
      return false
    }
    let id = fragId6
    if (l3 !== reassembledL3) {
      fragmentId6 = (fragmentId6 + 1) >>> 0
      id = fragmentId6
    }
    let sent = true
    for (let i = 0; i < n; i++) {
      const length = Fragmenter.writeIpv6(b, l3, l3Length, unfragmentable, limit, id, i, b, fo + Ethernet.HEADER_LENGTH)
      if (!output6(fo, fo + Ethernet.HEADER_LENGTH, length, nh, nho, port, now)) sent = false
      ctx.flush()
      stats[Stat.fragmentsOut]!++
    }
    stats[Stat.fragmentedOut]!++
    return sent
  }
  /** ICMPv6 error about the parsed packet, from 16 bytes of `src` at `so`, back out of the receiving port. */
  const sendIcmp6Error = (inPort: number, type: number, code: number, rest: number, src: Uint8Array, so: number) => {
    if (!Icmpv6.mayReplyWithError(b, p, type)) return
    const o = ctx.scratch[0]!
    const n = Icmpv6.writeError(b, o, b, p, type, code, rest, src, so)
    if (n > 0) {
      for (let k = 0; k < 6; k++) b[o + 6 + k] = macs[inPort * 6 + k]!
      if (ctx.send(inPort, o, n)) stats[Stat.icmpErrorsSent]!++
    }
    ctx.flush()
  }
  /** Error source: the destination when it is ours, else the receiving port's first IPv6 address. */
  const errorSource6 = (inPort: number): [Uint8Array, number] =>
    isLocal6(b, p.l3Offset + Ipv6.DESTINATION) ? [b, p.l3Offset + Ipv6.DESTINATION] : [primary6, inPort * 16]
  const hopLimit6 = (inPort: number, l3: number): boolean => {
    if (Ipv6.decrementHopLimit(b, l3)) return true
    stats[Stat.dropTtl]!++
    const local = isLocal6(b, l3 + Ipv6.DESTINATION)
    sendIcmp6Error(
      inPort,
      Icmpv6.Type.TimeExceeded,
      0,
      0,
      local ? b : primary6,
      local ? l3 + Ipv6.DESTINATION : inPort * 16
    )
    return false
  }
  /**
   * IPv6 never fragments in transit: too big means ICMPv6 packet too big (RFC 8200 §5). A datagram the
   * director reassembled is judged by its largest fragment (`__mtu_check_toobig_v6` with
   * `frag_max_size`) and re-fragmented on output.
   */
  const fits6 = (inPort: number, l3Length: number, mtu: number): boolean => {
    if (l3Length <= mtu) return true
    if (fragMax !== 0 && fragMax <= mtu) return true
    stats[Stat.dropFragNeeded]!++
    const local = isLocal6(b, p.l3Offset + Ipv6.DESTINATION)
    sendIcmp6Error(
      inPort,
      Icmpv6.Type.PacketTooBig,
      0,
      mtu,
      local ? b : primary6,
      local ? p.l3Offset + Ipv6.DESTINATION : inPort * 16
    )
    return false
  }
  // Conntrack keys: four big-endian words per address (source at 0, destination at 4, scratch at 8).
  const w6 = new Uint32Array(16)
  const a6 = new Uint8Array(32) // address bytes read back from an entry (client at 0, virtual at 16)
  const loadWords = (a: Uint8Array, off: number, at: number) => {
    for (let k = 0; k < 4; k++) w6[at + k] = Frames.readU32(a, off + k * 4)
  }
  const storeBytes = (at: number, out: number) => {
    for (let k = 0; k < 4; k++) Frames.writeU32(a6, out + k * 4, w6[at + k]!)
  }

  /**
   * TUN to a real server of the other family than the packet (ipvs.md §3.3: only tunnels may cross
   * families): IPv4-in-IPv6 (next header 4; GUE/GRE over IPv6) or IPv6-in-IPv4 (protocol 41; GUE/GRE
   * over IPv4). The inner packet is checked and decremented with its own family's rules (fragmentation
   * needed / packet too big against the route MTU minus the outer headers, TTL / hop limit), the outer
   * header is routed and resolved with the real server's family.
   */
  const tunnelAcross = (inPort: number, e: number, protocol: number, signal: number, now: number): void => {
    const l3 = p.l3Offset
    const l3Length = p.l3End - l3
    const d = vst.destinationById[conns.destination(e)]
    if (d === undefined) return void stats[Stat.dropNoRoute]!++
    const outer6 = d.family === 6
    const t = outer6 ? tunnels6[d.id] : tunnels[d.id]
    if (t === undefined) return void stats[Stat.dropNoRoute]!++
    const r = outer6 ? route6(d.address6, 0) : route(d.addressValue)
    if (r < 0) return void stats[Stat.dropNoRoute]!++
    const port = outer6 ? r6Port[r]! : rPort[r]!
    const usable = mtus[port]! - t.overhead
    const innerV4 = p.ipVersion === 4
    if (innerV4) {
      const dst = Ipv4.destination(b, l3)
      if (!fits(inPort, l3Length, usable, dst) || !decrementTtl(inPort, l3, dst)) return
    } else if (!fits6(inPort, l3Length, usable) || !hopLimit6(inPort, l3)) return
    if (protocol !== IpProtocol.Icmp && protocol !== IpProtocol.Icmpv6) {
      conns.packet(e, Direction.INPUT, signal, l3Length, now)
    }
    const svc = vst.byId[conns.service(e)]
    if (svc !== undefined) {
      count(svc.slot, VST.Stats.inPackets, 1)
      count(svc.slot, VST.Stats.inBytes, l3Length)
    }
    count(d.slot, VST.Stats.inPackets, 1)
    count(d.slot, VST.Stats.inBytes, l3Length)
    // The real server's MAC goes into the tunnel's Ethernet header (patched later if still unresolved).
    const nextHop = outer6 ? 0 : rVia[r] === 0 ? d.addressValue : rVia[r]!
    const i = outer6 ? findNeighbour6(hopArray(r, d.address6), hopOffset(r, 0)) : findNeighbour(nextHop)
    if (outer6 && i >= 0 && n6State[i] === N_REACHABLE) {
      for (let k = 0; k < 6; k++) t.destinationMac[k] = n6Mac[i * 6 + k]!
    } else if (!outer6 && i >= 0 && nState[i] === N_REACHABLE) {
      for (let k = 0; k < 6; k++) t.destinationMac[k] = nMac[i * 6 + k]!
    }
    if (l3Length + t.overhead > 65535) return void stats[Stat.dropTooBig]!++
    ipId = (ipId + 1) & 0xffff
    const flow = innerV4 ? Ipv4.source(b, l3) : b[l3 + 23]! | (b[l3 + 22]! << 8)
    const start = Tunnel.encapsulate(b, l3, l3Length, t, ipId, guePort(flow, p.sourcePort))
    if (start < 0) return void stats[Stat.dropHeadroom]!++
    stats[Stat.tunnelled]!++
    const length = l3Length + t.overhead
    const sent = outer6
      ? output6(start, start + Ethernet.HEADER_LENGTH, length, hopArray(r, d.address6), hopOffset(r, 0), port, now)
      : output(start, start + Ethernet.HEADER_LENGTH, length, nextHop, port, now)
    if (sent) stats[Stat.forwardedIn]!++
  }

  /** Client -> real server, IPv6 (NAT, DR, TUN as IPv6-in-IPv6). */
  const forwardIn6 = (inPort: number, o: number, e: number, protocol: number, signal: number, now: number): void => {
    const l3 = p.l3Offset
    const l3Length = p.l3End - l3
    const method = conns.method(e)
    const d = vst.destinationById[conns.destination(e)]
    if (d === undefined) return void stats[Stat.dropNoRoute]!++
    if (d.family === 4) {
      // IPv6-in-IPv4 (protocol 41) to an IPv4 real server: only tunnels cross families.
      if (method === ConnectionFlags.TUNNEL) tunnelAcross(inPort, e, protocol, signal, now)
      else stats[Stat.dropNoRoute]!++
      return
    }
    const r = route6(d.address6, 0)
    if (r < 0) return void stats[Stat.dropNoRoute]!++
    const port = r6Port[r]!
    const overhead = method === ConnectionFlags.TUNNEL ? (tunnels6[d.id]?.overhead ?? 0) : 0
    if (!fits6(inPort, l3Length, mtus[port]! - overhead)) return
    if (!hopLimit6(inPort, l3)) return
    if (protocol !== IpProtocol.Icmpv6) conns.packet(e, Direction.INPUT, signal, l3Length, now)
    const svc = vst.byId[conns.service(e)]
    if (svc !== undefined) {
      count(svc.slot, VST.Stats.inPackets, 1)
      count(svc.slot, VST.Stats.inBytes, l3Length)
    }
    count(d.slot, VST.Stats.inPackets, 1)
    count(d.slot, VST.Stats.inBytes, l3Length)
    let length = l3Length
    if (method === ConnectionFlags.MASQ) {
      if (protocol === IpProtocol.Icmpv6) Nat.icmpErrorInV6(b, p, d.address6, 0, conns.destinationPort(e))
      else Nat.setDestinationV6(b, l3, p.l4Offset, protocol, d.address6, 0, conns.destinationPort(e))
    } else if (method === ConnectionFlags.FULLNAT) {
      conns.readLocalAddress6(e, w6, 8)
      storeBytes(8, 0) // a6[0..16) = LIP
      if (protocol === IpProtocol.Icmpv6) {
        // About a reply we sent (VIP:VPORT -> CIP:CPORT): the quote becomes RIP:RPORT -> LIP:LPORT.
        Nat.icmpErrorInV6(b, p, d.address6, 0, conns.destinationPort(e))
        Nat.icmpErrorOutV6(b, p, a6, 0, conns.localPort(e))
      } else {
        if (protocol === Protocol.TCP && (signal & TcpState.SYN) !== 0 && (signal & TcpState.ACK) === 0) {
          // TOA first: the client's address is still the packet's source.
          const grew = Tcp.setToa6(b, l3, p.l4Offset, conns.clientPort(e), b, l3 + Ipv6.SOURCE)
          if (grew >= 0) {
            length += grew
            stats[Stat.toaInserted]!++
          } else stats[Stat.toaFailed]!++
        }
        Nat.setAddressesV6(
          b,
          l3,
          p.l4Offset,
          protocol,
          a6,
          0,
          conns.localPort(e),
          d.address6,
          0,
          conns.destinationPort(e)
        )
      }
    } else if (method === ConnectionFlags.TUNNEL) {
      const t = tunnels6[d.id]
      if (t === undefined) return void stats[Stat.dropNoRoute]!++
      const i = findNeighbour6(hopArray(r, d.address6), hopOffset(r, 0))
      if (i >= 0 && n6State[i] === N_REACHABLE) for (let k = 0; k < 6; k++) t.destinationMac[k] = n6Mac[i * 6 + k]!
      if (l3Length + t.overhead > 65535) return void stats[Stat.dropTooBig]!++
      const start = Tunnel.encapsulate(b, l3, l3Length, t, 0, guePort(b[l3 + 23]! | (b[l3 + 22]! << 8), p.sourcePort))
      if (start < 0) return void stats[Stat.dropHeadroom]!++
      stats[Stat.tunnelled]!++
      const length = l3Length + t.overhead
      if (output6(start, start + Ethernet.HEADER_LENGTH, length, hopArray(r, d.address6), hopOffset(r, 0), port, now)) {
        stats[Stat.forwardedIn]!++
      }
      return
    }
    if (output6(o, l3, length, hopArray(r, d.address6), hopOffset(r, 0), port, now)) stats[Stat.forwardedIn]!++
  }

  /** Real server -> client, IPv6 NAT and FULLNAT replies (and ICMPv6 errors about them). */
  const forwardOut6 = (inPort: number, o: number, e: number, protocol: number, signal: number, now: number): void => {
    const l3 = p.l3Offset
    const l3Length = p.l3End - l3
    conns.readClientAddress6(e, w6, 8)
    storeBytes(8, 0)
    const r = route6(a6, 0)
    if (r < 0) return void stats[Stat.dropNoRoute]!++
    const port = r6Port[r]!
    if (!fits6(inPort, l3Length, mtus[port]!)) return
    if (!hopLimit6(inPort, l3)) return
    if (protocol !== IpProtocol.Icmpv6) conns.packet(e, Direction.OUTPUT, signal, l3Length, now)
    const svc = vst.byId[conns.service(e)]
    const d = vst.destinationById[conns.destination(e)]
    if (svc !== undefined) {
      count(svc.slot, VST.Stats.outPackets, 1)
      count(svc.slot, VST.Stats.outBytes, l3Length)
    }
    if (d !== undefined) {
      count(d.slot, VST.Stats.outPackets, 1)
      count(d.slot, VST.Stats.outBytes, l3Length)
    }
    conns.readVirtualAddress6(e, w6, 12)
    storeBytes(12, 16)
    if (conns.method(e) === ConnectionFlags.FULLNAT) {
      if (protocol === IpProtocol.Icmpv6) {
        // About RIP:RPORT <- LIP:LPORT: the quote becomes CIP:CPORT -> VIP:VPORT, the outer VIP -> CIP.
        Nat.icmpErrorOutV6(b, p, a6, 16, conns.virtualPort(e))
        Nat.icmpErrorInV6(b, p, a6, 0, conns.clientPort(e))
      } else {
        Nat.setAddressesV6(b, l3, p.l4Offset, protocol, a6, 16, conns.virtualPort(e), a6, 0, conns.clientPort(e))
      }
    } else if (protocol === IpProtocol.Icmpv6) Nat.icmpErrorOutV6(b, p, a6, 16, conns.virtualPort(e))
    else Nat.setSourceV6(b, l3, p.l4Offset, protocol, a6, 16, conns.virtualPort(e))
    if (output6(o, l3, l3Length, hopArray(r, a6), hopOffset(r, 0), port, now)) stats[Stat.forwardedOut]!++
  }

  /** ICMPv6 error about a tracked connection (ip_vs_in_icmp_v6 / ip_vs_out_icmp_v6). */
  const icmpError6 = (inPort: number, o: number, toUs: boolean, now: number): boolean => {
    if (p.innerResult !== ParseResult.Ok || p.innerSourcePort < 0) return false
    const il3 = p.innerL3Offset
    const iproto = p.innerProtocol
    if (!Protocol.isSupported(iproto)) return false
    loadWords(b, il3 + Ipv6.SOURCE, 0)
    loadWords(b, il3 + Ipv6.DESTINATION, 4)
    const valid = () => Icmpv6.isChecksumValid(b, p.l3Offset, p.l4Offset, p.l3End - p.l4Offset)
    // Embedded = what we sent to the client (VIP -> CIP): the error is about a connection's reply.
    let e = toUs ? conns.lookupIn6(iproto, w6, 4, p.innerDestinationPort, w6, 0, p.innerSourcePort) : -1
    if (e >= 0) {
      if (!valid()) {
        stats[Stat.dropIcmpChecksum]!++
        return true
      }
      stats[Stat.icmpRelated]!++
      forwardIn6(inPort, o, e, IpProtocol.Icmpv6, 0, now)
      return true
    }
    // From a real server about a packet we forwarded (CIP -> RIP).
    e = conns.lookupOut6(iproto, w6, 4, p.innerDestinationPort, w6, 0, p.innerSourcePort)
    if (e >= 0 && (conns.method(e) === ConnectionFlags.MASQ || conns.method(e) === ConnectionFlags.FULLNAT)) {
      if (!valid()) {
        stats[Stat.dropIcmpChecksum]!++
        return true
      }
      stats[Stat.icmpRelated]!++
      forwardOut6(inPort, o, e, IpProtocol.Icmpv6, 0, now)
      return true
    }
    return false
  }

  /** NDP (RFC 4861): answer solicitations for our addresses, learn from solicitations and advertisements. */
  const ndp = (port: number, o: number, now: number) => {
    const l3 = p.l3Offset
    const l4 = p.l4Offset
    const len = p.l3End - l4
    if (b[l3 + Ipv6.HOP_LIMIT] !== 255 || len < 24 || !Icmpv6.isChecksumValid(b, l3, l4, len)) {
      return void stats[Stat.dropNdp]!++
    }
    const type = b[l4]!
    const target = l4 + Ndp.TARGET
    // The link-layer address option (source for NS, target for NA).
    let lla = -1
    for (let opt = l4 + Ndp.OPTIONS; opt + 8 <= p.l3End; ) {
      const olen = b[opt + 1]! * 8
      if (olen === 0) return void stats[Stat.dropNdp]!++
      if (b[opt] === (type === Icmpv6.Type.NeighborSolicitation ? 1 : 2)) lla = opt + 2
      opt += olen
    }
    const srcOff = l3 + Ipv6.SOURCE
    let unspecified = true
    for (let k = 0; k < 16; k++) if (b[srcOff + k] !== 0) unspecified = false
    if (type === Icmpv6.Type.NeighborAdvertisement) {
      learn6(port, b, target, lla >= 0 ? lla : o + 6, false, now)
      return
    }
    // Solicitation.
    const ours = ownsOnPort6(port, b, target)
    if (!unspecified) learn6(port, b, srcOff, lla >= 0 ? lla : o + 6, ours, now)
    if (!ours) return
    if (unspecified) {
      // A DAD probe for one of our addresses (RFC 4862 §5.4.3): defend it with an advertisement to all
      // nodes, override set, solicited clear (RFC 4861 §7.2.4), as Linux does.
      const out = ctx.scratch[1]!
      const n = Ndp.writeUnsolicitedAdvertisement(b, out, portMac[port]!, b, target, b, target, forwarding)
      if (n > 0 && ctx.send(port, out, n)) {
        stats[Stat.ndpAdvertisements]!++
        stats[Stat.dadDefences]!++
      }
      ctx.flush()
      return
    }
    const out = ctx.scratch[1]!
    const n = Ndp.writeAdvertisement(
      b,
      out,
      portMac[port]!,
      b,
      target,
      b.subarray(o + 6, o + 12),
      b,
      srcOff,
      b,
      target,
      Ndp.Flag.Solicited | Ndp.Flag.Override | (forwarding ? Ndp.Flag.Router : 0)
    )
    if (n > 0 && ctx.send(port, out, n)) stats[Stat.ndpAdvertisements]!++
    ctx.flush()
  }

  const ipv6 = (inPort: number, o: number, length: number, now: number) => {
    // Extension headers: maybe a fragment header, then reassembly first (netfilter's IPv6 defrag).
    const nh = b[o + 20]!
    if (
      length >= 62 &&
      nh !== IpProtocol.Tcp &&
      nh !== IpProtocol.Udp &&
      nh !== IpProtocol.Icmpv6 &&
      b[o + 38] !== 0xff &&
      fragment6(inPort, o, length, now)
    ) {
      return
    }
    const res = p.parse(b, o, length)
    if (res !== ParseResult.Ok || p.ipVersion !== 6) return void stats[Stat.dropMalformed]!++
    if (p.vlanCount > 0) return void stats[Stat.dropVlan]!++
    const l3 = p.l3Offset
    const srcOff = l3 + Ipv6.SOURCE
    const dstOff = l3 + Ipv6.DESTINATION
    const protocol = p.protocol
    if (
      protocol === IpProtocol.Icmpv6 &&
      (p.icmpType === Icmpv6.Type.NeighborSolicitation || p.icmpType === Icmpv6.Type.NeighborAdvertisement)
    ) {
      return ndp(inPort, o, now)
    }
    if (b[dstOff] === 0xff) return void stats[Stat.dropIpv6]!++ // other multicast (RS, MLD, ...): not ours
    // Martians and spoofed sources: the source must be on a network connected to the receiving port.
    const rs = route6(b, srcOff)
    if (rs < 0 || r6Port[rs] !== inPort || b[srcOff] === 0xff || isLocal6(b, srcOff)) {
      return void stats[Stat.dropSpoofed]!++
    }
    const fragment = p.fragmentHeaderOffset >= 0
    if (isLocal6(b, dstOff)) {
      if (fragment) return void stats[Stat.dropFragment]!++
      if (protocol === Protocol.TCP || protocol === Protocol.UDP || protocol === Protocol.SCTP) {
        const sport = p.sourcePort
        const dport = p.destinationPort
        const signal = signalOf(protocol)
        loadWords(b, srcOff, 0)
        loadWords(b, dstOff, 4)
        let e = conns.lookupIn6(protocol, w6, 0, sport, w6, 4, dport)
        if (e >= 0) {
          const isNew = protocol === Protocol.TCP ? (signal & (TcpState.SYN | TcpState.RST)) === TcpState.SYN : false
          const verdict = conns.inbound(e, isNew, now)
          if (verdict === ConnectionTable.DROP) return void stats[Stat.dropUnavailable]!++
          if (verdict === ConnectionTable.FORWARD) return forwardIn6(inPort, o, e, protocol, signal, now)
          e = -1
        }
        // A FULLNAT reply (RIP:RPORT -> LIP:LPORT, the local address being ours).
        e = conns.lookupOut6(protocol, w6, 0, sport, w6, 4, dport)
        if (e >= 0 && conns.method(e) === ConnectionFlags.FULLNAT) {
          return forwardOut6(inPort, o, e, protocol, signal, now)
        }
        const mark = vst.classifier6Count > 0 ? vst.classify6(protocol, b, srcOff, dstOff, dport) : 0
        const s = vst.lookup6(mark, protocol, b, dstOff, dport)
        if (s !== undefined && conns.schedulesNew(protocol, signal)) {
          const ne = schedule6(s, protocol, sport, dport, now)
          if (ne >= 0) return forwardIn6(inPort, o, ne, protocol, signal, now)
          if (ne === NO_DESTINATION) {
            stats[Stat.dropNoDestination]!++
            sendIcmp6Error(inPort, Icmpv6.Type.DestinationUnreachable, Icmpv6.UnreachableCode.Port, 0, b, dstOff)
            return
          }
          if (ne === TABLE_FULL) return void stats[Stat.dropTableFull]!++
          stats[Stat.dropNotScheduled]!++
        }
        if (protocol === Protocol.TCP) {
          if ((p.tcpFlags & TcpState.RST) !== 0) return void stats[Stat.dropLocal]!++
          const ro = ctx.scratch[0]!
          const n = Tcp.writeReset(b, ro, b, p)
          if (n > 0 && ctx.send(inPort, ro, n)) stats[Stat.resetsSent]!++
          ctx.flush()
          return
        }
        stats[Stat.dropLocal]!++
        sendIcmp6Error(inPort, Icmpv6.Type.DestinationUnreachable, Icmpv6.UnreachableCode.Port, 0, b, dstOff)
        return
      }
      if (protocol === IpProtocol.Icmpv6) {
        if (p.icmpType === Icmpv6.Type.EchoRequest) {
          if (!Icmpv6.isChecksumValid(b, l3, p.l4Offset, p.l3End - p.l4Offset)) {
            return void stats[Stat.dropIcmpChecksum]!++
          }
          const ro = ctx.scratch[0]!
          const n = Icmpv6.writeEchoReply(b, ro, b, p)
          if (n > 0) {
            for (let k = 0; k < 6; k++) b[ro + 6 + k] = macs[inPort * 6 + k]!
            if (ctx.send(inPort, ro, n)) stats[Stat.echoReplies]!++
          }
          ctx.flush()
          return
        }
        if (Icmpv6.isError(p.icmpType) && icmpError6(inPort, o, true, now)) return
        return void stats[Stat.dropIcmpUnrelated]!++
      }
      stats[Stat.dropProtocol]!++
      // Parameter problem, unrecognised next header (RFC 8200 §4), pointing at the next-header field.
      sendIcmp6Error(inPort, Icmpv6.Type.ParameterProblem, 1, 6, b, dstOff)
      return
    }
    // Transit: NAT replies from real servers, ICMPv6 errors about connections, plain routing.
    if (!fragment && (protocol === Protocol.TCP || protocol === Protocol.UDP || protocol === Protocol.SCTP)) {
      loadWords(b, srcOff, 0)
      loadWords(b, dstOff, 4)
      const e = conns.lookupOut6(protocol, w6, 0, p.sourcePort, w6, 4, p.destinationPort)
      if (e >= 0 && conns.method(e) === ConnectionFlags.MASQ) {
        return forwardOut6(inPort, o, e, protocol, signalOf(protocol), now)
      }
    } else if (!fragment && protocol === IpProtocol.Icmpv6 && Icmpv6.isError(p.icmpType)) {
      if (icmpError6(inPort, o, false, now)) return
    }
    if (!forwarding) return void stats[Stat.dropNotForUs]!++
    const r = route6(b, dstOff)
    if (r < 0) {
      stats[Stat.dropNoRoute]!++
      const [es, eo] = errorSource6(inPort)
      sendIcmp6Error(inPort, Icmpv6.Type.DestinationUnreachable, Icmpv6.UnreachableCode.NoRoute, 0, es, eo)
      return
    }
    const port = r6Port[r]!
    const l3Length = p.l3End - l3
    if (!fits6(inPort, l3Length, mtus[port]!)) return
    if (!hopLimit6(inPort, l3)) return
    if (output6(o, l3, l3Length, hopArray(r, b), hopOffset(r, dstOff), port, now)) stats[Stat.routed]!++
  }

  /** Unsolicited neighbour advertisements (all-nodes) for owned IPv6 addresses, on ports that own them. */
  const unsolicited6 = (addresses: Uint8Array) => {
    if (ctx.queue !== 0) return
    const o = ctx.scratch[1]!
    for (let i = 0; i < addresses.length; i += 16) {
      for (let port = 0; port < nports; port++) {
        if (!ownsOnPort6(port, addresses, i)) continue
        const n = Ndp.writeUnsolicitedAdvertisement(b, o, portMac[port]!, addresses, i, addresses, i, forwarding)
        if (n > 0 && ctx.send(port, o, n)) stats[Stat.unsolicitedAdvertisements]!++
        ctx.flush()
      }
    }
  }
  /** Starts resolving IPv6 destinations as soon as they are configured. */
  const resolveDestinations6 = () => {
    const now = performance.now()
    for (const d of vst.destinationById) {
      if (d === undefined || !d.linked || d.family !== 6) continue
      const r = route6(d.address6, 0)
      if (r < 0) continue
      const nh = hopArray(r, d.address6)
      const nho = hopOffset(r, 0)
      if (findNeighbour6(nh, nho) >= 0) continue
      const i = insertNeighbour6(nh, nho, r6Port[r]!)
      if (i < 0) continue
      n6Probed[i] = now
      n6Tries[i] = 1
      sendSolicitation(r6Port[r]!, nh, nho)
    }
  }
  const tick6 = (now: number) => {
    for (let i = 0; i < n6High; i++) {
      const st = n6State[i]!
      if (st === N_INCOMPLETE) {
        if (now - n6Probed[i]! > ARP_RETRY_MS) {
          if (n6Tries[i]! >= ARP_TRIES) deleteNeighbour6(i)
          else {
            n6Probed[i] = now
            n6Tries[i]!++
            sendSolicitation(n6Port[i]!, n6Ip, i * 16)
          }
        }
      } else if (st === N_REACHABLE && now - n6Confirmed[i]! > 4 * reachableMs) {
        deleteNeighbour6(i)
      }
    }
  }

  const arp = (port: number, o: number, length: number, now: number) => {
    const a = o + Ethernet.HEADER_LENGTH
    if (Arp.validate(b, a, length - Ethernet.HEADER_LENGTH) !== ParseResult.Ok) return void stats[Stat.dropArp]!++
    const op = Arp.operation(b, a)
    const sender = Arp.senderProtocol(b, a)
    const target = Arp.targetProtocol(b, a)
    const ours = ownsOnPort(port, target)
    // Learn the sender: update a known entry on any ARP; create one when the packet is for us.
    if (sender !== 0) learn(port, sender, a + Arp.SENDER_HARDWARE, ours, now)
    if (op !== Arp.Operation.Request || !ours) return
    // An ARP probe (RFC 5227, sender 0.0.0.0) for our address is answered like any request, to the
    // prober's MAC with target 0.0.0.0 (Linux arp_process): the prober sees the conflict.
    if (sender === 0) stats[Stat.dadDefences]!++
    b.copyWithin(o + Ethernet.DESTINATION, a + Arp.SENDER_HARDWARE, a + Arp.SENDER_HARDWARE + 6)
    for (let k = 0; k < 6; k++) b[o + 6 + k] = macs[port * 6 + k]!
    Frames.writeU16(b, a + Arp.OPERATION, Arp.Operation.Reply)
    b.copyWithin(a + Arp.TARGET_HARDWARE, a + Arp.SENDER_HARDWARE, a + Arp.SENDER_HARDWARE + 6)
    Frames.writeU32(b, a + Arp.TARGET_PROTOCOL, sender)
    for (let k = 0; k < 6; k++) b[a + Arp.SENDER_HARDWARE + k] = macs[port * 6 + k]!
    Frames.writeU32(b, a + Arp.SENDER_PROTOCOL, target)
    if (ctx.send(port, o, Arp.FRAME_LENGTH)) stats[Stat.arpReplies]!++
  }

  const isOurMac = (port: number, o: number): boolean => {
    const m = port * 6
    for (let k = 0; k < 6; k++) if (b[o + k] !== macs[m + k]) return false
    return true
  }

  const gratuitous = (addresses: Iterable<number>) => {
    if (ctx.queue !== 0) return
    const o = ctx.scratch[1]!
    for (const ip of addresses) {
      for (let port = 0; port < nports; port++) {
        if (!ownsOnPort(port, ip)) continue
        const n = Arp.writeGratuitous(b, o, portMac[port]!, ip)
        if (ctx.send(port, o, n)) stats[Stat.gratuitousArps]!++
        ctx.flush()
      }
    }
  }

  /**
   * Starts resolving every destination's next hop as soon as it is configured (the kernel waits for the
   * first packet): the first burst of a new flow then finds the neighbour known.
   */
  const resolveDestinations = () => {
    const now = performance.now()
    for (const d of vst.destinationById) {
      if (d === undefined || !d.linked || d.family !== 4) continue
      const r = route(d.addressValue)
      if (r < 0) continue
      const nextHop = rVia[r] === 0 ? d.addressValue : rVia[r]!
      if (findNeighbour(nextHop) >= 0) continue
      const i = insertNeighbour(nextHop, rPort[r]!)
      if (i < 0) continue
      nProbed[i] = now
      nTries[i] = 1
      sendArpRequest(rPort[r]!, nextHop)
    }
  }

  const applyCommand = (command: VST.Command): void => {
    const before = new Set(local)
    const before6 = local6
    const problem = vst.apply(command)
    if (problem !== undefined) {
      stats[Stat.controlRejected]!++
      ctx.notify({
        _tag: "Log",
        line: `ForwardingHandler: command ${command._tag} rejected: ${problem}`
      } satisfies Event)
      return
    }
    stats[Stat.controlApplied]!++
    rebuild()
    resolveDestinations()
    resolveDestinations6()
    if (options.gratuitousArp ?? true) {
      gratuitous([...local].filter((a) => !before.has(a)))
      const fresh: Array<number> = []
      for (let i = 0; i < local6.length; i += 16) {
        let known = false
        for (let j = 0; j < before6.length; j += 16) if (same16(local6, i, before6, j)) known = true
        if (!known) for (let k = 0; k < 16; k++) fresh.push(local6[i + k]!)
      }
      unsolicited6(Uint8Array.from(fresh))
    }
  }

  rebuild()
  if (options.gratuitousArp ?? true) {
    gratuitous(local)
    unsolicited6(local6)
  }
  for (const c of options.commands ?? []) applyCommand(c)

  /** Copies a slot to the shared buffer: traffic counters, and a destination's connection counts. */
  const publishSlot = (slot: number) => {
    const base = counterBase + slot * F
    for (let f = 0; f < VST.Stats.activeConnections; f++) shared[base + f] = counters[slot * F + f]!
    const d = slotDestination[slot]
    if (d !== undefined) {
      shared[base + VST.Stats.activeConnections] = d.destination.activeConnections
      shared[base + VST.Stats.inactiveConnections] = d.destination.inactiveConnections
      shared[base + VST.Stats.persistentConnections] = d.destination.persistentConnections
    }
  }
  const publishDirty = () => {
    for (let i = 0; i < dirtyCount; i++) {
      const slot = dirtyList[i]!
      dirty[slot] = 0
      publishSlot(slot)
    }
    dirtyCount = 0
  }
  /** Every destination (connection counts also change on expiry, with no packet). */
  const publishDestinationCounters = () => {
    for (const d of vst.destinationById) if (d !== undefined) publishSlot(d.slot)
  }

  return {
    onBatch: (batch) => {
      const port = batch.port
      const now = performance.now()
      for (let i = 0; i < batch.count; i++) {
        const o = batch.offsets[i]!
        const length = batch.lengths[i]!
        try {
          if (length < Ethernet.HEADER_LENGTH) {
            stats[Stat.dropMalformed]!++
            continue
          }
          const type = Ethernet.etherType(b, o)
          if (type === Ethernet.EtherType.Arp) arp(port, o, length, now)
          else if (type === Ethernet.EtherType.Ipv6) {
            // Our MAC, or IPv6 multicast (33:33:...: solicited-node groups for NDP).
            if (isOurMac(port, o) || (b[o] === 0x33 && b[o + 1] === 0x33)) ipv6(port, o, length, now)
            else stats[Stat.dropNotForUs]!++
          } else if (!isOurMac(port, o)) stats[Stat.dropNotForUs]!++
          else if (type === Ethernet.EtherType.Ipv4) ipv4(port, o, length, now)
          else stats[Stat.dropEtherType]!++
        } catch {
          stats[Stat.dropHandlerFault]!++
          fragMax = 0
          reassembledL3 = -1
        }
      }
      publishDirty()
    },
    onControl: (message) => {
      const m = message as Control
      if (m._tag === "Command") applyCommand(m.command)
      else if (m._tag === "SetTimeouts") {
        conns.timeouts.setIpvsadm({ tcp: m.tcp ?? 0, tcpfin: m.tcpfin ?? 0, udp: m.udp ?? 0 })
        stats[Stat.controlApplied]!++
      }
    },
    onTick: (now) => {
      conns.advance(now)
      expireFragments(now)
      // Neighbour ageing and resolution retries.
      for (let i = 0; i < NEIGHBOURS; i++) {
        const s = nState[i]!
        if (s === N_INCOMPLETE) {
          if (now - nProbed[i]! > ARP_RETRY_MS) {
            if (nTries[i]! >= ARP_TRIES) deleteNeighbour(i)
            else {
              nProbed[i] = now
              nTries[i]!++
              sendArpRequest(nPort[i]!, nIp[i]!)
            }
          }
        } else if (s === N_REACHABLE && now - nConfirmed[i]! > 4 * reachableMs) {
          deleteNeighbour(i)
        }
      }
      tick6(now)
      publishDirty()
      publishDestinationCounters()
    }
  }
})

/**
 * Reads the neighbour-independent facts tests and listings need from a frame: nothing here is on the hot
 * path. Exposed for tests: the mask of a prefix length.
 *
 * @example
 * ```ts
 * ForwardingHandler.prefixMask(24) // 0xffffff00
 * ```
 */
export const prefixMask = maskOf
