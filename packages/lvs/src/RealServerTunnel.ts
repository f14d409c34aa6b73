/**
 * A real server's tunnel endpoint in userspace, for LVS-TUN on kernels without the `ipip` / `ip6_tunnel`
 * modules (many containers and the development machine, ipvs.md §7.3): it receives the tunnel packets the
 * director sends to this host on an interface (two `AF_PACKET` sockets, one for IPv4 and one for IPv6 outer
 * headers), strips the outer header (IPIP, IPv6-in-IPv6 with next header 41, IPv4-in-IPv6 with next
 * header 4; GRE; or GUE to the configured port, as `ipvsadm --tun-type gue --tun-port`) and hands the inner
 * packet (client -> VIP) to the host's stack through a TAP device, as the kernel's `tunl0` / `ip6tnl0`
 * would after decapsulation. The host owns the VIP on `lo` (`arp_ignore=1`, `arp_announce=2`, as for DR)
 * and answers the client directly.
 *
 * Fragmented outer packets (the director fragments an IPIP/GUE/GRE packet when the inner packet had no
 * DF and the result exceeds the path MTU, ipvs.md §3.4) are reassembled first with the director's own
 * {@link Reassembly} module (the same limits as Linux, `ipfrag_*`), as the kernel's `ip_defrag` does
 * before `tunl0` sees them; the TAP's MTU is raised to its maximum (65521) so the whole inner datagram is delivered.
 *
 * The host's own stack still sees the outer packets and, having no tunnel handler, answers them with ICMP
 * protocol unreachable (ICMPv6 parameter problem for IPv6); the director counts and drops those
 * (`dropIcmpUnrelated`).
 *
 * Runs as its own process inside the real server's namespace (`lvs-realserver tun`); plain synchronous
 * loop: `poll` (200 ms) over both sockets + non-blocking `recv` + `write`, one receive buffer, no allocation
 * per packet.
 *
 * @module
 */
import { readFileSync, writeFileSync } from "node:fs"
import { PacketParser, Tunnel } from "@lvs-ts/packet"
import koffi from "koffi"
import * as Frames from "./internal/Frames.ts"
import * as Reassembly from "./Reassembly.ts"
import * as TapDevice from "./TapDevice.ts"

/**
 * Endpoint options.
 *
 * @example
 * ```ts
 * const o: RealServerTunnel.Options = { interface: "eth0", device: "lvstun0" }
 * ```
 */
export interface Options {
  /** Interface the tunnel packets arrive on (e.g. `eth0`). */
  readonly interface: string
  /** TAP device handing inner packets to the host (created; default `lvstun0`). */
  readonly device?: string
  /** Outer destinations accepted, IPv4 or IPv6 (default: any; normally this host's addresses). */
  readonly addresses?: ReadonlyArray<string>
  /** Also decapsulate GUE (UDP) to this port (the director's `--tun-port`); default: GUE off. */
  readonly guePort?: number
  /** Limits for reassembling fragmented outer packets (default: Linux's `ipfrag_*` values). */
  readonly reassembly?: Reassembly.Options
}

/**
 * Counters of a running endpoint.
 *
 * @example
 * ```ts
 * const c: RealServerTunnel.Counters = endpoint.counters // { received, decapsulated, ignored, errors }
 * ```
 */
export interface Counters {
  received: number
  decapsulated: number
  ignored: number
  errors: number
  /** Outer fragments taken for reassembly. */
  fragments: number
  /** Outer packets reassembled from fragments (then decapsulated as any other). */
  reassembled: number
}

const AF_PACKET = 17
const SOCK_DGRAM = 2
const SOCK_NONBLOCK = 0o4000
const SOCK_CLOEXEC = 0o2000000
const ETH_P_IP_BE = 0x0008 // htons(0x0800)
const ETH_P_IPV6_BE = 0xdd86 // htons(0x86dd)

interface Sys {
  readonly socket: (domain: number, type: number, protocol: number) => number
  readonly bind: (fd: number, addr: Uint8Array, length: number) => number
  readonly recv: (fd: number, buffer: Uint8Array, length: number, flags: number) => number
  readonly write: (fd: number, buffer: Uint8Array, length: number) => number
  readonly poll: (fds: Uint8Array, n: number, timeout: number) => number
  readonly close: (fd: number) => number
}

