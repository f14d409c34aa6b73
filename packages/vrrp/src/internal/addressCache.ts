/**
 * Parsed-address cache for the advert path: the same few addresses (group, peers, VIPs, sources) are
 * parsed on every advert, so keep their bytes. The arrays are shared: callers only read them.
 */
import * as Address from "../Address.ts"

const cache = new Map<string, Uint8Array | undefined>()
const MAX = 4096

/** `Address.parse` with a bounded cache; never mutate the result. */
export const parse = (family: Address.Family, text: string): Uint8Array | undefined => {
  const key = family === "ipv4" ? text : `6${text}`
  if (cache.has(key)) return cache.get(key)
  const v = Address.parse(family, text)
  if (cache.size >= MAX) cache.clear()
  cache.set(key, v)
  return v
}
