/**
 * Connection listings: rows of the kernel's /proc/net/ip_vs_conn, `ipvsadm -Lc` rows, and a structured row for
 * other views (control plane; these allocate strings).
 *
 * @module
 */
import { Address } from "@lvs-ts/packet"
import * as ConnectionFlags from "./ConnectionFlags.ts"
import type { ConnectionTable } from "./ConnectionTable.ts"
import * as Protocol from "./Protocol.ts"

/**
 * The /proc/net/ip_vs_conn header line (without newline).
 *
 * @example
 * ```ts
 * Listing.PROC_HEADER.startsWith("Pro FromIP") // true
 * ```
 */
export const PROC_HEADER = "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData"

/**
 * The two header lines of `ipvsadm -L -c`.
 *
 * @example
 * ```ts
 * Listing.IPVSADM_HEADER[1] // "pro expire state       source             virtual            destination"
 * ```
 */
export const IPVSADM_HEADER: ReadonlyArray<string> = [
  "IPVS connection entries",
  "pro expire state       source             virtual            destination"
]

const hex = (value: number, width: number): string => value.toString(16).toUpperCase().padStart(width, "0")

const words = new Uint32Array(4)

const ipv6Full = (w: Uint32Array): string => {
  const groups: Array<string> = []
  for (let i = 0; i < 4; i++) {
    groups.push((w[i]! >>> 16).toString(16).padStart(4, "0"), (w[i]! & 0xffff).toString(16).padStart(4, "0"))
  }
  return groups.join(":")
}

// Listings are not on the packet path: format through packet's RFC 5952 formatter via one scratch buffer.
const ipv6Scratch = new Uint8Array(16)
const ipv6Short = (w: Uint32Array): string => {
  for (let i = 0; i < 4; i++) {
    const v = w[i]!
    ipv6Scratch[4 * i] = v >>> 24
    ipv6Scratch[4 * i + 1] = (v >>> 16) & 0xff
    ipv6Scratch[4 * i + 2] = (v >>> 8) & 0xff
    ipv6Scratch[4 * i + 3] = v & 0xff
  }
  return Address.formatIpv6(ipv6Scratch, 0)
}

/**
 * Dotted-quad text of an IPv4 address number.
 *
 * @example
 * ```ts
 * Listing.ipv4(0xc0a80a01) // "192.168.10.1"
 * ```
 */
