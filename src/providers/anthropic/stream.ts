/**
 * Anthropic streaming events → OpenAI `chat.completion.chunk`s, one event at a time, with a typed state
 * object created per request (https://docs.anthropic.com/en/docs/build-with-claude/streaming).
 */
import { GatewayError } from '../../errors.ts'
import { extractUpstreamMessage, sanitizeUpstreamMessage } from '../upstream.ts'
import type { ChatChunk, ChunkToolCallDelta, FinishReason, Usage } from '../../wire/openai.ts'
import { mapStopReason } from './response.ts'
import { type AnthropicUsage } from './wire.ts'
import { toOpenAIUsage } from '../../messages/usage.ts'

/** What an Anthropic content block (by its index) turned into on the OpenAI side. */
type BlockKind = { kind: 'text' } | { kind: 'tool'; toolIndex: number; sentArguments: boolean } | { kind: 'dropped' }

export interface AnthropicStreamState {
  readonly requestedModel: string
  readonly created: number
  /** Provider key to redact from error messages. */
  readonly secret: string | null
  id: string
  /** Latest value of each Anthropic usage counter; each one is replaced, never summed, when reported again. */
  usage: AnthropicUsage
  /** Number of tool_use blocks seen so far; the OpenAI tool call index is 0-based over tool blocks only. */
  toolCount: number
  blocks: Map<number, BlockKind>
  finishReason: FinishReason
  stopped: boolean
}

export interface AnthropicStreamOptions {
  requestedModel: string
  /** Milliseconds clock; `created` is taken once per request. */
  now?: () => number
  secret?: string | null
}

export function createAnthropicStreamState(opts: AnthropicStreamOptions): AnthropicStreamState {
  return {
    requestedModel: opts.requestedModel,
    created: Math.floor((opts.now ?? Date.now)() / 1000),
    secret: opts.secret ?? null,
    id: 'chatcmpl-anthropic',
    usage: {},
    toolCount: 0,
    blocks: new Map(),
    finishReason: null,
    stopped: false,
  }
}

/** A parsed SSE event: `type` is the JSON `type` (Anthropic repeats the SSE event name there). */
export interface AnthropicEvent {
  type: string
  [field: string]: unknown
}

/**
 * Translates one event. Returns the chunks it produces (often none); throws GatewayError upstream_error for
 * an `error` event, after the chunks of the preceding events have been returned by earlier calls.
 */
export function anthropicEventToChunks(state: AnthropicStreamState, event: AnthropicEvent): ChatChunk[] {
  switch (event.type) {
    case 'message_start': {
      const message = asRecord(event.message)
      if (typeof message.id === 'string') state.id = `chatcmpl-${message.id}`
      setUsage(state, asRecord(message.usage) as AnthropicUsage)
      return [chunk(state, { role: 'assistant', content: '' }, null)]
    }
    case 'content_block_start': {
      const index = Number(event.index)
      const block = asRecord(event.content_block)
      if (block.type === 'text') {
        state.blocks.set(index, { kind: 'text' })
        return typeof block.text === 'string' && block.text !== '' ? [chunk(state, { content: block.text }, null)] : []
      }
      if (block.type === 'tool_use') {
        const toolIndex = state.toolCount++
        state.blocks.set(index, { kind: 'tool', toolIndex, sentArguments: false })
        const call: ChunkToolCallDelta = {
          index: toolIndex,
          id: String(block.id),
          type: 'function',
          function: { name: String(block.name), arguments: '' },
        }
        return [chunk(state, { tool_calls: [call] }, null)]
      }
      // thinking, redacted_thinking, server tool blocks: no OpenAI equivalent; their deltas are dropped too.
      state.blocks.set(index, { kind: 'dropped' })
      return []
    }
    case 'content_block_delta': {
      const block = state.blocks.get(Number(event.index))
      const delta = asRecord(event.delta)
      if (block?.kind === 'text' && delta.type === 'text_delta' && typeof delta.text === 'string' && delta.text !== '') {
        return [chunk(state, { content: delta.text }, null)]
      }
      if (block?.kind === 'tool' && delta.type === 'input_json_delta' && typeof delta.partial_json === 'string' && delta.partial_json !== '') {
        // Continuation chunks carry only the index and the argument fragment, as OpenAI's do.
        block.sentArguments = true
        return [chunk(state, { tool_calls: [{ index: block.toolIndex, function: { arguments: delta.partial_json } }] }, null)]
      }
      return [] // thinking_delta, signature_delta, citations_delta, empty fragments
    }
    case 'content_block_stop': {
      // A tool without input streams no fragment (or only ""), which would leave `arguments: ""` for the client
      // to JSON.parse; the non-stream translation gives "{}" for the same call (issue 9 item 12).
      const block = state.blocks.get(Number(event.index))
      if (block?.kind !== 'tool' || block.sentArguments) return []
      block.sentArguments = true
      return [chunk(state, { tool_calls: [{ index: block.toolIndex, function: { arguments: '{}' } }] }, null)]
    }
    case 'message_delta': {
      // message_delta usage is cumulative: set, don't add.
      setUsage(state, asRecord(event.usage) as AnthropicUsage)
      const delta = asRecord(event.delta)
      if (delta.stop_reason === undefined || delta.stop_reason === null) return []
      state.finishReason = mapStopReason(String(delta.stop_reason))
      return [chunk(state, {}, state.finishReason)]
    }
    case 'message_stop': {
      state.stopped = true
      return [{ id: state.id, object: 'chat.completion.chunk', created: state.created, model: state.requestedModel, choices: [], usage: streamUsage(state) }]
    }
    case 'error': {
      const message = extractUpstreamMessage(event) ?? 'upstream stream error'
      throw new GatewayError('upstream_error', sanitizeUpstreamMessage(message, state.secret))
    }
    default:
      return [] // ping, and event types added after this was written (Anthropic's versioning policy allows them)
  }
}

/** The usage reported so far, in OpenAI terms (also used when a stream is cut before message_stop). */
export function streamUsage(state: AnthropicStreamState): Usage {
  return toOpenAIUsage(state.usage)
}

/** Each counter (or breakdown object) present in the event replaces the one seen before. */
function setUsage(state: AnthropicStreamState, usage: AnthropicUsage): void {
  const u = state.usage
  for (const k of ['input_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens', 'output_tokens'] as const) {
    if (typeof usage[k] === 'number') u[k] = usage[k]
  }
  if (usage.cache_creation && typeof usage.cache_creation === 'object') u.cache_creation = usage.cache_creation
  if (usage.server_tool_use && typeof usage.server_tool_use === 'object') u.server_tool_use = usage.server_tool_use
  if (typeof usage.service_tier === 'string') u.service_tier = usage.service_tier
}

function chunk(state: AnthropicStreamState, delta: ChatChunk['choices'][number]['delta'], finish: FinishReason): ChatChunk {
  return {
    id: state.id,
    object: 'chat.completion.chunk',
    created: state.created,
    model: state.requestedModel,
    choices: [{ index: 0, delta, finish_reason: finish }],
  }
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {}
}
