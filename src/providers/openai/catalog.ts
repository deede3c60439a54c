/**
 * OpenAI's models at list prices (USD per million tokens). Prices move; operators pin their own in gateway.toml.
 * Sources: https://openai.com/api/pricing/, https://openai.com/api-priority-processing/.
 */
import { IMAGE_PRICING_PRESETS as img } from '../../config/image-pricing.ts'
import type { TierRates } from '../../config/types.ts'
import type { CatalogModel } from '../types.ts'

const priority = (inputUsdPerMtok: number, cachedInputUsdPerMtok: number, outputUsdPerMtok: number): Record<string, TierRates> =>
  ({ priority: { inputUsdPerMtok, cachedInputUsdPerMtok, outputUsdPerMtok } })

export const OPENAI_CATALOG: Record<string, CatalogModel> = {
  'gpt-4o-mini': {
    inputUsdPerMtok: 0.15, cachedInputUsdPerMtok: 0.075, outputUsdPerMtok: 0.6, maxOutputTokens: 16384,
    imagePricing: img['gpt-4o-mini'], tiers: priority(0.25, 0.125, 1),
  },
  'gpt-4o': {
    inputUsdPerMtok: 2.5, cachedInputUsdPerMtok: 1.25, outputUsdPerMtok: 10, maxOutputTokens: 16384,
    imagePricing: img['gpt-4o'], tiers: priority(4.25, 2.125, 17),
  },
  'gpt-4.1': {
    inputUsdPerMtok: 2, cachedInputUsdPerMtok: 0.5, outputUsdPerMtok: 8, maxOutputTokens: 32768,
    imagePricing: img['gpt-4o'], tiers: priority(3.5, 0.875, 14),
  },
  'gpt-4.1-mini': {
    inputUsdPerMtok: 0.4, cachedInputUsdPerMtok: 0.1, outputUsdPerMtok: 1.6, maxOutputTokens: 32768,
    imagePricing: img['gpt-4.1-mini'], tiers: priority(0.7, 0.175, 2.8),
  },
  'gpt-4.1-nano': {
    inputUsdPerMtok: 0.1, cachedInputUsdPerMtok: 0.025, outputUsdPerMtok: 0.4, maxOutputTokens: 32768,
    imagePricing: img['gpt-4.1-nano'], tiers: priority(0.2, 0.05, 0.8),
  },
  // Search models search once per request: $25 / 1,000 calls, search content tokens free
  // (https://platform.openai.com/docs/pricing#built-in-tools, "web search preview, non-reasoning models").
  'gpt-4o-search-preview': {
    inputUsdPerMtok: 2.5, outputUsdPerMtok: 10, maxOutputTokens: 16384,
    webSearchUsdPerCall: 0.025, webSearchCallsPerRequest: 1, webSearchInputTokensPerCall: 0,
  },
  'gpt-4o-mini-search-preview': {
    inputUsdPerMtok: 0.15, outputUsdPerMtok: 0.6, maxOutputTokens: 16384,
    webSearchUsdPerCall: 0.025, webSearchCallsPerRequest: 1, webSearchInputTokensPerCall: 0,
  },
}
