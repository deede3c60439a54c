/**
 * Anthropic's models at list prices (USD per million tokens). Prices move; operators pin their own in gateway.toml.
 * Source: https://docs.anthropic.com/en/docs/about-claude/pricing.
 */
import { IMAGE_PRICING_PRESETS as img } from '../../config/image-pricing.ts'
import type { CatalogModel } from '../types.ts'

/** Claude prompt caching: 5-minute writes 1.25× input, 1-hour writes 2×, reads 0.1×. Web search $10 / 1,000. */
const claude = (input: number, cached: number, write5m: number, write1h: number) => ({
  inputUsdPerMtok: input, cachedInputUsdPerMtok: cached, cacheWriteUsdPerMtok: write5m, cacheWrite1hUsdPerMtok: write1h,
  imagePricing: img.claude, webSearchUsdPerCall: 0.01,
})

export const ANTHROPIC_CATALOG: Record<string, CatalogModel> = {
  'claude-sonnet-4-5': { ...claude(3, 0.3, 3.75, 6), outputUsdPerMtok: 15, maxOutputTokens: 64000 },
  'claude-haiku-4-5': { ...claude(1, 0.1, 1.25, 2), outputUsdPerMtok: 5, maxOutputTokens: 64000 },
  'claude-opus-4-1': { ...claude(15, 1.5, 18.75, 30), outputUsdPerMtok: 75, maxOutputTokens: 32000 },
}
