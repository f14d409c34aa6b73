/**
 * PING_CHECK: one ICMP (IPv4) or ICMPv6 echo request with a 128-byte payload; success = the matching echo reply
 * within connect_timeout.
 *
 * Mirrors `keepalived/check/check_ping.c`. Node has no ICMP sockets, so the socket is opened through koffi
 * (libc `socket`/`sendto`/`recvfrom`/`poll`): first an unprivileged ICMP datagram socket
 * (`socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)`, allowed by `net.ipv4.ping_group_range`), else a raw socket
 * (root / CAP_NET_RAW). keepalived widens `ping_group_range` itself; this package does not touch sysctls.
 * Each attempt owns its socket for the lifetime of its Scope; waiting is a `poll()` of at most 100 ms on the
 * libuv thread pool, so the event loop never blocks.
 *
 * @since 0.1.0
 */

import * as crypto from "node:crypto"
import * as net from "node:net"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import koffi from "koffi"
import type * as Config from "./Config.ts"
import { AF_INET, AF_INET6, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_RAW } from "./internal/linux.ts"
import * as Probe from "./Probe.ts"

const IPPROTO_ICMP = 1
const IPPROTO_ICMPV6 = 58
const POLLIN = 1
const ICMP_ECHO = 8
const ICMP_ECHOREPLY = 0
const ICMP6_ECHO = 128
const ICMP6_ECHOREPLY = 129
/** keepalived's echo payload size. */
const PAYLOAD = 128
/** Longest single poll() so interruption is noticed quickly. */
const POLL_SLICE_MS = 100

interface Libc {
  readonly socket: (domain: number, type: number, protocol: number) => number
  readonly close: (fd: number) => number
  readonly bind: (fd: number, addr: Uint8Array, len: number) => number
  readonly sendto: (fd: number, buf: Uint8Array, len: number, flags: number, addr: Uint8Array, alen: number) => number
  readonly recvfrom: (fd: number, buf: Uint8Array, len: number, flags: number, addr: null, alen: null) => number
  readonly poll: {
    async: (
      fds: { fd: number; events: number; revents: number },
      n: number,
      timeout: number,
      cb: (err: unknown, res: number) => void
    ) => void
  }
}

let libc: Libc | undefined
const load = (): Libc => {
  if (libc !== undefined) return libc
  const lib = koffi.load("libc.so.6")
  koffi.struct("lvs_checkers_pollfd", { fd: "int", events: "short", revents: "short" })
  libc = {
    socket: lib.func("int socket(int, int, int)"),
    close: lib.func("int close(int)"),
    bind: lib.func("int bind(int, const void *addr, uint32_t len)"),
    sendto: lib.func(
      "long sendto(int, const void *buf, unsigned long len, int flags, const void *addr, uint32_t alen)"
    ),
    recvfrom: lib.func("long recvfrom(int, _Out_ void *buf, unsigned long len, int flags, void *addr, void *alen)"),
    poll: lib.func("int poll(_Inout_ lvs_checkers_pollfd *fds, unsigned long nfds, int timeout)")
  } as unknown as Libc
  return libc
}

const ipv6Bytes = (address: string): Uint8Array => {
  const [addr] = address.split("%")
  let a = addr!
  const out = new Uint8Array(16)
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(a)
  if (v4) {
    const p = v4[1]!.split(".").map(Number)
    a = `${a.slice(0, v4.index)}${((p[0]! << 8) | p[1]!).toString(16)}:${((p[2]! << 8) | p[3]!).toString(16)}`
  }
  const [head, tail] = a.split("::")
  const h = head ? head.split(":") : []
  const t = tail !== undefined && tail !== "" ? tail.split(":") : []
  const groups = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill("0"), ...t]
  groups.forEach((g, i) => {
    const v = Number.parseInt(g, 16)
    out[i * 2] = v >> 8
    out[i * 2 + 1] = v & 0xff
  })
  return out
}

/**
 * Encode a `struct sockaddr_in` / `sockaddr_in6` for an address literal (port 0).
 *
 * @example
 * ```ts
 * import { PingCheck } from "@lvs-ts/checkers"
 * console.log(PingCheck.sockaddr("127.0.0.1").length) // 16
 * ```
 * @since 0.1.0
 */
export const sockaddr = (address: string): Uint8Array => {
  if (net.isIPv4(address)) {
    const sa = new Uint8Array(16)
    new DataView(sa.buffer).setUint16(0, AF_INET, true)
    sa.set(address.split(".").map(Number), 4)
    return sa
  }
  const sa = new Uint8Array(28)
  new DataView(sa.buffer).setUint16(0, AF_INET6, true)
  sa.set(ipv6Bytes(address), 8)
  return sa
}

/**
 * Build an echo request (ICMP checksum filled in for IPv4; the kernel fills ICMPv6's).
 *
 * @example
 * ```ts
 * import { PingCheck } from "@lvs-ts/checkers"
 * const pkt = PingCheck.echoRequest(false, 0x4242, 1, new Uint8Array(128))
 * console.log(pkt.length, pkt[0]) // 136 8
 * ```
 * @since 0.1.0
 */