const sys = (): Sys => {
  const lib = koffi.load("libc.so.6")
  return {
    socket: lib.func("int socket(int domain, int type, int protocol)"),
    bind: lib.func("int bind(int fd, const void *addr, unsigned int len)"),
    recv: lib.func("long recv(int fd, _Out_ void *buf, unsigned long n, int flags)"),
    write: lib.func("long write(int fd, const void *buf, unsigned long n)"),
    poll: lib.func("int poll(void *fds, unsigned long nfds, int timeout)"),
    close: lib.func("int close(int fd)")
  }
}

/**
 * A started endpoint: call `step` in a loop (each call waits up to `timeoutMs` for packets and handles
 * what arrived), `close` at the end.
 *
 * @example
 * ```ts
 * const endpoint = RealServerTunnel.open({ interface: "eth0" })
 * for (;;) endpoint.step(200)
 * ```
 */
export interface Endpoint {
  readonly device: TapDevice.Device
  readonly counters: Counters
  readonly step: (timeoutMs: number) => void
  readonly close: () => void
}

/**
 * Creates the TAP device (up, reverse-path filter off so the decapsulated packets are accepted) and the
 * packet socket on `interface`. Throws with a message naming the step (control plane).
 *
 * @example
 * ```ts
 * const endpoint = RealServerTunnel.open({ interface: "eth0", addresses: ["10.200.2.11"] })
 * ```
 */
