/**
 * Per-state timeouts of TCP, UDP and SCTP, settable at run time (the kernel's per-netns timeout_table), including
 * the three values `ipvsadm --set tcp tcpfin udp` writes and `ipvsadm -L --timeout` reads.
 *
 * @module
 */
import * as SctpState from "./SctpState.ts"
import * as TcpState from "./TcpState.ts"
import * as UdpState from "./UdpState.ts"

/**
 * ipvsadm's MAX_TIMEOUT for `--set` and `-p`: 2678400 s (31 days).
 *
 * @example
 * ```ts
 * Timeouts.MAX_SECONDS // 2678400
 * ```
 */
export const MAX_SECONDS = 2678400

/**
 * The three values of `ipvsadm --set` / `--timeout`, in seconds.
 *
 * @example
 * ```ts
 * const t: Timeouts.IpvsadmTimeouts = { tcp: 900, tcpfin: 120, udp: 300 }
 * ```
 */
export interface IpvsadmTimeouts {
  readonly tcp: number
  readonly tcpfin: number
  readonly udp: number
}

/**
 * Mutable timeout tables in milliseconds, indexed by state; the connection table reads them on every state change,
 * so a change applies to the next packet of every entry, as in the kernel.
 *
 * @example
 * ```ts
 * const timeouts = Timeouts.make()
 * timeouts.setIpvsadm({ tcp: 3600, tcpfin: 0, udp: 0 })
 * timeouts.ipvsadm() // { tcp: 3600, tcpfin: 120, udp: 300 }
 * ```
 */
export class Timeouts {
  /** TCP timeouts in ms, by TcpState. */
  readonly tcp = new Uint32Array(TcpState.COUNT)
  /** UDP timeout in ms (one state). */
  readonly udp = new Uint32Array(UdpState.COUNT)
  /** SCTP timeouts in ms, by SctpState. */
  readonly sctp = new Uint32Array(SctpState.COUNT)

  constructor() {
    this.reset()
  }

  /** Restores the kernel defaults. */
  reset(): void {
    for (let s = 0; s < TcpState.COUNT; s++) this.tcp[s] = TcpState.defaultTimeouts[s]! * 1000
    for (let s = 0; s < SctpState.COUNT; s++) this.sctp[s] = SctpState.defaultTimeouts[s]! * 1000
    this.udp[0] = UdpState.defaultTimeouts[0]! * 1000
  }

  /**
   * `ipvsadm --set tcp tcpfin udp`: TCP ESTABLISHED, TCP FIN_WAIT and UDP, in seconds; 0 leaves a value unchanged.
   * Throws a RangeError naming the field when a value is outside 0..2678400 or not an integer.
   */
  setIpvsadm(values: IpvsadmTimeouts): void {
    check("tcp", values.tcp)
    check("tcpfin", values.tcpfin)
    check("udp", values.udp)
    if (values.tcp !== 0) this.tcp[TcpState.ESTABLISHED] = values.tcp * 1000
    if (values.tcpfin !== 0) this.tcp[TcpState.FIN_WAIT] = values.tcpfin * 1000
    if (values.udp !== 0) this.udp[0] = values.udp * 1000
  }

  /** The three `ipvsadm -L --timeout` values in seconds ("Timeout (tcp tcpfin udp): 900 120 300"). */
  ipvsadm(): IpvsadmTimeouts {
    return {
      tcp: Math.floor(this.tcp[TcpState.ESTABLISHED]! / 1000),
      tcpfin: Math.floor(this.tcp[TcpState.FIN_WAIT]! / 1000),
      udp: Math.floor(this.udp[0]! / 1000)
    }
  }

  /** Sets one state's timeout in seconds (a knob the kernel keeps internal; useful for tests and tuning). */
  set(protocol: "tcp" | "udp" | "sctp", state: number, seconds: number): void {
    const table = this[protocol]
    if (!Number.isInteger(state) || state < 0 || state >= table.length) {
      throw new RangeError(`Timeouts.set: state ${state} is not a ${protocol} state (0..${table.length - 1})`)
    }
    check(`${protocol}[${state}]`, seconds)
    table[state] = seconds * 1000
  }
}

const check = (field: string, seconds: number): void => {
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_SECONDS) {
    throw new RangeError(`Timeouts: ${field} = ${seconds} is outside 0..${MAX_SECONDS} seconds`)
  }
}

/**
 * New timeout tables holding the kernel defaults (TCP ESTABLISHED 900 s, FIN_WAIT 120 s, UDP 300 s, ...).
 *
 * @example
 * ```ts
 * Timeouts.make().tcp[TcpState.ESTABLISHED] // 900000
 * ```
 */
export const make = (): Timeouts => new Timeouts()
