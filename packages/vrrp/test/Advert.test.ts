import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Address, Advert, Datagram } from "../src/index.ts"

const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join("."))
const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Address.format(b, 0, "ipv6"))

describe("Advert codec", () => {
  it("decode(encode(x)) returns x, and the checksum verifies, for both versions and families", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Address.Family>("ipv4", "ipv6"),
        fc.constantFrom<2 | 3>(2, 3),
        fc.integer({ min: 1, max: 255 }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 1, max: 4095 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 20 }),
        (family, version, vrid, priority, cs, unicast, n) => {
          const addr = family === "ipv4" ? v4 : v6
          const addresses = fc.sample(addr, { numRuns: n, seed: vrid + n })
          const interval = version === 2 ? Math.max(1, Math.floor(cs / 100)) * 100 : cs
          const source = fc.sample(addr, { numRuns: 1, seed: priority })[0]!
          const destination = unicast
            ? fc.sample(addr, { numRuns: 1, seed: cs })[0]!
            : family === "ipv4"
              ? Advert.MULTICAST_GROUP_V4
              : Advert.MULTICAST_GROUP_V6
          const ctx = {
            family,
            source: Address.parse(family, source)!,
            destination: Address.parse(family, destination)!
          }
          const out = new Uint8Array(600)
          const authData = Advert.passwordBytes("pw")
          const len = Advert.encode(
            { version, vrid, priority, interval, authType: version === 2 ? 1 : 0, authData, addresses },
            out,
            3,
            ctx
          )
          expect(len).toBe(Advert.messageLength(version, family, addresses.length))
          const r = Advert.decode(out, 3, len, family)
          expect(r._tag).toBe("Ok")
          if (r._tag !== "Ok") return
          expect(r.advert.addresses).toEqual(addresses.map((a) => Address.canonical(a)))
          expect(r.advert).toMatchObject({ version, vrid, priority, interval })
          expect(Advert.computeChecksum(out, 3, len, version, ctx)).toBe(r.advert.checksum)
          if (Advert.hasAuthData(version, family)) expect(Advert.authDataEquals(r.advert.authData, authData)).toBe(true)
          // Any single flipped bit is caught by the checksum.
          const bit = (vrid * 7 + priority) % (len * 8)
          out[3 + (bit >>> 3)]! ^= 1 << (bit & 7)
          expect(Advert.computeChecksum(out, 3, len, version, ctx)).not.toBe(
            (out[3 + Advert.Offset.checksum]! << 8) | out[3 + Advert.Offset.checksum + 1]!
          )
        }
      ),
      { numRuns: 300 }
    )
  })

  it("never throws on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.constantFrom<Address.Family>("ipv4", "ipv6"), (b, f) => {
        const r = Advert.decode(b, 0, b.length, f)
        expect(["Ok", "Error"]).toContain(r._tag)
        const d = Datagram.decodeIpv4(b, 0, b.length)
        expect(d).toBeDefined()
        Datagram.decodeIpv6(b, 0, b.length)
      }),
      { numRuns: 500 }
    )
  })

  it("reports a too-short message with the expected length", () => {
    const b = new Uint8Array([0x21, 0x33, 0x64, 0x01, 0, 1, 0, 0, 10, 9, 0, 100])
    expect(Advert.decode(b, 0, b.length, "ipv4")).toEqual({
      _tag: "Error",
      error: { _tag: "TooShort", length: 12, expected: 20 }
    })
  })

  it("PASS: passwords are truncated to 8 bytes and zero padded; compare is length- and content-exact", () => {
    expect([...Advert.passwordBytes("secret123456")]).toEqual([...new TextEncoder().encode("secret12")])
    expect([...Advert.passwordBytes("ab")]).toEqual([0x61, 0x62, 0, 0, 0, 0, 0, 0])
    expect(Advert.authDataEquals(Advert.passwordBytes("secret12"), Advert.passwordBytes("secret13"))).toBe(false)
    expect(Advert.authDataEquals(Advert.passwordBytes("a"), new Uint8Array(7))).toBe(false)
  })

  it("refuses invalid configuration naming the field", () => {
    const ctx = { family: "ipv4" as const, source: new Uint8Array(4), destination: new Uint8Array(4) }
    const out = new Uint8Array(64)
    expect(() =>
      Advert.encode({ version: 3, vrid: 0, priority: 1, interval: 100, addresses: [] }, out, 0, ctx)
    ).toThrow(/vrid=0/)
    expect(() =>
      Advert.encode({ version: 3, vrid: 1, priority: 1, interval: 100, addresses: ["fe80::1"] }, out, 0, ctx)
    ).toThrow(/addresses\[0\]=fe80::1/)
  })

  it("IPv6 frames: header fields and the IPv6 pseudo-header checksum", () => {
    const out = new Uint8Array(200)
    const n = Datagram.encodeIpv6(
      { version: 3, vrid: 7, priority: 200, interval: 100, addresses: ["fe80::100", "2001:db8::1"] },
      { source: "fe80::1", destination: "ff02::12" },
      out,
      0
    )
    expect(n).toBe(40 + 8 + 32)
    const r = Datagram.decodeIpv6(out, 0, n)
    if ("_tag" in r) throw new Error(r.message)
    expect(r).toMatchObject({ family: "ipv6", source: "fe80::1", destination: "ff02::12", ttl: 255 })
    const a = Advert.decode(r.payload, 0, r.payload.length, "ipv6")
    expect(a._tag === "Ok" && a.advert.addresses).toEqual(["fe80::100", "2001:db8::1"])
    // Verify with an independent sum: pseudo-header + message must fold to 0xffff.
    let s = 0
    const words = (b: Uint8Array, o: number, l: number) => {
      for (let i = 0; i < l; i += 2) s += (b[o + i]! << 8) | (b[o + i + 1] ?? 0)
    }
    words(out, 8, 32)
    s += 112 + (n - 40)
    words(out, 40, n - 40)
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16)
    expect(s).toBe(0xffff)
  })
})

describe("Address", () => {
  it("round-trips IPv6 text in canonical form", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        const t = Address.format(b, 0, "ipv6")
        expect([...Address.parseIpv6(t)!]).toEqual([...b])
      }),
      { numRuns: 300 }
    )
    expect(Address.canonical("FF02:0:0:0:0:0:0:12")).toBe("ff02::12")
    expect(Address.canonical("2001:db8:0:0:1:0:0:1")).toBe("2001:db8::1:0:0:1")
    expect(Address.parseIpv4("1.2.3.256")).toBeUndefined()
    expect(Address.parseIpv6("1::2::3")).toBeUndefined()
    expect(Address.compare("10.9.0.2", "10.9.0.10")).toBeLessThan(0)
    expect(Address.isMulticast("224.0.0.18") && Address.isMulticast("ff02::12")).toBe(true)
  })
})
