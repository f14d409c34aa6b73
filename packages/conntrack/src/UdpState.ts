/**
 * The single IPVS UDP state ("UDP", index 0) and its timeout.
 *
 * @module
 */

/** The only UDP state (0), listed as "UDP". @example `UdpState.NORMAL // 0` */
export const NORMAL = 0
/** Number of UDP states (1). @example `UdpState.COUNT // 1` */
export const COUNT = 1
/** Listing names. @example `UdpState.names[0] // "UDP"` */
export const names: ReadonlyArray<string> = ["UDP"]
/** Default timeout in seconds (300, `ipvsadm --set` third value). @example `UdpState.defaultTimeouts[0] // 300` */
export const defaultTimeouts: ReadonlyArray<number> = [300]
