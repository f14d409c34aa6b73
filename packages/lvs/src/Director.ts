/**
 * The director: TAP ports running the {@link ForwardingHandler} in their I/O worker, plus the control
 * plane that changes the virtual service table while traffic flows, reads the shared counters, runs the
 * kernel's 2-second rate estimator and renders `ipvsadm -L -n` style listings.
 *
 * How the control plane reaches the data plane: every change is a {@link VirtualServiceTable.Command}. It is
 * applied first to the director's own copy of the table (so a bad command fails here with a message naming
 * the field, and the data plane never sees it), then posted to every I/O worker (`TapPorts.control`), which
 * applies it to its copy between two batches. Counters travel the other way through a `SharedArrayBuffer`
 * the workers write and the control plane only reads.
 *
 * The director runs one I/O queue: NAT and FULLNAT need both directions of a connection in the same
 * worker's connection table, and a multi-queue TAP spreads the two directions over different queues.
 *
 * @module
 */
import { Effect, Queue, Schedule, Schema, type Scope } from "effect"
import * as ForwardingHandler from "./ForwardingHandler.ts"
import type * as Listing from "./Listing.ts"
import { Rate, RateEstimator } from "./RateEstimator.ts"
import * as TapPorts from "./TapPorts.ts"
import * as VST from "./VirtualServiceTable.ts"

/**
 * A director port: the TAP device and the director's MAC and addresses on it.
 *
 * @example
 * ```ts
 * const p: Director.PortSpec = { name: "tapc", mac: "02:00:0a:c8:01:01", addresses: ["10.200.1.1/24", "10.200.1.100/32"] }
 * ```
 */
export interface PortSpec extends ForwardingHandler.PortConfig {
  readonly name: string
  readonly mtu?: number
}

/**
 * A service with its destinations, for the initial table.
 *
 * @example
 * ```ts
 * const web: Director.ServiceConfig = {
 *   service: { protocol: "tcp", address: "10.200.1.100", port: 80, scheduler: "wrr" },
 *   destinations: [{ address: "10.200.2.11", port: 80, weight: 1, method: "nat" }]
 * }
 * ```
 */
export interface ServiceConfig {
  readonly service: VST.ServiceSpec
  readonly destinations?: ReadonlyArray<VST.DestinationSpec>
}

/**
 * Director options.
 *
 * @example
 * ```ts
 * const options: Director.Options = { netns: "lvs-lab-director", ports: [client, servers], services: [web] }
 * ```
 */
export interface Options {
  readonly ports: ReadonlyArray<PortSpec>
  /** Namespace holding the TAP devices. */
  readonly netns?: string
  readonly routes?: ReadonlyArray<ForwardingHandler.Route>
  readonly services?: ReadonlyArray<ServiceConfig>
  readonly classifier?: ReadonlyArray<VST.ClassifierRule>
  readonly maxConnections?: number
  /** Statistics slots (services + destinations), default 1024. */
  readonly slots?: number
  /**
   * TAP I/O backend (`TapPorts.Options.backend`). Default `auto`: io_uring where the kernel lets this
   * process set one up (one `io_uring_enter` per wake-up instead of `poll` + `read` + `write`: measured
   * 1.4 instead of 5.5 system calls per keep-alive request through NAT), else `syscalls`.
   */
  readonly backend?: TapPorts.Backend
  /** Run the TAP I/O worker at this `SCHED_FIFO` priority (1-99, needs `CAP_SYS_NICE`); see `TapPorts.Options`. */
  readonly realtimePriority?: number
  /** Adaptive busy-poll window in microseconds (off by default: it measured as a loss); see `TapPorts.Options`. */
  readonly busyPollUs?: number
  /**
   * Receive-coalescing window in microseconds after a busy wake-up (io_uring; default 50, 0 off); see
   * `TapPorts.Options`.
   */
  readonly coalesceUs?: number
  /** Minimum `txqueuelen` of every TAP port (default 4096). */
  readonly txQueueLength?: number
  /** Route transit traffic (default true). */
  readonly forwarding?: boolean
  /** Print the kernel's "no destination available" line (default true). */
  readonly logNoDestination?: boolean
  /** Where the data plane's log lines go (default console.log). */
  readonly log?: (line: string) => void
}

/**
 * A rejected command or bad option: what and why.
 *
 * @example
 * ```ts
 * director.apply(cmd).pipe(Effect.catchTag("DirectorError", (e) => Effect.logError(e.message)))
 * ```
 */
export class DirectorError extends Schema.TaggedError<DirectorError>()("DirectorError", {
  step: Schema.String,
  message: Schema.String
}) {}

