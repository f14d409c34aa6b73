import { describe, expect, it } from "vitest"
import { Rate, RateEstimator } from "../src/RateEstimator.ts"

describe("RateEstimator", () => {
  it("converges to a steady rate with the kernel's 1/4 EWMA and scaling", () => {
    const est = new RateEstimator(1)
    const totals = new Float64Array(5)
    est.sample(totals) // primes
    // 100 conns/s, 1000 pkts/s in, 500 out, 1 MB/s in, 64 KB/s out, for 2 minutes.
    const steps: Array<number> = []
    for (let i = 0; i < 60; i++) {
      totals[0]! += 200
      totals[1]! += 2000
      totals[2]! += 1000
      totals[3]! += 2_000_000
      totals[4]! += 131_072
      est.sample(totals)
      steps.push(est.rate(0, Rate.cps))
    }
    // First step: avg = rate/4 = 25 conns/s.
    expect(steps[0]).toBe(25)
    expect(steps[1]).toBe(44) // 25 + (100-25)/4 = 43.75 -> rounded up by +0x1FF
    expect(steps[19]).toBe(100) // the scaled average is within 2^-10 of 100 after 40 s
    expect(est.rate(0, Rate.cps)).toBe(100)
    expect(est.rate(0, Rate.inpps)).toBe(1000)
    expect(est.rate(0, Rate.outpps)).toBe(500)
    expect(est.rate(0, Rate.inbps)).toBe(1_000_000)
    expect(est.rate(0, Rate.outbps)).toBe(65_536)
  })

  it("decays to zero when traffic stops and restarts on reset", () => {
    const est = new RateEstimator(2)
    const totals = new Float64Array(10)
    est.sample(totals)
    totals[5] = 2000
    est.sample(totals)
    expect(est.rate(1, Rate.cps)).toBe(250)
    expect(est.rate(0, Rate.cps)).toBe(0)
    for (let i = 0; i < 60; i++) est.sample(totals)
    expect(est.rate(1, Rate.cps)).toBe(0)
    est.reset(1)
    totals[5] = 10_000
    est.sample(totals) // re-primed: no jump
    expect(est.rate(1, Rate.cps)).toBe(0)
  })
})
