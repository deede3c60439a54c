/**
 * The Anthropic Messages wire types live in src/messages/wire.ts (the protocol the gateway also serves on
 * /v1/messages); this provider keeps its historical names for them. What stays here is provider-side logic.
 */
import type { ReportedUsage as AnthropicUsage, ServerToolDefinition, ToolDefinition } from '../../messages/wire.ts'
import { BILLING, type Usage, type UsageBilling } from '../types.ts'

export type {
  ContentBlock as AnthropicContentBlock,
  MessageParam as AnthropicMessage,
  MessagesRequest as AnthropicRequest,
  MessagesResponse as AnthropicResponse,
  ToolChoice as AnthropicToolChoice,
  ReportedUsage as AnthropicUsage,
} from '../../messages/wire.ts'

export type AnthropicTool = ToolDefinition

export type AnthropicServerTool = ServerToolDefinition

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
