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
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
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

export interface ModelConfig {
  name: string
  provider: string
  upstreamModel: string
  inputUsdPerMtok: number
  outputUsdPerMtok: number
  maxOutputTokens: number
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
