/**
 * Linux x86-64/arm64 socket constants shared by the checkers that call libc through koffi (PING_CHECK and the
 * TCP_CHECK engine).
 *
 * @internal
 */
export const AF_INET = 2
export const AF_INET6 = 10
export const SOCK_STREAM = 1
export const SOCK_DGRAM = 2
export const SOCK_RAW = 3
export const SOCK_NONBLOCK = 0o4000
export const SOCK_CLOEXEC = 0o2000000
