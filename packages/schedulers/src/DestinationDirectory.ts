/**
 * Small integer ids for destinations, and the connection table's accounting callbacks keyed by those ids.
 *
 * `@lvs-ts/conntrack` (which must not depend on this package) identifies destinations by ids 0..65534 and reports
 * `ip_vs_bind_dest` / `ip_vs_unbind_dest` / state-handler counter moves through callbacks named
 * `connectionBound`, `connectionUnbound`, `connectionActivated`, `connectionDeactivated`, `templateBound`,
 * `templateUnbound`, and asks `isAvailable` / `weight`. This class has exactly those methods (structural typing),
 * so a director passes it to the table as is and every change reaches the destination and its scheduler.
 *
 * @module
 */
import { ConnectionKind, type Destination, DestinationFlags } from "./Destination.ts"

/** The largest id (0xFFFF is conntrack's "no destination"). */
const MAX_ID = 0xfffe

/**
 * Destination <-> id mapping plus id-keyed counter updates (allocation-free per call).
 *
 * @example
 * ```ts
 * const directory = new DestinationDirectory()
 * const id = directory.register(dest)          // store `id` in the connection entry
 * directory.connectionBound(id, false)         // what the table calls on ip_vs_bind_dest (INACTIVE entry)
 * const table = ConnectionTable.make({ destinations: directory, ... }) // in the director
 * ```
 */
export class DestinationDirectory {
  private readonly byId: Array<Destination | undefined> = []
  private readonly ids = new Map<Destination, number>()
  private readonly freeIds: Array<number> = []

  /**
   * The id of `dest`, assigning the lowest free one on first use. Throws when all 65535 ids are in use.
   *
   * @example
   * ```ts
   * directory.register(dest) // 0
   * ```
   */
  register(dest: Destination): number {
    const known = this.ids.get(dest)
    if (known !== undefined) return known
    let id = this.freeIds.pop()
    if (id === undefined) {
      id = this.byId.length
      if (id > MAX_ID) throw new Error(`DestinationDirectory.register ${dest}: all ${MAX_ID + 1} ids are in use`)
      this.byId.push(undefined)
    }
    this.byId[id] = dest
    this.ids.set(dest, id)
    return id
  }

  /**
   * Releases a destination's id; call it only once no connection entry refers to the id any more (the kernel
   * frees a trashed destination when its refcount drops).
   *
   * @example
   * ```ts
   * directory.unregister(dest)
   * ```
   */
  unregister(dest: Destination): void {
    const id = this.ids.get(dest)
    if (id === undefined) return
    this.ids.delete(dest)
    this.byId[id] = undefined
    this.freeIds.push(id)
  }

  /**
   * The destination with id `id`, or undefined.
   *
   * @example
   * ```ts
   * directory.get(0)?.toString()
   * ```
   */
  get(id: number): Destination | undefined {
    return this.byId[id]
  }

  /**
   * The id of a registered destination, or -1.
   *
   * @example
   * ```ts
   * directory.idOf(dest)
   * ```
   */
  idOf(dest: Destination): number {
    return this.ids.get(dest) ?? -1
  }

  /**
   * `ip_vs_bind_dest` of a normal connection: active or inactive counter, then the upper threshold.
   *
   * @example
   * ```ts
   * directory.connectionBound(id, true)
   * ```
   */
  connectionBound(id: number, active: boolean): void {
    this.byId[id]?.bind(active ? ConnectionKind.Active : ConnectionKind.Inactive)
  }

  /**
   * `ip_vs_unbind_dest` of a normal connection: active or inactive counter, then the lower threshold.
   *
   * @example
   * ```ts
   * directory.connectionUnbound(id, false)
   * ```
   */
  connectionUnbound(id: number, active: boolean): void {
    this.byId[id]?.unbind(active ? ConnectionKind.Active : ConnectionKind.Inactive)
  }

  /**
   * A connection entered an active state: inactive--, active++.
   *
   * @example
   * ```ts
   * directory.connectionActivated(id)
   * ```
   */
  connectionActivated(id: number): void {
    this.byId[id]?.inactiveToActive()
  }

  /**
   * A connection left an active state: active--, inactive++.
   *
   * @example
   * ```ts
   * directory.connectionDeactivated(id)
   * ```
   */
  connectionDeactivated(id: number): void {
    this.byId[id]?.activeToInactive()
  }

  /**
   * A persistence template was bound: persistent++ (and the upper-threshold check, as in the kernel).
   *
   * @example
   * ```ts
   * directory.templateBound(id)
   * ```
   */
  templateBound(id: number): void {
    this.byId[id]?.bind(ConnectionKind.Template)
  }

  /**
   * A persistence template went away: persistent-- (and the lower-threshold rule).
   *
   * @example
   * ```ts
   * directory.templateUnbound(id)
   * ```
   */
  templateUnbound(id: number): void {
    this.byId[id]?.unbind(ConnectionKind.Template)
  }

  /**
   * IP_VS_DEST_F_AVAILABLE of the destination (false for unknown ids and removed destinations).
   *
   * @example
   * ```ts
   * directory.isAvailable(id)
   * ```
   */
  isAvailable(id: number): boolean {
    const d = this.byId[id]
    return d !== undefined && (d.flags & DestinationFlags.Available) !== 0
  }

  /**
   * The destination's current weight (0 for unknown ids).
   *
   * @example
   * ```ts
   * directory.weight(id) === 0 // quiesced
   * ```
   */
  weight(id: number): number {
    return this.byId[id]?.weight ?? 0
  }
}
