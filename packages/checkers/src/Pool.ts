/**
 * The real-server / virtual-server layer of keepalived's checker process, as pure synchronous logic that turns
 * checker transitions into director events, scripts to run and keepalived's log lines.
 *
 * Mirrors `keepalived/check/ipwrapper.c` (2.4.x): `perform_svr_state()`, `update_svr_wgt()`,
 * `update_quorum_state()`, the sorry-server switch and `init_service_vs()`:
 * - a real server is alive iff none of its checkers has failed;
 * - its effective weight is the configured weight plus the dynamic contributions of MISC_CHECK (`misc_dynamic`)
 *   and FILE_CHECK, clamped to [0, 65535], pushed with an edit only while it is in the pool;
 * - `inhibit_on_failure` turns every delete into an edit to weight 0 and every add into an edit back;
 * - the quorum is the sum of alive effective weights: gained at ≥ quorum + hysteresis, lost below
 *   quorum − hysteresis or at 0; a sorry server replaces the pool while the quorum is lost.
 *
 * The state is mutable on purpose: a transition costs O(1) (O(real servers) only for a sorry-server switch), so
 * tens of thousands of real servers do not copy arrays on every check.
 *
 * @since 0.1.0
 */
import * as Endpoint from "./Endpoint.ts"

/** Largest weight IPVS accepts (keepalived clamps to `IPVS_WEIGHT_MAX`). */
const WEIGHT_MAX = 65535

/**
 * A real server as the pool layer needs it.
 *
 * @example
 * ```ts
 * import type { Pool } from "@lvs-ts/checkers"
 * const rs: Pool.RealServerInput = { address: "10.0.0.2", port: 80, weight: 2, checkers: 1 }
 * ```
 * @since 0.1.0
 */
export interface RealServerInput {
  readonly address: string
  readonly port: number
  /** Configured weight (default: the virtual server's `weight`, itself default 1). */
  readonly weight?: number | undefined
  readonly inhibitOnFailure?: boolean | undefined
  /** argv of `notify_up`, run without a shell. */
  readonly notifyUp?: ReadonlyArray<string> | undefined
  /** argv of `notify_down`, run without a shell. */
  readonly notifyDown?: ReadonlyArray<string> | undefined
  /** Number of checkers attached (their ids are 0 … checkers − 1). */
  readonly checkers: number
  /** Ids of checkers that start failed (`alpha`). */
  readonly initiallyFailed?: ReadonlyArray<number> | undefined
}

/**
 * A virtual server as the pool layer needs it.
 *
 * @example
 * ```ts
 * import type { Pool } from "@lvs-ts/checkers"
 * const vs: Pool.VirtualServerInput = {
 *   address: "192.0.2.1", port: 80, protocol: "tcp", quorum: 2, hysteresis: 0,
 *   realServers: [{ address: "10.0.0.2", port: 80, checkers: 1 }]
 * }
 * ```
 * @since 0.1.0
 */
export interface VirtualServerInput {
  readonly address?: string | undefined
  readonly port?: number | undefined
  readonly protocol?: Endpoint.Protocol | undefined
  readonly fwmark?: number | undefined
  readonly weight?: number | undefined
  readonly quorum?: number | undefined
  readonly hysteresis?: number | undefined
  readonly quorumUp?: ReadonlyArray<string> | undefined
  readonly quorumDown?: ReadonlyArray<string> | undefined
  readonly inhibitOnFailure?: boolean | undefined
  readonly sorryServer?: { readonly address: string; readonly port?: number | undefined } | undefined
  readonly sorryServerInhibit?: boolean | undefined
  readonly omega?: boolean | undefined
  /** keepalived's global `rs_init_notifies`: run RS notify scripts for the initial states. */
  readonly rsInitNotifies?: boolean | undefined
  readonly realServers: ReadonlyArray<RealServerInput>
}

/**
 * A change a director (IPVS, the userspace director, or any Node proxy) applies to its destination table.
 *
 * @example
 * ```ts
 * import type { Pool } from "@lvs-ts/checkers"
 * const e: Pool.DirectorEvent = {
 *   _tag: "AddDestination", service: "[192.0.2.1]:tcp:80", destination: "[10.0.0.2]:tcp:80",
 *   address: "10.0.0.2", port: 80, weight: 1, sorry: false
 * }
 * ```
 * @since 0.1.0
 */
