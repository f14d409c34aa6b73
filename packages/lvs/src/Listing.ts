/**
 * `ipvsadm -L -n` style listings of the director's table: the plain table, `--stats` and `--rate`, in
 * ipvsadm 1.31's exact column formats (ipvs.md §5.4).
 *
 * @module
 */

import type * as VST from "./VirtualServiceTable.ts"

/** `a.b.c.d:port`, or `[ipv6]:port` as ipvsadm prints IPv6 addresses. */
const hostPort = (address: string, port: number): string =>
  address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`

/**
 * Cumulative counters of a service or destination (ipvsadm `--stats`).
 *
 * @example
 * ```ts
 * const c: Listing.Counters = { connections: 3, inPackets: 30, outPackets: 20, inBytes: 2000, outBytes: 9000 }
 * ```
 */
export interface Counters {
  readonly connections: number
  readonly inPackets: number
  readonly outPackets: number
  readonly inBytes: number
  readonly outBytes: number
}

/**
 * Estimated rates (ipvsadm `--rate`).
 *
 * @example
 * ```ts
 * const r: Listing.Rates = { cps: 1, inpps: 10, outpps: 8, inbps: 800, outbps: 6400 }
 * ```
 */
export interface Rates {
  readonly cps: number
  readonly inpps: number
  readonly outpps: number
  readonly inbps: number
  readonly outbps: number
}

/**
 * A destination in a snapshot.
 *
 * @example
 * ```ts
 * snapshot.services[0]!.destinations.map((d) => `${d.address}:${d.port} ${d.activeConnections}`)
 * ```
 */
export interface DestinationView {
  readonly address: string
  readonly port: number
  readonly method: VST.Method
  readonly weight: number
  readonly upperThreshold: number
  readonly lowerThreshold: number
  readonly activeConnections: number
  readonly inactiveConnections: number
  readonly persistentConnections: number
  readonly stats: Counters
  readonly rates: Rates
}

/**
 * A service in a snapshot (destinations in list order, newest first, like the kernel).
 *
 * @example
 * ```ts
 * snapshot.services.find((s) => s.port === 80)?.stats.connections
 * ```
 */
export interface ServiceView {
  readonly key: string
  readonly protocol: VST.Protocol | undefined
  readonly address: string | undefined
  readonly port: number
  readonly fwmark: number
  /** Address family (IPv6 fwmark services print `FWM  <mark> IPv6`); default 4. */
  readonly family?: 4 | 6
  readonly scheduler: string
  readonly persistence: VST.Persistence | undefined
  readonly stats: Counters
  readonly rates: Rates
  readonly destinations: ReadonlyArray<DestinationView>
}

const HEADER = "IP Virtual Server version 1.2.1 (size=4096)"
const methodLabel = { nat: "Masq", dr: "Route", tun: "Tunnel", fullnat: "FullNat" } as const

const serviceName = (s: ServiceView): string =>
  s.fwmark !== 0
    ? `FWM  ${s.fwmark}${s.family === 6 ? " IPv6" : ""}`
    : `${(s.protocol ?? "").toUpperCase().padEnd(4)} ${hostPort(s.address ?? "", s.port)}`

const isIpv6 = (s: ServiceView): boolean => s.family === 6 || (s.address ?? "").includes(":")

const serviceLine = (s: ServiceView): string => {
  let line = `${serviceName(s)} ${s.scheduler}`
  if (s.persistence !== undefined) {
    line += ` persistent ${s.persistence.timeout}`
    const mask = s.persistence.netmask
    // ipvsadm: IPv4 " mask a.b.c.d" unless /32; IPv6 " mask <plen>" unless 128.
    if (isIpv6(s) && mask !== undefined && mask.replace("/", "") !== "128") line += ` mask ${mask.replace("/", "")}`
    else if (!isIpv6(s) && mask !== undefined && mask !== "255.255.255.255") line += ` mask ${mask}`
  }
  return line
}

/** ipvsadm's number rendering for --stats / --rate: 9 wide, K/M/G/T above 1e8. */
const render = (n: number): string => {
  const v = Math.floor(n)
  if (v < 1e8) return String(v).padStart(9)
  if (v < 1e9) return `${String(Math.floor(v / 1e3)).padStart(8)}K`
  if (v < 1e11) return `${String(Math.floor(v / 1e6)).padStart(8)}M`
  if (v < 1e14) return `${String(Math.floor(v / 1e9)).padStart(8)}G`
  return `${String(Math.floor(v / 1e12)).padStart(8)}T`
}

/**
 * `ipvsadm -L -n`.
 *
 * @example
 * ```ts
 * console.log(Listing.table(snapshot.services))
 * ```
 */
export const table = (services: ReadonlyArray<ServiceView>): string => {
  const lines = [
    HEADER,
    "Prot LocalAddress:Port Scheduler Flags",
    "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn"
  ]
  for (const s of services) {
    lines.push(serviceLine(s))
    for (const d of s.destinations) {
      lines.push(
        `  -> ${hostPort(d.address, d.port).padEnd(28)} ${methodLabel[d.method].padEnd(7)} ${String(d.weight).padEnd(6)} ${String(
          d.activeConnections
        ).padEnd(10)} ${String(d.inactiveConnections).padEnd(10)}`
      )
    }
  }
  return lines.join("\n")
}

/**
 * `ipvsadm -L -n --stats`.
 *
 * @example
 * ```ts
 * console.log(Listing.stats(snapshot.services))
 * ```
 */
export const stats = (services: ReadonlyArray<ServiceView>): string => {
  const lines = [
    HEADER,
    `${"Prot LocalAddress:Port".padEnd(33)} ${"Conns".padStart(8)} ${"InPkts".padStart(8)} ${"OutPkts".padStart(8)} ${"InBytes".padStart(8)} ${"OutBytes".padStart(8)}`,
    "  -> RemoteAddress:Port"
  ]
  const row = (name: string, c: Counters) =>
    `${name.padEnd(33)}${render(c.connections)}${render(c.inPackets)}${render(c.outPackets)}${render(c.inBytes)}${render(c.outBytes)}`
  for (const s of services) {
    lines.push(row(serviceName(s), s.stats))
    for (const d of s.destinations) lines.push(row(`  -> ${hostPort(d.address, d.port)}`, d.stats))
  }
  return lines.join("\n")
}

/**
 * `ipvsadm -L -n --rate`.
 *
 * @example
 * ```ts
 * console.log(Listing.rate(snapshot.services))
 * ```
 */
export const rate = (services: ReadonlyArray<ServiceView>): string => {
  const lines = [
    HEADER,
    `${"Prot LocalAddress:Port".padEnd(33)} ${"CPS".padStart(8)} ${"InPPS".padStart(8)} ${"OutPPS".padStart(8)} ${"InBPS".padStart(8)} ${"OutBPS".padStart(8)}`,
    "  -> RemoteAddress:Port"
  ]
  const row = (name: string, r: Rates) =>
    `${name.padEnd(33)}${render(r.cps)}${render(r.inpps)}${render(r.outpps)}${render(r.inbps)}${render(r.outbps)}`
  for (const s of services) {
    lines.push(row(serviceName(s), s.rates))
    for (const d of s.destinations) lines.push(row(`  -> ${hostPort(d.address, d.port)}`, d.rates))
  }
  return lines.join("\n")
}
