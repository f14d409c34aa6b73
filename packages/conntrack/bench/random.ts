/**
 * A xorshift32 stream: the benches' deterministic keys. Each stream has its own state, so one bench's draws (the
 * machine's pointer-chase shuffle, say) never shift another's key sequence.
 */
export const xorshift32 = (seed: number): (() => number) => {
  let s = seed | 0
  return () => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return s >>> 0
  }
}
