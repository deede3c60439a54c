/**
 * OpenAI `chat.completion.chunk`s → Anthropic Messages stream events, one chunk at a time, with a typed
 * state object created per request (https://docs.anthropic.com/en/docs/build-with-claude/streaming).
 *
 * - message_start goes out with the first chunk; OpenAI reports usage only at the end, so its input_tokens
 *   is 0 unless that first chunk already carried usage. The final counts ride on message_delta.
 * - Each run of text, reasoning (when asked for) or one tool call is a content block; a chunk of another
 *   kind closes the open block and starts the next, so blocks never overlap and indexes count up from 0.
 *   OpenAI tool call indexes map to block indexes. A server that interleaves argument fragments of several
 *   calls (OpenAI does not) gets each late fragment sent to its own, already closed, block: the SDKs
 *   accumulate by index, and dropping it would corrupt the call.
 * - OpenAI sends finish_reason, then (stream_options.include_usage) a usage chunk with empty choices.
 *   message_delta must carry the final usage, so it is held until usage arrives, or until finish() at the
 *   end of the upstream stream. Ping events are not produced (the route's heartbeat keeps the line alive).
 * - Tool arguments are passed through fragment by fragment, as Anthropic streams input_json_delta; a call
 *   with no arguments sends no delta, and the SDKs then take the input as {}.
 */
import type { ChatChunk } from '../wire/openai.ts'
import { isRecord } from './checks.ts'
import { type FromChatOptions, messageId, reasoningOf, stopReasonFor, usageFor } from './from-chat-response.ts'
import type { MessagesSseEvent, StopReason, Usage } from '../wire/anthropic.ts'

interface OpenBlock { kind: 'text' | 'thinking' | 'tool'; index: number }

export interface MessagesStreamState {
  readonly requestedModel: string
  readonly opts: Readonly<FromChatOptions>
  started: boolean
  id: string
  /** Index the next content block gets. */
  nextIndex: number
  open: OpenBlock | null
  /** OpenAI tool call index → Anthropic content block index. */
  toolBlocks: Map<number, number>
  /** finish_reason of the upstream (null until it arrives), and the stop string a server said it matched. */
  finish: string | null
  matchedStop: unknown
  refused: boolean
  /** Latest usage reported; each report replaces the previous one (OpenAI's usage is cumulative). */
  usage: Required<{ [K in keyof Usage]: number }>
  stopped: boolean
}

export function createMessagesStreamState(requestedModel: string, opts: FromChatOptions = {}): MessagesStreamState {
  return {
    requestedModel, opts, started: false, id: messageId(undefined), nextIndex: 0, open: null, toolBlocks: new Map(),
    finish: null, matchedStop: null, refused: false, stopped: false,
    usage: { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 },
  }
}

/** Translates one chunk; returns the events it produces (often one, sometimes none or several). */
export function chatChunkToMessageEvents(state: MessagesStreamState, chunk: ChatChunk): MessagesSseEvent[] {
  if (state.stopped) return []
  const out: MessagesSseEvent[] = []
  const hasUsage = isRecord(chunk.usage)
  if (hasUsage) state.usage = usageFor(chunk.usage)
  if (!state.started) {
    state.id = messageId(chunk.id)
    out.push(messageStart(state))
  }
  const choice: unknown = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined
  if (isRecord(choice)) {
    const delta = isRecord(choice.delta) ? choice.delta : {}
    const reasoning = state.opts.thinking ? reasoningOf(delta) : ''
    if (reasoning !== '') out.push(...blockDelta(state, 'thinking', { type: 'thinking_delta', thinking: reasoning }))
    if (typeof delta.content === 'string' && delta.content !== '') out.push(...blockDelta(state, 'text', { type: 'text_delta', text: delta.content }))
    if (typeof delta.refusal === 'string' && delta.refusal !== '') {
      state.refused = true
      out.push(...blockDelta(state, 'text', { type: 'text_delta', text: delta.refusal }))
    }
    if (Array.isArray(delta.tool_calls)) for (const call of delta.tool_calls as unknown[]) out.push(...toolCallDelta(state, call))
    if (typeof choice.finish_reason === 'string') {
      state.finish = choice.finish_reason
      state.matchedStop = choice.stop_reason
      out.push(...closeOpen(state))
    }
  }
  // Usage on (or after) the finish chunk is final: nothing else can change the message.
  if (hasUsage && state.finish !== null) out.push(...end(state))
  return out
}

