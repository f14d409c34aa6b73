/**
 * Benchmarks of @lvs-ts/vrrp, one core. VRRP is a control-plane protocol (a few adverts per second per
 * instance), so these numbers are about headroom under a flood of hostile adverts, not throughput needs:
 *
 * - encode:   Datagram.encodeIpv4 of a v3 advert with 2 VIPs (pseudo-header checksum)
 * - decode:   Datagram.decodeIpv4 + Advert.decode of the same
 * - validate: Validator.check of a valid advert (all 16 steps of keepalived's order)
 * - reject:   Validator.check of a bad-checksum advert (the flood case: counted, logged once)
 * - engine:   Engine.receive of a valid advert by a BACKUP (validation + down-timer re-arm)
 *
 * Run: pnpm --filter @lvs-ts/vrrp run bench   (node --expose-gc --conditions=@lvs-ts/source bench/index.ts)
 */
import { Advert, Config, Datagram, Engine, Validation } from "@lvs-ts/vrrp"
import { Bench } from "tinybench"

const BATCH = 1000
const instance = Config.make({
  name: "V3_inst",
  vrid: 52,
  version: 3,
  advertInterval: 0.5,
  virtualAddresses: ["10.9.0.101", "10.9.0.102"]
}).instance
const advert: Advert.AdvertInput = {
  version: 3,
  vrid: 52,
  priority: 150,
  interval: 50,
  addresses: instance.virtualAddresses
}
const out = new Uint8Array(128)
const n = Datagram.encodeIpv4(advert, { source: "10.9.0.1", destination: "224.0.0.18", id: 1 }, out, 0)
const good = Datagram.decodeIpv4(out, 0, n) as Datagram.Received
const badBytes = out.slice(0, n)
badBytes[27] = badBytes[27]! ^ 1
const bad = Datagram.decodeIpv4(badBytes, 0, n) as Datagram.Received
const validator = new Validation.Validator(instance)
const engine = new Engine.Engine(instance)
engine.start(0)
let sink = 0
let now = 0

const bench = new Bench({ time: 1000 })
bench
  .add(`encode x${BATCH}`, () => {
    for (let i = 0; i < BATCH; i++)
      sink += Datagram.encodeIpv4(advert, { source: "10.9.0.1", destination: "224.0.0.18", id: i + 1 }, out, 0)
  })
  .add(`decode x${BATCH}`, () => {
    for (let i = 0; i < BATCH; i++) {
      const r = Datagram.decodeIpv4(out, 0, n)
      if (!("_tag" in r)) sink += Advert.decode(r.payload, 0, r.payload.length, "ipv4")._tag.length
    }
  })
  .add(`validate x${BATCH}`, () => {
    for (let i = 0; i < BATCH; i++) sink += validator.check(good, { isBackup: true })._tag.length
  })
  .add(`reject x${BATCH}`, () => {
    for (let i = 0; i < BATCH; i++) sink += validator.check(bad, { isBackup: true })._tag.length
  })
  .add(`engine.receive x${BATCH}`, () => {
    for (let i = 0; i < BATCH; i++) {
      now += 1000
      sink += engine.receive(good, now).length
    }
  })

await bench.run()
console.log("@lvs-ts/vrrp benchmarks (ns per advert; batch of", BATCH, ")")
for (const t of bench.tasks) {
  const r = t.result
  if (r !== undefined && "latency" in r) {
    const mean = r.latency.mean
    console.log(`${t.name.padEnd(24)} ${((mean * 1e6) / BATCH).toFixed(0).padStart(8)} ns/op`)
  }
}
if (sink === 42) console.log("")
