/**
 * Differential robustness: golden Linux frames with random header bytes overwritten and random truncations go through
 * the library's parser and through tshark. The parser must never throw, must not accept a frame whose L2-L4 headers
 * tshark finds malformed, and must not reject one tshark finds entirely clean (no warning at all).
 *
 * The "accepts" direction is judged for TCP and UDP, whose headers the parser reads entirely. Deliberate exceptions,
 * each with its reason: tunnel payloads (IPIP, GRE, IPv6-in-IP) and the packets quoted by ICMP
 * errors are not parsed by `PacketParser.parse` (see `Tunnel.innerOffset` / `innerResult`), and ARP other than
 * Ethernet/IPv4 is outside what the director handles (`UnsupportedArp`, or `Truncated` for its 28-byte layout).
 */
import { IpProtocol, PacketParser, ParseResult, parseResultName } from "@lvs-ts/packet"
import { describe, expect, it } from "vitest"
import { allFixtures } from "./fixtures.ts"
import { SEED } from "./gen.ts"
import { dissect, Severity, tsharkAvailability, tsharkGate } from "./tshark.ts"

const gate = tsharkGate()
const MUTANTS_PER_FRAME = 12

/** Mutants of every golden frame: 1-3 bytes overwritten among the first 60 after the MAC addresses, maybe cut short. */
const mutants = (): ReadonlyArray<{ readonly label: string; readonly frame: Uint8Array }> => {
  let s = SEED | 1
  const rnd = (n: number) => {
    s = (Math.imul(s, 1103515245) + 12345) & 0x7fffffff
    return s % n
  }
  return allFixtures().flatMap((f) =>
    f.pcap.records.flatMap((r) =>
      Array.from({ length: MUTANTS_PER_FRAME }, (_, k) => {
        const b = r.data.slice()
        const edits: Array<string> = []
        for (let j = 1 + rnd(3); j > 0; j--) {
          const at = 12 + rnd(Math.min(62, b.length - 12))
          b[at] = rnd(256)
          edits.push(`${at}=${b[at]}`)
        }
        const cut = rnd(4) === 0 ? rnd(b.length + 1) : b.length
        return { label: `${f.name}#${r.index} mutant ${k} [${edits.join(" ")}, cut ${cut}]`, frame: b.slice(0, cut) }
      })
    )
  )
}

const outsideParser = (protocols: string): boolean =>
  /:gre|:ip:ip|:ip:ipv6|:ipv6:ipv6|:ipv6:ip(:|$)|:icmp:|:icmpv6:/.test(protocols)

describe("parser against tshark on mutated Linux frames", () => {
  if (gate === "fail") {
    it("tshark is installed (CI=true)", () => {
      expect.fail(`${tsharkAvailability().detail}. CI must install it (apt-get install tshark).`)
    })
  }

  it("never throws, whatever the bytes (no tshark needed)", () => {
    const p = new PacketParser()
    for (const m of mutants()) expect(() => p.parse(m.frame, 0, m.frame.length), m.label).not.toThrow()
  })

  it.skipIf(gate !== "run")(
    "accepts no frame tshark finds malformed and rejects none tshark finds clean",
    { timeout: 120_000 },
    () => {
      const all = mutants()
      const d = dissect(all.map((m) => m.frame))
      const p = new PacketParser()
      const disagreements: Array<string> = []
      let judgedCount = 0
      let bothReject = 0
      d.forEach((x, i) => {
        const m = all[i]!
        const r = p.parse(m.frame, 0, m.frame.length)
        if (outsideParser(x.protocols)) return
        // Accepting: judged where the parser reads the whole L4 header itself (TCP, UDP). Other protocols' bodies
        // (SCTP chunks, ND options, unknown protocols) are for their own modules; like Linux's tcp_parse_options,
        // the parser does not reject a segment for malformed TCP options (Tcp.validateOptions does). tshark
        // dissects MPTCP (option kind 30) as a protocol of its own, whose exceptions it reports as a malformed
        // packet rather than as a `tcp.option` expert: the same case.
        const judged =
          (p.protocol === IpProtocol.Tcp || p.protocol === IpProtocol.Udp) &&
          !x.experts.some((e) => e.field.startsWith("tcp.option")) &&
          !x.protocols.includes(":mptcp")
        if (judged) judgedCount++
        if (r !== ParseResult.Ok && x.malformed) bothReject++
        if (r === ParseResult.Ok && x.malformed && judged) {
          const why = x.experts.filter((e) => e.severity >= Severity.Warning).map((e) => `${e.field}: ${e.message}`)
          disagreements.push(
            `${m.label}: parser Ok, tshark malformed (${x.protocols} [seed ${SEED}]) ${why.join("; ")}`
          )
        }
        const clean = !x.malformed && !x.experts.some((e) => e.severity >= Severity.Warning)
        const arp = x.protocols.endsWith(":arp")
        if (r !== ParseResult.Ok && clean && !arp) {
          disagreements.push(`${m.label}: parser ${parseResultName(r)}, tshark clean (${x.protocols} [seed ${SEED}])`)
        }
      })
      expect(all.length).toBeGreaterThan(3000)
      // The mutants do exercise both sides: many TCP/UDP frames judged, many frames both reject.
      expect(judgedCount).toBeGreaterThan(1000)
      expect(bothReject).toBeGreaterThan(30)
      expect(disagreements.slice(0, 30)).toEqual([])
    }
  )
})
