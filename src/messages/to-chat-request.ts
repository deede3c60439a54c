/**
 * Anthropic Messages request → OpenAI chat request, for a /v1/messages model served by an OpenAI-compatible
 * upstream. Pure: no I/O, no clock. Every shape read is checked, so a malformed body is the client's 400
 * (with `param`), never a TypeError.
 *
 * Translated: system (string or text blocks), text, images (base64 → data: URL, url → url), plain-text
 * documents (→ text), tool_use → assistant tool_calls, tool_result → role "tool" messages, client tools,
 * tool_choice, stop_sequences, max_tokens, temperature, top_p, metadata.user_id, stream, output_config.format.
 *
 * Dropped on purpose (the answer stays valid without them): cache_control (no cache to honour it upstream),
 * citations, thinking and redacted_thinking blocks (their signatures mean nothing to another model, and
 * OpenAI has no field to carry them back), the `thinking` option (OpenAI-compatible servers disagree on how
 * reasoning is requested; non-reasoning models reject `reasoning_effort`), top_k, service_tier, tool `strict`.
 *
 * Refused with 400 (the request cannot be served as asked): PDF/url/file documents, Files API images,
 * search_result and server-tool blocks, server tools (web search, bash, text editor, code execution...),
 * mcp_servers and container.
 */
import type { ChatMessage, ChatRequest } from '../wire/openai.ts'
import { invalid, isRecord, unsupported } from './checks.ts'
import { messagesToChatMessages, systemText } from './to-chat-messages.ts'

export interface ToChatRequestOptions {
  /**
   * Also send the output cap as the deprecated `max_tokens`. OpenAI-compatible servers other than the
   * official API may read only `max_tokens` (issue 9 item 6), while the official API rejects `max_tokens`
   * for reasoning models; the caller knows which upstream it talks to, so it decides.
   */
  legacyMaxTokens?: boolean
}

export function messagesToChatRequest(body: Record<string, unknown>, upstreamModel: string, opts: ToChatRequestOptions = {}): ChatRequest {
  refuseServerSideFeatures(body)
  const messages: ChatMessage[] = []
  const system = body.system === undefined || body.system === null ? '' : systemText(body.system, 'system')
  if (system !== '') messages.push({ role: 'system', content: system })
  messages.push(...messagesToChatMessages(body.messages))

  const out: ChatRequest = { model: upstreamModel, messages }
  const cap = body.max_tokens
  if (typeof cap !== 'number' || !Number.isInteger(cap) || cap < 1) throw invalid('`max_tokens` must be a positive integer', 'max_tokens')
  out.max_completion_tokens = cap
  if (opts.legacyMaxTokens) out.max_tokens = cap

  const tools = chatTools(body.tools)
  if (tools.length > 0) {
    out.tools = tools
    // OpenAI rejects tool_choice and parallel_tool_calls without tools; without tools they mean nothing anyway.
    applyToolChoice(out, body.tool_choice)
  }
  if (body.stop_sequences !== undefined && body.stop_sequences !== null) {
    const stops = body.stop_sequences
    if (!Array.isArray(stops) || !stops.every((s) => typeof s === 'string')) throw invalid('`stop_sequences` must be an array of strings', 'stop_sequences')
    if (stops.length > 0) out.stop = stops
  }
  for (const field of ['temperature', 'top_p'] as const) {
    const v = body[field]
    if (v === undefined || v === null) continue
    if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(`\`${field}\` must be a number`, field)
    out[field] = v
  }
  const userId = isRecord(body.metadata) ? body.metadata.user_id : undefined
  if (typeof userId === 'string' && userId !== '') out.user = userId
  const format = isRecord(body.output_config) ? body.output_config.format : undefined
  if (isRecord(format) && format.type === 'json_schema' && isRecord(format.schema)) {
    out.response_format = { type: 'json_schema', json_schema: { name: 'output', schema: format.schema } }
  }
  if (body.stream === true) {
    out.stream = true
    // Settlement needs the real token counts, and message_delta must carry them.
    out.stream_options = { include_usage: true }
  }
  return out
}

function refuseServerSideFeatures(body: Record<string, unknown>): void {
  // Both run on Anthropic's side (remote MCP servers, code-execution containers); an OpenAI upstream has neither.
  if (Array.isArray(body.mcp_servers) && body.mcp_servers.length > 0) throw unsupported('mcp_servers', 'mcp_servers')
  if (body.container !== undefined && body.container !== null) throw unsupported('container', 'container')
}

type ChatTool = NonNullable<ChatRequest['tools']>[number]

function chatTools(tools: unknown): ChatTool[] {
  if (tools === undefined || tools === null) return []
  if (!Array.isArray(tools)) throw invalid('`tools` must be an array', 'tools')
  return tools.map((t: unknown, i): ChatTool => {
    const param = `tools[${i}]`
    if (!isRecord(t)) throw invalid('each tool must be an object', param)
    // Anthropic-defined tools (web_search_20250305, bash_20250124, text_editor_*, computer_*, ...) run on
    // Anthropic's servers or follow schemas only Claude is trained on.
    if (t.type !== undefined && t.type !== null && t.type !== 'custom') throw unsupported(`tool type '${String(t.type)}'`, `${param}.type`)
    if (typeof t.name !== 'string' || t.name === '') throw invalid('a tool needs a non-empty `name`', `${param}.name`)
    if (!isRecord(t.input_schema)) throw invalid('a tool needs an `input_schema` object', `${param}.input_schema`)
    const fn: ChatTool['function'] = { name: t.name, parameters: t.input_schema }
    if (typeof t.description === 'string') fn.description = t.description
    return { type: 'function', function: fn }
  })
}

/** auto → auto, any → required, tool → that function, none → none; disable_parallel_tool_use → parallel_tool_calls: false. */
function applyToolChoice(out: ChatRequest, choice: unknown): void {
  if (choice === undefined || choice === null) return
  if (!isRecord(choice)) throw invalid('`tool_choice` must be an object', 'tool_choice')
  switch (choice.type) {
    case 'auto': out.tool_choice = 'auto'; break
    case 'any': out.tool_choice = 'required'; break
    case 'none': out.tool_choice = 'none'; return // parallelism is moot when no tool may be called
    case 'tool':
      if (typeof choice.name !== 'string' || choice.name === '') throw invalid('`tool_choice.name` must be a tool name', 'tool_choice.name')
      out.tool_choice = { type: 'function', function: { name: choice.name } }
      break
    default: throw invalid(`unsupported tool_choice type '${String(choice.type)}'`, 'tool_choice.type')
  }
  if (choice.disable_parallel_tool_use === true) out.parallel_tool_calls = false
}
