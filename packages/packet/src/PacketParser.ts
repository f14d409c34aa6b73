/**
 * A reusable, allocation-free parser: one per worker, `parse()` once per frame, then read its numeric fields.
 *
 * It plays the part of the kernel's receive path up to IPVS (`eth_type_trans`, `ip_rcv_core` /
 * `ipv6_rcv`, the extension-header walk, `ip_vs_fill_iph_skb`, and for ICMP errors the embedded-header
 * parse of `ip_vs_in_icmp`): it checks every length it relies on, stops at the first problem and says
 * which one in {@link ParseResult}, never throws and never reads outside `[offset, offset + length)`.
 * Checksums are not verified here (see `Ipv4.isChecksumValid`, `Tcp.isChecksumValid`, ...): a forwarder
 * rewrites them incrementally, which preserves an error for the receiver to detect.
 *
 * @module
 */
import * as Arp from "./Arp.ts"
import * as Ethernet from "./Ethernet.ts"
import * as Icmp from "./Icmp.ts"
import * as Icmpv6 from "./Icmpv6.ts"
import { IpProtocol } from "./IpProtocol.ts"
import * as Ipv4 from "./Ipv4.ts"
import * as Ipv6 from "./Ipv6.ts"
import { read16 } from "./internal/bytes.ts"
import { ParseResult } from "./ParseResult.ts"
import * as Sctp from "./Sctp.ts"
import * as Tcp from "./Tcp.ts"
import * as Udp from "./Udp.ts"

/** A walk state for embedded IPv6 headers, so the outer fields are not disturbed. */
class InnerWalk implements Ipv6.ExtensionWalkState {
  protocol = 0
  l4Offset = 0
  fragmentOffset = 0
  moreFragments = false
  fragmentHeaderOffset = -1
}

/**
 * Parses Ethernet (+ up to two VLAN tags) / ARP / IPv4 / IPv6 (+ extension headers) / TCP / UDP /
 * ICMPv4 / ICMPv6 (+ the embedded header of error messages) in place.
 *
 * All fields are numbers or booleans set by every call (offsets are absolute buffer offsets; -1 means
 * "not present"), so the object keeps one hidden class and the hot path stays monomorphic.
 *
 * @example
 * ```ts
 * import { Ipv4, PacketParser, ParseResult } from "@lvs-ts/packet"
 *
 * const parser = new PacketParser()
 * if (parser.parse(frame, 0, frame.length) === ParseResult.Ok && parser.ipVersion === 4) {
 *   console.log(Ipv4.destination(frame, parser.l3Offset), parser.destinationPort)
 * }
 * ```
 */
export class PacketParser implements Ipv6.ExtensionWalkState {
  /** Result of the last parse. */
  result: ParseResult = ParseResult.Ok
  /** Offset of the frame (Ethernet header) or of the IP header for {@link parseIp}. */
  offset = 0
  /** End of the buffer region given to the parser (`offset + length`). */
  end = 0
  /** Number of VLAN tags (0..2). */
  vlanCount = 0
  /** VLAN ID of the outermost tag, -1 when untagged. */
  vlanId = -1
  /** EtherType after the VLAN tags (0x0800, 0x86dd, 0x0806, ...); for {@link parseIp} the implied one. */
  etherType = 0
  /** Offset of the network header (IP or ARP), -1 when none. */
  l3Offset = -1
  /** 4, 6, or 0 when the frame is not IP. */
  ipVersion = 0
  /** IPv4 header length (IHL * 4) or 40 for IPv6. */
  l3HeaderLength = 0
  /** End of the IP packet (l3Offset + total length); Ethernet padding after it is ignored. */
  l3End = 0
  /** Upper-layer protocol (after IPv6 extension headers), -1 when not IP. */
  protocol = -1
  /** True when IPv4 DF is set. */
  dontFragment = false
  /** True when MF (IPv4) / M (IPv6 fragment header) is set. */
  moreFragments = false
  /** Fragment offset in bytes; non-zero means there is no transport header in this packet. */
  fragmentOffset = 0
  /** Offset of the IPv6 fragment header, -1 when none. */
  fragmentHeaderOffset = -1
  /** Offset of the transport header (or of the fragment data of a non-first fragment), -1 when none. */
  l4Offset = -1
  /** Bytes from {@link l4Offset} to {@link l3End}. */
  l4Length = 0
  /** Offset of the transport payload (after TCP/UDP/ICMP headers), -1 when not parsed. */
  payloadOffset = -1
  /** TCP/UDP/SCTP source port, -1 when the packet has none (other protocol, non-first fragment). */
  sourcePort = -1
  /** TCP/UDP/SCTP destination port, -1 when none. */
  destinationPort = -1
  /** TCP flags byte, 0 when not TCP. */
  tcpFlags = 0
  /** ICMP/ICMPv6 type, -1 when not ICMP. */
  icmpType = -1
  /** ICMP/ICMPv6 code, -1 when not ICMP. */
  icmpCode = -1
  /**
   * For ICMP errors: the result of parsing the embedded (quoted) packet, which needs its IP header and
   * the first 8 bytes of its transport header; `ParseResult.Ok` otherwise. Does not affect {@link result}.
   */
  innerResult: ParseResult = ParseResult.Ok
  /** Offset of the embedded IP header of an ICMP error, -1 when none. */
  innerL3Offset = -1
  /** Protocol of the embedded packet, -1 when none. */
  innerProtocol = -1
  /** Offset of the embedded transport header, -1 when none. */
  innerL4Offset = -1
  /** Embedded TCP/UDP source port, -1 when none. */
  innerSourcePort = -1
  /** Embedded TCP/UDP destination port, -1 when none. */
  innerDestinationPort = -1
  /** Fragment offset (bytes) of the embedded packet. */
  innerFragmentOffset = 0

