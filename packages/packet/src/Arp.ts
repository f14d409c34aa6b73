/**
 * ARP for Ethernet/IPv4 (RFC 826): offsets, validation, accessors and builders for requests, replies and
 * gratuitous ARP. A userspace director answers ARP for its VIPs itself (IPVS relies on the kernel for that).
 *
 * Builders write a whole Ethernet frame (14 + 28 = 42 bytes, no padding: the NIC or TAP pads short
 * frames) into a caller-provided buffer and return its length (0 when it does not fit). MACs are 6 bytes at offset 0 of their array.
 *
 * @module
 */
import * as Ethernet from "./Ethernet.ts"
import { copy, read16, read32, write16, write32 } from "./internal/bytes.ts"
import { ParseResult } from "./ParseResult.ts"

/** ARP payload length for Ethernet/IPv4. @example `Arp.LENGTH // 28` */
export const LENGTH = 28
/** Length of a whole ARP frame (Ethernet header + ARP). @example `Arp.FRAME_LENGTH // 42` */
export const FRAME_LENGTH = 42
/** Offset of the hardware type. @example `read16(frame, arp + Arp.HARDWARE_TYPE) // 1` */
export const HARDWARE_TYPE = 0
/** Offset of the protocol type. @example `arp + Arp.PROTOCOL_TYPE` */
export const PROTOCOL_TYPE = 2
/** Offset of the hardware address length. @example `frame[arp + Arp.HARDWARE_LENGTH] // 6` */
export const HARDWARE_LENGTH = 4
/** Offset of the protocol address length. @example `frame[arp + Arp.PROTOCOL_LENGTH] // 4` */
export const PROTOCOL_LENGTH = 5
/** Offset of the operation. @example `Arp.operation(frame, arp)` */
export const OPERATION = 6
/** Offset of the sender MAC. @example `arp + Arp.SENDER_HARDWARE` */
export const SENDER_HARDWARE = 8
/** Offset of the sender IPv4 address. @example `Arp.senderProtocol(frame, arp)` */
export const SENDER_PROTOCOL = 14
/** Offset of the target MAC. @example `arp + Arp.TARGET_HARDWARE` */
export const TARGET_HARDWARE = 18
/** Offset of the target IPv4 address. @example `Arp.targetProtocol(frame, arp)` */
export const TARGET_PROTOCOL = 24

/**
 * ARP operations.
 *
 * @example
 * ```ts
 * Arp.operation(frame, 14) === Arp.Operation.Request
 * ```
 */
export const Operation = {
  Request: 1,
  Reply: 2
} as const

/**
 * Validates the ARP packet at `off` against `available` bytes: 28 bytes, Ethernet (1) / IPv4 (0x0800)
 * with lengths 6 and 4 (what `arp_rcv` accepts on an Ethernet device).
 *
 * @example
 * ```ts
 * Arp.validate(frame, 14, frame.length - 14) // ParseResult.Ok
 * ```
 */
export const validate = (b: Uint8Array, off: number, available: number): ParseResult => {
  if (available < LENGTH) return ParseResult.Truncated
  if (read16(b, off) !== 1 || read16(b, off + 2) !== 0x0800 || b[off + 4] !== 6 || b[off + 5] !== 4) {
    return ParseResult.UnsupportedArp
  }
  return ParseResult.Ok
}

/** Operation. @example `Arp.operation(frame, 14) // 1` */
export const operation = (b: Uint8Array, off: number): number => read16(b, off + OPERATION)
/** Sender IPv4 address. @example `Arp.senderProtocol(frame, 14)` */
export const senderProtocol = (b: Uint8Array, off: number): number => read32(b, off + SENDER_PROTOCOL)
/** Target IPv4 address. @example `Arp.targetProtocol(frame, 14)` */
export const targetProtocol = (b: Uint8Array, off: number): number => read32(b, off + TARGET_PROTOCOL)

/** Writes Ethernet + ARP with the given fields; returns 42. */
const writeFrame = (
  b: Uint8Array,
  off: number,
  ethernetDestination: Uint8Array,
  op: number,
  senderMac: Uint8Array,
  senderIp: number,
  targetMac: Uint8Array,
  targetIp: number
): number => {
  if (off < 0 || off + FRAME_LENGTH > b.length) return 0
  Ethernet.write(b, off, ethernetDestination, senderMac, Ethernet.EtherType.Arp)
  const a = off + Ethernet.HEADER_LENGTH
  write16(b, a, 1)
  write16(b, a + 2, 0x0800)
  b[a + 4] = 6
  b[a + 5] = 4
  write16(b, a + OPERATION, op)
  copy(b, a + SENDER_HARDWARE, senderMac, 0, 6)
  write32(b, a + SENDER_PROTOCOL, senderIp)
  copy(b, a + TARGET_HARDWARE, targetMac, 0, 6)
  write32(b, a + TARGET_PROTOCOL, targetIp)
  return FRAME_LENGTH
}

const zeroMac = new Uint8Array(6)

/**
 * Writes a broadcast "who-has `targetIp` tell `senderIp`" request (target MAC zero, as Linux `arp_send` does).
 *
 * @example
 * ```ts
 * const n = Arp.writeRequest(out, 0, ourMac, ourIp, realServerIp) // 42
 * ```
 */
export const writeRequest = (
  b: Uint8Array,
  off: number,
  senderMac: Uint8Array,
  senderIp: number,
  targetIp: number
): number => writeFrame(b, off, Ethernet.BROADCAST, Operation.Request, senderMac, senderIp, zeroMac, targetIp)

/**
 * Writes a unicast reply "`senderIp` is at `senderMac`" to the requester (`targetMac`, `targetIp`).
 *
 * @example
 * ```ts
 * Arp.writeReply(out, 0, ourMac, vip, requesterMac, requesterIp)
 * ```
 */
export const writeReply = (
  b: Uint8Array,
  off: number,
  senderMac: Uint8Array,
  senderIp: number,
  targetMac: Uint8Array,
  targetIp: number
): number => writeFrame(b, off, targetMac, Operation.Reply, senderMac, senderIp, targetMac, targetIp)

/**
 * Writes a gratuitous ARP announcing `ip` at `mac`, in the form keepalived sends on becoming MASTER:
 * broadcast ARP request, sender = target = `ip`, target MAC ff:ff:ff:ff:ff:ff.
 *
 * @example
 * ```ts
 * Arp.writeGratuitous(out, 0, ourMac, vip)
 * ```
 */
export const writeGratuitous = (b: Uint8Array, off: number, mac: Uint8Array, ip: number): number =>
  writeFrame(b, off, Ethernet.BROADCAST, Operation.Request, mac, ip, Ethernet.BROADCAST, ip)
