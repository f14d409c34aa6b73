/**
 * Kernel-side traffic generator for the TAP benchmark, run inside the benchmark's network namespace:
 * `sendmmsg()` of 64 UDP datagrams per call on a connected socket, for a bounded time, optionally pinned
 * to one CPU. The kernel routes them out of the tap (a static neighbour entry gives the destination MAC),
 * so every datagram becomes a frame the TAP reader must read. Prints the number of datagrams sent.
 *
 * usage: node generator.ts <dst ip> <dst port> <payload bytes> <milliseconds> [cpu]
 */
import koffi from "koffi"

const [dst = "10.9.0.2", port = "9", size = "18", ms = "2000", cpu] = process.argv.slice(2)
const lib = koffi.load("libc.so.6")
const socket = lib.func("int socket(int, int, int)")
const connect = lib.func("int connect(int, void *, unsigned int)")
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
if (connect(fd, addr, 16) < 0) throw new Error(`connect failed: errno ${koffi.errno()}`)

const BATCH = 64
const payload = new Uint8Array(Number(size))
const iov = new BigUint64Array(2)
iov[0] = koffi.address(payload)
iov[1] = BigInt(payload.length)
const iovAddress = koffi.address(iov)
// struct mmsghdr { struct msghdr (56 bytes); unsigned msg_len; } padded to 64 bytes on 64-bit Linux.
const msgs = new BigUint64Array(BATCH * 8)
for (let i = 0; i < BATCH; i++) {
  msgs[i * 8 + 2] = iovAddress // msg_iov
  msgs[i * 8 + 3] = 1n // msg_iovlen
}

let sent = 0
let failed = 0
// Tell the benchmark the flood starts now (it measures from here, not from process start-up).
process.stdout.write("start\n")
const until = performance.now() + Number(ms)
while (performance.now() < until) {
  for (let k = 0; k < 16; k++) {
    const n = sendmmsg(fd, msgs, BATCH, 0)
    if (n > 0) sent += n
    else failed++
  }
}
console.log(JSON.stringify({ sent, failed }))
