/**
 * Paced UDP generator of the end-to-end benchmark (run inside the client namespace): 18-byte payloads
 * (60-byte frames) from an unconnected socket (so ICMP port unreachable from the sink cannot fail the
 * sends) with `sendmmsg()`, `count` datagrams at `pps` (0: as fast as it can). Pacing keeps a schedule
 * (datagram i is due at start + i / pps) and sends what is due in batches of up to 64, spinning between,
 * so the offered rate is exact over any window longer than a few microseconds. trafgen's own pacing
 * (`-b`, `-t`) either bursts the TX ring or sleeps per packet (~45 kpps at most here), hence this.
 *
 * usage: node udpgen.ts <dst ip> <dst port> <count> <pps> [cpu]; prints {"sent","failed","seconds"}
 *
 * @module
 */
import koffi from "koffi"

const [dst = "10.200.1.100", port = "9", countArg = "1000", ppsArg = "0", cpu] = process.argv.slice(2)
const lib = koffi.load("libc.so.6")
const socket = lib.func("int socket(int, int, int)")
const sendmmsg = lib.func("int sendmmsg(int, void *, unsigned int, int)")
const setaffinity = lib.func("int sched_setaffinity(int, unsigned long, void *)")

if (cpu !== undefined) {
  const mask = new Uint8Array(128)
  mask[Number(cpu) >> 3] = 1 << (Number(cpu) & 7)
  setaffinity(0, mask.length, mask)
}

const fd = socket(2, 2, 0)
const addr = new Uint8Array(16)
const view = new DataView(addr.buffer)
view.setUint16(0, 2, true)
view.setUint16(2, Number(port), false)
dst.split(".").forEach((octet, i) => {
  addr[4 + i] = Number(octet)
})

const BATCH = 64
const payload = new Uint8Array(18)
const iov = new BigUint64Array(2)
iov[0] = koffi.address(payload)
iov[1] = BigInt(payload.length)
const iovAddress = koffi.address(iov)
const addrAddress = koffi.address(addr)
// struct mmsghdr { struct msghdr (56 bytes); unsigned msg_len; } padded to 64 bytes on 64-bit Linux.
const msgs = new BigUint64Array(BATCH * 8)
for (let i = 0; i < BATCH; i++) {
  msgs[i * 8] = addrAddress // msg_name
  msgs[i * 8 + 1] = 16n // msg_namelen (u32, the upper half is padding)
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
