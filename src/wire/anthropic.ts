/**
 * The Anthropic Messages API wire format (https://docs.anthropic.com/en/api/messages,
 * https://docs.anthropic.com/en/docs/build-with-claude/streaming): what POST /v1/messages accepts and answers,
 * and what the Anthropic provider sends upstream. Types only, no imports: every layer may depend on this file.
 *
 * Request types are open (`[extra: string]: unknown`) because an Anthropic upstream receives the client's
 * body unchanged and Anthropic adds fields between releases; a translator must check what it reads.
 */

/** https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching. Dropped when no cache can honour it. */
export interface CacheControl {
  type: 'ephemeral'
  ttl?: '5m' | '1h'
  [extra: string]: unknown
}

export type ImageSource =
  | { type: 'base64'; media_type: string; data: string }
  | { type: 'url'; url: string }
  /** Files API upload; only Anthropic can resolve it. */
  | { type: 'file'; file_id: string }

export interface TextBlock {
  type: 'text'
  text: string
  cache_control?: CacheControl | null
  citations?: unknown[] | null
}
export interface ImageBlock {
  type: 'image'
  source: ImageSource
  cache_control?: CacheControl | null
}
export interface ToolUseBlock {
  type: 'tool_use'
  id: string
  name: string
  input: unknown
  cache_control?: CacheControl | null
}
export interface ToolResultBlock {
  type: 'tool_result'
  tool_use_id: string
  content?: string | Array<TextBlock | ImageBlock | { type: string; [extra: string]: unknown }>
  is_error?: boolean
  cache_control?: CacheControl | null
}
export interface ThinkingBlock {
  type: 'thinking'
  thinking: string
  signature?: string
}
export interface RedactedThinkingBlock {
  type: 'redacted_thinking'
  data: string
}
export interface DocumentBlock {
  type: 'document'
  source:
    | { type: 'text'; media_type: 'text/plain'; data: string }
    | { type: 'content'; content: string | TextBlock[] }
    | { type: 'base64' | 'url' | 'file'; [extra: string]: unknown }
  title?: string | null
  context?: string | null
  cache_control?: CacheControl | null
  [extra: string]: unknown
}

/** The blocks the gateway reads. Server-tool blocks, search results etc. exist too and stay opaque. */
export type ContentBlock = TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock | RedactedThinkingBlock

export interface MessageParam {
  role: 'user' | 'assistant'
  content: string | Array<ContentBlock | DocumentBlock>
}

export type ToolChoice =
  | { type: 'auto' | 'any' | 'none'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean }

/** A client tool (`type` absent or "custom"); server tools carry a versioned `type` such as "web_search_20250305". */
export interface ToolDefinition {
  type?: string | null
  name: string
  description?: string
  input_schema: unknown
  cache_control?: CacheControl | null
  [extra: string]: unknown
}

export interface MessagesRequest {
  model: string
  messages: MessageParam[]
  max_tokens: number
  system?: string | TextBlock[]
  tools?: Array<ToolDefinition | ServerToolDefinition>
  tool_choice?: ToolChoice
  stop_sequences?: string[]
  temperature?: number
  top_p?: number
  top_k?: number
  stream?: boolean
  metadata?: { user_id?: string | null }
  /** "enabled" (with budget_tokens), "adaptive", "disabled"; more may come. */
  thinking?: { type: string; budget_tokens?: number; [extra: string]: unknown }
  [extra: string]: unknown
}

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'pause_turn' | 'refusal' | 'model_context_window_exceeded'

/** https://docs.anthropic.com/en/api/messages#response-usage: input_tokens EXCLUDES cache reads and writes. */
export interface Usage {
  input_tokens?: number | null
  output_tokens?: number | null
  cache_creation_input_tokens?: number | null
  cache_read_input_tokens?: number | null
}

/** Usage as the provider reports it: the counters plus the billing breakdown settlement prices. */
export interface ReportedUsage extends Usage {
  /** Cache writes by TTL (they sum to cache_creation_input_tokens). */
  cache_creation?: { ephemeral_5m_input_tokens?: number | null; ephemeral_1h_input_tokens?: number | null } | null
  /** Server tool uses, billed per call (https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/web-search-tool#usage). */
  server_tool_use?: { web_search_requests?: number | null } | null
  service_tier?: string | null
}

/** A tool Anthropic runs itself, e.g. `{type:"web_search_20250305", name:"web_search", max_uses:5}`; billed per use. */
export interface ServerToolDefinition { type: string; name: string; max_uses?: number; [extra: string]: unknown }

export interface MessagesResponse {
  id: string
  type: 'message'
  role: 'assistant'
  model: string
  content: ContentBlock[]
  /** Typed as string: a reason added after this was written must not break parsing of an upstream reply. */
  stop_reason: StopReason | string | null
  stop_sequence?: string | null
  /** Present on refusals in recent API versions. */
  stop_details?: { type: 'refusal'; category?: string | null; explanation?: string | null } | null
  usage: Usage
}

// ---- Streaming ----

export type ContentBlockDelta =
  | { type: 'text_delta'; text: string }
  | { type: 'input_json_delta'; partial_json: string }
  | { type: 'thinking_delta'; thinking: string }
  | { type: 'signature_delta'; signature: string }

export type MessageStreamEvent =
  | { type: 'message_start'; message: MessagesResponse }
  | { type: 'content_block_start'; index: number; content_block: ContentBlock }
  | { type: 'content_block_delta'; index: number; delta: ContentBlockDelta }
  | { type: 'content_block_stop'; index: number }
  /** `usage` is cumulative over the whole message: set, don't add. */
  | { type: 'message_delta'; delta: { stop_reason: StopReason | null; stop_sequence: string | null }; usage: Usage }
  | { type: 'message_stop' }
  | { type: 'ping' }
  | { type: 'error'; error: ErrorObject }

/** One SSE event as the gateway writes it: the SSE `event:` name repeats `data.type`, as Anthropic's do. */
export type MessagesSseEvent = { [K in MessageStreamEvent['type']]: { event: K; data: Extract<MessageStreamEvent, { type: K }> } }[MessageStreamEvent['type']]

// ---- Errors (https://docs.anthropic.com/en/api/errors) ----

export interface ErrorObject {
  type: string
  message: string
}

export interface ErrorEnvelope {
  type: 'error'
  error: ErrorObject
  request_id?: string
}
