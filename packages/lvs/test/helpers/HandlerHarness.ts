/**
 * Runs a frame handler in memory, with no TAP device: a pool laid out like the real one (headroom, batch
 * slots, scratch slots), `send` recording copies of what would be written. For tests that need the real
 * data path but no root.
 */
import { Address, Checksum, Ethernet, Icmpv6, Ipv4, Ipv6, Tcp, Udp } from "@lvs-ts/packet"
import type * as FrameHandler from "../../src/FrameHandler.ts"
import * as Frames from "../../src/internal/Frames.ts"
import * as TapDevice from "../../src/TapDevice.ts"

export interface Sent {
  readonly port: number
  readonly frame: Uint8Array
}

const HEADROOM = 64
const SLOT = 2048 + HEADROOM
const BATCH = 8

export const mac = (text: string): Uint8Array => TapDevice.parseMac(text)!
export const ip = (text: string): number => Frames.parseIpv4(text)!

export interface Harness {
  readonly handler: FrameHandler.Handler
  readonly sent: Array<Sent>
  readonly stats: Float64Array
  /** Events the handler sent to the control plane (`notify`). */
  readonly events: Array<unknown>
  /** Delivers frames as one batch on `port`; returns what was sent while handling them. */
  readonly receive: (port: number, ...frames: ReadonlyArray<Uint8Array>) => Array<Sent>
  readonly tick: (nowMs: number) => Array<Sent>
  readonly control: (message: unknown) => Array<Sent>
}

export const make = async (
  factory: FrameHandler.Factory,
  options: unknown,
  ports: ReadonlyArray<{ name: string; mtu?: number }>,
  scratchSlots = 258
): Promise<Harness> => {
  const bytes = new Uint8Array(SLOT * (BATCH + scratchSlots))
  const sent: Array<Sent> = []
  const scratch = new Int32Array(scratchSlots)
  for (let i = 0; i < scratchSlots; i++) scratch[i] = SLOT * (BATCH + i) + HEADROOM
  const stats = new Float64Array(64)
  const events: Array<unknown> = []
  const ctx: FrameHandler.Context = {
    bytes,
    view: new DataView(bytes.buffer),
    headroom: HEADROOM,
    frameCapacity: SLOT - HEADROOM,
    scratch,
    queue: 0,
    ports: ports.map((p, index) => ({
      index,
      name: p.name,
      ifindex: index + 1,
      mac: "02:00:00:00:00:00",
      mtu: p.mtu ?? 1500
    })),
    stats,
    options,
    send: (port, offset, length) => {
      if (port < 0 || port >= ports.length || offset < 0 || offset + length > bytes.length) return false
      sent.push({ port, frame: bytes.slice(offset, offset + length) })
      return true
    },
    flush: () => {},
    notify: (event) => void events.push(event)
  }
  const handler = await factory(ctx)
  const offsets = new Int32Array(BATCH)
  const lengths = new Int32Array(BATCH)
  const drain = () => sent.splice(0, sent.length)
  return {
    handler,
    sent,
    stats,
    events,
    receive: (port, ...frames) => {
      drain()
      for (let i = 0; i < frames.length; i++) {
        offsets[i] = SLOT * i + HEADROOM
        lengths[i] = frames[i]!.length
        bytes.fill(0, SLOT * i, SLOT * (i + 1))
        bytes.set(frames[i]!, offsets[i]!)
      }
      handler.onBatch({ port, count: frames.length, offsets, lengths })
      return drain()
    },
    tick: (now) => {
      drain()
      handler.onTick?.(now)
      return drain()
    },
    control: (message) => {
      drain()
      handler.onControl?.(message)
      return drain()
    }
  }
}

export interface Ipv4Spec {
  readonly srcMac: string
  readonly dstMac: string
  readonly src: string
  readonly dst: string
  readonly protocol: number
  readonly ttl?: number
  readonly df?: boolean
}

const ipFrame = (s: Ipv4Spec, l4: Uint8Array): Uint8Array => {
  const f = new Uint8Array(14 + 20 + l4.length)
  Ethernet.write(f, 0, mac(s.dstMac), mac(s.srcMac), Ethernet.EtherType.Ipv4)
  Ipv4.write(f, 14, 0, 20 + l4.length, 1, s.df ? Ipv4.FLAG_DF : 0, s.ttl ?? 64, s.protocol, ip(s.src), ip(s.dst))
  f.set(l4, 34)
  return f
}

export const tcp = (
  s: Omit<Ipv4Spec, "protocol"> & {
    sport: number
    dport: number
    flags: number
    payload?: number
    options?: Uint8Array
  }
): Uint8Array => {
  const opt = s.options ?? new Uint8Array(0)
  const hl = 20 + opt.length
  const l4 = new Uint8Array(hl + (s.payload ?? 0))
  Frames.writeU16(l4, 0, s.sport)
  Frames.writeU16(l4, 2, s.dport)
  Frames.writeU32(l4, 4, 1000)
  l4[12] = (hl / 4) << 4
  l4[13] = s.flags
  Frames.writeU16(l4, 14, 65535)
  l4.set(opt, 20)
  const f = ipFrame({ ...s, protocol: 6 }, l4)
  Tcp.updateChecksum(f, 14, 34, l4.length)
  return f
}

