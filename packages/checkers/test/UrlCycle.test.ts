import { UrlCycle } from "@lvs-ts/checkers"
import { describe, expect, it } from "vitest"

const t = { retry: 1, delayBeforeRetryMs: 3000, delayLoopMs: 10000, urls: 3, fastRecovery: false }

const drive = (results: ReadonlyArray<boolean>, timing = t, alpha = false) => {
  let s = UrlCycle.initial({ alpha, retry: timing.retry })
  return results.map((ok) => {
    const url = s.url
    const step = UrlCycle.step(s, ok, timing)
    s = step.state
    return { url, outcome: step.outcome, delay: step.delayMs, up: s.up, changed: step.changed, after: step.failedAfter }
  })
}

describe("UrlCycle (keepalived check_http.c epilog)", () => {
  it("checks one url per cycle and reports UP only after a complete pass", () => {
    const r = drive([true, true, true, true])
    expect(r.map((x) => x.url)).toEqual([0, 1, 2, 0])
    expect(r.map((x) => x.outcome)).toEqual(["Unchanged", "Unchanged", "Up", "Unchanged"])
    expect(r.map((x) => x.delay)).toEqual([10000, 10000, 10000, 10000])
  })

  it("a failure during the first pass is final at once and already says 'after N retries'", () => {
    const r = drive([true, false])
    expect(r[1]).toMatchObject({ url: 1, outcome: "Down", changed: true, after: 1, delay: 10000 })
  })

  it("while up: retries the same url at delay_before_retry, then down; polls only the failed url; then rechecks all", () => {
    const r = drive([true, true, true, /* up */ true, false, false, /* down */ false, true, true, true, true])
    expect(r.map((x) => x.url)).toEqual([0, 1, 2, 0, 1, 1, 1, 1, 0, 1, 2])
    expect(r.map((x) => x.outcome)).toEqual([
      "Unchanged",
      "Unchanged",
      "Up",
      "Unchanged",
      "Retry",
      "Down",
      "Unchanged",
      "Unchanged",
      "Unchanged",
      "Unchanged",
      "Up"
    ])
    expect(r[4]!.delay).toBe(3000)
    expect(r[5]!.after).toBe(1)
    // failed url polled every max(delay_before_retry, delay_loop)
    expect(r[5]!.delay).toBe(10000)
    expect(r[6]!.delay).toBe(10000)
    expect(r[10]!.changed).toBe(true)
  })

  it("fast_recovery removes delay_loop gaps before the first pass and while recovering", () => {
    const fr = { ...t, fastRecovery: true, delayBeforeRetryMs: 20000 }
    const r = drive([true, true, true, true, false, false, true, true, true, true], fr)
    expect(r.map((x) => x.url)).toEqual([0, 1, 2, 0, 1, 1, 1, 0, 1, 2])
    expect(r.map((x) => x.delay)).toEqual([0, 0, 10000, 10000, 20000, 20000, 0, 0, 0, 10000])
    expect(r[9]!.outcome).toBe("Up")
  })

  it("retry 0: the first failure goes down with the short line", () => {
    let s = UrlCycle.initial({ alpha: false, retry: 0 })
    const step = UrlCycle.step(s, false, { ...t, retry: 0 })
    s = step.state
    expect(step.outcome).toBe("Down")
    expect(step.shortFailureLine).toBe(true)
  })

  it("alpha: down until a full pass", () => {
    const r = drive([true, true, true], t, true)
    expect(r.map((x) => x.up)).toEqual([false, false, true])
    expect(r[2]!.changed).toBe(true)
  })
})