/** The upstream stream ended (after its [DONE], or when it closed without one): close what is still open. */
export function finish(state: MessagesStreamState): MessagesSseEvent[] {
  if (state.stopped) return []
  const out: MessagesSseEvent[] = []
  if (!state.started) out.push(messageStart(state))
  out.push(...end(state))
  return out
}

function messageStart(state: MessagesStreamState): MessagesSseEvent {
  state.started = true
  return {
    event: 'message_start',
    data: {
      type: 'message_start',
      message: {
        id: state.id, type: 'message', role: 'assistant', model: state.requestedModel, content: [],
        stop_reason: null, stop_sequence: null, usage: { ...state.usage, output_tokens: 0 },
      },
    },
  }
}

function end(state: MessagesStreamState): MessagesSseEvent[] {
  const out = closeOpen(state)
  const stop: { stop_reason: StopReason; stop_sequence: string | null } = state.refused
    ? { stop_reason: 'refusal', stop_sequence: null }
    : stopReasonFor(state.finish, state.matchedStop, state.toolBlocks.size > 0, state.opts)
  out.push({ event: 'message_delta', data: { type: 'message_delta', delta: stop, usage: { ...state.usage } } })
  out.push({ event: 'message_stop', data: { type: 'message_stop' } })
  state.stopped = true
  return out
}

function closeOpen(state: MessagesStreamState): MessagesSseEvent[] {
  if (state.open === null) return []
  const index = state.open.index
  state.open = null
  return [{ event: 'content_block_stop', data: { type: 'content_block_stop', index } }]
}

/** A text or thinking fragment: appended to the open block of its kind, else a new block is started. */
function blockDelta(
  state: MessagesStreamState, kind: 'text' | 'thinking',
  delta: { type: 'text_delta'; text: string } | { type: 'thinking_delta'; thinking: string },
): MessagesSseEvent[] {
  const out: MessagesSseEvent[] = []
  if (state.open?.kind !== kind) {
    out.push(...closeOpen(state))
    const index = state.nextIndex++
    state.open = { kind, index }
    const content_block = kind === 'text' ? { type: 'text' as const, text: '' } : { type: 'thinking' as const, thinking: '', signature: '' }
    out.push({ event: 'content_block_start', data: { type: 'content_block_start', index, content_block } })
  }
  out.push({ event: 'content_block_delta', data: { type: 'content_block_delta', index: state.open!.index, delta } })
  return out
}

function toolCallDelta(state: MessagesStreamState, call: unknown): MessagesSseEvent[] {
  if (!isRecord(call)) return []
  const toolIndex = typeof call.index === 'number' ? call.index : 0
  const fn = isRecord(call.function) ? call.function : {}
  const out: MessagesSseEvent[] = []
  let index = state.toolBlocks.get(toolIndex)
  if (index === undefined) {
    out.push(...closeOpen(state))
    index = state.nextIndex++
    state.toolBlocks.set(toolIndex, index)
    state.open = { kind: 'tool', index }
    const id = typeof call.id === 'string' && call.id !== '' ? call.id : `toolu_${state.id.slice(4)}_${toolIndex}`
    const name = typeof fn.name === 'string' ? fn.name : ''
    out.push({ event: 'content_block_start', data: { type: 'content_block_start', index, content_block: { type: 'tool_use', id, name, input: {} } } })
  }
  if (typeof fn.arguments === 'string' && fn.arguments !== '') {
    out.push({ event: 'content_block_delta', data: { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: fn.arguments } } })
  }
  return out
}
