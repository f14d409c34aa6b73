/**
 * Frame handler for the TAP benchmark. Modes (handler options):
 * - `count`: read only; the I/O layer's counters are the result.
 * - `reflect`: rewrite each frame's Ethernet destination to a foreign MAC and write it back on the same
 *   port from its own slot (a read + a write per frame: the forwarding cost floor).
 * - `blast` (control message): write one prebuilt 60-byte frame as fast as possible for `ms`.
 * The worker pins itself to `cpu` when given (`sched_setaffinity` on the calling thread). Every tick it
 * samples its own thread CPU time (`CLOCK_THREAD_CPUTIME_ID`: user + system, including io_uring task work
 * run on this thread) together with the frames handled so far: stats[8] = CPU ms, stats[9] = frames, so
 * the benchmark can report CPU cost per frame, which stays meaningful on a loaded machine.
 */
import koffi from "koffi"
import * as FrameHandler from "../src/FrameHandler.ts"

export interface Options {
  readonly mode: "count" | "reflect"
  readonly cpu?: number
}

export const make = FrameHandler.define((ctx) => {
  const options = ctx.options as Options
  if (options.cpu !== undefined) {
    const setaffinity = koffi.load("libc.so.6").func("int sched_setaffinity(int, unsigned long, void *)")
    const mask = new Uint8Array(128)
    mask[options.cpu >> 3] = 1 << (options.cpu & 7)
    setaffinity(0, mask.length, mask)
  }
  const b = ctx.bytes
  const stats = ctx.stats
  const reflect = options.mode === "reflect"
  const clockGettime = koffi.load("libc.so.6").func("int clock_gettime(int clock, _Out_ void *ts)")
  const timespec = new Int32Array(4)
  let frames = 0
  return {
    onTick: () => {
      clockGettime(3 /* CLOCK_THREAD_CPUTIME_ID */, timespec)
      stats[8] = timespec[0]! * 1000 + timespec[2]! / 1e6
      stats[9] = frames
    },
    onBatch: (batch) => {
      frames += batch.count
      if (!reflect) {
        stats[2]! += batch.count
        return
      }
      const port = batch.port
      for (let i = 0; i < batch.count; i++) {
        const o = batch.offsets[i]!
        // Foreign unicast destination: the kernel drops it at L2 (PACKET_OTHERHOST) after the write.
        b[o] = 0x02
        b[o + 1] = 0
        b[o + 2] = 0
        b[o + 3] = 0
        b[o + 4] = 0xee
        b[o + 5] = 0xee
        ctx.send(port, o, batch.lengths[i]!)
      }
    },
    onControl: (message) => {
      const { ms } = message as { ms: number }
      const o = ctx.scratch[0]!
      b.fill(0, o, o + 60)
      b[o] = 0x02
      b[o + 4] = 0xee
      b[o + 5] = 0xee
      b[o + 6] = 0x02
      b[o + 11] = 0x01
      b[o + 12] = 0x88
      b[o + 13] = 0xb5
      clockGettime(3, timespec)
      const cpuStart = timespec[0]! * 1000 + timespec[2]! / 1e6
      const start = performance.now()
      const until = start + ms
      let sent = 0
      while (performance.now() < until) {
        for (let k = 0; k < 256; k++) if (ctx.send(0, o, 60)) sent++
      }
      stats[0] = sent
      stats[1] = performance.now() - start
      clockGettime(3, timespec)
      stats[3] = timespec[0]! * 1000 + timespec[2]! / 1e6 - cpuStart
    }
  }
})
