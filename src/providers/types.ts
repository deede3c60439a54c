/**
 * Wire types of the OpenAI chat API as the gateway speaks it, and the adapter interface every provider
 * implements. Providers return typed chunk objects; only src/http/sse.ts turns them into SSE frames.
 */
export interface ToolCall {
  id: string
  type: 'function'
  function: { name: string; arguments: string }
}

export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool'
  content: string | Array<Record<string, unknown>> | null
  name?: string
  tool_calls?: ToolCall[]
  tool_call_id?: string
  [extra: string]: unknown
}

export interface ChatRequest {
  model: string
  messages: ChatMessage[]
  stream?: boolean
  stream_options?: { include_usage?: boolean; [extra: string]: unknown }
  max_tokens?: number
  max_completion_tokens?: number
  temperature?: number
  top_p?: number
  stop?: string | string[]
  tools?: Array<{ type: 'function'; function: { name: string; description?: string; parameters?: unknown } }>
  tool_choice?: unknown
  user?: string
  /** Unknown fields are passed through to OpenAI-compatible upstreams. */
  [extra: string]: unknown
}

export interface Usage {
  /** All input tokens, cached and cache-written ones included (OpenAI's meaning; Anthropic's are summed). */
  prompt_tokens: number
  /** All output tokens, reasoning included. */
  completion_tokens: number
  total_tokens: number
  /** `cached_tokens`: the part of prompt_tokens read from the provider's prompt cache. */
  prompt_tokens_details?: { cached_tokens?: number; [extra: string]: unknown }
  /** `reasoning_tokens`: the part of completion_tokens spent thinking. */
  completion_tokens_details?: { reasoning_tokens?: number; [extra: string]: unknown }
  /** Gateway-internal billing facts for settlement; a symbol key, so it never reaches a client's JSON. */
  [BILLING]?: UsageBilling
}

/** Key of Usage's gateway-internal billing breakdown (JSON.stringify skips symbol keys). */
export const BILLING: unique symbol = Symbol('gateway.billing')

/** What a provider bills beyond prompt/completion tokens, as its adapter read it from the upstream reply. */
export interface UsageBilling {
  /** Input tokens written to the prompt cache (part of prompt_tokens), all TTLs together. */
  cacheWriteTokens?: number
  /** The part of cacheWriteTokens written with the 1-hour TTL. */
  cacheWrite1hTokens?: number
  /** Per-call priced server tool uses the provider reported (web searches); absent = not reported. */
  webSearchRequests?: number
  /** The service tier the provider says it served the request at. */
  serviceTier?: string
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | null

export interface ChatCompletion {
  id: string
  object: 'chat.completion'
  created: number
  model: string
  choices: Array<{
    index: number
    message: { role: 'assistant'; content: string | null; tool_calls?: ToolCall[]; refusal?: string | null }
    finish_reason: FinishReason
    logprobs?: unknown
  }>
  usage?: Usage
  [extra: string]: unknown
}

export interface ChunkToolCallDelta {
  index: number
  id?: string
  type?: 'function'
  function?: { name?: string; arguments?: string }
}

export interface ChatChunk {
  id: string
  object: 'chat.completion.chunk'
  created: number
  model: string
  choices: Array<{
    index: number
    delta: { role?: 'assistant'; content?: string | null; tool_calls?: ChunkToolCallDelta[]; refusal?: string | null }
    finish_reason: FinishReason
    logprobs?: unknown
  }>
  /** Present (non-null) only on the final usage chunk, whose `choices` is empty. */
  usage?: Usage | null
  [extra: string]: unknown
}

export type ProviderKind = 'openai' | 'anthropic' | 'mock'

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

export interface ModelRoute {
  model: ModelConfig
  provider: ProviderConfig
}

/** Tokens seen so far on a request, handed to settlement even when the client disconnects. */
export interface UsageTracker {
  usage: Usage | null
  completionChars: number
}

export interface ProviderAdapter {
  /** Non-streaming call. Throws GatewayError (mapped upstream status) on failure. */
  complete(req: ChatRequest, route: ModelRoute, signal: AbortSignal): Promise<ChatCompletion>
  /**
   * Streaming call. Resolves once the upstream accepted the request (so its 4xx/5xx still map to an HTTP
   * status); the iterable then yields OpenAI chunks, including a final usage chunk (empty choices, usage
   * set) whenever the upstream reported usage. A failure after the first chunk is thrown from the iterator
   * as a GatewayError.
   */
  stream(req: ChatRequest, route: ModelRoute, signal: AbortSignal): Promise<AsyncIterable<ChatChunk>>
}
