/**
 * The subset of the Anthropic Messages API wire format the gateway reads and writes
 * (https://docs.anthropic.com/en/api/messages, https://docs.anthropic.com/en/docs/build-with-claude/streaming).
 */
import { BILLING, type Usage, type UsageBilling } from '../types.ts'
export type AnthropicContentBlock =
  | { type: 'text'; text: string }
  | { type: 'image'; source: { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string } }
  | { type: 'tool_use'; id: string; name: string; input: unknown }
  | { type: 'tool_result'; tool_use_id: string; content: string | Array<{ type: 'text'; text: string }>; is_error?: boolean }
  | { type: 'thinking'; thinking: string; signature?: string }
  | { type: 'redacted_thinking'; data: string }

export interface AnthropicMessage {
  role: 'user' | 'assistant'
  content: string | AnthropicContentBlock[]
}

export type AnthropicToolChoice =
  | { type: 'auto' | 'any' | 'none'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean }

export interface AnthropicTool { name: string; description?: string; input_schema: unknown }

/** A tool Anthropic runs itself, e.g. `{type:"web_search_20250305", name:"web_search", max_uses:5}`; billed per use. */
export interface AnthropicServerTool { type: string; name: string; max_uses?: number; [extra: string]: unknown }

export interface AnthropicRequest {
  model: string
  messages: AnthropicMessage[]
  max_tokens: number
  system?: string
  tools?: Array<AnthropicTool | AnthropicServerTool>
  tool_choice?: AnthropicToolChoice
  stop_sequences?: string[]
  temperature?: number
  top_p?: number
  stream?: boolean
  metadata?: { user_id: string }
}

/** https://docs.anthropic.com/en/api/messages#response-usage: input_tokens EXCLUDES cache reads and writes. */
export interface AnthropicUsage {
  input_tokens?: number | null
  output_tokens?: number | null
  cache_creation_input_tokens?: number | null
  cache_read_input_tokens?: number | null
  /** Cache writes by TTL (they sum to cache_creation_input_tokens). */
  cache_creation?: { ephemeral_5m_input_tokens?: number | null; ephemeral_1h_input_tokens?: number | null } | null
  /** Server tool uses, billed per call (https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/web-search-tool#usage). */
  server_tool_use?: { web_search_requests?: number | null } | null
  service_tier?: string | null
}

export interface AnthropicResponse {
  id: string
  type: 'message'
  role: 'assistant'
  model: string
  content: AnthropicContentBlock[]
  stop_reason: string | null
  stop_sequence?: string | null
  usage: AnthropicUsage
}

/** Prompt tokens as OpenAI counts them: cached and cache-written input are still input. */
export function promptTokens(u: AnthropicUsage): number {
  return (u.input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0)
}

/**
 * Anthropic usage in OpenAI terms: prompt_tokens sums uncached input, cache writes and cache reads (what
 * clients expect), cache reads also go in `prompt_tokens_details.cached_tokens` as OpenAI reports them, and
 * the billing breakdown settlement needs (writes by TTL, web searches, tier) rides under the BILLING key.
 * A usage without `server_tool_use` reports zero searches: Anthropic omits it when no server tool ran.
 */
export function toOpenAIUsage(u: AnthropicUsage): Usage {
  const prompt = promptTokens(u)
  const completion = u.output_tokens ?? 0
  const write1h = u.cache_creation?.ephemeral_1h_input_tokens ?? 0
  const billing: UsageBilling = {
    // The TTL breakdown sums to the total; should it not, the larger figure is billed.
    cacheWriteTokens: Math.max(u.cache_creation_input_tokens ?? 0, (u.cache_creation?.ephemeral_5m_input_tokens ?? 0) + write1h),
    cacheWrite1hTokens: write1h,
    webSearchRequests: u.server_tool_use?.web_search_requests ?? 0,
  }
  // Anthropic's "standard" is the list price; other tiers keep their name and are priced only if configured.
  if (typeof u.service_tier === 'string') billing.serviceTier = u.service_tier === 'standard' ? 'default' : u.service_tier
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: u.cache_read_input_tokens ?? 0 },
    [BILLING]: billing,
  }
}
