// The benchmarks' common table: `size` TCP connections to VIP:80 from distinct clients (address from the index,
// random port), each inserted with a SYN and the director's clock tick (advance() every 1024 inserts), then any
// running index resize finished, so lookups are measured on a settled table.
import {
  ConnectionFlags,
  ConnectionParams,
  ConnectionTable,
  Destinations,
  Direction,
  Protocol,
  TcpState
} from "../src/index.ts"

/** The virtual address every benchmark connection goes to (port 80). */
export const VIP = 0xcfaf2c6e

/** The parameters of every benchmark connection but its client and destination: TCP to VIP:80, NAT. */
export const connectionParams = (): ConnectionParams.ConnectionParams => {
  const p = ConnectionParams.make()
  p.protocol = Protocol.TCP
  p.virtualAddress = VIP
  p.virtualPort = 80
  p.destinationPort = 80
  p.method = ConnectionFlags.MASQ
  return p
}

/** A filled, settled table with the clients and ports of its connections (entry i: clients[i]:ports[i] -> VIP:80). */
export interface FilledTable {
  readonly table: ConnectionTable.ConnectionTable
  readonly clients: Uint32Array
  readonly ports: Uint16Array
}

/** Builds the table; `next` draws the client ports (one call per connection, in order). */
export const filledTable = (size: number, maxConnections: number, next: () => number): FilledTable => {
  const table = ConnectionTable.make({ maxConnections, seed: 42, destinations: Destinations.makeCounters(256) })
  const p = connectionParams()
  const clients = new Uint32Array(size)
  const ports = new Uint16Array(size)
  let now = 0
  for (let i = 0; i < size; i++) {
    clients[i] = (0x0a000000 + i * 7) >>> 0
    ports[i] = 1024 + (next() % 60000)
    p.clientAddress = clients[i]!
    p.clientPort = ports[i]!
    p.destination = i & 255
    p.destinationAddress = 0xc0a80a00 + (i & 255)
    table.packet(table.insert(p, now), Direction.INPUT, TcpState.SYN, 60, now)
    if ((i & 0x3ff) === 0) table.advance(++now)
  }
  while (table.rehashing) table.advance(now)
  return { table, clients, ports }
}
