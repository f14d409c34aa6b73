/**
 * TCP header (RFC 9293): offsets, flags, validation, option iteration, in-place option insert-or-replace
 * (TOA for FULLNAT) and accessors.
 *
 * @module
 */
import * as Checksum from "./Checksum.ts"
import { IpProtocol } from "./IpProtocol.ts"
import * as Ipv4 from "./Ipv4.ts"
import * as Ipv6 from "./Ipv6.ts"
import { copy, read16, read32, write16, write32 } from "./internal/bytes.ts"
import { replyL2 } from "./internal/reply.ts"
import type { PacketParser } from "./PacketParser.ts"
import { ParseResult } from "./ParseResult.ts"

/** Minimum header length. @example `Tcp.HEADER_LENGTH // 20` */
export const HEADER_LENGTH = 20
/** Maximum header length (data offset 15). @example `Tcp.MAX_HEADER_LENGTH // 60` */
export const MAX_HEADER_LENGTH = 60
/** Offset of the source port. @example `Tcp.sourcePort(frame, l4)` */
export const SOURCE_PORT = 0
/** Offset of the destination port. @example `Tcp.destinationPort(frame, l4)` */
export const DESTINATION_PORT = 2
/** Offset of the sequence number. @example `Tcp.sequence(frame, l4)` */
export const SEQUENCE = 4
/** Offset of the acknowledgment number. @example `Tcp.acknowledgment(frame, l4)` */
export const ACKNOWLEDGMENT = 8
/** Offset of the data offset byte (high nibble). @example `frame[l4 + Tcp.DATA_OFFSET] >>> 4` */
export const DATA_OFFSET = 12
/** Offset of the flags byte. @example `frame[l4 + Tcp.FLAGS] & Tcp.Flag.Syn` */
export const FLAGS = 13
/** Offset of the window. @example `Tcp.window(frame, l4)` */
export const WINDOW = 14
/** Offset of the checksum. @example `Tcp.checksum(frame, l4)` */
export const CHECKSUM = 16
/** Offset of the urgent pointer. @example `Tcp.urgentPointer(frame, l4)` */
export const URGENT_POINTER = 18
/** Offset of the first option. @example `l4 + Tcp.OPTIONS` */
export const OPTIONS = 20

/**
 * Flag bits of the flags byte.
 *
 * @example
 * ```ts
 * (Tcp.flags(frame, l4) & (Tcp.Flag.Syn | Tcp.Flag.Ack)) === Tcp.Flag.Syn // a connection request
 * ```
 */
export const Flag = {
  Fin: 0x01,
  Syn: 0x02,
  Rst: 0x04,
  Psh: 0x08,
  Ack: 0x10,
  Urg: 0x20,
  Ece: 0x40,
  Cwr: 0x80
} as const

/**
 * Option kinds the director cares about.
 *
 * @example
 * ```ts
 * Tcp.findOption(frame, l4, Tcp.OptionKind.Mss)
 * ```
 */
export const OptionKind = {
  EndOfList: 0,
  NoOperation: 1,
  Mss: 2,
  WindowScale: 3,
  SackPermitted: 4,
  Sack: 5,
  Timestamp: 8,
  /** TOA (TCP Option Address, alibaba/LVS FULLNAT, DPVS): port + IPv4 (length 8) or IPv6 (length 20). */
  Toa: 254
} as const

/** Length of the IPv4 TOA option. @example `Tcp.TOA_LENGTH // 8` */
export const TOA_LENGTH = 8

/**
 * Length of the IPv6 TOA option: kind 254, length 20 = 2-byte port + 16-byte IPv6 address (the layout of
 * DPVS's and the Huawei/alibaba `toa.ko` `toa_ip6_data`, `TCPOLEN_IP6_TOA`).
 *
 * @example
 * ```ts
 * Tcp.TOA6_LENGTH // 20
 * ```
 */
export const TOA6_LENGTH = 20

/**
 * Failures of {@link setOption}, all negative (a non-negative result is the number of bytes the packet grew).
 *
 * @example
 * ```ts
 * const grew = Tcp.setToa(frame, 14, 34, clientPort, clientAddr)
 * if (grew === Tcp.SetOptionResult.NoSpaceInHeader) { ... }
 * ```
 */
