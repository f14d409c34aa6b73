/**
 * The VRRP daemon: runs the {@link Engine.Engine}s of a set of instances on Effect's Clock, dispatches
 * received adverts by VRID (keepalived `vrrp_dispatcher_read`), runs trackers and sync groups, and
 * carries out the engines' actions through the {@link Transport.Transport} and {@link Notify.Notifier}
 * services. One fiber owns all engines, so they are never touched concurrently.
 *
 * @module
 */
import { Cause, Clock, Context, Deferred, Duration, Effect, Fiber, Layer, Queue, type Scope } from "effect"
import * as Address from "./Address.ts"
import * as Advert from "./Advert.ts"
import * as Config from "./Config.ts"
import * as Engine from "./Engine.ts"
import * as Notify from "./Notify.ts"
import * as SyncGroup from "./SyncGroup.ts"
import * as Tracker from "./Tracker.ts"
import * as Transport from "./Transport.ts"

/**
 * A `track_file` definition (`track_file NAME { file PATH; weight W [reverse] }`).
 *
 * @example
 * ```ts
 * Router.make({ instances, files: [{ name: "prio", file: "/run/vrrp/prio", weight: 1 }] })
 * ```
 */
export interface TrackFile {
  readonly name: string
  readonly file: string
  readonly weight?: number | undefined
  readonly reverse?: boolean | undefined
}

/**
 * What the router runs.
 *
 * @example
 * ```ts
 * const options: Router.Options = { instances: [input], scripts: [{ name: "chk", script: "/usr/bin/true" }] }
 * ```
 */
export interface Options {
  readonly instances: ReadonlyArray<Config.Input>
  readonly syncGroups?: ReadonlyArray<SyncGroup.Definition> | undefined
  readonly scripts?: ReadonlyArray<Tracker.Script> | undefined
  readonly files?: ReadonlyArray<TrackFile> | undefined
  /** Poll period for interfaces and files, seconds (keepalived uses netlink/inotify events). Default 1. */
  readonly pollInterval?: number | undefined
  /** How interface state is read; default `/sys/class/net/IF/operstate`. */
  readonly interfaceUp?: ((name: string) => Effect.Effect<boolean>) | undefined
  /** Include keepalived's `-D` detail lines in the log. */
  readonly logDetail?: boolean | undefined
  /**
   * `vrrp_startup_delay` in seconds: instances stay in INIT (sending nothing) until it expires, and
   * adverts received meanwhile are discarded (keepalived HEAD).
   */
  readonly startupDelay?: number | undefined
}

/**
 * A log line with the Clock time (ms) it was emitted at.
 *
 * @example
 * ```ts
 * for (const l of router.log) console.log(l.at, l.message)
 * ```
 */
export interface LogRecord {
  readonly at: number
  readonly level: Engine.LogLevel
  readonly message: string
}

/**
 * A state transition with the Clock time (ms).
 *
 * @example
 * ```ts
 * router.transitions.filter((t) => t.to === "MASTER")
 * ```
 */
export interface Transition {
  readonly at: number
  readonly instance: string
  readonly from: Engine.State
  readonly to: Engine.State
}

/**
 * A running router.
 *
 * @example
 * ```ts
 * const router = yield* Router.make(options)
 * router.state("VI_1")
 * ```
 */
export interface Router {
  readonly engines: ReadonlyMap<string, Engine.Engine>
  readonly groups: ReadonlyArray<SyncGroup.SyncGroup>
  /** Current state of an instance. */
  readonly state: (instance: string) => Engine.State | undefined
  readonly log: ReadonlyArray<LogRecord>
  readonly transitions: ReadonlyArray<Transition>
  /** Sets or clears a fault reason from outside (e.g. a TAP port's link state). */
  readonly setFault: (instance: string, reason: string, faulted: boolean) => Effect.Effect<void>
  /** Stops all instances (priority-0 adverts from masters, VIPs removed, STOP notifies). */
  readonly stop: Effect.Effect<void>
  /** Configuration warnings keepalived would log at start. */
  readonly warnings: ReadonlyArray<string>
  /** Each tracked script's status, number of completed runs and last result (keepalived's data dump). */
  readonly scripts: ReadonlyMap<string, ScriptState>
}

/** A tracked script as the router sees it. */
export interface ScriptState {
  readonly status: Tracker.Status
  readonly runs: number
  readonly last: Tracker.RunResult | undefined
}

type Event =
  | { readonly _tag: "Incoming"; readonly incoming: Transport.Incoming }
  | { readonly _tag: "Run"; readonly f: (now: number) => void; readonly done?: Deferred.Deferred<void> | undefined }

