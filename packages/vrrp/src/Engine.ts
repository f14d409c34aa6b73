/**
 * The VRRP state machine of one instance, as keepalived runs it (reference §2.6–§2.8): pure and
 * synchronous. Frames go in ({@link Engine.receive}), time goes in (`now` in microseconds on every
 * call, and {@link Engine.tick} when {@link Engine.nextDeadline} is reached), and {@link Action}s come
 * out for a driver to carry out (the Effect `Router` does it on Effect's Clock).
 *
 * Timers (keepalived `vrrp.h`): skew v2 = (256 − p)/256 s, v3 = (256 − p) × Master_Adver_Interval/256
 * (integer microseconds); Master_Down_Interval = down_timer_adverts × Master_Adver_Interval + skew;
 * v3 backups adopt the master's interval from every accepted advert.
 *
 * @module
 */
import * as Address from "./Address.ts"
import type * as Config from "./Config.ts"
import type * as Datagram from "./Datagram.ts"
import * as Validation from "./Validation.ts"

/**
 * Instance states; STOP is the pseudo state after shutdown (keepalived numbers 0, 1, 2, 3, 98).
 *
 * @example
 * ```ts
 * if (engine.state === "MASTER") console.log("we own the VIPs")
 * ```
 */
export type State = "INIT" | "BACKUP" | "MASTER" | "FAULT" | "STOP"

/**
 * Log levels of engine log lines; `debug` are keepalived's `-D`-only lines.
 *
 * @example
 * ```ts
 * const level: Engine.LogLevel = "debug" // keepalived -D lines
 * ```
 */
export type LogLevel = "debug" | "info" | "warning" | "error"

/**
 * What the driver must do, in order.
 *
 * @example
 * ```ts
 * for (const a of engine.tick(now)) if (a._tag === "Send") transmit(a.priority)
 * ```
 */
export type Action =
  /** Send one advert with this priority (to the group, or to every unicast peer in turn). */
  | { readonly _tag: "Send"; readonly priority: number }
  /** Add the VIPs, eVIPs and virtual routes (entering MASTER). */
  | { readonly _tag: "AddAddresses" }
  /** Remove the VIPs, eVIPs and virtual routes (leaving MASTER). */
  | { readonly _tag: "RemoveAddresses" }
  /** Send `repeat` gratuitous ARPs (IPv4) / unsolicited NAs (IPv6) for each address. */
  | { readonly _tag: "Announce"; readonly addresses: ReadonlyArray<string>; readonly repeat: number }
  /** Run notify scripts / write FIFO lines for a state (or MASTER_RX_LOWER_PRI). */
  | { readonly _tag: "Notify"; readonly event: NotifyEvent; readonly priority: number }
  | { readonly _tag: "Log"; readonly level: LogLevel; readonly message: string }

/**
 * Events reported to notify scripts and FIFOs.
 *
 * @example
 * ```ts
 * const e: Engine.NotifyEvent = "MASTER_RX_LOWER_PRI"
 * ```
 */
export type NotifyEvent =
  | "MASTER"
  | "BACKUP"
  | "FAULT"
  | "STOP"
  | "MASTER_RX_LOWER_PRI"
  /** FIFO only, with `notify_priority_changes`: the effective priority changed while MASTER / BACKUP. */
  | "MASTER_PRIORITY"
  | "BACKUP_PRIORITY"

/**
 * Suffix of fault reasons that only wait for a tracker's first result: an instance held in FAULT for
 * those alone starts silently (no log, no FAULT notify) and later logs "Entering BACKUP STATE".
 *
 * @example
 * ```ts
 * engine.setFault(`script chk ${Engine.WAITING}`, true, now)
 * ```
 */
export const WAITING = "(waiting for first result)"

/** Microseconds per second. */
const S = 1_000_000

/**
 * Hooks a sync group gives its members (reference §2.10).
 *
 * @example
 * ```ts
 * engine.group = { mayBecomeMaster: () => peersWantMaster() }
 * ```
 */
export interface GroupHooks {
  /** Called when this member's down timer expires: may it go MASTER now? */
  readonly mayBecomeMaster: (member: Engine) => boolean
}

/**
 * One VRRP instance's state machine.
 *
 * @example
 * ```ts
 * const e = new Engine.Engine(Config.make({ name: "VI_1", vrid: 51, virtualAddresses: ["10.0.0.1"] }).instance)
 * e.start(0)                 // [Log "(VI_1) Entering BACKUP STATE (init)", Notify BACKUP]
 * e.nextDeadline()           // 3_609_375 µs: Master_Down_Interval at priority 100
 * e.tick(3_609_375)          // [Send 100, AddAddresses, Announce …, Notify MASTER, …]
 * ```
 */
