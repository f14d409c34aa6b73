/**
 * The few libc socket calls the kernel transport needs, bound with koffi (Node has no raw IP sockets).
 * Loaded lazily so that importing the package never loads native code.
 */
import koffi from "koffi"

/** Linux constants (x86-64/arm64 generic ABI). */
export const C = {
  AF_INET: 2,
  AF_INET6: 10,
  AF_PACKET: 17,
  SOCK_RAW: 3,
  SOL_SOCKET: 1,
  SO_RCVTIMEO: 20,
  SO_BINDTODEVICE: 25,
  IPPROTO_IP: 0,
  IPPROTO_IPV6: 41,
  IP_HDRINCL: 3,
  IP_MULTICAST_IF: 32,
  IP_MULTICAST_TTL: 33,
  IP_MULTICAST_LOOP: 34,
  IP_ADD_MEMBERSHIP: 35,
  IPV6_UNICAST_HOPS: 16,
  IPV6_MULTICAST_IF: 17,
  IPV6_MULTICAST_HOPS: 18,
  IPV6_MULTICAST_LOOP: 19,
  IPV6_ADD_MEMBERSHIP: 20,
  IPV6_CHECKSUM: 7,
  IPV6_RECVPKTINFO: 49,
  IPV6_RECVHOPLIMIT: 51,
  IPV6_PKTINFO: 50,
  IPV6_HOPLIMIT: 52,
  EAGAIN: 11,
  EINTR: 4
} as const

export interface Libc {
  readonly socket: (domain: number, type: number, protocol: number) => number
  readonly setsockopt: (fd: number, level: number, name: number, value: Uint8Array, len: number) => number
  readonly close: (fd: number) => number
  readonly sendto: (fd: number, buf: Uint8Array, len: number, flags: number, addr: Uint8Array, alen: number) => number
  /** recvfrom, asynchronously on a koffi worker thread (blocking, bounded by SO_RCVTIMEO). */
  readonly recvfromAsync: (
    fd: number,
    buf: Uint8Array,
    len: number,
    flags: number,
    addr: Uint8Array,
    alen: Uint8Array,
    cb: (err: unknown, n: number) => void
  ) => void
  /** recvmsg on a `struct msghdr` in native memory (see {@link alloc}), on a koffi worker thread. */
  readonly recvmsgAsync: (fd: number, msghdr: bigint, cb: (err: unknown, n: number) => void) => void
  readonly bind: (fd: number, addr: Uint8Array, len: number) => number
  readonly ifNameToIndex: (name: string) => number
  readonly errno: () => number
  /** Native memory that never moves (buffers handed to worker threads), with a view over it. */
  readonly alloc: (size: number) => { readonly pointer: bigint; readonly bytes: Uint8Array }
  readonly free: (pointer: bigint) => void
}

let libc: Libc | undefined

/** Binds libc on first use. */
export const load = (): Libc => {
  if (libc !== undefined) return libc
  const lib = koffi.load("libc.so.6")
  const socket = lib.func("int socket(int, int, int)")
  const setsockopt = lib.func("int setsockopt(int, int, int, const uint8_t *, uint32_t)")
  const close = lib.func("int close(int)")
  const sendto = lib.func("intptr_t sendto(int, const uint8_t *, size_t, int, const uint8_t *, uint32_t)")
  const recvfrom = lib.func("intptr_t recvfrom(int, _Out_ uint8_t *, size_t, int, _Out_ uint8_t *, _Inout_ uint8_t *)")
  const ifNameToIndex = lib.func("unsigned int if_nametoindex(const char *)")
  const recvmsg = lib.func("intptr_t recvmsg(int, void *, int)")
  const bind = lib.func("int bind(int, const uint8_t *, uint32_t)")
  libc = {
    socket: (d, t, p) => socket(d, t, p) as number,
    setsockopt: (fd, level, name, value, len) => setsockopt(fd, level, name, value, len) as number,
    close: (fd) => close(fd) as number,
    sendto: (fd, buf, len, flags, addr, alen) => Number(sendto(fd, buf, len, flags, addr, alen)),
    recvfromAsync: (fd, buf, len, flags, addr, alen, cb) =>
      recvfrom.async(fd, buf, len, flags, addr, alen, (err: unknown, n: number | bigint) => cb(err, Number(n))),
    ifNameToIndex: (name) => ifNameToIndex(name) as number,
    recvmsgAsync: (fd, msghdr, cb) =>
      recvmsg.async(fd, msghdr, 0, (err: unknown, n: number | bigint) => cb(err, Number(n))),
    bind: (fd, addr, len) => bind(fd, addr, len) as number,
    errno: () => koffi.errno(),
    alloc: (size) => {
      const pointer = koffi.alloc("uint8_t", size) as bigint
      return { pointer, bytes: new Uint8Array(koffi.view(pointer, size)) }
    },
    free: (pointer) => koffi.free(pointer)
  }
  return libc
}