export type DirectorEvent =
  | {
      readonly _tag: "AddDestination"
      readonly service: string
      readonly destination: string
      readonly address: string
      readonly port: number
      readonly weight: number
      readonly sorry: boolean
    }
  | {
      readonly _tag: "EditDestination"
      readonly service: string
      readonly destination: string
      readonly address: string
      readonly port: number
      readonly weight: number
      readonly sorry: boolean
    }
  | {
      readonly _tag: "RemoveDestination"
      readonly service: string
      readonly destination: string
      readonly address: string
      readonly port: number
      readonly sorry: boolean
    }

/**
 * Everything a pool transition produces, in keepalived's order: director events, log lines, scripts to exec
 * (argv, no shell), and notify-FIFO style lines (`RS [ip]:tcp:80 [vip]:tcp:80 UP`, `VS [vip]:tcp:80 DOWN`).
 *
 * @example
 * ```ts
 * import type { Pool } from "@lvs-ts/checkers"
 * const a: Pool.Action = { _tag: "Log", message: "Adding service [10.0.0.2]:tcp:80 to VS [192.0.2.1]:tcp:80" }
 * ```
 * @since 0.1.0
 */
export type Action =
  | DirectorEvent
  | { readonly _tag: "Log"; readonly message: string }
  | {
      readonly _tag: "RunScript"
      readonly script: "notify_up" | "notify_down" | "quorum_up" | "quorum_down"
      readonly argv: ReadonlyArray<string>
    }
  | { readonly _tag: "Notify"; readonly line: string }

interface RealServerState {
  readonly input: RealServerInput
  readonly label: string
  readonly baseWeight: number
  readonly inhibit: boolean
  readonly failed: Set<number>
  readonly contributions: Map<number, number>
  weight: number
  alive: boolean
  installed: boolean
  installedWeight: number
}

/**
 * Mutable state of one virtual server and its real servers.
 *
 * @example
 * ```ts
 * import { Pool } from "@lvs-ts/checkers"
 * const pool = Pool.make({ address: "192.0.2.1", port: 80, protocol: "tcp", realServers: [] })
 * console.log(pool.label) // "[192.0.2.1]:tcp:80"
 * ```
 * @since 0.1.0
 */
export interface Pool {
  readonly label: string
  readonly input: VirtualServerInput
  readonly quorum: number
  readonly hysteresis: number
  readonly realServers: ReadonlyArray<RealServerState>
  /** Configuration warnings found while building the pool (keepalived's auto-corrections). */
  readonly warnings: ReadonlyArray<string>
  /** Sum of the effective weights of alive servers, kept incrementally so a transition is O(1). */
  aliveWeight: number
  started: boolean
  quorumUp: boolean
  sorryActive: boolean
  sorryInstalled: boolean
  sorryInstalledWeight: number
}

/**
 * Read-only view of a real server's state.
 *
 * @example
 * ```ts
 * import { Pool } from "@lvs-ts/checkers"
 * const pool = Pool.make({ address: "192.0.2.1", port: 80, protocol: "tcp",
 *   realServers: [{ address: "10.0.0.2", port: 80, checkers: 1 }] })
 * console.log(Pool.realServer(pool, 0).alive) // true
 * ```
 * @since 0.1.0
 */
export interface RealServerView {
  readonly label: string
  readonly alive: boolean
  readonly weight: number
  readonly installed: boolean
  readonly installedWeight: number
  readonly failedCheckers: ReadonlyArray<number>
}

const vsLabel = (input: VirtualServerInput): string =>
  input.fwmark !== undefined
    ? Endpoint.formatFwmark(input.fwmark)
    : Endpoint.format(input.address ?? "0.0.0.0", input.protocol ?? "tcp", input.port ?? 0)

const clampWeight = (w: number): number => (w < 0 ? 0 : Math.min(w, WEIGHT_MAX))

/**
 * Build the pool for one virtual server, applying keepalived's config fixes (quorum larger than the total weight is
 * reduced, hysteresis ≥ quorum becomes quorum − 1) with its warning texts.
 *
 * @example
 * ```ts
 * import { Pool } from "@lvs-ts/checkers"
 * const pool = Pool.make({ address: "192.0.2.1", port: 80, protocol: "tcp", quorum: 5,
 *   realServers: [{ address: "10.0.0.2", port: 80, checkers: 1 }] })
 * console.log(pool.quorum, pool.warnings.length) // 1 1
 * ```
 * @since 0.1.0
 */
