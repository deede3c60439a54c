/** Providers and models as the configuration defines them (src/config parses, everything else reads). */
/** The kind of a registered provider descriptor (src/providers/registry.ts), e.g. "openai". */
export type ProviderKind = string

export interface ProviderConfig {
  name: string
  kind: ProviderKind
  baseUrl: string
  /** The provider secret; never logged, never sent to clients. */
  apiKey: string | null
  /** Total time allowed until upstream response headers arrive. */
  timeoutMs: number
  /** Longest silence allowed between stream events once streaming started (default 300 s). */
  idleTimeoutMs?: number
  /** Hosted providers need a key; a self-declared OpenAI-compatible server may not (local vLLM, Ollama). */
  keyRequired?: boolean
}

/** Token prices of one service tier, USD per million tokens. */
export interface TierRates {
  inputUsdPerMtok: number
  outputUsdPerMtok: number
  /** Input read from the prompt cache; default: the input price (no discount assumed). */
  cachedInputUsdPerMtok?: number
  /** Input written to the prompt cache, 5-minute TTL; default 1.25 × input. */
  cacheWriteUsdPerMtok?: number
  /** Input written to the prompt cache, 1-hour TTL; default 2 × input. */
  cacheWrite1hUsdPerMtok?: number
}

/**
 * How a model family bills an image, in input tokens (see src/budget/pricing/images.ts for the formulas):
 * `tiles`: base + tile × 512-px tiles; `patches`: 32-px patches (≤ 1,536) × multiplier; `area`: w×h / pixelsPerToken, capped.
 */
export type ImagePricing =
  | { kind: 'tiles'; baseTokens: number; tileTokens: number }
  | { kind: 'patches'; multiplier: number }
  | { kind: 'area'; pixelsPerToken: number; maxTokens: number }

export interface ModelConfig extends TierRates {
  name: string
  provider: string
  upstreamModel: string
  maxOutputTokens: number
  /** Image token formula; none: images cannot be bounded (refused under strict). */
  imagePricing?: ImagePricing
  /** Prices of the non-default service tiers (`priority`, `flex`); the top-level prices are the default tier's. */
  tiers?: Readonly<Record<string, TierRates>>
  /** Fee per web search call (OpenAI search models, Anthropic web_search server tool); none: web search refused. */
  webSearchUsdPerCall?: number
  /** Searches every request makes whatever it asks (OpenAI *-search-preview models: 1). */
  webSearchCallsPerRequest?: number
  /** Input tokens a search may add to the prompt (its results), for strict bounds; none: no bound known. */
  webSearchInputTokensPerCall?: number
}
