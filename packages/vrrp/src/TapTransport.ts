/**
 * A {@link Transport.Transport} over Ethernet frames, for the userspace director's TAP ports: adverts
 * are written as Ethernet + IP + VRRP frames from the virtual router MAC, GARPs/NAs as frames, and the
 * owner's addresses are data the director applies (a callback and a queryable set) rather than kernel
 * state. Frames read from the port are fed to {@link Tap.input}.
 *
 * @module
 */
import { Effect, Layer } from "effect"
import type * as Config from "./Config.ts"
import * as Frame from "./Frame.ts"
import * as Transport from "./Transport.ts"

/**
 * Options of a TAP port transport.
 *
 * @example
 * ```ts
 * TapTransport.make({ write: (frame) => port.write(frame), onAddresses: (vi, owned) => director.setVips(vi, owned) })
 * ```
 */
export interface Options {
  /** Writes one Ethernet frame to the port. */
  readonly write: (frame: Uint8Array) => void
  /** The port's own MAC; adverts still use the virtual router MAC unless `useVirtualMac` is false. */
  readonly mac?: Uint8Array | undefined
  /** Send adverts and GARPs from 00:00:5e:00:01:VRID (RFC 5798 §7.3). Default true. */
  readonly useVirtualMac?: boolean | undefined
  /** Resolves a unicast peer's MAC; default broadcast. */
  readonly neighbour?: ((address: string) => Uint8Array | undefined) | undefined
  /** Called when an instance's VIPs/eVIPs/routes become owned (`true`) or released (`false`). */
  readonly onAddresses?: ((instance: Config.Instance, owned: boolean) => void) | undefined
  /** The port name reported in "Unknown VRID" logs. */
  readonly name?: string | undefined
}

/**
 * A TAP transport: the service implementation plus the frame input and owned-address view.
 *
 * @example
 * ```ts
 * const tap = TapTransport.make({ write })
 * port.onFrame(tap.input)
 * tap.owned.has("10.9.0.100")
 * ```
 */
export interface Tap {
  readonly transport: Transport.Transport["Service"]
  /** Feeds one frame read from the port; non-VRRP frames are ignored. */
  readonly input: (frame: Uint8Array) => void
  /** Addresses currently owned (VIPs and eVIPs of instances in MASTER). */
  readonly owned: ReadonlySet<string>
  /** The transport as a layer. */
  readonly layer: Layer.Layer<Transport.Transport>
}

/**
 * Creates a TAP transport.
 *
 * @example
 * ```ts
 * const tap = TapTransport.make({ write: (f) => port.write(f) })
 * port.on("frame", tap.input)
 * Router.make(options).pipe(Effect.provide(tap.layer))
 * ```
 */
export const make = (options: Options): Tap => {
  const owned = new Set<string>()
  let deliver: ((incoming: Transport.Incoming) => void) | undefined
  const useVmac = options.useVirtualMac ?? true
  const srcMac = (vi: Config.Instance) =>
    useVmac || options.mac === undefined ? Frame.virtualMac(vi.vrid, vi.family) : options.mac
  const transport: Transport.Transport["Service"] = {
    send: (o) =>
      Effect.sync(() => {
        const vi = o.instance
        const multicast = vi.unicastPeers.length === 0
        const source = o.source
        if (source === undefined) return
        options.write(
          Frame.advert(o.advert, {
            family: vi.family,
            sourceMac: srcMac(vi),
            destinationMac: multicast
              ? Frame.multicastMac(o.destination)
              : (options.neighbour?.(o.destination) ?? Frame.BROADCAST),
            source,
            destination: o.destination,
            ttl: o.ttl,
            id: o.id,
            checksumAsV2: vi.checksumAsV2
          })
        )
      }),
    announce: (vi, addresses, repeat) =>
      Effect.sync(() => {
        for (let i = 0; i < repeat; i++)
          for (const a of addresses)
            options.write(a.includes(":") ? Frame.unsolicitedNa(srcMac(vi), a) : Frame.gratuitousArp(srcMac(vi), a))
      }),
    addAddresses: (vi) =>
      Effect.sync(() => {
        for (const a of [...vi.virtualAddresses, ...vi.excludedAddresses]) owned.add(a)
        options.onAddresses?.(vi, true)
      }),
    removeAddresses: (vi) =>
      Effect.sync(() => {
        for (const a of [...vi.virtualAddresses, ...vi.excludedAddresses]) owned.delete(a)
        options.onAddresses?.(vi, false)
      }),
    localAddress: () => undefined,
    listen: (_instances, d) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          deliver = d
        }),
        () =>
          Effect.sync(() => {
            deliver = undefined
          })
      )
  }
  return {
    transport,
    owned,
    input: (frame) => {
      const r = Frame.decode(frame)
      if (r !== undefined && deliver !== undefined) deliver({ received: r, interface: options.name })
    },
    layer: Layer.succeed(Transport.Transport, transport)
  }
}
