/**
 * Usage in Anthropic's Messages protocol → the gateway's (OpenAI-shaped, with the billing breakdown settlement
 * prices). Protocol-level: the Anthropic provider reports it, and /v1/messages reads it off a passed-through
 * stream. Pure.
 */
import type { ReportedUsage as AnthropicUsage } from '../wire/anthropic.ts'
import { BILLING, type Usage, type UsageBilling } from '../wire/openai.ts'

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

/** Anthropic usage is cumulative per field (message_delta repeats or extends message_start's): set, don't add. */
export function mergeUsage(into: AnthropicUsage, u: unknown): void {
  if (typeof u !== 'object' || u === null) return
  for (const [k, v] of Object.entries(u)) if (typeof v === 'number' || (typeof v === 'object' && v !== null)) (into as Record<string, unknown>)[k] = v
}

/**
 * Anthropic usage → the gateway's (prompt tokens = input + cache writes + cache reads, with the billing
 * breakdown settlement prices). Null until the provider reported an input count (message_start).
 */
export function gatewayUsage(u: AnthropicUsage): Usage | null {
  return typeof u.input_tokens === 'number' ? toOpenAIUsage(u) : null
}
