/**
 * Receive validation of adverts in keepalived's order, with its counters and log texts (reference §2.5,
 * `vrrp_check_packet` at HEAD 2.4.3), and RFC 9568 rate-limited logging: each cause is logged once until
 * the flags are cleared (on entering MASTER, on leaving MASTER, and in BACKUP when an advert from a
 * different master is accepted).
 *
 * Verdicts: `Ok` (a valid advert for the state machine), `Invalid` (keepalived's KO: counted as an
 * error) and `Drop` (keepalived's DROP: irrelevant). Invalid and Drop have the same effect on the
 * state machine — none: a BACKUP keeps its running down timer.
 *
 * Differences from keepalived: `auth_hmac` is not implemented, AH is refused at config time (so an AH
 * header is always "Received AH header but auth type not AH"), and keepalived ≤1.3.6's old unicast
 * checksum auto-detection is not offered.
 *
 * @module
 */
import * as Address from "./Address.ts"
import * as Advert from "./Advert.ts"
import type * as Config from "./Config.ts"
import type * as Datagram from "./Datagram.ts"
import * as AddressCache from "./internal/addressCache.ts"

/**
 * keepalived's per-instance counters (RFC 2787 / RFC 6527 MIB names in camelCase).
 *
 * @example
 * ```ts
 * validator.counters.authFailure // wrong passwords seen
 * ```
 */
export interface Counters {
  advertRcvd: number
  advertSent: number
  becomeMaster: number
  releaseMaster: number
  invalidAuthType: number
  authTypeMismatch: number
  authFailure: number
  packetLenErr: number
  ipTtlErr: number
  invalidTypeRcvd: number
  addrListErr: number
  chkErr: number
  versErr: number
  priZeroRcvd: number
  priZeroSent: number
  /** Adverts dropped as irrelevant (interval mismatch, owner ignoring adverts, peer TTL range). */
  dropped: number
}

/**
 * Fresh counters, all zero.
 *
 * @example
 * ```ts
 * const c = Validation.makeCounters()
 * c.advertRcvd // 0
 * ```
 */
export const makeCounters = (): Counters => ({
  advertRcvd: 0,
  advertSent: 0,
  becomeMaster: 0,
  releaseMaster: 0,
  invalidAuthType: 0,
  authTypeMismatch: 0,
  authFailure: 0,
  packetLenErr: 0,
  ipTtlErr: 0,
  invalidTypeRcvd: 0,
  addrListErr: 0,
  chkErr: 0,
  versErr: 0,
  priZeroRcvd: 0,
  priZeroSent: 0,
  dropped: 0
})

/**
 * Each cause a log line can have; rate limiting is per cause (some share a flag as in keepalived).
 *
 * @example
 * ```ts
 * if (verdict._tag === "Invalid" && verdict.cause === Validation.Cause.checksum) console.log("bad checksum")
 * ```
 */
export const Cause = {
  ah: "ah",
  length: "length",
  ttl: "ttl",
  version: "version",
  authType: "authType",
  authMismatch: "authMismatch",
  password: "password",
  interval: "interval",
  type: "type",
  ipTotalLength: "ipTotalLength",
  checksum: "checksum",
  castMode: "castMode",
  owner: "owner",
  addressCount: "addressCount",
  addressList: "addressList",
  unicastPeer: "unicastPeer",
  peerTtl: "peerTtl"
} as const

/**
 * A cause of {@link Cause}.
 *
 * @example
 * ```ts
 * if (verdict._tag === "Invalid" && verdict.cause === Validation.Cause.checksum) console.log("bad checksum")
 * ```
 */
export type Cause = (typeof Cause)[keyof typeof Cause]

/**
 * The outcome of checking one received advert.
 *
 * @example
 * ```ts
 * const v = validator.check(received, { isBackup: true })
 * if (v._tag === "Drop") console.log(v.cause)
 * ```
 */
export type Verdict =
  | {
      readonly _tag: "Ok"
      readonly advert: Advert.Advert
      readonly source: string
      /** Logged-only findings (v3 interval mismatch, VIP list differences). */
      readonly log: ReadonlyArray<string>
    }
  | { readonly _tag: "Invalid"; readonly cause: Cause; readonly log: ReadonlyArray<string> }
  | { readonly _tag: "Drop"; readonly cause: Cause; readonly log: ReadonlyArray<string> }

/**
 * Context of the check the validator needs from the state machine.
 *
 * @example
 * ```ts
 * validator.check(received, { isBackup: true, masterSource: "10.9.0.1" })
 * ```
 */
export interface Context {
  /** The recorded master's address, for `skip_check_adv_addr`. */
  readonly masterSource?: string | undefined
  readonly isBackup: boolean
}

