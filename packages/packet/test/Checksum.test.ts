import { Checksum } from "@lvs-ts/packet"
import fc from "fast-check"
import { describe, expect, it } from "vitest"

const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, "").match(/../g)!, (b) => Number.parseInt(b, 16))

describe("Checksum", () => {
  it("computes the IPv4 header checksum of a known header (wikipedia example, 0xb861)", () => {
    const header = hex("4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7")
    expect(Checksum.compute(header, 0, 20)).toBe(0xb861)
    header[10] = 0xb8
    header[11] = 0x61
    expect(Checksum.compute(header, 0, 20)).toBe(0)
  })

  it("pads an odd trailing byte with zero (RFC 1071)", () => {
    expect(Checksum.compute(hex("0102 03"), 0, 3)).toBe(~(0x0102 + 0x0300) & 0xffff)
  })

  it("sums long buffers without losing carries", () => {
    const ones = new Uint8Array(65536).fill(0xff)
    expect(Checksum.compute(ones, 0, ones.length)).toBe(0)
  })

  it("RFC 1624 update16 equals a full recompute for any 16-bit field change", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 20, maxLength: 60 }),
        fc.nat(),
        fc.integer({ min: 0, max: 0xffff }),
        (raw, at, v) => {
          const bytes = raw.slice(0, raw.length & ~1)
          bytes[0] = 0
          bytes[1] = 0
          const c = Checksum.compute(bytes, 0, bytes.length)
          bytes[0] = c >>> 8
          bytes[1] = c & 0xff
          const field = 2 + 2 * (at % ((bytes.length - 2) / 2))
          const old = (bytes[field]! << 8) | bytes[field + 1]!
          bytes[field] = v >>> 8
          bytes[field + 1] = v & 0xff
          const inc = Checksum.update16(c, old, v)
          bytes[0] = 0
          bytes[1] = 0
          const full = Checksum.compute(bytes, 0, bytes.length)
          // 0x0000 and 0xffff are the same value in one's complement; RFC 1624 never yields -0 for a non-zero sum.
          expect(inc === full || (inc ^ full) === 0xffff).toBe(true)
          bytes[0] = inc >>> 8
          bytes[1] = inc & 0xff
          expect(Checksum.compute(bytes, 0, bytes.length)).toBe(0)
        }
      )
    )
  })

  it("keeps a UDP checksum of 0 at 0", () => {
    expect(Checksum.updateUdp16(0, 1234, 80)).toBe(0)
    expect(Checksum.updateUdp32(0, 0x0a000001, 0xc0a80002)).toBe(0)
  })
})
