/**
 * The transport interface between the VRRP engine and a network: send adverts, announce addresses
 * (gratuitous ARP / unsolicited NA), apply the owner's addresses and routes, and deliver received
 * datagrams. Implementations: `TapTransport` (Ethernet frames for the director's TAP ports) and
 * `KernelTransport` (raw IP socket, `ip addr`).
 *
 * @module
 */
import { Context, type Effect, type Scope } from "effect"
import type * as Advert from "./Advert.ts"
import type * as Config from "./Config.ts"
import type * as Datagram from "./Datagram.ts"

/**
 * One advert to send to one destination.
 *
 * @example
 * ```ts
 * transport.send({ instance: vi, source: "10.9.0.2", destination: "224.0.0.18", ttl: 255, id: 1, advert })
 * ```
 */
export interface Outgoing {
  readonly instance: Config.Instance
  /** Source address; `undefined` lets the transport use the interface's primary address. */
  readonly source: string | undefined
  /** The multicast group, or one unicast peer. */
  readonly destination: string
  readonly ttl: number
  /** IP identification (IPv4). */
  readonly id: number
  readonly advert: Advert.AdvertInput
}

/**
 * A received datagram and the interface it arrived on (when known).
 *
 * @example
 * ```ts
 * deliver({ received: Datagram.decodeIpv4(buf, 0, n), interface: "eth0" })
 * ```
 */
export interface Incoming {
  /** A datagram, or a runt the transport could not parse (logged with keepalived's text). */
  readonly received: Datagram.Received | Datagram.Runt
  readonly interface?: string | undefined
}

/**
 * The transport service the `Router` drives.
 *
 * @example
 * ```ts
 * const layer = Layer.succeed(Transport.Transport, myTransport)
 * ```
 */
export class Transport extends Context.Service<
  Transport,
  {
    readonly send: (outgoing: Outgoing) => Effect.Effect<void>
    /** Sends `repeat` gratuitous ARPs / unsolicited NAs for each address. */
    readonly announce: (
      instance: Config.Instance,
      addresses: ReadonlyArray<string>,
      repeat: number
    ) => Effect.Effect<void>
    /** Adds the VIPs, eVIPs and virtual routes (MASTER). */
    readonly addAddresses: (instance: Config.Instance) => Effect.Effect<void>
    /** Removes them again. */
    readonly removeAddresses: (instance: Config.Instance) => Effect.Effect<void>
    /**
     * The interface's own address for an instance (keepalived: the interface primary address), used as
     * advert source and tie-break when the configuration names none; `undefined` when unknown.
     */
    readonly localAddress: (instance: Config.Instance) => string | undefined
    /**
     * Starts delivering datagrams for these instances (joining groups, opening sockets) until the scope
     * closes. `deliver` is synchronous and cheap: it only enqueues.
     */
    readonly listen: (
      instances: ReadonlyArray<Config.Instance>,
      deliver: (incoming: Incoming) => void
    ) => Effect.Effect<void, never, Scope.Scope>
  }
>()("@lvs-ts/vrrp/Transport") {}
