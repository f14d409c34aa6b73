/**
 * A {@link Transport.Transport} over the host kernel, so a plain Node service can use this package
 * alone for VIP failover: a raw IPv4 socket for protocol 112 (IP_HDRINCL, so the IP header is the one
 * keepalived builds: TOS 0xc0, TTL 255, per-instance IP ID), bound to the interface, joined to the
 * VRRP multicast group; gratuitous ARPs through an AF_PACKET socket; VIPs and virtual routes added and
 * removed with iproute2 (`ip addr` / `ip route`). Needs CAP_NET_RAW and CAP_NET_ADMIN.
 *
 * Native calls go through koffi; the receive loop runs `recvfrom` on koffi's worker threads with a
 * short SO_RCVTIMEO so closing the scope stops it promptly.
 *
 * IPv6 instances use a raw IPv6 socket like keepalived's: the kernel computes and verifies the checksum
 * (IPV6_CHECKSUM 6), hop limit 255, ff02::12 membership, and `recvmsg` with IPV6_HOPLIMIT and
 * IPV6_PKTINFO ancillary data so the hop-limit and multicast-destination checks run; unsolicited NAs go
 * out through the AF_PACKET socket.
 *
 * @module
 */
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import { networkInterfaces } from "node:os"
import { Effect, Layer, type Scope } from "effect"
import * as Address from "./Address.ts"
import * as Advert from "./Advert.ts"
import type * as Config from "./Config.ts"
import * as Datagram from "./Datagram.ts"
import * as Frame from "./Frame.ts"
import * as Libc from "./internal/libc.ts"
import * as Transport from "./Transport.ts"

/**
 * Options of the kernel transport.
 *
 * @example
 * ```ts
 * KernelTransport.layer({ interface: "eth0", receiveTimeout: 100 })
 * ```
 */
export interface Options {
  /** The interface VRRP runs on (keepalived `interface`). */
  readonly interface: string
  /** The `ip` binary; default `ip` from PATH. */
  readonly ip?: string | undefined
  /** How often the receive loop re-checks for shutdown, ms. Default 100. */
  readonly receiveTimeout?: number | undefined
}

/**
 * A failure to open the kernel sockets, naming the call and errno.
 *
 * @example
 * ```ts
 * Effect.catchTag(program, "KernelTransportError", (e) => Effect.logError(e.call, e.errno))
 * ```
 */
export class KernelTransportError extends Error {
  readonly call: string
  readonly errno: number
  constructor(call: string, errno: number, detail: string) {
    super(`${call} failed (errno ${errno}): ${detail}`)
    this.name = "KernelTransportError"
    this.call = call
    this.errno = errno
  }
}

const sockaddrIn = (address: string): Uint8Array => {
  const out = new Uint8Array(16)
  out[0] = Libc.C.AF_INET // sa_family is host order (little endian here)
  out.set(Address.parseIpv4(address) ?? new Uint8Array(4), 4)
  return out
}

const sockaddrLl = (ifindex: number, protocol: number, mac: Uint8Array): Uint8Array => {
  const out = new Uint8Array(20)
  const v = new DataView(out.buffer)
  v.setUint16(0, Libc.C.AF_PACKET, true)
  v.setUint16(2, protocol, false)
  v.setInt32(4, ifindex, true)
  out[11] = 6
  out.set(mac.subarray(0, 6), 12)
  return out
}

const int32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setInt32(0, n, true)
  return b
}

/** `struct sockaddr_in6` (28 bytes) with the interface as scope id (link-local destinations). */
const sockaddrIn6 = (address: string, scope: number): Uint8Array => {
  const out = new Uint8Array(28)
  const v = new DataView(out.buffer)
  v.setUint16(0, Libc.C.AF_INET6, true)
  out.set(Address.parseIpv6(address) ?? new Uint8Array(16), 8)
  v.setUint32(24, scope, true)
  return out
}

/** `struct ipv6_mreq { in6_addr multiaddr; int ifindex }`. */
const ipv6Mreq = (group: string, ifindex: number): Uint8Array => {
  const b = new Uint8Array(20)
  b.set(Address.parseIpv6(group) ?? new Uint8Array(16), 0)
  new DataView(b.buffer).setInt32(16, ifindex, true)
  return b
}

