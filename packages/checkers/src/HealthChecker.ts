/**
 * The health checker: runs every checker of every real server on Effect's Clock, feeds results through
 * keepalived's retry machine ({@link RetryMachine}, {@link UrlCycle}) and the real-server / virtual-server layer
 * ({@link Pool}), and emits the director events (add / remove / edit weight), keepalived's log lines and the
 * notify / quorum scripts.
 *
 * Mirrors keepalived's checker child process (`keepalived/check/check_daemon.c`, `check_api.c`): one scheduler
 * for all checkers, "Activating healthchecker for service … for VS …" at start, then each checker on its own
 * timer. Here each real server is a fiber in a `FiberMap` keyed by `VS/RS` (so reconfiguring one server replaces
 * just its fiber), every socket and child process lives in the Scope of one attempt, and all timers are Effect
 * `Clock` sleeps, so a TestClock drives a whole farm deterministically.
 *
 * @since 0.1.0
 */
import * as os from "node:os"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberMap from "effect/FiberMap"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Config from "./Config.ts"
import * as Endpoint from "./Endpoint.ts"
import * as FlapDamper from "./FlapDamper.ts"
import * as Gate from "./internal/gate.ts"
import * as Heap from "./internal/heap.ts"
import { probeFor } from "./internal/probes.ts"
import * as Log from "./Log.ts"
import * as Metrics from "./Metrics.ts"
import * as Pool from "./Pool.ts"
import type * as Probe from "./Probe.ts"
import * as RetryMachine from "./RetryMachine.ts"
import * as Script from "./Script.ts"
import * as TcpCheck from "./TcpCheck.ts"
import * as TcpEngine from "./TcpEngine.ts"
import * as UrlCycle from "./UrlCycle.ts"

/**
 * One attempt's result, published for observers (dashboards, tests).
 *
 * @example
 * ```ts
 * import type { HealthChecker } from "@lvs-ts/checkers"
 * const isResult = (e: HealthChecker.Event) => e._tag === "CheckResult"
 * ```
 * @since 0.1.0
 */
export interface CheckResult {
  readonly _tag: "CheckResult"
  readonly service: string
  readonly destination: string
  readonly checker: number
  readonly type: string
  readonly result: Probe.Result
  readonly outcome: RetryMachine.Outcome
  readonly up: boolean
  readonly startedAt: number
  readonly latencyMs: number
}

/**
 * Everything the health checker emits: the pool's actions (director events, log lines, scripts, FIFO-style
 * notify lines) and per-attempt results.
 *
 * @example
 * ```ts
 * import type { HealthChecker } from "@lvs-ts/checkers"
 * const director = (e: HealthChecker.Event) => e._tag === "AddDestination" || e._tag === "RemoveDestination"
 * ```
 * @since 0.1.0
 */
export type Event = Pool.Action | CheckResult

/**
 * The configuration was rejected by {@link Config.validate}; `errors` name each field and value.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { HealthChecker } from "@lvs-ts/checkers"
 * const program = HealthChecker.make({ virtualServers: [] }).pipe(
 *   Effect.catchTag("ConfigError", (e) => Effect.die(e.errors.join("\n")))
 * )
 * ```
 * @since 0.1.0
 */
export class ConfigError extends Data.TaggedError("ConfigError")<{ readonly errors: ReadonlyArray<string> }> {
  override get message(): string {
    return this.errors.join("; ")
  }
}

/**
 * Health checker options.
 *
 * @example
 * ```ts
 * import type { HealthChecker } from "@lvs-ts/checkers"
 * const o: HealthChecker.Options = { virtualServers: [], runScripts: false, onEvent: (e) => console.log(e._tag) }
 * ```
 * @since 0.1.0
 */
