/**
 * Wire types of the OpenAI chat API as the gateway speaks it (its own /v1/chat/completions, and what every
 * provider adapter returns), plus the usage breakdown settlement prices. Types only: no module imports.
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