/** Ethernet payloads are padded to this minimum; extra bytes up to it are tolerated (since 2.3.2). */
const ETHERNET_MIN_PAYLOAD = 46

/**
 * Validates received adverts for one instance, keeps its counters and the rate-limit flags.
 *
 * @example
 * ```ts
 * const v = new Validation.Validator(instance)
 * const verdict = v.check(received, { isBackup: true })
 * if (verdict._tag === "Ok") engine.advert(verdict.advert)
 * ```
 */
export class Validator {
  readonly instance: Config.Instance
  readonly counters: Counters
  private readonly logged = new Set<Cause>()

  constructor(instance: Config.Instance, counters: Counters = makeCounters()) {
    this.instance = instance
    this.counters = counters
  }

  /**
   * Clears the rate-limit flags (keepalived: on entering or leaving MASTER, and in BACKUP on accepting
   * an advert from a new master).
   */
  clearLogFlags(): void {
    this.logged.clear()
  }

  private once(cause: Cause, text: string, out: Array<string>): void {
    if (this.logged.has(cause)) return
    this.logged.add(cause)
    out.push(`(${this.instance.name}) ${text}`)
  }

  private invalid(cause: Cause, text: string, log: Array<string>): Verdict {
    this.once(cause, text, log)
    return { _tag: "Invalid", cause, log }
  }

  private drop(cause: Cause, text: string, log: Array<string>): Verdict {
    this.counters.dropped++
    this.once(cause, text, log)
    return { _tag: "Drop", cause, log }
  }

