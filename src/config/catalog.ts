/**
 * Built-in model catalog with list prices (USD per million tokens). A config file overrides or extends it.
 * Prices move; operators pin their own in gateway.toml. Sources: https://openai.com/api/pricing/,
 * https://openai.com/api-priority-processing/, https://docs.anthropic.com/en/docs/about-claude/pricing.
 */
import type { ImagePricing, ModelConfig, TierRates } from '../providers/types.ts'

type Entry = Omit<ModelConfig, 'name' | 'upstreamModel'> & { upstreamModel?: string }

/**
 * Image formulas by family, selectable by name in the config (`image_pricing = "gpt-4o-mini"`); see
 * src/budget/pricing/images.ts. OpenAI: https://platform.openai.com/docs/guides/images-vision#calculating-costs.
 * Claude's 1,640 cap is the largest size its vision docs list as not resized (784 × 1568 px / 750).
 */
export const IMAGE_PRICING_PRESETS: Readonly<Record<string, ImagePricing>> = {
  'gpt-4o': { kind: 'tiles', baseTokens: 85, tileTokens: 170 }, // also gpt-4.1, gpt-4.5
  'gpt-4o-mini': { kind: 'tiles', baseTokens: 2833, tileTokens: 5667 },
  'o-series': { kind: 'tiles', baseTokens: 75, tileTokens: 150 }, // o1, o3
  'gpt-4.1-mini': { kind: 'patches', multiplier: 1.62 },
  'gpt-4.1-nano': { kind: 'patches', multiplier: 2.46 },
  'o4-mini': { kind: 'patches', multiplier: 1.72 },
  claude: { kind: 'area', pixelsPerToken: 750, maxTokens: 1640 },
}

const img = IMAGE_PRICING_PRESETS
const priority = (inputUsdPerMtok: number, cachedInputUsdPerMtok: number, outputUsdPerMtok: number): Record<string, TierRates> =>
  ({ priority: { inputUsdPerMtok, cachedInputUsdPerMtok, outputUsdPerMtok } })
/** Claude prompt caching: 5-minute writes 1.25× input, 1-hour writes 2×, reads 0.1×. Web search $10 / 1,000. */
const claude = (input: number, cached: number, write5m: number, write1h: number) => ({
  inputUsdPerMtok: input, cachedInputUsdPerMtok: cached, cacheWriteUsdPerMtok: write5m, cacheWrite1hUsdPerMtok: write1h,
  imagePricing: img.claude, webSearchUsdPerCall: 0.01,
})

const CATALOG: Record<string, Entry> = {
  'gpt-4o-mini': {
    provider: 'openai', inputUsdPerMtok: 0.15, cachedInputUsdPerMtok: 0.075, outputUsdPerMtok: 0.6, maxOutputTokens: 16384,
    imagePricing: img['gpt-4o-mini'], tiers: priority(0.25, 0.125, 1),
  },
  'gpt-4o': {
    provider: 'openai', inputUsdPerMtok: 2.5, cachedInputUsdPerMtok: 1.25, outputUsdPerMtok: 10, maxOutputTokens: 16384,
    imagePricing: img['gpt-4o'], tiers: priority(4.25, 2.125, 17),
  },
  'gpt-4.1': {
    provider: 'openai', inputUsdPerMtok: 2, cachedInputUsdPerMtok: 0.5, outputUsdPerMtok: 8, maxOutputTokens: 32768,
    imagePricing: img['gpt-4o'], tiers: priority(3.5, 0.875, 14),
  },
  'gpt-4.1-mini': {
    provider: 'openai', inputUsdPerMtok: 0.4, cachedInputUsdPerMtok: 0.1, outputUsdPerMtok: 1.6, maxOutputTokens: 32768,
    imagePricing: img['gpt-4.1-mini'], tiers: priority(0.7, 0.175, 2.8),
  },
  'gpt-4.1-nano': {
    provider: 'openai', inputUsdPerMtok: 0.1, cachedInputUsdPerMtok: 0.025, outputUsdPerMtok: 0.4, maxOutputTokens: 32768,
    imagePricing: img['gpt-4.1-nano'], tiers: priority(0.2, 0.05, 0.8),
  },
  // Search models search once per request: $25 / 1,000 calls, search content tokens free
  // (https://platform.openai.com/docs/pricing#built-in-tools, "web search preview, non-reasoning models").
  'gpt-4o-search-preview': {
    provider: 'openai', inputUsdPerMtok: 2.5, outputUsdPerMtok: 10, maxOutputTokens: 16384,
    webSearchUsdPerCall: 0.025, webSearchCallsPerRequest: 1, webSearchInputTokensPerCall: 0,
  },
  'gpt-4o-mini-search-preview': {
    provider: 'openai', inputUsdPerMtok: 0.15, outputUsdPerMtok: 0.6, maxOutputTokens: 16384,
    webSearchUsdPerCall: 0.025, webSearchCallsPerRequest: 1, webSearchInputTokensPerCall: 0,
  },
  'claude-sonnet-4-5': { provider: 'anthropic', ...claude(3, 0.3, 3.75, 6), outputUsdPerMtok: 15, maxOutputTokens: 64000 },
  'claude-haiku-4-5': { provider: 'anthropic', ...claude(1, 0.1, 1.25, 2), outputUsdPerMtok: 5, maxOutputTokens: 64000 },
  'claude-opus-4-1': { provider: 'anthropic', ...claude(15, 1.5, 18.75, 30), outputUsdPerMtok: 75, maxOutputTokens: 32000 },
}

/** Mock model: priced like a small real model so budget behaviour is visible in the demo. */
export const MOCK_MODEL: ModelConfig = {
  name: 'mock-echo',
  provider: 'mock',
  upstreamModel: 'mock-echo',
  inputUsdPerMtok: 1,
  outputUsdPerMtok: 2,
  maxOutputTokens: 4096,
}

export function builtinModels(): Record<string, ModelConfig> {
  const out: Record<string, ModelConfig> = {}
  for (const [name, e] of Object.entries(CATALOG)) out[name] = { name, upstreamModel: e.upstreamModel ?? name, ...e }
  return out
}
