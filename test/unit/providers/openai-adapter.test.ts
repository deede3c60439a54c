import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { GatewayError } from '../../../src/errors.ts'
import { openaiAdapter } from '../../../src/providers/openai/adapter.ts'
import { upstreamTimeout } from '../../../src/providers/upstream.ts'
import { type ModelRoute } from '../../../src/providers/types.ts'
import { BILLING, type ChatChunk, type ChatRequest } from '../../../src/wire/openai.ts'
import {
  type FakeUpstream, openaiCompletion, openaiTextStream, splitBytes, sseReply, startFakeUpstream,
} from '../../helpers/fake-upstream.ts'

const PROVIDER_KEY = 'sk-proj-PROVIDER-KEY-0123456789abcdef'
let fake: FakeUpstream
let route: ModelRoute

beforeAll(async () => {
  fake = await startFakeUpstream()
  route = {
    provider: { name: 'openai', kind: 'openai', baseUrl: `${fake.url}/v1`, apiKey: PROVIDER_KEY, timeoutMs: 300 },
    model: { name: 'gpt-client', provider: 'openai', upstreamModel: 'gpt-4o-mini-2024-07-18', inputUsdPerMtok: 0.15, outputUsdPerMtok: 0.6, maxOutputTokens: 16384 },
  }
})
afterAll(() => fake.stop())

const signal = () => new AbortController().signal
const request = (extra: Partial<ChatRequest> = {}): ChatRequest => ({ model: 'gpt-client', messages: [{ role: 'user', content: 'hi' }], ...extra })

async function collect(iter: AsyncIterable<ChatChunk>): Promise<{ chunks: ChatChunk[]; error?: GatewayError }> {
  const chunks: ChatChunk[] = []
  try {
    for await (const c of iter) chunks.push(c)
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err
    return { chunks, error: err }
  }
  return { chunks }
}

