/**
 * `pnpm demo` (as root): builds the lab (client, userspace director on TAP devices, two real servers with
 * HTTP), starts the director with the classic LVS-NAT table, curls the VIP, prints the table with counters
 * and tears the lab down. Options are passed through: `pnpm demo -- --keep`, `--requests N`, `--name N`.
 */
import "../packages/lvs/src/bin/demo.ts"
