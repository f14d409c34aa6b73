import { Destination, DestinationPool, type DestinationPoolOptions, type Pick } from "@lvs-ts/schedulers"

/** A scratch "packet": source address at 0, destination address at 16 (IPv4 uses the first 4 bytes of each). */
export const packet = new Uint8Array(32)
const view = new DataView(packet.buffer)

/** Writes IPv4 addresses into the scratch packet. */
export const setV4 = (src: number, dst: number): void => {
  view.setUint32(0, src >>> 0)
  view.setUint32(16, dst >>> 0)
}

/** Writes IPv6 addresses (4 words each) into the scratch packet. */
export const setV6 = (src: ReadonlyArray<number>, dst: ReadonlyArray<number>): void => {
  for (let i = 0; i < 4; i++) {
    view.setUint32(i * 4, src[i]! >>> 0)
    view.setUint32(16 + i * 4, dst[i]! >>> 0)
  }
}

/** Picks for an IPv4 flow. */
export const pickV4 = (pool: DestinationPool, src = 0, dst = 0, sport = 0, now = 0): Pick => {
  setV4(src, dst)
  return pool.pick(packet, 0, 16, sport, now)
}

/** A label for a pick: the destination's port (tests give each destination a distinct port) or the message. */
export const label = (r: Pick): string | number => (r._tag === "Destination" ? r.port : r.message)

/** Builds a pool and adds destinations one at a time (so the LAST one given is the list head). */
export const poolOf = (
  options: DestinationPoolOptions,
  weights: ReadonlyArray<number>
): { pool: DestinationPool; dests: Array<Destination> } => {
  const pool = new DestinationPool(options)
  const dests = weights.map((w, i) => {
    const d = new Destination(4, 0x0a000001 + i, 0, 0, 0, 1000 + i)
    pool.add(d, { weight: w })
    return d
  })
  return { pool, dests }
}
