/**
 * Our side of the interop tests: a plain Node process running the Router over the kernel transport in a
 * network namespace. Config comes as JSON in argv[2]; transitions and log lines go to stdout as JSON
 * lines with wall-clock times; SIGTERM stops it like keepalived (priority-0 advert, VIPs removed).
 */
import { Effect, Fiber, Layer, Logger } from "effect"
import { KernelTransport, Notify, Router } from "../../src/index.ts"

const config = JSON.parse(process.argv[2]!) as { interface: string; router: Router.Options }
const print = (o: object) => process.stdout.write(`${JSON.stringify({ t: Date.now(), ...o })}\n`)

const program = Effect.gen(function* () {
  const router = yield* Router.make(config.router)
  let logs = 0
  let transitions = 0
  const flush = Effect.sync(() => {
    for (; logs < router.log.length; logs++) print({ log: router.log[logs]!.message })
    for (; transitions < router.transitions.length; transitions++) {
      const t = router.transitions[transitions]!
      print({ instance: t.instance, from: t.from, to: t.to })
    }
  })
  yield* Effect.addFinalizer(() => flush)
  print({ ready: true })
  yield* Effect.forever(Effect.andThen(flush, Effect.sleep("5 millis")))
}).pipe(
  Effect.scoped,
  Effect.provide(Layer.mergeAll(KernelTransport.layer({ interface: config.interface }), Notify.Notifier.layer)),
  Effect.provide(Logger.layer([]))
)

const fiber = Effect.runFork(program)
let stopping = false
process.on("SIGTERM", () => {
  stopping = true
  Effect.runPromise(Fiber.interrupt(fiber)).then(() => {
    print({ exited: true })
    process.exit(0)
  })
})
fiber.addObserver((exit) => {
  if (exit._tag === "Failure" && !stopping) {
    print({ failure: String(exit.cause) })
    process.exit(1)
  }
})
