// Every cell of the six IPVS TCP state tables (ipvs.md section 2.2), driven through ConnectionTable.packet with real
// TCP flag bytes, checking the next state, the re-armed timer (default timeout of the new state) and the
// destination's active/inactive counters.
import { describe, expect, it } from "vitest"
import { ConnectionFlags, Direction, TcpState } from "../../src/index.ts"
import { conn, makeTable } from "../helpers.ts"

const S = ["NO", "ES", "SS", "SR", "FW", "TW", "CL", "CW", "LA", "LI", "SA"]
// Expected tables, copied from the reference as [direction][event] rows of next states by current state.
const expected: Record<"normal" | "secure", Record<"INPUT" | "OUTPUT" | "INPUT_ONLY", Record<string, string>>> = {
  normal: {
    INPUT: {
      syn: "SR ES ES SR SR SR SR SR SR SR SR",
      fin: "CL CW SS TW TW TW CL CW LA LI TW",
      ack: "ES ES SS ES FW TW CL CW CL LI ES",
      rst: "CL CL CL SR CL CL CL CL LA LI SR"
    },
    OUTPUT: {
      syn: "SS ES SS SR SS SS SS SS SS LI SR",
      fin: "TW FW SS TW FW TW CL TW LA LI TW",
      ack: "ES ES SS ES FW TW CL CW LA ES ES",
      rst: "CL CL SS CL CL TW CL CL CL CL CL"
    },
    INPUT_ONLY: {
      syn: "SR ES ES SR SR SR SR SR SR SR SR",
      fin: "CL FW SS TW FW TW CL CW LA LI TW",
      ack: "ES ES SS ES FW TW CL CW CL LI ES",
      rst: "CL CL CL SR CL CL CL CL LA LI CL"
    }
  },
  secure: {
    INPUT: {
      syn: "SR ES ES SR SR SR SR SR SR SR SA",
      fin: "CL CW SS TW TW TW CL CW LA LI SA",
      ack: "ES ES SS SR FW TW CL CW CL LI SA",
      rst: "CL CL CL SR CL CL CL CL LA LI CL"
    },
    OUTPUT: {
      syn: "SS ES SS SA SS SS SS SS SS LI SA",
      fin: "TW FW SS TW FW TW CL TW LA LI TW",
      ack: "ES ES SS ES FW TW CL CW LA ES ES",
      rst: "CL CL SS CL CL TW CL CL CL CL CL"
    },
    INPUT_ONLY: {
      syn: "SA ES ES SR SA SA SA SA SA SA SA",
      fin: "CL FW SS TW FW TW CL CW LA LI TW",
      ack: "ES ES SS ES FW TW CL CW CL LI ES",
      rst: "CL CL CL SR CL CL CL CL LA LI CL"
    }
  }
}
// Flag bytes for each event, including combinations that exercise the RST > SYN > FIN > ACK priority.
const eventFlags: Record<string, ReadonlyArray<number>> = {
  syn: [TcpState.SYN, TcpState.SYN | TcpState.ACK, TcpState.SYN | TcpState.FIN],
  fin: [TcpState.FIN, TcpState.FIN | TcpState.ACK],
  ack: [TcpState.ACK, TcpState.ACK | 0x08],
  rst: [TcpState.RST, TcpState.RST | TcpState.ACK, TcpState.RST | TcpState.SYN]
}
const activeStates = new Set(["ES", "SS", "SR", "SA"])
const defaults: Record<string, number> = {
  NO: 2,
  ES: 900,
  SS: 120,
  SR: 60,
  FW: 120,
  TW: 120,
  CL: 10,
  CW: 60,
  LA: 30,
  LI: 120,
  SA: 120
}