/**
 * Starts a router in the current scope; closing the scope stops it (like SIGTERM).
 *
 * @example
 * ```ts
 * const program = Effect.gen(function* () {
 *   const router = yield* Router.make({ instances: [{ name: "VI_1", vrid: 51, virtualAddresses: ["10.0.0.100"] }] })
 *   yield* Effect.sleep("10 seconds")
 *   router.state("VI_1") // "MASTER" when no one else advertises
 * }).pipe(Effect.scoped, Effect.provide(KernelTransport.layer({ interface: "eth0" })), Effect.provide(Notify.Notifier.layer))
 * ```
 */
export const make = (
  options: Options
): Effect.Effect<Router, Config.ConfigError, Scope.Scope | Transport.Transport | Notify.Notifier> =>
  Effect.gen(function* () {
    const transport = yield* Transport.Transport
    const notifier = yield* Notify.Notifier
    const warnings: Array<string> = []
    const resolved: Array<Config.Instance> = []
    for (const input of options.instances) {
      const r = yield* Effect.try({ try: () => Config.make(input), catch: (e) => e as Config.ConfigError })
      warnings.push(...r.warnings)
      if (resolved.some((vi) => vi.name === r.instance.name))
        return yield* Effect.fail(
          new Config.ConfigError(r.instance.name, "vrrp_instance", r.instance.name, "duplicate")
        )
      resolved.push(r.instance)
    }
    const queue = yield* Queue.unbounded<Event>()
    yield* transport.listen(resolved, (incoming) => {
      Queue.offerUnsafe(queue, { _tag: "Incoming", incoming })
    })
    // The interface's address is the source and the equal-priority tie-break when none is configured.
    const engines = new Map<string, Engine.Engine>()
    for (const vi of resolved) {
      const local = vi.primaryAddress ?? transport.localAddress(vi)
      const patched =
        local === undefined
          ? vi
          : { ...vi, primaryAddress: vi.primaryAddress ?? local, sourceAddress: vi.sourceAddress ?? local }
      engines.set(vi.name, new Engine.Engine(patched))
    }
    // keepalived: unknown members are ignored with an error, and an instance belongs to one group only.
    const grouped = new Set<string>()
    const groups = (options.syncGroups ?? []).map(
      (def) =>
        new SyncGroup.SyncGroup(
          def,
          def.members.flatMap((m) => {
            const e = engines.get(m)
            if (e === undefined) {
              warnings.push(`Virtual router ${m} specified in sync group ${def.name} doesn't exist - ignoring`)
              return []
            }
            if (grouped.has(m)) {
              warnings.push(`(${m}) cannot be in more than one sync group; ignoring in ${def.name}`)
              return []
            }
            grouped.add(m)
            return [e]
          })
        )
    )

    const log: Array<LogRecord> = []
    const transitions: Array<Transition> = []
    const logDetail = options.logDetail ?? false
    let nowMs = 0
    const lastState = new Map<Engine.Engine, Engine.State>()

    const emitLog = (level: Engine.LogLevel, message: string): Effect.Effect<void> => {
      if (level === "debug" && !logDetail) return Effect.void
      log.push({ at: nowMs, level, message })
      if (log.length > 10_000) log.splice(0, 5_000)
      return level === "error"
        ? Effect.logError(message)
        : level === "warning"
          ? Effect.logWarning(message)
          : level === "debug"
            ? Effect.logDebug(message)
            : Effect.logInfo(message)
    }

    const advertFor = (e: Engine.Engine, priority: number): Advert.AdvertInput => ({
      version: e.instance.version,
      vrid: e.instance.vrid,
      priority,
      interval: e.instance.advertInterval,
      authType: e.instance.authType,
      authData: e.instance.authData,
      addresses: e.instance.virtualAddresses
    })

    const runAction = (e: Engine.Engine | undefined, g: SyncGroup.SyncGroup | undefined, a: Engine.Action) => {
      switch (a._tag) {
        case "Log":
          return emitLog(a.level, a.message)
        case "Notify":
          if (e !== undefined)
            return notifier.notify(e.instance.notify, "INSTANCE", e.instance.name, a.event, a.priority)
          if (
            g !== undefined &&
            (a.event === "MASTER" || a.event === "BACKUP" || a.event === "FAULT" || a.event === "STOP")
          )
            return notifier.notify(g.definition.notify ?? {}, "GROUP", g.definition.name, a.event, 0)
          return Effect.void
      }
      if (e === undefined) return Effect.void
      const vi = e.instance
      switch (a._tag) {
        case "Send": {
          const unicast = vi.unicastPeers.length > 0
          const destinations = unicast ? vi.unicastPeers.map((p) => p.address) : [vi.mcastGroup]
          return Effect.forEach(
            destinations,
            (destination) =>
              transport.send({
                instance: vi,
                source: vi.sourceAddress,
                destination,
                ttl: unicast ? vi.unicastTtl : Advert.TTL,
                id: e.nextIpId(),
                advert: advertFor(e, a.priority)
              }),
            { discard: true }
          )
        }
        case "AddAddresses":
          return transport.addAddresses(vi)
        case "RemoveAddresses":
          return transport.removeAddresses(vi)
        case "Announce":
          return transport.announce(vi, a.addresses, a.repeat)
      }
    }

    // A transport or notifier defect (say a native call throwing) is logged, never fatal to the daemon.
    const run = (e: Engine.Engine | undefined, actions: ReadonlyArray<Engine.Action>, g?: SyncGroup.SyncGroup) =>
      Effect.forEach(
        actions,
        (a) =>
          runAction(e, g, a).pipe(
            Effect.catchCause((cause) => emitLog("error", `${a._tag} failed: ${Cause.pretty(cause)}`))
          ),
        { discard: true }
      )

    /** After any engine call: record transitions, then let sync groups propagate them. */
    const settle = (now: number): Effect.Effect<void> =>
      Effect.gen(function* () {
        for (const g of groups) {
          for (const o of g.synchronise(now)) yield* run(o.engine, o.actions, g)
        }
        for (const e of engines.values()) {
          const before = lastState.get(e) ?? "INIT"
          if (before !== e.state) {
            transitions.push({ at: nowMs, instance: e.instance.name, from: before, to: e.state })
            if (transitions.length > 10_000) transitions.splice(0, 5_000)
            lastState.set(e, e.state)
          }
        }
      })

    // Trackers: statuses by name, applied to every instance that tracks them.
    const scriptStatus = new Map<string, Tracker.Status>()
    const scriptStates = new Map<string, ScriptState>()
    const fileValue = new Map<string, number>()
    const ifUp = new Map<string, boolean>()
    const scripts = new Map((options.scripts ?? []).map((s) => [s.name, s]))
    const files = new Map((options.files ?? []).map((f) => [f.name, f]))

    const applyTrackers = (e: Engine.Engine, now: number): Array<Engine.Action> => {
      const vi = e.instance
      const out: Array<Engine.Action> = []
      let total = 0
      for (const ref of vi.trackScripts) {
        const s = scripts.get(ref.name)
        if (s === undefined) continue
        const impact = Tracker.weighted(
          scriptStatus.get(ref.name) ?? (s.initFail ? "ko" : "init"),
          ref.weight ?? s.weight ?? 0,
          ref.reverse ?? s.reverse ?? false
        )
        // Waiting for the first result of an unweighted script holds the instance in FAULT silently.
        const waiting = (scriptStatus.get(ref.name) ?? (s.initFail ? "ko" : "init")) === "init"
        out.push(...e.setFault(`script ${ref.name} ${Engine.WAITING}`, impact.fault && waiting, now))
        out.push(...e.setFault(`script ${ref.name}`, impact.fault && !waiting, now))
        total += impact.adjustment
      }
      const ifaces = [...vi.trackInterfaces]
      if (vi.interface !== undefined && !ifaces.some((t) => t.name === vi.interface))
        ifaces.push({ name: vi.interface })
      for (const ref of ifaces) {
        const up = ifUp.get(ref.name)
        if (up === undefined) continue
        const impact = Tracker.weighted(up ? "ok" : "ko", ref.weight ?? 0, ref.reverse ?? false)
        out.push(...e.setFault(`interface ${ref.name} down`, impact.fault, now))
        total += impact.adjustment
      }
      for (const ref of vi.trackFiles) {
        const f = files.get(ref.name)
        if (f === undefined) continue
        const impact = Tracker.fileEffect(
          fileValue.get(ref.name) ?? 0,
          ref.weight ?? f.weight ?? 1,
          ref.reverse ?? f.reverse ?? false
        )
        out.push(...e.setFault(`tracked file ${ref.name}`, impact.fault, now))
        total += impact.adjustment
      }
      out.push(...e.setAdjustment(total, now))
      return out
    }

    const nowUs = Effect.map(Clock.currentTimeMillis, (ms) => {
      nowMs = ms
      return Math.round(ms * 1000)
    })

    const dispatch = (incoming: Transport.Incoming, now: number): Effect.Effect<void> =>
      Effect.gen(function* () {
        const r = incoming.received
        if ("_tag" in r) return yield* emitLog("warning", r.message)
        const vrid = r.payload[Advert.Offset.vrid]!
        const candidates = [...engines.values()].filter(
          (e) => e.instance.vrid === vrid && e.instance.family === r.family
        )
        let target = candidates[0]
        if (candidates.length > 1) {
          // Several unicast instances may share a VRID on one link with disjoint peers: pick by source.
          target =
            candidates.find((e) =>
              e.instance.unicastPeers.some((p) => Address.canonical(p.address) === Address.canonical(r.source))
            ) ?? candidates.find((e) => Address.isMulticast(r.destination) === (e.instance.unicastPeers.length === 0))
        }
        if (target === undefined) {
          if ([...engines.values()].some((e) => e.instance.logUnknownVrids))
            yield* emitLog(
              "info",
              `Unknown VRID(${vrid}) received on interface(${incoming.interface ?? "?"}). ignoring...`
            )
          return
        }
        yield* run(target, target.receive(r, now))
      })

    // Start: apply tracker state (faults before start), then start every engine.
    const startAll = Effect.gen(function* () {
      const now = yield* nowUs
      for (const e of engines.values()) applyTrackers(e, now)
      for (const e of engines.values()) {
        lastState.set(e, "INIT")
        yield* run(e, e.start(now))
      }
      yield* settle(now)
    })

    const loop = Effect.gen(function* () {
      while (true) {
        let now = yield* nowUs
        let deadline: number | undefined
        for (const e of engines.values()) {
          const d = e.nextDeadline()
          if (d !== undefined && (deadline === undefined || d < deadline)) deadline = d
        }
        const event =
          deadline === undefined
            ? yield* Effect.map(Queue.take(queue), (x) => ({ _tag: "Some" as const, value: x }))
            : deadline <= now
              ? { _tag: "None" as const }
              : yield* Queue.take(queue).pipe(Effect.timeoutOption(Duration.millis((deadline - now) / 1000)))
        now = yield* nowUs
        let done: Deferred.Deferred<void> | undefined
        if (event._tag === "Some") {
          const ev = event.value
          if (ev._tag === "Incoming") yield* dispatch(ev.incoming, now)
          else {
            ev.f(now)
            yield* flushPending
            done = ev.done
          }
        }
        for (const e of engines.values()) {
          const d = e.nextDeadline()
          if (d !== undefined && d <= now) yield* run(e, e.tick(now))
        }
        yield* settle(now)
        // Callers of `submit` resume once sync groups have settled the consequences.
        if (done !== undefined) yield* Deferred.succeed(done, undefined)
      }
    })

    // Work queued by `Run` events: closures push actions here, the loop runs them.
    const pending: Array<[Engine.Engine | undefined, ReadonlyArray<Engine.Action>, SyncGroup.SyncGroup?]> = []
    const flushPending = Effect.suspend(() => {
      const items = pending.splice(0, pending.length)
      return Effect.forEach(items, ([e, a, g]) => run(e, a, g), { discard: true })
    })

    const submit = (f: (now: number) => void): Effect.Effect<void> =>
      Effect.gen(function* () {
        const done = yield* Deferred.make<void>()
        yield* Queue.offer(queue, { _tag: "Run", f, done })
        yield* Deferred.await(done)
      })

    const delay = options.startupDelay ?? 0
    const delayed = Effect.gen(function* () {
      yield* Effect.sleep(Duration.seconds(delay))
      // Adverts that arrived during the delay are discarded; queued commands (stop, faults) are kept.
      const queued = yield* Queue.clear(queue)
      for (const ev of queued) if (ev._tag === "Run") yield* Queue.offer(queue, ev)
      yield* startAll
      return yield* loop
    })
    if (delay > 0) yield* emitLog("info", `Delaying startup for ${delay} seconds`)
    else yield* startAll
    const fiber = yield* Effect.forkScoped(delay > 0 ? delayed : loop)

    let stopped = false
    const stop = Effect.suspend(() => {
      if (stopped) return Effect.void
      stopped = true
      return submit((now) => {
        for (const e of engines.values()) pending.push([e, e.stop(now)])
        for (const g of groups) pending.push([undefined, [{ _tag: "Notify", event: "STOP", priority: 0 }], g])
      }).pipe(Effect.timeoutOption(Duration.seconds(5)), Effect.asVoid)
    })
    // Runs before the loop fiber and the transport are torn down (finalizers run in reverse order).
    yield* Effect.addFinalizer(() => stop)

    // Tracker fibers.
    const tracked = new Set<string>()
    for (const e of engines.values()) for (const r of e.instance.trackScripts) tracked.add(r.name)
    for (const name of tracked) {
      const s = scripts.get(name)
      if (s === undefined) {
        warnings.push(`track_script ${name} not found`)
        continue
      }
      const rf = new Tracker.RiseFall({ rise: s.rise, fall: s.fall, initFail: s.initFail })
      if (rf.status !== "init") scriptStatus.set(name, rf.status)
      const interval = s.interval ?? 1
      let lastCode = 0
      const once = Effect.gen(function* () {
        const result = yield* Tracker.runScript(s.script, s.timeout ?? interval)
        const ok = result._tag === "Exited" && result.code === 0
        const wasInit = rf.status === "init"
        const prevCounter = rf.counter
        const { status, changed } = rf.record(ok)
        yield* submit((now) => {
          const lines: Array<Engine.Action> = []
          if (result._tag === "Exited" && result.code !== lastCode) {
            lines.push({ _tag: "Log", level: "info", message: `Script \`${name}\` now returning ${result.code}` })
            lastCode = result.code
          }
          if (!ok && (prevCounter === rf.rise || wasInit))
            lines.push({ _tag: "Log", level: "info", message: Tracker.failureText(name, result) })
          if (ok && changed) lines.push({ _tag: "Log", level: "info", message: `VRRP_Script(${name}) succeeded` })
          pending.push([undefined, lines])
          scriptStatus.set(name, status)
          scriptStates.set(name, { status, runs: (scriptStates.get(name)?.runs ?? 0) + 1, last: result })
          if (changed) for (const e of engines.values()) pending.push([e, applyTrackers(e, now)])
        })
      })
      yield* Effect.forkScoped(Effect.forever(Effect.andThen(once, Effect.sleep(Duration.seconds(interval)))))
    }
    const poll = Duration.seconds(options.pollInterval ?? 1)
    const ifaceNames = new Set<string>()
    for (const e of engines.values()) {
      if (e.instance.interface !== undefined) ifaceNames.add(e.instance.interface)
      for (const r of e.instance.trackInterfaces) ifaceNames.add(r.name)
    }
    const readIf = options.interfaceUp ?? Tracker.interfaceUp
    const fileNames = new Set<string>()
    for (const e of engines.values()) for (const r of e.instance.trackFiles) fileNames.add(r.name)
    if (ifaceNames.size > 0 || fileNames.size > 0) {
      const pollOnce = Effect.gen(function* () {
        let changed = false
        for (const name of ifaceNames) {
          const up = yield* readIf(name)
          if (ifUp.get(name) !== up) {
            ifUp.set(name, up)
            changed = true
          }
        }
        for (const name of fileNames) {
          const f = files.get(name)
          if (f === undefined) continue
          const v = yield* Tracker.readFileValue(f.file)
          if (fileValue.get(name) !== v) {
            fileValue.set(name, v)
            changed = true
          }
        }
        if (changed)
          yield* submit((now) => {
            for (const e of engines.values()) pending.push([e, applyTrackers(e, now)])
          })
      })
      yield* Effect.forkScoped(Effect.forever(Effect.andThen(pollOnce, Effect.sleep(poll))))
    }

    const router: Router = {
      engines,
      groups,
      state: (name) => engines.get(name)?.state,
      log,
      transitions,
      warnings,
      scripts: scriptStates,
      setFault: (name, reason, faulted) =>
        submit((now) => {
          const e = engines.get(name)
          if (e !== undefined) pending.push([e, e.setFault(reason, faulted, now)])
        }),
      stop: Effect.gen(function* () {
        yield* stop
        yield* Fiber.interrupt(fiber)
      })
    }
    return router
  })

/**
 * The router as an Effect service, for applications wiring layers (`Layer.launch` a daemon).
 *
 * @example
 * ```ts
 * const Daemon = Router.Vrrp.layer({ instances }).pipe(
 *   Layer.provide(KernelTransport.layer({ interface: "eth0" })),
 *   Layer.provide(Notify.Notifier.layer)
 * )
 * Layer.launch(Daemon).pipe(NodeRuntime.runMain)
 * ```
 */
export class Vrrp extends Context.Service<Vrrp, Router>()("@lvs-ts/vrrp/Router/Vrrp") {
  /** A layer running a router for these options; the layer's scope closing stops it. */
  static readonly layer = (
    options: Options
  ): Layer.Layer<Vrrp, Config.ConfigError, Transport.Transport | Notify.Notifier> => Layer.effect(Vrrp, make(options))
}