export const make = (input: VirtualServerInput): Pool => {
  const label = vsLabel(input)
  const warnings: Array<string> = []
  const protocol = input.protocol ?? "tcp"
  const realServers = input.realServers.map((rs): RealServerState => {
    const baseWeight = clampWeight(rs.weight ?? input.weight ?? 1)
    const failed = new Set<number>(rs.initiallyFailed ?? [])
    return {
      input: rs,
      label: Endpoint.format(rs.address, protocol, rs.port),
      baseWeight,
      inhibit: rs.inhibitOnFailure ?? input.inhibitOnFailure ?? false,
      failed,
      contributions: new Map(),
      weight: baseWeight,
      alive: failed.size === 0,
      installed: false,
      installedWeight: 0
    }
  })
  let quorum = input.quorum ?? 1
  if (!Number.isInteger(quorum) || quorum < 1) {
    warnings.push(`Quorum ${quorum} must be in [1, 4294967295]. Setting to 1.`)
    quorum = 1
  }
  const total = realServers.reduce((s, rs) => s + rs.baseWeight, 0)
  if (realServers.length > 0 && quorum > total) {
    warnings.push(
      `Warning - quorum ${quorum} for ${label} exceeds total weight of real servers ${total}, reducing quorum to ${total}`
    )
    quorum = Math.max(1, total)
  }
  let hysteresis = input.hysteresis ?? 0
  if (hysteresis >= quorum) {
    warnings.push(
      `Virtual server ${label}: hysteresis ${hysteresis} >= quorum ${quorum}; setting hysteresis to ${quorum - 1}`
    )
    hysteresis = quorum - 1
  }
  return {
    label,
    input,
    quorum,
    hysteresis,
    realServers,
    warnings,
    aliveWeight: realServers.reduce((sum, rs) => (rs.alive ? sum + rs.weight : sum), 0),
    started: false,
    quorumUp: false,
    sorryActive: false,
    sorryInstalled: false,
    sorryInstalledWeight: 0
  }
}

/**
 * Sum of the effective weights of alive real servers (keepalived's `weight_sum_vs`).
 *
 * @example
 * ```ts
 * import { Pool } from "@lvs-ts/checkers"
 * const pool = Pool.make({ address: "192.0.2.1", port: 80, protocol: "tcp",
 *   realServers: [{ address: "10.0.0.2", port: 80, weight: 3, checkers: 0 }] })
 * console.log(Pool.weightSum(pool)) // 3
 * ```
 * @since 0.1.0
 */
export const weightSum = (pool: Pool): number => pool.aliveWeight

/**
 * Snapshot of real server `index`.
 *
 * @example
 * ```ts
 * import { Pool } from "@lvs-ts/checkers"
 * const pool = Pool.make({ address: "192.0.2.1", port: 80, protocol: "tcp",
 *   realServers: [{ address: "10.0.0.2", port: 80, checkers: 1, initiallyFailed: [0] }] })
 * console.log(Pool.realServer(pool, 0).failedCheckers) // [0]
 * ```
 * @since 0.1.0
 */
export const realServer = (pool: Pool, index: number): RealServerView => {
  const rs = pool.realServers[index]
  if (rs === undefined) throw new RangeError(`Pool ${pool.label}: no real server at index ${index}`)
  return {
    label: rs.label,
    alive: rs.alive,
    weight: rs.weight,
    installed: rs.installed,
    installedWeight: rs.installedWeight,
    failedCheckers: [...rs.failed].sort((a, b) => a - b)
  }
}

const sorryLabel = (pool: Pool): string | undefined => {
  const s = pool.input.sorryServer
  if (s === undefined) return undefined
  return Endpoint.format(s.address, pool.input.protocol ?? "tcp", s.port ?? pool.input.port ?? 0)
}

type Reason = "state" | "weight" | "pool"

