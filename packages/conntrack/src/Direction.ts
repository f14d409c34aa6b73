/**
 * Packet directions, as IP_VS_DIR_* in the kernel: which state-table rows a packet uses.
 *
 * @module
 */

/**
 * Client -> real server (ip_vs_in). Becomes {@link INPUT_ONLY} while the entry has NOOUTPUT.
 *
 * @example
 * ```ts
 * table.packet(entry, Direction.INPUT, TcpState.SYN, 60, now)
 * ```
 */
export const INPUT = 0
/**
 * Real server -> client reply seen by the director; clears NOOUTPUT.
 *
 * @example
 * ```ts
 * table.packet(entry, Direction.OUTPUT, TcpState.SYN | TcpState.ACK, 60, now)
 * ```
 */
export const OUTPUT = 1
/**
 * Client -> real server on an entry that has not seen a reply (DR/TUN). Chosen by the table itself; callers pass
 * {@link INPUT}.
 *
 * @example
 * ```ts
 * Direction.INPUT_ONLY // 2
 * ```
 */
export const INPUT_ONLY = 2
