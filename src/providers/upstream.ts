/**
 * The single place that calls `fetch` on a provider. It passes on the caller's abort and maps upstream
 * failures to GatewayError; adapters only build bodies and translate responses, and the routes own the timers.
 */
import { GatewayError } from '../errors.ts'
import type { ProviderConfig } from '../config/types.ts'

export interface UpstreamInit {
  /** Serialized with JSON.stringify unless already a string. */
  body: unknown
  headers: Record<string, string>
  /**
   * Aborting it aborts the upstream request (headers or body) at once, and its reason is rethrown. The caller
   * owns every timer of the call (the provider's timeout_ms until the headers, the stream's idle timeout, the
   * request deadline) and aborts this signal with a GatewayError when one fires (see upstreamTimeout).
   */
  signal: AbortSignal
}

/** Upstream error bodies are only read this far: they go into a message, not through the gateway. */
const MAX_ERROR_BODY_BYTES = 64 * 1024
const MAX_MESSAGE_CHARS = 500

/**
 * POSTs JSON to `provider.baseUrl + path` and returns the 2xx response with its body unread.
 *
 * It sets no timer of its own: the routes already hold one AbortController per request, aborted on each of
 * their timeouts and on shutdown, and a second controller here (its own timer for the headers, linked to the
 * caller's signal by a listener) cost ~5% of the gateway's CPU a JSON request at c=32 (bench/RESULTS.md).
 *
 * Throws GatewayError: upstream_error (502) for network errors, 5xx and redirects; upstream_client_error with
 * the upstream status for 4xx (429 included). An aborted signal rethrows its reason untouched (the route's
 * upstream_timeout or shutdown error), so callers can tell their own cut from an upstream failure.
 */
export async function upstreamFetch(provider: ProviderConfig, path: string, init: UpstreamInit): Promise<Response> {
  const { signal } = init
  let res: Response
  try {
    res = await fetch(joinUrl(provider.baseUrl, path), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...init.headers },
      body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
      signal,
      // A redirect could carry the provider key to another host (x-api-key is not stripped cross-origin).
      redirect: 'manual',
      // Bun's own socket idle timer (BUN_CONFIG_HTTP_IDLE_TIMEOUT, default 5 min) would otherwise fail a
      // request whose headers take longer (a long non-streamed generation) as a 502 "connection failed"
      // before our timeout_ms, and cut a stream silent for longer than that before idle_timeout_ms. Every
      // phase has its own timer in the route, so Bun's is off.
      // https://bun.sh/reference/globals/BunFetchRequestInit/timeout
      timeout: false,
    })
  } catch (err) {
    throw failure(err, provider, signal)
  }
  if (res.status >= 200 && res.status < 300) return res
  let text: string
  try {
    text = await readBounded(res, MAX_ERROR_BODY_BYTES)
  } catch (err) {
    throw failure(err, provider, signal)
  }
  throw statusError(provider, res.status, text, res.headers.get('retry-after'))
}

/** The reason a route aborts its upstream signal with when timeout_ms passes before the reply's headers. */
export function upstreamTimeout(provider: ProviderConfig): GatewayError {
  return new GatewayError('upstream_timeout', `upstream ${provider.name} did not respond within ${provider.timeoutMs} ms`)
}

function failure(err: unknown, provider: ProviderConfig, signal: AbortSignal): unknown {
  if (signal.aborted) return signal.reason ?? err
  return networkError(provider, err)
}

/** A network-level failure (refused, reset, TLS): the OS message can carry hostnames, so keep it generic. */
export function networkError(provider: ProviderConfig, err: unknown): GatewayError {
  const code = typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string'
    ? ` (${(err as { code: string }).code})`
    : ''
  return new GatewayError('upstream_error', `upstream ${provider.name} connection failed${code}`)
}

/**
 * Maps an error thrown while reading a streamed body: GatewayErrors (mid-stream error events) pass through,
 * a client abort rethrows its reason, anything else (connection reset, truncated chunking) is upstream_error.
 */
export function streamReadError(err: unknown, provider: ProviderConfig, signal: AbortSignal): unknown {
  if (err instanceof GatewayError) return err
  if (signal.aborted) return signal.reason ?? err
  return new GatewayError('upstream_error', `upstream ${provider.name} stream interrupted`)
}

