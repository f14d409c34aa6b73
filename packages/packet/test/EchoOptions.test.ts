/**
 * Echo replies to requests carrying IPv4 options: what a Linux host reflects (RFC 1122 §3.2.2.6), case by case.
 * The byte-for-byte comparison with Linux's own replies is in conformance/linux-equivalence.test.ts.
 */
import { Icmp, Ipv4, PacketParser, ParseResult } from "@lvs-ts/packet"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { ipv4Frame } from "./helpers/frames.ts"

const OUR_IP = 0x0a000001
const CLIENT = 0xc0a80005
const TS = 0x00dc1230
const p = new PacketParser()
const r = new PacketParser()
const out = new Uint8Array(512)

const ECHO = [8, 0, 0, 0, 0x12, 0x34, 0, 7, 1, 2, 3, 4, 5]
const be = (v: number) => [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]

/** Echo request with the given option bytes; returns the reply's option bytes, or null when refused. */
const reply = (options: ReadonlyArray<number>): Array<number> | null => {
  const f = ipv4Frame({ protocol: 1, src: CLIENT, dst: OUR_IP, raw: ECHO, ipOptions: options })
  const l4 = 14 + Ipv4.headerLength(f.buf, 14)
  Icmp.updateChecksum(f.buf, l4, f.len - l4)
  expect(p.parse(f.buf, 0, f.len)).toBe(ParseResult.Ok)
  const n = Icmp.writeEchoReply(out, 0, f.buf, p, TS)
  if (n === 0) return null
  expect(r.parse(out, 0, n)).toBe(ParseResult.Ok)
  expect(Ipv4.isChecksumValid(out, 14)).toBe(true)
  expect(r.icmpType).toBe(Icmp.Type.EchoReply)
  expect([...out.subarray(r.payloadOffset, r.l3End)]).toEqual([1, 2, 3, 4, 5])
  expect(Icmp.isChecksumValid(out, r.l4Offset, r.l4Length)).toBe(true)
  return [...out.subarray(14 + Ipv4.HEADER_LENGTH, r.l4Offset)]
}