/** Offsets in `struct msghdr` / `struct cmsghdr` (LP64 Linux). */
const Msghdr = { name: 0, namelen: 8, iov: 16, iovlen: 24, control: 32, controllen: 40, flags: 48, size: 56 } as const
const Cmsghdr = { len: 0, level: 8, type: 12, data: 16 } as const

/** `struct ip_mreqn { in_addr multiaddr; in_addr address; int ifindex }`. */
const mreqn = (group: string, ifindex: number): Uint8Array => {
  const b = new Uint8Array(12)
  b.set(Address.parseIpv4(group) ?? new Uint8Array(4), 0)
  new DataView(b.buffer).setInt32(8, ifindex, true)
  return b
}

const run = (file: string, args: ReadonlyArray<string>): Effect.Effect<string | undefined> =>
  Effect.callback<string | undefined>((resume) => {
    execFile(file, [...args], (err, _stdout, stderr) => {
      resume(Effect.succeed(err === null ? undefined : `${[file, ...args].join(" ")}: ${String(stderr).trim()}`))
    })
  })

/**
 * Opens the kernel transport in the current scope.
 *
 * @example
 * ```ts
 * const program = Router.make({ instances }).pipe(
 *   Effect.provide(KernelTransport.layer({ interface: "eth0" })),
 *   Effect.provide(Notify.Notifier.layer)
 * )
 * ```
 */
