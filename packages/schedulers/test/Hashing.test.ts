/**
 * Hash primitives against independent implementations and published vectors, and IPv6 folding.
 */
import { Destination, DestinationPool, ServiceFlags } from "@lvs-ts/schedulers"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { hsiphash, lastHigh, sipHash4 } from "../src/internal/SipHash.ts"
import { packet, setV4, setV6 } from "./helpers.ts"
import { hash32, hsiphashBig, sipHashBig } from "./oracle/Kernel.ts"

describe("SipHash", () => {
  it("the BigInt reference matches the published SipHash-2-4 vectors", () => {
    const k0 = 0x0706050403020100n
    const k1 = 0x0f0e0d0c0b0a0908n
    expect(sipHashBig(k0, k1, new Uint8Array(0), 2, 4)).toBe(0x726fdb47dd0e0e31n)
    expect(sipHashBig(k0, k1, Uint8Array.of(0, 1, 2, 3), 2, 4)).toBe(0xcf2794e0277187b7n)
    expect(
      sipHashBig(
        k0,
        k1,
        Uint8Array.from({ length: 15 }, (_, i) => i),
        2,
        4
      )
    ).toBe(0xa129ca6149be45e5n)
  })

  it("the 32-bit-halves implementation gives the published SipHash-2-4 tag for message 00 01 02 03", () => {
    const lo = sipHash4(0x03020100, 0x07060504, 0x03020100, 0x0f0e0d0c, 0x0b0a0908, 2, 4) >>> 0
    expect(lo).toBe(0x277187b7)
    expect(lastHigh[0]).toBe(0xcf2794e0)
  })

  it("hsiphash (SipHash-1-3, low 32 bits) agrees with the BigInt reference for any value and key", () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.constantFrom(2654435761, 2654446892, 0, 0xffffffff), (v, k) => {
        expect(hsiphash(v, k) >>> 0).toBe(hsiphashBig(v, k))
      }),
      { numRuns: 500 }
    )
  })

  it("hash_32 equals the BigInt multiplication", () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.integer({ min: 1, max: 20 }), (v, bits) => {
        expect(Math.imul(v, 0x61c88647) >>> (32 - bits)).toBe(hash32(v, bits))
      })
    )
  })
})

describe("IPv6: schedulers hash the XOR-folded address", () => {
  const words = fc.tuple(
    fc.nat({ max: 0xffffffff }),
    fc.nat({ max: 0xffffffff }),
    fc.nat({ max: 0xffffffff }),
    fc.nat({ max: 0xffffffff })
  )
  const fold = (w: ReadonlyArray<number>) => (w[0]! ^ w[1]! ^ w[2]! ^ w[3]!) >>> 0

  for (const scheduler of ["sh", "mh", "dh"] as const) {
    it(`${scheduler}: an IPv6 pool picks like an IPv4 pool whose addresses are the folds`, () => {
      fc.assert(
        fc.property(
          fc.array(words, { minLength: 1, maxLength: 8 }),
          words,
          words,
          fc.nat(65535),
          (dests, src, dst, port) => {
            const flags = ServiceFlags.Port
            const v6 = new DestinationPool({ family: 6, scheduler, flags, schedulerOptions: { tableSize: 251 } })
            const v4 = new DestinationPool({ family: 4, scheduler, flags, schedulerOptions: { tableSize: 251 } })
            dests.forEach((w, i) => {
              v6.add(new Destination(6, w[0], w[1], w[2], w[3], 80 + i))
              v4.add(new Destination(4, fold(w), 0, 0, 0, 80 + i))
            })
            setV6(src, dst)
            const a = v6.pick(packet, 0, 16, port, 0)
            setV4(fold(src), fold(dst))
            const b = v4.pick(packet, 0, 16, port, 0)
            expect(a._tag === "Destination" ? a.port : a.message).toBe(b._tag === "Destination" ? b.port : b.message)
          }
        ),
        { numRuns: 100 }
      )
    })
  }
})