export class Engine {
  readonly instance: Config.Instance
  readonly validator: Validation.Validator
  readonly counters: Validation.Counters
  state: State = "INIT"
  /** Effective priority: base + tracker adjustments, clamped to 1..254 (owners stay 255). */
  priority: number
  /** Master_Adver_Interval in centiseconds (v3 backups adopt the master's). */
  masterAdverInterval: number
  /** Address and priority of the master we last accepted an advert from. */
  masterSource: string | undefined = undefined
  masterPriority = 0
  /** Set while a sync group holds this member in BACKUP although its down timer expired. */
  wantsMaster = false
  group: GroupHooks | undefined = undefined
  private readonly faults = new Set<string>()
  private adjustment = 0
  private downTimer: number | undefined = undefined
  /** The duration the down timer was last armed with (keepalived's stored value, §2.8). */
  private downTimerValue = 0
  private advertTimer: number | undefined = undefined
  private garpTimer: number | undefined = undefined
  private garpRepeat = 0
  private refreshTimer: number | undefined = undefined
  private preemptUntil: number | undefined = undefined
  private loggedLower = false
  private loggedOwner = false
  private ipId = 0

  constructor(instance: Config.Instance) {
    this.instance = instance
    this.counters = Validation.makeCounters()
    this.validator = new Validation.Validator(instance, this.counters)
    this.priority = instance.priority
    this.masterAdverInterval = instance.advertInterval
  }

  /** Whether this instance is the address owner (priority 255). */
  get isOwner(): boolean {
    return this.instance.priority === 255
  }

  /**
   * skew in µs for the current effective priority and Master_Adver_Interval (`minimal` = sync-group
   * start exception: 256 − p taken as 1).
   */
  skew(minimal = false): number {
    const k = minimal ? 1 : 256 - this.priority
    return this.instance.version === 3
      ? Math.floor((k * this.masterAdverInterval * 10_000) / 256)
      : Math.floor((k * S) / 256)
  }

  /** Master_Down_Interval in µs. */
  masterDownInterval(): number {
    return this.instance.downTimerAdverts * this.masterAdverInterval * 10_000 + this.skew()
  }

  /** The next IP identification (per-instance counter from 1, skipping 0 on wrap, like keepalived). */
  nextIpId(): number {
    this.ipId = (this.ipId + 1) & 0xffff
    if (this.ipId === 0) this.ipId = 1
    return this.ipId
  }

  /** The earliest pending timer in µs, or `undefined` when nothing is scheduled. */
  nextDeadline(): number | undefined {
    let d: number | undefined
    for (const t of [this.downTimer, this.advertTimer, this.garpTimer, this.refreshTimer]) {
      if (t !== undefined && (d === undefined || t < d)) d = t
    }
    return d
  }

  /** The pending down timer's expiry (BACKUP), for observation. */
  get downTimerExpiry(): number | undefined {
    return this.downTimer
  }

  /** Whether any fault reason is active. */
  get faulted(): boolean {
    return this.faults.size > 0
  }

  private log(out: Array<Action>, level: LogLevel, text: string): void {
    out.push({ _tag: "Log", level, message: `(${this.instance.name}) ${text}` })
  }

  private armDown(now: number, value: number): void {
    this.downTimerValue = value
    this.downTimer = now + value
  }

  /**
   * Starts the instance (`vrrp_init_state`): FAULT if a fault reason is already set (silently, as
   * 2.2.7 does), MASTER at once for an owner wanting MASTER, else BACKUP with a full down timer.
   */
  start(now: number): Array<Action> {
    const out: Array<Action> = []
    if (this.faulted) {
      this.state = "FAULT"
      // Only waiting for first tracker results: held in FAULT silently, as keepalived 2.2.7 does.
      if ([...this.faults].every((r) => r.endsWith(WAITING))) return out
      this.log(out, "info", "entering FAULT state")
      out.push({ _tag: "Notify", event: "FAULT", priority: this.priority })
      return out
    }
    if (this.instance.wantedState === "MASTER" && this.isOwner) {
      this.becomeMaster(now, out)
      return out
    }
    this.state = "BACKUP"
    // A sync-group member configured MASTER starts with one advert interval + the minimal skew (§2.6).
    const eager = this.group !== undefined && this.instance.wantedState === "MASTER"
    this.armDown(now, eager ? this.masterAdverInterval * 10_000 + this.skew(true) : this.masterDownInterval())
    this.log(out, "info", "Entering BACKUP STATE (init)")
    out.push({ _tag: "Notify", event: "BACKUP", priority: this.priority })
    return out
  }

