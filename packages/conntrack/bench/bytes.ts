// Bytes per live IPv4 connection while the table grows from 1 M to N entries (default 10 M): byteSize() / size
// sampled at every advance() (one per 1,024 inserts), reporting the peak and how many samples exceed 96 bytes.
// Deterministic (no timing): `pnpm --filter @lvs-ts/conntrack run bench:bytes` (CONNTRACK_BENCH_MAX to change N).
import { ConnectionParams, ConnectionTable } from "@lvs-ts/conntrack"

const N = Number(process.env["CONNTRACK_BENCH_MAX"] ?? 10_000_000)
const table = ConnectionTable.make({ maxConnections: N })
const p = ConnectionParams.make()
p.virtualAddress = 0x0a000001
p.virtualPort = 80
p.destinationAddress = 0xc0a80a01
p.destinationPort = 80
p.destination = 0
let peak = 0
let peakAt = 0
let over = 0
let samples = 0
for (let i = 0; i < N; i++) {
  p.clientAddress = 0x0b000000 + i
  p.clientPort = i & 0xffff
  table.insert(p, 0)
  if ((i & 1023) === 1023) {
    table.advance(0)
    if (table.size >= 1_000_000) {
      const bytes = table.byteSize() / table.size
      samples++
      if (bytes > 96) over++
      if (bytes > peak) {
        peak = bytes
        peakAt = table.size
      }
    }
  }
}
console.log(
  `bytes per connection, 1 M -> ${table.size}: peak ${peak.toFixed(2)} at ${peakAt} entries; ` +
    `above 96 at ${over} of ${samples} samples; final ${(table.byteSize() / table.size).toFixed(2)}`
)