export const SetOptionResult = {
  /** The option does not fit in the 40-byte option area. */
  NoSpaceInHeader: -1,
  /** The buffer has no spare room after the packet to grow it. */
  NoRoomInBuffer: -2,
  /** The existing options are malformed (a length byte < 2 or past the header). */
  MalformedOptions: -3,
  /** An option of that kind exists with a different length. */
  LengthMismatch: -4,
  /** The packet is an IPv4/IPv6 fragment: growing it would break reassembly. */
  Fragmented: -5
} as const

/**
 * Validates the header at `l4` against `available` bytes of segment (from `l4`): 20 bytes present,
 * data offset >= 5 and inside the segment (`tcp_v4_rcv` checks). Options are checked by {@link validateOptions}.
 *
 * @example
 * ```ts
 * Tcp.validate(frame, 34, ipEnd - 34) // ParseResult.Ok
 * ```
 */
export const validate = (b: Uint8Array, l4: number, available: number): ParseResult => {
  if (available < HEADER_LENGTH) return ParseResult.Truncated
  const hl = (b[l4 + DATA_OFFSET]! >>> 4) << 2
  if (hl < HEADER_LENGTH || hl > available) return ParseResult.BadDataOffset
  return ParseResult.Ok
}

/**
 * Walks the options of a validated header: every option other than EOL/NOP has a length >= 2 that
 * stays inside the header.
 *
 * @example
 * ```ts
 * Tcp.validateOptions(frame, 34) // ParseResult.Ok or ParseResult.OptionOverrun
 * ```
 */
export const validateOptions = (b: Uint8Array, l4: number): ParseResult => {
  const end = l4 + headerLength(b, l4)
  let i = l4 + OPTIONS
  while (i < end) {
    const kind = b[i]!
    if (kind === 0) break
    if (kind === 1) {
      i++
      continue
    }
    if (i + 1 >= end) return ParseResult.OptionOverrun
    const len = b[i + 1]!
    if (len < 2 || i + len > end) return ParseResult.OptionOverrun
    i += len
  }
  return ParseResult.Ok
}

/** Skips NOPs from `i`; returns the offset of the next real option, or -1 at EOL / end / a malformed option. */
const settle = (b: Uint8Array, i: number, end: number): number => {
  while (i < end && b[i] === 1) i++
  if (i >= end || b[i] === 0) return -1
  if (i + 1 >= end) return -1
  const len = b[i + 1]!
  return len < 2 || i + len > end ? -1 : i
}

/**
 * Offset of the first option (NOPs skipped), or -1 when there is none. With {@link nextOption} this
 * iterates the options without allocating; a malformed option ends the iteration (use
 * {@link validateOptions} to tell the difference). `b[o]` is the kind, `b[o + 1]` the length.
 *
 * @example
 * ```ts
 * for (let o = Tcp.firstOption(frame, l4); o >= 0; o = Tcp.nextOption(frame, l4, o)) console.log(frame[o])
 * ```
 */
export const firstOption = (b: Uint8Array, l4: number): number => settle(b, l4 + OPTIONS, l4 + headerLength(b, l4))

/**
 * Offset of the option after the one at `option`, or -1.
 *
 * @example
 * ```ts
 * const second = Tcp.nextOption(frame, l4, Tcp.firstOption(frame, l4))
 * ```
 */
export const nextOption = (b: Uint8Array, l4: number, option: number): number =>
  settle(b, option + b[option + 1]!, l4 + headerLength(b, l4))

/**
 * Offset of the first option of `kind`, or -1.
 *
 * @example
 * ```ts
 * const mss = Tcp.findOption(frame, l4, Tcp.OptionKind.Mss)
 * if (mss >= 0) console.log((frame[mss + 2]! << 8) | frame[mss + 3]!)
 * ```
 */
export const findOption = (b: Uint8Array, l4: number, kind: number): number => {
  for (let o = firstOption(b, l4); o >= 0; o = nextOption(b, l4, o)) if (b[o] === kind) return o
  return -1
}

/** Sum of the 16-bit words (aligned to the TCP header) covering `[from, to)`, `to` aligned. */
const regionSum = (b: Uint8Array, l4: number, from: number, to: number): number => {
  const start = l4 + ((from - l4) & ~1)
  return Checksum.sum(b, start, to - start, 0)
}

