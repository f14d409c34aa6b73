/**
 * Paced UDP generator of the end-to-end benchmark (run inside the client namespace): 18-byte payloads
 * (60-byte frames) from an unconnected socket (so ICMP port unreachable from the sink cannot fail the
 * sends) with `sendmmsg()`, `count` datagrams at `pps` (0: as fast as it can). Pacing keeps a schedule
 * (datagram i is due at start + i / pps) and sends what is due in batches of up to 64, spinning between,
 * so the offered rate is exact over any window longer than a few microseconds. trafgen's own pacing
 * (`-b`, `-t`) either bursts the TX ring or sleeps per packet (~45 kpps at most here), hence this.
 *
 * With `raw=<dst mac>` it writes whole 60-byte Ethernet frames (IPv4 + UDP, the same datagram, UDP
 * checksum 0) on an `AF_PACKET` socket with `PACKET_QDISC_BYPASS`, so the sender skips its own routing,
 * UDP and neighbour layers and the load core has more left for the real servers' side: the kernel
 * variants' loss-free rate was bounded by this generator at ~230 kpps with the UDP socket.
 *
 * usage: node udpgen.ts <dst ip> <dst port> <count> <pps> [cpu] [raw=<dst mac>,<src mac>,<src ip>,<dev>]
 * prints {"sent","failed","seconds"}
 *
 * @module
 */
import koffi from "koffi"

const [dst = "10.200.1.100", port = "9", countArg = "1000", ppsArg = "0", cpuArg = "", rawArg = ""] =
  process.argv.slice(2)
const cpu = cpuArg === "" ? undefined : cpuArg
const lib = koffi.load("libc.so.6")
const socket = lib.func("int socket(int, int, int)")
const sendmmsg = lib.func("int sendmmsg(int, void *, unsigned int, int)")
const setaffinity = lib.func("int sched_setaffinity(int, unsigned long, void *)")
const setsockopt = lib.func("int setsockopt(int, int, int, void *, unsigned int)")
const ifNameToIndex = lib.func("unsigned int if_nametoindex(const char *)")

if (cpu !== undefined) {
  const mask = new Uint8Array(128)
  mask[Number(cpu) >> 3] = 1 << (Number(cpu) & 7)
  setaffinity(0, mask.length, mask)
}

const ipv4 = (text: string) => text.split(".").reduce((a, o) => a * 256 + Number(o), 0)
const mac = (text: string) => Uint8Array.from(text.split(":").map((h) => Number.parseInt(h, 16)))
const raw = rawArg.startsWith("raw=") ? rawArg.slice(4).split(",") : undefined

let fd: number
let addr: Uint8Array
let payload: Uint8Array
if (raw === undefined) {
  fd = socket(2, 2, 0)
  addr = new Uint8Array(16)
  const view = new DataView(addr.buffer)
  view.setUint16(0, 2, true)
  view.setUint16(2, Number(port), false)
  dst.split(".").forEach((octet, i) => {
    addr[4 + i] = Number(octet)
  })
  payload = new Uint8Array(18)
} else {
  const [dstMac = "", srcMac = "", srcIp = "", dev = "eth0"] = raw
  // AF_PACKET, SOCK_RAW, protocol 0: send only, nothing is queued for us to read.
  fd = socket(17, 3, 0)
  if (fd < 0) throw new Error(`socket(AF_PACKET) failed: errno ${koffi.errno()}`)
  // SOL_PACKET (263), PACKET_QDISC_BYPASS (20): straight to the driver's xmit.
  setsockopt(fd, 263, 20, Int32Array.of(1), 4)
  // struct sockaddr_ll { u16 family; be16 protocol; i32 ifindex; u16 hatype; u8 pkttype; u8 halen; u8 addr[8] }
  addr = new Uint8Array(20)
  const sll = new DataView(addr.buffer)
  sll.setUint16(0, 17, true)
  sll.setUint16(2, 0x0800, false)
  sll.setInt32(4, ifNameToIndex(dev), true)
  addr[11] = 6
  addr.set(mac(dstMac), 12)
  // Ethernet + IPv4 (20) + UDP (8) + 18 bytes: 60 bytes, the same datagram the UDP socket sends.
  payload = new Uint8Array(60)
  const f = new DataView(payload.buffer)
  payload.set(mac(dstMac), 0)
  payload.set(mac(srcMac), 6)
  f.setUint16(12, 0x0800)
  f.setUint8(14, 0x45)
  f.setUint16(16, 46)
  f.setUint16(20, 0x4000)
  f.setUint8(22, 64)
  f.setUint8(23, 17)
  f.setUint32(26, ipv4(srcIp))
  f.setUint32(30, ipv4(dst))
  let sum = 0
  for (let i = 14; i < 34; i += 2) sum += f.getUint16(i)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  f.setUint16(24, ~sum & 0xffff)
  f.setUint16(34, 40000)
  f.setUint16(36, Number(port))
  f.setUint16(38, 26)
}

const BATCH = 64
const iov = new BigUint64Array(2)
iov[0] = koffi.address(payload)
iov[1] = BigInt(payload.length)
const iovAddress = koffi.address(iov)
const addrAddress = koffi.address(addr)
// struct mmsghdr { struct msghdr (56 bytes); unsigned msg_len; } padded to 64 bytes on 64-bit Linux.
const msgs = new BigUint64Array(BATCH * 8)
for (let i = 0; i < BATCH; i++) {
  msgs[i * 8] = addrAddress // msg_name
  msgs[i * 8 + 1] = BigInt(addr.length) // msg_namelen (u32, the upper half is padding)
  msgs[i * 8 + 2] = iovAddress // msg_iov
  msgs[i * 8 + 3] = 1n // msg_iovlen
}

const count = Number(countArg)
const pps = Number(ppsArg)
let sent = 0
let failed = 0
const start = performance.now()
while (sent < count) {
  let due = count - sent
  if (pps > 0) {
    due = Math.min(due, Math.floor(((performance.now() - start) / 1000) * pps) + 1 - sent)
    if (due <= 0) continue
  }
  const n = sendmmsg(fd, msgs, Math.min(BATCH, due), 0)
  if (n > 0) sent += n
  else if (++failed > 1_000_000) break
}
const seconds = (performance.now() - start) / 1000
console.log(JSON.stringify({ sent, failed, seconds }))