const reconcile = (pool: Pool, rs: RealServerState, reason: Reason, out: Array<Action>): void => {
  const inPool = rs.alive && !pool.sorryActive
  const wantInstalled = inPool || rs.inhibit
  const wantWeight = inPool ? rs.weight : 0
  const base = { service: pool.label, destination: rs.label, address: rs.input.address, port: rs.input.port }
  if (!rs.installed && wantInstalled) {
    if (reason !== "pool" || inPool)
      out.push({ _tag: "Log", message: `Adding service ${rs.label} to VS ${pool.label}` })
    out.push({ _tag: "AddDestination", ...base, weight: wantWeight, sorry: false })
    rs.installed = true
    rs.installedWeight = wantWeight
  } else if (rs.installed && !wantInstalled) {
    out.push({ _tag: "Log", message: `Removing service ${rs.label} from VS ${pool.label}` })
    out.push({ _tag: "RemoveDestination", ...base, sorry: false })
    rs.installed = false
    rs.installedWeight = 0
  } else if (rs.installed && rs.installedWeight !== wantWeight) {
    let message: string
    if (reason === "weight") {
      message = `Changing weight from ${rs.installedWeight} to ${wantWeight} for active service ${rs.label} of VS ${pool.label}`
    } else if (wantWeight === 0 && !inPool) {
      message = `Disabling service ${rs.label} of VS ${pool.label}`
    } else {
      message = `Enabling service ${rs.label} of VS ${pool.label}`
    }
    out.push({ _tag: "Log", message })
    out.push({ _tag: "EditDestination", ...base, weight: wantWeight, sorry: false })
    rs.installedWeight = wantWeight
  }
}

const sorryEvent = (pool: Pool, tag: "AddDestination" | "EditDestination", weight: number): DirectorEvent => {
  const s = pool.input.sorryServer!
  return {
    _tag: tag,
    service: pool.label,
    destination: sorryLabel(pool)!,
    address: s.address,
    port: s.port ?? pool.input.port ?? 0,
    weight,
    sorry: true
  }
}

const installSorry = (pool: Pool, out: Array<Action>): void => {
  const s = pool.input.sorryServer
  if (s === undefined) return
  const label = sorryLabel(pool)!
  const inhibit = pool.input.sorryServerInhibit ?? false
  out.push({
    _tag: "Log",
    message: inhibit
      ? `Enabling sorry server ${label} to VS ${pool.label}`
      : `Adding sorry server ${label} to VS ${pool.label}`
  })
  out.push({ _tag: "Log", message: `Removing alive servers from the pool for VS ${pool.label}` })
  pool.sorryActive = true
  for (const rs of pool.realServers) reconcile(pool, rs, "pool", out)
  out.push(sorryEvent(pool, pool.sorryInstalled ? "EditDestination" : "AddDestination", 1))
  pool.sorryInstalled = true
  pool.sorryInstalledWeight = 1
}

const removeSorry = (pool: Pool, out: Array<Action>): void => {
  const s = pool.input.sorryServer
  if (s === undefined || !pool.sorryActive) return
  const label = sorryLabel(pool)!
  const inhibit = pool.input.sorryServerInhibit ?? false
  out.push({
    _tag: "Log",
    message: inhibit
      ? `Disabling sorry server ${label} from VS ${pool.label}`
      : `Removing sorry server ${label} from VS ${pool.label}`
  })
  if (inhibit) {
    out.push(sorryEvent(pool, "EditDestination", 0))
    pool.sorryInstalledWeight = 0
  } else {
    out.push({
      _tag: "RemoveDestination",
      service: pool.label,
      destination: label,
      address: s.address,
      port: s.port ?? pool.input.port ?? 0,
      sorry: true
    })
    pool.sorryInstalled = false
    pool.sorryInstalledWeight = 0
  }
  pool.sorryActive = false
  out.push({ _tag: "Log", message: `Adding alive servers to the pool for VS ${pool.label}` })
  for (const rs of pool.realServers) reconcile(pool, rs, "pool", out)
}

const updateQuorum = (pool: Pool, out: Array<Action>): void => {
  if (!pool.started) return
  const sum = weightSum(pool)
  const { quorum: q, hysteresis: h } = pool
  if (!pool.quorumUp && sum >= q + h) {
    pool.quorumUp = true
    out.push({ _tag: "Log", message: `Gained quorum ${q}+${h}=${q + h} <= ${sum} for VS ${pool.label}` })
    removeSorry(pool, out)
    if (pool.input.quorumUp !== undefined)
      out.push({ _tag: "RunScript", script: "quorum_up", argv: pool.input.quorumUp })
    out.push({ _tag: "Notify", line: `VS ${pool.label} UP` })
  } else if (pool.quorumUp && (sum < q - h || sum === 0)) {
    pool.quorumUp = false
    out.push({ _tag: "Log", message: `Lost quorum ${q}-${h}=${q - h} > ${sum} for VS ${pool.label}` })
    if (!pool.sorryActive) installSorry(pool, out)
    if (pool.input.quorumDown !== undefined) {
      out.push({ _tag: "RunScript", script: "quorum_down", argv: pool.input.quorumDown })
    }
    out.push({ _tag: "Notify", line: `VS ${pool.label} DOWN` })
  }
}

