import * as dgram from "node:dgram"
import * as net from "node:net"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type ConnectFailure, reasonOf } from "./net.ts"

export interface UdpOptions {
  readonly host: string
  readonly port: number
  readonly bindTo?: string | undefined
  readonly bindPort?: number | undefined
}

/**
 * A connected UDP socket whose incoming datagrams and ICMP errors (surfaced by the kernel on a connected socket
 * as ECONNREFUSED / EHOSTUNREACH on recvmsg) are queued until read. Closed with its Scope.
 */
export interface Udp {
  readonly send: (data: Uint8Array) => Effect.Effect<void, ConnectFailure>
  /** Next datagram for which `accept` is true; ICMP errors fail. */
  readonly receive: (accept: (msg: Buffer) => boolean) => Effect.Effect<Buffer, ConnectFailure>
}

export const open = (options: UdpOptions): Effect.Effect<Udp, ConnectFailure, Scope.Scope> =>
  Effect.gen(function* () {
    const socket = yield* Effect.acquireRelease(
      Effect.callback<dgram.Socket, ConnectFailure>((resume) => {
        const s = dgram.createSocket(net.isIPv6(options.host) ? "udp6" : "udp4")
        const onError = (e: NodeJS.ErrnoException) => {
          try {
            s.close()
          } catch {
            // already closed
          }
          resume(Effect.fail({ reason: reasonOf(e.code), code: e.code ?? e.message }))
        }
        s.once("error", onError)
        const doConnect = () =>
          s.connect(options.port, options.host, () => {
            s.off("error", onError)
            resume(Effect.succeed(s))
          })
        if (options.bindTo !== undefined || options.bindPort !== undefined) {
          s.bind({ address: options.bindTo, port: options.bindPort ?? 0 }, doConnect)
        } else doConnect()
      }),
      (s) =>
        Effect.sync(() => {
          try {
            s.close()
          } catch {
            // already closed
          }
        }),
      { interruptible: true }
    )
    const inbox: Array<Buffer> = []
    let error: ConnectFailure | undefined
    let wake: (() => void) | undefined
    socket.on("message", (m: Buffer) => {
      inbox.push(m)
      wake?.()
    })
    socket.on("error", (e: NodeJS.ErrnoException) => {
      error = { reason: reasonOf(e.code), code: e.code ?? e.message }
      wake?.()
    })
    const send = (data: Uint8Array) =>
      Effect.callback<void, ConnectFailure>((resume) => {
        socket.send(data, (err) => {
          if (err) resume(Effect.fail({ reason: reasonOf((err as NodeJS.ErrnoException).code), code: err.message }))
          else resume(Effect.void)
        })
      })
    const receive = (accept: (msg: Buffer) => boolean) =>
      Effect.callback<Buffer, ConnectFailure>((resume) => {
        const check = (): boolean => {
          while (inbox.length > 0) {
            const m = inbox.shift()!
            if (accept(m)) {
              resume(Effect.succeed(m))
              return true
            }
          }
          if (error !== undefined) {
            resume(Effect.fail(error))
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
    return { send, receive }
  })
