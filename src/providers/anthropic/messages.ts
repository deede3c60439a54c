/**
 * Anthropic's own Messages API behind /v1/messages: the client's body goes to the provider unchanged but for
 * the model name, with the client's `anthropic-version` and `anthropic-beta`, and the reply comes back as
 * Anthropic wrote it (events re-emitted by the route through the one SSE writer). Only usage is read here.
 */
import { GatewayError } from '../../errors.ts'
import type { BatchedIterable } from '../batches.ts'
import { sseItems } from '../sse-items.ts'
import type { ProviderConfig } from '../../config/types.ts'
import type { NativeMessages, RawMessagesEvent } from '../types.ts'
import { parseJsonBody, sanitizeUpstreamMessage, streamReadError, upstreamFetch } from '../upstream.ts'
import { anthropicHeaders, parseEvent } from './adapter.ts'

/** Client headers an Anthropic upstream must see to behave as the client expects (betas, API version). */
const FORWARDED_HEADERS = ['anthropic-version', 'anthropic-beta'] as const

export function messagesHeaders(apiKey: string | null, client: Headers): Record<string, string> {
  const h = anthropicHeaders(apiKey)
  for (const name of FORWARDED_HEADERS) {
    const v = client.get(name)
    if (v !== null && v.length <= 1024) h[name] = v
  }
  return h
}

/** POSTs to `${baseUrl}${path}` (messages or count_tokens) and returns the 2xx response unread. */
function postToAnthropic(provider: ProviderConfig, path: string, body: Record<string, unknown>, client: Headers, signal: AbortSignal): Promise<Response> {
  return upstreamFetch(provider, path, { body, headers: messagesHeaders(provider.apiKey, client), signal })
}

async function anthropicMessage(provider: ProviderConfig, res: Response, signal: AbortSignal): Promise<Record<string, unknown>> {
  const msg = await parseJsonBody(res, provider, signal)
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg) || !Array.isArray((msg as { content?: unknown }).content)) {
    throw new GatewayError('upstream_error', `upstream ${provider.name} returned an unexpected message shape`)
  }
  return msg as Record<string, unknown>
}

/**
 * The provider's events, in order, pings included. An `error` event ends the stream as a GatewayError that
 * keeps the provider's status class (overloaded → 529); a body that ends before `message_stop` is an error:
 * the client must not take a cut-off turn for a whole one.
 */
/** Exposed for fixture replay: the reply body → its events, as stream() yields them. */
export async function* anthropicEvents(res: Response, provider: ProviderConfig, signal: AbortSignal): AsyncGenerator<RawMessagesEvent> {
  yield* await anthropicEventItems(res, provider, signal)
}

/** The events, handed out per read of the upstream body (see sseItems). */
async function anthropicEventItems(res: Response, provider: ProviderConfig, signal: AbortSignal): Promise<BatchedIterable<RawMessagesEvent>> {
  const type = res.headers.get('content-type') ?? ''
  if (!res.body || !type.toLowerCase().includes('text/event-stream')) {
    await res.body?.cancel().catch(() => {})
    throw new GatewayError('upstream_error', `upstream ${provider.name} answered a stream request without an event stream (${type || 'no content-type'})`)
  }
  let stopped = false
  return sseItems<RawMessagesEvent>(res.body, signal, {
    step(sse, out) {
      const event = parseEvent(sse.event, sse.data, provider)
      if (event.type === 'error') throw upstreamStreamError(event, provider)
      out.push({ event, json: sse.data })
      return (stopped = event.type === 'message_stop')
    },
    cutOff: () => (stopped ? null : new GatewayError('upstream_error', `upstream ${provider.name} stream ended before message_stop`)),
    failure: (err) => streamReadError(err, provider, signal),
  })
}

const STREAM_ERROR_STATUS: Readonly<Record<string, number>> = { overloaded_error: 529, rate_limit_error: 429, api_error: 502 }

function upstreamStreamError(event: RawMessagesEvent['event'], provider: ProviderConfig): GatewayError {
  const e = (event as { error?: { type?: unknown; message?: unknown } }).error
  const type = typeof e?.type === 'string' ? e.type : 'api_error'
  const message = sanitizeUpstreamMessage(typeof e?.message === 'string' ? e.message : 'upstream stream error', provider.apiKey)
  return new GatewayError('upstream_error', message, { status: STREAM_ERROR_STATUS[type] ?? 502 })
}

/** Anthropic's own Messages API, for /v1/messages: bodies pass through, replies come back as written. */
export const anthropicMessages: NativeMessages = {
  async complete(route, body, client, signal) {
    return anthropicMessage(route.provider, await postToAnthropic(route.provider, '/v1/messages', body, client, signal), signal)
  },
  async stream(route, body, client, signal) {
    return anthropicEventItems(await postToAnthropic(route.provider, '/v1/messages', body, client, signal), route.provider, signal)
  },
  async countTokens(route, body, client, signal) {
    const res = await postToAnthropic(route.provider, '/v1/messages/count_tokens', body, client, signal)
    const counted = await parseJsonBody(res, route.provider, signal)
    if (typeof (counted as { input_tokens?: unknown })?.input_tokens !== 'number') {
      throw new GatewayError('upstream_error', `upstream ${route.provider.name} returned an unexpected count_tokens shape`)
    }
    return counted as { input_tokens: number }
  },
}
