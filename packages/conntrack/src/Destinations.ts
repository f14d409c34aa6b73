/**
 * How the connection table talks to destinations (real servers), identified by small integer ids (0..65534).
 *
 * The table reports every change of a destination's activeconns / inactconns / persistconns synchronously, exactly
 * where ip_vs_bind_dest, ip_vs_unbind_dest and the protocols' state handlers change them, so the director can feed
 * the schedulers' counters (which also apply the OVERLOAD thresholds on bind/unbind). It asks for availability and
 * weight to apply expire_nodest_conn, expire_quiescent_template and template validity.
 *
 * @module
 */

/**
 * The id meaning "no destination" (an entry that is not bound).
 *
 * @example
 * ```ts
 * if (table.destination(entry) === Destinations.NONE) { ... }
 * ```
 */
export const NONE = 0xffff

/**
 * Receives per-destination accounting changes. Calls are synchronous and must not call back into the table.
 *
 * @example
 * ```ts
 * const log: Destinations.DestinationAccounting = {
 *   connectionBound: (d, active) => console.log("bind", d, active),
 *   connectionUnbound: (d, active) => console.log("unbind", d, active),
 *   connectionActivated: (d) => console.log("inactive -> active", d),
 *   connectionDeactivated: (d) => console.log("active -> inactive", d),
 *   templateBound: (d) => console.log("persistconns++", d),
 *   templateUnbound: (d) => console.log("persistconns--", d)
 * }
 * ```
 */
export interface DestinationAccounting {
  /** A connection was bound: activeconns++ when `active`, else inactconns++ (then check the upper threshold). */
  connectionBound(destination: number, active: boolean): void
  /** A connection was unbound (expired, dropped): activeconns-- or inactconns-- (then check the lower threshold). */
  connectionUnbound(destination: number, active: boolean): void
  /** inactconns-- and activeconns++ (state change into an active state). */
  connectionActivated(destination: number): void
  /** activeconns-- and inactconns++ (state change into an inactive state). */
  connectionDeactivated(destination: number): void
  /** A persistence template was bound: persistconns++. */
  templateBound(destination: number): void
  /** A persistence template went away: persistconns--. */
  templateUnbound(destination: number): void
}

/**
 * Destination facts the table needs for the behaviour switches.
 *
 * @example
 * ```ts
 * const status: Destinations.DestinationStatus = { isAvailable: () => true, weight: () => 1 }
 * ```
 */
export interface DestinationStatus {
  /** IP_VS_DEST_F_AVAILABLE: false once the destination was deleted (it may still be referenced). */
  isAvailable(destination: number): boolean
  /** Current weight; 0 = quiesced. */
  weight(destination: number): number
}

/**
 * Both halves, what {@link ConnectionTable.make} takes.
 *
 * @example
 * ```ts
 * const destinations: Destinations.Destinations = Destinations.makeCounters(16)
 * ```
 */
export interface Destinations extends DestinationAccounting, DestinationStatus {}

/**
 * A ready implementation keeping the kernel's three counters, availability and weight per destination id in typed
 * arrays. The director may use it directly or forward the calls to its scheduler's destination objects.
 *
 * @example
 * ```ts
 * const counters = Destinations.makeCounters(256)
 * counters.setWeight(3, 0) // quiesce destination 3
 * counters.active[3] // activeconns of destination 3
 * ```
 */
export class DestinationCounters implements Destinations {
  readonly active: Int32Array
  readonly inactive: Int32Array
  readonly persistent: Int32Array
  readonly weights: Int32Array
  readonly available: Uint8Array

  constructor(count: number) {
    if (!Number.isInteger(count) || count < 1 || count > NONE) {
      throw new RangeError(`Destinations.makeCounters: count ${count} is outside 1..${NONE}`)
    }
    this.active = new Int32Array(count)
    this.inactive = new Int32Array(count)
    this.persistent = new Int32Array(count)
    this.weights = new Int32Array(count).fill(1)
    this.available = new Uint8Array(count).fill(1)
  }
  connectionBound(destination: number, active: boolean): void {
    if (active) this.active[destination]!++
    else this.inactive[destination]!++
  }
  connectionUnbound(destination: number, active: boolean): void {
    if (active) this.active[destination]!--
    else this.inactive[destination]!--
  }
  connectionActivated(destination: number): void {
    this.inactive[destination]!--
    this.active[destination]!++
  }
  connectionDeactivated(destination: number): void {
    this.active[destination]!--
    this.inactive[destination]!++
  }
  templateBound(destination: number): void {
    this.persistent[destination]!++
  }
  templateUnbound(destination: number): void {
    this.persistent[destination]!--
  }
  isAvailable(destination: number): boolean {
    return this.available[destination] === 1
  }
  weight(destination: number): number {
    return this.weights[destination] ?? 0
  }
  /** Sets a weight (0 quiesces). */
  setWeight(destination: number, weight: number): void {
    this.weights[destination] = weight
  }
  /** Marks a destination deleted (not AVAILABLE) or revived. */
  setAvailable(destination: number, available: boolean): void {
    this.available[destination] = available ? 1 : 0
  }
}

/**
 * Counters for destination ids 0..count-1, all weight 1 and available.
 *
 * @example
 * ```ts
 * const counters = Destinations.makeCounters(16)
 * ```
 */
export const makeCounters = (count: number): DestinationCounters => new DestinationCounters(count)