export const make = (
  options: Options
): Effect.Effect<Transport.Transport["Service"], KernelTransportError, Scope.Scope> =>
  Effect.gen(function* () {
    const libc = Libc.load()
    const ifname = options.interface
    const ip = options.ip ?? "ip"
    const ifindex = libc.ifNameToIndex(ifname)
    if (ifindex === 0) return yield* Effect.fail(new KernelTransportError("if_nametoindex", libc.errno(), ifname))
    const mac = (() => {
      try {
        const text = readFileSync(`/sys/class/net/${ifname}/address`, "utf8").trim()
        return new Uint8Array(text.split(":").map((h) => Number.parseInt(h, 16)))
      } catch {
        return new Uint8Array(6)
      }
    })()

    const open = (domain: number, protocol: number, what: string) =>
      Effect.acquireRelease(
        Effect.suspend(() => {
          const fd = libc.socket(domain, Libc.C.SOCK_RAW, protocol)
          return fd < 0 ? Effect.fail(new KernelTransportError("socket", libc.errno(), what)) : Effect.succeed(fd)
        }),
        (fd) => Effect.sync(() => libc.close(fd))
      )
    const opt = (fd: number, level: number, name: number, value: Uint8Array, what: string) =>
      Effect.suspend(() =>
        libc.setsockopt(fd, level, name, value, value.length) < 0
          ? Effect.fail(new KernelTransportError("setsockopt", libc.errno(), what))
          : Effect.void
      )

    const fd = yield* open(Libc.C.AF_INET, 112, "raw IPv4 socket for protocol 112")
    yield* opt(fd, Libc.C.IPPROTO_IP, Libc.C.IP_HDRINCL, int32(1), "IP_HDRINCL")
    yield* opt(
      fd,
      Libc.C.SOL_SOCKET,
      Libc.C.SO_BINDTODEVICE,
      new TextEncoder().encode(`${ifname}\0`),
      "SO_BINDTODEVICE"
    )
    yield* opt(fd, Libc.C.IPPROTO_IP, Libc.C.IP_MULTICAST_IF, mreqn("0.0.0.0", ifindex), "IP_MULTICAST_IF")
    yield* opt(fd, Libc.C.IPPROTO_IP, Libc.C.IP_MULTICAST_LOOP, int32(0), "IP_MULTICAST_LOOP")
    yield* opt(fd, Libc.C.IPPROTO_IP, Libc.C.IP_MULTICAST_TTL, int32(255), "IP_MULTICAST_TTL")
    const timeout = new Uint8Array(16)
    new DataView(timeout.buffer).setBigInt64(8, BigInt((options.receiveTimeout ?? 100) * 1000), true)
    yield* opt(fd, Libc.C.SOL_SOCKET, Libc.C.SO_RCVTIMEO, timeout, "SO_RCVTIMEO")
    const packetFd = yield* open(Libc.C.AF_PACKET, 0, "AF_PACKET socket for gratuitous ARP")

    let primary: string | undefined
    let primary6: string | undefined
    const primaryAddress = (exclude: ReadonlySet<string>, v6: boolean): string | undefined => {
      const list = networkInterfaces()[ifname] ?? []
      // IPv6 adverts go out from the link-local address (ff02::12 has link scope).
      return list.find((a) =>
        v6 ? a.family === "IPv6" && a.address.startsWith("fe80:") : a.family === "IPv4" && !exclude.has(a.address)
      )?.address
    }
    const out = new Uint8Array(2048)

    let fd6: number | undefined
    const out6 = new Uint8Array(2048)
    const sendIpv6 = (o: Transport.Outgoing): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (fd6 === undefined) return Effect.logError(`(${o.instance.name}) IPv6 socket not open on ${ifname}`)
        // The kernel overwrites the checksum (IPV6_CHECKSUM) with the real source it picks.
        const n = Advert.encode(o.advert, out6, 0, {
          family: "ipv6",
          source: Address.parseIpv6(o.source ?? "::") ?? new Uint8Array(16),
          destination: Address.parseIpv6(o.destination) ?? new Uint8Array(16)
        })
        const r = libc.sendto(fd6, out6, n, 0, sockaddrIn6(o.destination, ifindex), 28)
        return r < 0 ? Effect.logWarning(`sendto ${o.destination} failed (errno ${libc.errno()})`) : Effect.void
      })

    /** Opens the IPv6 socket and its receive loop (when an IPv6 instance exists). */
    const listenIpv6 = (instances: ReadonlyArray<Config.Instance>, deliver: (i: Transport.Incoming) => void) =>
      Effect.gen(function* () {
        const v6 = instances.filter((vi) => vi.family === "ipv6")
        if (v6.length === 0) return
        const s6 = yield* open(Libc.C.AF_INET6, 112, "raw IPv6 socket for protocol 112")
        const L = Libc.C
        yield* opt(s6, L.IPPROTO_IPV6, L.IPV6_CHECKSUM, int32(6), "IPV6_CHECKSUM")
        yield* opt(s6, L.SOL_SOCKET, L.SO_BINDTODEVICE, new TextEncoder().encode(`${ifname}\0`), "SO_BINDTODEVICE")
        yield* opt(s6, L.IPPROTO_IPV6, L.IPV6_MULTICAST_IF, int32(ifindex), "IPV6_MULTICAST_IF")
        yield* opt(s6, L.IPPROTO_IPV6, L.IPV6_MULTICAST_LOOP, int32(0), "IPV6_MULTICAST_LOOP")
        yield* opt(s6, L.IPPROTO_IPV6, L.IPV6_MULTICAST_HOPS, int32(255), "IPV6_MULTICAST_HOPS")
        yield* opt(s6, L.IPPROTO_IPV6, L.IPV6_UNICAST_HOPS, int32(v6[0]!.unicastTtl), "IPV6_UNICAST_HOPS")
        yield* opt(s6, L.IPPROTO_IPV6, L.IPV6_RECVHOPLIMIT, int32(1), "IPV6_RECVHOPLIMIT")
        yield* opt(s6, L.IPPROTO_IPV6, L.IPV6_RECVPKTINFO, int32(1), "IPV6_RECVPKTINFO")
        yield* opt(s6, L.SOL_SOCKET, L.SO_RCVTIMEO, timeout, "SO_RCVTIMEO")
        const source = v6.find((vi) => vi.sourceAddress !== undefined)?.sourceAddress
        if (source !== undefined && libc.bind(s6, sockaddrIn6(source, ifindex), 28) < 0)
          yield* Effect.logWarning(`bind ${source} on ${ifname} failed (errno ${libc.errno()})`)
        for (const g of new Set(v6.filter((vi) => vi.unicastPeers.length === 0).map((vi) => vi.mcastGroup))) {
          if (libc.setsockopt(s6, L.IPPROTO_IPV6, L.IPV6_ADD_MEMBERSHIP, ipv6Mreq(g, ifindex), 20) < 0)
            yield* Effect.logError(`IPV6_ADD_MEMBERSHIP ${g} on ${ifname} failed (errno ${libc.errno()})`)
        }
        fd6 = s6
        // recvmsg runs on a worker thread: its msghdr, iovec, name, control and data live in native memory.
        const DATA = 65536
        const CONTROL = 256
        const mem = yield* Effect.acquireRelease(
          Effect.sync(() => libc.alloc(Msghdr.size + 16 + 28 + CONTROL + DATA)),
          (m) => Effect.sync(() => libc.free(m.pointer))
        )
        const base = mem.pointer
        const view = new DataView(mem.bytes.buffer, mem.bytes.byteOffset, mem.bytes.byteLength)
        const iovAt = Msghdr.size
        const nameAt = iovAt + 16
        const controlAt = nameAt + 28
        const dataAt = controlAt + CONTROL
        const arm = () => {
          view.setBigUint64(Msghdr.name, base + BigInt(nameAt), true)
          view.setUint32(Msghdr.namelen, 28, true)
          view.setBigUint64(Msghdr.iov, base + BigInt(iovAt), true)
          view.setBigUint64(Msghdr.iovlen, 1n, true)
          view.setBigUint64(Msghdr.control, base + BigInt(controlAt), true)
          view.setBigUint64(Msghdr.controllen, BigInt(CONTROL), true)
          view.setInt32(Msghdr.flags, 0, true)
          view.setBigUint64(iovAt, base + BigInt(dataAt), true)
          view.setBigUint64(iovAt + 8, BigInt(DATA), true)
        }
        const onMessage = (n: number) => {
          let hopLimit = -1
          let destination = "::"
          const clen = Number(view.getBigUint64(Msghdr.controllen, true))
          for (let off = 0; off + Cmsghdr.data <= clen; ) {
            const len = Number(view.getBigUint64(controlAt + off + Cmsghdr.len, true))
            if (len < Cmsghdr.data) break
            const level = view.getInt32(controlAt + off + Cmsghdr.level, true)
            const type = view.getInt32(controlAt + off + Cmsghdr.type, true)
            if (level === L.IPPROTO_IPV6 && type === L.IPV6_HOPLIMIT)
              hopLimit = view.getInt32(controlAt + off + Cmsghdr.data, true)
            if (level === L.IPPROTO_IPV6 && type === L.IPV6_PKTINFO)
              destination = Address.format(mem.bytes, controlAt + off + Cmsghdr.data, "ipv6")
            off += (len + 7) & ~7
          }
          const src = Address.format(mem.bytes, nameAt + 8, "ipv6")
          const payload = mem.bytes.slice(dataAt, dataAt + n)
          deliver({ received: Datagram.fromIpv6Payload(payload, src, destination, hopLimit), interface: ifname })
        }
        let closed = false
        let pending: Promise<void> | undefined
        const loop = () => {
          if (closed) return
          arm()
          pending = new Promise<void>((resolve) => {
            libc.recvmsgAsync(s6, base, (_err, n) => {
              resolve()
              if (closed) return
              if (n > 0) onMessage(n)
              loop()
            })
          })
        }
        yield* Effect.acquireRelease(Effect.sync(loop), () =>
          Effect.promise(async () => {
            closed = true
            fd6 = undefined
            await pending
          })
        )
      })

    const service: Transport.Transport["Service"] = {
      localAddress: (vi) => (vi.family === "ipv4" ? primary : primary6),
      send: (o) =>
        o.instance.family === "ipv6"
          ? sendIpv6(o)
          : Effect.suspend(() => {
              const source = o.source ?? primary
              if (source === undefined) return Effect.logError(`(${o.instance.name}) no IPv4 address on ${ifname}`)
              const n = Datagram.encodeIpv4(
                o.advert,
                { source, destination: o.destination, id: o.id, ttl: o.ttl, checksumAsV2: o.instance.checksumAsV2 },
                out,
                0
              )
              const r = libc.sendto(fd, out, n, 0, sockaddrIn(o.destination), 16)
              return r < 0 ? Effect.logWarning(`sendto ${o.destination} failed (errno ${libc.errno()})`) : Effect.void
            }),
      announce: (vi, addresses, repeat) =>
        Effect.sync(() => {
          const sll = sockaddrLl(ifindex, 0x0806, Frame.BROADCAST)
          for (let i = 0; i < repeat; i++)
            for (const a of addresses) {
              if (vi.family !== "ipv4" && a.includes(":")) {
                const f = Frame.unsolicitedNa(mac, a)
                libc.sendto(packetFd, f, f.length, 0, sockaddrLl(ifindex, 0x86dd, f.subarray(0, 6)), 20)
              } else {
                const f = Frame.gratuitousArp(mac, a)
                libc.sendto(packetFd, f, f.length, 0, sll, 20)
              }
            }
        }),
      addAddresses: (vi) =>
        Effect.gen(function* () {
          for (const a of [...vi.virtualAddresses, ...vi.excludedAddresses]) {
            const v6 = a.includes(":")
            const err = yield* run(
              ip,
              v6 ? ["-6", "addr", "add", `${a}/128`, "dev", ifname, "nodad"] : ["addr", "add", `${a}/32`, "dev", ifname]
            )
            if (err !== undefined && !err.includes("File exists")) yield* Effect.logWarning(err)
          }
          for (const r of vi.virtualRoutes) {
            const err = yield* run(ip, ["route", "replace", ...r.split(/\s+/)])
            if (err !== undefined) yield* Effect.logWarning(err)
          }
        }),
      removeAddresses: (vi) =>
        Effect.gen(function* () {
          for (const r of vi.virtualRoutes) yield* run(ip, ["route", "del", ...r.split(/\s+/)])
          for (const a of [...vi.virtualAddresses, ...vi.excludedAddresses]) {
            const v6 = a.includes(":")
            yield* run(
              ip,
              v6 ? ["-6", "addr", "del", `${a}/128`, "dev", ifname] : ["addr", "del", `${a}/32`, "dev", ifname]
            )
          }
        }),
      listen: (instances, deliver) =>
        Effect.gen(function* () {
          yield* listenIpv6(instances, deliver).pipe(Effect.catch((e) => Effect.logError(e.message)))
          const vips = new Set(instances.flatMap((vi) => [...vi.virtualAddresses, ...vi.excludedAddresses]))
          primary = primaryAddress(vips, false)
          primary6 = primaryAddress(vips, true)
          const groups = new Set(
            instances.filter((vi) => vi.family === "ipv4" && vi.unicastPeers.length === 0).map((vi) => vi.mcastGroup)
          )
          for (const g of groups) {
            const err = libc.setsockopt(fd, Libc.C.IPPROTO_IP, Libc.C.IP_ADD_MEMBERSHIP, mreqn(g, ifindex), 12)
            if (err < 0) yield* Effect.logError(`IP_ADD_MEMBERSHIP ${g} on ${ifname} failed (errno ${libc.errno()})`)
          }
          let closed = false
          let pending: Promise<void> | undefined
          const buf = new Uint8Array(65536)
          const from = new Uint8Array(16)
          const fromLen = new Uint8Array(4)
          const loop = () => {
            if (closed) return
            new DataView(fromLen.buffer).setUint32(0, 16, true)
            pending = new Promise<void>((resolve) => {
              libc.recvfromAsync(fd, buf, buf.length, 0, from, fromLen, (_err, n) => {
                resolve()
                if (closed) return
                if (n > 0) deliver({ received: Datagram.decodeIpv4(buf.slice(0, n), 0, n), interface: ifname })
                loop()
              })
            })
          }
          yield* Effect.acquireRelease(Effect.sync(loop), () =>
            Effect.promise(async () => {
              closed = true
              await pending
            })
          )
        })
    }
    return service
  })

/**
 * The kernel transport as a layer (sockets closed when the layer's scope closes).
 *
 * @example
 * ```ts
 * Effect.provide(program, KernelTransport.layer({ interface: "eth0" }))
 * ```
 */
export const layer = (options: Options): Layer.Layer<Transport.Transport, KernelTransportError> =>
  Layer.effect(Transport.Transport, make(options))
