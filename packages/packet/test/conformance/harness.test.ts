/**
 * Self-tests of the conformance harness: the pcap reader/writer, and tshark as an oracle (it must pass every
 * captured Linux frame and must object to a broken one, otherwise the oracle suite proves nothing).
 */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { allFixtures, FIXTURES_DIR, fixtureNames } from "./fixtures.ts"
import { LINKTYPE_ETHERNET, readPcap, writePcap } from "./pcap.ts"
import { CHECKSUM_PREFS, dissect, problems, tsharkAvailability, tsharkGate } from "./tshark.ts"

describe("pcap reader/writer", () => {
  it("reads every fixture and writes it back byte for byte", () => {
    const names = fixtureNames()
    expect(names.length).toBeGreaterThanOrEqual(15)
    for (const name of names) {
      const bytes = readFileSync(`${FIXTURES_DIR}${name}.pcap`)
      const file = readPcap(bytes)
      expect(file.linkType, name).toBe(LINKTYPE_ETHERNET)
      expect(file.records.length, name).toBeGreaterThan(0)
      const again = writePcap(
        file.records.map((r) => ({
          data: r.data,
          originalLength: r.originalLength,
          seconds: r.seconds,
          microseconds: r.fraction
        })),
        file.linkType,
        file.snapLength
      )
      expect(Buffer.from(again).equals(bytes), name).toBe(true)
    }
  })

  it("returns copies, not views of the file", () => {
    const bytes = readFileSync(`${FIXTURES_DIR}arp-ping4.pcap`)
    const before = Buffer.from(bytes)
    const record = readPcap(bytes).records[0]!
    record.data.fill(0)
    expect(bytes.equals(before)).toBe(true)
  })

  it("reads big-endian and nanosecond files", () => {
    const frame = Uint8Array.from({ length: 60 }, (_, i) => i)
    const le = writePcap([{ data: frame, seconds: 7, microseconds: 9, originalLength: 64 }])
    const be = new Uint8Array(le.length)
    const src = new DataView(le.buffer)
    const dst = new DataView(be.buffer)
    dst.setUint32(0, 0xa1b23c4d, false) // nanosecond magic, big-endian
    dst.setUint16(4, 2, false)
    dst.setUint16(6, 4, false)
    dst.setUint32(16, src.getUint32(16, true), false)
    dst.setUint32(20, 1, false)
    for (let i = 0; i < 4; i++) dst.setUint32(24 + i * 4, src.getUint32(24 + i * 4, true), false)
    be.set(frame, 40)
    const file = readPcap(be)
    expect(file.nanosecond).toBe(true)
    expect(file.records).toEqual([{ index: 0, seconds: 7, fraction: 9, originalLength: 64, data: frame }])
  })

  it("rejects garbage with a message naming the problem", () => {
    expect(() => readPcap(new Uint8Array(10))).toThrow(/shorter than the 24-byte header/)
    expect(() => readPcap(new Uint8Array(24))).toThrow(/bad magic/)
    const cut = writePcap([new Uint8Array(100)]).subarray(0, 24 + 16 + 50)
    expect(() => readPcap(cut)).toThrow(/record 0 at offset 24 claims 100 bytes/)
  })

  it("every fixture has a stored tshark dissection with one record per frame", () => {
    const fixtures = allFixtures()
    for (const f of fixtures) {
      f.expected.forEach((fields, i) => {
        expect(fields["frame.len"], `${f.name} #${i}`).toEqual([String(f.pcap.records[i]!.originalLength)])
      })
    }
  })
})

const gate = tsharkGate()

describe("tshark oracle self-test", () => {
  if (gate === "fail") {
    it("tshark is installed (CI=true)", () => {
      expect.fail(`${tsharkAvailability().detail}. CI must install it (apt-get install tshark).`)
    })
  }

  describe.skipIf(gate !== "run")("with tshark", () => {
    const fixtures = allFixtures()
    const frames = fixtures.flatMap((f) => f.pcap.records.map((r) => r.data))
    const labels = fixtures.flatMap((f) => f.pcap.records.map((r) => `${f.name}#${r.index}`))

    it("passes every frame Linux put on the wire (oracle preferences)", () => {
      const d = dissect(frames)
      expect(d.flatMap((x) => problems(x, labels[x.index]))).toEqual([])
    })

    it("passes them with default dissection plus checksum checks, and agrees with the stored dissection", () => {
      const d = dissect(frames, CHECKSUM_PREFS)
      expect(d.flatMap((x) => problems(x, labels[x.index]))).toEqual([])
      const stored = fixtures.flatMap((f) => f.expected)
      const core = ["eth.src", "eth.type", "ip.src", "ip.dst", "ip.id", "ip.checksum.status", "ipv6.src", "tcp.seq_raw"]
      d.forEach((x, i) => {
        for (const field of core) expect(x.fields[field], `${labels[i]} ${field}`).toEqual(stored[i]![field])
      })
    })

    it("objects to a bad IPv4, TCP, UDP, ICMP and ICMPv6 checksum and to a truncated frame", () => {
      const pick = (name: string, index: number) =>
        fixtures.find((f) => f.name === name)!.pcap.records[index]!.data.slice()
      const ipv4 = pick("tcp4-http", 0)
      ipv4[14 + 10]! ^= 0x01
      const tcp = pick("tcp4-http", 0)
      tcp[14 + 20 + 16]! ^= 0x01
      const udp = pick("udp", 0)
      udp[14 + 20 + 6]! ^= 0x01
      const icmp = pick("arp-ping4", 2)
      icmp[14 + 20 + 2]! ^= 0x01
      const icmpv6 = pick("nd-ping6", 2)
      icmpv6[14 + 40 + 2]! ^= 0x01
      const truncated = pick("tcp4-http", 3).subarray(0, 14 + 30)
      const d = dissect([ipv4, tcp, udp, icmp, icmpv6, truncated])
      const found = d.map((x) => problems(x).join("\n"))
      expect(found[0]).toMatch(/ip\.checksum/)
      expect(found[1]).toMatch(/tcp\.checksum/)
      expect(found[2]).toMatch(/udp\.checksum/)
      expect(found[3]).toMatch(/icmp\.checksum/)
      expect(found[4]).toMatch(/icmpv6\.checksum/)
      expect(found[5]).toMatch(/malformed/)
    })
  })
})