  /**
   * Checks a received advert in keepalived's order (reference §2.5 steps 1..16).
   */
  check(received: Datagram.Received, context: Context): Verdict {
    const vi = this.instance
    const c = this.counters
    const log: Array<string> = []
    const from = received.source
    const family = vi.family
    const p = received.payload
    const unicast = vi.unicastPeers.length > 0

    // 1. IPv4: an AH header must be present exactly when auth_type is AH (never, AH is refused).
    if (received.ah) {
      c.authTypeMismatch++
      return this.invalid(Cause.ah, `Received AH header but auth type not AH from ${from}`, log)
    }

    // 2. Exact length against the address count; auth bytes per the *received* version nibble.
    const rcvVersion = p[Advert.Offset.versionType]! >>> 4
    const count = p[Advert.Offset.count]!
    const expected = received.headerLength + Advert.messageLength(rcvVersion, family, count)
    const length = received.receivedLength
    if (length !== expected) {
      // Ethernet minimum-frame padding is tolerated; the surplus must reach 46 bytes in steps of 4 (VLAN tags).
      const padded = expected < ETHERNET_MIN_PAYLOAD && length <= ETHERNET_MIN_PAYLOAD && length > expected
      if (!padded || (ETHERNET_MIN_PAYLOAD - length) % 4 !== 0) {
        c.packetLenErr++
        const how = length > expected ? "long" : "short"
        return this.invalid(
          Cause.length,
          `vrrp packet from ${from} too ${how}, length ${length} and expect ${expected}`,
          log
        )
      }
    }
    const messageLength = expected - received.headerLength

    // 3. Multicast only: TTL/hop limit 255 (RFC 5798 §7.1: a router beyond the link cannot forge it).
    if (!unicast && received.ttl !== Advert.TTL) {
      c.ipTtlErr++
      return this.invalid(Cause.ttl, `invalid TTL/HL from ${from}. Received ${received.ttl} and expect 255`, log)
    }

    // 4. Version.
    if (rcvVersion !== vi.version) {
      c.versErr++
      return this.invalid(
        Cause.version,
        `wrong VRRP version from ${from}. Received ${rcvVersion} and expect ${vi.version}`,
        log
      )
    }

    const decoded = Advert.decode(p, 0, messageLength, family)
    if (decoded._tag !== "Ok") {
      // Unreachable after the length check; kept so hostile input can never throw.
      c.packetLenErr++
      return this.invalid(
        Cause.length,
        `vrrp packet from ${from} too short, length ${length} and expect ${expected}`,
        log
      )
    }
    const advert = decoded.advert

    // 6. v2 authentication.
    if (vi.version === 2 && family === "ipv4") {
      if (advert.authType > Advert.AuthType.ah) {
        c.invalidAuthType++
        return this.invalid(Cause.authType, `Invalid auth type from ${from}: ${advert.authType}`, log)
      }
      if (advert.authType !== vi.authType) {
        c.authTypeMismatch++
        return this.invalid(
          Cause.authMismatch,
          `received a ${advert.authType} auth from ${from}, expecting ${vi.authType}!`,
          log
        )
      }
      if (vi.authType === Advert.AuthType.pass && !Advert.authDataEquals(advert.authData, vi.authData)) {
        c.authFailure++
        return this.invalid(Cause.password, `received an invalid passwd from ${from}!`, log)
      }
    }

    // 7. v2: the interval must match ours, else the advert is irrelevant (DROP).
    if (vi.version === 2 && advert.interval !== vi.advertInterval) {
      return this.drop(
        Cause.interval,
        `advertisement interval mismatch with ${from} mine=${vi.advertInterval / 100} sec rcv'd=${advert.interval / 100} sec`,
        log
      )
    }

    // 8. Type.
    if (advert.type !== Advert.TYPE_ADVERTISEMENT) {
      c.invalidTypeRcvd++
      return this.invalid(Cause.type, `Invalid packet type from ${from}. ${advert.type} and expect 1`, log)
    }

    // 9. IPv4 total length against what was received (padding tolerated as in step 2).
    if (received.ipTotalLength !== undefined && received.ipTotalLength !== expected) {
      c.packetLenErr++
      return this.invalid(
        Cause.ipTotalLength,
        `ip_tot_len mismatch from ${from}. ip_tot_len ${received.ipTotalLength} and expect ${expected}`,
        log
      )
    }

    // 10. v3: a different interval is logged once and accepted (the backup adopts it).
    if (vi.version === 3 && advert.interval !== vi.advertInterval) {
      this.once(
        Cause.interval,
        `advertisement interval mismatch ours = ${vi.advertInterval} centi-sec rcv'd=${advert.interval} centi-sec from ${from}`,
        log
      )
    }

    // 11. Checksum: IPv4 always; IPv6 unless the kernel already verified it (raw sockets; TAP frames do not).
    const checkV4 = family === "ipv4" && !(vi.version === 3 && vi.checksumAsV2)
    if (checkV4 || (family === "ipv6" && !received.checksumVerified)) {
      const want = Advert.computeChecksum(p, 0, messageLength, vi.version, {
        family,
        source: AddressCache.parse(family, received.source) ?? new Uint8Array(16),
        destination: AddressCache.parse(family, received.destination) ?? new Uint8Array(16)
      })
      if (want !== advert.checksum) {
        c.chkErr++
        return this.invalid(Cause.checksum, `Invalid VRRPv${vi.version} checksum from ${from}`, log)
      }
    }

    // 12. Multicast-ness of the destination must match the instance's mode.
    const multicastDst = Address.isMulticast(received.destination)
    if (multicastDst === unicast) {
      return this.invalid(
        Cause.castMode,
        unicast
          ? `Expected unicast packet but received multicast packet from ${from}`
          : `Expected multicast packet but received unicast packet from ${from}`,
        log
      )
    }

    // 13. An owner told to ignore adverts drops them.
    if (vi.ownerIgnoreAdverts && vi.priority === 255) {
      return this.drop(Cause.owner, `Dropping packet(s) from ${from} since we are address owner`, log)
    }

    // 14. A valid advert from here on: count it, then compare the VIP list (log only since 2.3.3).
    c.advertRcvd++
    let mismatch = false
    if (advert.addresses.length !== vi.virtualAddresses.length) {
      mismatch = true
      c.addrListErr++
      this.once(
        Cause.addressCount,
        `expected ${vi.virtualAddresses.length} VIPs but received ${advert.addresses.length}`,
        log
      )
    } else if (!(vi.skipCheckAdvAddr && context.isBackup && context.masterSource === from)) {
      const have = new Set(advert.addresses)
      const missing = vi.virtualAddresses.find((a) => !have.has(a))
      if (missing !== undefined) {
        mismatch = true
        c.addrListErr++
        this.once(
          Cause.addressList,
          `ip address associated with VRID ${vi.vrid} not present in advert from ${from}: ${missing}`,
          log
        )
      }
    }
    if (mismatch && vi.rejectAddressMismatch) return { _tag: "Invalid", cause: Cause.addressList, log }

    // 15. Unicast source must be a configured peer (with check_unicast_src or any peer TTL range).
    if (unicast) {
      const ranged = vi.unicastPeers.some((x) => x.minTtl !== undefined || x.maxTtl !== undefined)
      if (vi.checkUnicastSrc || ranged) {
        const peer = vi.unicastPeers.find((x) => Address.canonical(x.address) === Address.canonical(from))
        if (peer === undefined)
          return this.invalid(Cause.unicastPeer, `unicast source address ${from} not a unicast peer`, log)
        const min = peer.minTtl ?? 0
        const max = peer.maxTtl ?? 255
        if (received.ttl < min || received.ttl > max)
          return this.drop(Cause.peerTtl, `TTL/HL ${received.ttl} from ${from} not in range [${min}, ${max}]`, log)
      }
    }

    // 16. Priority 0.
    if (advert.priority === 0) c.priZeroRcvd++
    return { _tag: "Ok", advert, source: from, log }
  }
}