const notifyRs = (pool: Pool, rs: RealServerState, out: Array<Action>): void => {
  const argv = rs.alive ? rs.input.notifyUp : rs.input.notifyDown
  if (argv !== undefined) {
    out.push({ _tag: "RunScript", script: rs.alive ? "notify_up" : "notify_down", argv })
  }
  out.push({ _tag: "Notify", line: `RS ${rs.label} ${pool.label} ${rs.alive ? "UP" : "DOWN"}` })
}

/**
 * Install the initial real servers and evaluate the quorum once, as keepalived does at a (non-reload) start:
 * alive servers are added, inhibited dead ones are added with weight 0, an inhibited sorry server is installed
 * with weight 0; then "Gained quorum …" + `quorum_up`, or (only with a sorry server) "Starting with quorum down …",
 * the sorry server and `quorum_down`.
 *
 * @example
 * ```ts
 * import { Pool } from "@lvs-ts/checkers"
 * const pool = Pool.make({ address: "192.0.2.1", port: 80, protocol: "tcp",
 *   realServers: [{ address: "10.0.0.2", port: 80, checkers: 1 }] })
 * const actions = Pool.start(pool)
 * console.log(actions.filter((a) => a._tag === "AddDestination").length) // 1
 * ```
 * @since 0.1.0
 */
export const start = (pool: Pool): ReadonlyArray<Action> => {
  const out: Array<Action> = []
  if (pool.started) return out
  for (const w of pool.warnings) out.push({ _tag: "Log", message: w })
  for (const rs of pool.realServers) {
    reconcile(pool, rs, "state", out)
    if (pool.input.rsInitNotifies) notifyRs(pool, rs, out)
  }
  if (pool.input.sorryServer !== undefined && (pool.input.sorryServerInhibit ?? false)) {
    out.push(sorryEvent(pool, "AddDestination", 0))
    pool.sorryInstalled = true
    pool.sorryInstalledWeight = 0
  }
  pool.started = true
  const sum = weightSum(pool)
  const { quorum: q, hysteresis: h } = pool
  if (sum >= q + h) {
    updateQuorum(pool, out)
  } else if (pool.input.sorryServer !== undefined) {
    // keepalived prints q+h after "q-h=" here; kept verbatim so log scrapers match.
    out.push({ _tag: "Log", message: `Starting with quorum down ${q}-${h}=${q + h} > ${sum} for VS ${pool.label}` })
    installSorry(pool, out)
    if (pool.input.quorumDown !== undefined) {
      out.push({ _tag: "RunScript", script: "quorum_down", argv: pool.input.quorumDown })
    }
    out.push({ _tag: "Notify", line: `VS ${pool.label} DOWN` })
  }
  return out
}

/**
 * Record checker `checker` of real server `index` going up (`up = true`) or down. Only the first failed checker
 * going down or the last failed one coming up changes the real server (keepalived's `update_svr_checker_state`),
 * which then logs, updates the director (unless the sorry server is in use), runs notify_up/notify_down and
 * re-evaluates the quorum.
 *
 * @example
 * ```ts
 * import { Pool } from "@lvs-ts/checkers"
 * const pool = Pool.make({ address: "192.0.2.1", port: 80, protocol: "tcp",
 *   realServers: [{ address: "10.0.0.2", port: 80, checkers: 1 }] })
 * Pool.start(pool)
 * const actions = Pool.setChecker(pool, 0, 0, false)
 * console.log(actions.some((a) => a._tag === "RemoveDestination")) // true
 * ```
 * @since 0.1.0
 */
export const setChecker = (pool: Pool, index: number, checker: number, up: boolean): ReadonlyArray<Action> => {
  const rs = pool.realServers[index]
  if (rs === undefined) return []
  const wasAlive = rs.failed.size === 0
  if (up) rs.failed.delete(checker)
  else rs.failed.add(checker)
  const alive = rs.failed.size === 0
  if (alive === wasAlive) return []
  const out: Array<Action> = []
  rs.alive = alive
  pool.aliveWeight += alive ? rs.weight : -rs.weight
  if (!pool.started) return out
  reconcile(pool, rs, "state", out)
  notifyRs(pool, rs, out)
  updateQuorum(pool, out)
  return out
}

