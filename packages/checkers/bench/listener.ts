/**
 * Scale-bench real servers: one TCP listener on 0.0.0.0 that accepts and closes every connection, so every
 * 127.x.y.z loopback address answers on the port. Runs as its own process so its CPU is measured apart; the
 * accept loop is a worker thread doing `accept4()` + `close()` through koffi (a Node `net.Server` spent more
 * CPU per connection than the checker it was measuring).
 */
import { Worker } from "node:worker_threads"

const worker = new Worker(new URL("./listenerWorker.ts", import.meta.url))
worker.once("message", (port: number) => process.stdout.write(`${port}\n`))
worker.unref()
process.on("message", (m) => {
  if (m === "usage") process.send?.({ cpu: process.cpuUsage(), rss: process.memoryUsage().rss })
})
// The accept loop blocks in accept4(), which a worker termination cannot interrupt: exit hard.
process.on("SIGTERM", () => process.kill(process.pid, "SIGKILL"))
