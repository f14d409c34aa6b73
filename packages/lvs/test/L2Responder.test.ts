import { Arp, Checksum } from "@lvs-ts/packet"
import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import type * as FrameHandler from "../src/FrameHandler.ts"
import * as Frames from "../src/internal/Frames.ts"
import * as L2Responder from "../src/L2Responder.ts"
import * as TapDevice from "../src/TapDevice.ts"

const ourMac = TapDevice.parseMac("02:00:00:00:01:01")!
const peerMac = TapDevice.parseMac("02:00:00:00:09:09")!
const ours = Frames.parseIpv4("10.200.1.1")!
const vip = Frames.parseIpv4("10.200.1.100")!
const peer = Frames.parseIpv4("10.200.1.10")!
const FRAME_AT = 128

/** Runs the real handler over an in-memory pool, recording what it sends. */
const harness = (
  options: L2Responder.Options = { ports: [{ mac: "02:00:00:00:01:01", addresses: ["10.200.1.1", "10.200.1.100"] }] }
) => {
  const bytes = new Uint8Array(8192)
  const stats = new Float64Array(64)
  const sent: Array<{ port: number; frame: Uint8Array }> = []
  const ctx: FrameHandler.Context = {
    bytes,
    view: new DataView(bytes.buffer),
    headroom: 64,
    frameCapacity: 2048,
    scratch: Int32Array.of(4096),
    queue: 0,
    ports: options.ports.map((_, index) => ({
      index,
      name: `tap${index}`,
      ifindex: index + 1,
      mac: "02:aa:00:00:00:00",
      mtu: 1500
    })),
    stats,
    options,
    send: (port, offset, length) => {
      sent.push({ port, frame: bytes.slice(offset, offset + length) })
      return true
    },
    flush: () => {},
    notify: () => {}
  }
  const handler = L2Responder.make(ctx) as FrameHandler.Handler
  const deliver = (frame: Uint8Array, port = 0) => {
    bytes.set(frame, FRAME_AT)
    handler.onBatch({ port, count: 1, offsets: Int32Array.of(FRAME_AT), lengths: Int32Array.of(frame.length) })
  }
  return { stats, sent, deliver }
}

const arpRequest = (target: number) => {
  const f = new Uint8Array(60) // padded to the Ethernet minimum, as on the wire
  Arp.writeRequest(f, 0, peerMac, peer, target)
  return f
}

const echoRequest = (dst: number, payload = 56) => {
  const f = new Uint8Array(14 + 28 + payload)
  Frames.writeIcmpEcho(f, 0, Frames.ICMP_ECHO_REQUEST, ourMac, peerMac, peer, dst, 0x1234, 7, payload)
  return f
}

