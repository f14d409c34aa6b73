/**
 * Ethernet frames around VRRP: adverts (Ethernet + IPv4/IPv6 + VRRP) with the virtual router MAC
 * 00:00:5e:00:01:VRID (IPv6: 00:00:5e:00:02:VRID, RFC 5798 §7.3), gratuitous ARP requests in
 * keepalived's observed form ("who-has VIP tell VIP", target MAC ff:ff:ff:ff:ff:ff, reference §2.9)
 * and unsolicited neighbour advertisements for IPv6 VIPs.
 *
 * @module
 */
import { Arp, Checksum, Ethernet } from "@lvs-ts/packet"
import * as Address from "./Address.ts"
import type * as Advert from "./Advert.ts"
import * as Datagram from "./Datagram.ts"

/**
 * Offsets in the Ethernet II header.
 *
 * @example
 * ```ts
 * const etherType = (frame[Frame.EthernetOffset.etherType] << 8) | frame[Frame.EthernetOffset.etherType + 1]
 * ```
 */
export const EthernetOffset = {
  destination: Ethernet.DESTINATION,
  source: Ethernet.SOURCE,
  etherType: Ethernet.ETHER_TYPE
} as const
/**
 * Ethernet II header length (no VLAN tag).
 *
 * @example
 * ```ts
 * const ip = frame.subarray(Frame.ETHERNET_HEADER_LENGTH)
 * ```
 */
export const ETHERNET_HEADER_LENGTH = Ethernet.HEADER_LENGTH
/**
 * EtherTypes used here.
 *
 * @example
 * ```ts
 * etherType === Frame.EtherType.arp
 * ```
 */
export const EtherType = { ipv4: 0x0800, arp: 0x0806, ipv6: 0x86dd } as const
/**
 * Offsets in an Ethernet/IPv4 ARP packet.
 *
 * @example
 * ```ts
 * const target = Address.format(frame, 14 + Frame.ArpOffset.targetIp, "ipv4")
 * ```
 */
export const ArpOffset = {
  hardwareType: Arp.HARDWARE_TYPE,
  protocolType: Arp.PROTOCOL_TYPE,
  hardwareLength: Arp.HARDWARE_LENGTH,
  protocolLength: Arp.PROTOCOL_LENGTH,
  operation: Arp.OPERATION,
  senderMac: Arp.SENDER_HARDWARE,
  senderIp: Arp.SENDER_PROTOCOL,
  targetMac: Arp.TARGET_HARDWARE,
  targetIp: Arp.TARGET_PROTOCOL
} as const
/**
 * ARP packet length for Ethernet/IPv4.
 *
 * @example
 * ```ts
 * Frame.gratuitousArp(mac, "10.0.0.1").length === 14 + Frame.ARP_LENGTH
 * ```
 */
export const ARP_LENGTH = Arp.LENGTH
/**
 * The Ethernet broadcast address.
 *
 * @example
 * ```ts
 * Frame.formatMac(Frame.BROADCAST) // "ff:ff:ff:ff:ff:ff"
 * ```
 */
export const BROADCAST: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])

/**
 * The virtual router MAC of a VRID: 00:00:5e:00:01:VRID for IPv4, 00:00:5e:00:02:VRID for IPv6.
 *
 * @example
 * ```ts
 * Frame.virtualMac(51, "ipv4") // 00 00 5e 00 01 33
 * ```
 */
export const virtualMac = (vrid: number, family: Address.Family): Uint8Array =>
  new Uint8Array([0x00, 0x00, 0x5e, 0x00, family === "ipv4" ? 0x01 : 0x02, vrid & 0xff])

/**
 * The Ethernet multicast address of an IP multicast group (RFC 1112 §6.4 / RFC 2464 §7).
 *
 * @example
 * ```ts
 * Frame.multicastMac("224.0.0.18") // 01 00 5e 00 00 12
 * ```
 */
