import { describe, expect, it } from "vitest"
import {
  ConnectionFlags,
  ConnectionParams,
  ConnectionTable,
  Direction,
  Listing,
  Persistence,
  Protocol,
  TcpState,
  UdpState
} from "../src/index.ts"
import { CIP, ip, makeTable, VIP } from "./helpers.ts"

// A round-robin "scheduler" over destinations 0..n-1 at 192.168.10.(id+1), port 8080, NAT; counts calls.
const makeChooser = (n: number) => ({
  calls: 0,
  next: 0,
  choose(_service: number, conn: ConnectionParams.ConnectionParams): boolean {
    this.calls++
    const d = this.next++ % n
    this.describe(d, conn)
    conn.destination = d
    return true
  },
  describe(destination: number, conn: ConnectionParams.ConnectionParams): void {
    conn.destinationAddress = ip("192.168.10.0") + destination + 1
    conn.destinationPort = 8080
    conn.method = ConnectionFlags.MASQ
  }
})

const packet = (client: number, clientPort: number, virtualPort = 80, protocol: number = Protocol.TCP) => {
  const p = ConnectionParams.make()
  p.protocol = protocol
  p.clientAddress = client
  p.clientPort = clientPort
  p.virtualAddress = VIP
  p.virtualPort = virtualPort
  return p
}

const ppc: Persistence.PersistentService = {
  service: 0,
  fwmark: 0,
  virtualPort: 80,
  timeout: 300_000,
  netmask: 0xffffffff,
  prefixLength: 128
}

describe("per-port persistence (PPC)", () => {
  it("a client's later connections go to the template's destination without running the scheduler", () => {
    const { table, counters } = makeTable()
    const chooser = makeChooser(3)
    const a = Persistence.schedule(table, ppc, packet(CIP, 1000), chooser, 0)
    const b = Persistence.schedule(table, ppc, packet(CIP, 1001), chooser, 1000)
    const other = Persistence.schedule(table, ppc, packet(ip("10.0.0.3"), 1000), chooser, 1000)
    expect(chooser.calls).toBe(2)
    expect(table.destination(a)).toBe(table.destination(b))
    expect(table.destination(other)).not.toBe(table.destination(a))
    const t = table.control(a)
    expect(table.control(b)).toBe(t)
    expect(table.isTemplate(t)).toBe(true)
    expect(table.controlled(t)).toBe(2)
    expect(table.clientPort(t)).toBe(0)
    expect(table.virtualPort(t)).toBe(80)
    expect(table.destinationPort(t)).toBe(8080)
    expect(table.destinationPort(a)).toBe(8080)
    expect(counters.persistent[table.destination(a)]).toBe(1)
    expect(counters.inactive[table.destination(a)]).toBe(2)
    // The template was re-armed when b was created.
    expect(table.expiresAt(t)).toBe(1000 + 300_000)
    expect(table.stateName(t)).toBe("NONE")
    table.packet(a, Direction.INPUT, TcpState.SYN, 60, 1000)
    table.packet(a, Direction.INPUT, TcpState.ACK, 60, 1000)
    expect(table.stateName(t)).toBe("ASSURED")
  })

  it("the template outlives its connections while it controls them (60 s re-arm), then expires", () => {
    const { table, counters } = makeTable()
    const chooser = makeChooser(2)
    const a = Persistence.schedule(table, ppc, packet(CIP, 1000), chooser, 0)
    const t = table.control(a)
    const d = table.destination(a)
    table.packet(a, Direction.INPUT, TcpState.SYN, 60, 0)
    table.packet(a, Direction.INPUT, TcpState.ACK, 60, 0) // ESTABLISHED until 900 s
    table.advance(300_000)
    expect(table.isLive(t)).toBe(true)
    expect(table.stats.relingered).toBe(1)
    expect(table.timeout(t)).toBe(60_000)
    expect(table.expiresAt(t)).toBe(360_000)
    table.advance(900_000) // connection expires at 900 s
    expect(table.isLive(a)).toBe(false)
    expect(table.controlled(t)).toBe(0)
    expect(table.isLive(t)).toBe(true)
    table.advance(959_999)
    expect(table.isLive(t)).toBe(true)
    table.advance(960_000)
    expect(table.isLive(t)).toBe(false)
    expect(counters.persistent[d]).toBe(0)
    // With the template gone the scheduler runs again.
    Persistence.schedule(table, ppc, packet(CIP, 1002), chooser, 960_001)
    expect(chooser.calls).toBe(2)
  })

  it("a template expires on its own timeout when it controls nothing", () => {
    const { table } = makeTable()
    const chooser = makeChooser(2)
    const a = Persistence.schedule(table, ppc, packet(CIP, 1000), chooser, 0)
    const t = table.control(a)
    table.advance(3000) // the connection never saw a packet: 3 s initial timer
    expect(table.isLive(a)).toBe(false)
    table.advance(299_999)
    expect(table.isLive(t)).toBe(true)
    table.advance(300_000)
    expect(table.isLive(t)).toBe(false)
  })
})

