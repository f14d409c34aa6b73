/**
 * Optional flap damping for real servers (beyond keepalived): a server that goes down `threshold` times within
 * `windowMs` is held out of the pool for a hold-down that doubles on every further flap (exponential back-off,
 * capped at `maxHoldMs`), and resets after a quiet `windowMs`.
 *
 * Why: keepalived re-adds a server on its first successful check, so a server that fails every few checks is
 * added and removed in a loop (issues #2469, #871), churning connections. The state and the time of the next
 * release are visible in the health checker's snapshot.
 *
 * Pure and clock-free: the caller passes `now` (Effect's Clock in the health checker, so TestClock drives it).
 *
 * @since 0.1.0
 */

/**
 * Damper parameters.
 *
 * @example
 * ```ts
 * import type { FlapDamper } from "@lvs-ts/checkers"
 * const o: FlapDamper.Options = { threshold: 3, windowMs: 60000, holdMs: 30000, maxHoldMs: 900000 }
 * ```
 * @since 0.1.0
 */
export interface Options {
  /** Down transitions within `windowMs` that trigger a hold-down (default 3). */
  readonly threshold?: number | undefined
  readonly windowMs?: number | undefined
  /** First hold-down (default 30 s); doubles per further flap. */
  readonly holdMs?: number | undefined
  readonly maxHoldMs?: number | undefined
}

/**
 * Damper state of one real server.
 *
 * @example
 * ```ts
 * import { FlapDamper } from "@lvs-ts/checkers"
 * console.log(FlapDamper.initial.held) // false
 * ```
 * @since 0.1.0
 */
export interface State {
  /** Times of recent down transitions (within the window). */
  readonly downs: ReadonlyArray<number>
  readonly held: boolean
  /** When the current hold-down ends (ms on the checker's clock), or 0. */
  readonly holdUntil: number
  /** Number of hold-downs in the current flapping episode (the back-off exponent). */
  readonly level: number
}

/**
 * A server that never flapped.
 *
 * @example
 * ```ts
 * import { FlapDamper } from "@lvs-ts/checkers"
 * const s: FlapDamper.State = FlapDamper.initial
 * ```
 * @since 0.1.0
 */
export const initial: State = { downs: [], held: false, holdUntil: 0, level: 0 }

const defaults = (o: Options) => ({
  threshold: o.threshold ?? 3,
  windowMs: o.windowMs ?? 60_000,
  holdMs: o.holdMs ?? 30_000,
  maxHoldMs: o.maxHoldMs ?? 900_000
})

/**
 * Record that the server went down at `now`. Returns the new state and, when a hold-down starts, its length.
 *
 * @example
 * ```ts
 * import { FlapDamper } from "@lvs-ts/checkers"
 * const o = { threshold: 2, windowMs: 60000, holdMs: 1000 }
 * let s = FlapDamper.onDown(FlapDamper.initial, 0, o).state
 * const r = FlapDamper.onDown(s, 10, o)
 * console.log(r.holdMs, r.state.holdUntil) // 1000 1010
 * ```
 * @since 0.1.0
 */
export const onDown = (
  state: State,
  now: number,
  options: Options
): { readonly state: State; readonly holdMs: number | undefined } => {
  const o = defaults(options)
  const recent = state.downs.filter((t) => now - t < o.windowMs)
  // A quiet window since the last flap ends the episode: back-off starts again from holdMs.
  const level = recent.length === 0 && !state.held ? 0 : state.level
  const downs = [...recent, now]
  if (downs.length >= o.threshold || (level > 0 && !state.held)) {
    const holdMs = Math.min(o.holdMs * 2 ** level, o.maxHoldMs)
    return { state: { downs, held: true, holdUntil: now + holdMs, level: level + 1 }, holdMs }
  }
  return { state: { downs, held: state.held, holdUntil: state.holdUntil, level }, holdMs: undefined }
}

/**
 * End the hold-down if `now` has reached `holdUntil`.
 *
 * @example
 * ```ts
 * import { FlapDamper } from "@lvs-ts/checkers"
 * const s = { downs: [0], held: true, holdUntil: 1000, level: 1 }
 * console.log(FlapDamper.release(s, 1000).held) // false
 * ```
 * @since 0.1.0
 */
export const release = (state: State, now: number): State =>
  state.held && now >= state.holdUntil ? { ...state, held: false } : state