  /** Processes expired timers at `now`. */
  tick(now: number): Array<Action> {
    const out: Array<Action> = []
    if (this.state === "BACKUP" && this.downTimer !== undefined && this.downTimer <= now) {
      this.log(out, "debug", "Receive advertisement timeout")
      this.downTimer = undefined
      if (this.group !== undefined && !this.group.mayBecomeMaster(this)) {
        // A sync-group member waits with a fresh down timer until every member wants MASTER.
        this.wantsMaster = true
        this.armDown(now, this.masterDownInterval())
      } else {
        this.becomeMaster(now, out)
      }
    }
    if (this.state === "MASTER") {
      if (this.advertTimer !== undefined && this.advertTimer <= now) this.sendAdvert(now, out)
      if (this.garpTimer !== undefined && this.garpTimer <= now) {
        this.garpTimer = undefined
        if (this.garpRepeat > 0) out.push({ _tag: "Announce", addresses: this.announced(), repeat: this.garpRepeat })
      }
      if (this.refreshTimer !== undefined && this.refreshTimer <= now) {
        this.refreshTimer = now + this.instance.garp.masterRefresh * S
        out.push({ _tag: "Announce", addresses: this.announced(), repeat: this.instance.garp.masterRefreshRepeat })
      }
    }
    return out
  }

  private announced(): Array<string> {
    return [...this.instance.virtualAddresses, ...this.instance.excludedAddresses]
  }

  private sendAdvert(now: number, out: Array<Action>): void {
    out.push({ _tag: "Send", priority: this.priority })
    this.counters.advertSent++
    this.advertTimer = now + this.instance.advertInterval * 10_000
  }

  /** BACKUP → MASTER (or INIT/FAULT → MASTER for an owner): advert first, then VIPs, GARPs, notify. */
  becomeMaster(now: number, out: Array<Action>): void {
    this.state = "MASTER"
    this.wantsMaster = false
    this.downTimer = undefined
    this.preemptUntil = undefined
    this.counters.becomeMaster++
    this.validator.clearLogFlags()
    this.loggedLower = false
    this.log(out, "info", "Entering MASTER STATE")
    this.sendAdvert(now, out)
    this.log(out, "debug", "setting VIPs.")
    out.push({ _tag: "AddAddresses" })
    const g = this.instance.garp
    out.push({ _tag: "Announce", addresses: this.announced(), repeat: g.masterRepeat })
    this.garpRepeat = g.masterRepeat
    this.garpTimer = g.masterDelay > 0 ? now + g.masterDelay * S : undefined
    this.refreshTimer = g.masterRefresh > 0 ? now + g.masterRefresh * S : undefined
    out.push({ _tag: "Notify", event: "MASTER", priority: this.priority })
  }

  /** MASTER → BACKUP: VIPs removed, down timer armed. */
  private becomeBackup(now: number, out: Array<Action>, log = true): void {
    const wasMaster = this.state === "MASTER"
    this.state = "BACKUP"
    this.advertTimer = undefined
    this.garpTimer = undefined
    this.refreshTimer = undefined
    this.preemptUntil = undefined
    this.loggedLower = false
    if (log) this.log(out, "info", "Entering BACKUP STATE")
    if (wasMaster) {
      this.counters.releaseMaster++
      this.validator.clearLogFlags()
      this.log(out, "debug", "removing VIPs.")
      out.push({ _tag: "RemoveAddresses" })
    }
    this.armDown(now, this.masterDownInterval())
    out.push({ _tag: "Notify", event: "BACKUP", priority: this.priority })
  }

  /** The address the equal-priority tie-break compares with the advert's source. */
  private localAddress(): string | undefined {
    return this.instance.sourceAddress ?? this.instance.primaryAddress
  }

  /**
   * Handles a received datagram at `now`: validation in keepalived's order (bad adverts never change
   * state: they are counted and logged once per cause), then the transition rules of §2.6–§2.7.
   */
  receive(received: Datagram.Received, now: number): Array<Action> {
    const out: Array<Action> = []
    // Instances in FAULT or INIT (and stopped ones) silently ignore adverts (dispatcher step 4).
    if (this.state !== "BACKUP" && this.state !== "MASTER") return out
    const verdict = this.validator.check(received, {
      isBackup: this.state === "BACKUP",
      masterSource: this.masterSource
    })
    for (const m of verdict.log) out.push({ _tag: "Log", level: "warning", message: m })
    if (verdict._tag !== "Ok") return out
    const advert = verdict.advert
    const from = verdict.source
    const prio = advert.priority
    if (this.state === "BACKUP") this.backupReceive(from, prio, advert.interval, now, out)
    else this.masterReceive(from, prio, advert.interval, now, out)
    return out
  }