/**
 * The running director.
 *
 * @example
 * ```ts
 * const director = yield* Director.make(options)
 * yield* director.addDestination(web, { address: "10.200.2.13", port: 80, method: "nat" })
 * console.log(Listing.stats((yield* director.snapshot).services))
 * ```
 */
export interface Director {
  readonly ports: TapPorts.Service
  /** The control plane's copy of the table (read it; change it only through `apply`). */
  readonly table: VST.VirtualServiceTable
  readonly apply: (command: VST.Command) => Effect.Effect<void, DirectorError>
  readonly addService: (service: VST.ServiceSpec) => Effect.Effect<void, DirectorError>
  readonly editService: (service: VST.ServiceSpec) => Effect.Effect<void, DirectorError>
  readonly deleteService: (service: VST.ServiceKey) => Effect.Effect<void, DirectorError>
  readonly addDestination: (
    service: VST.ServiceKey,
    destination: VST.DestinationSpec
  ) => Effect.Effect<void, DirectorError>
  readonly editDestination: (
    service: VST.ServiceKey,
    destination: VST.DestinationSpec
  ) => Effect.Effect<void, DirectorError>
  readonly deleteDestination: (
    service: VST.ServiceKey,
    destination: { readonly address: string; readonly port?: number }
  ) => Effect.Effect<void, DirectorError>
  /** `ipvsadm --set tcp tcpfin udp` (seconds; 0 keeps a value). */
  readonly setTimeouts: (timeouts: { tcp?: number; tcpfin?: number; udp?: number }) => Effect.Effect<void>
  /** Services, destinations, counters and rates now. */
  readonly snapshot: Effect.Effect<{ readonly services: ReadonlyArray<Listing.ServiceView> }>
  /** The forwarding handler's counters by name (what was done, and every drop reason). */
  readonly counters: Effect.Effect<Record<string, number>>
}

const F = VST.Stats.FIELDS

/**
 * Commands that build `services` (and the classifier).
 *
 * @example
 * ```ts
 * Director.commandsOf([{ service: { fwmark: 1 }, destinations: [{ address: "10.0.0.2" }] }]).length // 2
 * ```
 */
export const commandsOf = (
  services: ReadonlyArray<ServiceConfig>,
  classifier?: ReadonlyArray<VST.ClassifierRule>
): Array<VST.Command> => {
  const out: Array<VST.Command> = []
  if (classifier !== undefined) out.push({ _tag: "SetClassifier", rules: classifier })
  for (const s of services) {
    out.push({ _tag: "AddService", service: s.service })
    for (const d of s.destinations ?? []) out.push({ _tag: "AddDestination", service: s.service, destination: d })
  }
  return out
}

/**
 * Starts the director (scoped: closing the scope stops the workers and closes the devices).
 *
 * @example
 * ```ts
 * Effect.scoped(Effect.gen(function* () {
 *   const director = yield* Director.make({ netns: "lab-director", ports, services })
 *   yield* Effect.sleep("1 minute")
 * }))
 * ```
 */
