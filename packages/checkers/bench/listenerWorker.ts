/**
 * The scale bench's accept loop: a blocking `accept4()` + `close()` per connection through koffi, in a worker
 * thread, so the listener costs two syscalls per check and no Node socket/handle per connection. Each thread
 * has its own SO_REUSEPORT socket (its own accept queue, capped by net.core.somaxconn) on the same port.
 */
import { parentPort, workerData } from "node:worker_threads"
import koffi from "koffi"

const lib = koffi.load("libc.so.6")
const socket = lib.func("int socket(int domain, int type, int protocol)")
const setsockopt = lib.func("int setsockopt(int fd, int level, int name, uintptr_t value, uint32_t len)")
const bind = lib.func("int bind(int fd, uintptr_t addr, uint32_t len)")
const listen = lib.func("int listen(int fd, int backlog)")
const getsockname = lib.func("int getsockname(int fd, uintptr_t addr, uintptr_t len)")
const accept4 = lib.func("int accept4(int fd, uintptr_t addr, uintptr_t len, int flags)")
const close = lib.func("int close(int fd)")
const at = (v: ArrayBufferView) => Number(koffi.address(v))

const fd = socket(2, 1 | 0o2000000, 0) as number
const one = new Int32Array([1])
setsockopt(fd, 1, 2, at(one), 4) // SO_REUSEADDR
setsockopt(fd, 1, 15, at(one), 4) // SO_REUSEPORT
const addr = new Uint8Array(16)
const view = new DataView(addr.buffer)
view.setUint16(0, 2, true) // AF_INET, 0.0.0.0
view.setUint16(2, (workerData as { port: number }).port, false)
if ((bind(fd, at(addr), 16) as number) < 0 || (listen(fd, 65535) as number) < 0) {
  throw new Error(`listener bind/listen failed: errno ${koffi.errno()}`)
}
const len = new Uint32Array([16])
getsockname(fd, at(addr), at(len))
parentPort!.postMessage(view.getUint16(2, false))
for (;;) {
  const c = accept4(fd, 0, 0, 0o2000000) as number
  if (c >= 0) close(c)
}
