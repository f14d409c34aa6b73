#!/usr/bin/env node
/**
 * `lvs-realserver tun`: the userspace LVS-TUN endpoint of a real server (see `RealServerTunnel`): receives
 * the director's IPIP / IPv6-in-IPv6 (GRE, GUE with `--gue-port`; IPv4 or IPv6 outer) packets on an interface and
 * hands the inner packets to this host through a TAP
 * device. Run it inside the real server (its namespace), as root; stop it with SIGTERM/SIGINT.
 *
 * ```
 * node --conditions=@lvs-ts/source packages/lvs/src/bin/realserver.ts tun --interface eth0 [--device lvstun0] [--address A]... [--gue-port P]
 * ```
 *
 * @module
 */
import * as RealServerTunnel from "../RealServerTunnel.ts"

const usage = "usage: realserver tun --interface IFACE [--device NAME] [--address A]... [--gue-port PORT]"
const argv = process.argv.slice(2)
if (argv[0] !== "tun") {
  console.error(usage)
  process.exit(2)
}
let iface: string | undefined
let device: string | undefined
const addresses: Array<string> = []
let guePort: number | undefined
for (let i = 1; i < argv.length; i++) {
  const arg = argv[i]!
  if (arg === "--interface") iface = argv[++i]
  else if (arg === "--device") device = argv[++i]
  else if (arg === "--address") addresses.push(argv[++i] ?? "")
  else if (arg === "--gue-port") guePort = Number(argv[++i])
  else {
    console.error(`unknown option ${arg}\n${usage}`)
    process.exit(2)
  }
}
if (iface === undefined) {
  console.error(`--interface is required\n${usage}`)
  process.exit(2)
}
try {
  const endpoint = RealServerTunnel.open({
    interface: iface,
    ...(device !== undefined ? { device } : {}),
    ...(addresses.length > 0 ? { addresses } : {}),
    ...(guePort !== undefined ? { guePort } : {})
  })
  const kinds = guePort === undefined ? "IPIP, IPv6-in-IP, GRE" : `IPIP, IPv6-in-IP, GRE, GUE (udp ${guePort})`
  console.log(`ready: decapsulating ${kinds} from ${iface} into ${endpoint.device.name}`)
  // A dedicated process: the loop owns the thread; SIGTERM/SIGINT end it (default disposition), the kernel
  // closes the fds and removes the non-persistent TAP device.
  for (;;) endpoint.step(200)
} catch (error) {
  console.error(String(error instanceof Error ? error.message : error))
  process.exit(1)
}