export const ipv4 = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`

/** Seconds left before the entry expires, as the kernel prints them (floor, never negative). */
const expiresIn = (table: ConnectionTable, entry: number, now: number): number =>
  Math.max(0, Math.floor((table.expiresAt(entry) - now) / 1000))

/**
 * One /proc/net/ip_vs_conn row (without newline): "%-3s %08X %04X %08X %04X %08X %04X %-11s %7u", IPv6 addresses
 * in the uncompressed %pI6 form.
 *
 * @example
 * ```ts
 * Listing.procRow(table, entry, now) // "TCP C0A80A02 C822 CFAF2C6E 0050 C0A80A01 0050 ESTABLISHED     899"
 * ```
 */
export const procRow = (table: ConnectionTable, entry: number, now: number): string => {
  let c: string
  let v: string
  let d: string
  if (table.isIpv6(entry)) {
    table.readClientAddress6(entry, words, 0)
    c = ipv6Full(words)
    table.readVirtualAddress6(entry, words, 0)
    v = ipv6Full(words)
    table.readDestinationAddress6(entry, words, 0)
    d = ipv6Full(words)
  } else {
    c = hex(table.clientAddress(entry), 8)
    v = hex(table.virtualAddress(entry), 8)
    d = hex(table.destinationAddress(entry), 8)
  }
  const proto = Protocol.name(table.protocol(entry)).padEnd(3)
  const state = table.stateName(entry).padEnd(11)
  const expires = String(expiresIn(table, entry, now)).padStart(7)
  return `${proto} ${c} ${hex(table.clientPort(entry), 4)} ${v} ${hex(table.virtualPort(entry), 4)} ${d} ${hex(
    table.destinationPort(entry),
    4
  )} ${state} ${expires}`
}

/**
 * The /proc/net/ip_vs_conn_sync header line: the /proc/net/ip_vs_conn columns plus Origin.
 *
 * @example
 * ```ts
 * Listing.PROC_SYNC_HEADER.includes("Origin") // true
 * ```
 */
export const PROC_SYNC_HEADER = "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires"

/**
 * One /proc/net/ip_vs_conn_sync row: like {@link procRow} with the origin ("LOCAL", or "SYNC" for entries created
 * by the sync backup) left-justified in 6 columns before the expiry.
 *
 * @example
 * ```ts
 * Listing.procSyncRow(table, entry, now) // "TCP C0A80A02 C822 CFAF2C6E 0050 C0A80A01 0050 ESTABLISHED LOCAL      899"
 * ```
 */
export const procSyncRow = (table: ConnectionTable, entry: number, now: number): string => {
  const base = procRow(table, entry, now)
  const origin = (table.flags(entry) & ConnectionFlags.SYNC) !== 0 ? "SYNC" : "LOCAL"
  return `${base.slice(0, base.length - 8)} ${origin.padEnd(6)}${base.slice(base.length - 8)}`
}

const endpoint = (ipv6: boolean, address: string, port: number): string =>
  ipv6 ? `[${address}]:${port}` : `${address}:${port}`

/**
 * One `ipvsadm -L -c -n` row: "%-3s %-6s %-11s %-18s %-18s %s", expire as mm:ss (minutes not capped).
 *
 * @example
 * ```ts
 * Listing.ipvsadmRow(table, entry, now) // "TCP 14:58  ESTABLISHED 10.0.0.2:51234     207.175.44.110:80  192.168.10.1:80"
 * ```
 */
export const ipvsadmRow = (table: ConnectionTable, entry: number, now: number): string => {
  const r = row(table, entry, now)
  const expire = `${String(Math.floor(r.expires / 60)).padStart(2, "0")}:${String(r.expires % 60).padStart(2, "0")}`
  return `${r.protocol.padEnd(3)} ${expire.padEnd(6)} ${r.state.padEnd(11)} ${endpoint(r.ipv6, r.client, r.clientPort).padEnd(18)} ${endpoint(r.ipv6, r.virtual, r.virtualPort).padEnd(18)} ${endpoint(r.ipv6, r.destination, r.destinationPort)}`
}

/**
 * Structured view of one entry, for ipvsadm-style and JSON listings.
 *
 * @example
 * ```ts
 * const r: Listing.ConnectionRow = Listing.row(table, entry, now)
 * ```
 */
export interface ConnectionRow {
  readonly protocol: string
  readonly ipv6: boolean
  readonly template: boolean
  readonly state: string
  /** Seconds until expiry. */
  readonly expires: number
  readonly client: string
  readonly clientPort: number
  readonly virtual: string
  readonly virtualPort: number
  readonly destination: string
  readonly destinationPort: number
  readonly service: number
  readonly destinationId: number
  readonly flags: number
  readonly inPackets: number
  readonly outPackets: number
  readonly inBytes: number
  readonly outBytes: number
  /** Templates: connections controlled. */
  readonly controlled: number
}

/**
 * Builds a {@link ConnectionRow} (addresses as text: dotted quad, IPv6 compressed).
 *
 * @example
 * ```ts
 * Listing.row(table, entry, now).state // "ESTABLISHED"
 * ```
 */
export const row = (table: ConnectionTable, entry: number, now: number): ConnectionRow => {
  const ipv6 = table.isIpv6(entry)
  let client: string
  let virtual: string
  let destination: string
  if (ipv6) {
    table.readClientAddress6(entry, words, 0)
    client = ipv6Short(words)
    table.readVirtualAddress6(entry, words, 0)
    virtual = ipv6Short(words)
    table.readDestinationAddress6(entry, words, 0)
    destination = ipv6Short(words)
  } else {
    client = ipv4(table.clientAddress(entry))
    virtual = ipv4(table.virtualAddress(entry))
    destination = ipv4(table.destinationAddress(entry))
  }
  return {
    protocol: Protocol.name(table.protocol(entry)),
    ipv6,
    template: table.isTemplate(entry),
    state: table.stateName(entry),
    expires: expiresIn(table, entry, now),
    client,
    clientPort: table.clientPort(entry),
    virtual,
    virtualPort: table.virtualPort(entry),
    destination,
    destinationPort: table.destinationPort(entry),
    service: table.service(entry),
    destinationId: table.destination(entry),
    flags: table.flags(entry),
    inPackets: table.inPackets(entry),
    outPackets: table.outPackets(entry),
    inBytes: table.inBytes(entry),
    outBytes: table.outBytes(entry),
    controlled: table.controlled(entry)
  }
}
