/**
 * A frame handler that makes the director's own addresses reachable: it answers ARP requests and ICMP
 * echo requests for the IPv4 addresses configured on each port, announces them with gratuitous ARP at
 * start, and ignores everything else (counting it).
 *
 * Mirrors the kernel's behaviour for local addresses with `arp_ignore=1` (answer only for addresses
 * configured on the receiving interface) and `icmp_echo_ignore_all=0`; replies are built in place in the
 * received frame's slot and written back on the same port, so an answer costs no copy and no allocation.
 * Gratuitous ARP at start is what keepalived and the kernel send when an address is taken over (a request
 * with sender = target = the address, to broadcast).
 *
 * It is the first handler run on the TAP I/O layer: `lvs lab up` uses it to prove the lab's wiring, and
 * the director will embed the same logic in its own handler.
 *
 * @module
 */
import { Arp, Checksum, Ethernet, ParseResult } from "@lvs-ts/packet"
import * as FrameHandler from "./FrameHandler.ts"
import * as Frames from "./internal/Frames.ts"
import * as TapDevice from "./TapDevice.ts"

/**
 * Per-port configuration, index-aligned with the `TapPorts` ports.
 *
 * @example
 * ```ts
 * const client: L2Responder.PortConfig = { mac: "02:00:0a:c8:01:01", addresses: ["10.200.1.1", "10.200.1.100"] }
 * ```
 */
export interface PortConfig {
  /** The director's MAC on this port (the source of its replies), e.g. `"02:00:0a:c8:01:01"`. */
  readonly mac: string
  /** IPv4 addresses the director owns on this port. */
  readonly addresses: ReadonlyArray<string>
}

/**
 * Options passed as `handler.options`.
 *
 * @example
 * ```ts
 * const options: L2Responder.Options = { ports: [client, servers], gratuitousArp: true }
 * ```
 */
export interface Options {
  readonly ports: ReadonlyArray<PortConfig>
  /** Send one gratuitous ARP per address at start. Default true. */
  readonly gratuitousArp?: boolean
}

/**
 * Indices of the responder's counters in `TapPorts.handlerStats`.
 *
 * @example
 * ```ts
 * const stats = yield* ports.handlerStats
 * stats[L2Responder.Stat.echoReplies] // ICMP echo replies sent
 * ```
 */
export const Stat = {
  arpReplies: 0,
  echoReplies: 1,
  gratuitousArps: 2,
  /** Frames not addressed to us or of a protocol we do not answer. */
  ignored: 3,
  /** Truncated frames, bad IPv4 header or ICMP checksums, fragments. */
  malformed: 4,
  /** ARP requests for addresses we do not own on that port. */
  arpNotOurs: 5
} as const

/**
 * URL of this module, to pass as `TapPorts` `handler.module`.
 *
 * @example
 * ```ts
 * TapPorts.make({ ports, handler: { module: L2Responder.handlerModule, options } })
 * ```
 */
export const handlerModule: URL = new URL(
  import.meta.url.endsWith(".ts") ? "./L2Responder.ts" : "./L2Responder.js",
  import.meta.url
)

/**
 * Checks options and returns a problem naming the field, or `undefined`.
 *
 * @example
 * ```ts
 * L2Responder.validate({ ports: [{ mac: "02:00:00:00:00:01", addresses: ["10.0.0.1"] }] }) // undefined
 * ```
 */
export const validate = (options: Options): string | undefined => {
  for (let p = 0; p < options.ports.length; p++) {
    const port = options.ports[p]!
    const mac = TapDevice.parseMac(port.mac)
    if (mac === undefined) return `ports[${p}].mac ${JSON.stringify(port.mac)} is not of the form aa:bb:cc:dd:ee:ff`
    if ((mac[0]! & 1) === 1) return `ports[${p}].mac ${port.mac} is a multicast address`
    for (let a = 0; a < port.addresses.length; a++) {
      if (Frames.parseIpv4(port.addresses[a]!) === undefined) {
        return `ports[${p}].addresses[${a}] ${JSON.stringify(port.addresses[a])} is not an IPv4 address`
      }
    }
  }
  return undefined
}

/**
 * The handler factory (run inside each TAP worker).
 *
 * @example
 * ```ts
 * TapPorts.make({
 *   ports: [{ name: "tap0" }],
 *   handler: { module: L2Responder.handlerModule, options: { ports: [{ mac: "02:00:00:00:00:01", addresses: ["10.0.0.1"] }] } }
 * })
 * ```
 */
