/**
 * IPv4 options of an echo reply: what a Linux host puts back in the header when it answers a ping that carried
 * options (RFC 1122 §3.2.2.6: Record Route and Timestamp "SHOULD be updated to include the current host and included
 * in the IP header of the Echo Reply").
 *
 * Linux does this in two steps, and both show in a capture (`ipv4-options.pcap` frames 3-4):
 * - on input, the receiving host records itself in Record Route and Timestamp options that have room
 *   (a Timestamp option without room gets its overflow counter raised instead);
 * - the reply copies only those two options (Record Route first, then Timestamp, then EOL padding to a 4-byte
 *   boundary), and records the host a second time if the option still has room for a whole entry (for Timestamp,
 *   8 bytes, even when the flag asks for timestamps only).
 *
 * @internal
 */
import { read32, write32 } from "./bytes.ts"

const EOL = 0
const NOP = 1
const RECORD_ROUTE = 7
const TIMESTAMP = 68
const LOOSE_SOURCE_ROUTE = 131
const STRICT_SOURCE_ROUTE = 137

const TS_ONLY = 0
const TS_AND_ADDRESS = 1
const TS_PRESPECIFIED = 3

/** Returned when the request must get no reply (a malformed option, a source route, a Timestamp overflow). */
export const REFUSE = -1

/**
 * Writes the reply's options at `out[d..]` for the request header at `frame[l3..l3 + headerLength)` and returns
 * their length (a multiple of 4, 0 when there is nothing to echo) or {@link REFUSE}. `self` is the replying
 * address and `timestamp` the milliseconds since midnight UT that Linux records.
 */
export const writeEchoOptions = (
  out: Uint8Array,
  d: number,
  frame: Uint8Array,
  l3: number,
  headerLength: number,
  self: number,
  timestamp: number
): number => {
  const end = l3 + headerLength
  let rr = -1
  let ts = -1
  let i = l3 + 20
  while (i < end) {
    const kind = frame[i]!
    if (kind === EOL) break
    if (kind === NOP) {
      i++
      continue
    }
    // A source-routed ping is not answered: the director does not honour source routes (a Linux host with
    // accept_source_route 0 drops the request before ICMP sees it).
    if (kind === LOOSE_SOURCE_ROUTE || kind === STRICT_SOURCE_ROUTE) return REFUSE
    if (i + 1 >= end) return REFUSE
    const len = frame[i + 1]!
    if (len < 2 || i + len > end) return REFUSE
    if (kind === RECORD_ROUTE && rr < 0) rr = i
    else if (kind === TIMESTAMP && ts < 0) ts = i
    i += len
  }
  // Everything that refuses the request is decided on the request's bytes before the first byte of the reply is
  // written: a refused request leaves `out` untouched.
  if (rr >= 0 && !recordRouteEchoable(frame, rr)) return REFUSE
  if (ts >= 0 && !timestampEchoable(frame, ts)) return REFUSE
  let o = d
  if (rr >= 0) {
    const n = copyOption(out, o, frame, rr)
    let ptr = out[o + 2]!
    if (ptr <= n) {
      // Input: the host records itself; the reply records it again if another address fits.
      write32(out, o + ptr - 1, self)
      ptr += 4
      if (ptr <= n) {
        write32(out, o + ptr - 1, self)
        ptr += 4
      }
      out[o + 2] = ptr
    }
    o += n
  }
  if (ts >= 0) {
    const n = copyOption(out, o, frame, ts)
    const flag = out[o + 3]! & 0x0f
    let ptr = out[o + 2]!
    let recorded = false
    if (ptr <= n) {
      if (flag === TS_ONLY) {
        write32(out, o + ptr - 1, timestamp)
        ptr += 4
        recorded = true
      } else if (flag === TS_AND_ADDRESS) {
        write32(out, o + ptr - 1, self)
        write32(out, o + ptr + 3, timestamp)
        ptr += 8
        recorded = true
      } else if (read32(out, o + ptr - 1) === self >>> 0) {
        write32(out, o + ptr + 3, timestamp)
        ptr += 8
        recorded = true
      }
    } else {
      // No room: count the overflow (timestampEchoable refused a counter that would wrap).
      out[o + 3] = (((out[o + 3]! >>> 4) + 1) << 4) | flag
    }
    // The reply records the host again only with room for a whole 8-byte entry (Linux asks for 8 whatever the
    // flag, and compares with the option length, so the last 8 bytes of an option are never used here); a pointer
    // past the end is written back as length + 1.
    if (ptr > n) ptr = n + 1
    if (recorded && ptr + 8 <= n) {
      if (flag === TS_ONLY) {
        write32(out, o + ptr - 1, timestamp)
        ptr += 4
      } else if (flag === TS_AND_ADDRESS) {
        write32(out, o + ptr - 1, self)
        write32(out, o + ptr + 3, timestamp)
        ptr += 8
      } else if (read32(out, o + ptr - 1) === self >>> 0) {
        write32(out, o + ptr + 3, timestamp)
        ptr += 8
      }
    }
    out[o + 2] = ptr
    o += n
  }
  while ((o - d) & 3) out[o++] = EOL
  return o - d
}

/**
 * Whether Linux echoes the Record Route option at `frame[i..]`: at least 3 bytes, a pointer of at least 4, and
 * room for a whole address wherever the host records itself (on input, and again in the reply if it fits).
 */
const recordRouteEchoable = (frame: Uint8Array, i: number): boolean => {
  const n = frame[i + 1]!
  let ptr = frame[i + 2]!
  if (n < 3 || ptr < 4) return false
  if (ptr > n) return true
  if (ptr + 3 > n) return false
  ptr += 4
  // Linux refuses to echo a Record Route option whose remaining room is not a whole address.
  return ptr > n || ptr + 3 <= n
}

/**
 * Whether Linux echoes the Timestamp option at `frame[i..]`: at least 4 bytes, a pointer of at least 5, a known
 * flag, room for a whole entry where the host records itself, and an overflow counter that does not wrap.
 */
const timestampEchoable = (frame: Uint8Array, i: number): boolean => {
  const n = frame[i + 1]!
  const ptr = frame[i + 2]!
  const flag = frame[i + 3]! & 0x0f
  if (n < 4 || ptr < 5) return false
  if (flag !== TS_ONLY && flag !== TS_AND_ADDRESS && flag !== TS_PRESPECIFIED) return false
  if (ptr <= n) return ptr + (flag === TS_ONLY ? 3 : 7) <= n
  return (frame[i + 3]! >>> 4) + 1 !== 16
}

const copyOption = (out: Uint8Array, d: number, frame: Uint8Array, s: number): number => {
  const n = frame[s + 1]!
  for (let k = 0; k < n; k++) out[d + k] = frame[s + k]!
  return n
}