/**
 * Inserts or replaces the option `kind` (`dataLength` bytes of `data` at `dataOffset` after the kind and
 * length bytes) in the TCP segment at `l4` of the IP packet at `l3`, in place.
 *
 * - An existing option of that kind and length is overwritten.
 * - Otherwise the option is appended after the last option, using the padding of the option area when
 *   it fits; else the header grows by a multiple of 4 bytes: the payload is moved towards the end of
 *   the buffer (the buffer needs that much spare room after the IP packet), and the data offset and the
 *   IPv4 total length (with header checksum) or IPv6 payload length are updated.
 * - The TCP checksum is updated incrementally (RFC 1624 over the changed words; moving the payload by
 *   a multiple of 4 does not change its sum).
 *
 * Returns the number of bytes the IP packet grew (0 or more), or a negative {@link SetOptionResult}.
 * This is how alibaba/LVS FULLNAT and DPVS insert TOA into a SYN or the first data segment.
 *
 * @example
 * ```ts
 * const grew = Tcp.setOption(frame, 14, 34, 254, toaData, 0, 6)
 * if (grew >= 0) frameLength += grew
 * ```
 */
export const setOption = (
  b: Uint8Array,
  l3: number,
  l4: number,
  kind: number,
  data: Uint8Array,
  dataOffset: number,
  dataLength: number
): number => {
  const v4 = b[l3]! >>> 4 === 4
  if (v4 ? (read16(b, l3 + 6) & 0x3fff) !== 0 : false) return SetOptionResult.Fragmented
  const ipEnd = v4 ? l3 + read16(b, l3 + 2) : l3 + 40 + read16(b, l3 + 4)
  const hl = headerLength(b, l4)
  const optEnd = l4 + hl
  if (hl < HEADER_LENGTH || optEnd > ipEnd) return SetOptionResult.MalformedOptions
  if (dataLength < 0 || dataLength > MAX_HEADER_LENGTH - HEADER_LENGTH - 2) return SetOptionResult.NoSpaceInHeader
  const len = dataLength + 2
  // Find an existing option of `kind` and the end of the last real option.
  let used = l4 + OPTIONS
  let i = used
  while (i < optEnd) {
    const k = b[i]!
    if (k === 0) break
    if (k === 1) {
      i++
      used = i
      continue
    }
    if (i + 1 >= optEnd) return SetOptionResult.MalformedOptions
    const l = b[i + 1]!
    if (l < 2 || i + l > optEnd) return SetOptionResult.MalformedOptions
    if (k === kind) {
      if (l !== len) return SetOptionResult.LengthMismatch
      const before = regionSum(b, l4, i, i + len + ((i + len - l4) & 1))
      copy(b, i + 2, data, dataOffset, dataLength)
      const after = regionSum(b, l4, i, i + len + ((i + len - l4) & 1))
      write16(b, l4 + CHECKSUM, Checksum.updateSum(read16(b, l4 + CHECKSUM), before, after))
      return 0
    }
    i += l
    used = i
  }
  if (used - l4 + len > MAX_HEADER_LENGTH) return SetOptionResult.NoSpaceInHeader
  const newHl = (used - l4 + len + 3) & ~3
  const grow = newHl > hl ? newHl - hl : 0
  if (grow > 0) {
    if (ipEnd + grow > b.length) return SetOptionResult.NoRoomInBuffer
    if (!v4 && hasFragmentHeader(b, l3, l4)) return SetOptionResult.Fragmented
  }
  const segmentLength = ipEnd - l4
  const oldSum = regionSum(b, l4, used, optEnd) + read16(b, l4 + DATA_OFFSET) + segmentLength
  if (grow > 0) b.copyWithin(optEnd + grow, optEnd, ipEnd)
  const newEnd = l4 + newHl
  b[used] = kind
  b[used + 1] = len
  copy(b, used + 2, data, dataOffset, dataLength)
  for (let z = used + len; z < newEnd; z++) b[z] = 0
  b[l4 + DATA_OFFSET] = ((newHl >>> 2) << 4) | (b[l4 + DATA_OFFSET]! & 0x0f)
  const newSum = regionSum(b, l4, used, newEnd) + read16(b, l4 + DATA_OFFSET) + segmentLength + grow
  write16(b, l4 + CHECKSUM, Checksum.updateSum(read16(b, l4 + CHECKSUM), oldSum, newSum))
  if (grow > 0) {
    if (v4) {
      const oldTotal = read16(b, l3 + 2)
      write16(b, l3 + 2, oldTotal + grow)
      write16(b, l3 + 10, Checksum.update16(read16(b, l3 + 10), oldTotal, oldTotal + grow))
    } else {
      write16(b, l3 + 4, read16(b, l3 + 4) + grow)
    }
  }
  return grow
}

