import { Icmp, Icmpv6, Nat, PacketParser, ParseResult, Tcp, Tunnel } from "@lvs-ts/packet"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { ipv4Frame, ipv6Frame, V6_A, V6_B } from "./helpers/frames.ts"
import { guarded } from "./helpers/guard.ts"

const quotedUdp = [0x45, 0, 0, 36, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0, 53, 0x13, 0x88, 0, 16, 0, 0]
const seeds = [
  ipv4Frame({ protocol: 6, tcpOptions: [2, 4, 5, 0xb4, 1, 1, 4, 2], payload: [1, 2, 3], tailroom: 12 }),
  ipv4Frame({ protocol: 17, payload: [1, 2, 3, 4], tailroom: 12 }),
  ipv4Frame({ protocol: 1, raw: [3, 3, 0, 0, 0, 0, 0, 0, ...quotedUdp], tailroom: 12 }),
  ipv4Frame({ protocol: 4, raw: [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8], tailroom: 12 }),
  ipv4Frame({
    protocol: 47,
    raw: [0x80, 0, 0x08, 0, 0, 0, 0, 0, 0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8],
    tailroom: 12
  }),
  ipv6Frame({ protocol: 6, extensions: [[0, [0, 1, 4, 0, 0, 0, 0]]], tailroom: 12 }),
  ipv6Frame({
    protocol: 58,
    raw: [1, 4, 0, 0, 0, 0, 0, 0, 0x60, 0, 0, 0, 0, 8, 17, 64, ...V6_A, ...V6_B, 0, 1, 0, 2, 0, 8, 0, 0],
    tailroom: 12
  })
]
const addr6 = Uint8Array.from(V6_A)

describe("rewriters and builders on mutated frames", () => {
  it("never throw and never touch bytes outside the buffer once a frame parsed Ok", () => {
    const out = new Uint8Array(1400)
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: seeds.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        fc.nat(),
        (which, mutations, cut) => {
          const seed = seeds[which]!
          const raw = seed.buf.slice()
          for (const [at, v] of mutations) raw[at % seed.len] = v
          const len = cut % 3 === 0 ? seed.len : Math.max(0, seed.len - (cut % 16))
          // Reads and writes must stay inside the whole buffer (the packet plus its tailroom, which the
          // TCP option insert may use) and the output buffer.
          const b = guarded(raw, 0, raw.length)
          const o = guarded(out, 0, out.length)
          const p = new PacketParser()
          if (p.parse(b, 0, len) !== ParseResult.Ok || p.ipVersion === 0) return
          const l4 = p.sourcePort >= 0 ? p.l4Offset : -1
          if (p.ipVersion === 4) {
            Nat.setDestinationV4(b, p.l3Offset, l4, p.protocol, 0x01020304, 99)
            Nat.setSourceV4(b, p.l3Offset, l4, p.protocol, 0x05060708, 100)
            Nat.icmpErrorInV4(b, p, 0x0a0a0a0a, 80)
            Nat.icmpErrorOutV4(b, p, 0x0b0b0b0b, 81)
            Icmp.writePortUnreachable(o, 0, b, p, 1)
            Icmp.writeEchoReply(o, 0, b, p)
          } else {
            Nat.setDestinationV6(b, p.l3Offset, l4, p.protocol, addr6, 0, 99)
            Nat.setSourceV6(b, p.l3Offset, l4, p.protocol, addr6, 0, 100)
            Nat.icmpErrorInV6(b, p, addr6, 0, 80)
            Icmpv6.writePacketTooBig(o, 0, b, p, 1280, addr6, 0)
            Icmpv6.writeEchoReply(o, 0, b, p)
          }
          Tcp.writeReset(o, 0, b, p)
          Tunnel.decapsulate(b, p, 6080)
          if (p.protocol === 6 && p.sourcePort >= 0) {
            const grew = Tcp.setToa(b, p.l3Offset, p.l4Offset, 1, 2)
            expect(grew).toBeLessThanOrEqual(raw.length - p.l3End)
          }
        }
      ),
      { numRuns: 3000 }
    )
  })
})
