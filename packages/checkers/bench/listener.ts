/**
 * Scale-bench real servers: TCP listeners on 0.0.0.0 that accept and close every connection, so every
 * 127.x.y.z loopback address answers on the port. Runs as its own process so its CPU is measured apart. The
 * accept loops are worker threads doing `accept4()` + `close()` through koffi (a Node `net.Server` spent more
 * CPU per connection than the checker it was measuring), two SO_REUSEPORT sockets by default
 * (`BENCH_LISTENER_THREADS`) so one descheduled thread does not overflow its accept queue and drop SYNs.
 */
import { Worker } from "node:worker_threads"

const threads = Number(process.env["BENCH_LISTENER_THREADS"] ?? 2)
const startThread = (port: number) =>
  new Promise<number>((resolve, reject) => {
    const worker = new Worker(new URL("./listenerWorker.ts", import.meta.url), { workerData: { port } })
    worker.once("message", (p: number) => {
      worker.unref()
      resolve(p)
    })
    worker.once("error", reject)
  })
const port = await startThread(0)
for (let i = 1; i < threads; i++) await startThread(port)
process.stdout.write(`${port}\n`)
process.on("message", (m) => {
  if (m === "usage") process.send?.({ cpu: process.cpuUsage(), rss: process.memoryUsage().rss })
})
// The accept loops block in accept4(), which a worker termination cannot interrupt: exit hard.
process.on("SIGTERM", () => process.kill(process.pid, "SIGKILL"))
