import { describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import {
  costMicros, estimatePromptTokens, FIXED_RESERVATION_MICROS, formatUsd, microsToUsd, periodKey,
  periodKeyStartMs, periodStartMs, reservationMicros, usdToMicros,
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

describe('estimatePromptTokens', () => {
  test.each([
    ['empty', [], 3],
    ['one short message', [{ role: 'user', content: 'hi' }], 3 + 4 + 4 + 2], // one token per UTF-8 byte: 'user' 4, 'hi' 2
    ['CJK: 3 bytes per char, 3 tokens bound per char', [{ role: 'user', content: '你好世界' }], 3 + 4 + 4 + 12],
    ['image part counted flat, not by data URL bytes', [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,' + 'A'.repeat(1_000_000) } }] }], 3 + 4 + 4 + 3000],
    ['text parts', [{ role: 'user', content: [{ type: 'text', text: 'abcdef' }] }], 3 + 4 + 4 + 6 + 1],
  ])('%s', (_name, messages, want) => {
    expect(estimatePromptTokens(messages)).toBe(want)
  })
  test('a hard bound: never below one token per byte, whatever the text (regression: bytes/3 undercounted rare symbols)', () => {
    const adversarial = '\u00a7\u00b6~^`|'.repeat(500)
    expect(estimatePromptTokens([{ role: 'user', content: adversarial }])).toBeGreaterThanOrEqual(Buffer.byteLength(adversarial))
  })
  test('at or above a 4-bytes-per-token English rule of thumb', () => {
    const text = 'The quick brown fox jumps over the lazy dog. '.repeat(200)
    expect(estimatePromptTokens([{ role: 'user', content: text }])).toBeGreaterThanOrEqual(Math.ceil(text.length / 4))
  })
  test('tool calls and odd shapes are counted, never throw', () => {
    const msgs = [{ role: 'assistant', content: null, tool_calls: [{ id: 'x', function: { name: 'f', arguments: '{}' } }] }, 42, null]
    expect(estimatePromptTokens(msgs)).toBeGreaterThan(3 + 3 * 4)
  })
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
})