  readonly #inner = new InnerWalk()
  #icmpDirty = false

  /**
   * Parses the Ethernet frame of `length` bytes at `offset` in `buf`. Returns (and stores in
   * {@link result}) `ParseResult.Ok` or the first failure. Non-IP, non-ARP EtherTypes are Ok with
   * `ipVersion` 0 and `l3Offset` at the payload.
   *
   * @example
   * ```ts
   * parser.parse(frame, 0, frame.length) // ParseResult.Ok
   * ```
   */
  parse(buf: Uint8Array, offset: number, length: number): ParseResult {
    // Fast path for the bulk of a director's traffic: untagged Ethernet, IPv4 without options, not a
    // non-first fragment, TCP or UDP. Small enough for V8 to keep in one optimised body; anything it does
    // not fully accept (including every malformed frame) goes through the general path, which is the
    // reference and reports the precise failure (a property test checks that both agree).
    if (length >= 42 && !this.#icmpDirty) {
      const l3 = offset + 14
      const ff = (buf[l3 + 6]! << 8) | buf[l3 + 7]!
      const protocol = buf[l3 + 9]!
      if (
        buf[offset + 12] === 0x08 &&
        buf[offset + 13] === 0x00 &&
        buf[l3] === 0x45 &&
        (ff & Ipv4.OFFSET_MASK) === 0 &&
        (protocol === IpProtocol.Tcp || protocol === IpProtocol.Udp)
      ) {
        const total = (buf[l3 + 2]! << 8) | buf[l3 + 3]!
        const l4 = l3 + 20
        if (total <= length - 14) {
          let headerEnd = -1
          if (protocol === IpProtocol.Tcp) {
            if (total >= 40) {
              const thl = (buf[l4 + 12]! >>> 4) << 2
              if (thl >= 20 && thl <= total - 20) headerEnd = l4 + thl
            }
          } else if (total >= 28) {
            const udpLength = (buf[l4 + 4]! << 8) | buf[l4 + 5]!
            if (udpLength >= 8 && udpLength <= total - 20) headerEnd = l4 + 8
          }
          if (headerEnd >= 0) {
            this.result = ParseResult.Ok
            this.offset = offset
            this.end = offset + length
            this.vlanCount = 0
            this.vlanId = -1
            this.etherType = Ethernet.EtherType.Ipv4
            this.l3Offset = l3
            this.ipVersion = 4
            this.l3HeaderLength = 20
            this.l3End = l3 + total
            this.protocol = protocol
            this.dontFragment = (ff & Ipv4.FLAG_DF) !== 0
            this.moreFragments = (ff & Ipv4.FLAG_MF) !== 0
            this.fragmentOffset = 0
            this.fragmentHeaderOffset = -1
            this.l4Offset = l4
            this.l4Length = total - 20
            this.payloadOffset = headerEnd
            this.sourcePort = (buf[l4]! << 8) | buf[l4 + 1]!
            this.destinationPort = (buf[l4 + 2]! << 8) | buf[l4 + 3]!
            this.tcpFlags = protocol === IpProtocol.Tcp ? buf[l4 + Tcp.FLAGS]! : 0
            return ParseResult.Ok
          }
        }
      }
    }
    return this.parseFrame(buf, offset, length)
  }