export const make = (options: Options): Effect.Effect<Director, DirectorError | TapPorts.TapPortsError, Scope.Scope> =>
  Effect.gen(function* () {
    const slots = options.slots ?? VST.DEFAULT_SLOTS
    const table = new VST.VirtualServiceTable({ slots })
    const commands = commandsOf(options.services ?? [], options.classifier)
    for (const [i, c] of commands.entries()) {
      const problem = table.apply(c)
      if (problem !== undefined)
        return yield* new DirectorError({ step: `services (command ${i} ${c._tag})`, message: problem })
    }
    const stats = new SharedArrayBuffer(slots * F * 8)
    const handlerOptions: ForwardingHandler.Options = {
      ports: options.ports.map((p) => ({ mac: p.mac, addresses: p.addresses })),
      stats,
      slots,
      commands,
      ...(options.routes !== undefined ? { routes: options.routes } : {}),
      ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {}),
      ...(options.forwarding !== undefined ? { forwarding: options.forwarding } : {}),
      ...(options.logNoDestination !== undefined ? { logNoDestination: options.logNoDestination } : {})
    }
    const problem = ForwardingHandler.validate(handlerOptions)
    if (problem !== undefined) return yield* new DirectorError({ step: "options", message: problem })
    const ports = yield* TapPorts.make({
      ...(options.netns !== undefined ? { netns: options.netns } : {}),
      ports: options.ports.map((p) => ({ name: p.name, ...(p.mtu !== undefined ? { mtu: p.mtu } : {}) })),
      queues: 1,
      backend: options.backend ?? "auto",
      ...(options.realtimePriority !== undefined ? { realtimePriority: options.realtimePriority } : {}),
      ...(options.busyPollUs !== undefined ? { busyPollUs: options.busyPollUs } : {}),
      ...(options.coalesceUs !== undefined ? { coalesceUs: options.coalesceUs } : {}),
      ...(options.txQueueLength !== undefined ? { txQueueLength: options.txQueueLength } : {}),
      pollTimeoutMs: 100,
      scratchSlots: ForwardingHandler.SCRATCH_SLOTS,
      headroom: 64,
      handler: { module: ForwardingHandler.handlerModule, options: handlerOptions }
    })
    const counters = new Float64Array(stats)
    const estimator = new RateEstimator(slots)
    const totals = new Float64Array(slots * Rate.FIELDS)
    const sample = Effect.sync(() => {
      for (let s = 0; s < slots; s++)
        for (let f = 0; f < Rate.FIELDS; f++) totals[s * Rate.FIELDS + f] = counters[s * F + f]!
      estimator.sample(totals)
    })
    yield* Effect.forkScoped(Effect.repeat(sample, Schedule.spaced(`${2000} millis`)))
    const log = options.log ?? ((line: string) => console.log(line))
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.map(Queue.take(ports.events), (event) => {
          const e = event as ForwardingHandler.Event
          if (e?._tag === "Log") log(e.line)
        })
      )
    )

    const apply = (command: VST.Command) =>
      Effect.gen(function* () {
        const problem = table.apply(command)
        if (problem !== undefined) return yield* new DirectorError({ step: command._tag, message: problem })
        yield* ports.control({ _tag: "Command", command } satisfies ForwardingHandler.Control)
      })

    const countersOf = (slot: number): Listing.Counters => ({
      connections: counters[slot * F + VST.Stats.connections]!,
      inPackets: counters[slot * F + VST.Stats.inPackets]!,
      outPackets: counters[slot * F + VST.Stats.outPackets]!,
      inBytes: counters[slot * F + VST.Stats.inBytes]!,
      outBytes: counters[slot * F + VST.Stats.outBytes]!
    })
    const ratesOf = (slot: number): Listing.Rates => ({
      cps: estimator.rate(slot, Rate.cps),
      inpps: estimator.rate(slot, Rate.inpps),
      outpps: estimator.rate(slot, Rate.outpps),
      inbps: estimator.rate(slot, Rate.inbps),
      outbps: estimator.rate(slot, Rate.outbps)
    })
    const snapshot = Effect.sync(() => ({
      services: [...table.services.values()].map(
        (s): Listing.ServiceView => ({
          key: s.key,
          protocol: s.protocol,
          address: s.address,
          port: s.port,
          fwmark: s.fwmark,
          family: s.family,
          scheduler: s.scheduler,
          persistence: s.persistence,
          stats: countersOf(s.slot),
          rates: ratesOf(s.slot),
          destinations: s.pool.destinations().map((dest): Listing.DestinationView => {
            const d = table.destinationById[table.directory.idOf(dest)]!
            return {
              address: d.address,
              port: d.port,
              method: d.method,
              weight: dest.weight,
              upperThreshold: dest.upperThreshold,
              lowerThreshold: dest.lowerThreshold,
              activeConnections: counters[d.slot * F + VST.Stats.activeConnections]!,
              inactiveConnections: counters[d.slot * F + VST.Stats.inactiveConnections]!,
              persistentConnections: counters[d.slot * F + VST.Stats.persistentConnections]!,
              stats: countersOf(d.slot),
              rates: ratesOf(d.slot)
            }
          })
        })
      )
    }))
    const handlerCounters = Effect.map(ports.handlerStats, (values) => {
      const out: Record<string, number> = {}
      for (const [i, name] of ForwardingHandler.statNames.entries()) if (name !== undefined) out[name] = values[i] ?? 0
      return out
    })
    return {
      ports,
      table,
      apply,
      addService: (service) => apply({ _tag: "AddService", service }),
      editService: (service) => apply({ _tag: "EditService", service }),
      deleteService: (service) => apply({ _tag: "DeleteService", service }),
      addDestination: (service, destination) => apply({ _tag: "AddDestination", service, destination }),
      editDestination: (service, destination) => apply({ _tag: "EditDestination", service, destination }),
      deleteDestination: (service, destination) => apply({ _tag: "DeleteDestination", service, destination }),
      setTimeouts: (t) =>
        ports.control({
          _tag: "SetTimeouts",
          ...(t.tcp !== undefined ? { tcp: t.tcp } : {}),
          ...(t.tcpfin !== undefined ? { tcpfin: t.tcpfin } : {}),
          ...(t.udp !== undefined ? { udp: t.udp } : {})
        } satisfies ForwardingHandler.Control),
      snapshot,
      counters: handlerCounters
    } satisfies Director
  })