  private backupReceive(from: string, prio: number, interval: number, now: number, out: Array<Action>): void {
    if (prio === 0) {
      this.log(out, "debug", "Backup received priority 0 advertisement")
      this.armDown(now, this.skew())
      return
    }
    const preemptible = !this.instance.nopreempt && prio < this.priority
    if (preemptible && this.instance.preemptDelay > 0) {
      if (this.preemptUntil === undefined) this.preemptUntil = now + this.instance.preemptDelay * S
    }
    const delaying = this.preemptUntil !== undefined && now < this.preemptUntil
    if (preemptible && !delaying) {
      if (!this.loggedLower) {
        this.loggedLower = true
        this.log(out, "info", `received lower priority (${prio}) advert from ${from} - discarding`)
      }
      return
    }
    if (prio >= this.priority) this.preemptUntil = undefined
    // Accept: a new master clears the rate-limit flags; v3 adopts the master's interval.
    if (this.masterSource !== undefined && this.masterSource !== from) {
      this.validator.clearLogFlags()
      this.loggedLower = false
    }
    this.masterSource = from
    this.masterPriority = prio
    this.wantsMaster = false
    if (this.instance.version === 3) this.masterAdverInterval = interval
    this.armDown(now, this.masterDownInterval())
  }

  private masterReceive(from: string, prio: number, interval: number, now: number, out: Array<Action>): void {
    if (prio === 0) {
      this.log(out, "debug", "Master received priority 0 message")
      this.sendAdvert(now, out)
      return
    }
    const local = this.localAddress()
    if (prio === this.priority && local !== undefined && Address.compare(from, local) === 0) {
      this.log(out, "warning", "WARNING - equal priority advert received from remote host with our IP address.")
      return
    }
    const higherIp = local === undefined || Address.compare(from, local) > 0
    if (prio > this.priority || (prio === this.priority && higherIp)) {
      if (prio === 255 && this.isOwner) {
        this.log(
          out,
          "error",
          `CONFIGURATION ERROR: local instance and ${from} are both configured as address owner, please resolve`
        )
      }
      this.log(
        out,
        "info",
        prio > this.priority
          ? `Master received advert from ${from} with higher priority ${prio}, ours ${this.priority}`
          : `Master received advert from ${from} with same priority ${prio} but higher IP address than ours`
      )
      if (this.instance.higherPrioSendAdvert) this.sendAdvert(now, out)
      this.masterSource = from
      this.masterPriority = prio
      if (this.instance.version === 3) this.masterAdverInterval = interval
      this.becomeBackup(now, out)
      return
    }
    // A lower priority (or equal from a lower address): re-assert at once (RFC 9568), re-announce.
    if (prio === 255 && this.isOwner && !this.loggedOwner) {
      // HEAD: the higher-address owner logs the conflict once and stays MASTER.
      this.loggedOwner = true
      this.log(
        out,
        "error",
        `CONFIGURATION ERROR: local instance and ${from} are both configured as address owner, please resolve`
      )
    }
    const force = !this.instance.lowerPrioNoAdvert
    this.log(
      out,
      "info",
      `Received advert from ${from} with lower priority ${prio}, ours ${this.priority}${force ? ", forcing new election" : ""}`
    )
    if (force) this.sendAdvert(now, out)
    const g = this.instance.garp
    if (g.lowerPrioRepeat > 0) {
      out.push({ _tag: "Announce", addresses: this.announced(), repeat: g.lowerPrioRepeat })
      if (g.lowerPrioDelay > 0) {
        this.garpRepeat = g.lowerPrioRepeat
        this.garpTimer = now + g.lowerPrioDelay * S
      }
    }
    out.push({ _tag: "Notify", event: "MASTER_RX_LOWER_PRI", priority: this.priority })
  }

  /**
   * Sets or clears a fault reason (an unweighted tracker failed, the interface went down, …). Entering
   * FAULT from MASTER sends two priority-0 adverts back to back and removes the VIPs; leaving FAULT
   * (when no reason is left) goes to BACKUP, or MASTER for an owner wanting MASTER.
   */
  setFault(reason: string, faulted: boolean, now: number): Array<Action> {
    const out: Array<Action> = []
    const before = this.faulted
    if (faulted) this.faults.add(reason)
    else this.faults.delete(reason)
    if (this.state === "INIT" || this.state === "STOP" || before === this.faulted) return out
    if (this.faulted) this.enterFault(reason, out)
    else this.leaveFault(now, out)
    return out
  }

