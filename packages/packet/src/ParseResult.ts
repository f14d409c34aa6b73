/**
 * Result codes of {@link PacketParser.parse}: `Ok` or the first reason a frame was rejected.
 *
 * The kernel drops such frames silently in `ip_rcv_core` / `ipv6_rcv` / the L4 receive paths (with a
 * MIB counter per reason); the codes here play the role of those counters, so a director can count
 * why it dropped something without any exception on the hot path.
 *
 * @module
 */

/**
 * Every parse outcome, as small integers (cheap to return and to use as a counter index).
 *
 * @example
 * ```ts
 * import { PacketParser, ParseResult } from "@lvs-ts/packet"
 * const p = new PacketParser()
 * if (p.parse(frame, 0, frame.length) !== ParseResult.Ok) drops[p.result]++
 * ```
 */
export const ParseResult = {
  /** The frame is well formed as far as it was parsed. */
  Ok: 0,
  /** The buffer ends inside a header (Ethernet, VLAN, ARP, IP, extension header, TCP, UDP, ICMP). */
  Truncated: 1,
  /** The IP version nibble does not match the EtherType (or an IP-in-IP inner header). */
  BadVersion: 2,
  /** IPv4 IHL below 5 (a header shorter than 20 bytes). */
  BadIhl: 3,
  /** IPv4 total length or IPv6 payload length runs past the end of the buffer. */
  TotalLengthBeyondBuffer: 4,
  /** IPv4 total length smaller than the header length the IHL announces. */
  TotalLengthBelowHeader: 5,
  /** An IPv4 option (or an IPv6 hop-by-hop / destination option) runs past its header, or has length < 2. */
  OptionOverrun: 6,
  /** An IPv6 extension header runs past the IPv6 payload. */
  ExtensionHeaderOverrun: 7,
  /** More IPv6 extension headers than the parser walks (a defence against header chains used as a DoS). */
  TooManyExtensionHeaders: 8,
  /** TCP data offset below 5 or beyond the segment. */
  BadDataOffset: 9,
  /** UDP length below 8 or beyond the IP payload. */
  BadUdpLength: 10,
  /** ARP that is not Ethernet/IPv4 (hardware type 1, protocol 0x0800, lengths 6 and 4). */
  UnsupportedArp: 11,
  /** More than two stacked VLAN tags. */
  TooManyVlanTags: 12
} as const

/**
 * One of the {@link ParseResult} codes.
 *
 * @example
 * ```ts
 * const r: ParseResult = ParseResult.Truncated
 * ```
 */
export type ParseResult = (typeof ParseResult)[keyof typeof ParseResult]

const names: ReadonlyArray<string> = Object.keys(ParseResult)

/**
 * The name of a result code, for logs and counters (`"TotalLengthBeyondBuffer"`).
 *
 * @example
 * ```ts
 * parseResultName(ParseResult.BadIhl) // "BadIhl"
 * ```
 */
export const parseResultName = (code: number): string => names[code] ?? `Unknown(${code})`