export const multicastMac = (group: string): Uint8Array => {
  const v4 = Address.parseIpv4(group)
  if (v4 !== undefined) return new Uint8Array([0x01, 0x00, 0x5e, v4[1]! & 0x7f, v4[2]!, v4[3]!])
  const v6 = Address.parseIpv6(group) ?? new Uint8Array(16)
  return new Uint8Array([0x33, 0x33, v6[12]!, v6[13]!, v6[14]!, v6[15]!])
}

/**
 * Formats a MAC address as `aa:bb:cc:dd:ee:ff`.
 *
 * @example
 * ```ts
 * Frame.formatMac(Frame.BROADCAST) // "ff:ff:ff:ff:ff:ff"
 * ```
 */
export const formatMac = (mac: Uint8Array, offset = 0): string =>
  Array.from(mac.subarray(offset, offset + 6), (b) => b.toString(16).padStart(2, "0")).join(":")

const writeEthernet = (out: Uint8Array, dst: Uint8Array, src: Uint8Array, etherType: number): void => {
  out.set(dst.subarray(0, 6), EthernetOffset.destination)
  out.set(src.subarray(0, 6), EthernetOffset.source)
  out[EthernetOffset.etherType] = etherType >>> 8
  out[EthernetOffset.etherType + 1] = etherType & 0xff
}

/**
 * Addressing of one advert frame.
 *
 * @example
 * ```ts
 * const o: Frame.AdvertFrameOptions = { family: "ipv4", sourceMac: Frame.virtualMac(51, "ipv4"),
 *   destinationMac: Frame.multicastMac("224.0.0.18"), source: "10.9.0.2", destination: "224.0.0.18", ttl: 255, id: 1 }
 * ```
 */
export interface AdvertFrameOptions {
  readonly family: Address.Family
  readonly sourceMac: Uint8Array
  readonly destinationMac: Uint8Array
  readonly source: string
  readonly destination: string
  readonly ttl: number
  readonly id: number
  readonly checksumAsV2?: boolean | undefined
}

/**
 * Builds an advert frame (Ethernet + IP + VRRP) into a new buffer.
 *
 * @example
 * ```ts
 * const f = Frame.advert(advert, { family: "ipv4", sourceMac: Frame.virtualMac(51, "ipv4"),
 *   destinationMac: Frame.multicastMac("224.0.0.18"), source: "10.9.0.2", destination: "224.0.0.18", ttl: 255, id: 1 })
 * ```
 */
export const advert = (a: Advert.AdvertInput, o: AdvertFrameOptions): Uint8Array => {
  const out = new Uint8Array(ETHERNET_HEADER_LENGTH + Datagram.IPV6_HEADER_LENGTH + 8 + 16 * 255 + 8)
  let n: number
  if (o.family === "ipv4") {
    writeEthernet(out, o.destinationMac, o.sourceMac, EtherType.ipv4)
    n = Datagram.encodeIpv4(
      a,
      { source: o.source, destination: o.destination, id: o.id, ttl: o.ttl, checksumAsV2: o.checksumAsV2 },
      out,
      ETHERNET_HEADER_LENGTH
    )
  } else {
    writeEthernet(out, o.destinationMac, o.sourceMac, EtherType.ipv6)
    n = Datagram.encodeIpv6(
      a,
      { source: o.source, destination: o.destination, hopLimit: o.ttl },
      out,
      ETHERNET_HEADER_LENGTH
    )
  }
  return out.slice(0, ETHERNET_HEADER_LENGTH + n)
}

/**
 * A gratuitous ARP request as keepalived sends it: broadcast, "who-has VIP tell VIP", target MAC
 * ff:ff:ff:ff:ff:ff.
 *
 * @example
 * ```ts
 * Frame.gratuitousArp(mac, "10.9.0.101") // 42 bytes
 * ```
 */