  /** The general Ethernet path (VLAN tags, ARP, IPv6, options, fragments, UDP, ICMP, failures). */
  private parseFrame(buf: Uint8Array, offset: number, length: number): ParseResult {
    this.reset(offset, offset + length)
    const end = offset + length
    if (length < Ethernet.HEADER_LENGTH) return this.fail(ParseResult.Truncated)
    let at = offset + Ethernet.ETHER_TYPE
    let type = read16(buf, at)
    if (type === Ethernet.EtherType.Vlan || type === Ethernet.EtherType.QinQ) {
      if (at + 6 > end) return this.fail(ParseResult.Truncated)
      this.vlanId = read16(buf, at + 2) & 0x0fff
      this.vlanCount = 1
      at += 4
      type = read16(buf, at)
      if (type === Ethernet.EtherType.Vlan || type === Ethernet.EtherType.QinQ) {
        if (at + 6 > end) return this.fail(ParseResult.Truncated)
        this.vlanCount = 2
        at += 4
        type = read16(buf, at)
        if (type === Ethernet.EtherType.Vlan || type === Ethernet.EtherType.QinQ) {
          return this.fail(ParseResult.TooManyVlanTags)
        }
      }
    }
    const l3 = at + 2
    this.etherType = type
    this.l3Offset = l3
    if (type === Ethernet.EtherType.Ipv4) return this.ipv4(buf, l3, end)
    if (type === Ethernet.EtherType.Ipv6) return this.ipv6(buf, l3, end)
    this.resetL3()
    if (type === Ethernet.EtherType.Arp) {
      const r = Arp.validate(buf, l3, end - l3)
      return r === ParseResult.Ok ? r : this.fail(r)
    }
    return ParseResult.Ok
  }

  /**
   * Parses a bare IP packet (version from the first nibble) of `length` bytes at `offset`: for tunnel
   * payloads after decapsulation, or TUN devices.
   *
   * @example
   * ```ts
   * inner.parseIp(frame, outer.l4Offset, outer.l4Length) // the IPIP payload
   * ```
   */
  parseIp(buf: Uint8Array, offset: number, length: number): ParseResult {
    this.reset(offset, offset + length)
    this.l3Offset = offset
    if (length < 1) return this.fail(ParseResult.Truncated)
    const v = buf[offset]! >>> 4
    if (v === 4) {
      this.etherType = Ethernet.EtherType.Ipv4
      return this.ipv4(buf, offset, offset + length)
    }
    if (v === 6) {
      this.etherType = Ethernet.EtherType.Ipv6
      return this.ipv6(buf, offset, offset + length)
    }
    return this.fail(ParseResult.BadVersion)
  }

  /** Fields every parse sets before looking at L3. */
  private reset(offset: number, end: number): void {
    this.result = ParseResult.Ok
    this.offset = offset
    this.end = end
    this.vlanCount = 0
    this.vlanId = -1
    this.etherType = 0
    this.l3Offset = -1
    // ICMP and embedded-header fields are only written for ICMP packets: reset them only when dirty.
    if (this.#icmpDirty) {
      this.#icmpDirty = false
      this.icmpType = -1
      this.icmpCode = -1
      this.innerResult = ParseResult.Ok
      this.innerL3Offset = -1
      this.innerProtocol = -1
      this.innerL4Offset = -1
      this.innerSourcePort = -1
      this.innerDestinationPort = -1
      this.innerFragmentOffset = 0
    }
  }

  /**
   * Resets the L3/L4 fields. The IPv4 + TCP fast path assigns every one of them itself and skips this
   * (14 stores fewer per packet); every other path, failures included, calls it first.
   */
  private resetL3(): void {
    this.ipVersion = 0
    this.l3HeaderLength = 0
    this.l3End = 0
    this.protocol = -1
    this.dontFragment = false
    this.moreFragments = false
    this.fragmentOffset = 0
    this.fragmentHeaderOffset = -1
    this.l4Offset = -1
    this.l4Length = 0
    this.payloadOffset = -1
    this.sourcePort = -1
    this.destinationPort = -1
    this.tcpFlags = 0
  }

  private fail(r: ParseResult): ParseResult {
    this.resetL3()
    this.result = r
    return r
  }

