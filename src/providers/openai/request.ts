/**
 * Pure request/response shaping for OpenAI-compatible upstreams. The client body is passed through
 * (unknown fields included, so new OpenAI parameters work without a gateway release); only the model name
 * and the streaming options are the gateway's.
 */
import type { ChatRequest } from '../types.ts'

/**
 * `stream` mode forces `include_usage` because settlement needs the real token counts; the route strips the
 * usage chunk again when the client did not ask for it. Non-stream mode drops `stream_options`, which
 * OpenAI rejects unless `stream` is true.
 */
export function toOpenAIRequest(req: ChatRequest, upstreamModel: string, stream: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = { ...req, model: upstreamModel }
  if (stream) {
    body.stream = true
    body.stream_options = { ...(req.stream_options ?? {}), include_usage: true }
  } else {
    delete body.stream
    delete body.stream_options
  }
  return body
}

export function openAIHeaders(apiKey: string | null): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (apiKey) headers.authorization = `Bearer ${apiKey}`
  return headers
}
