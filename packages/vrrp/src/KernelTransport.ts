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
 * Limitation: IPv4 only for now. IPv6 needs `recvmsg` with IPV6_HOPLIMIT/IPV6_PKTINFO ancillary data
 * for the hop-limit and destination checks; instances with IPv6 addresses are refused with an error
 * rather than run with those checks silently skipped (the TAP transport supports IPv6).
 *
 * @module
 */
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import { networkInterfaces } from "node:os"
import { Effect, Layer, type Scope } from "effect"
import * as Address from "./Address.ts"
import type * as Config from "./Config.ts"
import * as Datagram from "./Datagram.ts"
import * as Frame from "./Frame.ts"
import * as Libc from "./internal/libc.ts"
import * as Transport from "./Transport.ts"

/** Options of the kernel transport. */
export interface Options {
  /** The interface VRRP runs on (keepalived `interface`). */
  readonly interface: string
  /** The `ip` binary; default `ip` from PATH. */
  readonly ip?: string | undefined
  /** How often the receive loop re-checks for shutdown, ms. Default 100. */
  readonly receiveTimeout?: number | undefined
}

/** A failure to open the kernel sockets, naming the call and errno. */
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
    const primaryAddress = (exclude: ReadonlySet<string>): string | undefined => {
      const list = networkInterfaces()[ifname] ?? []
      return list.find((a) => a.family === "IPv4" && !exclude.has(a.address))?.address
    }
    const out = new Uint8Array(2048)

    const refuseIpv6 = (vi: Config.Instance) =>
      vi.family === "ipv6"
        ? Effect.logError(`(${vi.name}) the kernel transport supports IPv4 instances only; use the TAP transport`)
        : undefined

    const service: Transport.Transport["Service"] = {
      send: (o) =>
        refuseIpv6(o.instance) ??
        Effect.suspend(() => {
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
          for (const vi of instances) {
            const refused = refuseIpv6(vi)
            if (refused !== undefined) yield* refused
          }
          const vips = new Set(instances.flatMap((vi) => [...vi.virtualAddresses, ...vi.excludedAddresses]))
          primary = primaryAddress(vips)
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
