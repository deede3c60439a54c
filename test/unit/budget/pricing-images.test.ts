/**
 * Image token bounds per model family, each case checked against the provider's published formula or worked
 * example. OpenAI: https://platform.openai.com/docs/guides/images-vision#calculating-costs. Claude:
 * https://docs.anthropic.com/en/docs/build-with-claude/vision#calculate-image-costs.
 */
import { describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { imageTokens, MAX_PATCHES, MAX_TILES, patchCount, tileCount, worstImageTokens } from '../../../src/budget/pricing/images.ts'
import { IMAGE_PRICING_PRESETS as P } from '../../../src/config/image-pricing.ts'

describe('tiles (gpt-4o, gpt-4o-mini, gpt-4.1, o-series)', () => {
  test.each([
    // [family, width, height, detail, tokens, where the figure comes from]
    ['gpt-4o', 1024, 1024, 'high', 765, 'docs: 1024² → 768² → 4 tiles: 85 + 4 × 170'],
    ['gpt-4o', 2048, 4096, 'high', 1105, 'docs: → 1024 × 2048 → 768 × 1536 → 6 tiles: 85 + 6 × 170'],
    ['gpt-4o', 4096, 8192, 'low', 85, 'docs: low detail is the base cost whatever the size'],
    ['gpt-4o', 2048, 768, 'high', 85 + 8 * 170, '4 × 2 tiles, the most any image gets'],
    ['gpt-4o-mini', 2048, 768, 'high', 2833 + 8 * 5667, 'issue 9: a 2048 × 768 image on gpt-4o-mini is ~48k tokens'],
    ['gpt-4o-mini', 2048, 768, 'low', 2833, 'gpt-4o-mini base 2,833'],
    ['o-series', 1024, 1024, 'high', 75 + 4 * 150, 'o1/o3: 75 + 150 per tile'],
    ['gpt-4o', 100, 100, 'high', 765, 'small images assumed enlarged to a 768 short side (bound, ≥ 255 if not)'],
    ['gpt-4o', 10_000, 10, 'high', 85 + 4 * 170, 'a 1000:1 strip: long side 2048, short under 512'],
  ] as const)('%s %p×%p %s → %p (%s)', (family, w, h, detail, want) => {
    expect(imageTokens(P[family], { width: w, height: h }, detail)).toBe(want)
  })

  test.each([
    ['gpt-4o', 'high', 1445], ['gpt-4o', 'low', 85], ['gpt-4o-mini', 'high', 48_169], ['gpt-4o-mini', 'low', 2833], ['o-series', 'high', 1275],
  ] as const)('unknown size, %s %s → the worst case %p', (family, detail, want) => {
    expect(worstImageTokens(P[family], detail)).toBe(want)
    expect(imageTokens(P[family], null, detail)).toBe(want)
  })

  /** The docs' steps read as "downscale only", with the provider rounding each side any way it likes. */
  function referenceTiles(w: number, h: number, round: (x: number) => number): number {
    let s = Math.min(1, 2048 / Math.max(w, h))
    let W = round(w * s), H = round(h * s)
    s = Math.min(1, 768 / Math.min(W, H))
    W = round(W * s); H = round(H * s)
    return Math.ceil(W / 512) * Math.ceil(H / 512)
  }

  test('property: never below the documented steps however a provider rounds, never above 8 tiles', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 20_000 }), fc.integer({ min: 1, max: 20_000 }), (w, h) => {
      const t = tileCount(w, h)
      return t <= MAX_TILES && [Math.floor, Math.round, Math.ceil, (x: number) => x].every((r) => t >= referenceTiles(w, h, r))
    }), { numRuns: 5_000 })
  })
})

describe('patches (gpt-4.1-mini ×1.62, gpt-4.1-nano ×2.46, o4-mini ×1.72)', () => {
  test.each([
    ['gpt-4.1-mini', 1024, 1024, 1659, 'docs: 32 × 32 = 1,024 patches, × 1.62 = 1,658.88'],
    ['gpt-4.1-mini', 1800, 2400, 2489, 'docs: 4,275 patches, scaled to 1,452; bounded by the 1,536 cap × 1.62'],
    ['gpt-4.1-nano', 1024, 1024, 2520, '1,024 × 2.46 = 2,519.04'],
    ['o4-mini', 33, 33, 7, '2 × 2 patches × 1.72 = 6.88'],
  ] as const)('%s %p×%p → %p (%s)', (family, w, h, want) => {
    expect(imageTokens(P[family], { width: w, height: h }, 'high')).toBe(want)
    expect(imageTokens(P[family], { width: w, height: h }, 'low')).toBe(want) // detail never lowers the bound
  })

  test.each([['gpt-4.1-mini', 2489], ['gpt-4.1-nano', 3779], ['o4-mini', 2642]] as const)('unknown size, %s → ceil(1,536 × multiplier) = %p', (family, want) => {
    expect(worstImageTokens(P[family], 'high')).toBe(want)
  })

  test('patch count is exact under the cap and the cap above it', () => {
    expect(patchCount(1024, 1024)).toBe(1024)
    expect(patchCount(1, 1)).toBe(1)
    expect(patchCount(1800, 2400)).toBe(MAX_PATCHES)
    expect(patchCount(100_000, 100_000)).toBe(MAX_PATCHES)
  })
})

describe('area (Claude: width × height / 750, resized into a ~1,600-token box)', () => {
  test.each([
    [200, 200, 54, 'docs: 200 × 200 → ~54'],
    [1000, 1000, 1334, 'docs: 1000 × 1000 → ~1334'],
    [1092, 1092, 1590, 'docs: 1092 × 1092 → ~1590'],
    [784, 1568, 1640, 'docs: the 1:2 maximum that is not resized, 1,639.08'],
    [8000, 8000, 1640, 'resized down: capped at the largest documented unresized image'],
  ])('%p×%p → %p (%s)', (w, h, want) => {
    expect(imageTokens(P.claude, { width: w, height: h }, 'high')).toBe(want)
  })
  test('unknown size → 1,640', () => expect(worstImageTokens(P.claude, 'low')).toBe(1640))
})