  private ipv4(buf: Uint8Array, l3: number, end: number): ParseResult {
    // Ipv4.validate, inlined for the hot path (same checks, same order).
    const available = end - l3
    if (available < Ipv4.HEADER_LENGTH) return this.fail(ParseResult.Truncated)
    const vihl = buf[l3]!
    if (vihl >>> 4 !== 4) return this.fail(ParseResult.BadVersion)
    const hl = (vihl & 0x0f) << 2
    if (hl < Ipv4.HEADER_LENGTH) return this.fail(ParseResult.BadIhl)
    if (hl > available) return this.fail(ParseResult.Truncated)
    const total = (buf[l3 + 2]! << 8) | buf[l3 + 3]!
    if (total > available) return this.fail(ParseResult.TotalLengthBeyondBuffer)
    if (total < hl) return this.fail(ParseResult.TotalLengthBelowHeader)
    if (hl > Ipv4.HEADER_LENGTH) {
      const r = Ipv4.validateOptions(buf, l3, hl)
      if (r !== ParseResult.Ok) return this.fail(r)
    }
    const l3End = l3 + total
    const ff = (buf[l3 + 6]! << 8) | buf[l3 + 7]!
    const protocol = buf[l3 + Ipv4.PROTOCOL]!
    const l4 = l3 + hl
    const fragmentOffset = (ff & Ipv4.OFFSET_MASK) << 3
    if (protocol === IpProtocol.Tcp && fragmentOffset === 0) {
      // Fast path: Tcp.validate inlined, every L3/L4 field assigned exactly once.
      if (l3End - l4 < Tcp.HEADER_LENGTH) return this.fail(ParseResult.Truncated)
      const thl = (buf[l4 + Tcp.DATA_OFFSET]! >>> 4) << 2
      if (thl < Tcp.HEADER_LENGTH || thl > l3End - l4) return this.fail(ParseResult.BadDataOffset)
      this.ipVersion = 4
      this.l3HeaderLength = hl
      this.l3End = l3End
      this.protocol = protocol
      this.dontFragment = (ff & Ipv4.FLAG_DF) !== 0
      this.moreFragments = (ff & Ipv4.FLAG_MF) !== 0
      this.fragmentOffset = 0
      this.fragmentHeaderOffset = -1
      this.l4Offset = l4
      this.l4Length = l3End - l4
      this.payloadOffset = l4 + thl
      this.sourcePort = (buf[l4]! << 8) | buf[l4 + 1]!
      this.destinationPort = (buf[l4 + 2]! << 8) | buf[l4 + 3]!
      this.tcpFlags = buf[l4 + Tcp.FLAGS]!
      return ParseResult.Ok
    }
    this.resetL3()
    this.ipVersion = 4
    this.l3HeaderLength = hl
    this.l3End = l3End
    this.protocol = protocol
    this.dontFragment = (ff & Ipv4.FLAG_DF) !== 0
    this.moreFragments = (ff & Ipv4.FLAG_MF) !== 0
    this.fragmentOffset = fragmentOffset
    this.l4Offset = l4
    this.l4Length = l3End - l4
    if (fragmentOffset !== 0) return ParseResult.Ok
    return this.transport(buf, l4, l3End)
  }

  private ipv6(buf: Uint8Array, l3: number, end: number): ParseResult {
    const r = Ipv6.validate(buf, l3, end - l3)
    if (r !== ParseResult.Ok) return this.fail(r)
    this.resetL3()
    const l3End = l3 + Ipv6.HEADER_LENGTH + read16(buf, l3 + Ipv6.PAYLOAD_LENGTH)
    this.ipVersion = 6
    this.l3HeaderLength = Ipv6.HEADER_LENGTH
    this.l3End = l3End
    const next = buf[l3 + Ipv6.NEXT_HEADER]!
    if (next === IpProtocol.Tcp || next === IpProtocol.Udp || next === IpProtocol.Icmpv6) {
      // Fast path: no extension headers.
      this.protocol = next
      this.l4Offset = l3 + Ipv6.HEADER_LENGTH
    } else {
      const w = Ipv6.walkExtensions(buf, l3, l3End, this)
      if (w !== ParseResult.Ok) return this.fail(w)
    }
    this.l4Length = l3End - this.l4Offset
    if (this.fragmentOffset !== 0) return ParseResult.Ok
    return this.transport(buf, this.l4Offset, l3End)
  }

