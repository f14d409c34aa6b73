/**
 * A Uint8Array stand-in that throws on any index outside `[lo, hi)`, so a test can prove a function never
 * reads or writes outside the region it was given (a plain typed array silently returns `undefined`).
 */
export const guarded = (buf: Uint8Array, lo: number, hi: number): Uint8Array =>
  new Proxy(buf, {
    get(target, key, receiver) {
      if (typeof key === "string" && /^\d+$/.test(key)) {
        const i = Number(key)
        if (i < lo || i >= hi) throw new RangeError(`read at ${i} outside [${lo}, ${hi})`)
        return target[i]
      }
      const v = Reflect.get(target, key, target)
      return typeof v === "function" ? v.bind(target) : v === target ? receiver : v
    },
    set(target, key, value) {
      if (typeof key === "string" && /^\d+$/.test(key)) {
        const i = Number(key)
        if (i < lo || i >= hi) throw new RangeError(`write at ${i} outside [${lo}, ${hi})`)
        target[i] = value
        return true
      }
      return Reflect.set(target, key, value)
    }
  })
