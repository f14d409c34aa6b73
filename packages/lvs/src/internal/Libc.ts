/**
 * The handful of libc calls the TAP I/O layer needs, declared through koffi.
 *
 * Buffers are passed as raw addresses (`uintptr_t`) computed from one base address per pool, so a read or
 * write at an arbitrary offset into the shared pool creates no view and allocates nothing. Every call
 * returns the raw C result; on -1 the caller reads {@link errno} (a second native call, only on failure).
 *
 * Declarations are made lazily, once per thread (koffi is loaded per worker).
 *
 * @internal
 */
import koffi from "koffi"

/** `ioctl` request numbers and flags from `<linux/if_tun.h>`, `<linux/sockios.h>`, `<net/if.h>`. */
export const TUNSETIFF = 0x400454ca
export const TUNSETPERSIST = 0x400454cb
export const IFF_TAP = 0x0002
export const IFF_NO_PI = 0x1000
export const IFF_MULTI_QUEUE = 0x0100
export const SIOCGIFFLAGS = 0x8913
export const SIOCSIFFLAGS = 0x8914
export const SIOCGIFMTU = 0x8921
export const SIOCSIFMTU = 0x8922
export const SIOCSIFHWADDR = 0x8924
export const SIOCGIFHWADDR = 0x8927
export const SIOCGIFTXQLEN = 0x8942
export const SIOCSIFTXQLEN = 0x8943
export const SIOCGIFINDEX = 0x8933
export const IFF_UP = 0x1
export const ARPHRD_ETHER = 1

/** `open(2)` / `pipe2(2)` / `socket(2)` flags (x86-64 and arm64 share these values). */
export const O_RDWR = 2
export const O_RDONLY = 0
export const O_NONBLOCK = 0o4000
export const O_CLOEXEC = 0o2000000
export const AF_INET = 2
export const SOCK_DGRAM = 2
export const SOCK_CLOEXEC = 0o2000000
export const CLONE_NEWNET = 0x40000000

/** `poll(2)` event bits; `struct pollfd` is `{ int fd; short events; short revents }`, 8 bytes. */
export const POLLIN = 0x1
export const POLLERR = 0x8
export const POLLHUP = 0x10
export const POLLNVAL = 0x20
export const POLLFD_SIZE = 8

/** `sched_setscheduler(2)` policy for a real-time FIFO thread. */
export const SCHED_FIFO = 1

/** errno values used by the loop. */
export const EAGAIN = 11
export const EINTR = 4

/** Size of `struct ifreq` on 64-bit Linux: 16-byte name plus a 24-byte union. */
export const IFREQ_SIZE = 40
export const IFNAMSIZ = 16

/** The bound libc functions. */
export interface Libc {
  readonly open: (path: string, flags: number) => number
  readonly close: (fd: number) => number
  readonly read: (fd: number, address: number, length: number) => number
  readonly write: (fd: number, address: number, length: number) => number
  readonly readInto: (fd: number, buffer: Uint8Array, length: number) => number
  readonly writeFrom: (fd: number, buffer: Uint8Array, length: number) => number
  readonly ioctl: (fd: number, request: number, arg: Uint8Array) => number
  readonly poll: (fds: Uint8Array, nfds: number, timeoutMs: number) => number
  readonly pipe2: (fds: Int32Array, flags: number) => number
  readonly socket: (domain: number, type: number, protocol: number) => number
  readonly setns: (fd: number, nstype: number) => number
  /** `sched_setscheduler(0, policy, &{ priority })`: pid 0 is the calling thread. */
  readonly schedSetscheduler: (pid: number, policy: number, param: Int32Array) => number
  readonly errno: () => number
  readonly strerror: (code: number) => string
  /** The address of a typed array's first byte (stable: ArrayBuffer backing stores never move). */
  readonly addressOf: (view: Uint8Array) => number
}

let bound: Libc | undefined

/** Binds libc once per thread. */
export const libc = (): Libc => {
  if (bound !== undefined) return bound
  const lib = koffi.load("libc.so.6")
  const strerror = lib.func("const char *strerror(int errnum)")
  bound = {
    open: lib.func("int open(const char *path, int flags)"),
    close: lib.func("int close(int fd)"),
    read: lib.func("long read(int fd, uintptr_t buf, unsigned long n)"),
    write: lib.func("long write(int fd, uintptr_t buf, unsigned long n)"),
    readInto: lib.func("long read(int fd, _Out_ void *buf, unsigned long n)"),
    writeFrom: lib.func("long write(int fd, const void *buf, unsigned long n)"),
    ioctl: lib.func("int ioctl(int fd, unsigned long req, void *arg)"),
    poll: lib.func("int poll(void *fds, unsigned long nfds, int timeout)"),
    pipe2: lib.func("int pipe2(int *fds, int flags)"),
    socket: lib.func("int socket(int domain, int type, int protocol)"),
    setns: lib.func("int setns(int fd, int nstype)"),
    schedSetscheduler: lib.func("int sched_setscheduler(int pid, int policy, const void *param)"),
    errno: () => koffi.errno(),
    strerror: (code: number) => strerror(code) as string,
    addressOf: (view: Uint8Array) => Number(koffi.address(view))
  }
  return bound
}

/** Formats the current errno as `name (code): message` for error text. */
export const describeErrno = (code: number): string => {
  const names = koffi.os.errno as Record<string, number>
  let name = "errno"
  for (const key in names) {
    if (names[key] === code) {
      name = key
      break
    }
  }
  return `${name} (${code}): ${libc().strerror(code)}`
}