export const udp = (s: Omit<Ipv4Spec, "protocol"> & { sport: number; dport: number; payload?: number }): Uint8Array => {
  const l4 = new Uint8Array(8 + (s.payload ?? 0))
  Frames.writeU16(l4, 0, s.sport)
  Frames.writeU16(l4, 2, s.dport)
  Frames.writeU16(l4, 4, l4.length)
  const f = ipFrame({ ...s, protocol: 17 }, l4)
  Udp.updateChecksum(f, 14, 34)
  return f
}

export const arpRequest = (senderMac: string, sender: string, target: string): Uint8Array => {
  const f = new Uint8Array(42)
  Frames.writeArp(f, 0, 1, Ethernet.BROADCAST, mac(senderMac), ip(sender), new Uint8Array(6), ip(target))
  return f
}

export const arpReply = (senderMac: string, sender: string, targetMac: string, target: string): Uint8Array => {
  const f = new Uint8Array(42)
  Frames.writeArp(f, 0, 2, mac(targetMac), mac(senderMac), ip(sender), mac(targetMac), ip(target))
  return f
}

export const ip6 = (text: string): Uint8Array => Address.parseIpv6(text)

export interface Ipv6Spec {
  readonly srcMac: string
  readonly dstMac: string
  readonly src: string
  readonly dst: string
  readonly hopLimit?: number
}

const ip6Frame = (s: Ipv6Spec, nextHeader: number, l4: Uint8Array): Uint8Array => {
  const f = new Uint8Array(14 + 40 + l4.length)
  Ethernet.write(f, 0, mac(s.dstMac), mac(s.srcMac), Ethernet.EtherType.Ipv6)
  Ipv6.write(f, 14, 0, 0, l4.length, nextHeader, s.hopLimit ?? 64, ip6(s.src), 0, ip6(s.dst), 0)
  f.set(l4, 54)
  return f
}

export const tcp6 = (s: Ipv6Spec & { sport: number; dport: number; flags: number; payload?: number }): Uint8Array => {
  const l4 = new Uint8Array(20 + (s.payload ?? 0))
  Frames.writeU16(l4, 0, s.sport)
  Frames.writeU16(l4, 2, s.dport)
  Frames.writeU32(l4, 4, 1000)
  l4[12] = 5 << 4
  l4[13] = s.flags
  Frames.writeU16(l4, 14, 65535)
  const f = ip6Frame(s, 6, l4)
  Frames.writeU16(f, 54 + 16, Checksum.transport(f, 14, 54, 6, l4.length))
  return f
}

export const udp6 = (s: Ipv6Spec & { sport: number; dport: number; payload?: number }): Uint8Array => {
  const l4 = new Uint8Array(8 + (s.payload ?? 0))
  Frames.writeU16(l4, 0, s.sport)
  Frames.writeU16(l4, 2, s.dport)
  Frames.writeU16(l4, 4, l4.length)
  const f = ip6Frame(s, 17, l4)
  Frames.writeU16(f, 54 + 6, Checksum.transport(f, 14, 54, 17, l4.length) || 0xffff)
  return f
}

export const echo6 = (s: Ipv6Spec & { id: number; seq: number }): Uint8Array => {
  const l4 = new Uint8Array(16)
  l4[0] = Icmpv6.Type.EchoRequest
  Frames.writeU16(l4, 4, s.id)
  Frames.writeU16(l4, 6, s.seq)
  const f = ip6Frame(s, 58, l4)
  Icmpv6.updateChecksum(f, 14, 54, l4.length)
  return f
}

/** Neighbour solicitation from `src` (with its source link-layer option) for `target`, multicast. */
export const solicitation = (srcMac: string, src: string, target: string): Uint8Array => {
  const t = ip6(target)
  const group = `ff02::1:ff${t[13]!.toString(16).padStart(2, "0")}:${((t[14]! << 8) | t[15]!).toString(16)}`
  const l4 = new Uint8Array(32)
  l4[0] = Icmpv6.Type.NeighborSolicitation
  l4.set(t, 8)
  l4[24] = 1
  l4[25] = 1
  l4.set(mac(srcMac), 26)
  const dstMac = `33:33:ff:${[...t.subarray(13)].map((x) => x.toString(16).padStart(2, "0")).join(":")}`
  const f = ip6Frame({ srcMac, dstMac, src, dst: group, hopLimit: 255 }, 58, l4)
  Icmpv6.updateChecksum(f, 14, 54, l4.length)
  return f
}

/** Solicited neighbour advertisement from `src` (target `src`, with its target link-layer option). */
export const advertisement = (srcMac: string, src: string, dstMac: string, dst: string): Uint8Array => {
  const l4 = new Uint8Array(32)
  l4[0] = Icmpv6.Type.NeighborAdvertisement
  Frames.writeU32(l4, 4, 0x60000000)
  l4.set(ip6(src), 8)
  l4[24] = 2
  l4[25] = 1
  l4.set(mac(srcMac), 26)
  const f = ip6Frame({ srcMac, dstMac, src, dst, hopLimit: 255 }, 58, l4)
  Icmpv6.updateChecksum(f, 14, 54, l4.length)
  return f
}