describe("L2Responder", { timeout: 30_000 }, () => {
  it("announces each owned address with one gratuitous ARP at start", () => {
    const { sent, stats } = harness()
    expect(stats[L2Responder.Stat.gratuitousArps]).toBe(2)
    expect(sent.map((s) => Frames.formatIpv4(Frames.readU32(s.frame, 28)))).toEqual(["10.200.1.1", "10.200.1.100"])
    for (const { frame } of sent) {
      expect(TapDevice.formatMac(frame, 0)).toBe("ff:ff:ff:ff:ff:ff")
      expect(Frames.readU32(frame, 28)).toBe(Frames.readU32(frame, 38)) // sender IP = target IP
    }
  })

  it("answers an ARP request for an owned address in place, and only those", () => {
    const { sent, stats, deliver } = harness()
    sent.length = 0
    deliver(arpRequest(vip))
    expect(sent).toHaveLength(1)
    const reply = sent[0]!.frame
    expect(reply).toHaveLength(42)
    expect(TapDevice.formatMac(reply, 0)).toBe("02:00:00:00:09:09")
    expect(TapDevice.formatMac(reply, 6)).toBe("02:00:00:00:01:01")
    expect(Frames.readU16(reply, 20)).toBe(Frames.ARP_REPLY)
    expect(TapDevice.formatMac(reply, 22)).toBe("02:00:00:00:01:01")
    expect(Frames.readU32(reply, 28)).toBe(vip)
    expect(TapDevice.formatMac(reply, 32)).toBe("02:00:00:00:09:09")
    expect(Frames.readU32(reply, 38)).toBe(peer)
    deliver(arpRequest(Frames.parseIpv4("10.200.1.55")!))
    expect(sent).toHaveLength(1)
    expect(stats[L2Responder.Stat.arpReplies]).toBe(1)
    expect(stats[L2Responder.Stat.arpNotOurs]).toBe(1)
  })

  it("answers an ARP probe (RFC 5227, sender 0.0.0.0) for an owned address to the prober, as Linux does", () => {
    const { sent, deliver, stats } = harness()
    sent.length = 0 // the gratuitous ARPs at start
    const probe = new Uint8Array(60)
    Arp.writeRequest(probe, 0, peerMac, 0, vip)
    deliver(probe)
    expect(sent).toHaveLength(1)
    const reply = sent[0]!.frame
    expect(reply.subarray(0, 6)).toEqual(peerMac) // unicast to the prober
    expect(Arp.operation(reply, 14)).toBe(Arp.Operation.Reply)
    expect(Arp.senderProtocol(reply, 14)).toBe(vip)
    expect(reply.subarray(14 + Arp.SENDER_HARDWARE, 14 + Arp.SENDER_HARDWARE + 6)).toEqual(ourMac)
    expect(Arp.targetProtocol(reply, 14)).toBe(0)
    expect(stats[L2Responder.Stat.arpReplies]).toBe(1)
    const other = new Uint8Array(60)
    Arp.writeRequest(other, 0, peerMac, 0, peer)
    deliver(other)
    expect(sent).toHaveLength(1)
  })

  it("answers ICMP echo with a valid reply carrying the same id, sequence and payload", () => {
    const { sent, stats, deliver } = harness()
    sent.length = 0
    const request = echoRequest(ours, 100)
    deliver(request)
    expect(sent).toHaveLength(1)
    const reply = sent[0]!.frame
    expect(TapDevice.formatMac(reply, 0)).toBe("02:00:00:00:09:09")
    expect(Frames.readU32(reply, 26)).toBe(ours)
    expect(Frames.readU32(reply, 30)).toBe(peer)
    expect(Checksum.compute(reply, 14, 20)).toBe(0)
    expect(reply[34]).toBe(Frames.ICMP_ECHO_REPLY)
    expect(Checksum.compute(reply, 34, reply.length - 34)).toBe(0)
    expect(reply.subarray(38)).toEqual(request.subarray(38))
    expect(stats[L2Responder.Stat.echoReplies]).toBe(1)
  })

  it("drops and counts truncated frames, bad checksums, fragments and echo for other hosts", () => {
    const { sent, stats, deliver } = harness()
    sent.length = 0
    deliver(new Uint8Array(10))
    deliver(arpRequest(ours).subarray(0, 30))
    const badIp = echoRequest(ours)
    badIp[24]! ^= 0xff
    deliver(badIp)
    const badIcmp = echoRequest(ours)
    badIcmp[50]! ^= 0xff
    deliver(badIcmp)
    const fragment = echoRequest(ours)
    Frames.writeU16(fragment, 20, 0x2000) // MF
    Frames.writeU16(fragment, 24, 0)
    Frames.writeU16(fragment, 24, Checksum.compute(fragment, 14, 20))
    deliver(fragment)
    const truncatedIp = echoRequest(ours).subarray(0, 40)
    deliver(truncatedIp)
    expect(stats[L2Responder.Stat.malformed]).toBe(6)
    deliver(echoRequest(Frames.parseIpv4("10.200.1.77")!))
    expect(stats[L2Responder.Stat.ignored]).toBe(1)
    expect(sent).toHaveLength(0)
  })

  it("keeps ports apart: an address owned on port 1 is not answered on port 0", () => {
    const { sent, stats, deliver } = harness({
      ports: [
        { mac: "02:00:00:00:01:01", addresses: ["10.200.1.1"] },
        { mac: "02:00:00:00:02:01", addresses: ["10.200.2.1"] }
      ],
      gratuitousArp: false
    })
    deliver(arpRequest(Frames.parseIpv4("10.200.2.1")!), 0)
    expect(sent).toHaveLength(0)
    deliver(arpRequest(Frames.parseIpv4("10.200.2.1")!), 1)
    expect(sent).toHaveLength(1)
    expect(sent[0]!.port).toBe(1)
    expect(TapDevice.formatMac(sent[0]!.frame, 6)).toBe("02:00:00:00:02:01")
    expect(stats[L2Responder.Stat.arpNotOurs]).toBe(1)
  })

  it("rejects bad options with a message naming the field", () => {
    expect(L2Responder.validate({ ports: [{ mac: "nope", addresses: [] }] })).toContain("ports[0].mac")
    expect(L2Responder.validate({ ports: [{ mac: "02:00:00:00:00:01", addresses: ["10.1.1"] }] })).toContain(
      "ports[0].addresses[0]"
    )
  })

  it("never throws on arbitrary bytes, and accounts for every frame exactly once", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.uint8Array({ minLength: 0, maxLength: 200 }),
            // Mutated valid frames reach deeper branches than random bytes.
            fc
              .tuple(
                fc.constantFrom(arpRequest(ours), echoRequest(ours), echoRequest(vip)),
                fc.nat(99),
                fc.integer({ min: 1, max: 255 })
              )
              .map(([f, i, x]) => {
                const copy = f.slice()
                copy[i % copy.length]! ^= x
                return copy
              })
          ),
          { maxLength: 20 }
        ),
        (frames) => {
          const { stats, deliver } = harness({
            ports: [{ mac: "02:00:00:00:01:01", addresses: ["10.200.1.1", "10.200.1.100"] }],
            gratuitousArp: false
          })
          for (const frame of frames) deliver(frame)
          const accounted = [0, 1, 3, 4, 5].reduce((sum, i) => sum + stats[i]!, 0)
          expect(accounted).toBe(frames.length)
        }
      ),
      { numRuns: 300 }
    )
  })
})
