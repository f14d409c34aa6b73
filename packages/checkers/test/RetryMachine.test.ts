import { RetryMachine } from "@lvs-ts/checkers"
import fc from "fast-check"
import { describe, expect, it } from "vitest"

const timing = { retry: 2, delayBeforeRetryMs: 1000, delayLoopMs: 10000 }

const run = (results: ReadonlyArray<boolean>, alpha = false, t = timing) => {
  let s = RetryMachine.initial({ alpha, retry: t.retry })
  return results.map((ok) => {
    const step = RetryMachine.step(s, ok, t)
    s = step.state
    return step
  })
}

describe("RetryMachine (keepalived tcp_epilog, HEAD)", () => {
  it("first result decides at once: one initial failure is enough, with the short 'failed.' line", () => {
    const [first] = run([false])
    expect(first!.outcome).toBe("Down")
    expect(first!.changed).toBe(true)
    expect(first!.shortFailureLine).toBe(true)
    expect(first!.delayMs).toBe(10000)
  })

  it("first success is reported (has_run false) but does not change an already-up checker", () => {
    const [first] = run([true])
    expect(first!.outcome).toBe("Up")
    expect(first!.changed).toBe(false)
  })

  it("while up: retry times at delay_before_retry, then down 'after N retries'", () => {
    const steps = run([true, false, false, false])
    expect(steps.map((s) => s.outcome)).toEqual(["Up", "Retry", "Retry", "Down"])
    expect(steps.map((s) => s.delayMs)).toEqual([10000, 1000, 1000, 10000])
    expect(steps[3]!.shortFailureLine).toBe(false)
    expect(steps[3]!.changed).toBe(true)
  })

  it("a success during the retries resets the counter", () => {
    const steps = run([true, false, true, false, false, false])
    expect(steps.map((s) => s.outcome)).toEqual(["Up", "Retry", "Unchanged", "Retry", "Retry", "Down"])
  })

  it("while down: every delay_loop, no retries, and one success brings it up", () => {
    const steps = run([false, false, false, true])
    expect(steps.map((s) => s.outcome)).toEqual(["Down", "Unchanged", "Unchanged", "Up"])
    expect(steps.map((s) => s.delayMs)).toEqual([10000, 10000, 10000, 10000])
    expect(steps[3]!.changed).toBe(true)
  })

  it("retry 0 goes down on the first failure with the short line", () => {
    const t = { ...timing, retry: 0 }
    const steps = run([true, false], false, t)
    expect(steps[1]!.outcome).toBe("Down")
    expect(steps[1]!.shortFailureLine).toBe(true)
  })

  it("alpha starts failed: first failure is logged but changes nothing; first success adds", () => {
    const a = run([false, true], true)
    expect(a[0]!.outcome).toBe("Down")
    expect(a[0]!.changed).toBe(false)
    expect(a[1]!.outcome).toBe("Up")
    expect(a[1]!.changed).toBe(true)
  })

  it("property: an up checker goes down after exactly retry+1 consecutive failures; down comes up on 1 success", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5 }), fc.array(fc.boolean(), { maxLength: 60 }), (retry, results) => {
        const t = { retry, delayBeforeRetryMs: 1, delayLoopMs: 7 }
        let s = RetryMachine.step(RetryMachine.initial({ alpha: false, retry }), true, t).state
        let consecutive = 0
        for (const ok of results) {
          const wasUp = s.up
          const step = RetryMachine.step(s, ok, t)
          consecutive = ok ? 0 : consecutive + 1
          if (ok) expect(step.state.up).toBe(true)
          else if (!wasUp) expect(step.state.up).toBe(false)
          else expect(step.state.up).toBe(consecutive <= retry)
          if (!ok && !wasUp) consecutive = retry + 1
          expect(step.delayMs).toBe(step.outcome === "Retry" ? 1 : 7)
          s = step.state
        }
      }),
      { numRuns: 300 }
    )
  })
})
