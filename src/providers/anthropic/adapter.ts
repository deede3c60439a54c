/**
 * Anthropic provider: translate the OpenAI request, POST `${baseUrl}/v1/messages`, translate the response
 * or the event stream back. Translation lives in request.ts / response.ts / stream.ts; this file is I/O glue.
 */
import { GatewayError } from '../../errors.ts'
import type { BatchedIterable } from '../batches.ts'
import { sseItems } from '../sse-items.ts'
import type { ModelRoute, ProviderAdapter } from '../types.ts'
import type { ProviderConfig } from '../../config/types.ts'
import type { ChatChunk, ChatCompletion, ChatRequest } from '../../wire/openai.ts'
import { parseJsonBody, streamReadError, upstreamFetch } from '../upstream.ts'
import { toAnthropicRequest } from './request.ts'
import { fromAnthropicResponse } from './response.ts'
import { type AnthropicEvent, anthropicEventToChunks, createAnthropicStreamState } from './stream.ts'
import type { AnthropicResponse } from './wire.ts'

const PATH = '/v1/messages'
/** https://docs.anthropic.com/en/api/versioning */
const ANTHROPIC_VERSION = '2023-06-01'

export function anthropicHeaders(apiKey: string | null): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'anthropic-version': ANTHROPIC_VERSION }
  if (apiKey) headers['x-api-key'] = apiKey
  return headers
}

export function createAnthropicAdapter(opts: { now?: () => number } = {}): ProviderAdapter {
  const now = opts.now ?? Date.now
  return {
    async complete(req: ChatRequest, route: ModelRoute, signal: AbortSignal): Promise<ChatCompletion> {
      const { provider, model } = route
      const body = { ...toAnthropicRequest(req, model.upstreamModel, model.maxOutputTokens), stream: false }
      const res = await upstreamFetch(provider, PATH, { body, headers: anthropicHeaders(provider.apiKey), signal })
      const msg = await parseJsonBody(res, provider, signal)
      if (!isMessage(msg)) {
        throw new GatewayError('upstream_error', `upstream ${provider.name} returned an unexpected message shape`)
      }
      return fromAnthropicResponse(msg, req.model, now())
    },

    async stream(req: ChatRequest, route: ModelRoute, signal: AbortSignal): Promise<AsyncIterable<ChatChunk>> {
      const { provider, model } = route
      const body = { ...toAnthropicRequest(req, model.upstreamModel, model.maxOutputTokens), stream: true }
      const res = await upstreamFetch(provider, PATH, { body, headers: anthropicHeaders(provider.apiKey), signal })
      if (!res.body) throw new GatewayError('upstream_error', `upstream ${provider.name} sent no stream body`)
      return anthropicChunks(res.body, provider, req.model, now, signal)
    },
  }
}

export const anthropicAdapter: ProviderAdapter = createAnthropicAdapter()

/** Chat chunks, handed out per read of the upstream body (see sseItems). */
function anthropicChunks(
  body: ReadableStream<Uint8Array>, provider: ProviderConfig, requestedModel: string, now: () => number, signal: AbortSignal,
): BatchedIterable<ChatChunk> {
  const state = createAnthropicStreamState({ requestedModel, now, secret: provider.apiKey })
  return sseItems<ChatChunk>(body, signal, {
    step(sse, out) {
      out.push(...anthropicEventToChunks(state, parseEvent(sse.event, sse.data, provider)))
      return state.stopped
    },
    // A clean end of the body before message_stop means the turn was cut off; the client must not take the
    // partial answer for a complete one.
    cutOff: () => (state.stopped ? null : new GatewayError('upstream_error', `upstream ${provider.name} stream ended before message_stop`)),
    failure: (err) => streamReadError(err, provider, signal),
  })
}

/** Exposed for fixture replay: SSE event → typed Anthropic event, malformed JSON → upstream_error. */
export function parseEvent(name: string, data: string, provider: Pick<ProviderConfig, 'name'>): AnthropicEvent {
  let parsed: unknown
  try {
    parsed = JSON.parse(data)
  } catch {
    throw new GatewayError('upstream_error', `upstream ${provider.name} sent a malformed stream event`)
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new GatewayError('upstream_error', `upstream ${provider.name} sent a malformed stream event`)
  }
  const obj = parsed as Record<string, unknown>
  // The JSON `type` repeats the SSE event name; fall back to the name for servers that omit it.
  return { ...obj, type: typeof obj.type === 'string' ? obj.type : name }
}

function isMessage(value: unknown): value is AnthropicResponse {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Record<string, unknown>
  return Array.isArray(v.content) && typeof v.id === 'string' && typeof v.usage === 'object' && v.usage !== null
}