/**
 * Set the dynamic weight contribution of checker `checker` (MISC_CHECK `misc_dynamic`: exit − 2 − configured
 * weight; FILE_CHECK: value × weight). The effective weight is pushed only while the server is in the pool
 * ("Changing weight from A to B for active service …"); a change also re-evaluates the quorum.
 *
 * @example
 * ```ts
 * import { Pool } from "@lvs-ts/checkers"
 * const pool = Pool.make({ address: "192.0.2.1", port: 80, protocol: "tcp",
 *   realServers: [{ address: "10.0.0.2", port: 80, weight: 1, checkers: 1 }] })
 * Pool.start(pool)
 * Pool.setContribution(pool, 0, 0, 4)
 * console.log(Pool.realServer(pool, 0).weight) // 5
 * ```
 * @since 0.1.0
 */
export const setContribution = (
  pool: Pool,
  index: number,
  checker: number,
  contribution: number
): ReadonlyArray<Action> => {
  const rs = pool.realServers[index]
  if (rs === undefined) return []
  if ((rs.contributions.get(checker) ?? 0) === contribution) return []
  if (contribution === 0) rs.contributions.delete(checker)
  else rs.contributions.set(checker, contribution)
  let w = rs.baseWeight
  for (const c of rs.contributions.values()) w += c
  w = clampWeight(w)
  const out: Array<Action> = []
  if (w === rs.weight) return out
  const old = rs.weight
  rs.weight = w
  if (rs.alive) pool.aliveWeight += w - old
  if (!pool.started) return out
  if (rs.alive && !pool.sorryActive) reconcile(pool, rs, "weight", out)
  else {
    out.push({
      _tag: "Log",
      message: `Changing weight from ${old} to ${w} for inactive service ${rs.label} of VS ${pool.label}`
    })
  }
  updateQuorum(pool, out)
  return out
}

/**
 * Shut the virtual server down: every installed destination (inhibited ones included) is removed; with `omega`
 * the notify_down and quorum_down scripts run for what was up.
 *
 * @example
 * ```ts
 * import { Pool } from "@lvs-ts/checkers"
 * const pool = Pool.make({ address: "192.0.2.1", port: 80, protocol: "tcp",
 *   realServers: [{ address: "10.0.0.2", port: 80, checkers: 1 }] })
 * Pool.start(pool)
 * console.log(Pool.stop(pool).filter((a) => a._tag === "RemoveDestination").length) // 1
 * ```
 * @since 0.1.0
 */
export const stop = (pool: Pool): ReadonlyArray<Action> => {
  const out: Array<Action> = []
  if (!pool.started) return out
  const omega = pool.input.omega ?? false
  for (const rs of pool.realServers) {
    if (rs.installed) {
      out.push({
        _tag: "Log",
        message: rs.inhibit
          ? `Shutting down (inhibited) service ${rs.label} from VS ${pool.label}`
          : `Removing service ${rs.label} from VS ${pool.label}`
      })
      out.push({
        _tag: "RemoveDestination",
        service: pool.label,
        destination: rs.label,
        address: rs.input.address,
        port: rs.input.port,
        sorry: false
      })
      rs.installed = false
      rs.installedWeight = 0
    }
    if (omega && rs.alive && rs.input.notifyDown !== undefined) {
      out.push({ _tag: "RunScript", script: "notify_down", argv: rs.input.notifyDown })
    }
  }
  const s = pool.input.sorryServer
  if (s !== undefined && pool.sorryInstalled) {
    out.push({
      _tag: "RemoveDestination",
      service: pool.label,
      destination: sorryLabel(pool)!,
      address: s.address,
      port: s.port ?? pool.input.port ?? 0,
      sorry: true
    })
    pool.sorryInstalled = false
  }
  if (omega && pool.quorumUp && pool.input.quorumDown !== undefined) {
    out.push({ _tag: "RunScript", script: "quorum_down", argv: pool.input.quorumDown })
  }
  pool.started = false
  pool.quorumUp = false
  pool.sorryActive = false
  return out
}
