/**
 * OpenAI-compatible provider: POST `${baseUrl}/chat/completions` with the provider key. Responses are
 * already in the gateway's wire format; only the model name is set back to the one the client asked for.
 */
import { GatewayError } from '../../errors.ts'
import type { BatchedIterable } from '../batches.ts'
import { sseItems } from '../sse-items.ts'
import { type ModelRoute, type ProviderAdapter } from '../types.ts'
import { type ProviderConfig } from '../../config/types.ts'
import { BILLING, type ChatChunk, type ChatCompletion, type ChatRequest, type Usage } from '../../wire/openai.ts'
import { extractUpstreamMessage, parseJsonBody, sanitizeUpstreamMessage, streamReadError, upstreamFetch } from '../upstream.ts'
import { isOfficialOpenAI, openAIHeaders, toOpenAIRequest } from './request.ts'

const PATH = '/chat/completions'

export const openaiAdapter: ProviderAdapter = {
  async complete(req: ChatRequest, route: ModelRoute, signal: AbortSignal): Promise<ChatCompletion> {
    const { provider, model } = route
    const res = await upstreamFetch(provider, PATH, {
      body: toOpenAIRequest(req, model.upstreamModel, false, isOfficialOpenAI(provider.baseUrl)),
      headers: openAIHeaders(provider.apiKey),
      signal,
    })
    const body = await parseJsonBody(res, provider, signal)
    if (!isObject(body) || !Array.isArray(body.choices)) {
      throw new GatewayError('upstream_error', `upstream ${provider.name} returned an unexpected completion shape`)
    }
    const completion = { ...(body as ChatCompletion), model: req.model }
    withServedTier(completion.usage, body.service_tier)
    return completion
  },

  async stream(req: ChatRequest, route: ModelRoute, signal: AbortSignal): Promise<AsyncIterable<ChatChunk>> {
    const { provider, model } = route
    const res = await upstreamFetch(provider, PATH, {
      body: toOpenAIRequest(req, model.upstreamModel, true, isOfficialOpenAI(provider.baseUrl)),
      headers: openAIHeaders(provider.apiKey),
      signal,
    })
    // A server that ignored `stream` (JSON) or a proxy's HTML page would parse as zero events and look like an
    // empty, successful stream: refuse it before the client sees a 200.
    const type = res.headers.get('content-type') ?? ''
    if (!res.body || !type.toLowerCase().includes('text/event-stream')) {
      await res.body?.cancel().catch(() => {})
      throw new GatewayError('upstream_error', `upstream ${provider.name} answered a stream request without an event stream (${type || 'no content-type'})`)
    }
    return openAIChunks(res.body, provider, req.model, signal)
  },
}

/** Exposed for fixture replay tests: the same event → chunk step the adapter runs on a live stream. */
export function openAIEventToChunk(data: string, provider: ProviderConfig, requestedModel: string): ChatChunk | 'done' {
  if (data === '[DONE]') return 'done'
  let parsed: unknown
  try {
    parsed = JSON.parse(data)
  } catch {
    throw new GatewayError('upstream_error', `upstream ${provider.name} sent a malformed stream event`)
  }
  if (!isObject(parsed)) throw new GatewayError('upstream_error', `upstream ${provider.name} sent a malformed stream event`)
  // OpenAI reports failures after the stream started as a `data: {"error":{...}}` event.
  if (parsed.error !== undefined && parsed.error !== null) {
    const message = sanitizeUpstreamMessage(extractUpstreamMessage(parsed) ?? 'upstream stream error', provider.apiKey)
    throw new GatewayError('upstream_error', message)
  }
  if (!Array.isArray(parsed.choices)) {
    throw new GatewayError('upstream_error', `upstream ${provider.name} sent a chunk without choices`)
  }
  // `parsed` is a fresh object owned by this request: set the model in place rather than copy every chunk.
  const chunk = parsed as ChatChunk
  chunk.model = requestedModel
  return chunk
}

/** Chunks, handed out per read of the upstream body (see sseItems). */
function openAIChunks(
  body: ReadableStream<Uint8Array>, provider: ProviderConfig, requestedModel: string, signal: AbortSignal,
): BatchedIterable<ChatChunk> {
  let finished = false
  let done = false
  let tier: unknown
  return sseItems<ChatChunk>(body, signal, {
    step(event, out) {
      // Event names are not checked: OpenAI sends none, and compatible servers that name an error event
      // still put `{"error":...}` in its data, which the step below turns into a GatewayError.
      const chunk = openAIEventToChunk(event.data, provider, requestedModel)
      if (chunk === 'done') return (done = true)
      for (const c of chunk.choices) if (c.finish_reason) finished = true
      tier = chunk.service_tier ?? tier
      withServedTier(chunk.usage, tier)
      out.push(chunk)
      return false
    },
    // Compatible servers may omit [DONE], but a stream that closed before any finish_reason was cut off:
    // passing it on as complete would hand the client a truncated answer as a whole one.
    cutOff: () => (done || finished ? null : new GatewayError('upstream_error', `upstream ${provider.name} stream ended before completion`)),
    failure: (err) => streamReadError(err, provider, signal),
  })
}

/**
 * The tier OpenAI says it served the request at (`service_tier` on the completion and on every chunk; it may
 * differ from the one asked for) goes to settlement with the usage. Usage keeps every other field as sent
 * (prompt_tokens_details.cached_tokens, completion_tokens_details.reasoning_tokens).
 */
function withServedTier(usage: Usage | null | undefined, tier: unknown): void {
  if (usage && typeof usage === 'object' && typeof tier === 'string') usage[BILLING] = { ...usage[BILLING], serviceTier: tier }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