/** True when an IPv6 fragment header sits between the fixed header and `l4` (a cheap re-walk). */
const hasFragmentHeader = (b: Uint8Array, l3: number, l4: number): boolean => {
  let next = b[l3 + 6]!
  let i = l3 + 40
  while (i < l4) {
    if (next === IpProtocol.Fragment) return true
    const h = next
    next = b[i]!
    i += h === IpProtocol.Ah ? (b[i + 1]! + 2) << 2 : (b[i + 1]! + 1) << 3
  }
  return false
}

const toaScratch = new Uint8Array(6)

/**
 * Inserts or replaces the IPv4 TOA option (kind 254, length 8: client port + client IPv4 address), as
 * FULLNAT does so the real server can learn the client address. See {@link setOption} for the result.
 *
 * @example
 * ```ts
 * Tcp.setToa(frame, 14, 34, clientPort, clientAddress)
 * ```
 */
export const setToa = (b: Uint8Array, l3: number, l4: number, port: number, address: number): number => {
  write16(toaScratch, 0, port)
  write32(toaScratch, 2, address)
  return setOption(b, l3, l4, OptionKind.Toa, toaScratch, 0, 6)
}

const toa6Scratch = new Uint8Array(18)

/**
 * Inserts or replaces the IPv6 TOA option (kind 254, length 20: client port + the 16 bytes of the client's
 * IPv6 address at `address[addressOffset]`), as FULLNAT over IPv6 does (DPVS; `toa.ko` with IPv6). The
 * option takes 20 of the 40 option bytes: a Linux SYN (MSS, SACK permitted, timestamps, window scale:
 * 20 bytes) still fits exactly. See {@link setOption} for the result.
 *
 * @example
 * ```ts
 * Tcp.setToa6(frame, 14, 54, clientPort, frame, 14 + Ipv6.SOURCE) // before the source is rewritten
 * ```
 */
export const setToa6 = (
  b: Uint8Array,
  l3: number,
  l4: number,
  port: number,
  address: Uint8Array,
  addressOffset: number
): number => {
  write16(toa6Scratch, 0, port)
  copy(toa6Scratch, 2, address, addressOffset, 16)
  return setOption(b, l3, l4, OptionKind.Toa, toa6Scratch, 0, 18)
}

/** Source port. @example `Tcp.sourcePort(frame, 34)` */
export const sourcePort = (b: Uint8Array, l4: number): number => read16(b, l4)
/** Destination port. @example `Tcp.destinationPort(frame, 34)` */
export const destinationPort = (b: Uint8Array, l4: number): number => read16(b, l4 + DESTINATION_PORT)
/** Sequence number (unsigned). @example `Tcp.sequence(frame, 34)` */
export const sequence = (b: Uint8Array, l4: number): number => read32(b, l4 + SEQUENCE)
/** Acknowledgment number (unsigned). @example `Tcp.acknowledgment(frame, 34)` */
export const acknowledgment = (b: Uint8Array, l4: number): number => read32(b, l4 + ACKNOWLEDGMENT)
/** Header length in bytes (data offset * 4). @example `Tcp.headerLength(frame, 34) // 20` */
export const headerLength = (b: Uint8Array, l4: number): number => (b[l4 + DATA_OFFSET]! >>> 4) << 2
/** Flags byte (see {@link Flag}). @example `Tcp.flags(frame, 34) & Tcp.Flag.Syn` */
export const flags = (b: Uint8Array, l4: number): number => b[l4 + FLAGS]!
/** Window. @example `Tcp.window(frame, 34)` */
export const window = (b: Uint8Array, l4: number): number => read16(b, l4 + WINDOW)
/** Checksum field. @example `Tcp.checksum(frame, 34)` */
export const checksum = (b: Uint8Array, l4: number): number => read16(b, l4 + CHECKSUM)
/** Urgent pointer. @example `Tcp.urgentPointer(frame, 34)` */
export const urgentPointer = (b: Uint8Array, l4: number): number => read16(b, l4 + URGENT_POINTER)

/**
 * Writes the source port (no checksum change; `Nat` does the checksum-aware rewrite).
 *
 * @example
 * ```ts
 * Tcp.setSourcePort(frame, 34, 80)
 * ```
 */
export const setSourcePort = (b: Uint8Array, l4: number, port: number): void => write16(b, l4, port)
/**
 * Writes the destination port (no checksum change).
 *
 * @example
 * ```ts
 * Tcp.setDestinationPort(frame, 34, 8080)
 * ```
 */
