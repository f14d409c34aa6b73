/**
 * A binary min-heap of objects ordered by a numeric key read at push time and kept in a parallel
 * `Float64Array` (the engine-driven checkers' timer queue: O(log n) push / pop, no allocation per operation
 * once grown).
 *
 * @internal
 */
export interface Heap<A> {
  items: Array<A | undefined>
  keys: Float64Array
  size: number
  readonly key: (a: A) => number
}

export const make = <A>(key: (a: A) => number): Heap<A> => ({ items: [], keys: new Float64Array(1024), size: 0, key })

export const peek = <A>(h: Heap<A>): A | undefined => (h.size > 0 ? h.items[0] : undefined)

export const push = <A>(h: Heap<A>, a: A): void => {
  if (h.size === h.keys.length) {
    const keys = new Float64Array(h.keys.length * 2)
    keys.set(h.keys)
    h.keys = keys
  }
  const k = h.key(a)
  let i = h.size++
  while (i > 0) {
    const parent = (i - 1) >> 1
    if (h.keys[parent]! <= k) break
    h.items[i] = h.items[parent]
    h.keys[i] = h.keys[parent]!
    i = parent
  }
  h.items[i] = a
  h.keys[i] = k
}

export const pop = <A>(h: Heap<A>): A | undefined => {
  if (h.size === 0) return undefined
  const top = h.items[0]
  const n = --h.size
  const last = h.items[n]!
  const k = h.keys[n]!
  h.items[n] = undefined
  if (n > 0) {
    let i = 0
    for (;;) {
      let child = 2 * i + 1
      if (child >= n) break
      if (child + 1 < n && h.keys[child + 1]! < h.keys[child]!) child++
      if (h.keys[child]! >= k) break
      h.items[i] = h.items[child]
      h.keys[i] = h.keys[child]!
      i = child
    }
    h.items[i] = last
    h.keys[i] = k
  }
  return top
}
