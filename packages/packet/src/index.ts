/**
 * @packageDocumentation
 * Zero-copy packet views, rewriting and checksums for a userspace LVS director.
 *
 * Modules are namespaces (`Ipv4.source(frame, l3)`), the parser is a class and the result codes are a
 * const object with a matching type.
 */
export * as Address from "./Address.ts"
export * as Arp from "./Arp.ts"
export * as Checksum from "./Checksum.ts"
export * as Ethernet from "./Ethernet.ts"
export * as Gre from "./Gre.ts"
export * as Gue from "./Gue.ts"
export * as Icmp from "./Icmp.ts"
export * as Icmpv6 from "./Icmpv6.ts"
export { IpProtocol } from "./IpProtocol.ts"
export * as Ipv4 from "./Ipv4.ts"
export * as Ipv6 from "./Ipv6.ts"
export * as Nat from "./Nat.ts"
export * as Ndp from "./Ndp.ts"
export { PacketParser } from "./PacketParser.ts"
export { ParseResult, parseResultName } from "./ParseResult.ts"
export * as Sctp from "./Sctp.ts"
export * as Tcp from "./Tcp.ts"
export * as Tunnel from "./Tunnel.ts"
export * as Udp from "./Udp.ts"
