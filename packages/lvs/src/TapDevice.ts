/**
 * Opening and configuring Linux TAP devices from the current thread: plain synchronous calls, no Effect.
 *
 * A TAP device is the userspace end of an Ethernet link: every frame the kernel transmits on the interface
 * can be read from the fd, and every frame written to the fd is received by the kernel as if it came off
 * the wire. This mirrors what `ip tuntap add mode tap` and the kernel's `drivers/net/tun.c` do:
 * `open("/dev/net/tun")` then `ioctl(TUNSETIFF, IFF_TAP | IFF_NO_PI [| IFF_MULTI_QUEUE])`, once per queue.
 *
 * MTU, MAC address and the up flag are set with `SIOCSIFMTU`, `SIOCSIFHWADDR` and `SIOCSIFFLAGS` on an
 * `AF_INET` datagram socket, instead of running `ip link set`: no child process, no dependency on
 * iproute2 at run time, and the socket (hence the change) lives in the calling thread's network
 * namespace, which is what {@link TapPorts} relies on when it opens devices inside another namespace.
 *
 * @module
 */
import * as Libc from "./internal/Libc.ts"

/**
 * What to open: one TAP interface with one or more queues.
 *
 * @example
 * ```ts
 * const spec: TapDevice.Spec = { name: "tap0", queues: 2, mtu: 1500, mac: "02:00:00:00:00:01" }
 * ```
 */
export interface Spec {
  /** Interface name, at most 15 bytes (`IFNAMSIZ - 1`). An existing persistent tap of that name is attached. */
  readonly name: string
  /** Number of queues (fds). More than one sets `IFF_MULTI_QUEUE`. Default 1. */
  readonly queues?: number
  /** MTU to set on the interface; left unchanged when absent. */
  readonly mtu?: number
  /** MAC address of the kernel-side interface, `"02:00:00:00:00:01"`; left unchanged when absent. */
  readonly mac?: string
  /** Bring the interface up (`IFF_UP`). Default true. */
  readonly up?: boolean
  /**
   * Frames the kernel may queue for the reader (`txqueuelen`, the tun ring per queue; the kernel's default
   * is 500). Raised to this value when lower, never lowered: a userspace reader can be preempted for a
   * scheduler slice, and what arrives meanwhile must fit (see {@link DEFAULT_TX_QUEUE_LENGTH}).
   */
  readonly txQueueLength?: number
}

/**
 * Default minimum `txqueuelen` of an opened device: 4096 frames, ~40 ms at 100k frames/s, enough to ride
 * out a scheduler slice of another task on the reader's core (the kernel's 500 overflowed in 5 ms at
 * 100k frames/s in the end-to-end bench). Like raising a NIC's ring with `ethtool -G`.
 *
 * @example
 * ```ts
 * TapDevice.open({ name: "tap0", txQueueLength: TapDevice.DEFAULT_TX_QUEUE_LENGTH })
 * ```
 */
export const DEFAULT_TX_QUEUE_LENGTH = 4096

/**
 * An opened TAP device: its name as the kernel reports it, index, MAC, MTU and one fd per queue.
 *
 * @example
 * ```ts
 * const { name, ifindex, fds } = TapDevice.open({ name: "tap0" })
 * ```
 */
export interface Device {
  readonly name: string
  readonly ifindex: number
  readonly mac: string
  readonly mtu: number
  /** Non-blocking, close-on-exec fds, one per queue. */
  readonly fds: ReadonlyArray<number>
}

/**
 * Thrown by the plain API: names the device, the step and the errno.
 *
 * @example
 * ```ts
 * try { TapDevice.open({ name: "tap0" }) } catch (e) { if (e instanceof TapDevice.TapDeviceError) console.error(e.step, e.errno) }
 * ```
 */
export class TapDeviceError extends Error {
  readonly device: string
  readonly step: string
  readonly errno: number
  constructor(device: string, step: string, errno: number, detail?: string) {
    super(`tap ${JSON.stringify(device)}: ${step} failed: ${detail ?? Libc.describeErrno(errno)}`)
    this.name = "TapDeviceError"
    this.device = device
    this.step = step
    this.errno = errno
  }
}

const encoder = new TextEncoder()

const ifreq = (name: string): Uint8Array => {
  const req = new Uint8Array(Libc.IFREQ_SIZE)
  req.set(encoder.encode(name))
  return req
}

const readName = (req: Uint8Array): string => {
  let end = 0
  while (end < Libc.IFNAMSIZ && req[end] !== 0) end++
  return new TextDecoder().decode(req.subarray(0, end))
}