describe('openai adapter: request', () => {
  test('sends the provider key, the upstream model, unknown fields; never the client key', async () => {
    fake.program({ kind: 'json', body: openaiCompletion({ text: 'hello' }) })
    await openaiAdapter.complete(request({ seed: 7, response_format: { type: 'json_object' }, stream_options: { include_usage: true } }), route, signal())
    const seen = fake.requests.at(-1)!
    expect(seen.path).toBe('/v1/chat/completions')
    expect(seen.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`)
    expect(seen.headers['x-api-key']).toBeUndefined()
    expect(seen.body).toEqual({ model: 'gpt-4o-mini-2024-07-18', messages: [{ role: 'user', content: 'hi' }], seed: 7, response_format: { type: 'json_object' } })
  })

  test('stream forces include_usage and keeps the client stream_options', async () => {
    fake.program(sseReply(openaiTextStream({ parts: ['a'] })))
    await collect(await openaiAdapter.stream(request({ stream: true, stream_options: { include_obfuscation: false } }), route, signal()))
    expect(fake.requests.at(-1)!.body).toMatchObject({ stream: true, stream_options: { include_obfuscation: false, include_usage: true } })
  })
})

describe('openai adapter: complete', () => {
  test('returns the completion with the client model name', async () => {
    fake.program({ kind: 'json', body: openaiCompletion({ text: 'hello', promptTokens: 3, completionTokens: 2 }) })
    const out = await openaiAdapter.complete(request(), route, signal())
    expect(out.model).toBe('gpt-client')
    expect(out.choices[0].message.content).toBe('hello')
    expect(out.usage).toEqual({ prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 })
  })

  test.each([[400, 400, 'upstream_client_error'], [401, 401, 'upstream_client_error'], [429, 429, 'upstream_client_error'], [500, 502, 'upstream_error']])(
    'upstream %d → %d %s without the provider key', async (upstream, status, code) => {
      fake.program({ kind: 'json', status: upstream, body: { error: { message: `bad things with ${PROVIDER_KEY}`, type: 'x' } } })
      const err = await openaiAdapter.complete(request(), route, signal()).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(GatewayError)
      expect((err as GatewayError).status).toBe(status)
      expect((err as GatewayError).code).toBe(code as never)
      expect((err as GatewayError).message).not.toContain('PROVIDER-KEY')
    })

  test('non-JSON 200 body → upstream_error', async () => {
    fake.program({ kind: 'text', body: '<html>oops</html>', contentType: 'text/html' })
    const err = await openaiAdapter.complete(request(), route, signal()).catch((e: unknown) => e)
    expect((err as GatewayError).code).toBe('upstream_error')
  })

  test('JSON without choices → upstream_error', async () => {
    fake.program({ kind: 'json', body: { hello: 'world' } })
    const err = await openaiAdapter.complete(request(), route, signal()).catch((e: unknown) => e)
    expect((err as GatewayError).code).toBe('upstream_error')
  })
})

describe('openai adapter: stream', () => {
  test('yields every chunk including the usage chunk, with the client model; split reads and CRLF', async () => {
    const text = openaiTextStream({ parts: ['Hel', 'lo ', '👋'], promptTokens: 4, eol: '\r\n' })
    fake.program({ kind: 'sse', chunks: splitBytes(text, [1, 7, 50, 51, 52, 200, 201, text.length - 3]) })
    const { chunks, error } = await collect(await openaiAdapter.stream(request({ stream: true }), route, signal()))
    expect(error).toBeUndefined()
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? null).join('|')).toBe('|Hel|lo |👋||') // role, 3 contents, finish, usage
    expect(chunks.at(-1)?.usage).toEqual({ prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 })
    expect(chunks.every((c) => c.model === 'gpt-client')).toBe(true)
  })

  test('stops at [DONE] even if the upstream keeps the connection open', async () => {
    fake.program(sseReply(openaiTextStream({ parts: ['x'] }), { after: 'hang' }))
    const { chunks } = await collect(await openaiAdapter.stream(request({ stream: true }), route, signal()))
    expect(chunks).toHaveLength(4)
  })

  test('ends cleanly at stream end without [DONE]', async () => {
    fake.program(sseReply(openaiTextStream({ parts: ['x'], done: false })))
    const { chunks, error } = await collect(await openaiAdapter.stream(request({ stream: true }), route, signal()))
    expect(error).toBeUndefined()
    expect(chunks).toHaveLength(4)
  })

  test('upstream 429 rejects stream() itself with status 429', async () => {
    fake.program({ kind: 'json', status: 429, body: { error: { message: 'Rate limit reached', type: 'requests' } } })
    const err = await openaiAdapter.stream(request({ stream: true }), route, signal()).catch((e: unknown) => e)
    expect((err as GatewayError).status).toBe(429)
  })

  test('mid-stream error event → upstream_error after the preceding chunks', async () => {
    const head = openaiTextStream({ parts: ['partial'], usage: false, done: false }).split('\n\n').slice(0, 2).join('\n\n')
    fake.program(sseReply(`${head}\n\ndata: {"error":{"message":"The server had an error while processing your request.","type":"server_error"}}\n\n`))
    const { chunks, error } = await collect(await openaiAdapter.stream(request({ stream: true }), route, signal()))
    expect(chunks).toHaveLength(2)
    expect(error?.code).toBe('upstream_error')
    expect(error?.message).toContain('server had an error')
  })

  test('malformed JSON data → upstream_error', async () => {
    fake.program(sseReply('data: {"id":"x","choices":[\n\n'))
    const { error } = await collect(await openaiAdapter.stream(request({ stream: true }), route, signal()))
    expect(error?.code).toBe('upstream_error')
  })

  test('connection reset mid-stream → upstream_error', async () => {
    const head = openaiTextStream({ parts: ['a', 'b'], done: false }).split('\n\n').slice(0, 2).join('\n\n')
    fake.program(sseReply(`${head}\n\n`, { after: 'reset' }))
    const { chunks, error } = await collect(await openaiAdapter.stream(request({ stream: true }), route, signal()))
    expect(chunks).toHaveLength(2)
    expect(error?.code).toBe('upstream_error')
    expect(error?.status).toBe(502)
  })

  test('the route\'s timeout before headers: its upstream_timeout reason comes back as the 504, at once', async () => {
    fake.program({ kind: 'hang' })
    const ac = new AbortController()
    const reason = upstreamTimeout(route.provider)
    setTimeout(() => ac.abort(reason), 50)
    const t0 = performance.now()
    const err = await openaiAdapter.stream(request({ stream: true }), route, ac.signal).catch((e: unknown) => e)
    expect(err).toBe(reason)
    expect((err as GatewayError).status).toBe(504)
    expect(performance.now() - t0).toBeLessThan(1000)
  })

  test('client abort mid-stream aborts the upstream within milliseconds', async () => {
    fake.program(sseReply(openaiTextStream({ parts: ['a'], done: false }).split('\n\n')[0] + '\n\n', { after: 'hang' }))
    const ac = new AbortController()
    const index = fake.requests.length
    const iter = (await openaiAdapter.stream(request({ stream: true }), route, ac.signal))[Symbol.asyncIterator]()
    await iter.next()
    const pending = iter.next()
    const t0 = performance.now()
    ac.abort(new DOMException('client disconnected', 'AbortError'))
    await expect(pending).rejects.toThrow('client disconnected')
    expect((await fake.waitForAbort(index)) - t0).toBeLessThan(100)
  })
})

describe('openai adapter: what settlement needs from the usage', () => {
  const usage = {
    prompt_tokens: 2000, completion_tokens: 500, total_tokens: 2500,
    prompt_tokens_details: { cached_tokens: 1792, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 448, audio_tokens: 0 },
  }

  test('complete: cached and reasoning details kept, the served tier attached for billing only', async () => {
    fake.program({ kind: 'json', body: { ...openaiCompletion({ text: 'x' }), usage, service_tier: 'priority' } })
    const out = await openaiAdapter.complete(request({ service_tier: 'priority' }), route, signal())
    expect(out.usage).toEqual({ ...usage, [BILLING]: { serviceTier: 'priority' } })
    expect(JSON.parse(JSON.stringify(out.usage))).toEqual(usage) // the client sees OpenAI's usage, nothing more
  })

  test('stream: the tier named on the chunks reaches the usage chunk', async () => {
    const events = openaiTextStream({ parts: ['a'] }).split('\n\n').filter(Boolean).map((e) => {
      if (!e.startsWith('data: {')) return `${e}\n\n`
      const c = JSON.parse(e.slice(6))
      return `data: ${JSON.stringify({ ...c, service_tier: 'flex', ...(c.usage ? { usage } : {}) })}\n\n`
    })
    fake.program({ kind: 'sse', chunks: events })
    const { chunks } = await collect(await openaiAdapter.stream(request({ stream: true }), route, signal()))
    expect(chunks.at(-1)?.usage).toEqual({ ...usage, [BILLING]: { serviceTier: 'flex' } })
  })
})