export const setDestinationPort = (b: Uint8Array, l4: number, port: number): void =>
  write16(b, l4 + DESTINATION_PORT, port)

/**
 * Recomputes and stores the checksum of the segment at `l4` (length `l4Length`) inside the IP packet at `l3`.
 *
 * @example
 * ```ts
 * Tcp.updateChecksum(frame, 14, 34, 20)
 * ```
 */
export const updateChecksum = (b: Uint8Array, l3: number, l4: number, l4Length: number): void => {
  b[l4 + CHECKSUM] = 0
  b[l4 + CHECKSUM + 1] = 0
  write16(b, l4 + CHECKSUM, Checksum.transport(b, l3, l4, IpProtocol.Tcp, l4Length))
}

/**
 * True when the segment checksum verifies.
 *
 * @example
 * ```ts
 * Tcp.isChecksumValid(frame, 14, 34, 20)
 * ```
 */
export const isChecksumValid = (b: Uint8Array, l3: number, l4: number, l4Length: number): boolean =>
  Checksum.transport(b, l3, l4, IpProtocol.Tcp, l4Length) === 0

/**
 * Writes the RST that answers the parsed TCP segment `p` (in `frame`) into `out` and returns its length,
 * or 0 when `p` is not a TCP segment, `out` is too small, or `p` is itself a RST (never answer a RST). RFC 9293 §3.10.7.1 / Linux
 * `tcp_v4_send_reset`: if the segment has ACK, `seq = SEG.ACK` and flags RST; otherwise `seq = 0`,
 * `ack = SEG.SEQ + SEG.LEN` (SYN and FIN count one) and flags RST|ACK. Addresses and ports are swapped,
 * the L2 header is kept with MACs swapped, TTL/hop limit 64, window 0. IPv4 and IPv6.
 *
 * @example
 * ```ts
 * const n = Tcp.writeReset(out, 0, frame, p)
 * if (n > 0) send(out.subarray(0, n))
 * ```
 */
export const writeReset = (out: Uint8Array, outOff: number, frame: Uint8Array, p: PacketParser): number => {
  if (p.protocol !== IpProtocol.Tcp || p.sourcePort < 0) return 0
  const f = p.tcpFlags
  if ((f & Flag.Rst) !== 0) return 0
  const v4 = p.ipVersion === 4
  const hl = v4 ? 20 : 40
  if (outOff + (p.l3Offset - p.offset) + hl + HEADER_LENGTH > out.length) return 0
  const l2 = replyL2(out, outOff, frame, p)
  const l3 = outOff + l2
  if (v4) {
    Ipv4.write(
      out,
      l3,
      0,
      hl + HEADER_LENGTH,
      0,
      Ipv4.FLAG_DF,
      64,
      IpProtocol.Tcp,
      Ipv4.destination(frame, p.l3Offset),
      Ipv4.source(frame, p.l3Offset)
    )
  } else {
    Ipv6.write(
      out,
      l3,
      0,
      0,
      HEADER_LENGTH,
      IpProtocol.Tcp,
      64,
      frame,
      p.l3Offset + Ipv6.DESTINATION,
      frame,
      p.l3Offset + Ipv6.SOURCE
    )
  }
  const l4 = l3 + hl
  const i = p.l4Offset
  write16(out, l4, p.destinationPort)
  write16(out, l4 + DESTINATION_PORT, p.sourcePort)
  if ((f & Flag.Ack) !== 0) {
    write32(out, l4 + SEQUENCE, read32(frame, i + ACKNOWLEDGMENT))
    write32(out, l4 + ACKNOWLEDGMENT, 0)
    out[l4 + FLAGS] = Flag.Rst
  } else {
    const segLen = p.l3End - p.payloadOffset + ((f & Flag.Syn) !== 0 ? 1 : 0) + ((f & Flag.Fin) !== 0 ? 1 : 0)
    write32(out, l4 + SEQUENCE, 0)
    write32(out, l4 + ACKNOWLEDGMENT, (read32(frame, i + SEQUENCE) + segLen) >>> 0)
    out[l4 + FLAGS] = Flag.Rst | Flag.Ack
  }
  out[l4 + DATA_OFFSET] = 5 << 4
  write16(out, l4 + WINDOW, 0)
  write16(out, l4 + URGENT_POINTER, 0)
  updateChecksum(out, l3, l4, HEADER_LENGTH)
  return l2 + hl + HEADER_LENGTH
}
