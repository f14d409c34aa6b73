/**
 * IPVS TCP states, default timeouts and the six state-transition tables of ip_vs_proto_tcp.c (normal and
 * secure_tcp, each with INPUT, OUTPUT and INPUT_ONLY rows), transcribed from the reference (ipvs.md section 2.2).
 *
 * @module
 */

/** NONE (0): a fresh entry. @example `TcpState.NONE // 0` */
export const NONE = 0
/** ESTABLISHED (1), active. @example `TcpState.ESTABLISHED // 1` */
export const ESTABLISHED = 1
/** SYN_SENT (2), active. @example `TcpState.SYN_SENT // 2` */
export const SYN_SENT = 2
/** SYN_RECV (3), active. @example `TcpState.SYN_RECV // 3` */
export const SYN_RECV = 3
/** FIN_WAIT (4). @example `TcpState.FIN_WAIT // 4` */
export const FIN_WAIT = 4
/** TIME_WAIT (5). @example `TcpState.TIME_WAIT // 5` */
export const TIME_WAIT = 5
/** CLOSE (6). @example `TcpState.CLOSE // 6` */
export const CLOSE = 6
/** CLOSE_WAIT (7). @example `TcpState.CLOSE_WAIT // 7` */
export const CLOSE_WAIT = 7
/** LAST_ACK (8). @example `TcpState.LAST_ACK // 8` */
export const LAST_ACK = 8
/** LISTEN (9). @example `TcpState.LISTEN // 9` */
export const LISTEN = 9
/** SYNACK (10), active; reachable only through the secure_tcp tables. @example `TcpState.SYNACK // 10` */
export const SYNACK = 10
/** Number of TCP states (11), the state-count check of sync. @example `TcpState.COUNT // 11` */
export const COUNT = 11

/** TCP header flag FIN (0x01). @example `TcpState.FIN // 1` */
export const FIN = 0x01
/** TCP header flag SYN (0x02). @example `TcpState.SYN // 2` */
export const SYN = 0x02
/** TCP header flag RST (0x04). @example `TcpState.RST // 4` */
export const RST = 0x04
/** TCP header flag ACK (0x10). @example `TcpState.ACK // 16` */
export const ACK = 0x10

/**
 * State names as /proc/net/ip_vs_conn and ipvsadm -Lc print them.
 *
 * @example
 * ```ts
 * TcpState.names[TcpState.SYN_RECV] // "SYN_RECV"
 * ```
 */
export const names: ReadonlyArray<string> = [
  "NONE",
  "ESTABLISHED",
  "SYN_SENT",
  "SYN_RECV",
  "FIN_WAIT",
  "TIME_WAIT",
  "CLOSE",
  "CLOSE_WAIT",
  "LAST_ACK",
  "LISTEN",
  "SYNACK"
]

/**
 * Default timeouts in seconds (tcp_timeouts): NONE 2, ES 900, SS 120, SR 60, FW 120, TW 120, CL 10, CW 60, LA 30,
 * LI 120, SA 120.
 *
 * @example
 * ```ts
 * TcpState.defaultTimeouts[TcpState.ESTABLISHED] // 900
 * ```
 */
export const defaultTimeouts: ReadonlyArray<number> = [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120]

/**
 * Whether a state counts as active for the destination (tcp_state_active_table: ES, SS, SR, SA).
 *
 * @example
 * ```ts
 * TcpState.isActive(TcpState.SYN_RECV) // true
 * ```
 */
export const isActive = (state: number): boolean =>
  state === ESTABLISHED || state === SYN_SENT || state === SYN_RECV || state === SYNACK

/** Event index of a SYN segment (row 0 of each direction block). @example `TcpState.EVENT_SYN // 0` */
export const EVENT_SYN = 0
/** Event index of a FIN segment. @example `TcpState.EVENT_FIN // 1` */
export const EVENT_FIN = 1
/** Event index of an ACK segment. @example `TcpState.EVENT_ACK // 2` */
export const EVENT_ACK = 2
/** Event index of an RST segment. @example `TcpState.EVENT_RST // 3` */
export const EVENT_RST = 3

