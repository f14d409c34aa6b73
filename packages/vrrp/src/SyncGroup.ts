/**
 * Sync groups (`vrrp_sync_group`, reference §2.10): members move together. A member may go MASTER only
 * when every other member also wants MASTER (otherwise it waits with a fresh down timer); when one goes
 * MASTER the others follow; when one leaves MASTER for BACKUP the others are forced to BACKUP
 * ("VRRP_Group(G) Syncing instances to BACKUP state"); when one goes FAULT all go FAULT, and they leave
 * it together. Group notifications use `GROUP` and priority 0.
 *
 * @module
 */
import type * as Config from "./Config.ts"
import type * as Engine from "./Engine.ts"

/**
 * A sync group definition.
 *
 * @example
 * ```ts
 * const g: SyncGroup.Definition = { name: "G1", members: ["VI_1", "VI_2"] }
 * ```
 */
export interface Definition {
  readonly name: string
  /** Member instance names. */
  readonly members: ReadonlyArray<string>
  readonly notify?: Config.Notify | undefined
}

/**
 * An action produced by group synchronisation, tagged with the engine it concerns (or the group).
 *
 * @example
 * ```ts
 * for (const o of group.synchronise(now)) run(o.engine, o.actions)
 * ```
 */
export interface GroupOutput {
  readonly engine: Engine.Engine | undefined
  readonly actions: ReadonlyArray<Engine.Action>
}

/**
 * The group state reported in notifications.
 *
 * @example
 * ```ts
 * if (group.state === "FAULT") console.log("a member is down")
 * ```
 */
export type GroupState = "MASTER" | "BACKUP" | "FAULT" | "STOP"

/**
 * Coordinates the engines of one sync group.
 *
 * @example
 * ```ts
 * const g = new SyncGroup.SyncGroup({ name: "G1", members: ["VI_1", "VI_2"] }, [e1, e2])
 * // after every engine call: for (const o of g.synchronise(now)) run(o.engine, o.actions)
 * ```
 */
export class SyncGroup {
  readonly definition: Definition
  readonly members: ReadonlyArray<Engine.Engine>
  state: GroupState | undefined = undefined
  private readonly seen = new Map<Engine.Engine, Engine.State>()

  constructor(definition: Definition, members: ReadonlyArray<Engine.Engine>) {
    this.definition = definition
    this.members = members
    const hooks: Engine.GroupHooks = {
      mayBecomeMaster: (member) =>
        this.members.every((m) => m === member || m.state === "MASTER" || (m.state === "BACKUP" && m.wantsMaster))
    }
    for (const m of members) {
      m.group = hooks
      this.seen.set(m, m.state)
    }
  }

  /**
   * Propagates member transitions since the last call; returns the extra actions per engine and the
   * group's own log and notify actions (engine `undefined`).
   */
  synchronise(now: number): Array<GroupOutput> {
    const out: Array<GroupOutput> = []
    // Repeat until stable: a forced move is itself a transition the others may need to follow.
    for (let round = 0; round < 4; round++) {
      let moved: { engine: Engine.Engine; from: Engine.State; to: Engine.State } | undefined
      for (const m of this.members) {
        const before = this.seen.get(m)!
        if (before !== m.state) {
          moved = { engine: m, from: before, to: m.state }
          break
        }
      }
      if (moved === undefined) break
      for (const m of this.members) this.seen.set(m, m.state)
      const others = this.members.filter((m) => m !== moved.engine)
      const name = this.definition.name
      if (moved.to === "MASTER") {
        for (const m of others) {
          const a: Array<Engine.Action> = []
          m.forceMaster(now, a)
          if (a.length > 0) out.push({ engine: m, actions: a })
        }
      } else if (moved.to === "BACKUP" && moved.from === "MASTER") {
        out.push({
          engine: undefined,
          actions: [{ _tag: "Log", level: "info", message: `VRRP_Group(${name}) Syncing instances to BACKUP state` }]
        })
        for (const m of others) {
          const a: Array<Engine.Action> = []
          m.forceBackup(now, a)
          if (a.length > 0) out.push({ engine: m, actions: a })
        }
      } else if (moved.to === "FAULT") {
        for (const m of others) {
          const a: Array<Engine.Action> = []
          m.enterFault(`sync group ${name}`, a)
          if (a.length > 0) out.push({ engine: m, actions: a })
        }
      } else if (moved.from === "FAULT" && this.members.every((m) => !m.faulted)) {
        for (const m of others) {
          const a: Array<Engine.Action> = []
          m.leaveFault(now, a)
          if (a.length > 0) out.push({ engine: m, actions: a })
        }
      }
      for (const m of this.members) this.seen.set(m, m.state)
    }
    const next = this.groupState()
    if (next !== undefined && next !== this.state) {
      this.state = next
      out.push({
        engine: undefined,
        actions: [{ _tag: "Notify", event: next, priority: 0 }]
      })
    }
    return out
  }

  /** The group's state once all members agree. */
  private groupState(): GroupState | undefined {
    const s = this.members[0]?.state
    if (s === undefined || s === "INIT") return undefined
    if (this.members.some((m) => m.state === "FAULT")) return "FAULT"
    return this.members.every((m) => m.state === s) ? (s as GroupState) : undefined
  }
}
