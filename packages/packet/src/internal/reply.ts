/**
 * Shared pieces of the reply builders (ICMP errors, echo replies, TCP RST).
 *
 * @internal
 */
import type { PacketParser } from "../PacketParser.ts"

/**
 * Copies the original L2 header (Ethernet + VLAN tags, `p.offset .. p.l3Offset`) to `out` with source and
 * destination MAC swapped, so the reply goes back the way the packet came. Returns the L2 length (0 for
 * a packet parsed with `parseIp`).
 */
export const replyL2 = (out: Uint8Array, outOff: number, frame: Uint8Array, p: PacketParser): number => {
  const n = p.l3Offset - p.offset
  if (n === 0) return 0
  for (let i = 0; i < 6; i++) {
    out[outOff + i] = frame[p.offset + 6 + i]!
    out[outOff + 6 + i] = frame[p.offset + i]!
  }
  for (let i = 12; i < n; i++) out[outOff + i] = frame[p.offset + i]!
  return n
}

/** Byte copy that is correct when `out` and `frame` are different buffers (builders require that). */
export const copyBytes = (out: Uint8Array, d: number, frame: Uint8Array, s: number, n: number): void => {
  for (let i = 0; i < n; i++) out[d + i] = frame[s + i]!
}

let ipId = 0x4c56
/** The next IPv4 identification for a locally generated packet (a simple counter, like a per-host ID). */
export const nextId = (): number => {
  ipId = (ipId + 1) & 0xffff
  return ipId
}
