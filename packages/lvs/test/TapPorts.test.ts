import { spawn } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { release } from "node:os"
import { Arp } from "@lvs-ts/packet"
import { Effect, Exit, Queue, Scope } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import * as Frames from "../src/internal/Frames.ts"
import * as L2Responder from "../src/L2Responder.ts"
import * as TapDevice from "../src/TapDevice.ts"
import * as TapPorts from "../src/TapPorts.ts"
import * as Capture from "./fixtures/CaptureHandler.ts"
import * as Netns from "./helpers/Netns.ts"

const handlerModule = new URL("./fixtures/CaptureHandler.ts", import.meta.url)
const hostMac = TapDevice.parseMac("02:00:00:00:00:02")!
const broadcast = new Uint8Array(6).fill(0xff)
const zeroMac = new Uint8Array(6)
const tapIp = Frames.parseIpv4("10.9.0.1")!
const hostIp = Frames.parseIpv4("10.9.0.2")!

/** Opens ports in a scope the test closes explicitly (to time and check the shutdown). */
const open = async (options: Omit<TapPorts.Options, "handler">, capture: SharedArrayBuffer) => {
  const scope = Scope.makeUnsafe()
  const ports = await Effect.runPromise(
    Scope.provide(TapPorts.make({ ...options, handler: { module: handlerModule, options: { capture } } }), scope)
  )
  return { ports, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/** One port answered by the L2 responder (ARP and ping for `address`), in a scope the test closes. */
const openResponder = async (options: Omit<TapPorts.Options, "handler" | "ports">, mac: string, address: string) => {
  const scope = Scope.makeUnsafe()
  const ports = await Effect.runPromise(
    Scope.provide(
      TapPorts.make({
        ...options,
        ports: [{ name: "lvst0", mac }],
        handler: {
          module: L2Responder.handlerModule,
          options: { ports: [{ mac, addresses: [address] }], gratuitousArp: false }
        }
      }),
      scope
    )
  )
  return { ports, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

const send = (ports: TapPorts.Service, port: number, frame: Uint8Array, headroomBytes = 0) =>
  Effect.runPromise(ports.control({ type: "send", port, frame, headroomBytes } satisfies Capture.Control))

const counters = (ports: TapPorts.Service) => Effect.runPromise(ports.counters)

const backends = ["syscalls", "io_uring"] as const

for (const backend of backends)
  describe.skipIf(!Netns.canRun)(`TapPorts (${backend}) in a network namespace (root)`, { timeout: 30_000 }, () => {
    const suffix = backend === "io_uring" ? "u" : ""
    afterAll(() => Netns.removeAll())

    it("creates the tap inside the namespace from a setns'd worker; the test thread stays in its namespace", async () => {
      const ns = Netns.create(`own${suffix}`)
      const before = TapPorts.currentNetns()
      const capture = Capture.allocate()
      const { ports, close } = await open(
        { backend, netns: ns, ports: [{ name: "lvst0", mtu: 1400, mac: "02:00:00:00:aa:01" }] },
        capture
      )
      try {
        expect(TapPorts.currentNetns()).toBe(before)
        expect(ports.netnsId).not.toBe(before)
        expect(Netns.linkExists(ns, "lvst0")).toBe(true)
        expect(Netns.linkExists(undefined, "lvst0")).toBe(false)
        expect(ports.ports[0]).toMatchObject({ name: "lvst0", mtu: 1400, mac: "02:00:00:00:aa:01" })
        expect(Netns.ip("-n", ns, "link", "show", "dev", "lvst0")).toMatch(/state (UP|UNKNOWN)|,UP/)
      } finally {
        await close()
      }
      // The device was not persistent: closing the fds removed it.
      expect(await Netns.waitFor(() => !Netns.linkExists(ns, "lvst0"), 3000)).toBe(true)
      Netns.remove(ns)
    })

    it("gets the kernel's ARP reply to an injected ARP request, and counters match the kernel's", async () => {
      const ns = Netns.create(`arp${suffix}`)
      const capture = Capture.allocate()
      const { ports, close } = await open({ backend, netns: ns, ports: [{ name: "lvst0" }] }, capture)
      try {
        Netns.ip("-n", ns, "addr", "add", "10.9.0.1/24", "dev", "lvst0")
        const request = new Uint8Array(42)
        Frames.writeArp(request, 0, Frames.ARP_REQUEST, broadcast, hostMac, hostIp, zeroMac, tapIp)
        // Sent from 16 bytes inside the headroom: the worker writes from any offset of the pool.
        await send(ports, 0, request, 16)
        const isReply = (frame: Uint8Array) =>
          Frames.readU16(frame, 12) === Frames.ETHERTYPE_ARP && Frames.readU16(frame, 20) === Frames.ARP_REPLY
        expect(await Netns.waitFor(() => Capture.read(capture).some((c) => isReply(c.frame)))).toBe(true)
        const reply = Capture.read(capture).find((c) => isReply(c.frame))!.frame
        expect(TapDevice.formatMac(reply, 0)).toBe("02:00:00:00:00:02")
        expect(Frames.readU32(reply, 28)).toBe(tapIp)
        expect(Frames.readU32(reply, 38)).toBe(hostIp)
        expect(TapDevice.formatMac(reply, 22)).toBe(ports.ports[0]!.mac)
        // Our tx is the kernel's rx and vice versa, frame for frame and byte for byte.
        await new Promise((resolve) => setTimeout(resolve, 100))
        const ours = (await counters(ports)).ports[0]!
        const kernel = Netns.linkStats(ns, "lvst0")
        expect(ours.txFrames).toBe(1)
        expect(ours.txBytes).toBe(42)
        expect(kernel.rx.packets).toBe(ours.txFrames)
        expect(kernel.rx.bytes).toBe(ours.txBytes)
        expect(ours.rxFrames).toBe(kernel.tx.packets)
        expect(ours.rxBytes).toBe(kernel.tx.bytes)
        expect(ours.rxFrames).toBe(Capture.read(capture).length)
        expect(ours.rxErrors + ours.txErrors + ours.txDropped).toBe(0)
      } finally {
        await close()
        Netns.remove(ns)
      }
    })

    it("reads the frames of a kernel ping burst in batches", async () => {
      const ns = Netns.create(`ping${suffix}`)
      const capture = Capture.allocate()
      const { ports, close } = await open({ backend, netns: ns, ports: [{ name: "lvst0" }], batchSize: 32 }, capture)
      try {
        Netns.ip("-n", ns, "addr", "add", "10.9.0.1/24", "dev", "lvst0")
        Netns.ip("-n", ns, "neigh", "replace", "10.9.0.2", "lladdr", "02:00:00:00:00:02", "dev", "lvst0")
        // Hold the worker while the kernel queues the burst (tap queue: 1000 frames), so the reader
        // then finds it waiting and must take it in full batches.
        await Effect.runPromise(ports.control({ type: "hold" } satisfies Capture.Control))
        // -l: preload, i.e. send the whole burst at once without waiting for (absent) replies.
        const pinged = await Netns.run(ns, "ping", [
          "-q",
          "-n",
          "-c",
          "300",
          "-l",
          "300",
          "-W",
          "0.1",
          "-w",
          "1",
          "10.9.0.2"
        ])
        Capture.release(capture)
        const count = Number(/(\d+) packets transmitted/.exec(pinged.stdout)?.[1] ?? 0)
        expect(count).toBeGreaterThanOrEqual(300)
        const isEcho = (frame: Uint8Array) =>
          Frames.readU16(frame, 12) === Frames.ETHERTYPE_IPV4 && frame[23] === Frames.IPPROTO_ICMP && frame[34] === 8
        expect(await Netns.waitFor(() => Capture.read(capture).filter((c) => isEcho(c.frame)).length >= count)).toBe(
          true
        )
        const echoes = Capture.read(capture).filter((c) => isEcho(c.frame))
        expect(echoes).toHaveLength(count)
        // Sequence numbers arrive in order, none lost or duplicated.
        expect(echoes.map((e) => Frames.readU16(e.frame, 40))).toEqual(Array.from({ length: count }, (_, i) => i + 1))
        const ours = (await counters(ports)).ports[0]!
        const kernel = Netns.linkStats(ns, "lvst0")
        expect(ours.rxFrames).toBe(kernel.tx.packets)
        expect(ours.rxBytes).toBe(kernel.tx.bytes)
        expect(kernel.tx.dropped).toBe(0)
        // Batches: the histogram accounts for every batch, and full 32-frame batches occurred.
        expect(ours.batchHistogram.reduce((a, b) => a + b, 0)).toBe(ours.rxBatches)
        expect(ours.batchHistogram[5]).toBeGreaterThan(0)
        // Which kernel path served the reads: multishot io_uring reads exist from Linux 6.7.
        const [major = 0, minor = 0] = release().split(".").map(Number)
        const expectedMode = backend === "syscalls" ? 0 : major > 6 || (major === 6 && minor >= 7) ? 2 : 1
        expect((await counters(ports)).workers[0]!.ioMode).toBe(expectedMode)
        expect(ours.rxBatches).toBeLessThan(ours.rxFrames)
      } finally {
        await close()
        Netns.remove(ns)
      }
    })

    it("delivers frames between two taps through a bridge", async () => {
      const ns = Netns.create(`br${suffix}`)
      const capture = Capture.allocate()
      const { ports, close } = await open(
        { backend, netns: ns, ports: [{ name: "lvsta" }, { name: "lvstb" }] },
        capture
      )
      try {
        Netns.ip("-n", ns, "link", "add", "br0", "type", "bridge")
        Netns.ip("-n", ns, "link", "set", "lvsta", "master", "br0")
        Netns.ip("-n", ns, "link", "set", "lvstb", "master", "br0")
        Netns.ip("-n", ns, "link", "set", "br0", "up")
        const macA = TapDevice.parseMac("02:00:00:00:0a:0a")!
        const macB = TapDevice.parseMac("02:00:00:00:0b:0b")!
        const frame = (dst: Uint8Array, src: Uint8Array, marker: number) => {
          const f = new Uint8Array(60)
          Frames.writeEthernet(f, 0, dst, src, 0x88b5) // IEEE local experimental ethertype
          Frames.writeU32(f, 14, marker)
          return f
        }
        const arrived = (port: number, marker: number) => () =>
          Capture.read(capture).some(
            (c) => c.port === port && Frames.readU16(c.frame, 12) === 0x88b5 && Frames.readU32(c.frame, 14) === marker
          )
        // A -> B: B's MAC is unknown to the bridge yet, so it floods to tap B.
        await send(ports, 0, frame(macB, macA, 0xa0b0c0d0))
        expect(await Netns.waitFor(arrived(1, 0xa0b0c0d0))).toBe(true)
        // B -> A: the bridge learned A's MAC from the first frame and forwards it to tap A.
        await send(ports, 1, frame(macA, macB, 0x0b0a0b0a))
        expect(await Netns.waitFor(arrived(0, 0x0b0a0b0a))).toBe(true)
        const snap = await counters(ports)
        expect(snap.ports.map((p) => p.txFrames)).toEqual([1, 1])
        expect(snap.ports[0]!.rxFrames).toBeGreaterThanOrEqual(1)
        expect(snap.ports[1]!.rxFrames).toBeGreaterThanOrEqual(1)
        expect(snap.workers[0]!.controlMessages).toBe(2)
      } finally {
        await close()
        Netns.remove(ns)
      }
    })

    it("opens multi-queue taps with one worker per queue", async () => {
      const ns = Netns.create(`mq${suffix}`)
      const capture = Capture.allocate()
      const { ports, close } = await open({ backend, netns: ns, queues: 2, ports: [{ name: "lvstm" }] }, capture)
      try {
        expect(ports.ports[0]!.fds).toHaveLength(2)
        expect(Netns.ip("-n", ns, "-d", "link", "show", "dev", "lvstm")).toMatch(/multi_queue numqueues 2/)
        expect((await counters(ports)).workers).toHaveLength(2)
      } finally {
        await close()
        Netns.remove(ns)
      }
    })

    it("closes the scope quickly with no traffic, even with a long poll timeout", async () => {
      const ns = Netns.create(`stop${suffix}`)
      const capture = Capture.allocate()
      const { ports, close } = await open(
        { backend, netns: ns, ports: [{ name: "lvst0" }], pollTimeoutMs: 60_000 },
        capture
      )
      await new Promise((resolve) => setTimeout(resolve, 100))
      const started = performance.now()
      await close()
      const elapsed = performance.now() - started
      expect(elapsed).toBeLessThan(2000)
      expect(await Netns.waitFor(() => !Netns.linkExists(ns, "lvst0"), 3000)).toBe(true)
      const snap = await counters(ports)
      expect(snap.workers[0]!.wakes).toBe(1)
      expect(snap.workers[0]!.pollTimeouts).toBe(0)
      Netns.remove(ns)
    })

    it("lets a process that used the ports exit on its own after the scope closes", async () => {
      const ns = Netns.create(`exit${suffix}`)
      const script = new URL("./fixtures/exit-cleanly.ts", import.meta.url).pathname
      const child = spawn(process.execPath, ["--conditions=@lvs-ts/source", script, ns, backend], {
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      child.stdout.on("data", (d) => {
        output += String(d)
      })
      child.stderr.on("data", (d) => {
        output += String(d)
      })
      const code = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => {
          child.kill("SIGKILL")
          resolve(-1)
        }, 15_000)
        child.on("exit", (c) => {
          clearTimeout(timer)
          resolve(c)
        })
      })
      expect(output).toContain("scope closed")
      expect(code).toBe(0)
      Netns.remove(ns)
    })

    it("counts and skips frames larger than a slot (MTU raised behind its back), and keeps reading", async () => {
      const ns = Netns.create(`big${suffix}`)
      const capture = Capture.allocate()
      const { ports, close } = await open({ backend, netns: ns, ports: [{ name: "lvst0", mtu: 1500 }] }, capture)
      try {
        Netns.ip("-n", ns, "link", "set", "lvst0", "mtu", "9000")
        Netns.ip("-n", ns, "addr", "add", "10.9.0.1/24", "dev", "lvst0")
        Netns.ip("-n", ns, "neigh", "replace", "10.9.0.2", "lladdr", "02:00:00:00:00:02", "dev", "lvst0")
        await Netns.run(ns, "ping", ["-q", "-n", "-c", "1", "-s", "4000", "-M", "dont", "-W", "0.2", "10.9.0.2"])
        await Netns.run(ns, "ping", ["-q", "-n", "-c", "1", "-s", "100", "-W", "0.2", "10.9.0.2"])
        const small = (c: { frame: Uint8Array }) => c.frame.length === 14 + 20 + 8 + 100
        expect(await Netns.waitFor(() => Capture.read(capture).some(small))).toBe(true)
        const port = (await counters(ports)).ports[0]!
        expect(port.rxOversize).toBe(1)
        expect(
          Capture.read(capture).every((c) => c.frame.length <= ports.layout.slotSize - ports.layout.headroom)
        ).toBe(true)
        expect(port.rxFrames).toBe(Capture.read(capture).length)
      } finally {
        await close()
        Netns.remove(ns)
      }
    })

    it("fails with a clear error when the handler module cannot be loaded, and leaves no device behind", async () => {
      const ns = Netns.create(`badh${suffix}`)
      const exit = await Effect.runPromiseExit(
        Effect.scoped(
          TapPorts.make({
            netns: ns,
            ports: [{ name: "lvst0" }],
            handler: { module: new URL("./fixtures/missing.ts", import.meta.url) }
          })
        )
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(String(exit)).toContain("missing.ts")
      expect(await Netns.waitFor(() => !Netns.linkExists(ns, "lvst0"), 3000)).toBe(true)
      Netns.remove(ns)
    })

    it("runs the handler's tick about every pollTimeoutMs while frames keep arriving", async () => {
      const ns = Netns.create(`tick${suffix}`)
      const capture = Capture.allocate()
      const { ports, close } = await open(
        { backend, netns: ns, ports: [{ name: "lvst0" }], pollTimeoutMs: 100 },
        capture
      )
      try {
        Netns.ip("-n", ns, "addr", "add", "10.9.0.1/24", "dev", "lvst0")
        Netns.ip("-n", ns, "neigh", "replace", "10.9.0.2", "lladdr", "02:00:00:00:00:02", "dev", "lvst0")
        const before = (await Effect.runPromise(ports.handlerStats))[0]!
        // A frame every 10 ms for ~1.2 s: poll() keeps returning frames, yet ticks must still run.
        const pinged = await Netns.run(ns, "ping", [
          "-q",
          "-n",
          "-c",
          "120",
          "-i",
          "0.01",
          "-W",
          "0.1",
          "-w",
          "2",
          "10.9.0.2"
        ])
        const transmitted = Number(/(\d+) packets transmitted/.exec(pinged.stdout)?.[1] ?? 0)
        expect(transmitted).toBeGreaterThan(50)
        await new Promise((resolve) => setTimeout(resolve, 50))
        const stats = await Effect.runPromise(ports.handlerStats)
        const snap = await counters(ports)
        expect(stats[0]! - before).toBeGreaterThanOrEqual(5)
        expect(stats[1]).toBeGreaterThan(0)
        expect(snap.ports[0]!.rxFrames).toBeGreaterThanOrEqual(transmitted)
      } finally {
        await close()
        Netns.remove(ns)
      }
    })

    it("keeps reading at full speed when a burst uses every receive buffer and each frame is written back", async () => {
      const ns = Netns.create(`dry${suffix}`)
      const capture = Capture.allocate()
      // 4 receive buffers: a queued burst runs them dry at once, and with io_uring they come back only
      // through the completions of the writes sent from them.
      const { ports, close } = await open(
        { backend, netns: ns, ports: [{ name: "lvst0" }], batchSize: 4, pollTimeoutMs: 100 },
        capture
      )
      try {
        Netns.ip("-n", ns, "addr", "add", "10.9.0.1/24", "dev", "lvst0")
        Netns.ip("-n", ns, "neigh", "replace", "10.9.0.2", "lladdr", "02:00:00:00:00:02", "dev", "lvst0")
        await Effect.runPromise(ports.control({ type: "echo" } satisfies Capture.Control))
        await Effect.runPromise(ports.control({ type: "hold" } satisfies Capture.Control))
        await Netns.run(ns, "ping", ["-q", "-n", "-c", "300", "-l", "300", "-W", "0.1", "-w", "1", "10.9.0.2"])
        const released = performance.now()
        Capture.release(capture)
        // At a batch per tick (the bug this guards against) 300 frames took 7.5 s; at full speed a few ms.
        expect(await Netns.waitFor(() => Capture.read(capture).length >= 300, 1500)).toBe(true)
        const ours = (await counters(ports)).ports[0]!
        expect(ours.rxFrames).toBeGreaterThanOrEqual(300)
        expect(await Netns.waitFor(() => Netns.linkStats(ns, "lvst0").rx.packets >= 300, 1500)).toBe(true)
        expect(performance.now() - released).toBeLessThan(1500)
      } finally {
        await close()
        Netns.remove(ns)
      }
    })

    it("sleeps while idle (no spinning wait) and needs one wait per wake-up when each frame is answered", async () => {
      const ns = Netns.create(`wait${suffix}`)
      const { ports, close } = await openResponder(
        { backend, netns: ns, pollTimeoutMs: 100 },
        "02:00:00:00:aa:07",
        "10.9.0.7"
      )
      try {
        expect(ports.backend).toBe(backend)
        Netns.ip("-n", ns, "addr", "add", "10.9.0.1/24", "dev", "lvst0")
        // Idle for a second: only the 100 ms ticks may end a wait (a timer that fires at once would spin).
        const idle0 = (await counters(ports)).workers[0]!
        await new Promise((resolve) => setTimeout(resolve, 1000))
        const idle1 = (await counters(ports)).workers[0]!
        expect(idle1.polls - idle0.polls).toBeLessThanOrEqual(20)
        expect(idle1.pollTimeouts - idle0.pollTimeouts).toBeGreaterThanOrEqual(5)
        // Pings 10 ms apart, each answered in place by the responder: one wake-up per request. With
        // io_uring the reply's WRITE goes in with the enter that waits for the next request (before,
        // a second enter returned at once with only the write's completion).
        const a = (await counters(ports)).workers[0]!
        const pinged = await Netns.run(ns, "ping", ["-q", "-n", "-c", "50", "-i", "0.01", "-W", "1", "10.9.0.7"])
        const received = Number(/(\d+) received/.exec(pinged.stdout)?.[1] ?? 0)
        expect(received).toBe(50)
        const b = (await counters(ports)).workers[0]!
        // 50 echo requests plus an ARP exchange or two; ticks add ~6 waits.
        expect(b.polls - a.polls).toBeLessThanOrEqual(50 * 1.3)
      } finally {
        await close()
        Netns.remove(ns)
      }
    })

    it("works as a Layer: the service is provided, and releasing the layer removes the device", async () => {
      const ns = Netns.create(`layer${suffix}`)
      const capture = Capture.allocate()
      const layer = TapPorts.layer({
        netns: ns,
        ports: [{ name: "lvstl" }],
        handler: { module: handlerModule, options: { capture } }
      })
      const names = await Effect.runPromise(
        Effect.gen(function* () {
          const ports = yield* TapPorts.TapPorts
          expect(Netns.linkExists(ns, "lvstl")).toBe(true)
          return ports.ports.map((p) => p.name)
        }).pipe(Effect.provide(layer))
      )
      expect(names).toEqual(["lvstl"])
      expect(await Netns.waitFor(() => !Netns.linkExists(ns, "lvstl"), 3000)).toBe(true)
      Netns.remove(ns)
    })

    if (backend === "io_uring") {
      it("coalesces receive wake-ups after a busy one, and never holds a lone frame", async () => {
        const ns = Netns.create("coal")
        // An 80 ms window, far longer than the default, so holding a frame would show in ping's round trip
        // (sparse requests 50 ms apart would each wait up to 30 ms for the window to end).
        const { ports, close } = await openResponder(
          { backend, netns: ns, pollTimeoutMs: 100, coalesceUs: 80_000 },
          "02:00:00:00:aa:08",
          "10.9.0.8"
        )
        const rtt = (stdout: string) => {
          const m = /= ([\d.]+)\/([\d.]+)\/([\d.]+)/.exec(stdout)
          return { avg: Number(m?.[2] ?? Number.NaN), max: Number(m?.[3] ?? Number.NaN) }
        }
        try {
          Netns.ip("-n", ns, "addr", "add", "10.9.0.1/24", "dev", "lvst0")
          // Sparse: one request every 50 ms, each alone in its wake-up, is answered at once.
          const sparse = await Netns.run(ns, "ping", ["-q", "-n", "-c", "10", "-i", "0.05", "-W", "1", "10.9.0.8"])
          expect(sparse.stdout).toContain("10 received")
          expect(rtt(sparse.stdout).avg).toBeLessThan(10)
          const a = await counters(ports)
          // Busy: 16 requests kept in flight. Wake-ups with two or more frames switch the next wait to a
          // batch: far fewer batches than frames, every request still answered.
          const busy = await Netns.run(ns, "ping", [
            "-q",
            "-n",
            "-c",
            "400",
            "-l",
            "16",
            "-i",
            "0.002",
            "-W",
            "1",
            "10.9.0.8"
          ])
          expect(busy.stdout).toContain("400 received")
          const b = await counters(ports)
          const frames = b.ports[0]!.rxFrames - a.ports[0]!.rxFrames
          const batches = b.ports[0]!.rxBatches - a.ports[0]!.rxBatches
          expect(frames).toBeGreaterThanOrEqual(400)
          expect(b.workers[0]!.coalescedWaits - a.workers[0]!.coalescedWaits).toBeGreaterThan(0)
          expect(frames / batches).toBeGreaterThanOrEqual(4)
          // No request waits longer than one window for its batch.
          expect(rtt(busy.stdout).max).toBeLessThan(80 + 20)
          // Idle again: the next wait after a batch that found nothing is the plain one (no 80 ms loop).
          const idle0 = (await counters(ports)).workers[0]!
          await new Promise((resolve) => setTimeout(resolve, 500))
          const idle1 = (await counters(ports)).workers[0]!
          expect(idle1.polls - idle0.polls).toBeLessThanOrEqual(10)
          // And a lone request after the burst is again answered at once.
          const after = await Netns.run(ns, "ping", ["-q", "-n", "-c", "5", "-i", "0.05", "-W", "1", "10.9.0.8"])
          expect(after.stdout).toContain("5 received")
          expect(rtt(after.stdout).avg).toBeLessThan(10)
        } finally {
          await close()
          Netns.remove(ns)
        }
      })

      it("io_uring with one READ per slot (no multishot) reads a burst and answers ARP", async () => {
        const ns = Netns.create("slot")
        const capture = Capture.allocate()
        const { ports, close } = await open(
          { backend, ioUringMultishot: false, netns: ns, ports: [{ name: "lvst0" }], batchSize: 16 },
          capture
        )
        try {
          Netns.ip("-n", ns, "addr", "add", "10.9.0.1/24", "dev", "lvst0")
          const request = new Uint8Array(42)
          Arp.writeRequest(request, 0, hostMac, hostIp, tapIp)
          await send(ports, 0, request)
          const isReply = (frame: Uint8Array) =>
            Frames.readU16(frame, 12) === Frames.ETHERTYPE_ARP && Frames.readU16(frame, 20) === 2
          expect(await Netns.waitFor(() => Capture.read(capture).some((c) => isReply(c.frame)))).toBe(true)
          Netns.ip("-n", ns, "neigh", "replace", "10.9.0.2", "lladdr", "02:00:00:00:00:02", "dev", "lvst0")
          await Effect.runPromise(ports.control({ type: "hold" } satisfies Capture.Control))
          const pinged = await Netns.run(ns, "ping", [
            "-q",
            "-n",
            "-c",
            "100",
            "-l",
            "100",
            "-W",
            "0.1",
            "-w",
            "1",
            "10.9.0.2"
          ])
          Capture.release(capture)
          const count = Number(/(\d+) packets transmitted/.exec(pinged.stdout)?.[1] ?? 0)
          const echoes = () =>
            Capture.read(capture).filter(
              (c) => Frames.readU16(c.frame, 12) === Frames.ETHERTYPE_IPV4 && c.frame[34] === 8
            )
          expect(await Netns.waitFor(() => echoes().length >= count)).toBe(true)
          expect(
            echoes()
              .map((e) => Frames.readU16(e.frame, 40))
              .sort((a, b) => a - b)
          ).toEqual(Array.from({ length: count }, (_, i) => i + 1))
          const snap = await counters(ports)
          expect(snap.workers[0]!.ioMode).toBe(1)
          expect(snap.ports[0]!.batchHistogram[4]).toBeGreaterThan(0) // full 16-frame batches
          expect(snap.ports[0]!.rxFrames).toBe(Netns.linkStats(ns, "lvst0").tx.packets)
        } finally {
          await close()
          Netns.remove(ns)
        }
      })
    }

    it("carries handler events to the control plane, from every queue", async () => {
      const ns = Netns.create(`evt${suffix}`)
      const capture = Capture.allocate()
      const { ports, close } = await open({ backend, netns: ns, queues: 2, ports: [{ name: "lvste" }] }, capture)
      try {
        await Effect.runPromise(ports.control({ type: "notify", value: "hello" } satisfies Capture.Control))
        const take = Queue.take(ports.events).pipe(Effect.timeout("5 seconds"))
        const events = [await Effect.runPromise(take), await Effect.runPromise(take)] as Array<{
          value: string
          queue: number
        }>
        expect(events.map((e) => e.value)).toEqual(["hello", "hello"])
        expect(events.map((e) => e.queue).sort()).toEqual([0, 1])
      } finally {
        await close()
        Netns.remove(ns)
      }
    })

    it("reports a worker that died, and still closes cleanly", async () => {
      const ns = Netns.create(`dead${suffix}`)
      const capture = Capture.allocate()
      const { ports, close } = await open({ backend, netns: ns, ports: [{ name: "lvst0" }] }, capture)
      expect(await Effect.runPromise(ports.running)).toEqual([true])
      await Effect.runPromise(ports.control({ type: "exit" } satisfies Capture.Control))
      expect(await Netns.waitFor(() => Effect.runSync(ports.running)[0] === false)).toBe(true)
      const started = performance.now()
      await close()
      expect(performance.now() - started).toBeLessThan(2000)
      expect(await Netns.waitFor(() => !Netns.linkExists(ns, "lvst0"), 3000)).toBe(true)
      Netns.remove(ns)
    })

    it("raises the tap queue to txQueueLength, runs only the worker at SCHED_FIFO, busy-polls only while frames keep coming", async () => {
      const ns = Netns.create(`rt${suffix}`)
      const capture = Capture.allocate()
      const threadPolicies = () =>
        readdirSync("/proc/self/task").map((tid) => {
          const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8")
          const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
          // fields[0] is stat field 3; rt_priority is field 40, policy field 41.
          return { priority: Number(fields[37]), policy: Number(fields[38]) }
        })
      const { ports, close } = await open(
        {
          backend,
          netns: ns,
          ports: [{ name: "lvst0" }],
          txQueueLength: 3000,
          realtimePriority: 5,
          busyPollUs: 300
        },
        capture
      )
      try {
        expect(Netns.exec(ns, "cat", "/sys/class/net/lvst0/tx_queue_len").trim()).toBe("3000")
        expect((await counters(ports)).workers[0]!.realtimePriority).toBe(5)
        // Exactly one thread of this process (the worker) is SCHED_FIFO (1) at priority 5.
        expect(threadPolicies().filter((t) => t.policy === 1)).toEqual([{ priority: 5, policy: 1 }])
        Netns.ip("-n", ns, "addr", "add", "10.9.0.1/24", "dev", "lvst0")
        Netns.ip("-n", ns, "neigh", "replace", "10.9.0.2", "lladdr", "02:00:00:00:00:02", "dev", "lvst0")
        // Sparse frames (50 ms apart): each wake-up after a sleep reads its frame without probing for EAGAIN.
        const before = (await counters(ports)).ports[0]!
        await Netns.run(ns, "ping", ["-q", "-n", "-c", "6", "-i", "0.05", "-W", "0.01", "10.9.0.2"])
        await new Promise((resolve) => setTimeout(resolve, 50))
        const after = (await counters(ports)).ports[0]!
        expect(after.rxFrames - before.rxFrames).toBeGreaterThanOrEqual(6)
        if (backend === "syscalls") expect(after.rxEagain - before.rxEagain).toBeLessThan(3)
        // 3000 UDP datagrams from a tight loop, a few µs apart: closer than the 300 µs window, so it opens
        // and the worker spins between them.
        const sender = `const s = require("node:dgram").createSocket("udp4"); const b = Buffer.alloc(18);
          let n = 0; const next = () => { for (let i = 0; i < 50 && n < 3000; i++, n++) s.send(b, 9, "10.9.0.2");
          if (n < 3000) setImmediate(next); else setTimeout(() => s.close(), 100) }; next()`
        await Netns.run(ns, process.execPath, ["-e", sender])
        expect(await Netns.waitFor(() => Capture.read(capture).length >= 1000)).toBe(true)
        await new Promise((resolve) => setTimeout(resolve, 50))
        const busy = (await counters(ports)).workers[0]!.spins
        // Only the syscalls loop busy-polls.
        if (backend === "syscalls") expect(busy).toBeGreaterThan(0)
        else expect(busy).toBe(0)
        // Traffic stopped: the next wait was longer than the window, so the worker sleeps, never spins.
        await new Promise((resolve) => setTimeout(resolve, 300))
        expect((await counters(ports)).workers[0]!.spins).toBe(busy)
      } finally {
        await close()
      }
      // The queue is only ever raised: a device already longer keeps its length.
      Netns.ip("-n", ns, "tuntap", "add", "dev", "lvst1", "mode", "tap")
      Netns.ip("-n", ns, "link", "set", "dev", "lvst1", "txqueuelen", "6000")
      const again = await open({ backend, netns: ns, ports: [{ name: "lvst1" }], txQueueLength: 3000 }, capture)
      try {
        expect(Netns.exec(ns, "cat", "/sys/class/net/lvst1/tx_queue_len").trim()).toBe("6000")
        expect((await counters(again.ports)).workers[0]!.realtimePriority).toBe(0)
        expect(threadPolicies().filter((t) => t.policy === 1)).toEqual([])
      } finally {
        await again.close()
        Netns.remove(ns)
      }
    })

    it("does not spin when a port's device is deleted under it (poll reports POLLERR forever)", async () => {
      const ns = Netns.create(`gone${suffix}`)
      const capture = Capture.allocate()
      const { ports, close } = await open(
        { backend, netns: ns, ports: [{ name: "lvst0" }, { name: "lvst1" }], realtimePriority: 5 },
        capture
      )
      try {
        Netns.ip("-n", ns, "link", "del", "dev", "lvst1")
        await new Promise((resolve) => setTimeout(resolve, 100))
        const cpu0 = process.cpuUsage()
        const errors0 = (await counters(ports)).workers[0]!.pollErrors
        await new Promise((resolve) => setTimeout(resolve, 500))
        const cpu = process.cpuUsage(cpu0)
        // Every thread of this process: a hot loop would be ~500 ms of CPU; backing off is a few ms.
        expect((cpu.user + cpu.system) / 1000).toBeLessThan(150)
        expect((await counters(ports)).workers[0]!.pollErrors).toBeGreaterThan(errors0)
        // The other port still works: its worker answers to control messages and closes cleanly.
        expect((await Effect.runPromise(ports.running))[0]).toBe(true)
      } finally {
        await close()
        Netns.remove(ns)
      }
    })

    it("fails with a clear error for a bad port spec or a missing namespace", async () => {
      const capture = Capture.allocate()
      const bad = await Effect.runPromiseExit(
        Effect.scoped(
          TapPorts.make({ ports: [{ name: "x".repeat(20) }], handler: { module: handlerModule, options: { capture } } })
        )
      )
      expect(Exit.isFailure(bad)).toBe(true)
      expect(String(bad)).toContain("longer than 15 bytes")
      const missing = await Effect.runPromiseExit(
        Effect.scoped(
          TapPorts.make({
            netns: `lvs${process.pid}-nonexistent`,
            ports: [{ name: "lvst0" }],
            handler: { module: handlerModule, options: { capture } }
          })
        )
      )
      expect(Exit.isFailure(missing)).toBe(true)
      expect(String(missing)).toContain("ENOENT")
      const tuning = async (extra: Partial<TapPorts.Options>) =>
        String(
          await Effect.runPromiseExit(
            Effect.scoped(
              TapPorts.make({ ports: [{ name: "lvst0" }], handler: { module: handlerModule, options: {} }, ...extra })
            )
          )
        )
      expect(await tuning({ realtimePriority: 100 })).toContain("realtimePriority 100 is not an integer in 0..99")
      expect(await tuning({ busyPollUs: -1 })).toContain("busyPollUs -1")
      expect(await tuning({ txQueueLength: 1.5 })).toContain("txQueueLength 1.5 is not an integer")
    })
  })

describe("TapPorts.resolveBackend", () => {
  it("keeps an explicit backend, and resolves auto to io_uring where a ring can be set up (env overrides)", () => {
    expect(TapPorts.resolveBackend("syscalls")).toBe("syscalls")
    expect(TapPorts.resolveBackend("io_uring")).toBe("io_uring")
    const saved = process.env.LVS_TAP_BACKEND
    try {
      delete process.env.LVS_TAP_BACKEND
      // io_uring is there unless the host disabled it (kernel.io_uring_disabled = 2 for everyone).
      let disabled = false
      try {
        disabled = readFileSync("/proc/sys/kernel/io_uring_disabled", "utf8").trim() === "2"
      } catch {
        // no such sysctl: older kernel, io_uring not disableable
      }
      expect(TapPorts.resolveBackend("auto")).toBe(disabled ? "syscalls" : "io_uring")
      process.env.LVS_TAP_BACKEND = "syscalls"
      expect(TapPorts.resolveBackend("auto")).toBe("syscalls")
      process.env.LVS_TAP_BACKEND = "bogus"
      expect(TapPorts.resolveBackend("auto")).toBe(disabled ? "syscalls" : "io_uring")
    } finally {
      if (saved === undefined) delete process.env.LVS_TAP_BACKEND
      else process.env.LVS_TAP_BACKEND = saved
    }
  })
})