/**
 * Event index from the TCP flags byte, priority RST > SYN > FIN > ACK; -1 when none is set (the entry then goes to
 * CLOSE), as tcp_state_idx() does.
 *
 * @example
 * ```ts
 * TcpState.eventOf(TcpState.SYN | TcpState.ACK) // TcpState.EVENT_SYN
 * ```
 */
export const eventOf = (tcpFlags: number): number =>
  tcpFlags & RST ? EVENT_RST : tcpFlags & SYN ? EVENT_SYN : tcpFlags & FIN ? EVENT_FIN : tcpFlags & ACK ? EVENT_ACK : -1

// Columns are the current state NO ES SS SR FW TW CL CW LA LI SA; each block is INPUT, OUTPUT, INPUT_ONLY with rows
// syn, fin, ack, rst -- the layout of the reference, so a reviewer can compare cell by cell.
const NORMAL = `
INPUT      NO ES SS SR FW TW CL CW LA LI SA
  syn      SR ES ES SR SR SR SR SR SR SR SR
  fin      CL CW SS TW TW TW CL CW LA LI TW
  ack      ES ES SS ES FW TW CL CW CL LI ES
  rst      CL CL CL SR CL CL CL CL LA LI SR
OUTPUT
  syn      SS ES SS SR SS SS SS SS SS LI SR
  fin      TW FW SS TW FW TW CL TW LA LI TW
  ack      ES ES SS ES FW TW CL CW LA ES ES
  rst      CL CL SS CL CL TW CL CL CL CL CL
INPUT_ONLY
  syn      SR ES ES SR SR SR SR SR SR SR SR
  fin      CL FW SS TW FW TW CL CW LA LI TW
  ack      ES ES SS ES FW TW CL CW CL LI ES
  rst      CL CL CL SR CL CL CL CL LA LI CL
`
const SECURE = `
INPUT      NO ES SS SR FW TW CL CW LA LI SA
  syn      SR ES ES SR SR SR SR SR SR SR SA
  fin      CL CW SS TW TW TW CL CW LA LI SA
  ack      ES ES SS SR FW TW CL CW CL LI SA
  rst      CL CL CL SR CL CL CL CL LA LI CL
OUTPUT
  syn      SS ES SS SA SS SS SS SS SS LI SA
  fin      TW FW SS TW FW TW CL TW LA LI TW
  ack      ES ES SS ES FW TW CL CW LA ES ES
  rst      CL CL SS CL CL TW CL CL CL CL CL
INPUT_ONLY
  syn      SA ES ES SR SA SA SA SA SA SA SA
  fin      CL FW SS TW FW TW CL CW LA LI TW
  ack      ES ES SS ES FW TW CL CW CL LI ES
  rst      CL CL CL SR CL CL CL CL LA LI CL
`
const ABBREVIATIONS = ["NO", "ES", "SS", "SR", "FW", "TW", "CL", "CW", "LA", "LI", "SA"]

const parse = (text: string, into: Uint8Array, base: number): void => {
  let row = 0
  for (const line of text.split("\n")) {
    const cells = line.trim().split(/\s+/)
    if (cells.length !== COUNT + 1 || !["syn", "fin", "ack", "rst"].includes(cells[0]!)) continue
    for (let s = 0; s < COUNT; s++) into[base + row * COUNT + s] = ABBREVIATIONS.indexOf(cells[s + 1]!)
    row++
  }
}

/** 2 modes x 12 rows (direction * 4 + event) x 11 states; mode 1 is secure_tcp. */
const TABLE = new Uint8Array(2 * 12 * COUNT)
parse(NORMAL, TABLE, 0)
parse(SECURE, TABLE, 12 * COUNT)

/**
 * Next state for a packet: `secure` selects the tcp_states_dos tables, `direction` is the effective row block
 * (Direction.INPUT, OUTPUT or INPUT_ONLY), `event` from {@link eventOf} (-1 gives CLOSE).
 *
 * @example
 * ```ts
 * TcpState.next(false, Direction.INPUT, TcpState.EVENT_SYN, TcpState.NONE) // TcpState.SYN_RECV
 * ```
 */
export const next = (secure: boolean, direction: number, event: number, state: number): number =>
  event < 0 ? CLOSE : TABLE[(secure ? 12 * COUNT : 0) + (direction * 4 + event) * COUNT + state]!
