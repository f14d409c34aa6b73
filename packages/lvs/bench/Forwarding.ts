/**
 * Forwarding benchmark, in memory (no TAP, no privileges): the director's frame handler over batches of 64
 * frames of established connections, per method and direction. `send` is a no-op, so the figures are the
 * handler's CPU cost per frame (parse, checks, connection lookup, state machine, counters, rewrite,
 * neighbour lookup), without the system calls of the TAP I/O (see bench/index.ts for those).
 *
 * Run: `node --expose-gc --conditions=@lvs-ts/source bench/Forwarding.ts [--frames N]` (from packages/lvs).
 * Also reports the heap growth over the run (after `gc()`), to show nothing is allocated per frame.
 */
import { Address, Checksum, Ethernet, Icmpv6, Ipv4, Ipv6, Tcp } from "@lvs-ts/packet"
import * as ForwardingHandler from "../src/ForwardingHandler.ts"
import type * as FrameHandler from "../src/FrameHandler.ts"
import * as Frames from "../src/internal/Frames.ts"
import * as TapDevice from "../src/TapDevice.ts"
import type * as VST from "../src/VirtualServiceTable.ts"

const argValue = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
const FRAMES = argValue("--frames", 5_000_000)
const BATCH = 64
const HEADROOM = 64
const SLOT = 2048 + HEADROOM
const SCRATCH = ForwardingHandler.SCRATCH_SLOTS
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

const mac = (t: string) => TapDevice.parseMac(t)!
const ip = (t: string) => Frames.parseIpv4(t)!
const DIR_C = "02:00:0a:c8:01:01"
const DIR_S = "02:00:0a:c8:02:01"
const CLIENT = "02:00:00:00:01:10"
const RS = "02:00:00:00:02:11"

const tcpFrame = (
  srcMac: string,
  dstMac: string,
  src: string,
  dst: string,
  sport: number,
  dport: number,
  flags: number
) => {
  const f = new Uint8Array(14 + 20 + 20 + 6) // 60-byte frame
  Ethernet.write(f, 0, mac(dstMac), mac(srcMac), Ethernet.EtherType.Ipv4)
  Ipv4.write(f, 14, 0, 40, 1, Ipv4.FLAG_DF, 64, 6, ip(src), ip(dst))
  Frames.writeU16(f, 34, sport)
  Frames.writeU16(f, 36, dport)
  f[46] = 5 << 4
  f[47] = flags
  Frames.writeU16(f, 48, 65535)
  Tcp.updateChecksum(f, 14, 34, 20)
  return f
}
/** The same 20-byte ACK over IPv6 (a 74-byte frame). */
const tcpFrame6 = (
  srcMac: string,
  dstMac: string,
  src: string,
  dst: string,
  sport: number,
  dport: number,
  flags: number
) => {
  const f = new Uint8Array(14 + 40 + 20)
  Ethernet.write(f, 0, mac(dstMac), mac(srcMac), Ethernet.EtherType.Ipv6)
  Ipv6.write(f, 14, 0, 0, 20, 6, 64, Address.parseIpv6(src), 0, Address.parseIpv6(dst), 0)
  Frames.writeU16(f, 54, sport)
  Frames.writeU16(f, 56, dport)
  f[66] = 5 << 4
  f[67] = flags
  Frames.writeU16(f, 68, 65535)
  Frames.writeU16(f, 70, Checksum.transport(f, 14, 54, 6, 20))
  return f
}
/**
 * Neighbour discovery from `src`: an advertisement of itself (`solicit` false) or a solicitation for
 * `target` (which makes the director learn `src` as well, as a client resolving the VIP does).
 */
const ndp = (srcMac: string, src: string, dstMac: string, dst: string, target = src, solicit = false) => {
  const f = new Uint8Array(14 + 40 + 32)
  Ethernet.write(f, 0, mac(dstMac), mac(srcMac), Ethernet.EtherType.Ipv6)
  Ipv6.write(f, 14, 0, 0, 32, 58, 255, Address.parseIpv6(src), 0, Address.parseIpv6(dst), 0)
  f[54] = solicit ? Icmpv6.Type.NeighborSolicitation : Icmpv6.Type.NeighborAdvertisement
  if (!solicit) Frames.writeU32(f, 58, 0x60000000)
  f.set(Address.parseIpv6(target), 62)
  f[78] = solicit ? 1 : 2
  f[79] = 1
  f.set(mac(srcMac), 80)
  Icmpv6.updateChecksum(f, 14, 54, 32)
  return f
}
const arp = (senderMac: string, sender: string, target: string) => {
  const f = new Uint8Array(42)
  Frames.writeArp(f, 0, 1, new Uint8Array(6).fill(255), mac(senderMac), ip(sender), new Uint8Array(6), ip(target))
  return f
}