describe.each(["normal", "secure"] as const)("%s TCP tables", (mode) => {
  it.each(["INPUT", "OUTPUT", "INPUT_ONLY"] as const)("%s: every cell", (row) => {
    const { table, counters } = makeTable({ behaviour: { secureTcp: mode === "secure" ? 3 : 0 } })
    const mismatches: Array<string> = []
    let cells = 0
    let now = 1_000_000
    for (const [event, line] of Object.entries(expected[mode][row])) {
      const next = line.split(" ")
      for (const flags of eventFlags[event]!) {
        for (let from = 0; from < S.length; from++) {
          const want = next[from]!
          // INPUT_ONLY rows apply to DR entries (NOOUTPUT); INPUT and OUTPUT rows to NAT entries.
          const method = row === "INPUT_ONLY" ? ConnectionFlags.DROUTE : ConnectionFlags.MASQ
          const e = table.insert(conn({ method, clientPort: 1000 + from }), now)
          table.syncUpdate(e, from, !activeStates.has(S[from]!), 0, now)
          const dir = row === "OUTPUT" ? Direction.OUTPUT : Direction.INPUT
          const got = table.packet(e, dir, flags, 60, now)
          const label = `${row} ${event}(0x${flags.toString(16)}) ${S[from]}`
          if (S[got] !== want || table.state(e) !== got) mismatches.push(`${label}: got ${S[got]}, want ${want}`)
          if (table.expiresAt(e) !== now + defaults[want]! * 1000) mismatches.push(`${label}: timer`)
          const active = activeStates.has(want) ? 1 : 0
          if (counters.active[0] !== active || counters.inactive[0] !== 1 - active) {
            mismatches.push(`${label}: counters ${counters.active[0]}/${counters.inactive[0]}`)
          }
          const noOutput = (table.flags(e) & ConnectionFlags.NOOUTPUT) !== 0
          if (noOutput !== (row === "INPUT_ONLY")) mismatches.push(`${label}: NOOUTPUT ${noOutput}`)
          table.expireNow(e, now)
          if (counters.active[0] !== 0 || counters.inactive[0] !== 0) mismatches.push(`${label}: unbind`)
          cells++
          now += 7
        }
      }
    }
    expect(mismatches).toEqual([])
    expect(cells).toBeGreaterThanOrEqual(4 * 2 * 11)
  })

  it("a segment with none of RST/SYN/FIN/ACK moves any state to CLOSE", () => {
    const { table } = makeTable({ behaviour: { secureTcp: mode === "secure" ? 3 : 0 } })
    for (let from = 0; from < S.length; from++) {
      const e = table.insert(conn({ clientPort: 2000 + from }), 0)
      table.syncUpdate(e, from, true, 0, 0)
      expect(table.packet(e, Direction.INPUT, 0x08, 40, 0)).toBe(TcpState.CLOSE)
      expect(table.timeout(e)).toBe(10_000)
    }
  })
})

describe("NOOUTPUT handling", () => {
  it("a reply on a DR entry clears NOOUTPUT, later client packets use the INPUT rows", () => {
    const { table } = makeTable()
    const e = table.insert(conn({ method: ConnectionFlags.DROUTE }), 0)
    expect(table.flags(e) & ConnectionFlags.NOOUTPUT).toBe(ConnectionFlags.NOOUTPUT)
    table.packet(e, Direction.INPUT, TcpState.SYN, 60, 0)
    table.packet(e, Direction.INPUT, TcpState.ACK, 60, 0)
    expect(table.state(e)).toBe(TcpState.ESTABLISHED)
    // INPUT_ONLY fin from ES = FW; INPUT fin from ES = CW.
    table.packet(e, Direction.OUTPUT, TcpState.ACK, 60, 0)
    expect(table.flags(e) & ConnectionFlags.NOOUTPUT).toBe(0)
    table.packet(e, Direction.INPUT, TcpState.FIN | TcpState.ACK, 60, 0)
    expect(table.state(e)).toBe(TcpState.CLOSE_WAIT)
  })

  it("NAT and FULLNAT entries never carry NOOUTPUT; DR, TUN and local ones do", () => {
    const { table } = makeTable()
    const cases: Array<[number, boolean]> = [
      [ConnectionFlags.MASQ, false],
      [ConnectionFlags.FULLNAT, false],
      [ConnectionFlags.DROUTE, true],
      [ConnectionFlags.TUNNEL, true],
      [ConnectionFlags.LOCALNODE, true]
    ]
    for (const [method, noOutput] of cases) {
      const e = table.insert(conn({ method, clientPort: 3000 + method }), 0)
      expect((table.flags(e) & ConnectionFlags.NOOUTPUT) !== 0).toBe(noOutput)
      expect(table.flags(e) & ConnectionFlags.INACTIVE).toBe(ConnectionFlags.INACTIVE)
    }
  })
})
