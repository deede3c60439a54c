/**
 * The Anthropic Messages wire types live in src/wire/anthropic.ts (the protocol the gateway also serves on
 * /v1/messages); this provider keeps its historical names for them.
 */
import type { ServerToolDefinition, ToolDefinition } from '../../wire/anthropic.ts'

export type {
  ContentBlock as AnthropicContentBlock,
  MessageParam as AnthropicMessage,
  MessagesRequest as AnthropicRequest,
  MessagesResponse as AnthropicResponse,
  ToolChoice as AnthropicToolChoice,
  ReportedUsage as AnthropicUsage,
} from '../../wire/anthropic.ts'

export type AnthropicTool = ToolDefinition

export type AnthropicServerTool = ServerToolDefinition