/** Maps a non-2xx upstream status and its (bounded) body to the gateway error the client sees. */
export function statusError(provider: ProviderConfig, status: number, bodyText: string, retryAfter: string | null = null): GatewayError {
  const extracted = extractUpstreamMessage(bodyText)
  const message = sanitizeUpstreamMessage(extracted ?? `upstream returned HTTP ${status}`, provider.apiKey)
  // SDKs honour retry-after on 429; pass it on only when it is plain delay-seconds (nothing else is reflected).
  const headers: Record<string, string> = status === 429 && retryAfter !== null && /^\d{1,5}$/.test(retryAfter.trim()) ? { 'retry-after': retryAfter.trim() } : {}
  if (status >= 400 && status < 500) return new GatewayError('upstream_client_error', message, { status, headers })
  return new GatewayError('upstream_error', `upstream ${provider.name} error (HTTP ${status}): ${message}`)
}

/**
 * The human message of an upstream error body: OpenAI `{error:{message}}`, Anthropic
 * `{type:'error',error:{type,message}}`, or a bare `{error:"..."}` / `{message}` from compatible servers.
 */
export function extractUpstreamMessage(body: unknown): string | null {
  let value = body
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body)
    } catch {
      return null
    }
  }
  if (typeof value !== 'object' || value === null) return null
  const obj = value as Record<string, unknown>
  const error = obj.error
  if (typeof error === 'string' && error !== '') return error
  if (typeof error === 'object' && error !== null) {
    const e = error as Record<string, unknown>
    if (typeof e.message === 'string' && e.message !== '') {
      // Anthropic names the class of error (overloaded_error, rate_limit_error) separately from the message.
      return typeof e.type === 'string' && obj.type === 'error' ? `${e.type}: ${e.message}` : e.message
    }
  }
  if (typeof obj.message === 'string' && obj.message !== '') return obj.message
  return null
}

/** Redacts the provider key and anything shaped like an `sk-` key, then bounds the length. */
export function sanitizeUpstreamMessage(message: string, secret?: string | null): string {
  let out = message
  if (secret) out = out.split(secret).join('[redacted]')
  // Runs on a bounded error message, never on a raw stream.
  out = out.replace(/sk-[A-Za-z0-9_\-*.]{6,}/g, 'sk-[redacted]')
  out = out.replace(/(bearer\s+)[A-Za-z0-9_\-.~+/=]{8,}/gi, '$1[redacted]')
  if (out.length > MAX_MESSAGE_CHARS) out = `${out.slice(0, MAX_MESSAGE_CHARS)}…`
  return out
}

/**
 * Reads a 2xx JSON body; a body that is not JSON (an HTML error page from a proxy, a truncated reply) is an
 * upstream_error, never a crash. A client abort while reading rethrows the abort reason.
 */
export async function parseJsonBody(res: Response, provider: ProviderConfig, signal?: AbortSignal): Promise<unknown> {
  let text: string
  try {
    text = await res.text()
  } catch (err) {
    if (signal?.aborted) throw signal.reason ?? err
    throw networkError(provider, err)
  }
  try {
    return JSON.parse(text)
  } catch {
    throw new GatewayError('upstream_error', `upstream ${provider.name} returned a malformed JSON body`)
  }
}

async function readBounded(res: Response, maxBytes: number): Promise<string> {
  if (!res.body) return ''
  const reader = res.body.getReader()
  const decoder = new TextDecoder()
  let text = ''
  let seen = 0
  try {
    while (seen < maxBytes) {
      const { done, value } = await reader.read()
      if (done) break
      const slice = value.byteLength > maxBytes - seen ? value.subarray(0, maxBytes - seen) : value
      seen += slice.byteLength
      text += decoder.decode(slice, { stream: true })
    }
  } finally {
    reader.cancel().catch(() => {})
  }
  return text + decoder.decode()
}

function joinUrl(base: string, path: string): string {
  const b = base.endsWith('/') ? base.slice(0, -1) : base
  return path.startsWith('/') ? b + path : `${b}/${path}`
}
