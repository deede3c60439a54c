/**
 * Pure request/response shaping for OpenAI-compatible upstreams. The client body is passed through
 * (unknown fields included, so new OpenAI parameters work without a gateway release); only the model name
 * and the streaming options are the gateway's.
 */
import type { ChatRequest } from '../../wire/openai.ts'

/** Providers' base URLs come from the config, so a few; past this many the answer is computed each time. */
const OFFICIAL_CACHE_MAX = 256
const officialByUrl = new Map<string, boolean>()

/**
 * The official API reads max_completion_tokens and refuses max_tokens for reasoning models. Asked on every
 * request of an OpenAI-compatible route, and parsing the URL each time showed in its profile: answered once per URL.
 */
export function isOfficialOpenAI(baseUrl: string): boolean {
  let official = officialByUrl.get(baseUrl)
  if (official === undefined) {
    official = URL.canParse(baseUrl) && new URL(baseUrl).hostname === 'api.openai.com'
    if (officialByUrl.size < OFFICIAL_CACHE_MAX) officialByUrl.set(baseUrl, official)
  }
  return official
}

/**
 * `stream` mode forces `include_usage` because settlement needs the real token counts; the route strips the
 * usage chunk again when the client did not ask for it. Non-stream mode drops `stream_options`, which
 * OpenAI rejects unless `stream` is true.
 *
 * `officialApi: false` (Ollama, vLLM, older compatible servers) also sends the output cap as `max_tokens`:
 * such servers may read only that field, and an ignored cap is a strict reservation's worst case gone
 * (measured: 16k tokens generated on a 16-token cap).
 */
export function toOpenAIRequest(req: ChatRequest, upstreamModel: string, stream: boolean, officialApi = true): Record<string, unknown> {
  const body: Record<string, unknown> = { ...req, model: upstreamModel }
  if (!officialApi && req.max_completion_tokens != null && req.max_tokens == null) body.max_tokens = req.max_completion_tokens
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