export interface Options {
  readonly virtualServers: ReadonlyArray<Config.VirtualServer>
  /** Synchronous observer called for every event, in order, starting with the start-up events. */
  readonly onEvent?: ((event: Event) => void) | undefined
  /** Exec notify/quorum scripts (default true). */
  readonly runScripts?: boolean | undefined
  /** Timeout for notify/quorum scripts (default 30 s, SIGTERM then SIGKILL). */
  readonly scriptTimeout?: number | undefined
  /** Log every keepalived line through Effect's logger (default true). */
  readonly log?: boolean | undefined
  /**
   * Most attempts in flight at once (default 4096). Each in-flight socket check holds a file descriptor: when a
   * farm is slower than its schedule, attempts queue (and show up as lateness) instead of exhausting descriptors
   * and failing every check at once, which is how an overloaded keepalived flaps whole farms.
   */
  readonly maxConcurrentChecks?: number | undefined
  /** Enable the flap damper for every real server. */
  readonly flapDamper?: FlapDamper.Options | undefined
  /**
   * How TCP_CHECKs connect: `"engine"` (default) uses {@link TcpEngine} (epoll in a worker thread, no Node
   * socket per check, all TCP checkers driven by one timer fiber) and falls back to `"node"` (one Node socket
   * and one fiber per checker) when the engine cannot start.
   */
  readonly tcpEngine?: "engine" | "node" | undefined
  /** Worker threads of the TCP engine (default 2; see {@link TcpEngine.Options}). */
  readonly tcpEngineThreads?: number | undefined
  /**
   * keepalived's `checker_priority`: the nice value (-20…19) of the thread running the health checker and of the
   * TCP engine's threads, restored when the health checker's Scope closes. Below 0 needs CAP_SYS_NICE; when it
   * cannot be set a warning is logged and the checker runs anyway. Unset: unchanged.
   */
  readonly priority?: number | undefined
}

/**
 * A checker's visible state.
 *
 * @example
 * ```ts
 * import type { HealthChecker } from "@lvs-ts/checkers"
 * const up = (c: HealthChecker.CheckerSnapshot) => c.up
 * ```
 * @since 0.1.0
 */
export interface CheckerSnapshot {
  readonly type: string
  readonly target: string
  readonly up: boolean
  readonly hasRun: boolean
  readonly retryIt: number
  readonly url: number | undefined
  readonly nextCheckAt: number
  readonly checks: number
  readonly lastLatencyMs: number
}

/**
 * Snapshot of all virtual servers, real servers, checkers and flap dampers.
 *
 * @example
 * ```ts
 * import type { HealthChecker } from "@lvs-ts/checkers"
 * const alive = (s: HealthChecker.Snapshot) => s.virtualServers.flatMap((v) => v.realServers.filter((r) => r.alive))
 * ```
 * @since 0.1.0
 */
export interface Snapshot {
  readonly virtualServers: ReadonlyArray<{
    readonly label: string
    readonly quorumUp: boolean
    readonly sorryActive: boolean
    readonly weightSum: number
    readonly realServers: ReadonlyArray<
      Pool.RealServerView & {
        readonly checkers: ReadonlyArray<CheckerSnapshot>
        readonly damper: FlapDamper.State | undefined
      }
    >
  }>
}

/**
 * Scheduling statistics: attempts run and how late they started (the scale benchmark's acceptance figure).
 *
 * @example
 * ```ts
 * import type { HealthChecker } from "@lvs-ts/checkers"
 * const ok = (s: HealthChecker.Stats) => s.maxLatenessMs <= 100
 * ```
 * @since 0.1.0
 */
export interface Stats {
  readonly checks: number
  readonly maxLatenessMs: number
  readonly lateOver100Ms: number
  readonly inFlight: number
  readonly maxInFlight: number
}

/**
 * The service interface.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { HealthChecker } from "@lvs-ts/checkers"
 * const program = Effect.gen(function* () {
 *   const hc = yield* HealthChecker.HealthChecker
 *   return yield* hc.snapshot
 * })
 * ```
 * @since 0.1.0
 */
