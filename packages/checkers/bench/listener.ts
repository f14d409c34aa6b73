/**
 * Scale-bench real servers: one TCP listener on 0.0.0.0 that accepts and closes every connection, so every
 * 127.x.y.z loopback address answers on the port. Runs as its own process so its CPU is measured apart.
 */
import * as net from "node:net"

const server = net.createServer({ pauseOnConnect: true }, (s) => {
  s.on("error", () => {})
  s.destroy()
})
server.listen({ port: 0, host: "0.0.0.0", backlog: 65535 }, () => {
  process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`)
})
process.on("message", (m) => {
  if (m === "usage") process.send?.({ cpu: process.cpuUsage(), rss: process.memoryUsage().rss })
})
process.on("SIGTERM", () => server.close(() => process.exit(0)))