export const open = (options: Options): Endpoint => {
  const s = sys()
  const accepted: Array<number> = []
  const accepted6: Array<Uint8Array> = []
  for (const a of options.addresses ?? []) {
    const v4 = Frames.parseIpv4(a)
    const v6 = v4 === undefined ? Frames.parseIpv6(a) : undefined
    if (v4 !== undefined) accepted.push(v4)
    else if (v6 !== undefined) accepted6.push(v6)
    else throw new Error(`RealServerTunnel: addresses: ${JSON.stringify(a)} is not IPv4 or IPv6`)
  }
  const acceptAny = accepted.length === 0 && accepted6.length === 0
  const ifindex = Number(readFileSync(`/sys/class/net/${options.interface}/ifindex`, "utf8").trim())
  if (!Number.isInteger(ifindex) || ifindex <= 0)
    throw new Error(`RealServerTunnel: interface ${options.interface} not found`)
  // MTU 65521 (the TAP maximum): a reassembled tunnel packet's inner datagram goes to the host whole, as from tunl0.
  const device = TapDevice.open({ name: options.device ?? "lvstun0", mtu: 65521 })
  for (const name of ["all", device.name]) writeFileSync(`/proc/sys/net/ipv4/conf/${name}/rp_filter`, "0")
  const fds: Array<number> = []
  const closeAll = () => {
    for (const fd of fds) s.close(fd)
    TapDevice.close(device)
  }
  // One packet socket per outer family, each bound to the interface.
  for (const protocol of [ETH_P_IP_BE, ETH_P_IPV6_BE]) {
    const fd = s.socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol)
    if (fd < 0) {
      closeAll()
      throw new Error(`RealServerTunnel: socket(AF_PACKET) failed, errno ${koffi.errno()}`)
    }
    fds.push(fd)
    const sll = new Uint8Array(20) // struct sockaddr_ll
    const view = new DataView(sll.buffer)
    view.setUint16(0, AF_PACKET, true)
    view.setUint16(2, protocol, true)
    view.setInt32(4, ifindex, true)
    if (s.bind(fd, sll, 20) < 0) {
      closeAll()
      throw new Error(`RealServerTunnel: bind to ${options.interface} failed, errno ${koffi.errno()}`)
    }
  }
  const tapFd = device.fds[0]!
  const tapMac = TapDevice.parseMac(device.mac)!
  const buffer = new Uint8Array(65536 + 14)
  const pollfd = new Uint8Array(8 * fds.length)
  const pollView = new DataView(pollfd.buffer)
  for (const [i, fd] of fds.entries()) {
    pollView.setInt32(i * 8, fd, true)
    pollView.setInt16(i * 8 + 4, 1, true) // POLLIN
  }
  const counters: Counters = { received: 0, decapsulated: 0, ignored: 0, errors: 0, fragments: 0, reassembled: 0 }
  const reasm = new Reassembly.Reassembler(options.reassembly)
  // The reassembled outer packet (at 14: room for the Ethernet header written in front of the inner one).
  const assembled = new Uint8Array(65536 + 14)
  const guePort = options.guePort ?? -1
  if (guePort !== -1 && !(Number.isInteger(guePort) && guePort > 0 && guePort <= 65535)) {
    closeAll()
    throw new Error(`RealServerTunnel: guePort ${guePort} is not in 1..65535`)
  }
  const parser = new PacketParser()
  /** Whether the outer destination of the parsed packet (IPv4 at 16, IPv6 at 24) is one of ours. */
  const isAccepted = (): boolean => {
    if (acceptAny) return true
    if (parser.ipVersion === 4) {
      const dst = Frames.readU32(buffer, 16)
      for (let i = 0; i < accepted.length; i++) if (accepted[i] === dst) return true
      return false
    }
    for (let i = 0; i < accepted6.length; i++) {
      const a = accepted6[i]!
      let same = true
      for (let k = 0; k < 16 && same; k++) if (a[k] !== buffer[24 + k]) same = false
      if (same) return true
    }
    return false
  }
  const step = (timeoutMs: number) => {
    const ready = s.poll(pollfd, fds.length, timeoutMs)
    const now = performance.now()
    while (reasm.expireOne(now, assembled, 14, 0) >= 0) {} // no ICMP: the host's own stack sends it
    if (ready <= 0) return
    for (const fd of fds) drain(fd)
  }
  /** Whether the outer packet at 0 (parsed) is a fragment that may carry a tunnel packet. */
  const isTunnelFragment = (n: number): boolean => {
    if (parser.ipVersion === 4) {
      if (((buffer[6]! & 0x3f) | buffer[7]!) === 0) return false
      const protocol = buffer[9]!
      return protocol === 4 || protocol === 41 || protocol === 47 || (protocol === 17 && guePort !== -1)
    }
    return n > 0 && parser.fragmentHeaderOffset >= 0
  }
  const drain = (fd: number) => {
    for (let k = 0; k < 64; k++) {
      const n = s.recv(fd, buffer, buffer.length, 0)
      if (n <= 0) return
      counters.received++
      // IPIP / IPv6-in-IP, GRE or GUE (to guePort) with an IPv4 or IPv6 inner packet, in an IPv4 or IPv6
      // outer header; anything else is the host's.
      if (parser.parseIp(buffer, 0, n) !== 0 || parser.ipVersion === 0 || !isAccepted()) {
        counters.ignored++
        continue
      }
      if (isTunnelFragment(n)) {
        counters.fragments++
        const outcome =
          parser.ipVersion === 4
            ? reasm.add4(buffer, 0, n, -1, 0, performance.now())
            : reasm.add6(buffer, 0, n, -1, 0, performance.now())
        if (outcome !== Reassembly.Outcome.Complete) continue
        const length = reasm.assemble(assembled, 14, assembled.length - 14)
        if (length < 0 || parser.parseIp(assembled, 14, length) !== 0) {
          counters.errors++
          continue
        }
        counters.reassembled++
        decapsulate(assembled)
        continue
      }
      decapsulate(buffer)
    }
  }
  /** Strips the outer header of the parsed packet in `buf` and writes the inner one to the TAP device. */
  const decapsulate = (buf: Uint8Array) => {
    const at = Tunnel.innerOffset(buf, parser, guePort)
    if (at < 0) {
      counters.ignored++
      return
    }
    const v6 = buf[at]! >>> 4 === 6
    // Inner packet to offset 14, then an Ethernet header addressed to the TAP's kernel side.
    const inner = parser.l3End - at
    buf.copyWithin(14, at, parser.l3End)
    buf.set(tapMac, 0)
    buf[6] = 0x02
    buf[7] = 0x6c
    buf[8] = 0x76
    buf[9] = 0x73
    buf[10] = 0x74
    buf[11] = 0x6e
    buf[12] = v6 ? 0x86 : 0x08
    buf[13] = v6 ? 0xdd : 0x00
    if (s.write(tapFd, buf, 14 + inner) === 14 + inner) counters.decapsulated++
    else counters.errors++
  }
  return {
    device,
    counters,
    step,
    close: closeAll
  }
}