export const make = FrameHandler.define((ctx) => {
  const options = ctx.options as Options
  const problem = validate(options)
  if (problem !== undefined) throw new Error(`L2Responder: ${problem}`)
  const nports = ctx.ports.length
  const macs = new Uint8Array(6 * nports)
  const owned: Array<Uint32Array> = []
  for (let p = 0; p < nports; p++) {
    const config = options.ports[p]
    if (config !== undefined) macs.set(TapDevice.parseMac(config.mac)!, p * 6)
    owned.push(Uint32Array.from((config?.addresses ?? []).map((a) => Frames.parseIpv4(a)!)))
  }
  const b = ctx.bytes
  const stats = ctx.stats

  const owns = (port: number, ip: number): boolean => {
    const list = owned[port]!
    for (let i = 0; i < list.length; i++) if (list[i] === ip) return true
    return false
  }
  const isOurMac = (port: number, o: number): boolean => {
    const m = port * 6
    for (let i = 0; i < 6; i++) if (b[o + i] !== macs[m + i]) return false
    return true
  }
  const isBroadcast = (o: number): boolean =>
    (b[o]! & b[o + 1]! & b[o + 2]! & b[o + 3]! & b[o + 4]! & b[o + 5]!) === 0xff
  const setOurMac = (port: number, o: number) => {
    for (let i = 0; i < 6; i++) b[o + i] = macs[port * 6 + i]!
  }

  const arp = (port: number, o: number, length: number) => {
    const a = o + Ethernet.HEADER_LENGTH
    if (Arp.validate(b, a, length - Ethernet.HEADER_LENGTH) !== ParseResult.Ok) return void stats[Stat.malformed]!++
    if (Arp.operation(b, a) !== Arp.Operation.Request) return void stats[Stat.ignored]!++
    const target = Arp.targetProtocol(b, a)
    if (!owns(port, target)) return void stats[Stat.arpNotOurs]!++
    const sender = Arp.senderProtocol(b, a)
    // Reply in place (the requester's MAC is read from the request before it is overwritten):
    // Ethernet dst = requester, src = us; ARP op 2, target = requester, sender = us.
    b.copyWithin(o + Ethernet.DESTINATION, a + Arp.SENDER_HARDWARE, a + Arp.SENDER_HARDWARE + 6)
    setOurMac(port, o + Ethernet.SOURCE)
    Frames.writeU16(b, a + Arp.OPERATION, Arp.Operation.Reply)
    b.copyWithin(a + Arp.TARGET_HARDWARE, a + Arp.SENDER_HARDWARE, a + Arp.SENDER_HARDWARE + 6)
    Frames.writeU32(b, a + Arp.TARGET_PROTOCOL, sender)
    setOurMac(port, a + Arp.SENDER_HARDWARE)
    Frames.writeU32(b, a + Arp.SENDER_PROTOCOL, target)
    if (ctx.send(port, o, Arp.FRAME_LENGTH)) stats[Stat.arpReplies]!++
  }

  const ipv4 = (port: number, o: number, length: number) => {
    const ip = o + Frames.ETH_HEADER
    if (length < Frames.ETH_HEADER + 20) return void stats[Stat.malformed]!++
    const ihl = (b[ip]! & 0x0f) * 4
    const total = Frames.readU16(b, ip + 2)
    if (b[ip]! >>> 4 !== 4 || ihl < 20 || total < ihl || Frames.ETH_HEADER + total > length) {
      return void stats[Stat.malformed]!++
    }
    if (b[ip + 9] !== Frames.IPPROTO_ICMP) return void stats[Stat.ignored]!++
    const dst = Frames.readU32(b, ip + 16)
    if (!owns(port, dst)) return void stats[Stat.ignored]!++
    if (Checksum.compute(b, ip, ihl) !== 0) return void stats[Stat.malformed]!++
    if ((Frames.readU16(b, ip + 6) & 0x3fff) !== 0) return void stats[Stat.malformed]!++ // fragment
    const icmp = ip + ihl
    const icmpLength = total - ihl
    if (icmpLength < 8 || Checksum.compute(b, icmp, icmpLength) !== 0) return void stats[Stat.malformed]!++
    if (b[icmp] !== Frames.ICMP_ECHO_REQUEST || b[icmp + 1] !== 0) return void stats[Stat.ignored]!++
    // Echo reply in place (RFC 792): swap addresses, type 0, incremental checksum for the type change.
    b.copyWithin(o, o + 6, o + 12)
    setOurMac(port, o + 6)
    const src = Frames.readU32(b, ip + 12)
    Frames.writeU32(b, ip + 12, dst)
    Frames.writeU32(b, ip + 16, src)
    b[ip + 8] = 64
    Frames.writeU16(b, ip + 10, 0)
    Frames.writeU16(b, ip + 10, Checksum.compute(b, ip, ihl))
    b[icmp] = Frames.ICMP_ECHO_REPLY
    Frames.writeU16(b, icmp + 2, Checksum.update16(Frames.readU16(b, icmp + 2), 0x0800, 0x0000))
    if (ctx.send(port, o, Frames.ETH_HEADER + total)) stats[Stat.echoReplies]!++
  }

  // One announcement per address, not one per queue.
  if ((options.gratuitousArp ?? true) && ctx.queue === 0) {
    const o = ctx.scratch[0]
    if (o !== undefined) {
      for (let p = 0; p < nports; p++) {
        const mac = macs.subarray(p * 6, p * 6 + 6)
        for (const address of owned[p]!) {
          const length = Arp.writeGratuitous(b, o, mac, address)
          if (ctx.send(p, o, length)) stats[Stat.gratuitousArps]!++
          ctx.flush() // the next announcement reuses the same scratch slot
        }
      }
    }
  }

  return {
    onBatch: (batch) => {
      const port = batch.port
      for (let i = 0; i < batch.count; i++) {
        const o = batch.offsets[i]!
        const length = batch.lengths[i]!
        if (length < Frames.ETH_HEADER) {
          stats[Stat.malformed]!++
          continue
        }
        const type = Ethernet.etherType(b, o)
        if (type === Ethernet.EtherType.Arp) {
          if (isBroadcast(o) || isOurMac(port, o)) arp(port, o, length)
          else stats[Stat.ignored]!++
        } else if (type === Ethernet.EtherType.Ipv4 && isOurMac(port, o)) {
          ipv4(port, o, length)
        } else {
          stats[Stat.ignored]!++
        }
      }
    }
  }
})
