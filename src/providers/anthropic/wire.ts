/**
 * The Anthropic Messages wire types live in src/messages/wire.ts (the protocol the gateway also serves on
 * /v1/messages); this provider keeps its historical names for them. What stays here is provider-side logic.
 */
import type { Usage } from '../../messages/wire.ts'

export type {
  ContentBlock as AnthropicContentBlock,
  MessageParam as AnthropicMessage,
  MessagesRequest as AnthropicRequest,
  MessagesResponse as AnthropicResponse,
  ToolChoice as AnthropicToolChoice,
  Usage as AnthropicUsage,
} from '../../messages/wire.ts'

/** Prompt tokens as OpenAI counts them: cached and cache-written input are still input. */
export function promptTokens(u: Usage): number {
  return (u.input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0)
}