describe("persistence on a full table", () => {
  it("evicting the template's only connection for a new one keeps the template linked", () => {
    const { table, counters } = makeTable({ maxConnections: 2 })
    const chooser = makeChooser(2)
    const c1 = Persistence.schedule(table, ppc, packet(CIP, 1), chooser, 0)
    const t = table.control(c1)
    expect(table.size).toBe(2)
    const c2 = Persistence.schedule(table, ppc, packet(CIP, 2), chooser, 0)
    expect(c2).toBeGreaterThanOrEqual(0)
    expect(table.stats.evicted).toBe(1)
    expect(table.isLive(t)).toBe(true)
    expect(table.control(c2)).toBe(t)
    expect(table.controlled(t)).toBe(1)
    expect(counters.persistent[table.destination(t)]).toBe(1)
    expect(counters.inactive[table.destination(t)]).toBe(1)
  })
})

describe("per-client persistence across ports (PCC, port 0)", () => {
  it("all ports of the VIP share one template with vport 0 and keep their own port", () => {
    const { table } = makeTable()
    const chooser = makeChooser(3)
    const pcc = { ...ppc, virtualPort: 0 }
    const web = Persistence.schedule(table, pcc, packet(CIP, 1000, 80), chooser, 0)
    const mail = Persistence.schedule(table, pcc, packet(CIP, 1001, 25), chooser, 0)
    expect(chooser.calls).toBe(1)
    expect(table.control(web)).toBe(table.control(mail))
    const t = table.control(web)
    expect(table.virtualPort(t)).toBe(0)
    expect(table.destinationPort(t)).toBe(0)
    // Port-zero services forward to the packet's own port.
    expect(table.destinationPort(web)).toBe(80)
    expect(table.destinationPort(mail)).toBe(25)
  })
})

describe("firewall-mark persistence", () => {
  it("templates use protocol IP and the mark as address; TCP and UDP of one client share them", () => {
    const { table, counters } = makeTable()
    const chooser = makeChooser(4)
    const fwm = { ...ppc, fwmark: 7, virtualPort: 0 }
    const tcp = Persistence.schedule(table, fwm, packet(CIP, 1000, 80), chooser, 0)
    const udp = Persistence.schedule(table, fwm, packet(CIP, 1000, 53, Protocol.UDP), chooser, 0)
    expect(chooser.calls).toBe(1)
    const t = table.control(tcp)
    expect(table.control(udp)).toBe(t)
    expect(table.protocol(t)).toBe(Protocol.IP)
    expect(table.virtualAddress(t)).toBe(7)
    expect(table.lookupTemplate(Protocol.IP, CIP, 7, 0)).toBe(t)
    expect(Listing.procRow(table, t, 0)).toBe("IP  0A000002 0000 00000007 0000 C0A80A01 0000 NONE            300")
    expect(counters.persistent[0]).toBe(1)
    // A UDP reply assures the template.
    table.packet(udp, Direction.OUTPUT, 0, 80, 0)
    expect(table.state(t)).toBe(ConnectionTable.TEMPLATE_ASSURED)
    expect(table.state(udp)).toBe(UdpState.NORMAL)
  })
})

