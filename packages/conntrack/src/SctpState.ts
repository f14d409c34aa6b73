/**
 * IPVS SCTP states, default timeouts, chunk-type events and the three direction tables of ip_vs_proto_sctp.c
 * (Linux 3.10+ layout: INIT1/REJECTED short timeouts, server-initiated COOKIE_WAIT/COOKIE/COOKIE_ECHOED states).
 *
 * @module
 */

/** NONE (0). @example `SctpState.NONE // 0` */
export const NONE = 0
/** INIT1 (1): first client INIT sent. @example `SctpState.INIT1 // 1` */
export const INIT1 = 1
/** INIT (2): INIT retransmitted. @example `SctpState.INIT // 2` */
export const INIT = 2
/** COOKIE_SENT (3). @example `SctpState.COOKIE_SENT // 3` */
export const COOKIE_SENT = 3
/** COOKIE_REPLIED (4). @example `SctpState.COOKIE_REPLIED // 4` */
export const COOKIE_REPLIED = 4
/** COOKIE_WAIT (5). @example `SctpState.COOKIE_WAIT // 5` */
export const COOKIE_WAIT = 5
/** COOKIE (6). @example `SctpState.COOKIE // 6` */
export const COOKIE = 6
/** COOKIE_ECHOED (7). @example `SctpState.COOKIE_ECHOED // 7` */
export const COOKIE_ECHOED = 7
/** ESTABLISHED (8), the only active SCTP state. @example `SctpState.ESTABLISHED // 8` */
export const ESTABLISHED = 8
/** SHUTDOWN_SENT (9). @example `SctpState.SHUTDOWN_SENT // 9` */
export const SHUTDOWN_SENT = 9
/** SHUTDOWN_RECEIVED (10). @example `SctpState.SHUTDOWN_RECEIVED // 10` */
export const SHUTDOWN_RECEIVED = 10
/** SHUTDOWN_ACK_SENT (11). @example `SctpState.SHUTDOWN_ACK_SENT // 11` */
export const SHUTDOWN_ACK_SENT = 11
/** REJECTED (12). @example `SctpState.REJECTED // 12` */
export const REJECTED = 12
/** CLOSED (13). @example `SctpState.CLOSED // 13` */
export const CLOSED = 13
/** Number of SCTP states (14). @example `SctpState.COUNT // 14` */
export const COUNT = 14

/**
 * Listing names (sctp_state_name_table).
 *
 * @example
 * ```ts
 * SctpState.names[SctpState.COOKIE_SENT] // "C-SENT"
 * ```
 */
export const names: ReadonlyArray<string> = [
  "NONE",
  "INIT1",
  "INIT",
  "C-SENT",
  "C-REPLIED",
  "C-WAIT",
  "COOKIE",
  "C-ECHOED",
  "ESTABLISHED",
  "S-SENT",
  "S-RECEIVED",
  "S-ACK-SENT",
  "REJECTED",
  "CLOSED"
]

/**
 * Default timeouts in seconds: NONE 2, INIT1 4, REJECTED 4, ESTABLISHED 900, everything else 61 (max RTO + 1).
 *
 * @example
 * ```ts
 * SctpState.defaultTimeouts[SctpState.INIT1] // 4
 * ```
 */
export const defaultTimeouts: ReadonlyArray<number> = [2, 4, 61, 61, 61, 61, 61, 61, 900, 61, 61, 61, 4, 61]

/**
 * Only ESTABLISHED counts as active.
 *
 * @example
 * ```ts
 * SctpState.isActive(SctpState.ESTABLISHED) // true
 * ```
 */
export const isActive = (state: number): boolean => state === ESTABLISHED

/** Event DATA (also SACK, HEARTBEAT(-ACK), ECNE, CWR and unknown chunks). @example `SctpState.EVENT_DATA // 0` */
export const EVENT_DATA = 0
/** Event INIT. @example `SctpState.EVENT_INIT // 1` */
export const EVENT_INIT = 1
/** Event INIT_ACK. @example `SctpState.EVENT_INIT_ACK // 2` */
export const EVENT_INIT_ACK = 2
/** Event COOKIE_ECHO. @example `SctpState.EVENT_COOKIE_ECHO // 3` */
export const EVENT_COOKIE_ECHO = 3
/** Event COOKIE_ACK. @example `SctpState.EVENT_COOKIE_ACK // 4` */
export const EVENT_COOKIE_ACK = 4
/** Event SHUTDOWN. @example `SctpState.EVENT_SHUTDOWN // 5` */
export const EVENT_SHUTDOWN = 5
/** Event SHUTDOWN_ACK. @example `SctpState.EVENT_SHUTDOWN_ACK // 6` */
export const EVENT_SHUTDOWN_ACK = 6
/** Event SHUTDOWN_COMPLETE. @example `SctpState.EVENT_SHUTDOWN_COMPLETE // 7` */
export const EVENT_SHUTDOWN_COMPLETE = 7
/** Event ERROR. @example `SctpState.EVENT_ERROR // 8` */
export const EVENT_ERROR = 8
/** Event ABORT. @example `SctpState.EVENT_ABORT // 9` */
export const EVENT_ABORT = 9
/** Number of events. @example `SctpState.EVENT_COUNT // 10` */
export const EVENT_COUNT = 10

/** SCTP chunk type INIT (1), the only chunk that schedules a new association. @example `SctpState.CHUNK_INIT // 1` */
export const CHUNK_INIT = 1
/** SCTP chunk type ABORT (6). @example `SctpState.CHUNK_ABORT // 6` */
export const CHUNK_ABORT = 6