export const echoRequest = (v6: boolean, id: number, seq: number, payload: Uint8Array): Uint8Array => {
  const pkt = new Uint8Array(8 + payload.length)
  const v = new DataView(pkt.buffer)
  pkt[0] = v6 ? ICMP6_ECHO : ICMP_ECHO
  v.setUint16(4, id)
  v.setUint16(6, seq)
  pkt.set(payload, 8)
  if (!v6) {
    let sum = 0
    for (let i = 0; i < pkt.length; i += 2) sum += (pkt[i]! << 8) | (pkt[i + 1] ?? 0)
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
    v.setUint16(2, ~sum & 0xffff)
  }
  return pkt
}

/**
 * Is `msg` (as read from the socket: raw IPv4 sockets include the IP header) the echo reply to `seq` carrying
 * `payload`? The id is not compared because ICMP datagram sockets rewrite it.
 *
 * @example
 * ```ts
 * import { PingCheck } from "@lvs-ts/checkers"
 * const p = new Uint8Array(128)
 * const reply = PingCheck.echoRequest(false, 1, 9, p); reply[0] = 0
 * console.log(PingCheck.isReply(reply, false, 9, p)) // true
 * ```
 * @since 0.1.0
 */
export const isReply = (msg: Uint8Array, v6: boolean, seq: number, payload: Uint8Array): boolean => {
  let o = 0
  if (!v6 && msg.length > 0 && msg[0]! >> 4 === 4) o = (msg[0]! & 0x0f) * 4
  if (msg.length < o + 8 + payload.length) return false
  if (msg[o] !== (v6 ? ICMP6_ECHOREPLY : ICMP_ECHOREPLY) || msg[o + 1] !== 0) return false
  if (((msg[o + 6]! << 8) | msg[o + 7]!) !== seq) return false
  for (let i = 0; i < payload.length; i++) if (msg[o + 8 + i] !== payload[i]) return false
  return true
}

interface IcmpSocket {
  readonly fd: number
  polling: boolean
  closed: boolean
}

const openSocket = (v6: boolean, bindTo: string | undefined): Effect.Effect<IcmpSocket, string, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.suspend(() => {
      const c = load()
      const family = v6 ? AF_INET6 : AF_INET
      const proto = v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP
      let fd = c.socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto)
      if (fd < 0) fd = c.socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto)
      if (fd < 0) {
        return Effect.fail(
          `cannot open an ICMP socket (errno ${koffi.errno()}): allow net.ipv4.ping_group_range or run with CAP_NET_RAW`
        )
      }
      if (bindTo !== undefined) {
        const sa = sockaddr(bindTo)
        if (c.bind(fd, sa, sa.length) < 0) {
          c.close(fd)
          return Effect.fail(`cannot bind to ${bindTo} (errno ${koffi.errno()})`)
        }
      }
      return Effect.succeed<IcmpSocket>({ fd, polling: false, closed: false })
    }),
    (s) =>
      Effect.sync(() => {
        s.closed = true
        // A poll() still running on the thread pool closes the fd when it returns.
        if (!s.polling) load().close(s.fd)
      })
  )

const pollOnce = (s: IcmpSocket, ms: number): Effect.Effect<boolean> =>
  Effect.callback<boolean>((resume) => {
    const fds = { fd: s.fd, events: POLLIN, revents: 0 }
    s.polling = true
    load().poll.async(fds, 1, ms, (_err, res) => {
      s.polling = false
      if (s.closed) {
        load().close(s.fd)
        return
      }
      resume(Effect.succeed(res > 0 && (fds.revents & POLLIN) !== 0))
    })
  })

/**
 * One PING_CHECK attempt; it ends at the runner's connect_timeout deadline when no reply comes.
 *
 * @example
 * ```ts
 * import { Config, PingCheck } from "@lvs-ts/checkers"
 * const r = Config.resolve({ realServers: [] }, { address: "127.0.0.1", port: 0, checkers: [] }, { type: "PING_CHECK" })
 * const attempt = PingCheck.probe(r, "[127.0.0.1]:tcp:0")
 * ```
 * @since 0.1.0
 */
export const probe = (r: Config.Resolved, label: string): Effect.Effect<Probe.Result> => {
  const c = r.checker
  const bindTo = c.type === "PING_CHECK" ? c.bindTo : undefined
  const host = r.host
  const v6 = net.isIPv6(host.split("%")[0]!)
  return Effect.scoped(
    Effect.gen(function* () {
      const s = yield* openSocket(v6, bindTo)
      const payload = crypto.randomBytes(PAYLOAD)
      const seq = crypto.randomInt(0, 0x10000)
      const pkt = echoRequest(v6, crypto.randomInt(0, 0x10000), seq, payload)
      const sa = sockaddr(host)
      const lib = load()
      if (lib.sendto(s.fd, pkt, pkt.length, 0, sa, sa.length) < 0) {
        const errno = koffi.errno()
        return Probe.failure(
          errno === 101 || errno === 113 ? "Unreachable" : "Error",
          `PING_CHECK on service ${label}: sendto errno ${errno}.`
        )
      }
      const buf = new Uint8Array(2048)
      while (true) {
        const readable = yield* pollOnce(s, POLL_SLICE_MS)
        if (!readable) continue
        while (true) {
          const n = Number(lib.recvfrom(s.fd, buf, buf.length, 0, null, null))
          if (n <= 0) break
          if (isReply(buf.subarray(0, n), v6, seq, payload)) return Probe.success()
        }
      }
    })
  ).pipe(Effect.catch((e) => Effect.succeed(Probe.failure("Error", `PING_CHECK on service ${label}: ${e}.`))))
}
