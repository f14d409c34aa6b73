import { describe, expect, it } from "vitest"
import { ConnectionFlags, Direction, Listing, Protocol, TcpState } from "../src/index.ts"
import { conn, ip, makeTable } from "./helpers.ts"

describe("/proc/net/ip_vs_conn and ipvsadm -Lc rows", () => {
  it("formats the reference example row exactly", () => {
    const { table } = makeTable()
    const e = table.insert(
      conn({
        client: ip("192.168.10.2"),
        clientPort: 0xc822,
        virtual: ip("207.175.44.110"),
        destinationAddress: ip("192.168.10.1")
      }),
      0
    )
    table.packet(e, Direction.INPUT, TcpState.SYN, 60, 0)
    table.packet(e, Direction.INPUT, TcpState.ACK, 60, 500)
    // 900 s timer armed at 0.5 s; at 1.2 s there are 899.3 s left: printed as 899.
    expect(Listing.procRow(table, e, 1200)).toBe("TCP C0A80A02 C822 CFAF2C6E 0050 C0A80A01 0050 ESTABLISHED     899")
    expect(Listing.PROC_HEADER).toBe("Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData")
  })

  it("adds the Origin column for /proc/net/ip_vs_conn_sync", () => {
    const { table, counters } = makeTable()
    const local = table.insert(conn({ clientPort: 0xc822 }), 0)
    table.syncUpdate(local, TcpState.ESTABLISHED, false, 0, 0)
    // A sync-created connection keeps the master's INACTIVE bit (here: active) and is listed as SYNC.
    const p = conn({ clientPort: 0xc823 })
    p.flags = ConnectionFlags.SYNC
    const synced = table.insert(p, 0)
    expect(counters.active[0]).toBe(2)
    table.syncUpdate(synced, TcpState.ESTABLISHED, false, 0, 0)
    expect(Listing.procSyncRow(table, local, 1000)).toBe(
      "TCP 0A000002 C822 CFAF2C6E 0050 C0A80A01 0050 ESTABLISHED LOCAL      899"
    )
    expect(Listing.procSyncRow(table, synced, 1000)).toBe(
      "TCP 0A000002 C823 CFAF2C6E 0050 C0A80A01 0050 ESTABLISHED SYNC       899"
    )
    expect(Listing.PROC_SYNC_HEADER).toBe("Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires")
  })

  it("formats ipvsadm -Lc rows like the reference listing", () => {
    const { table } = makeTable()
    const e = table.insert(conn({ client: ip("10.0.0.2"), clientPort: 51234 }), 0)
    table.packet(e, Direction.INPUT, TcpState.SYN, 60, 0)
    table.packet(e, Direction.INPUT, TcpState.ACK, 60, 0)
    expect(Listing.ipvsadmRow(table, e, 2000)).toBe(
      "TCP 14:58  ESTABLISHED 10.0.0.2:51234     207.175.44.110:80  192.168.10.1:80"
    )
    const u = table.insert(
      conn({
        protocol: Protocol.UDP,
        clientPort: 40000,
        virtual: ip("10.0.0.5"),
        virtualPort: 53,
        destinationAddress: ip("192.168.10.3"),
        destinationPort: 53
      }),
      0
    )
    table.packet(u, Direction.INPUT, 0, 60, 0)
    expect(Listing.ipvsadmRow(table, u, 1000)).toBe(
      "UDP 04:59  UDP         10.0.0.2:40000     10.0.0.5:53        192.168.10.3:53"
    )
    // Minutes are not capped.
    table.setTimeout(u, 7_200_000, 0)
    expect(Listing.ipvsadmRow(table, u, 0).slice(0, 10)).toBe("UDP 120:00")
    expect(Listing.IPVSADM_HEADER).toEqual([
      "IPVS connection entries",
      "pro expire state       source             virtual            destination"
    ])
  })

  it("prints IPv6 addresses uncompressed in /proc and compressed in ipvsadm rows", () => {
    const { table } = makeTable()
    const p = conn({ protocol: Protocol.SCTP, method: ConnectionFlags.DROUTE })
    p.ipv6 = true
    p.clientAddress6.set([0x20010db8, 0, 0, 2])
    p.virtualAddress6.set([0x20010db8, 0, 0, 0x100])
    p.destinationAddress6.set([0x20010db8, 0, 1, 1])
    const e = table.insert(p, 0)
    expect(Listing.procRow(table, e, 0)).toBe(
      "SCTP 2001:0db8:0000:0000:0000:0000:0000:0002 C822 2001:0db8:0000:0000:0000:0000:0000:0100 0050 2001:0db8:0000:0000:0000:0001:0000:0001 0050 NONE              3"
    )
    expect(Listing.row(table, e, 0)).toMatchObject({
      protocol: "SCTP",
      client: "2001:db8::2",
      virtual: "2001:db8::100",
      destination: "2001:db8::1:0:1",
      state: "NONE",
      expires: 3
    })
    expect(Listing.ipvsadmRow(table, e, 0)).toBe(
      "SCTP 00:03  NONE        [2001:db8::2]:51234 [2001:db8::100]:80 [2001:db8::1:0:1]:80"
    )
  })
})