/**
 * Parses `aa:bb:cc:dd:ee:ff` into 6 bytes; `undefined` when malformed.
 *
 * @example
 * ```ts
 * TapDevice.parseMac("02:00:00:00:00:01") // Uint8Array [2, 0, 0, 0, 0, 1]
 * ```
 */
export const parseMac = (text: string): Uint8Array | undefined => {
  const parts = text.split(":")
  if (parts.length !== 6) return undefined
  const out = new Uint8Array(6)
  for (let i = 0; i < 6; i++) {
    const part = parts[i]!
    if (!/^[0-9a-fA-F]{1,2}$/.test(part)) return undefined
    out[i] = Number.parseInt(part, 16)
  }
  return out
}

/**
 * Formats 6 bytes at `offset` as `aa:bb:cc:dd:ee:ff`.
 *
 * @example
 * ```ts
 * TapDevice.formatMac(new Uint8Array([2, 0, 0, 0, 0, 1]), 0) // "02:00:00:00:00:01"
 * ```
 */
export const formatMac = (bytes: Uint8Array, offset: number): string => {
  const parts: Array<string> = []
  for (let i = 0; i < 6; i++) parts.push(bytes[offset + i]!.toString(16).padStart(2, "0"))
  return parts.join(":")
}

/**
 * Checks a spec before any system call; returns the problem as text, or `undefined` when it is valid.
 *
 * @example
 * ```ts
 * TapDevice.validate({ name: "a-name-that-is-too-long" }) // "name ... is longer than 15 bytes"
 * ```
 */
export const validate = (spec: Spec): string | undefined => {
  const nameBytes = encoder.encode(spec.name).length
  if (nameBytes === 0) return "name is empty"
  if (nameBytes >= Libc.IFNAMSIZ) return `name ${JSON.stringify(spec.name)} is longer than 15 bytes`
  if (/[\s/:]/.test(spec.name)) return `name ${JSON.stringify(spec.name)} contains whitespace, '/' or ':'`
  const queues = spec.queues ?? 1
  if (!Number.isInteger(queues) || queues < 1 || queues > 256) return `queues ${queues} is not an integer in 1..256`
  if (spec.mtu !== undefined && (!Number.isInteger(spec.mtu) || spec.mtu < 68 || spec.mtu > 65535)) {
    return `mtu ${spec.mtu} is not an integer in 68..65535`
  }
  const qlen = spec.txQueueLength
  if (qlen !== undefined && (!Number.isInteger(qlen) || qlen < 0 || qlen > 1_000_000)) {
    return `txQueueLength ${qlen} is not an integer in 0..1000000`
  }
  if (spec.mac !== undefined) {
    const mac = parseMac(spec.mac)
    if (mac === undefined) return `mac ${JSON.stringify(spec.mac)} is not of the form aa:bb:cc:dd:ee:ff`
    if ((mac[0]! & 1) === 1) return `mac ${spec.mac} is a multicast address`
  }
  return undefined
}

/**
 * Opens (creating if needed) a TAP device in the calling thread's network namespace and configures it.
 *
 * Each queue is `open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC)` + `TUNSETIFF`. On failure every
 * fd opened so far is closed and a {@link TapDeviceError} is thrown. The device disappears when its last
 * fd is closed, unless it was created persistent (e.g. by `ip tuntap add`).
 *
 * @example
 * ```ts
 * const dev = TapDevice.open({ name: "tap0", mtu: 1500, mac: "02:00:00:00:00:01" })
 * // ... read/write dev.fds[0] ...
 * TapDevice.close(dev)
 * ```
 */