export const gratuitousArp = (mac: Uint8Array, address: string): Uint8Array => {
  const ip = Address.parseIpv4(address) ?? new Uint8Array(4)
  const out = new Uint8Array(ETHERNET_HEADER_LENGTH + ARP_LENGTH)
  writeEthernet(out, BROADCAST, mac, EtherType.arp)
  const a = ETHERNET_HEADER_LENGTH
  out[a + ArpOffset.hardwareType + 1] = 1
  out[a + ArpOffset.protocolType] = 0x08
  out[a + ArpOffset.hardwareLength] = 6
  out[a + ArpOffset.protocolLength] = 4
  out[a + ArpOffset.operation + 1] = 1
  out.set(mac.subarray(0, 6), a + ArpOffset.senderMac)
  out.set(ip, a + ArpOffset.senderIp)
  out.set(BROADCAST, a + ArpOffset.targetMac)
  out.set(ip, a + ArpOffset.targetIp)
  return out
}

/** All-nodes multicast, destination of unsolicited NAs. */
const ALL_NODES = "ff02::1"

/**
 * An unsolicited neighbour advertisement (RFC 4861 §7.2.6) for an IPv6 VIP: from the VIP to ff02::1,
 * hop limit 255, Override flag, target link-layer address option.
 *
 * @example
 * ```ts
 * Frame.unsolicitedNa(mac, "2001:db8::100") // 86 bytes
 * ```
 */
export const unsolicitedNa = (mac: Uint8Array, address: string, router = true): Uint8Array => {
  const target = Address.parseIpv6(address) ?? new Uint8Array(16)
  const icmpLength = 24 + 8
  const out = new Uint8Array(ETHERNET_HEADER_LENGTH + Datagram.IPV6_HEADER_LENGTH + icmpLength)
  writeEthernet(out, multicastMac(ALL_NODES), mac, EtherType.ipv6)
  const ip = ETHERNET_HEADER_LENGTH
  out[ip] = 0x60
  out[ip + Datagram.Ipv6Offset.payloadLength + 1] = icmpLength
  out[ip + Datagram.Ipv6Offset.nextHeader] = 58
  out[ip + Datagram.Ipv6Offset.hopLimit] = 255
  out.set(target, ip + Datagram.Ipv6Offset.source)
  out.set(Address.parseIpv6(ALL_NODES)!, ip + Datagram.Ipv6Offset.destination)
  const icmp = ip + Datagram.IPV6_HEADER_LENGTH
  out[icmp] = 136
  out[icmp + 4] = (router ? 0x80 : 0) | 0x20
  out.set(target, icmp + 8)
  out[icmp + 24] = 2
  out[icmp + 25] = 1
  out.set(mac.subarray(0, 6), icmp + 26)
  const acc = Checksum.pseudoHeaderV6(
    out,
    ip + Datagram.Ipv6Offset.source,
    ip + Datagram.Ipv6Offset.destination,
    58,
    icmpLength
  )
  const c = ~Checksum.fold(Checksum.sum(out, icmp, icmpLength, acc)) & 0xffff
  out[icmp + 2] = c >>> 8
  out[icmp + 3] = c & 0xff
  return out
}

/**
 * Extracts a VRRP datagram from an Ethernet frame; `undefined` for anything else (ARP, other protocols).
 *
 * @example
 * ```ts
 * const r = Frame.decode(frame)
 * if (r !== undefined && !("_tag" in r)) engine.receive(r, now)
 * ```
 */
export const decode = (frame: Uint8Array): Datagram.Received | Datagram.Runt | undefined => {
  if (frame.length < ETHERNET_HEADER_LENGTH + 1) return undefined
  const type = (frame[EthernetOffset.etherType]! << 8) | frame[EthernetOffset.etherType + 1]!
  const l3 = ETHERNET_HEADER_LENGTH
  if (type === EtherType.ipv4) {
    if (frame.length < l3 + Datagram.IPV4_HEADER_LENGTH) return undefined
    const proto = frame[l3 + Datagram.Ipv4Offset.protocol]
    if (proto !== 112 && proto !== 51) return undefined
    return Datagram.decodeIpv4(frame, l3, frame.length - l3)
  }
  if (type === EtherType.ipv6) {
    if (frame.length < l3 + Datagram.IPV6_HEADER_LENGTH || frame[l3 + Datagram.Ipv6Offset.nextHeader] !== 112)
      return undefined
    return Datagram.decodeIpv6(frame, l3, frame.length - l3)
  }
  return undefined
}
