/**
 * Minimal Ethernet / ARP / IPv4 / ICMP offsets and helpers for the L2 responder and tests, until the
 * packet package's header views cover them. All functions work in place on a byte array at an offset.
 *
 * @internal
 */
import { Address, Checksum } from "@lvs-ts/packet"

export const ETH_HEADER = 14
export const ETHERTYPE_IPV4 = 0x0800
export const ETHERTYPE_ARP = 0x0806
export const ARP_LENGTH = 28
export const ARP_REQUEST = 1
export const ARP_REPLY = 2
export const IPPROTO_ICMP = 1
export const ICMP_ECHO_REPLY = 0
export const ICMP_ECHO_REQUEST = 8

/** Parses dotted-quad IPv4 into a uint32; `undefined` when malformed. */
export const parseIpv4 = (text: string): number | undefined => {
  const parts = text.split(".")
  if (parts.length !== 4) return undefined
  let out = 0
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined
    const n = Number(part)
    if (n > 255) return undefined
    out = out * 256 + n
  }
  return out
}

/** Parses IPv6 text into 16 bytes; `undefined` when malformed (control plane only: it allocates). */
export const parseIpv6 = (text: string): Uint8Array | undefined => {
  if (!text.includes(":")) return undefined
  try {
    return Address.parseIpv6(text)
  } catch {
    return undefined
  }
}

/** 16 address bytes as four big-endian words (conntrack's IPv6 layout). */
export const ipv6Words = (bytes: Uint8Array): Uint32Array => {
  const w = new Uint32Array(4)
  for (let i = 0; i < 4; i++) w[i] = readU32(bytes, i * 4)
  return w
}

export const formatIpv4 = (value: number): string =>
  `${value >>> 24}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`

export const readU32 = (b: Uint8Array, o: number): number =>
  ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0

export const writeU32 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v >>> 24
  b[o + 1] = (v >>> 16) & 0xff
  b[o + 2] = (v >>> 8) & 0xff
  b[o + 3] = v & 0xff
}

export const readU16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!

export const writeU16 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v >>> 8
  b[o + 1] = v & 0xff
}

/** Writes an Ethernet header. */
export const writeEthernet = (b: Uint8Array, o: number, dst: Uint8Array, src: Uint8Array, type: number): void => {
  b.set(dst, o)
  b.set(src, o + 6)
  writeU16(b, o + 12, type)
}

/** Builds a whole ARP frame (Ethernet + ARP, 42 bytes) into `b` at `o`; returns its length. */
export const writeArp = (
  b: Uint8Array,
  o: number,
  op: number,
  ethDst: Uint8Array,
  senderMac: Uint8Array,
  senderIp: number,
  targetMac: Uint8Array,
  targetIp: number
): number => {
  writeEthernet(b, o, ethDst, senderMac, ETHERTYPE_ARP)
  const a = o + ETH_HEADER
  writeU16(b, a, 1) // hardware type Ethernet
  writeU16(b, a + 2, ETHERTYPE_IPV4)
  b[a + 4] = 6
  b[a + 5] = 4
  writeU16(b, a + 6, op)
  b.set(senderMac, a + 8)
  writeU32(b, a + 14, senderIp)
  b.set(targetMac, a + 18)
  writeU32(b, a + 24, targetIp)
  return ETH_HEADER + ARP_LENGTH
}

/** Builds Ethernet + IPv4 + ICMP echo (request or reply) with `payload` bytes of pattern; returns length. */
export const writeIcmpEcho = (
  b: Uint8Array,
  o: number,
  type: number,
  ethDst: Uint8Array,
  ethSrc: Uint8Array,
  srcIp: number,
  dstIp: number,
  id: number,
  seq: number,
  payload: number
): number => {
  writeEthernet(b, o, ethDst, ethSrc, ETHERTYPE_IPV4)
  const ip = o + ETH_HEADER
  const total = 20 + 8 + payload
  b[ip] = 0x45
  b[ip + 1] = 0
  writeU16(b, ip + 2, total)
  writeU16(b, ip + 4, seq & 0xffff)
  writeU16(b, ip + 6, 0x4000)
  b[ip + 8] = 64
  b[ip + 9] = IPPROTO_ICMP
  writeU16(b, ip + 10, 0)
  writeU32(b, ip + 12, srcIp)
  writeU32(b, ip + 16, dstIp)
  writeU16(b, ip + 10, Checksum.compute(b, ip, 20))
  const icmp = ip + 20
  b[icmp] = type
  b[icmp + 1] = 0
  writeU16(b, icmp + 2, 0)
  writeU16(b, icmp + 4, id)
  writeU16(b, icmp + 6, seq)
  for (let i = 0; i < payload; i++) b[icmp + 8 + i] = i & 0xff
  writeU16(b, icmp + 2, Checksum.compute(b, icmp, 8 + payload))
  return ETH_HEADER + total
}