describe("echo reply options (Linux ip_options_echo behaviour)", () => {
  it("a request without options gets a 20-byte header", () => {
    expect(reply([])).toEqual([])
  })

  it("Record Route: recorded on input and again on output while there is room", () => {
    // 3 slots, pointer 4: both of ours fit.
    expect(reply([7, 15, 4, ...be(0), ...be(0), ...be(0)])).toEqual([
      7,
      15,
      12,
      ...be(OUR_IP),
      ...be(OUR_IP),
      ...be(0),
      0
    ])
    // One slot left: recorded on input only.
    expect(reply([7, 11, 8, ...be(0x01020304), ...be(0)])).toEqual([7, 11, 12, ...be(0x01020304), ...be(OUR_IP), 0])
    // Full: copied as it is.
    const full = [7, 7, 8, ...be(0x01020304)]
    expect(reply(full)).toEqual([...full, 0])
  })

  it("Timestamp flag 0 (timestamps only) needs 8 bytes of room for the reply's entry, as Linux asks", () => {
    expect(reply([68, 20, 5, 0, ...be(0), ...be(0), ...be(0), ...be(0)])).toEqual([
      68,
      20,
      13,
      0,
      ...be(TS),
      ...be(TS),
      ...be(0),
      ...be(0)
    ])
    // Room for two timestamps: the reply's second needs 8 bytes after input's, so it is not written.
    expect(reply([68, 12, 5, 0, ...be(0), ...be(0)])).toEqual([68, 12, 9, 0, ...be(TS), ...be(0)])
  })

  it("Timestamp flag 1 (address and timestamp)", () => {
    expect(reply([68, 28, 5, 1, ...new Array(24).fill(0)])).toEqual([
      68,
      28,
      21,
      1,
      ...be(OUR_IP),
      ...be(TS),
      ...be(OUR_IP),
      ...be(TS),
      ...be(0),
      ...be(0)
    ])
  })

  it("Timestamp flag 3 (prespecified): only our own address gets a timestamp", () => {
    const slots = [...be(OUR_IP), ...be(0), ...be(OUR_IP), ...be(0), ...be(0x01020304), ...be(0)]
    expect(reply([68, 28, 5, 3, ...slots])).toEqual([
      68,
      28,
      21,
      3,
      ...be(OUR_IP),
      ...be(TS),
      ...be(OUR_IP),
      ...be(TS),
      ...be(0x01020304),
      ...be(0)
    ])
    // Two slots: the second is in the option's last 8 bytes, which the reply never uses.
    expect(reply([68, 20, 5, 3, ...slots.slice(0, 16)])).toEqual([
      68,
      20,
      13,
      3,
      ...be(OUR_IP),
      ...be(TS),
      ...be(OUR_IP),
      ...be(0)
    ])
    const other = [68, 12, 5, 3, ...be(0x01020304), ...be(0)]
    expect(reply(other)).toEqual(other)
  })

  it("Timestamp without room raises the overflow counter; at 15 the request is dropped", () => {
    expect(reply([68, 8, 9, 0x21, ...be(TS)])).toEqual([68, 8, 9, 0x31, ...be(TS)])
    expect(reply([68, 8, 9, 0xf0, ...be(TS)])).toBeNull()
  })

  it("Record Route comes first, other options are dropped, the rest is EOL-padded", () => {
    const ts = [68, 12, 5, 0, ...be(0), ...be(0)]
    const rr = [7, 7, 4, ...be(0)]
    // NOPs, a router alert (148) and the order TS, RR in the request.
    expect(reply([1, ...ts, 148, 4, 0, 0, ...rr, 1])).toEqual([
      7,
      7,
      8,
      ...be(OUR_IP),
      68,
      12,
      9,
      0,
      ...be(TS),
      ...be(0),
      0
    ])
  })

  it("source-routed and malformed requests get no reply, as Linux drops them", () => {
    expect(reply([131, 7, 4, ...be(0x01020304)])).toBeNull()
    expect(reply([137, 7, 4, ...be(0x01020304)])).toBeNull()
    expect(reply([7, 6, 4, 0, 0, 0])).toBeNull() // pointer inside, no room for an address
    expect(reply([7, 7, 3, ...be(0)])).toBeNull() // pointer below the minimum
    expect(reply([68, 8, 5, 2, ...be(0)])).toBeNull() // unknown flag
  })

  it("a refused request leaves the output untouched (found by the property below: RR of length 2)", () => {
    const refused = [
      [7, 2], // Record Route too short for a pointer
      [7, 3, 2], // pointer below the minimum
      [7, 7, 4, 0, 0, 0, 0, 68, 4, 4, 0], // a valid Record Route, then a Timestamp with a pointer below 5
      [7, 7, 8, 0, 0, 0, 0, 68, 8, 5, 2, 0, 0, 0, 0] // a full Record Route, then a Timestamp with an unknown flag
    ]
    for (const options of refused) {
      const f = ipv4Frame({ protocol: 1, src: CLIENT, dst: OUR_IP, raw: ECHO, ipOptions: options })
      expect(p.parse(f.buf, 0, f.len), `${options}`).toBe(ParseResult.Ok)
      out.fill(0xee)
      expect(Icmp.writeEchoReply(out, 0, f.buf, p, TS), `${options}`).toBe(0)
      expect(
        out.every((b) => b === 0xee),
        `${options}`
      ).toBe(true)
    }
  })

  it("never writes outside the reply for any option bytes", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }), (options) => {
        const f = ipv4Frame({ protocol: 1, src: CLIENT, dst: OUR_IP, raw: ECHO, ipOptions: options })
        if (p.parse(f.buf, 0, f.len) !== ParseResult.Ok || p.icmpType !== Icmp.Type.EchoRequest) return
        out.fill(0xee)
        const n = Icmp.writeEchoReply(out, 0, f.buf, p, TS)
        expect(out.subarray(n).every((b) => b === 0xee)).toBe(true)
        if (n === 0) return
        expect(r.parse(out, 0, n)).toBe(ParseResult.Ok)
        expect(Ipv4.headerLength(out, 14)).toBeLessThanOrEqual(Ipv4.headerLength(f.buf, 14))
      }),
      { numRuns: 2000 }
    )
  })
})
