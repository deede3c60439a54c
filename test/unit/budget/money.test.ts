import { describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import {
  ceilTimes, costMicros, FIXED_RESERVATION_MICROS, formatUsd, microsToUsd, periodKey,
  periodKeyStartMs, periodStartMs, reservationMicros, termsCostMicros, termsCostMicrosExact, usdToMicros,
} from '../../../src/budget/money.ts'

describe('usdToMicros', () => {
  test.each([
    [0, 0], [1, 1_000_000], [0.29, 290_000], [10.000001, 10_000_001], [0.1 + 0.2, 300_000],
    [1e-7, 0], [5e-7, 1], [1234567.891011, 1_234_567_891_011], [1e21, 1e27], [-2.5, -2_500_000],
  ])('%p USD → %p µUSD', (usd, micros) => {
    expect(usdToMicros(usd)).toBe(micros)
  })
  test('rejects non-finite', () => {
    expect(() => usdToMicros(Number.NaN)).toThrow(RangeError)
    expect(() => usdToMicros(Infinity)).toThrow(RangeError)
  })
})

describe('microsToUsd / formatUsd', () => {
  test.each([
    [0, '$0.000000'], [1, '$0.000001'], [1_500_000, '$1.500000'], [123_456_789, '$123.456789'], [-1, '-$0.000001'],
  ])('%p → %p', (m, s) => {
    expect(formatUsd(m)).toBe(s)
  })
  test('microsToUsd', () => expect(microsToUsd(2_500_000)).toBe(2.5))
})

describe('costMicros: ceil(tokens × price) with no float error', () => {
  test.each([
    // [prompt, completion, in $/Mtok, out $/Mtok, µUSD]
    [7, 0, 0.15, 0.6, 2], // 1.05 → 2
    [0, 0, 0.15, 0.6, 0],
    [100, 0, 0.15, 0.6, 15], // exactly 15: no ceil upward from float noise
    [1_000_000, 1_000_000, 0.15, 0.6, 750_000],
    [3, 3, 0.1, 0.2, 1], // 0.3 + 0.6 = 0.9 → 1 (ceil once on the total)
    [10, 10, 0.1, 0.2, 3], // 3.0 exactly, although 0.1+0.2 != 0.3 in floats
    [1, 0, 3, 15, 3],
    [1, 1, 3, 15, 18],
    [1, 0, 0.000001, 0, 1], // any positive cost rounds up to 1 µUSD
    [123_456, 7_890, 2.5e-3, 1e-7, 309],
    [1, 0, 1e21, 0, 1e21],
  ])('%p in + %p out at %p/%p → %p', (p, c, i, o, want) => {
    expect(costMicros({ prompt_tokens: p, completion_tokens: c }, { inputUsdPerMtok: i, outputUsdPerMtok: o })).toBe(want)
  })
  test('rejects negative or fractional tokens and negative prices', () => {
    const price = { inputUsdPerMtok: 1, outputUsdPerMtok: 1 }
    expect(() => costMicros({ prompt_tokens: -1, completion_tokens: 0 }, price)).toThrow(RangeError)
    expect(() => costMicros({ prompt_tokens: 1.5, completion_tokens: 0 }, price)).toThrow(RangeError)
    expect(() => costMicros({ prompt_tokens: 1, completion_tokens: 0 }, { inputUsdPerMtok: -1, outputUsdPerMtok: 0 })).toThrow(RangeError)
  })
  test('property: never below the real cost and less than 1 µUSD above it (cents-precision prices)', () => {
    fc.assert(fc.property(
      fc.nat(10_000_000), fc.nat(10_000_000), fc.nat(100_000), fc.nat(100_000),
      (p, c, inCents, outCents) => {
        // price = cents/100 $/Mtok ⇒ exact cost in µUSD = (p×in + c×out)/100
        const got = costMicros({ prompt_tokens: p, completion_tokens: c }, { inputUsdPerMtok: inCents / 100, outputUsdPerMtok: outCents / 100 })
        const exact100 = BigInt(p) * BigInt(inCents) + BigInt(c) * BigInt(outCents)
        return BigInt(got) * 100n >= exact100 && BigInt(got) * 100n < exact100 + 100n
      },
    ))
  })
})

describe('reservationMicros', () => {
  const price = { inputUsdPerMtok: 3, outputUsdPerMtok: 15 }
  test.each([
    ['strict', 1000, 4096, 3_000 + 61_440],
    ['strict', 0, 0, 0],
    ['fixed', 1000, 4096, FIXED_RESERVATION_MICROS],
    ['fixed', 0, 0, 1000],
  ] as const)('%s prompt=%p maxOut=%p → %p', (policy, promptTokens, maxOutputTokens, want) => {
    expect(reservationMicros(policy, { promptTokens, maxOutputTokens }, price)).toBe(want)
  })
  test('strict reservation covers any actual usage within the estimate', () => {
    fc.assert(fc.property(fc.nat(50_000), fc.nat(50_000), fc.nat(50_000), fc.nat(50_000), (p, m, ap, ac) => {
      const ap2 = Math.min(ap, p)
      const ac2 = Math.min(ac, m)
      const pr = { inputUsdPerMtok: 0.15, outputUsdPerMtok: 0.6 }
      return costMicros({ prompt_tokens: ap2, completion_tokens: ac2 }, pr) <= reservationMicros('strict', { promptTokens: p, maxOutputTokens: m }, pr)
    }))
  })
})

describe('termsCostMicros: ceil(Σ quantity × price × factor), one rounding', () => {
  test.each([
    // [terms, µUSD]
    [[[7, 0.15]], 2], // 1.05 → 2
    [[[1_000, 3, 1.25]], 3_750], // Anthropic 5-minute cache write: 1.25 × $3/Mtok
    [[[1_000, 3, 2]], 6_000], // 1-hour cache write: 2 ×
    [[[3, 0.3, 0.1]], 1], // 0.09 → 1
    [[[1, 0.025, 1_000_000]], 25_000], // a $0.025 per-call fee
    [[[3, 0.1], [3, 0.2]], 1], // 0.3 + 0.6 = 0.9: one ceil on the total, not two
    [[[10, 0.1], [10, 0.2]], 3], // exactly 3.0 although 0.1 + 0.2 != 0.3 in floats
    [[], 0],
    [[[0, 99, 99]], 0],
  ] as const)('%j → %p', (terms, want) => {
    expect(termsCostMicros(terms as never)).toBe(want)
  })
  test('costMicros is the two-term case', () => {
    fc.assert(fc.property(fc.nat(1e7), fc.nat(1e7), fc.nat(100_000), fc.nat(100_000), (p, c, i, o) => {
      const price = { inputUsdPerMtok: i / 100, outputUsdPerMtok: o / 100 }
      return costMicros({ prompt_tokens: p, completion_tokens: c }, price) === termsCostMicros([[p, i / 100], [c, o / 100]])
    }))
  })
  test('rejects negative prices and factors, fractional quantities', () => {
    expect(() => termsCostMicros([[1, -1]])).toThrow(RangeError)
    expect(() => termsCostMicros([[1, 1, -1]])).toThrow(RangeError)
    expect(() => termsCostMicros([[1.5, 1]])).toThrow(RangeError)
  })
  // Prices as configs write them, and ones that push the Numbers past 2^53 (many digits, tiny, huge).
  // Weighted so that most runs take the Number path and the rest reach each way out of it.
  const price = fc.oneof(
    { arbitrary: fc.constantFrom(0, 0.075, 0.15, 0.6, 1, 1.25, 2, 2.5, 3, 15, 75, 1e6, 0.025, 1e-7, 3.3333333, 1.2345678901234567, 123456.789, 1e21, 1e300), weight: 3 },
    { arbitrary: fc.integer({ min: 0, max: 10_000_000 }).map((n) => n / 1000), weight: 3 },
    { arbitrary: fc.double({ min: 0, max: 1e9, noNaN: true }), weight: 1 },
  )
  const quantity = fc.oneof(fc.nat(10_000_000), fc.constantFrom(0, 1, 2 ** 40, Number.MAX_SAFE_INTEGER))
  const term = fc.oneof(fc.tuple(quantity, price), fc.tuple(quantity, price, price))
  test('the Number path gives the exact BigInt result, or leaves it to it', () => {
    fc.assert(fc.property(fc.array(term, { maxLength: 6 }), (terms) => {
      expect(termsCostMicros(terms)).toBe(termsCostMicrosExact(terms))
    }), { numRuns: 5_000 })
  })
  test.each([
    ['a sum past 2^53 µUSD', [[Number.MAX_SAFE_INTEGER, 1], [1, 1]]],
    ['a price with more digits than a safe integer holds', [[3, 1.2345678901234567]]],
    ['a scale past 10^15', [[7, 1e-9, 1e-9]]],
    ['a sum of exactly 2^53 − 1', [[Number.MAX_SAFE_INTEGER, 1]]],
    ['a sum of exactly 2^53', [[2 ** 52, 2]]],
    ['an infinite product times a zero factor', [[Number.MAX_SAFE_INTEGER, 1e300, 0]]],
    ['a quantity of −0', [[-0, 1]]],
  ] as const)('%s: still exact', (_name, terms) => {
    expect(termsCostMicros(terms as never)).toBe(termsCostMicrosExact(terms as never))
  })
  test('errors are the exact path\'s, in its order', () => {
    for (const terms of [[[1.5, -1]], [[1, Infinity]], [[-1, 1]], [[1, 1], [2, -3]], [[1, 1, NaN]]] as never[]) {
      expect(() => termsCostMicros(terms)).toThrow(captureError(() => termsCostMicrosExact(terms)))
    }
  })
})

describe('ceilTimes: exact ceil(n × factor)', () => {
  test.each([
    [1536, 1.62, 2489], // 2488.32
    [1536, 2.46, 3779], // 3778.56
    [1536, 1.72, 2642], // 2641.92
    [100, 1.62, 162], // exact: no float noise upward
    [0, 2.46, 0],
  ])('%p × %p → %p', (n, f, want) => expect(ceilTimes(n, f)).toBe(want))
})

describe('periods (UTC)', () => {
  const t = Date.UTC(2026, 10, 24, 23, 59, 59, 999) // 2026-11-24T23:59:59.999Z
  test.each([
    ['total', t, 'total', 0],
    ['day', t, 'day:2026-11-24', Date.UTC(2026, 10, 24)],
    ['month', t, 'month:2026-11', Date.UTC(2026, 10, 1)],
    ['day', t + 1, 'day:2026-11-25', Date.UTC(2026, 10, 25)],
    ['month', Date.UTC(2026, 11, 31, 23, 59, 59, 999) + 1, 'month:2027-01', Date.UTC(2027, 0, 1)],
    ['day', Date.UTC(2028, 1, 29, 12), 'day:2028-02-29', Date.UTC(2028, 1, 29)],
  ] as const)('%s at %p → %s', (period, now, key, start) => {
    expect(periodKey(period, now)).toBe(key)
    expect(periodStartMs(period, now)).toBe(start)
    expect(periodKeyStartMs(key)).toBe(start)
  })
  test('bad period key', () => expect(() => periodKeyStartMs('week:1')).toThrow(RangeError))

  /** The keys as made before they were kept for the day. */
  const made = (period: 'day' | 'month', now: number) => {
    const iso = new Date(now).toISOString()
    return period === 'day' ? `day:${iso.slice(0, 10)}` : `month:${iso.slice(0, 7)}`
  }
  test('keys asked for at any times in any order are the keys of those times (fast-check)', () => {
    // Fractions too: a Date truncates toward zero, so -0.5 ms is 1970-01-01 while -1 ms is 1969-12-31.
    const time = fc.oneof(fc.integer({ min: -8.64e15, max: 8.64e15 }), fc.integer({ min: t - 3 * 86_400_000, max: t + 3 * 86_400_000 }),
      fc.double({ min: -3 * 86_400_000, max: 3 * 86_400_000, noNaN: true }), fc.double({ min: -8.64e15, max: 8.64e15, noNaN: true }))
    fc.assert(fc.property(fc.array(fc.tuple(fc.constantFrom('day' as const, 'month' as const), time), { minLength: 1, maxLength: 20 }), (asks) => {
      for (const [period, now] of asks) expect(periodKey(period, now)).toBe(made(period, now))
    }), { numRuns: 500 })
  })
  test('around midnight, back and forth, and a time no Date holds', () => {
    for (const now of [t, t + 1, t, t - 86_400_000, t + 1, -1, 0, -86_400_000, -0.5, -1, 0.5, -0, 8.64e15, -8.64e15]) {
      expect(periodKey('day', now)).toBe(made('day', now))
      expect(periodKey('month', now)).toBe(made('month', now))
    }
    expect(() => periodKey('day', NaN)).toThrow(RangeError)
    expect(() => periodKey('month', 8.64e15 + 86_400_000)).toThrow(RangeError)
    periodKey('day', 8.64e15)
    expect(() => periodKey('day', 8.64e15 + 1)).toThrow(RangeError) // the last day a Date holds, then past it
    expect(periodKey('day', t)).toBe('day:2026-11-24') // a throw leaves nothing half-made behind
  })
})

function captureError(f: () => unknown): string {
  try {
    f()
  } catch (e) {
    return (e as Error).message
  }
  throw new Error('expected a throw')
}