export const open = (spec: Spec): Device => {
  const invalid = validate(spec)
  if (invalid !== undefined) throw new TapDeviceError(spec.name, "validate", 0, invalid)
  const c = Libc.libc()
  const queues = spec.queues ?? 1
  const flags = Libc.IFF_TAP | Libc.IFF_NO_PI | (queues > 1 ? Libc.IFF_MULTI_QUEUE : 0)
  const fds: Array<number> = []
  let sock = -1
  const fail = (step: string): never => {
    const errno = c.errno()
    for (const fd of fds) c.close(fd)
    if (sock >= 0) c.close(sock)
    throw new TapDeviceError(spec.name, step, errno)
  }
  let name = spec.name
  for (let q = 0; q < queues; q++) {
    const fd = c.open("/dev/net/tun", Libc.O_RDWR | Libc.O_NONBLOCK | Libc.O_CLOEXEC)
    if (fd < 0) fail("open /dev/net/tun")
    fds.push(fd)
    const req = ifreq(name)
    new DataView(req.buffer).setInt16(16, flags, true)
    if (c.ioctl(fd, Libc.TUNSETIFF, req) < 0) fail(`TUNSETIFF (queue ${q})`)
    name = readName(req)
  }
  sock = c.socket(Libc.AF_INET, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, 0)
  if (sock < 0) fail("socket(AF_INET)")
  if (spec.mtu !== undefined) {
    const req = ifreq(name)
    new DataView(req.buffer).setInt32(16, spec.mtu, true)
    if (c.ioctl(sock, Libc.SIOCSIFMTU, req) < 0) fail(`SIOCSIFMTU ${spec.mtu}`)
  }
  if (spec.mac !== undefined) {
    const req = ifreq(name)
    new DataView(req.buffer).setUint16(16, Libc.ARPHRD_ETHER, true)
    req.set(parseMac(spec.mac)!, 18)
    if (c.ioctl(sock, Libc.SIOCSIFHWADDR, req) < 0) fail(`SIOCSIFHWADDR ${spec.mac}`)
  }
  if (spec.txQueueLength !== undefined && spec.txQueueLength > 0) {
    const req = ifreq(name)
    if (c.ioctl(sock, Libc.SIOCGIFTXQLEN, req) < 0) fail("SIOCGIFTXQLEN")
    const view = new DataView(req.buffer)
    if (view.getInt32(16, true) < spec.txQueueLength) {
      view.setInt32(16, spec.txQueueLength, true)
      if (c.ioctl(sock, Libc.SIOCSIFTXQLEN, req) < 0) fail(`SIOCSIFTXQLEN ${spec.txQueueLength}`)
    }
  }
  if (spec.up ?? true) {
    const req = ifreq(name)
    if (c.ioctl(sock, Libc.SIOCGIFFLAGS, req) < 0) fail("SIOCGIFFLAGS")
    const view = new DataView(req.buffer)
    view.setInt16(16, view.getInt16(16, true) | Libc.IFF_UP, true)
    if (c.ioctl(sock, Libc.SIOCSIFFLAGS, req) < 0) fail("SIOCSIFFLAGS up")
  }
  const index = ifreq(name)
  if (c.ioctl(sock, Libc.SIOCGIFINDEX, index) < 0) fail("SIOCGIFINDEX")
  const mtu = ifreq(name)
  if (c.ioctl(sock, Libc.SIOCGIFMTU, mtu) < 0) fail("SIOCGIFMTU")
  const hw = ifreq(name)
  if (c.ioctl(sock, Libc.SIOCGIFHWADDR, hw) < 0) fail("SIOCGIFHWADDR")
  c.close(sock)
  return {
    name,
    ifindex: new DataView(index.buffer).getInt32(16, true),
    mtu: new DataView(mtu.buffer).getInt32(16, true),
    mac: formatMac(hw, 18),
    fds
  }
}

/**
 * Closes every queue fd of a device (idempotence is the caller's business: fds are plain numbers).
 *
 * @example
 * ```ts
 * TapDevice.close(TapDevice.open({ name: "tap0" }))
 * ```
 */
export const close = (device: Device): void => {
  const c = Libc.libc()
  for (const fd of device.fds) c.close(fd)
}

/**
 * Moves the calling thread into the network namespace `netns`: a name under `/var/run/netns` (as made by
 * `ip netns add`) or an absolute path such as `/proc/<pid>/ns/net`.
 *
 * `setns(CLONE_NEWNET)` changes only the calling thread, so call it in a worker thread dedicated to the
 * job (as {@link TapPorts} does), never on the main thread of a program that also talks to the host.
 *
 * @example
 * ```ts
 * // inside a worker thread
 * TapDevice.enterNetns("lab-director")
 * const dev = TapDevice.open({ name: "tap0" })
 * ```
 */
export const enterNetns = (netns: string): void => {
  const c = Libc.libc()
  const path = netns.startsWith("/") ? netns : `/var/run/netns/${netns}`
  const fd = c.open(path, Libc.O_RDONLY | Libc.O_CLOEXEC)
  if (fd < 0) throw new TapDeviceError(netns, `open ${path}`, c.errno())
  const rc = c.setns(fd, Libc.CLONE_NEWNET)
  const errno = c.errno()
  c.close(fd)
  if (rc < 0) throw new TapDeviceError(netns, "setns(CLONE_NEWNET)", errno)
}
