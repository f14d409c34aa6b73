import * as fs from "node:fs"
import * as net from "node:net"
import { Config, HealthChecker, TcpCheck, TcpEngine } from "@lvs-ts/checkers"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as S from "./helpers/servers.ts"

const fds = () => fs.readdirSync("/proc/self/fd").length

/** Run `f` with a fresh engine; the engine (worker threads, epoll, eventfds) is gone when this resolves. */
const withEngine = <A>(f: (e: TcpEngine.Engine) => Effect.Effect<A>, options?: TcpEngine.Options) =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(TcpEngine.make(options), f)))

const connect = (e: TcpEngine.Engine, target: TcpEngine.Target | TcpEngine.InvalidTarget, timeoutMs = 2000) =>
  Effect.callback<string>((resume) => {
    if (target instanceof TcpEngine.InvalidTarget) throw new Error(target.message)
    e.connect(target, timeoutMs, (code) => resume(Effect.succeed(TcpEngine.describe(code))))
  })

const resolve = (checker: Config.Checker, port: number, address = "127.0.0.1") =>
  Config.resolve({ realServers: [], connectTimeout: "2 seconds" }, { address, port, checkers: [] }, checker)

describe("TcpEngine against real local listeners", () => {
  let server: net.Server
  let port = 0
  const peers: Array<string> = []
  beforeAll(async () => {
    server = net.createServer((s) => {
      peers.push(`${s.remoteAddress}:${s.remotePort}`)
      s.destroy()
    })
    await new Promise<void>((r) => server.listen({ port: 0, host: "::", ipv6Only: false }, () => r()))
    port = (server.address() as net.AddressInfo).port
  })
  afterAll(() => new Promise<void>((r) => server.close(() => r())))

  it("connects (IPv4 and IPv6), is refused on a closed port, and gives the Node path's reasons and texts", async () => {
    const closed = await S.closedTcpPort()
    const results = await withEngine((e) =>
      Effect.all([
        connect(e, TcpEngine.target("127.0.0.1", port)),
        connect(e, TcpEngine.target("::1", port)),
        connect(e, TcpEngine.target("127.0.0.1", closed)),
        connect(e, TcpEngine.target("::1", closed))
      ])
    )
    expect(results).toEqual(["ok", "ok", "ECONNREFUSED", "ECONNREFUSED"])
    // Same Probe.Result, texts included, as the Node-socket probe.
    for (const p of [port, closed]) {
      const r = resolve({ type: "TCP_CHECK" }, p)
      const viaEngine = await withEngine((e) => TcpCheck.probeWith(e, r))
      const viaNode = await Effect.runPromise(TcpCheck.probe(r))
      expect(viaEngine).toEqual(viaNode)
    }
    expect(await Effect.runPromise(TcpCheck.probe(resolve({ type: "TCP_CHECK" }, closed)))).toMatchObject({
      ok: false,
      reason: "Refused",
      message: `TCP connection to [127.0.0.1]:tcp:${closed} failed.`
    })
  })

  it("times out against a listener whose accept queue is full, with keepalived's 'timedout.' line", async () => {
    const late = await S.lateListener()
    try {
      const r = resolve({ type: "TCP_CHECK", connectTimeout: "300 millis" }, late.port)
      const t0 = performance.now()
      const res = await withEngine((e) => TcpCheck.probeWith(e, r))
      const elapsed = performance.now() - t0
      expect(res).toEqual({
        ok: false,
        reason: "Timeout",
        message: `TCP connection to [127.0.0.1]:tcp:${late.port} timedout.`,
        contribution: undefined
      })
      expect(elapsed).toBeGreaterThanOrEqual(290)
      expect(elapsed).toBeLessThan(2000)
    } finally {
      await late.close()
    }
  })

  it("bindto and bind_port set the source; a bindto that is not local fails the attempt (bind error)", async () => {
    peers.length = 0
    const bindPort = 20000 + Math.floor(Math.random() * 20000)
    const results = await withEngine((e) =>
      Effect.all([
        connect(e, TcpEngine.target("127.0.0.1", port, { bindTo: "127.0.0.2" })),
        connect(e, TcpEngine.target("127.0.0.1", port, { bindTo: "127.0.0.3", bindPort })),
        connect(e, TcpEngine.target("127.0.0.1", port, { bindTo: "192.0.2.77" }))
      ])
    )
    expect(results).toEqual(["ok", "ok", "bind:EADDRNOTAVAIL"])
    await new Promise((r) => setTimeout(r, 50))
    const sources = peers.map((p) => p.replace(/^::ffff:/, ""))
    expect(sources.some((p) => p.startsWith("127.0.0.2:"))).toBe(true)
    expect(sources).toContain(`127.0.0.3:${bindPort}`)
    expect(TcpEngine.reason(TcpEngine.CODE_BIND_ERROR | 99)).toBe("BindError")
  })

  it("rejects targets it cannot take with a message naming the field and value", () => {
    expect(TcpEngine.target("db.example", 80)).toMatchObject({
      _tag: "InvalidTarget",
      message: expect.stringContaining("db.example")
    })
    expect(TcpEngine.target("127.0.0.1", 0)).toMatchObject({ message: expect.stringContaining("connect_port 0") })
    expect(TcpEngine.target("::1", 80, { bindTo: "127.0.0.1" })).toMatchObject({
      message: expect.stringContaining("bindto")
    })
    expect(TcpEngine.target("fe80::1", 80, { bindIf: "no-such-if0" })).toMatchObject({
      message: expect.stringContaining("no-such-if0")
    })
    const v6 = TcpEngine.target("2001:db8::10:0.0.1.2", 80)
    expect(v6).not.toBeInstanceOf(TcpEngine.InvalidTarget)
    expect(Array.from((v6 as TcpEngine.Target).address)).toEqual([
      0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2
    ])
    const lo = TcpEngine.target("fe80::1", 80, { bindIf: "lo" }) as TcpEngine.Target
    expect(lo.scopeId).toBeGreaterThan(0)
  })

  it("thousands of concurrent connects over two threads, more than its slots: all complete, no descriptor left", async () => {
    const before = fds()
    const n = 3000
    const codes = await withEngine(
      (e) =>
        Effect.callback<Array<number>>((resume) => {
          const out: Array<number> = []
          for (let i = 0; i < n; i++) {
            const t = TcpEngine.target(i % 2 === 0 ? "127.0.0.1" : "::1", port) as TcpEngine.Target
            e.connect(t, 5000, (code) => {
              out.push(code)
              if (out.length === n) resume(Effect.succeed(out))
            })
          }
          expect(e.inFlight()).toBe(n)
        }),
      { slots: 1024, threads: 2 }
    )
    expect(codes.filter((c) => c !== TcpEngine.CODE_OK)).toEqual([])
    expect(fds()).toBeLessThanOrEqual(before)
  })

  it("interruption cancels a hanging connect and closes its descriptor at once", async () => {
    const late = await S.lateListener()
    try {
      await withEngine((e) =>
        Effect.gen(function* () {
          const before = fds()
          const r = resolve({ type: "TCP_CHECK", connectTimeout: "30 seconds" }, late.port)
          const res = yield* TcpCheck.probeWith(e, r).pipe(
            Effect.timeoutOrElse({ duration: 200, orElse: () => Effect.succeed("cut") })
          )
          expect(res).toBe("cut")
          yield* Effect.sleep("50 millis")
          expect(e.inFlight()).toBe(0)
          expect(fds()).toBeLessThanOrEqual(before)
        })
      )
    } finally {
      await late.close()
    }
  })
})

