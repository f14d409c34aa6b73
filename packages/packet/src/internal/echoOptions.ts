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
  let o = d
  if (rr >= 0) {
    const n = copyOption(out, o, frame, rr)
    if (n < 3) return REFUSE
    let ptr = out[o + 2]!
    if (ptr < 4) return REFUSE
    if (ptr <= n) {
      if (ptr + 3 > n) return REFUSE
      // Input: the host records itself; the reply records it again if another address fits.
      write32(out, o + ptr - 1, self)
      ptr += 4
      if (ptr <= n) {
        // Linux refuses to echo a Record Route option whose remaining room is not a whole address.
        if (ptr + 3 > n) return REFUSE
        write32(out, o + ptr - 1, self)
        ptr += 4
      }
      out[o + 2] = ptr
    }
    o += n
  }
  if (ts >= 0) {
    const n = copyOption(out, o, frame, ts)
    if (n < 4) return REFUSE
    const flag = out[o + 3]! & 0x0f
    let ptr = out[o + 2]!
    if (ptr < 5) return REFUSE
    if (flag !== TS_ONLY && flag !== TS_AND_ADDRESS && flag !== TS_PRESPECIFIED) return REFUSE
    let recorded = false
    if (ptr <= n) {
      if (ptr + (flag === TS_ONLY ? 3 : 7) > n) return REFUSE
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
      // No room: count the overflow; a counter that would wrap makes the option invalid.
      const overflow = (out[o + 3]! >>> 4) + 1
      if (overflow === 16) return REFUSE
      out[o + 3] = (overflow << 4) | flag
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

const copyOption = (out: Uint8Array, d: number, frame: Uint8Array, s: number): number => {
  const n = frame[s + 1]!
  for (let k = 0; k < n; k++) out[d + k] = frame[s + k]!
  return n
}
