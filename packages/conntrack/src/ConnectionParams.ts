/**
 * A reusable, mutable description of a new entry: the caller fills one object per worker and passes it to
 * {@link ConnectionTable.ConnectionTable.insert} for every new connection, so creating entries allocates nothing.
 *
 * @module
 */
import * as ConnectionFlags from "./ConnectionFlags.ts"
import * as Destinations from "./Destinations.ts"
import * as Protocol from "./Protocol.ts"

/**
 * Fields of a new connection or template. IPv4 addresses are unsigned 32-bit numbers (network order read as a
 * big-endian integer: 192.168.10.1 = 0xC0A80A01); IPv6 addresses are four such words in the `*6` arrays, used when
 * `ipv6` is true.
 *
 * @example
 * ```ts
 * const p = ConnectionParams.make()
 * p.protocol = Protocol.TCP
 * p.clientAddress = 0x0a000002; p.clientPort = 51234
 * p.virtualAddress = 0xcfaf2c6e; p.virtualPort = 80
 * p.destinationAddress = 0xc0a80a01; p.destinationPort = 80
 * p.method = ConnectionFlags.MASQ; p.service = 0; p.destination = 0
 * const entry = table.insert(p, now)
 * ```
 */
export class ConnectionParams {
  /** IPPROTO_TCP / UDP / SCTP, or IP (0) for firewall-mark templates. */
  protocol: number = Protocol.TCP
  /** IPv6 entry (addresses in the `*6` arrays). */
  ipv6 = false
  clientAddress = 0
  clientPort = 0
  /** The VIP, or the firewall mark for fwmark templates. */
  virtualAddress = 0
  virtualPort = 0
  /** Real server address and port. */
  destinationAddress = 0
  destinationPort = 0
  /** FULLNAT local (source-NAT) address and port; ignored for other methods. */
  localAddress = 0
  localPort = 0
  readonly clientAddress6 = new Uint32Array(4)
  readonly virtualAddress6 = new Uint32Array(4)
  readonly destinationAddress6 = new Uint32Array(4)
  readonly localAddress6 = new Uint32Array(4)
  /** Forwarding method (ConnectionFlags.MASQ, DROUTE, TUNNEL, LOCALNODE, BYPASS, FULLNAT). */
  method: number = ConnectionFlags.MASQ
  /** Extra flags: TEMPLATE, SYNC (with INACTIVE as the master sent it), SEQ bits, NO_CPORT. */
  flags = 0
  /** Service id (0..65535). */
  service = 0
  /** Destination id, or Destinations.NONE for an unbound entry. */
  destination: number = Destinations.NONE
  /** Controlling template (entry index) or -1. */
  control = -1
  /** Initial timeout in ms; 0 means the kernel's 3 s "new entry" timer. Templates pass the persistence timeout. */
  timeout = 0

  /** Resets every field to its default so a reused object carries nothing over. */
  reset(): this {
    this.protocol = Protocol.TCP
    this.ipv6 = false
    this.clientAddress = 0
    this.clientPort = 0
    this.virtualAddress = 0
    this.virtualPort = 0
    this.destinationAddress = 0
    this.destinationPort = 0
    this.localAddress = 0
    this.localPort = 0
    this.clientAddress6.fill(0)
    this.virtualAddress6.fill(0)
    this.destinationAddress6.fill(0)
    this.localAddress6.fill(0)
    this.method = ConnectionFlags.MASQ
    this.flags = 0
    this.service = 0
    this.destination = Destinations.NONE
    this.control = -1
    this.timeout = 0
    return this
  }
}

/**
 * A fresh parameter object with defaults (TCP, IPv4, NAT, unbound, no control, 3 s initial timer).
 *
 * @example
 * ```ts
 * const p = ConnectionParams.make()
 * ```
 */
export const make = (): ConnectionParams => new ConnectionParams()
