/**
 * Classic libpcap file format (the `.pcap` tcpdump writes), reader and writer, for the conformance suites.
 *
 * Format: a 24-byte global header (magic 0xa1b2c3d4 for microsecond or 0xa1b23c4d for nanosecond timestamps,
 * in the writer's byte order; version 2.4; snap length; link type) followed by records of a 16-byte header
 * (seconds, sub-second, captured length, original length) and the captured bytes. Test helper: it allocates
 * freely and throws with a message naming the file offset on malformed input.
 *
 * @module
 */

/** Link type of Ethernet II frames (`LINKTYPE_ETHERNET`). */
export const LINKTYPE_ETHERNET = 1

const MAGIC_MICRO = 0xa1b2c3d4
const MAGIC_NANO = 0xa1b23c4d
const GLOBAL_HEADER = 24
const RECORD_HEADER = 16

/** One captured frame. */
export interface PcapRecord {
  /** Index in the file, from 0 (tshark's frame.number minus one). */
  readonly index: number
  readonly seconds: number
  /** Microseconds, or nanoseconds when the file's `nanosecond` flag is set. */
  readonly fraction: number
  /** Length on the wire (`frame.len`); the bytes hold only `data.length` (`frame.cap_len`). */
  readonly originalLength: number
  /** The captured bytes (a copy: tests may rewrite it freely). */
  readonly data: Uint8Array
}

/** A parsed capture file. */
export interface PcapFile {
  readonly linkType: number
  readonly snapLength: number
  readonly nanosecond: boolean
  readonly records: ReadonlyArray<PcapRecord>
}

/**
 * Parses a classic pcap file in either byte order, microsecond or nanosecond resolution.
 *
 * @example
 * ```ts
 * const { records } = readPcap(readFileSync("tcp4-http.pcap"))
 * ```
 */
export const readPcap = (bytes: Uint8Array): PcapFile => {
  if (bytes.length < GLOBAL_HEADER) throw new Error(`pcap: ${bytes.length} bytes, shorter than the 24-byte header`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let little: boolean
  const magicLe = view.getUint32(0, true)
  if (magicLe === MAGIC_MICRO || magicLe === MAGIC_NANO) little = true
  else if (view.getUint32(0, false) === MAGIC_MICRO || view.getUint32(0, false) === MAGIC_NANO) little = false
  else throw new Error(`pcap: bad magic 0x${view.getUint32(0, false).toString(16)} (pcapng is not supported)`)
  const nanosecond = view.getUint32(0, little) === MAGIC_NANO
  const major = view.getUint16(4, little)
  if (major !== 2) throw new Error(`pcap: unsupported version ${major}.${view.getUint16(6, little)}`)
  const snapLength = view.getUint32(16, little)
  const linkType = view.getUint32(20, little) & 0x0fffffff
  const records: Array<PcapRecord> = []
  let offset = GLOBAL_HEADER
  while (offset < bytes.length) {
    if (offset + RECORD_HEADER > bytes.length) {
      throw new Error(`pcap: record header at offset ${offset} truncated (${bytes.length - offset} bytes left)`)
    }
    const seconds = view.getUint32(offset, little)
    const fraction = view.getUint32(offset + 4, little)
    const captured = view.getUint32(offset + 8, little)
    const originalLength = view.getUint32(offset + 12, little)
    const start = offset + RECORD_HEADER
    if (start + captured > bytes.length) {
      throw new Error(`pcap: record ${records.length} at offset ${offset} claims ${captured} bytes, file ends first`)
    }
    // A plain Uint8Array copy: `Buffer#slice` (readFileSync) would return a view that aliases the file bytes.
    const data = new Uint8Array(bytes.subarray(start, start + captured))
    records.push({ index: records.length, seconds, fraction, originalLength, data })
    offset = start + captured
  }
  return { linkType, snapLength, nanosecond, records }
}

/** A frame to write: bytes, and optionally its original length and timestamp. */
export interface PcapFrame {
  readonly data: Uint8Array
  readonly originalLength?: number
  readonly seconds?: number
  readonly microseconds?: number
}

/**
 * Writes frames as a little-endian, microsecond classic pcap file (what tshark and tcpdump read).
 *
 * Frames without a timestamp get 1 µs apart from 2026-01-01 so tshark's frame numbers follow the array order.
 *
 * @example
 * ```ts
 * writeFileSync("out.pcap", writePcap([frame1, frame2]))
 * ```
 */
export const writePcap = (
  frames: ReadonlyArray<Uint8Array | PcapFrame>,
  linkType: number = LINKTYPE_ETHERNET,
  snapLength = 262144
): Uint8Array => {
  const items = frames.map((f) => (f instanceof Uint8Array ? { data: f } : f))
  const total = GLOBAL_HEADER + items.reduce((n, f) => n + RECORD_HEADER + f.data.length, 0)
  const out = new Uint8Array(total)
  const view = new DataView(out.buffer)
  view.setUint32(0, MAGIC_MICRO, true)
  view.setUint16(4, 2, true)
  view.setUint16(6, 4, true)
  view.setUint32(16, snapLength, true)
  view.setUint32(20, linkType, true)
  let offset = GLOBAL_HEADER
  const base = 1767225600 // 2026-01-01T00:00:00Z
  items.forEach((f, i) => {
    view.setUint32(offset, f.seconds ?? base + Math.floor(i / 1_000_000), true)
    view.setUint32(offset + 4, f.microseconds ?? i % 1_000_000, true)
    view.setUint32(offset + 8, f.data.length, true)
    view.setUint32(offset + 12, f.originalLength ?? f.data.length, true)
    out.set(f.data, offset + RECORD_HEADER)
    offset += RECORD_HEADER + f.data.length
  })
  return out
}
