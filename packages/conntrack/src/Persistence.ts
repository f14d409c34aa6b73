/**
 * Persistence templates (ip_vs_sched_persist): per-port (PPC), per-client across ports (PCC, service port 0) and
 * firewall-mark persistence, with persistence_granularity netmasks, template validity checks and the
 * template -> connection control link.
 *
 * @module
 */
import * as ConnectionFlags from "./ConnectionFlags.ts"
import * as ConnectionParams from "./ConnectionParams.ts"
import type { ConnectionTable } from "./ConnectionTable.ts"
import * as Protocol from "./Protocol.ts"

/**
 * schedule() result: the scheduler found no destination (the caller sends ICMP port unreachable, see ip_vs_leave).
 *
 * @example
 * ```ts
 * if (Persistence.schedule(table, svc, conn, chooser, now) === Persistence.NO_DESTINATION) sendUnreachable()
 * ```
 */
export const NO_DESTINATION = -3

/** The FTP control port: its templates use vport 0 so data connections share them. @example `Persistence.FTP_PORT // 21` */
export const FTP_PORT = 21

/**
 * What the table needs to know about a persistent service (ipvsadm -p / -M / -f).
 *
 * @example
 * ```ts
 * const svc: Persistence.PersistentService = {
 *   service: 0, fwmark: 0, virtualPort: 80, timeout: 360_000, netmask: 0xffffff00, prefixLength: 128
 * }
 * ```
 */
export interface PersistentService {
  /** Service id. */
  readonly service: number
  /** Firewall mark of a fwmark service, 0 otherwise (templates then use protocol IP and the mark as address). */
  readonly fwmark: number
  /** Service port; 0 for port-zero services (PCC) and fwmark services. */
  readonly virtualPort: number
  /** Persistence timeout in ms (-p seconds * 1000). */
  readonly timeout: number
  /** IPv4 persistence granularity (-M), e.g. 0xffffff00; 0xffffffff for per-client. */
  readonly netmask: number
  /** IPv6 persistence prefix length (-M for IPv6 services), 128 for per-client. */
  readonly prefixLength: number
}

/**
 * The scheduler side, implemented by the director (an object, so calls allocate nothing).
 *
 * @example
 * ```ts
 * const chooser: Persistence.DestinationChooser = {
 *   choose(service, conn) { conn.destination = 0; conn.destinationAddress = 0xc0a80a01; conn.destinationPort = 80; conn.method = ConnectionFlags.MASQ; return true },
 *   describe(dest, conn) { conn.destinationAddress = 0xc0a80a01; conn.destinationPort = 80; conn.method = ConnectionFlags.MASQ }
 * }
 * ```
 */
export interface DestinationChooser {
  /**
   * Runs the service's scheduler; on success fills conn.destination, destinationAddress (or destinationAddress6),
   * destinationPort (the destination's configured port) and method, and returns true.
   */
  choose(service: number, conn: ConnectionParams.ConnectionParams): boolean
  /** Fills the same fields for a known destination id (a template hit). */
  describe(destination: number, conn: ConnectionParams.ConnectionParams): void
}

const scratch = ConnectionParams.make()

/**
 * Schedules a new connection on a persistent service. `conn` must hold the packet's protocol, addresses and ports
 * (virtualAddress/Port = the packet's destination) and `service`; on return it also holds the destination, and the
 * connection entry index is returned (or NO_DESTINATION, ConnectionTable.FULL, ConnectionTable.INVALID).
 *
 * A valid template for <protocol | IP, client & mask, 0, VIP | fwmark, vport | 0> supplies the destination
 * (whatever its weight or OVERLOAD, unless expire_quiescent_template) and is re-armed; otherwise the scheduler runs
 * and a new template with the service's timeout is created. The connection gets control = template.
 *
 * @example
 * ```ts
 * const entry = Persistence.schedule(table, svc, conn, chooser, now)
 * ```
 */
export const schedule = (
  table: ConnectionTable,
  svc: PersistentService,
  conn: ConnectionParams.ConnectionParams,
  chooser: DestinationChooser,
  now: number
): number => {
  const tp = scratch.reset()
  fillTemplateKey(svc, conn, tp)
  let t = conn.ipv6
    ? table.lookupTemplate6(tp.protocol, tp.clientAddress6, 0, tp.virtualAddress6, 0, tp.virtualPort)
    : table.lookupTemplate(tp.protocol, tp.clientAddress, tp.virtualAddress, tp.virtualPort)
  const portMatches = conn.virtualPort === svc.virtualPort
  if (t >= 0 && table.checkTemplate(t, -1)) {
    const dest = table.destination(t)
    conn.destination = dest
    chooser.describe(dest, conn)
    table.touch(t, now)
  } else {
    if (!chooser.choose(svc.service, conn)) return NO_DESTINATION
    tp.service = svc.service
    tp.destination = conn.destination
    tp.method = conn.method
    tp.destinationAddress = conn.destinationAddress
    tp.destinationAddress6.set(conn.destinationAddress6)
    tp.destinationPort = portMatches && svc.virtualPort !== FTP_PORT ? conn.destinationPort : 0
    tp.flags = ConnectionFlags.TEMPLATE
    tp.timeout = svc.timeout
    t = table.insert(tp, now)
    if (t < 0) return t
  }
  // Port-zero and fwmark services forward to the packet's own port; the destination's port only applies when the
  // packet's port is the service port.
  if (!portMatches) conn.destinationPort = conn.virtualPort
  conn.control = t
  return table.insert(conn, now)
}

/**
 * Fills `out` with the template key for a connection of `conn` on `svc`: protocol (IP for fwmark), client address
 * masked by the granularity, client port 0, VIP (or the fwmark in the first address word), vport (0 for port-zero,
 * fwmark and FTP services).
 *
 * @example
 * ```ts
 * Persistence.fillTemplateKey(svc, conn, scratch)
 * table.lookupTemplate(scratch.protocol, scratch.clientAddress, scratch.virtualAddress, scratch.virtualPort)
 * ```
 */
export const fillTemplateKey = (
  svc: PersistentService,
  conn: ConnectionParams.ConnectionParams,
  out: ConnectionParams.ConnectionParams
): void => {
  out.protocol = svc.fwmark !== 0 ? Protocol.IP : conn.protocol
  out.ipv6 = conn.ipv6
  out.clientPort = 0
  out.virtualPort = svc.fwmark !== 0 || svc.virtualPort === 0 || svc.virtualPort === FTP_PORT ? 0 : svc.virtualPort
  if (conn.ipv6) {
    let bits = svc.prefixLength
    for (let w = 0; w < 4; w++) {
      const keep = bits >= 32 ? 32 : Math.max(bits, 0)
      const mask = keep === 0 ? 0 : keep === 32 ? 0xffffffff : (0xffffffff << (32 - keep)) >>> 0
      out.clientAddress6[w] = (conn.clientAddress6[w]! & mask) >>> 0
      bits -= 32
    }
    if (svc.fwmark !== 0) {
      out.virtualAddress6.fill(0)
      out.virtualAddress6[0] = svc.fwmark >>> 0
    } else {
      out.virtualAddress6.set(conn.virtualAddress6)
    }
  } else {
    out.clientAddress = (conn.clientAddress & svc.netmask) >>> 0
    out.virtualAddress = svc.fwmark !== 0 ? svc.fwmark >>> 0 : conn.virtualAddress >>> 0
  }
}