  private transport(buf: Uint8Array, l4: number, l3End: number): ParseResult {
    const p = this.protocol
    const available = l3End - l4
    if (p === IpProtocol.Tcp) {
      const r = Tcp.validate(buf, l4, available)
      if (r !== ParseResult.Ok) return this.fail(r)
      this.sourcePort = read16(buf, l4)
      this.destinationPort = read16(buf, l4 + 2)
      this.tcpFlags = buf[l4 + Tcp.FLAGS]!
      this.payloadOffset = l4 + ((buf[l4 + Tcp.DATA_OFFSET]! >>> 4) << 2)
      return ParseResult.Ok
    }
    if (p === IpProtocol.Udp) {
      const r = Udp.validate(buf, l4, available)
      if (r !== ParseResult.Ok) return this.fail(r)
      this.sourcePort = read16(buf, l4)
      this.destinationPort = read16(buf, l4 + 2)
      this.payloadOffset = l4 + Udp.HEADER_LENGTH
      return ParseResult.Ok
    }
    if (p === IpProtocol.Icmp || p === IpProtocol.Icmpv6) {
      if (available < Icmp.HEADER_LENGTH) return this.fail(ParseResult.Truncated)
      const type = buf[l4]!
      this.#icmpDirty = true
      this.icmpType = type
      this.icmpCode = buf[l4 + 1]!
      this.payloadOffset = l4 + Icmp.HEADER_LENGTH
      if (p === IpProtocol.Icmp && this.ipVersion === 4 && Icmp.isError(type)) {
        this.embeddedV4(buf, l4 + Icmp.EMBEDDED, l3End)
      } else if (p === IpProtocol.Icmpv6 && this.ipVersion === 6 && Icmpv6.isError(type)) {
        this.embeddedV6(buf, l4 + Icmpv6.EMBEDDED, l3End)
      }
      return ParseResult.Ok
    }
    if (p === IpProtocol.Sctp) {
      if (available < Sctp.HEADER_LENGTH) return this.fail(ParseResult.Truncated)
      this.sourcePort = read16(buf, l4)
      this.destinationPort = read16(buf, l4 + 2)
      this.payloadOffset = l4 + Sctp.HEADER_LENGTH
      return ParseResult.Ok
    }
    // Tunnels (IPIP, IPv6, GRE), ESP, ...: the caller reads l4Offset with the matching module.
    this.payloadOffset = l4
    return ParseResult.Ok
  }

  private embeddedV4(buf: Uint8Array, at: number, end: number): void {
    this.innerL3Offset = at
    if (end - at < Ipv4.HEADER_LENGTH) {
      this.innerResult = ParseResult.Truncated
      return
    }
    const vihl = buf[at]!
    if (vihl >>> 4 !== 4) {
      this.innerResult = ParseResult.BadVersion
      return
    }
    const hl = (vihl & 0x0f) << 2
    if (hl < Ipv4.HEADER_LENGTH) {
      this.innerResult = ParseResult.BadIhl
      return
    }
    if (at + hl > end) {
      this.innerResult = ParseResult.Truncated
      return
    }
    this.innerProtocol = buf[at + Ipv4.PROTOCOL]!
    this.innerFragmentOffset = (read16(buf, at + Ipv4.FLAGS_FRAGMENT) & Ipv4.OFFSET_MASK) << 3
    this.embeddedTransport(buf, at + hl, end)
  }

  private embeddedV6(buf: Uint8Array, at: number, end: number): void {
    this.innerL3Offset = at
    if (end - at < Ipv6.HEADER_LENGTH) {
      this.innerResult = ParseResult.Truncated
      return
    }
    if (buf[at]! >>> 4 !== 6) {
      this.innerResult = ParseResult.BadVersion
      return
    }
    const w = this.#inner
    // The quoted packet is usually cut short: walk only as far as the quote goes.
    const r = Ipv6.walkExtensions(buf, at, end, w)
    if (r !== ParseResult.Ok) {
      this.innerResult = r
      return
    }
    this.innerProtocol = w.protocol
    this.innerFragmentOffset = w.fragmentOffset
    if (w.fragmentOffset !== 0) {
      this.innerL4Offset = w.l4Offset
      return
    }
    this.embeddedTransport(buf, w.l4Offset, end)
  }

  private embeddedTransport(buf: Uint8Array, l4: number, end: number): void {
    this.innerL4Offset = l4
    if (end - l4 < 8) {
      this.innerResult = ParseResult.Truncated
      return
    }
    const p = this.innerProtocol
    if (p === IpProtocol.Tcp || p === IpProtocol.Udp || p === IpProtocol.Sctp) {
      this.innerSourcePort = read16(buf, l4)
      this.innerDestinationPort = read16(buf, l4 + 2)
    }
  }
}
