import * as Effect from "effect/Effect"

interface Waiter {
  resume: (() => void) | undefined
}

/**
 * A FIFO permit gate with O(1) take and release. Effect's Semaphore copies its whole waiter set on every
 * release, which melts down with tens of thousands of queued checks; this one hands a released permit straight
 * to the oldest waiter.
 */
export interface Gate {
  /** Take a permit if one is free, synchronously (the common case: no Effect to run). */
  readonly tryTake: () => boolean
  readonly take: Effect.Effect<void>
  readonly release: () => void
}

export const make = (permits: number): Gate => {
  let free = permits
  let queue: Array<Waiter | undefined> = []
  let head = 0
  const take = Effect.callback<void>((resume) => {
    if (free > 0) {
      free--
      resume(Effect.void)
      return
    }
    const waiter: Waiter = { resume: () => resume(Effect.void) }
    queue.push(waiter)
    return Effect.sync(() => {
      waiter.resume = undefined
    })
  })
  const tryTake = () => {
    if (free > 0 && head >= queue.length) {
      free--
      return true
    }
    return false
  }
  const release = () => {
    while (head < queue.length) {
      const w = queue[head]
      queue[head++] = undefined
      if (head > 1024 && head * 2 > queue.length) {
        queue = queue.slice(head)
        head = 0
      }
      if (w?.resume !== undefined) {
        const r = w.resume
        w.resume = undefined
        r()
        return
      }
    }
    free++
  }
  return { tryTake, take, release }
}