export interface Service {
  readonly events: PubSub.PubSub<Event>
  readonly snapshot: Effect.Effect<Snapshot>
  readonly stats: Effect.Effect<Stats>
  /** Stop the checkers of one real server (e.g. before removing it from the configuration). */
  readonly suspend: (service: string, destination: string) => Effect.Effect<void>
}

/**
 * The health checker as an Effect service.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { HealthChecker } from "@lvs-ts/checkers"
 * const layer = HealthChecker.HealthChecker.layer({
 *   virtualServers: [{ address: "192.0.2.1", port: 80, protocol: "tcp", delayLoop: "1 second",
 *     realServers: [{ address: "127.0.0.1", port: 8080, checkers: [{ type: "TCP_CHECK" }] }] }],
 *   onEvent: (e) => { if (e._tag === "Log") console.log(e.message) }
 * })
 * ```
 * @since 0.1.0
 */
export class HealthChecker extends Context.Service<HealthChecker, Service>()("@lvs-ts/checkers/HealthChecker") {
  static readonly layer = (options: Options): Layer.Layer<HealthChecker, ConfigError> =>
    Layer.effect(HealthChecker, make(options))
}

interface CheckerRuntime {
  readonly index: number
  readonly resolved: Config.Resolved
  readonly label: string
  readonly type: string
  readonly isHttp: boolean
  readonly isMisc: boolean
  readonly latency: ReturnType<typeof Metrics.latency>
  machine: RetryMachine.State | UrlCycle.State
  nextAt: number
  checks: number
  lastLatencyMs: number
  /** Engine-driven TCP_CHECK: the parsed target (undefined: this checker runs in its own fiber). */
  target: TcpEngine.Target | undefined
  /** Engine-driven: start time of the attempt in flight, its ticket, whether it was suspended. */
  startedAt: number
  ticket: number
  suspended: boolean
  onDone: ((code: number) => void) | undefined
}

interface RealServerRuntime {
  readonly index: number
  readonly config: Config.RealServer
  readonly key: string
  readonly label: string
  readonly checkers: ReadonlyArray<CheckerRuntime>
  damper: FlapDamper.State | undefined
}

interface VirtualServerRuntime {
  readonly config: Config.VirtualServer
  readonly pool: Pool.Pool
  readonly realServers: ReadonlyArray<RealServerRuntime>
}

/**
 * A checker's schedule: repeat forever, each time after the delay the previous attempt returned (delay_loop,
 * delay_before_retry, max of both, 0 for fast_recovery, or what is left of it for MISC_CHECK).
 */
const keepalivedSchedule: Schedule.Schedule<number, number> = Schedule.modifyDelay(
  Schedule.forever as Schedule.Schedule<number, number>,
  (m) => Effect.succeed(m.input)
)

/** Pseudo checker id the flap damper uses to hold a server out of the pool. */
const DAMPER = -1

const checkerProtocol = (c: Config.Checker, vs: Config.VirtualServer): Endpoint.Protocol =>
  c.type === "UDP_CHECK" || c.type === "DNS_CHECK" ? "udp" : c.type === "TCP_CHECK" ? "tcp" : (vs.protocol ?? "tcp")

