import { ConnectionFlags, ConnectionParams, ConnectionTable, Destinations, Protocol } from "../src/index.ts"

/** A table over real destination counters, deterministic seed. */
export const makeTable = (
  options: Partial<ConnectionTable.Options> = {}
): { table: ConnectionTable.ConnectionTable; counters: Destinations.DestinationCounters } => {
  const counters = Destinations.makeCounters(64)
  const table = ConnectionTable.make({ maxConnections: 10_000, seed: 12345, destinations: counters, ...options })
  return { table, counters }
}

/** IPv4 address from dotted text. */
export const ip = (text: string): number => {
  const [a, b, c, d] = text.split(".").map(Number)
  return ((a! << 24) | (b! << 16) | (c! << 8) | d!) >>> 0
}

export const VIP = ip("207.175.44.110")
export const RIP = ip("192.168.10.1")
export const CIP = ip("10.0.0.2")

/** Connection parameters for client cip:cport -> VIP:80 on destination `dest`. */
export const conn = (
  options: {
    protocol?: number
    client?: number
    clientPort?: number
    virtual?: number
    virtualPort?: number
    destinationAddress?: number
    destinationPort?: number
    destination?: number
    method?: number
    service?: number
  } = {}
): ConnectionParams.ConnectionParams => {
  const p = ConnectionParams.make()
  p.protocol = options.protocol ?? Protocol.TCP
  p.clientAddress = options.client ?? CIP
  p.clientPort = options.clientPort ?? 51234
  p.virtualAddress = options.virtual ?? VIP
  p.virtualPort = options.virtualPort ?? 80
  p.destinationAddress = options.destinationAddress ?? RIP
  p.destinationPort = options.destinationPort ?? 80
  p.destination = options.destination ?? 0
  p.method = options.method ?? ConnectionFlags.MASQ
  p.service = options.service ?? 0
  return p
}