describe("HealthChecker: the engine path logs exactly what the Node-socket path logs", () => {
  const run = (tcpEngine: "engine" | "node", port: number, connectTimeoutMs: number) =>
    Effect.runPromise(
      Effect.gen(function* () {
        const lines: Array<string> = []
        yield* Effect.scoped(
          Effect.gen(function* () {
            yield* HealthChecker.make({
              tcpEngine,
              log: false,
              onEvent: (e) => {
                if (e._tag === "Log") lines.push(e.message)
              },
              virtualServers: [
                {
                  address: "192.0.2.1",
                  port: 80,
                  protocol: "tcp",
                  delayLoop: "200 millis",
                  warmup: 0,
                  connectTimeout: connectTimeoutMs,
                  realServers: [
                    {
                      address: "127.0.0.1",
                      port,
                      retry: 1,
                      delayBeforeRetry: "100 millis",
                      logAllFailures: true,
                      checkers: [{ type: "TCP_CHECK" }]
                    }
                  ]
                }
              ]
            })
            yield* Effect.sleep("900 millis")
          })
        )
        return lines
      })
    )

  it("refused and timed-out servers: same transitions, same per-attempt lines", async () => {
    const closed = await S.closedTcpPort()
    const late = await S.lateListener()
    try {
      for (const [p, timeout] of [
        [closed, 2000],
        [late.port, 150]
      ] as const) {
        const [engine, node] = await Promise.all([run("engine", p, timeout), run("node", p, timeout)])
        // Both ran the same schedule; compare the distinct lines in first-seen order.
        const distinct = (l: Array<string>) => [...new Set(l)]
        expect(distinct(engine)).toEqual(distinct(node))
        expect(engine).toContain(`TCP connection to [127.0.0.1]:tcp:${p} ${p === closed ? "failed." : "timedout."}`)
        expect(engine).toContain(`Removing service [127.0.0.1]:tcp:${p} from VS [192.0.2.1]:tcp:80`)
      }
    } finally {
      await late.close()
    }
  })
})
