import { describe, expect, it } from "vitest"
import * as Frames from "../src/internal/Frames.ts"
import { VirtualServiceTable } from "../src/VirtualServiceTable.ts"

const web = { protocol: "tcp", address: "10.200.1.100", port: 80 } as const
const ftp = { protocol: "tcp", address: "10.200.1.100", port: 21 } as const

const sample = () => {
  const t = new VirtualServiceTable()
  expect(t.apply({ _tag: "AddService", service: { ...web, scheduler: "wrr" } })).toBeUndefined()
  expect(
    t.apply({
      _tag: "AddDestination",
      service: web,
      destination: { address: "10.200.2.11", port: 80, weight: 1, method: "nat" }
    })
  ).toBeUndefined()
  expect(
    t.apply({
      _tag: "AddDestination",
      service: web,
      destination: { address: "10.200.2.12", port: 8000, weight: 2, method: "nat" }
    })
  ).toBeUndefined()
  return t
}

describe("VirtualServiceTable", () => {
  it("builds the LVS-NAT sample and lists destinations newest first", () => {
    const t = sample()
    const s = t.find(web)!
    expect(s.pool.scheduler.name).toBe("wrr")
    expect(s.pool.destinations().map((d) => `${d}`)).toEqual(["10.200.2.12:8000", "10.200.2.11:80"])
    expect(s.destinations.get("10.200.2.12:8000")!.methodCode).toBe(0)
  })

  it("rejects bad input naming the field, leaving the table unchanged", () => {
    const t = sample()
    const v = t.version
    expect(t.apply({ _tag: "AddService", service: { ...web, port: 70000 } })).toMatch(/port 70000/)
    expect(t.apply({ _tag: "AddService", service: { ...web, scheduler: "nope" } })).toMatch(/scheduler "nope"/)
    expect(t.apply({ _tag: "AddService", service: web })).toMatch(/already exists/)
    expect(t.apply({ _tag: "AddService", service: { ...web, port: 0 } })).toMatch(/requires persistence/)
    expect(t.apply({ _tag: "AddDestination", service: web, destination: { address: "x" } })).toMatch(
      /destination.address/
    )
    expect(
      t.apply({ _tag: "AddDestination", service: web, destination: { address: "10.0.0.1", method: "fullnat" } })
    ).toMatch(/localAddresses/)
    expect(t.apply({ _tag: "SetClassifier", rules: [{ mark: 1, destination: "1.2.3.4/33" }] })).toMatch(/rules\[0\]/)
    expect(t.version).toBe(v)
  })

  it("DR and TUN destinations take the service port (ipvsadm)", () => {
    const t = new VirtualServiceTable()
    t.apply({ _tag: "AddService", service: web })
    t.apply({ _tag: "AddDestination", service: web, destination: { address: "10.200.2.11", port: 8080, method: "dr" } })
    expect([...t.find(web)!.destinations.keys()]).toEqual(["10.200.2.11:80"])
  })

  it("looks services up in the kernel's order: fwmark, exact, FTP data, port zero", () => {
    const t = sample()
    const vip = Frames.parseIpv4("10.200.1.100")!
    t.apply({ _tag: "AddService", service: { ...web, port: 0, persistence: { timeout: 60 } } })
    t.apply({ _tag: "AddService", service: { fwmark: 7 } })
    expect(t.lookup(0, 6, vip, 80)?.port).toBe(80)
    expect(t.lookup(0, 6, vip, 443)?.port).toBe(0)
    expect(t.lookup(7, 6, vip, 80)?.fwmark).toBe(7)
    expect(t.lookup(0, 17, vip, 80)).toBeUndefined()
    t.apply({ _tag: "AddService", service: ftp })
    expect(t.lookup(0, 6, vip, 20)?.port).toBe(21)
    expect(t.lookup(0, 6, vip, 5000)?.port).toBe(21)
    expect(t.lookup(0, 6, vip, 443)?.port).toBe(0) // privileged, not 20: port zero service
  })

  it("deleted destinations go to the trash and are revived with their counters", () => {
    const t = sample()
    const d = t.find(web)!.destinations.get("10.200.2.11:80")!
    d.destination.activeConnections = 5
    expect(
      t.apply({ _tag: "DeleteDestination", service: web, destination: { address: "10.200.2.11", port: 80 } })
    ).toBeUndefined()
    expect(t.find(web)!.pool.destinations().length).toBe(1)
    expect(
      t.apply({
        _tag: "AddDestination",
        service: web,
        destination: { address: "10.200.2.11", port: 80, method: "nat" }
      })
    ).toBeUndefined()
    expect(t.find(web)!.pool.destinations()[0]!.activeConnections).toBe(5)
    expect(t.directory.idOf(d.destination)).toBe(d.id)
  })

  it("two copies fed the same commands assign the same slots and ids", () => {
    const a = sample()
    const b = sample()
    for (const t of [a, b]) {
      t.apply({ _tag: "AddService", service: ftp })
      t.apply({
        _tag: "AddDestination",
        service: ftp,
        destination: { address: "10.200.2.12", port: 21, method: "nat" }
      })
    }
    const slots = (t: VirtualServiceTable) =>
      [...t.services.values()].flatMap((s) => [
        s.slot,
        s.id,
        ...[...s.destinations.values()].flatMap((d) => [d.slot, d.id])
      ])
    expect(slots(a)).toEqual(slots(b))
  })

  it("classifies with the first matching rule", () => {
    const t = new VirtualServiceTable()
    expect(
      t.apply({
        _tag: "SetClassifier",
        rules: [
          { mark: 1, protocol: "tcp", destination: "10.200.1.100/32", ports: [80, 443] },
          { mark: 2, source: "10.200.1.0/24" }
        ]
      })
    ).toBeUndefined()
    const vip = Frames.parseIpv4("10.200.1.100")!
    const client = Frames.parseIpv4("10.200.1.10")!
    expect(t.classify(6, client, vip, 443)).toBe(1)
    expect(t.classify(17, client, vip, 443)).toBe(2)
    expect(t.classify(6, Frames.parseIpv4("10.9.9.9")!, vip, 22)).toBe(0)
  })

  it("edits schedulers and weights in place", () => {
    const t = sample()
    expect(t.apply({ _tag: "EditService", service: { ...web, scheduler: "rr" } })).toBeUndefined()
    expect(t.find(web)!.pool.scheduler.name).toBe("rr")
    expect(
      t.apply({
        _tag: "EditDestination",
        service: web,
        destination: { address: "10.200.2.12", port: 8000, weight: 0, method: "nat" }
      })
    ).toBeUndefined()
    expect(t.find(web)!.pool.find("10.200.2.12", 8000)!.weight).toBe(0)
  })
})
