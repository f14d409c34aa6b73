/**
 * Shared-memory layout between the TCP probe engine (main thread, `TcpEngine.ts`) and its worker
 * (`TcpEngineWorker.ts`): one control block, one request ring (main → worker) and one completion ring
 * (worker → main), all `Int32Array`s over `SharedArrayBuffer`s. Single producer / single consumer each way.
 *
 * @internal
 */

/** Control block indices (Int32). */
export const REQ_HEAD = 0
export const REQ_TAIL = 1
export const COMP_HEAD = 2
export const COMP_TAIL = 3
/** Bumped by the worker after each batch of completions; the main thread `Atomics.waitAsync`s on it. */
export const COMP_SEQ = 4
/** 1 while the worker is (about to be) blocked in `epoll_wait`: a producer must then write the eventfd. */
export const SLEEPING = 5
export const STOP = 6
export const CONTROL_WORDS = 8

/** A request record: 24 Int32 words (96 bytes). */
export const REQ_WORDS = 24
export const REQ_OP = 0
export const REQ_SLOT = 1
export const REQ_GEN = 2
export const REQ_FAMILY = 3
export const REQ_PORT = 4
export const REQ_BIND_FLAGS = 5
export const REQ_BIND_PORT = 6
export const REQ_SCOPE = 7
export const REQ_TIMEOUT_MS = 8
/** Byte offsets inside a record of the destination and source addresses (16 bytes each, v4 in the first 4). */
export const REQ_ADDR_BYTE = 40
export const REQ_BIND_ADDR_BYTE = 56
/** Ops. */
export const OP_START = 1
export const OP_CANCEL = 2
/** Bind flags. */
export const BIND_ADDRESS = 1
export const BIND_PORT = 2

/** A completion record: slot, generation, code. */
export const COMP_WORDS = 4
export const COMP_SLOT = 0
export const COMP_GEN = 1
export const COMP_CODE = 2

/** Completion codes: 0 connected, > 0 connect errno, or one of these. */
export const CODE_OK = 0
export const CODE_TIMEOUT = -1
export const CODE_CANCELLED = -2
/** `socket()` failed (errno in the low 16 bits), e.g. EMFILE. */
export const CODE_SOCKET_ERROR = 0x10000
/** `bind()` failed (errno in the low 16 bits). */
export const CODE_BIND_ERROR = 0x20000