/**
 * Build and start the health checker in the current Scope; closing the Scope interrupts every checker, shuts
 * the pools down (removing destinations; omega scripts) and closes every socket and child process.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { HealthChecker } from "@lvs-ts/checkers"
 * const program = Effect.scoped(Effect.gen(function* () {
 *   const hc = yield* HealthChecker.make({ virtualServers: [] })
 *   return yield* hc.stats
 * }))
 * ```
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<Service, ConfigError, Scope.Scope> =>
  Effect.gen(function* () {
    const errors = options.virtualServers.flatMap((vs) => Config.validate(vs))
    if (errors.length > 0) return yield* new ConfigError({ errors })
    const pubsub = yield* Effect.acquireRelease(PubSub.unbounded<Event>(), PubSub.shutdown)
    const background = yield* FiberSet.make<unknown, never>()
    const log = options.log ?? true
    const runScripts = options.runScripts ?? true
    const permits = Gate.make(options.maxConcurrentChecks ?? 4096)
    const stats = { checks: 0, maxLatenessMs: 0, lateOver100Ms: 0, inFlight: 0, maxInFlight: 0 }

    const emit = (e: Event): void => {
      options.onEvent?.(e)
      PubSub.publishUnsafe(pubsub, e)
    }
    // At shutdown (omega) scripts run in line with keepalived's 1 s budget instead of in the background set,
    // which is about to be interrupted.
    const dispatch = (actions: ReadonlyArray<Pool.Action>, shutdown = false): Effect.Effect<void> => {
      if (actions.length === 0) return Effect.void
      return Effect.gen(function* () {
        for (const a of actions) {
          emit(a)
          if (a._tag === "Log" && log) yield* Effect.logInfo(a.message)
          else if (a._tag === "RunScript" && runScripts) {
            if (shutdown) yield* Script.run(a.argv, { timeoutMs: 1000, killAfterMs: 0 })
            else yield* FiberSet.run(background, Script.run(a.argv, { timeoutMs: options.scriptTimeout ?? 30_000 }))
          }
        }
      })
    }
    const say = (message: string) => dispatch([{ _tag: "Log", message }])

    const virtualServers: Array<VirtualServerRuntime> = options.virtualServers.map((vs) => {
      const realServers = vs.realServers.map((rs, index): RealServerRuntime => {
        const checkers = rs.checkers.map((c, ci): CheckerRuntime => {
          const resolved = Config.resolve(vs, rs, c)
          const isHttp = c.type === "HTTP_GET" || c.type === "SSL_GET"
          const type = c.type === "CUSTOM" ? c.name : c.type
          return {
            index: ci,
            resolved,
            label: Endpoint.format(resolved.host, checkerProtocol(c, vs), resolved.port),
            type,
            isHttp,
            isMisc: c.type === "MISC_CHECK",
            latency: Metrics.latency(type),
            machine: isHttp
              ? UrlCycle.initial({ alpha: resolved.alpha, retry: resolved.retry })
              : RetryMachine.initial({ alpha: resolved.alpha, retry: resolved.retry }),
            nextAt: 0,
            checks: 0,
            lastLatencyMs: 0,
            target: undefined,
            startedAt: 0,
            ticket: -1,
            suspended: false,
            onDone: undefined
          }
        })
        const label = Endpoint.format(rs.address, vs.protocol ?? "tcp", rs.port)
        return {
          index,
          config: rs,
          key: "",
          label,
          checkers,
          damper: options.flapDamper !== undefined ? FlapDamper.initial : undefined
        }
      })
      const pool = Pool.make({
        address: vs.address,
        port: vs.port,
        protocol: vs.protocol,
        fwmark: vs.fwmark,
        weight: vs.weight,
        quorum: vs.quorum,
        hysteresis: vs.hysteresis,
        quorumUp: vs.quorumUp,
        quorumDown: vs.quorumDown,
        inhibitOnFailure: vs.inhibitOnFailure,
        sorryServer: vs.sorryServer,
        sorryServerInhibit: vs.sorryServerInhibit,
        omega: vs.omega,
        rsInitNotifies: vs.rsInitNotifies,
        realServers: realServers.map((r) => ({
          address: r.config.address,
          port: r.config.port,
          weight: r.config.weight,
          inhibitOnFailure: r.config.inhibitOnFailure,
          notifyUp: r.config.notifyUp,
          notifyDown: r.config.notifyDown,
          checkers: r.checkers.length,
          initiallyFailed: r.checkers.filter((c) => !c.machine.up).map((c) => c.index)
        }))
      })
      return {
        config: vs,
        pool,
        realServers: realServers.map((r) => ({ ...r, key: `${pool.label}/${r.label}` }))
      }
    })

    // Shutdown: runs after every checker fiber has been interrupted (finalizers run in reverse order).
    yield* Effect.addFinalizer(() =>
      Effect.forEach(virtualServers, (v) => dispatch(Pool.stop(v.pool), true), { discard: true })
    )

    for (const v of virtualServers) {
      for (const r of v.realServers) {
        for (const c of r.checkers) {
          yield* say(`Activating healthchecker for service ${c.label} for VS ${v.pool.label}`)
        }
      }
      yield* dispatch(Pool.start(v.pool))
    }

    const setChecker = (v: VirtualServerRuntime, r: RealServerRuntime, checker: number, up: boolean) =>
      Effect.gen(function* () {
        const wasAlive = v.pool.realServers[r.index]!.alive
        yield* dispatch(Pool.setChecker(v.pool, r.index, checker, up))
        const alive = v.pool.realServers[r.index]!.alive
        if (wasAlive && !alive && r.damper !== undefined && options.flapDamper !== undefined) {
          const now = yield* Clock.currentTimeMillis
          const d = FlapDamper.onDown(r.damper, now, options.flapDamper)
          r.damper = d.state
          if (d.holdMs !== undefined) {
            const holdMs = d.holdMs
            yield* say(
              `Flap damper: holding ${r.label} of VS ${v.pool.label} down for ${holdMs} ms (level ${d.state.level})`
            )
            yield* dispatch(Pool.setChecker(v.pool, r.index, DAMPER, false))
            yield* FiberSet.run(
              background,
              Effect.sleep(holdMs).pipe(
                Effect.andThen(
                  Effect.gen(function* () {
                    const at = yield* Clock.currentTimeMillis
                    if (r.damper !== undefined) r.damper = FlapDamper.release(r.damper, at)
                    yield* say(`Flap damper: releasing ${r.label} of VS ${v.pool.label}`)
                    yield* dispatch(Pool.setChecker(v.pool, r.index, DAMPER, true))
                  })
                )
              )
            )
          }
        }
      })

    // Read once: the hot paths below read the time and record metrics without running an Effect.
    const clock = yield* Clock.Clock
    const context = yield* Effect.context<never>()

    /**
     * Everything that follows one attempt's result, in keepalived's order: the retry machine's step, the
     * CheckResult event, the per-attempt and transition log lines, the pool update and dynamic weight. The
     * machine step and event happen now (synchronously); the returned Effect (undefined when there is nothing
     * to log or change, the common case) does the rest. Sets `c.nextAt` from keepalived's delay.
     */
    const settle = (
      v: VirtualServerRuntime,
      r: RealServerRuntime,
      c: CheckerRuntime,
      result: Probe.Result,
      startedAt: number,
      finishedAt: number
    ): Effect.Effect<void> | undefined => {
      const rv = c.resolved
      c.lastLatencyMs = finishedAt - startedAt
      c.checks++
      c.latency.updateUnsafe(c.lastLatencyMs, context)
      const wasUp = c.machine.up
      let step: RetryMachine.Step | UrlCycle.Step
      if (c.isHttp) {
        step = UrlCycle.step(c.machine as UrlCycle.State, result.ok, {
          retry: rv.retry,
          delayBeforeRetryMs: rv.delayBeforeRetryMs,
          delayLoopMs: rv.delayLoopMs,
          urls: (rv.checker as { urls: ReadonlyArray<unknown> }).urls.length,
          fastRecovery: (rv.checker as { fastRecovery?: boolean }).fastRecovery ?? false
        })
      } else {
        step = RetryMachine.step(c.machine, result.ok, rv)
      }
      c.machine = step.state
      emit({
        _tag: "CheckResult",
        service: v.pool.label,
        destination: r.label,
        checker: c.index,
        type: c.type,
        result,
        outcome: step.outcome,
        up: step.state.up,
        startedAt,
        latencyMs: c.lastLatencyMs
      })
      // MISC_CHECK schedules from the start of the previous run, the others from its end.
      c.nextAt = (c.isMisc ? startedAt : finishedAt) + step.delayMs
      let effects: Array<Effect.Effect<void>> | undefined
      if (!result.ok && wasUp && rv.logAllFailures) effects = append(effects, say(result.message))
      // HTTP/SSL: keepalived logs each url that passes while the checker is not up ("… success to … url(…)").
      if (c.isHttp && result.ok && !wasUp && result.message !== undefined)
        effects = append(effects, say(result.message))
      if (step.outcome === "Up") {
        effects = append(
          effects,
          say(Log.transition(rv.checker.type === "CUSTOM" ? c.type : rv.checker.type, c.label, { kind: "Up" }))
        )
      } else if (step.outcome === "Down") {
        const retries = "failedAfter" in step ? step.failedAfter : rv.retry
        const program = c.isMisc ? ((rv.checker as { path: ReadonlyArray<string> }).path ?? []).join(" ") : ""
        effects = append(
          effects,
          say(
            Log.transition(
              rv.checker.type === "CUSTOM" ? c.type : rv.checker.type,
              c.label,
              {
                kind: "Down",
                short: step.shortFailureLine,
                retries,
                timedOut: !result.ok && result.reason === "Timeout"
              },
              { realServer: r.label, virtualServer: v.pool.label, program }
            )
          )
        )
      }
      if (step.changed) effects = append(effects, setChecker(v, r, c.index, step.state.up))
      // Dynamic weights (misc_dynamic, FILE_CHECK): a failure resets the contribution (keepalived #2720).
      if (result.contribution !== undefined || !result.ok) {
        effects = append(
          effects,
          Effect.suspend(() =>
            dispatch(Pool.setContribution(v.pool, r.index, c.index, result.ok ? (result.contribution ?? 0) : 0))
          )
        )
      }
      if (effects === undefined) return undefined
      if (effects.length === 1) return effects[0]
      return Effect.forEach(effects, (e) => e, { discard: true })
    }

    const append = (list: Array<Effect.Effect<void>> | undefined, e: Effect.Effect<void>) => {
      if (list === undefined) return [e]
      list.push(e)
      return list
    }

    const noteStart = (c: CheckerRuntime, startedAt: number): void => {
      const late = startedAt - c.nextAt
      stats.checks++
      if (late > stats.maxLatenessMs) stats.maxLatenessMs = late
      if (late > 100) stats.lateOver100Ms++
      Metrics.lateness.updateUnsafe(Math.max(late, 0), context)
      stats.inFlight++
      if (stats.inFlight > stats.maxInFlight) stats.maxInFlight = stats.inFlight
    }

    const runChecker = (v: VirtualServerRuntime, r: RealServerRuntime, c: CheckerRuntime) =>
      Effect.gen(function* () {
        const rv = c.resolved
        const rsWeight = v.pool.realServers[r.index]!.input.weight ?? v.config.weight ?? 1
        // Every checker waits until all are registered, so a large farm starts in one go instead of its first
        // checks competing with the set-up of the rest.
        yield* Deferred.await(go)
        const warm = rv.warmupMs > 0 ? Math.floor((yield* Random.next) * rv.warmupMs) : 0
        c.nextAt = (yield* Clock.currentTimeMillis) + warm
        if (warm > 0) yield* Effect.sleep(warm)
        const ctx = { realServerWeight: rsWeight, realServer: r.label, virtualServer: v.pool.label, label: c.label }
        const attempt = Effect.gen(function* () {
          if (!permits.tryTake()) yield* permits.take
          const startedAt = clock.currentTimeMillisUnsafe()
          noteStart(c, startedAt)
          const url = c.isHttp ? (c.machine as UrlCycle.State).url : 0
          const result = yield* probeFor(rv, ctx, url).pipe(
            Effect.ensuring(
              Effect.sync(() => {
                stats.inFlight--
                permits.release()
              })
            )
          )
          const finishedAt = clock.currentTimeMillisUnsafe()
          const after = settle(v, r, c, result, startedAt, finishedAt)
          if (after !== undefined) yield* after
          return Math.max(c.nextAt - finishedAt, 0)
        })
        // The delay to the next attempt is whatever keepalived's state machine decided for this one.
        yield* Effect.repeat(attempt, keepalivedSchedule)
      })

    // ---- Engine-driven TCP_CHECKs: one timer fiber for all of them, attempts completed by TcpEngine. ----
    const wantEngine = (options.tcpEngine ?? "engine") === "engine"
    const tcpCheckers = virtualServers.flatMap((v) =>
      v.realServers.flatMap((r) => r.checkers.filter((c) => c.resolved.checker.type === "TCP_CHECK").map(() => r))
    ).length
    if (options.priority !== undefined) {
      const priority = options.priority
      const before = os.getPriority(0)
      const set = yield* Effect.try({
        try: () => os.setPriority(0, priority),
        catch: (e) => (e as Error).message
      }).pipe(
        Effect.as(true),
        Effect.catch((message) => Effect.logWarning(`checker_priority ${priority}: ${message}`).pipe(Effect.as(false)))
      )
      if (set) yield* Effect.addFinalizer(() => Effect.sync(() => os.setPriority(0, before)))
    }
    let engine: TcpEngine.Engine | undefined
    if (wantEngine && tcpCheckers > 0) {
      const made = yield* Effect.result(
        TcpEngine.make({
          slots: Math.min(65536, Math.max(1024, tcpCheckers)),
          threads: options.tcpEngineThreads,
          priority: options.priority
        })
      )
      if (made._tag === "Success") engine = made.success
      else if (log)
        yield* Effect.logWarning(`TCP_CHECK engine unavailable (${made.failure.message}): using Node sockets`)
    }
    let closed = false
    // Runs before the engine stops (finalizers run in reverse): late completions are ignored from here on.
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
      })
    )
    const wheel = Heap.make<CheckerRuntime>((c) => c.nextAt)
    const owner = new Map<CheckerRuntime, { v: VirtualServerRuntime; r: RealServerRuntime }>()
    /** Effects of engine-driven results (log lines, pool updates), run in order by one fiber. */
    const afterQueue = yield* Queue.unbounded<Effect.Effect<void>>()
    let wakeDriver: (() => void) | undefined
    let driverWakesAt = Number.POSITIVE_INFINITY
    const wake = () => {
      const w = wakeDriver
      if (w !== undefined) {
        wakeDriver = undefined
        w()
      }
    }
    if (engine !== undefined) {
      for (const v of virtualServers) {
        for (const r of v.realServers) {
          for (const c of r.checkers) {
            if (c.resolved.checker.type !== "TCP_CHECK") continue
            const k = c.resolved.checker as Config.Connection
            const t = TcpEngine.target(c.resolved.host, c.resolved.port, {
              bindTo: k.bindTo,
              bindPort: k.bindPort,
              bindIf: k.bindIf
            })
            // A target the engine cannot parse keeps the Node path, which reports it the usual way.
            if (t instanceof TcpEngine.InvalidTarget) continue
            c.target = t
            owner.set(c, { v, r })
            c.onDone = (code) => {
              if (closed || c.suspended) return
              c.ticket = -1
              stats.inFlight--
              permits.release()
              const finishedAt = clock.currentTimeMillisUnsafe()
              const after = settle(v, r, c, TcpCheck.resultOf(code, c.label), c.startedAt, finishedAt)
              if (after !== undefined) Queue.offerUnsafe(afterQueue, after)
              Heap.push(wheel, c)
              if (c.nextAt < driverWakesAt || stats.inFlight === 0) wake()
            }
          }
        }
      }
    }
    const eng = engine
    const driver = Effect.gen(function* () {
      yield* Deferred.await(go)
      // Warmup offsets first, the clock read after: the first checks are due from the moment the driver can run
      // them, not from before a 20,000-server set-up loop.
      const random = yield* Random.Random
      const warm = new Map<CheckerRuntime, number>()
      for (const c of owner.keys()) {
        warm.set(c, c.resolved.warmupMs > 0 ? Math.floor(random.nextDoubleUnsafe() * c.resolved.warmupMs) : 0)
      }
      const now0 = clock.currentTimeMillisUnsafe()
      for (const [c, w] of warm) {
        c.nextAt = now0 + w
        Heap.push(wheel, c)
      }
      const signal = Effect.callback<void>((resume) => {
        wakeDriver = () => resume(Effect.void)
        return Effect.sync(() => {
          wakeDriver = undefined
        })
      })
      while (true) {
        const now = clock.currentTimeMillisUnsafe()
        let saturated = false
        while (wheel.size > 0) {
          const c = Heap.peek(wheel)!
          if (c.suspended) {
            Heap.pop(wheel)
            continue
          }
          if (c.nextAt > now) break
          if (!permits.tryTake()) {
            saturated = true
            break
          }
          Heap.pop(wheel)
          c.startedAt = now
          noteStart(c, now)
          c.ticket = eng!.connect(c.target!, c.resolved.connectTimeoutMs, c.onDone!)
        }
        // Saturated (every permit in use): the next completion wakes the driver.
        const next = saturated || wheel.size === 0 ? Number.POSITIVE_INFINITY : Heap.peek(wheel)!.nextAt
        driverWakesAt = next
        if (next === Number.POSITIVE_INFINITY) yield* signal
        else yield* Effect.raceFirst(Effect.sleep(Math.max(1, next - now)), signal)
        driverWakesAt = Number.POSITIVE_INFINITY
      }
    })

    const fibers = yield* FiberMap.make<string, void, never>()
    const go = yield* Deferred.make<void>()
    if (owner.size > 0) {
      yield* Effect.forkScoped(driver)
      yield* Effect.forkScoped(Effect.forever(Effect.flatten(Queue.take(afterQueue))))
    }
    const start = (v: VirtualServerRuntime, r: RealServerRuntime) => {
      const own = r.checkers.filter((c) => c.target === undefined)
      return FiberMap.run(
        fibers,
        r.key,
        own.length === 1
          ? runChecker(v, r, own[0]!)
          : Effect.forEach(own, (c) => runChecker(v, r, c), { concurrency: "unbounded", discard: true })
      )
    }
    for (const v of virtualServers) {
      for (const r of v.realServers) if (r.checkers.some((c) => c.target === undefined)) yield* start(v, r)
    }
    yield* Deferred.succeed(go, undefined)

    const snapshot = Effect.sync(
      (): Snapshot => ({
        virtualServers: virtualServers.map((v) => ({
          label: v.pool.label,
          quorumUp: v.pool.quorumUp,
          sorryActive: v.pool.sorryActive,
          weightSum: Pool.weightSum(v.pool),
          realServers: v.realServers.map((r) => ({
            ...Pool.realServer(v.pool, r.index),
            damper: r.damper,
            checkers: r.checkers.map((c) => ({
              type: c.type,
              target: c.label,
              up: c.machine.up,
              hasRun: c.machine.hasRun,
              retryIt: c.machine.retryIt,
              url: "url" in c.machine ? c.machine.url : undefined,
              nextCheckAt: c.nextAt,
              checks: c.checks,
              lastLatencyMs: c.lastLatencyMs
            }))
          }))
        }))
      })
    )

    return {
      events: pubsub,
      snapshot,
      stats: Effect.sync((): Stats => ({ ...stats })),
      suspend: (service, destination) =>
        Effect.suspend(() => {
          const key = `${service}/${destination}`
          for (const [c, o] of owner) {
            if (o.r.key !== key || c.suspended) continue
            c.suspended = true
            if (c.ticket !== -1) {
              eng?.cancel(c.ticket)
              c.ticket = -1
              stats.inFlight--
              permits.release()
            }
          }
          return FiberMap.remove(fibers, key)
        })
    }
  })