describe("persistence granularity", () => {
  it("-M 255.255.255.0 maps a whole /24 of clients to one template", () => {
    const { table } = makeTable()
    const chooser = makeChooser(3)
    const svc = { ...ppc, netmask: 0xffffff00 }
    const a = Persistence.schedule(table, svc, packet(ip("10.0.0.2"), 1000), chooser, 0)
    const b = Persistence.schedule(table, svc, packet(ip("10.0.0.200"), 1000), chooser, 0)
    const c = Persistence.schedule(table, svc, packet(ip("10.0.1.2"), 1000), chooser, 0)
    expect(chooser.calls).toBe(2)
    expect(table.control(a)).toBe(table.control(b))
    expect(table.control(c)).not.toBe(table.control(a))
    expect(table.clientAddress(table.control(a))).toBe(ip("10.0.0.0"))
  })

  it("IPv6 prefix length masks the client address for the template", () => {
    const { table } = makeTable()
    const chooser = {
      ...makeChooser(3),
      describe(destination: number, conn: ConnectionParams.ConnectionParams) {
        conn.destinationAddress6.set([0xfd000000, 0, 0, destination + 1])
        conn.destinationPort = 80
        conn.method = ConnectionFlags.MASQ
      }
    }
    const svc = { ...ppc, prefixLength: 64 }
    const p6 = (last: number) => {
      const p = packet(0, 1000)
      p.ipv6 = true
      p.clientAddress6.set([0x20010db8, 1, 0, last])
      p.virtualAddress6.set([0x20010db8, 0, 0, 0x100])
      return p
    }
    const a = Persistence.schedule(table, svc, p6(5), chooser, 0)
    const b = Persistence.schedule(table, svc, p6(0xffff), chooser, 0)
    expect(chooser.calls).toBe(1)
    expect(table.control(a)).toBe(table.control(b))
    const w = new Uint32Array(4)
    table.readClientAddress6(table.control(a), w, 0)
    expect([...w]).toEqual([0x20010db8, 1, 0, 0])
  })
})

describe("quiesced and deleted destinations", () => {
  it("a quiesced destination keeps its persistent clients by default", () => {
    const { table, counters } = makeTable()
    const chooser = makeChooser(2)
    const a = Persistence.schedule(table, ppc, packet(CIP, 1000), chooser, 0)
    counters.setWeight(table.destination(a), 0)
    const b = Persistence.schedule(table, ppc, packet(CIP, 1001), chooser, 0)
    expect(table.destination(b)).toBe(table.destination(a))
    expect(chooser.calls).toBe(1)
  })

  it("expire_quiescent_template invalidates the template (vport 65535) and reschedules", () => {
    const { table, counters } = makeTable({ behaviour: { expireQuiescentTemplate: true } })
    const chooser = makeChooser(2)
    const a = Persistence.schedule(table, ppc, packet(CIP, 1000), chooser, 0)
    const t = table.control(a)
    counters.setWeight(table.destination(a), 0)
    const b = Persistence.schedule(table, ppc, packet(CIP, 1001), chooser, 5000)
    expect(chooser.calls).toBe(2)
    expect(table.destination(b)).not.toBe(table.destination(a))
    expect(table.control(b)).not.toBe(t)
    // The old template lingers, unmatchable, with its timer untouched.
    expect(table.isLive(t)).toBe(true)
    expect(table.virtualPort(t)).toBe(0xffff)
    expect(table.destinationPort(t)).toBe(0xffff)
    expect(table.expiresAt(t)).toBe(300_000)
    expect(table.stats.templatesInvalidated).toBe(1)
    expect(Listing.ipvsadmRow(table, t, 0)).toBe(
      "TCP 05:00  NONE        10.0.0.2:0         207.175.44.110:65535 192.168.10.1:65535"
    )
  })

  it("a deleted (unavailable) destination invalidates its templates", () => {
    const { table, counters } = makeTable()
    const chooser = makeChooser(2)
    const a = Persistence.schedule(table, ppc, packet(CIP, 1000), chooser, 0)
    counters.setAvailable(table.destination(a), false)
    const b = Persistence.schedule(table, ppc, packet(CIP, 1001), chooser, 0)
    expect(table.destination(b)).not.toBe(table.destination(a))
  })

  it("checkTemplate with a required destination (conn_out path) rejects other destinations", () => {
    const { table } = makeTable()
    const chooser = makeChooser(2)
    const a = Persistence.schedule(table, ppc, packet(CIP, 1000), chooser, 0)
    const t = table.control(a)
    expect(table.checkTemplate(t, table.destination(a))).toBe(true)
    expect(table.checkTemplate(t, table.destination(a) + 1)).toBe(false)
    expect(table.lookupTemplate(Protocol.TCP, CIP, VIP, 80)).toBe(-1)
  })

  it("FTP control service (port 21) templates use vport 0 so data connections share them", () => {
    const { table } = makeTable()
    const chooser = makeChooser(3)
    const ftp = { ...ppc, virtualPort: 21 }
    const control = Persistence.schedule(table, ftp, packet(CIP, 1000, 21), chooser, 0)
    const data = Persistence.schedule(table, ftp, packet(CIP, 1001, 40000), chooser, 0)
    expect(chooser.calls).toBe(1)
    expect(table.virtualPort(table.control(control))).toBe(0)
    expect(table.destinationPort(table.control(control))).toBe(0)
    expect(table.destinationPort(control)).toBe(8080)
    expect(table.destinationPort(data)).toBe(40000)
  })
})
