/**
 * OpenAI chat completion → Anthropic message, for a /v1/messages model served by an OpenAI-compatible
 * upstream. Pure. The stop reason and usage mappings are shared with from-chat-stream.ts.
 */
import { GatewayError } from '../errors.ts'
import type { ChatCompletion, ToolCall } from '../wire/openai.ts'
import { isRecord } from './checks.ts'
import type { ContentBlock, MessagesResponse, StopReason, Usage } from '../wire/anthropic.ts'

/** What the translation back needs to know about the request. */
export interface FromChatOptions {
  /** The request's stop_sequences: a server that names the one it matched (vLLM's `stop_reason`) gets `stop_sequence`. */
  stopSequences?: readonly string[]
  /**
   * Return upstream reasoning (`reasoning_content` / `reasoning`, as DeepSeek, vLLM, Ollama and OpenRouter
   * send it) as thinking blocks. Only when the client enabled thinking: Anthropic never sends thinking
   * blocks otherwise, and clients that read `content[0].text` rely on that.
   */
  thinking?: boolean
}

/** The client's request asks for thinking blocks (`thinking.type` "enabled" or "adaptive"). */
export function wantsThinking(body: Record<string, unknown>): boolean {
  return isRecord(body.thinking) && (body.thinking.type === 'enabled' || body.thinking.type === 'adaptive')
}

/**
 * OpenAI finish_reason → Anthropic stop_reason (https://docs.anthropic.com/en/api/handling-stop-reasons).
 * OpenAI does not say which stop sequence matched, so `stop` is end_turn unless the server named one the
 * client asked for. Servers that answer tool calls with finish_reason `stop` (Ollama, some vLLM parsers)
 * still get tool_use: clients run tools only on that reason. Unknown reasons end the turn.
 */
export function stopReasonFor(
  finish: string | null | undefined, matched: unknown, hasToolCalls: boolean, opts: FromChatOptions,
): { stop_reason: StopReason; stop_sequence: string | null } {
  switch (finish) {
    case 'length': return { stop_reason: 'max_tokens', stop_sequence: null }
    case 'content_filter': return { stop_reason: 'refusal', stop_sequence: null }
    case 'tool_calls':
    case 'function_call': return { stop_reason: 'tool_use', stop_sequence: null }
    default:
      if (hasToolCalls) return { stop_reason: 'tool_use', stop_sequence: null }
      if (typeof matched === 'string' && (opts.stopSequences ?? []).includes(matched)) return { stop_reason: 'stop_sequence', stop_sequence: matched }
      return { stop_reason: 'end_turn', stop_sequence: null }
  }
}

/**
 * OpenAI usage → Anthropic usage. OpenAI's prompt_tokens include cached tokens; Anthropic's input_tokens
 * exclude cache reads, which are reported apart, so pricing never counts them twice.
 */
export function usageFor(usage: unknown): Required<{ [K in keyof Usage]: number }> {
  const u = isRecord(usage) ? usage : {}
  const prompt = count(u.prompt_tokens)
  const cached = Math.min(prompt, count(isRecord(u.prompt_tokens_details) ? u.prompt_tokens_details.cached_tokens : 0))
  return { input_tokens: prompt - cached, cache_creation_input_tokens: 0, cache_read_input_tokens: cached, output_tokens: count(u.completion_tokens) }
}

/** `msg_` + the upstream id (without OpenAI's `chatcmpl-`), so logs on both sides can be matched. */
export function messageId(upstreamId: unknown): string {
  const id = typeof upstreamId === 'string' && upstreamId !== '' ? upstreamId : 'gateway'
  return `msg_${id.startsWith('chatcmpl-') ? id.slice('chatcmpl-'.length) : id}`
}

/** Upstream reasoning text of a message or delta, under either name servers use for it. */
export function reasoningOf(m: Record<string, unknown>): string {
  const r = typeof m.reasoning_content === 'string' ? m.reasoning_content : m.reasoning
  return typeof r === 'string' ? r : ''
}

/**
 * Tool arguments that are not a JSON object become `{}`: Anthropic promises an object, and a client checks
 * input against the tool's schema before running it, so a required parameter lost this way fails that
 * check instead of the client crashing on a string. The usual cause is a reply cut by max_tokens, which
 * this also reports as stop_reason max_tokens (clients do not run tools then).
 */
export function parseToolInput(args: unknown): Record<string, unknown> {
  if (typeof args !== 'string' || args.trim() === '') return {}
  try {
    const v: unknown = JSON.parse(args)
    return isRecord(v) ? v : {}
  } catch {
    return {}
  }
}

export function chatCompletionToMessage(completion: ChatCompletion, requestedModel: string, opts: FromChatOptions = {}): MessagesResponse {
  const choice: unknown = Array.isArray(completion.choices) ? completion.choices[0] : undefined
  if (!isRecord(choice) || !isRecord(choice.message)) throw new GatewayError('upstream_error', 'upstream returned a completion without a message')
  const m = choice.message
  const content: ContentBlock[] = []
  const reasoning = opts.thinking ? reasoningOf(m) : ''
  if (reasoning !== '') content.push({ type: 'thinking', thinking: reasoning, signature: '' })
  const text = textOf(m.content)
  const refusal = typeof m.refusal === 'string' && m.refusal !== '' ? m.refusal : null
  if (text !== '') content.push({ type: 'text', text })
  if (refusal !== null) content.push({ type: 'text', text: refusal })
  const calls = Array.isArray(m.tool_calls) ? (m.tool_calls as unknown[]).filter(isToolCall) : []
  calls.forEach((c, i) => {
    const id = typeof c.id === 'string' && c.id !== '' ? c.id : `toolu_${messageId(completion.id).slice(4)}_${i}`
    content.push({ type: 'tool_use', id, name: c.function.name, input: parseToolInput(c.function.arguments) })
  })
  const stop = refusal !== null
    ? { stop_reason: 'refusal' as const, stop_sequence: null }
    : stopReasonFor(typeof choice.finish_reason === 'string' ? choice.finish_reason : null, choice.stop_reason, calls.length > 0, opts)
  return {
    id: messageId(completion.id),
    type: 'message',
    role: 'assistant',
    model: requestedModel,
    content,
    ...stop,
    usage: usageFor(completion.usage),
  }
}

/** Message content as servers send it: a string, null, or (some compatible servers) an array of text parts. */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  return content.map((p: unknown) => (isRecord(p) && typeof p.text === 'string' ? p.text : '')).join('')
}

function isToolCall(c: unknown): c is ToolCall {
  return isRecord(c) && isRecord(c.function) && typeof c.function.name === 'string'
}

function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0
}
