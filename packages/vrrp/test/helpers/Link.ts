/**
 * A virtual Ethernet segment for tests: routers with real TAP transports exchange real frames through it,
 * under Effect's TestClock. Ports can be unplugged (link failure without a priority-0 advert) and the
 * segment partitioned (split brain).
 */
import { Clock, Effect, type Scope } from "effect"
import { type Config, Frame, Notify, Router, TapTransport, Transport } from "../../src/index.ts"

export interface Captured {
  readonly at: number
  readonly port: string
  readonly frame: Uint8Array
}

export class Link {
  readonly frames: Array<Captured> = []
  private readonly ports = new Map<string, { tap: TapTransport.Tap; up: boolean; side: number }>()
  private readonly now: () => number

  constructor(now: () => number) {
    this.now = now
  }

  static make: Effect.Effect<Link> = Clock.clockWith((clock) =>
    Effect.succeed(new Link(() => clock.currentTimeMillisUnsafe()))
  )

  port(name: string): TapTransport.Tap {
    const tap = TapTransport.make({
      name,
      write: (frame) => {
        const me = this.ports.get(name)!
        if (!me.up) return
        this.frames.push({ at: this.now(), port: name, frame })
        for (const [other, p] of this.ports) if (other !== name && p.up && p.side === me.side) p.tap.input(frame)
      }
    })
    this.ports.set(name, { tap, up: true, side: 0 })
    return tap
  }

  /** Puts a raw frame on the link as if sent from `from` (a name that need not be a port). */
  inject(from: string, frame: Uint8Array): void {
    this.frames.push({ at: this.now(), port: from, frame })
    for (const [name, p] of this.ports) if (name !== from && p.up && p.side === 0) p.tap.input(frame)
  }

  /** Unplugs or replugs a port. */
  setUp(name: string, up: boolean): void {
    this.ports.get(name)!.up = up
  }

  /** Puts a port on one side of a partition (0 = everyone together). */
  setSide(name: string, side: number): void {
    this.ports.get(name)!.side = side
  }

  /** Decoded adverts seen on the link, optionally from one port. */
  adverts(port?: string) {
    return this.frames.flatMap((c) => {
      if (port !== undefined && c.port !== port) return []
      const r = Frame.decode(c.frame)
      if (r === undefined || "_tag" in r) return []
      return [
        {
          at: c.at,
          port: c.port,
          source: r.source,
          priority: r.payload[2]!,
          id: (c.frame[18]! << 8) | c.frame[19]!,
          received: r
        }
      ]
    })
  }

  /** GARP frames seen on the link. */
  garps(port?: string) {
    return this.frames.filter(
      (c) => (port === undefined || c.port === port) && c.frame[12] === 0x08 && c.frame[13] === 0x06
    )
  }
}

/** Starts a router on a port of the link (real TAP transport, real notifier). */
export const node = (
  link: Link,
  name: string,
  options: Router.Options
): Effect.Effect<Router.Router, Config.ConfigError, Scope.Scope> => {
  const tap = link.port(name)
  return Router.make({ logDetail: true, ...options }).pipe(
    Effect.provideService(Transport.Transport, tap.transport),
    Effect.provide(Notify.Notifier.layer)
  )
}

/** Time (ms) of the first transition of `instance` to `to` at or after `after`. */
export const transitionAt = (r: Router.Router, instance: string, to: string, after = 0): number | undefined =>
  r.transitions.find((t) => t.instance === instance && t.to === to && t.at >= after)?.at

export const lines = (r: Router.Router): Array<string> => r.log.map((l) => l.message)
