import { ConnectionFlags, ConnectionParams, ConnectionTable, Direction, Protocol, TcpState } from "../src/index.ts"

const N = Number(process.argv[2] ?? 3_000_000)
const t = ConnectionTable.make({ maxConnections: N, seed: 42 })
const p = ConnectionParams.make()
p.virtualAddress = 0xcfaf2c6e
p.virtualPort = 80
p.method = ConnectionFlags.MASQ
p.destination = 0
p.protocol = Protocol.TCP
const pauses: Array<[number, number, number, boolean]> = []
let now = 0
for (let i = 0; i < N; i++) {
  p.clientAddress = 0x0a000000 + i * 7
  p.clientPort = 1024 + ((i * 7919) % 60000)
  const alloc = t.allocatedEntries,
    b = t.bucketCount
  const a = process.hrtime.bigint()
  const e = t.insert(p, now)
  t.packet(e, Direction.INPUT, TcpState.SYN, 60, now)
  const d = Number(process.hrtime.bigint() - a) / 1e6
  if (d > 1) pauses.push([i, d, t.allocatedEntries - alloc, t.bucketCount !== b])
  if ((i & 0xffff) === 0) {
    now++
    t.advance(now)
  }
}
console.log(pauses.length, "pauses > 1 ms")
console.log(
  pauses
    .sort((x, y) => y[1] - x[1])
    .slice(0, 15)
    .map((x) => `i=${x[0]} ${x[1].toFixed(2)}ms chunk=${x[2]} grow=${x[3]}`)
    .join("\n")
)