// sctp_events[chunk type], chunk types 0..14; anything else is DATA.
const CHUNK_EVENTS = new Uint8Array([
  EVENT_DATA, // 0 DATA
  EVENT_INIT, // 1 INIT
  EVENT_INIT_ACK, // 2 INIT_ACK
  EVENT_DATA, // 3 SACK
  EVENT_DATA, // 4 HEARTBEAT
  EVENT_DATA, // 5 HEARTBEAT_ACK
  EVENT_ABORT, // 6 ABORT
  EVENT_SHUTDOWN, // 7 SHUTDOWN
  EVENT_SHUTDOWN_ACK, // 8 SHUTDOWN_ACK
  EVENT_ERROR, // 9 ERROR
  EVENT_COOKIE_ECHO, // 10 COOKIE_ECHO
  EVENT_COOKIE_ACK, // 11 COOKIE_ACK
  EVENT_DATA, // 12 ECNE
  EVENT_DATA, // 13 CWR
  EVENT_SHUTDOWN_COMPLETE // 14 SHUTDOWN_COMPLETE
])

/**
 * Event of a chunk type. The caller passes the first chunk's type, or ABORT when a COOKIE_ECHO/COOKIE_ACK is
 * followed by an ABORT chunk (the kernel's bundling rule).
 *
 * @example
 * ```ts
 * SctpState.eventOf(10) // SctpState.EVENT_COOKIE_ECHO
 * ```
 */
export const eventOf = (chunkType: number): number => (chunkType < 15 ? CHUNK_EVENTS[chunkType]! : EVENT_DATA)

// Rows per event (d, i, i_a, c_e, c_a, s, s_a, s_c, err, ab), columns the current state in state order.
const ROWS = `
INPUT     NO I1 IN CS CR CW CO CE ES SS SR SA RJ CL
  d       ES I1 IN CS CR CW CO CE ES SS SR SA RJ CL
  i       I1 IN IN CS CR CW CO CE ES SS SR SA IN IN
  i_a     CW CW CW CS CR CO CO CE ES SS SR SA RJ CL
  c_e     CR IN IN CR CR CW CO CE ES SS SR SA RJ CL
  c_a     ES I1 IN CS CR CW CO ES ES SS SR SA RJ CL
  s       SR I1 IN CS CR CW CO CE SR SS SR SA RJ CL
  s_a     CL IN IN CS CR CW CO CE ES CL SR CL RJ CL
  s_c     CL CL CL CS CR CW CO CE ES SS SR CL RJ CL
  err     CL I1 IN CS CR CW CO CL ES SS SR SA RJ CL
  ab      CL CL CL CL CL RJ CL CL CL CL CL CL CL CL
OUTPUT
  d       ES I1 IN CS CR CW CO CE ES SS SR SA RJ CL
  i       CW CW CW CW CW CW CW CW ES CW CW CW CW CW
  i_a     CS CS CS CS CR CW CO CE ES SS SR SA RJ CL
  c_e     CE CE CE CE CE CE CE CE ES SS SR SA RJ CL
  c_a     ES ES ES ES ES ES ES ES ES SS SR SA RJ CL
  s       SS SS SS SS SS SS SS SS SS SS SR SA RJ CL
  s_a     SA SA SA SA SA CW CO CE ES SA SA SA RJ CL
  s_c     CL I1 IN CS CR CW CO CE ES SS SR SA RJ CL
  err     CL CL CL CL CL CW CO CE ES SS SR SA RJ CL
  ab      CL RJ CL CL CL CL CL CL CL CL CL CL CL CL
INPUT_ONLY
  d       ES I1 IN CS CR ES CO CE ES SS SR SA RJ CL
  i       I1 IN IN IN IN IN CO CE ES SS SR SA IN IN
  i_a     CE CE CE CE CE CE CO CE ES SS SR SA RJ CL
  c_e     ES ES ES ES ES ES CO CE ES SS SR SA RJ CL
  c_a     ES I1 IN ES ES CW ES ES ES SS SR SA RJ CL
  s       SR I1 IN CS CR CW CO CE SR SS SR SA RJ CL
  s_a     CL IN IN CS CR CW CO CE CL CL SR CL RJ CL
  s_c     CL CL CL CL CL CW CO CE ES SS CL CL RJ CL
  err     CL I1 IN CS CR CW CO CE ES SS SR SA RJ CL
  ab      CL CL CL CL CL RJ CL CL CL CL CL CL CL CL
`
const ABBREVIATIONS = ["NO", "I1", "IN", "CS", "CR", "CW", "CO", "CE", "ES", "SS", "SR", "SA", "RJ", "CL"]
const EVENT_LABELS = ["d", "i", "i_a", "c_e", "c_a", "s", "s_a", "s_c", "err", "ab"]

const TABLE = new Uint8Array(3 * EVENT_COUNT * COUNT)
{
  let row = 0
  for (const line of ROWS.split("\n")) {
    const cells = line.trim().split(/\s+/)
    if (cells.length !== COUNT + 1 || !EVENT_LABELS.includes(cells[0]!)) continue
    for (let s = 0; s < COUNT; s++) TABLE[row * COUNT + s] = ABBREVIATIONS.indexOf(cells[s + 1]!)
    row++
  }
}

/**
 * Next state for an event in a direction block (Direction.INPUT, OUTPUT, INPUT_ONLY).
 *
 * @example
 * ```ts
 * SctpState.next(Direction.INPUT, SctpState.EVENT_INIT, SctpState.NONE) // SctpState.INIT1
 * ```
 */
export const next = (direction: number, event: number, state: number): number =>
  TABLE[(direction * EVENT_COUNT + event) * COUNT + state]!
