import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as FramePool from "../src/FramePool.ts"
import * as PortCounters from "../src/PortCounters.ts"
import * as TapDevice from "../src/TapDevice.ts"

describe("FramePool.layout", () => {
  it("gives every slot its headroom, room for MTU + 18 + 1 bytes, cache-line alignment and no overlap", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 68, max: 9216 }),
        fc.integer({ min: 0, max: 256 }),
        fc.integer({ min: 1, max: 128 }),
        fc.integer({ min: 0, max: 16 }),
        fc.integer({ min: 1, max: 4 }),
        (mtu, headroom, batchSize, scratchSlots, workers) => {
          const layout = FramePool.layout({ mtu, headroom, batchSize, scratchSlots, workers })
          expect(layout.slotSize % 64).toBe(0)
          expect(layout.slotSize - headroom).toBeGreaterThan(mtu + FramePool.ETHERNET_OVERHEAD)
          expect(layout.byteLength).toBe(layout.slotSize * (batchSize + scratchSlots) * workers)
          const starts = new Set<number>()
          for (let w = 0; w < workers; w++) {
            for (let s = 0; s < batchSize + scratchSlots; s++) {
              const at = FramePool.frameOffset(layout, w, s)
              expect(at - headroom).toBe((w * layout.slotsPerWorker + s) * layout.slotSize)
              expect(at + layout.frameCapacity).toBeLessThanOrEqual(layout.byteLength)
              starts.add(at)
            }
            for (let i = 0; i < scratchSlots; i++) {
              expect(FramePool.scratchOffset(layout, w, i)).toBe(FramePool.frameOffset(layout, w, batchSize + i))
            }
          }
          expect(starts.size).toBe(workers * (batchSize + scratchSlots))
        }
      ),
      { numRuns: 200 }
    )
  })

  it("rejects nonsense with the field name", () => {
    const ok = { mtu: 1500, headroom: 64, batchSize: 64, scratchSlots: 4, workers: 1 }
    expect(() => FramePool.layout({ ...ok, mtu: 20 })).toThrow("mtu 20")
    expect(() => FramePool.layout({ ...ok, batchSize: 0 })).toThrow("batchSize 0")
    expect(() => FramePool.layout({ ...ok, headroom: 1.5 })).toThrow("headroom 1.5")
    expect(FramePool.layout(ok).slotSize).toBe(1600)
  })
})

describe("PortCounters", () => {
  it("sums each port over workers and keeps workers apart", () => {
    const ports = 2
    const workers = 3
    const counters = new Float64Array(PortCounters.size(workers, ports))
    for (let w = 0; w < workers; w++) {
      for (let p = 0; p < ports; p++) {
        counters[PortCounters.portBase(w, ports, p) + PortCounters.PortField.rxFrames] = (w + 1) * 10 + p
        counters[PortCounters.portBase(w, ports, p) + PortCounters.PortField.batchHistogram + 7] = 1
      }
      counters[PortCounters.workerBase(w, ports) + PortCounters.WorkerField.polls] = w
    }
    const snap = PortCounters.snapshot(counters, ["a", "b"], workers)
    expect(snap.ports.map((p) => p.rxFrames)).toEqual([60, 63])
    expect(snap.ports[0]!.batchHistogram).toEqual([0, 0, 0, 0, 0, 0, 0, 3])
    expect(snap.workers.map((w) => w.polls)).toEqual([0, 1, 2])
    // Regions never overlap: the last port field of worker w ends where worker w+1 starts.
    expect(PortCounters.portBase(0, ports, ports - 1) + PortCounters.PORT_FIELDS).toBe(
      PortCounters.workerBase(1, ports)
    )
  })
})

describe("TapDevice spec checks", () => {
  it("parses and formats MAC addresses round trip", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), (mac) => {
        expect(TapDevice.parseMac(TapDevice.formatMac(mac, 0))).toEqual(mac)
      })
    )
    expect(TapDevice.parseMac("02:00:00:00:00")).toBeUndefined()
    expect(TapDevice.parseMac("02:00:00:00:00:zz")).toBeUndefined()
  })

  it("names the problem with a spec", () => {
    expect(TapDevice.validate({ name: "tap0" })).toBeUndefined()
    expect(TapDevice.validate({ name: "" })).toBe("name is empty")
    expect(TapDevice.validate({ name: "sixteen-bytes-xx" })).toContain("longer than 15 bytes")
    expect(TapDevice.validate({ name: "a/b" })).toContain("'/'")
    expect(TapDevice.validate({ name: "tap0", queues: 0 })).toContain("queues 0")
    expect(TapDevice.validate({ name: "tap0", mtu: 67 })).toContain("mtu 67")
    expect(TapDevice.validate({ name: "tap0", mac: "01:00:00:00:00:01" })).toContain("multicast")
    expect(TapDevice.validate({ name: "tap0", mac: "nope" })).toContain("aa:bb:cc:dd:ee:ff")
  })
})
