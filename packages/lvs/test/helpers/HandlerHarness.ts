/**
 * Runs a frame handler in memory, with no TAP device: a pool laid out like the real one (headroom, batch
 * slots, scratch slots), `send` recording copies of what would be written. For tests that need the real
 * data path but no root.
 */
import { Ethernet, Ipv4, Tcp, Udp } from "@lvs-ts/packet"
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