  /** Forces FAULT (sync groups): same effects as a fault reason, without recording one. */
  enterFault(reason: string, out: Array<Action>): void {
    if (this.state === "FAULT") return
    const wasMaster = this.state === "MASTER"
    this.state = "FAULT"
    this.log(out, "info", "Entering FAULT STATE")
    this.log(out, "debug", `fault reason: ${reason}`)
    this.downTimer = undefined
    this.advertTimer = undefined
    this.garpTimer = undefined
    this.refreshTimer = undefined
    this.preemptUntil = undefined
    this.wantsMaster = false
    if (wasMaster) {
      // One priority-0 advert from the FAULT transition and one from the release path (observed on 2.2.7).
      out.push({ _tag: "Send", priority: 0 })
      out.push({ _tag: "Send", priority: 0 })
      this.counters.advertSent += 2
      this.counters.priZeroSent++
      this.counters.releaseMaster++
      this.validator.clearLogFlags()
      this.log(out, "debug", "sent 0 priority")
      this.log(out, "debug", "removing VIPs.")
      out.push({ _tag: "RemoveAddresses" })
    }
    out.push({ _tag: "Notify", event: "FAULT", priority: this.priority })
  }

  /** Leaves FAULT (or a forced FAULT): Master_Adver_Interval is reset to the local value. */
  leaveFault(now: number, out: Array<Action>): void {
    if (this.state !== "FAULT" || this.faulted) return
    this.masterAdverInterval = this.instance.advertInterval
    if (this.instance.wantedState === "MASTER" && this.isOwner) {
      this.becomeMaster(now, out)
      return
    }
    this.state = "BACKUP"
    this.log(out, "info", "Entering BACKUP STATE")
    this.armDown(now, this.masterDownInterval())
    // A unicast instance announces its own address so the master refreshes its neighbour cache.
    const src = this.instance.sourceAddress
    if (this.instance.unicastPeers.length > 0 && src !== undefined)
      out.push({ _tag: "Announce", addresses: [src], repeat: 1 })
    out.push({ _tag: "Notify", event: "BACKUP", priority: this.priority })
  }

  /** Forces this member to BACKUP (sync group "Syncing instances to BACKUP state"). */
  forceBackup(now: number, out: Array<Action>): void {
    if (this.state === "MASTER") this.becomeBackup(now, out)
    else if (this.state === "BACKUP") this.wantsMaster = false
  }

  /** Forces this member to MASTER (sync group: when one member goes MASTER, all do). */
  forceMaster(now: number, out: Array<Action>): void {
    if (this.state === "BACKUP") this.becomeMaster(now, out)
  }

  /**
   * Sets the sum of tracker adjustments. The effective priority is clamped to 1..254 (owners never
   * move); in BACKUP the down timer is moved by (new Master_Down_Interval − stored value), §2.8.
   */
  setAdjustment(total: number, _now: number): Array<Action> {
    const out: Array<Action> = []
    this.adjustment = total
    if (this.isOwner) return out
    const next = Math.min(254, Math.max(1, this.instance.priority + total))
    if (next === this.priority) return out
    this.log(out, "info", `Changing effective priority from ${this.priority} to ${next}`)
    this.priority = next
    if (this.instance.notify.priorityChanges === true && (this.state === "MASTER" || this.state === "BACKUP"))
      out.push({
        _tag: "Notify",
        event: this.state === "MASTER" ? "MASTER_PRIORITY" : "BACKUP_PRIORITY",
        priority: next
      })
    if (this.state === "BACKUP" && this.downTimer !== undefined) {
      const mdi = this.masterDownInterval()
      this.downTimer += mdi - this.downTimerValue
      this.downTimerValue = mdi
    }
    return out
  }

  /** The current sum of tracker adjustments. */
  get trackerAdjustment(): number {
    return this.adjustment
  }

  /**
   * Stops the instance (SIGTERM): a MASTER sends one priority-0 advert and removes its VIPs; every
   * instance reports STOP.
   */
  stop(_now: number): Array<Action> {
    const out: Array<Action> = []
    if (this.state === "STOP") return out
    if (this.state === "MASTER") {
      out.push({ _tag: "Send", priority: 0 })
      this.counters.advertSent++
      this.counters.priZeroSent++
      this.log(out, "debug", "sent 0 priority")
      this.log(out, "debug", "removing VIPs.")
      out.push({ _tag: "RemoveAddresses" })
    }
    this.state = "STOP"
    this.downTimer = undefined
    this.advertTimer = undefined
    this.garpTimer = undefined
    this.refreshTimer = undefined
    out.push({ _tag: "Notify", event: "STOP", priority: this.priority })
    return out
  }
}
