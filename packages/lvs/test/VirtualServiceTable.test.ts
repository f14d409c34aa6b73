import fc from "fast-check"
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

  it("IPv6 fwmark services: keyed by (family, mark) beside the IPv4 one, found by lookup6 with the mark first", () => {
    const t = new VirtualServiceTable()
    expect(t.apply({ _tag: "AddService", service: { fwmark: 1, scheduler: "rr" } })).toBeUndefined()
    expect(t.apply({ _tag: "AddService", service: { fwmark: 1, family: 6, scheduler: "rr" } })).toBeUndefined()
    expect([...t.services.keys()]).toEqual(["fwm/1", "fwm6/1"])
    expect(t.find({ fwmark: 1, family: 6 })!.family).toBe(6)
    expect(t.find({ fwmark: 1 })!.family).toBe(4)
    // Destinations follow the service's family.
    expect(
      t.apply({
        _tag: "AddDestination",
        service: { fwmark: 1, family: 6 },
        destination: { address: "10.200.2.11", method: "nat" }
      })
    ).toContain("is not IPv6")
    expect(
      t.apply({
        _tag: "AddDestination",
        service: { fwmark: 1, family: 6 },
        destination: { address: "fd00:200:2::11", method: "nat" }
      })
    ).toBeUndefined()
    const vip6 = Frames.parseIpv6("fd00:200:1::100")!
    expect(t.lookup6(1, 6, vip6, 0, 8080)?.key).toBe("fwm6/1")
    expect(t.lookup6(2, 6, vip6, 0, 8080)).toBeUndefined()
    expect(t.lookup(1, 6, 0x0ac80164, 8080)?.key).toBe("fwm/1")
    // A marked packet whose exact service also exists: the fwmark service wins (ip_vs_service_find order).
    t.apply({ _tag: "AddService", service: { protocol: "tcp", address: "fd00:200:1::100", port: 8080 } })
    expect(t.lookup6(1, 6, vip6, 0, 8080)?.key).toBe("fwm6/1")
    expect(t.lookup6(0, 6, vip6, 0, 8080)?.key).toBe("tcp/fd00:200:1::100/8080")
    // Deleting the IPv6 one leaves the IPv4 one.
    expect(t.apply({ _tag: "DeleteService", service: { fwmark: 1, family: 6 } })).toBeUndefined()
    expect(t.lookup6(1, 6, vip6, 0, 8080)?.key).toBe("tcp/fd00:200:1::100/8080")
    expect(t.lookup(1, 6, 0x0ac80164, 8080)?.key).toBe("fwm/1")
    // IPv6 persistence granularity is a prefix length (ipvsadm -M 64); templates then group the /64.
    expect(
      t.apply({ _tag: "AddService", service: { fwmark: 2, family: 6, persistence: { timeout: 60, netmask: "64" } } })
    ).toBeUndefined()
    expect(t.find({ fwmark: 2, family: 6 })!.persistent).toMatchObject({ fwmark: 2, prefixLength: 64 })
    expect(
      t.apply({
        _tag: "AddService",
        service: { fwmark: 3, family: 6, persistence: { timeout: 60, netmask: "255.255.255.0" } }
      })
    ).toContain("persistence.netmask")
    expect(t.apply({ _tag: "AddService", service: { fwmark: 4, family: 5 as 6 } })).toContain("family 5")
  })

  it("classifies IPv6 packets by prefix, protocol and ports; family-less rules apply to both families", () => {
    const t = new VirtualServiceTable()
    expect(
      t.apply({
        _tag: "SetClassifier",
        rules: [
          { mark: 1, protocol: "tcp", destination: "10.200.1.100/32", ports: [80, 443] },
          { mark: 2, protocol: "tcp", destination: "fd00:200:1::100/128", ports: [8080, 8090] },
          { mark: 3, source: "fd00:200:1::/60", destination: "fd00:200:1::/64" },
          { mark: 4, protocol: "udp" },
          { mark: 5, family: 6, ports: [9000, 9000] }
        ]
      })
    ).toBeUndefined()
    const a = new Uint8Array(32)
    const at = (src: string, dst: string) => {
      a.set(Frames.parseIpv6(src)!, 0)
      a.set(Frames.parseIpv6(dst)!, 16)
      return a
    }
    expect(t.classify6(6, at("fd00:200:1::10", "fd00:200:1::100"), 0, 16, 8085)).toBe(2)
    expect(t.classify6(6, at("fd00:200:1::10", "fd00:200:1::100"), 0, 16, 80)).toBe(3) // rule 1 is IPv4
    expect(t.classify6(6, at("fd00:200:1:10::10", "fd00:200:1::100"), 0, 16, 80)).toBe(0) // source outside /60
    expect(t.classify6(17, at("fd00:9::1", "fd00:8::1"), 0, 16, 53)).toBe(4) // family-less: both
    expect(t.classify(17, 1, 2, 53)).toBe(4)
    expect(t.classify6(6, at("fd00:9::1", "fd00:8::1"), 0, 16, 9000)).toBe(5)
    expect(t.classify(6, 1, 2, 9000)).toBe(0) // family 6 only
    expect(t.classify(6, 1, Frames.parseIpv4("10.200.1.100")!, 443)).toBe(1)
    // Bad rules are named and leave the classifier as it was.
    for (const [rule, text] of [
      [{ mark: 9, destination: "fd00::/129" }, "rules[0].destination"],
      [{ mark: 9, destination: "fd00::/64", source: "10.0.0.0/8" }, "mixes IPv4 and IPv6"],
      [{ mark: 9, destination: "fd00::/64", family: 4 }, "mixes IPv4 and IPv6"],
      [{ mark: 0, destination: "fd00::/64" }, "rules[0].mark"],
      [{ mark: 9, ports: [10, 5] }, "rules[0].ports"]
    ] as const) {
      expect(t.apply({ _tag: "SetClassifier", rules: [rule] })).toContain(text)
    }
    expect(t.classify6(6, at("fd00:200:1::10", "fd00:200:1::100"), 0, 16, 8085)).toBe(2)
  })

  it("classify6 agrees with a bit-by-bit prefix match (property)", () => {
    const toBig = (b: Uint8Array) => b.reduce((acc, x) => (acc << 8n) | BigInt(x), 0n)
    const text = (b: Uint8Array) =>
      Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16)).join(":")
    const inPrefix = (addr: Uint8Array, net: Uint8Array, len: number) =>
      len === 0 || toBig(addr) >> BigInt(128 - len) === toBig(net) >> BigInt(128 - len)
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.integer({ min: 0, max: 128 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.integer({ min: 0, max: 128 }),
        (net, len, addr, keep) => {
          // Half of the addresses share the first `keep` bits with the network, so matches are frequent.
          const probe = Uint8Array.from(addr)
          for (let bit = 0; bit < keep; bit++) {
            const mask = 0x80 >>> (bit & 7)
            probe[bit >>> 3] = (probe[bit >>> 3]! & ~mask) | (net[bit >>> 3]! & mask)
          }
          const t = new VirtualServiceTable()
          expect(t.apply({ _tag: "SetClassifier", rules: [{ mark: 7, destination: `${text(net)}/${len}` }] })).toBe(
            undefined
          )
          const b = new Uint8Array(32)
          b.set(probe, 16)
          expect(t.classify6(6, b, 0, 16, 1) === 7).toBe(inPrefix(probe, net, len))
        }
      ),
      { numRuns: 400 }
    )
  })
})
