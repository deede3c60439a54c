import { afterAll, beforeAll, describe, expect, spyOn, test } from 'bun:test'
import { GatewayError } from '../../../src/errors.ts'
import type { ProviderConfig } from '../../../src/config/types.ts'
import {
  extractUpstreamMessage, parseJsonBody, sanitizeUpstreamMessage, upstreamFetch, upstreamTimeout,
} from '../../../src/providers/upstream.ts'
import { type FakeUpstream, startFakeUpstream } from '../../helpers/fake-upstream.ts'

const KEY = 'sk-proj-PROVIDERSECRET0123456789'
let fake: FakeUpstream
let provider: ProviderConfig

beforeAll(async () => {
  fake = await startFakeUpstream()
  provider = { name: 'openai', kind: 'openai', baseUrl: `${fake.url}/v1/`, apiKey: KEY, timeoutMs: 300 }
})
afterAll(() => fake.stop())

const call = (signal: AbortSignal = new AbortController().signal, p: ProviderConfig = provider) =>
  upstreamFetch(p, '/chat/completions', { body: { a: 1 }, headers: { authorization: `Bearer ${p.apiKey}` }, signal })

async function caught(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError)
    return err as GatewayError
  }
  throw new Error('expected a rejection')
}

describe('upstreamFetch', () => {
  test('posts JSON to baseUrl + path and returns the 2xx response unread', async () => {
    fake.program({ kind: 'json', body: { ok: true } })
    const res = await call()
    expect(await res.json()).toEqual({ ok: true })
    const seen = fake.requests.at(-1)!
    expect(seen.path).toBe('/v1/chat/completions')
    expect(seen.method).toBe('POST')
    expect(seen.headers['content-type']).toBe('application/json')
    expect(seen.body).toEqual({ a: 1 })
  })

  const statuses: Array<[upstream: number, body: unknown, code: string, status: number]> = [
    [400, { error: { message: `Invalid value for 'model'. key=${KEY}`, type: 'invalid_request_error', param: 'model', code: null } }, 'upstream_client_error', 400],
    [401, { error: { message: `Incorrect API key provided: sk-proj-********************6789.`, type: 'invalid_request_error', code: 'invalid_api_key' } }, 'upstream_client_error', 401],
    [404, { type: 'error', error: { type: 'not_found_error', message: 'model: claude-nope' } }, 'upstream_client_error', 404],
    [429, { type: 'error', error: { type: 'rate_limit_error', message: `Rate limited for ${KEY}` } }, 'upstream_client_error', 429],
    [500, { error: { message: 'The server had an error', type: 'server_error' } }, 'upstream_error', 502],
    [529, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }, 'upstream_error', 502],
  ]
  test.each(statuses)('upstream %d → %s %d, provider key never in the message', async (upstream, body, code, status) => {
    fake.program({ kind: 'json', status: upstream, body })
    const err = await caught(call())
    expect(err.code).toBe(code as never)
    expect(err.status).toBe(status)
    expect(err.message).not.toContain('PROVIDERSECRET')
    expect(err.message.length).toBeLessThan(700)
  })

  test.each([
    [429, '7', '7'],
    [429, ' 30 ', '30'],
    [429, 'Wed, 21 Oct 2026 07:28:00 GMT', undefined], // only delay-seconds are reflected
    [429, '1\r\nx-evil: 1', undefined],
    [400, '7', undefined], // only on rate limits
  ])('upstream %d with retry-after %j → client retry-after %j', async (status, sent, expected) => {
    const headers: Record<string, string> = {}
    if (!sent.includes('\n')) headers['retry-after'] = sent
    fake.program({ kind: 'json', status, body: { error: { message: 'slow down' } }, headers })
    const err = await caught(call())
    expect(err.headers['retry-after']).toBe(expected as never)
  })

  test('non-JSON error body (HTML from a proxy) → generic message with the status', async () => {
    fake.program({ kind: 'text', status: 503, body: '<html><body>Bad gateway</body></html>', contentType: 'text/html' })
    const err = await caught(call())
    expect(err.code).toBe('upstream_error')
    expect(err.message).toContain('HTTP 503')
  })

  test('huge error bodies are read only up to the bound', async () => {
    fake.program({ kind: 'text', status: 400, body: 'x'.repeat(5_000_000) })
    const err = await caught(call())
    expect(err.status).toBe(400)
  })

  test('it sets no timer of its own: headers later than timeout_ms and a stream that outlives it are both awaited', async () => {
    fake.program({ kind: 'sse', chunks: ['data: 1\n\n', 'data: 2\n\n', 'data: 3\n\n'], delayMs: 400, chunkDelayMs: 200 })
    const res = await call()
    expect(await res.text()).toBe('data: 1\n\ndata: 2\n\ndata: 3\n\n') // ~1 s > timeoutMs 300
  })

  test('connection refused → upstream_error 502 without leaking the address', async () => {
    const dead = await startFakeUpstream()
    await dead.stop()
    const err = await caught(call(undefined, { ...provider, baseUrl: dead.url }))
    expect(err.code).toBe('upstream_error')
    expect(err.status).toBe(502)
    expect(err.message).not.toContain('127.0.0.1')
  })

  // The routes abort with their own reasons (a client's, or a timeout as a GatewayError): each ends the call at once.
  test.each([
    ['a client abort', () => new DOMException('client went away', 'AbortError')],
    ['the route\'s upstream_timeout', () => upstreamTimeout(provider)],
  ])('%s aborts the upstream request within milliseconds and is rethrown untouched', async (_name, reasonOf) => {
    fake.program({ kind: 'hang' })
    const ac = new AbortController()
    const index = fake.requests.length
    const pending = call(ac.signal)
    while (fake.requests.length === index) await Bun.sleep(1)
    const reason = reasonOf()
    const t0 = performance.now()
    ac.abort(reason)
    await expect(pending).rejects.toBe(reason)
    const abortedAt = await fake.waitForAbort(index)
    expect(abortedAt - t0).toBeLessThan(100)
  })

  test('upstreamTimeout: the 504 upstream_timeout that names the provider and its timeout_ms', () => {
    const err = upstreamTimeout(provider)
    expect(err.code).toBe('upstream_timeout')
    expect(err.status).toBe(504)
    expect(err.message).toBe(`upstream openai did not respond within ${provider.timeoutMs} ms`)
  })

  test('Bun\'s own 5-minute socket idle timer is off: the routes\' timers alone decide', async () => {
    // Without `timeout: false` an upstream holding its headers past BUN_CONFIG_HTTP_IDLE_TIMEOUT failed as a 502
    // "connection failed" at ~5 min though timeout_ms said 10 (see test/integration/proxy/bun-idle-timeout).
    const spy = spyOn(globalThis, 'fetch')
    try {
      fake.program({ kind: 'json', body: { ok: true } })
      await (await call()).arrayBuffer()
      expect(spy).toHaveBeenCalledTimes(1)
      expect((spy.mock.calls[0]![1] as { timeout?: unknown }).timeout).toBe(false)
    } finally {
      spy.mockRestore()
    }
  })

  test('parseJsonBody: non-JSON 200 body → upstream_error, no crash', async () => {
    fake.program({ kind: 'text', body: '{"id":"chatcmpl-1","choices":[' })
    const err = await caught(parseJsonBody(await call(), provider))
    expect(err.code).toBe('upstream_error')
  })
})

describe('upstream error messages', () => {
  test.each([
    [{ error: { message: 'm1' } }, 'm1'],
    [{ type: 'error', error: { type: 'invalid_request_error', message: 'm2' } }, 'invalid_request_error: m2'],
    [{ error: 'm3' }, 'm3'],
    [{ message: 'm4' }, 'm4'],
    ['{"error":{"message":"m5"}}', 'm5'],
    ['not json', null],
    [{ nothing: true }, null],
  ])('extract case %#', (body, expected) => {
    expect(extractUpstreamMessage(body)).toBe(expected)
  })

  test('sanitize redacts the provider key, sk- keys and bearer tokens, and truncates', () => {
    const out = sanitizeUpstreamMessage(`key ${KEY} other sk-ant-api03-abcdefghijk Bearer abcdefghijklmnop ${'y'.repeat(1000)}`, KEY)
    expect(out).not.toContain('PROVIDERSECRET')
    expect(out).not.toContain('abcdefghijk')
    expect(out.length).toBeLessThanOrEqual(501)
  })
})
