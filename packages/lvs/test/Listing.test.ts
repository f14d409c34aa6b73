import { describe, expect, it } from "vitest"
import * as Listing from "../src/Listing.ts"

const zero = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 }
const counters = (c: number, ip: number, op: number, ib: number, ob: number): Listing.Counters => ({
  connections: c,
  inPackets: ip,
  outPackets: op,
  inBytes: ib,
  outBytes: ob
})
const dest = (
  address: string,
  port: number,
  weight: number,
  active: number,
  inactive: number,
  stats = counters(0, 0, 0, 0, 0)
) =>
  ({
    address,
    port,
    method: "nat",
    weight,
    upperThreshold: 0,
    lowerThreshold: 0,
    activeConnections: active,
    inactiveConnections: inactive,
    persistentConnections: 0,
    stats,
    rates: zero
  }) satisfies Listing.DestinationView

// The examples of ipvs.md §5.4 (ipvsadm 1.31 output), re-rendered from the same numbers.
describe("Listing (ipvsadm -L -n formats)", () => {
  it("renders the table like ipvsadm -L -n", () => {
    const text = Listing.table([
      {
        key: "tcp/207.175.44.110/80",
        protocol: "tcp",
        address: "207.175.44.110",
        port: 80,
        fwmark: 0,
        scheduler: "wlc",
        persistence: { timeout: 300, netmask: "255.255.255.0" },
        stats: counters(0, 0, 0, 0, 0),
        rates: zero,
        destinations: [dest("192.168.10.1", 80, 1, 0, 0), dest("192.168.10.2", 80, 3, 12, 40)]
      }
    ])
    expect(text.split("\n")).toEqual([
      "IP Virtual Server version 1.2.1 (size=4096)",
      "Prot LocalAddress:Port Scheduler Flags",
      "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
      "TCP  207.175.44.110:80 wlc persistent 300 mask 255.255.255.0",
      "  -> 192.168.10.1:80              Masq    1      0          0         ",
      "  -> 192.168.10.2:80              Masq    3      12         40        "
    ])
  })

  it("renders --stats with ipvsadm's K/M suffixes", () => {
    const text = Listing.stats([
      {
        key: "tcp/207.175.44.110/80",
        protocol: "tcp",
        address: "207.175.44.110",
        port: 80,
        fwmark: 0,
        scheduler: "wlc",
        persistence: undefined,
        stats: counters(1234, 56789, 50123, 3456789, 123456789),
        rates: zero,
        destinations: [dest("192.168.10.1", 80, 1, 0, 0, counters(1234, 56789, 50123, 3456789, 98765432))]
      }
    ])
    expect(text.split("\n")).toEqual([
      "IP Virtual Server version 1.2.1 (size=4096)",
      "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes",
      "  -> RemoteAddress:Port",
      "TCP  207.175.44.110:80                1234    56789    50123  3456789  123456K",
      "  -> 192.168.10.1:80                  1234    56789    50123  3456789 98765432"
    ])
  })

  it("brackets IPv6 addresses as ipvsadm does ([addr]:port)", () => {
    const text = Listing.table([
      {
        key: "tcp/fd00:200:1::100/80",
        protocol: "tcp",
        address: "fd00:200:1::100",
        port: 80,
        fwmark: 0,
        scheduler: "wrr",
        persistence: undefined,
        stats: counters(0, 0, 0, 0, 0),
        rates: zero,
        destinations: [dest("fd00:200:2::12", 8000, 2, 0, 0)]
      }
    ])
    expect(text.split("\n").slice(3)).toEqual([
      "TCP  [fd00:200:1::100]:80 wrr",
      "  -> [fd00:200:2::12]:8000        Masq    2      0          0         "
    ])
  })

  it("prints IPv6 fwmark services as ipvsadm does (FWM  <mark> IPv6) and IPv6 persistence as a prefix length", () => {
    const svc = (fwmark: number, family: 4 | 6, netmask?: string): Listing.ServiceView => ({
      key: `${family === 6 ? "fwm6" : "fwm"}/${fwmark}`,
      protocol: undefined,
      address: undefined,
      port: 0,
      fwmark,
      family,
      scheduler: "rr",
      persistence: netmask === undefined ? undefined : { timeout: 300, netmask },
      stats: counters(1, 2, 3, 4, 5),
      rates: zero,
      destinations: [dest("fd00:200:2::11", 0, 1, 0, 0)]
    })
    const text = Listing.table([svc(1, 4), svc(1, 6), svc(2, 6, "64"), svc(3, 6, "128")])
    expect(text.split("\n").slice(3)).toEqual([
      "FWM  1 rr",
      "  -> [fd00:200:2::11]:0           Masq    1      0          0         ",
      "FWM  1 IPv6 rr",
      "  -> [fd00:200:2::11]:0           Masq    1      0          0         ",
      "FWM  2 IPv6 rr persistent 300 mask 64",
      "  -> [fd00:200:2::11]:0           Masq    1      0          0         ",
      "FWM  3 IPv6 rr persistent 300",
      "  -> [fd00:200:2::11]:0           Masq    1      0          0         "
    ])
    expect(Listing.stats([svc(1, 6)]).split("\n")[3]).toBe(
      `${"FWM  1 IPv6".padEnd(33)}        1        2        3        4        5`
    )
  })
})
