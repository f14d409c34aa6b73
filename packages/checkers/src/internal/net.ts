import * as net from "node:net"
import * as tls from "node:tls"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Probe from "../Probe.ts"

/** A connect failure: keepalived's reason plus the errno code. */
export interface ConnectFailure {
  readonly reason: Probe.Reason
  readonly code: string
}

export interface ConnectOptions {
  readonly host: string
  readonly port: number
  readonly bindTo?: string | undefined
  readonly bindPort?: number | undefined
  readonly bindIf?: string | undefined
  readonly tls?: { readonly servername?: string | undefined } | undefined
}

export const reasonOf = (code: string | undefined): Probe.Reason => {
  switch (code) {
    case "ECONNREFUSED":
      return "Refused"
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "EHOSTDOWN":
      return "Unreachable"
    case "EADDRINUSE":
    case "EADDRNOTAVAIL":
      return "BindError"
    case "ETIMEDOUT":
      return "Timeout"
    default:
      return "ConnectError"
  }
}

const scoped = (host: string, bindIf: string | undefined): string =>
  bindIf !== undefined && host.toLowerCase().startsWith("fe80:") && !host.includes("%") ? `${host}%${bindIf}` : host

/**
 * Open a TCP (or TLS) connection; the socket lives exactly as long as the enclosing Scope, whatever the exit
 * (success, failure, timeout interruption), so no descriptor can leak.
 */
export const connect = (options: ConnectOptions): Effect.Effect<net.Socket, ConnectFailure, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<net.Socket, ConnectFailure>((resume) => {
      const base: net.TcpNetConnectOpts = {
        host: scoped(options.host, options.bindIf),
        port: options.port,
        ...(options.bindTo !== undefined ? { localAddress: options.bindTo } : {}),
        ...(options.bindPort !== undefined ? { localPort: options.bindPort } : {}),
        // Literal addresses only: a checker never waits on the resolver.
        lookup: (hostname, _opts, cb) => cb(null, hostname, net.isIPv6(hostname.split("%")[0]!) ? 6 : 4),
        noDelay: true
      }
      const socket: net.Socket =
        options.tls !== undefined
          ? tls.connect({
              ...base,
              rejectUnauthorized: false,
              ...(options.tls.servername !== undefined ? { servername: options.tls.servername } : {})
            })
          : net.connect(base)
      const onError = (e: NodeJS.ErrnoException) => {
        socket.destroy()
        resume(Effect.fail({ reason: reasonOf(e.code), code: e.code ?? e.message }))
      }
      socket.once("error", onError)
      socket.once(options.tls !== undefined ? "secureConnect" : "connect", () => {
        socket.off("error", onError)
        // Keep an error listener so a late RST never becomes an uncaught exception.
        socket.on("error", () => {})
        resume(Effect.succeed(socket))
      })
      return Effect.sync(() => socket.destroy())
    }),
    (socket) => Effect.sync(() => socket.destroy()),
    // The connect itself must be interruptible so the attempt's deadline can cut it (the callback's own
    // cleanup then destroys the half-open socket).
    { interruptible: true }
  )

/** Write all bytes. */
export const write = (socket: net.Socket, data: string | Uint8Array): Effect.Effect<void, ConnectFailure> =>
  Effect.callback<void, ConnectFailure>((resume) => {
    socket.write(data, (err) => {
      if (err) resume(Effect.fail({ reason: "Error", code: (err as NodeJS.ErrnoException).code ?? err.message }))
      else resume(Effect.void)
    })
  })

/**
 * Read until `done(buffer)` says how many bytes make a complete unit (or the peer closes: `undefined` →
 * whatever arrived). Data read past the unit stays in `pending`.
 */
export interface Reader {
  readonly read: (done: (buf: Buffer) => number | undefined) => Effect.Effect<Buffer, ConnectFailure>
  readonly readToEnd: (limit?: number) => Effect.Effect<Buffer, ConnectFailure>
}

export const reader = (socket: net.Socket): Reader => {
  let pending: Buffer = Buffer.alloc(0)
  let ended = false
  let error: ConnectFailure | undefined
  let wake: (() => void) | undefined
  socket.on("data", (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    wake?.()
  })
  socket.on("end", () => {
    ended = true
    wake?.()
  })
  socket.on("close", () => {
    ended = true
    wake?.()
  })
  socket.on("error", (e: NodeJS.ErrnoException) => {
    error = { reason: reasonOf(e.code), code: e.code ?? e.message }
    wake?.()
  })
  const read = (done: (buf: Buffer) => number | undefined) =>
    Effect.callback<Buffer, ConnectFailure>((resume) => {
      const check = (): boolean => {
        const n = done(pending)
        if (n !== undefined) {
          const unit = pending.subarray(0, n)
          pending = pending.subarray(n)
          resume(Effect.succeed(unit))
          return true
        }
        if (error !== undefined) {
          resume(Effect.fail(error))
          return true
        }
        if (ended) {
          const unit = pending
          pending = Buffer.alloc(0)
          resume(Effect.succeed(unit))
          return true
        }
        return false
      }
      if (check()) return
      wake = () => {
        if (check()) wake = undefined
      }
      return Effect.sync(() => {
        wake = undefined
      })
    })
  const readToEnd = (limit = 16 * 1024 * 1024) => read((buf) => (buf.length >= limit ? limit : undefined))
  return { read, readToEnd }
}