const run = async (method: VST.Method, family: 4 | 6 = 4) => {
  const bytes = new Uint8Array(SLOT * (BATCH + SCRATCH))
  const scratch = new Int32Array(SCRATCH)
  for (let i = 0; i < SCRATCH; i++) scratch[i] = SLOT * (BATCH + i) + HEADROOM
  let sent = 0
  const v6 = family === 6
  const VIP = v6 ? "fd00:200:1::100" : "10.200.1.100"
  const CIP = v6 ? "fd00:200:1::10" : "10.200.1.10"
  const RIP = v6 ? "fd00:200:2::11" : "10.200.2.11"
  const frame = v6 ? tcpFrame6 : tcpFrame
  const web = { protocol: "tcp", address: VIP, port: 80 } as const
  const options: ForwardingHandler.Options = {
    ports: [
      { mac: DIR_C, addresses: ["10.200.1.1/24", "10.200.1.100/32", "fd00:200:1::1/64"] },
      { mac: DIR_S, addresses: ["10.200.2.1/24", "fd00:200:2::1/64"] }
    ],
    stats: new SharedArrayBuffer(1024 * 64),
    gratuitousArp: false,
    commands: [
      {
        _tag: "AddService",
        service: { ...web, scheduler: "wrr", localAddresses: [v6 ? "fd00:200:2::50" : "10.200.2.50"] }
      },
      { _tag: "AddDestination", service: web, destination: { address: RIP, port: 80, method } }
    ]
  }
  const ctx: FrameHandler.Context = {
    bytes,
    view: new DataView(bytes.buffer),
    headroom: HEADROOM,
    frameCapacity: SLOT - HEADROOM,
    scratch,
    queue: 0,
    ports: [
      { index: 0, name: "tapc", ifindex: 1, mac: "02:aa:00:00:00:01", mtu: 1500 },
      { index: 1, name: "taps", ifindex: 2, mac: "02:aa:00:00:00:02", mtu: 1500 }
    ],
    stats: new Float64Array(64),
    options,
    send: () => {
      sent++
      return true
    },
    flush: () => {},
    notify: () => {}
  }
  const handler = await ForwardingHandler.make(ctx)
  const offsets = new Int32Array(BATCH)
  const lengths = new Int32Array(BATCH)
  const deliver = (port: number, frames: ReadonlyArray<Uint8Array>) => {
    for (let i = 0; i < frames.length; i++) {
      offsets[i] = SLOT * i + HEADROOM
      lengths[i] = frames[i]!.length
      bytes.set(frames[i]!, offsets[i]!)
    }
    handler.onBatch({ port, count: frames.length, offsets, lengths })
  }
  if (v6) {
    deliver(0, [ndp(CLIENT, CIP, DIR_C, VIP, VIP, true)])
    deliver(1, [ndp(RS, RIP, DIR_S, "fd00:200:2::1")])
  } else {
    deliver(0, [arp(CLIENT, CIP, VIP)])
    deliver(1, [arp(RS, RIP, "10.200.2.1")])
  }
  // 64 connections, established by a SYN each; then the benchmark replays ACKs of all 64 (in) and replies (out).
  const inbound: Array<Uint8Array> = []
  const outbound: Array<Uint8Array> = []
  for (let c = 0; c < BATCH; c++) {
    deliver(0, [frame(CLIENT, DIR_C, CIP, VIP, 30000 + c, 80, 0x02)])
    inbound.push(frame(CLIENT, DIR_C, CIP, VIP, 30000 + c, 80, 0x10))
    // Reply tuple as the real server sends it for this method.
    if (method === "nat") outbound.push(frame(RS, DIR_S, RIP, CIP, 80, 30000 + c, 0x10))
    // FULLNAT local ports are allocated from 1024 up, one per connection.
    if (method === "fullnat")
      outbound.push(frame(RS, DIR_S, RIP, v6 ? "fd00:200:2::50" : "10.200.2.50", 80, 1024 + c, 0x10))
  }
  const results: Array<string> = []
  const measure = (label: string, port: number, frames: ReadonlyArray<Uint8Array>) => {
    // Originals kept in a staging area; each round copies the 64 frames back into their slots (74 B each).
    const rounds = Math.ceil(FRAMES / BATCH)
    for (let r = 0; r < 2000; r++) deliver(port, frames) // warm-up
    gc()
    const heapBefore = process.memoryUsage().heapUsed
    sent = 0
    ctx.stats.fill(0)
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    for (let r = 0; r < rounds; r++) deliver(port, frames)
    const wall = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    gc()
    const heapDelta = process.memoryUsage().heapUsed - heapBefore
    const n = rounds * BATCH
    // Every frame must have been forwarded (not answered by the local stack, e.g. with a RST).
    const forwarded = ctx.stats[ForwardingHandler.Stat.forwardedIn]! + ctx.stats[ForwardingHandler.Stat.forwardedOut]!
    if (forwarded < n) throw new Error(`${label}: only ${forwarded} of ${n} frames forwarded`)
    ctx.stats.fill(0)
    const nsWall = (wall * 1e6) / n
    const nsCpu = ((cpu.user + cpu.system) * 1e3) / n
    results.push(
      `| ${label.padEnd(31)} | ${nsWall.toFixed(0).padStart(8)} | ${nsCpu.toFixed(0).padStart(7)} | ${(1e3 / nsCpu).toFixed(2).padStart(10)} | ${String(heapDelta).padStart(10)} | ${sent === n ? "all" : `${sent}/${n}`} |`
    )
  }
  const tag = v6 ? `${method} ipv6` : method
  measure(`${tag} in (client -> RS)`, 0, inbound)
  if (outbound.length > 0) measure(`${tag} out (RS -> client)`, 1, outbound)
  handler.onClose?.()
  return results
}

const main = async () => {
  console.log(`forwarding handler, in memory, ${FRAMES} frames per case, batches of ${BATCH}, 64 connections`)
  console.log("| case                            | ns/frame | ns CPU | Mframes/s CPU | heap delta | sent |")
  console.log("| ------------------------------- | -------: | -----: | ---------: | ---------: | ---- |")
  for (const method of ["nat", "dr", "tun", "fullnat"] as const) for (const line of await run(method)) console.log(line)
  for (const method of ["nat", "dr", "tun", "fullnat"] as const)
    for (const line of await run(method, 6)) console.log(line)
  console.log(
    `load average: ${(await import("node:os"))
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")}`
  )
}

void main()
