import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { GatewayError } from '../../../src/errors.ts'
import { createAnthropicAdapter } from '../../../src/providers/anthropic/adapter.ts'
import { upstreamTimeout } from '../../../src/providers/upstream.ts'
import type { ModelRoute } from '../../../src/providers/types.ts'
import type { ChatChunk, ChatRequest } from '../../../src/wire/openai.ts'
import {
  anthropicErrorEvent, anthropicMessage, anthropicTextStream, anthropicToolUseStream, type FakeUpstream, sseReply, startFakeUpstream,
} from '../../helpers/fake-upstream.ts'

const PROVIDER_KEY = 'sk-ant-api03-PROVIDER-KEY-abcdefghijklmnop'
const adapter = createAnthropicAdapter({ now: () => 1_700_000_000_000 })
let fake: FakeUpstream
let route: ModelRoute

beforeAll(async () => {
  fake = await startFakeUpstream()
  route = {
    provider: { name: 'anthropic', kind: 'anthropic', baseUrl: fake.url, apiKey: PROVIDER_KEY, timeoutMs: 300 },
    model: { name: 'claude-client', provider: 'anthropic', upstreamModel: 'claude-sonnet-4-5', inputUsdPerMtok: 3, outputUsdPerMtok: 15, maxOutputTokens: 64000 },
  }
})
afterAll(() => fake.stop())

const signal = () => new AbortController().signal
const request = (extra: Partial<ChatRequest> = {}): ChatRequest => ({
  model: 'claude-client', messages: [{ role: 'system', content: 'sys' }, { role: 'user', content: 'hi' }], ...extra,
})

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

describe('anthropic adapter', () => {
  test('complete: POST /v1/messages with x-api-key and version, translated body, translated reply', async () => {
    fake.program({ kind: 'json', body: anthropicMessage({ text: 'Hello!', inputTokens: 12, outputTokens: 3 }) })
    const out = await adapter.complete(request({ max_tokens: 50, stream: true }), route, signal())
    const seen = fake.requests.at(-1)!
    expect(seen.path).toBe('/v1/messages')
    expect(seen.headers['x-api-key']).toBe(PROVIDER_KEY)
    expect(seen.headers['anthropic-version']).toBe('2023-06-01')
    expect(seen.headers.authorization).toBeUndefined()
    expect(seen.body).toEqual({ model: 'claude-sonnet-4-5', system: 'sys', messages: [{ role: 'user', content: 'hi' }], max_tokens: 50, stream: false })
    expect(out).toMatchObject({ model: 'claude-client', created: 1_700_000_000, choices: [{ message: { content: 'Hello!' }, finish_reason: 'stop' }] })
    expect(out.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 })
  })

  test('complete: max_tokens defaults to the model max output', async () => {
    fake.program({ kind: 'json', body: anthropicMessage({ text: 'x' }) })
    await adapter.complete(request(), route, signal())
    expect((fake.requests.at(-1)!.body as { max_tokens: number }).max_tokens).toBe(64000)
  })

  test.each([[400, 400, 'upstream_client_error'], [401, 401, 'upstream_client_error'], [429, 429, 'upstream_client_error'], [500, 502, 'upstream_error'], [529, 502, 'upstream_error']])(
    'upstream %d → %d %s, provider key redacted', async (upstream, status, code) => {
      fake.program({ kind: 'json', status: upstream, body: { type: 'error', error: { type: 'invalid_request_error', message: `nope ${PROVIDER_KEY}` } } })
      const err = await adapter.complete(request(), route, signal()).catch((e: unknown) => e)
      expect((err as GatewayError).status).toBe(status)
      expect((err as GatewayError).code).toBe(code as never)
      expect((err as GatewayError).message).not.toContain('PROVIDER-KEY')
    })

  test('complete: unexpected JSON shape → upstream_error', async () => {
    fake.program({ kind: 'json', body: { choices: [] } })
    const err = await adapter.complete(request(), route, signal()).catch((e: unknown) => e)
    expect((err as GatewayError).code).toBe('upstream_error')
  })

  test('stream: text with pings and CRLF cut every 7 bytes → role chunk, content, finish, usage', async () => {
    fake.program(sseReply(anthropicTextStream({ parts: ['Hel', 'lo'], inputTokens: 9, pings: true, eol: '\r\n' }), { chunkSize: 7 }))
    const { chunks, error } = await collect(await adapter.stream(request({ stream: true }), route, signal()))
    expect(error).toBeUndefined()
    expect((fake.requests.at(-1)!.body as { stream: boolean }).stream).toBe(true)
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' })
    expect(chunks.slice(1, 3).map((c) => c.choices[0].delta.content)).toEqual(['Hel', 'lo'])
    expect(chunks[3].choices[0].finish_reason).toBe('stop')
    expect(chunks[4]).toMatchObject({ choices: [], usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 } })
    expect(chunks).toHaveLength(5)
  })

  test('stream: tool use → indexed tool call chunks and tool_calls finish', async () => {
    fake.program(sseReply(anthropicToolUseStream({ tools: [{ id: 'toolu_a', name: 'f', jsonParts: ['{"x":', '1}'] }, { id: 'toolu_b', name: 'g', jsonParts: ['{}'] }] })))
    const { chunks } = await collect(await adapter.stream(request({ stream: true }), route, signal()))
    const calls = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? [])
    expect(calls.filter((c) => c.id).map((c) => [c.index, c.id])).toEqual([[0, 'toolu_a'], [1, 'toolu_b']])
    expect(chunks.at(-2)?.choices[0].finish_reason).toBe('tool_calls')
  })

  test('stream: mid-stream overloaded_error → chunks, then upstream_error', async () => {
    const head = anthropicTextStream({ parts: ['partial'] }).split('event: content_block_stop')[0]
    fake.program(sseReply(head + anthropicErrorEvent()))
    const { chunks, error } = await collect(await adapter.stream(request({ stream: true }), route, signal()))
    expect(chunks.map((c) => c.choices[0].delta.content)).toEqual(['', 'partial'])
    expect(error?.code).toBe('upstream_error')
    expect(error?.message).toContain('Overloaded')
  })

  test('stream: body ends before message_stop → upstream_error', async () => {
    fake.program(sseReply(anthropicTextStream({ parts: ['a'] }).split('event: message_delta')[0]))
    const { error } = await collect(await adapter.stream(request({ stream: true }), route, signal()))
    expect(error?.code).toBe('upstream_error')
  })

  test('stream: malformed JSON event → upstream_error', async () => {
    fake.program(sseReply('event: message_start\ndata: {"type":"message_start","message":\n\n'))
    const { error } = await collect(await adapter.stream(request({ stream: true }), route, signal()))
    expect(error?.code).toBe('upstream_error')
  })

  test('stream: connection reset → upstream_error', async () => {
    fake.program(sseReply(anthropicTextStream({ parts: ['a'] }).split('event: content_block_stop')[0], { after: 'reset' }))
    const { chunks, error } = await collect(await adapter.stream(request({ stream: true }), route, signal()))
    expect(chunks.length).toBe(2)
    expect(error?.code).toBe('upstream_error')
  })

  test('stream: client abort mid-stream aborts the upstream within milliseconds', async () => {
    fake.program(sseReply(anthropicTextStream({ parts: ['a'] }).split('event: content_block_stop')[0], { after: 'hang' }))
    const ac = new AbortController()
    const index = fake.requests.length
    const iter = (await adapter.stream(request({ stream: true }), route, ac.signal))[Symbol.asyncIterator]()
    await iter.next()
    await iter.next()
    const pending = iter.next()
    const t0 = performance.now()
    ac.abort(new DOMException('client disconnected', 'AbortError'))
    await expect(pending).rejects.toThrow('client disconnected')
    expect((await fake.waitForAbort(index)) - t0).toBeLessThan(100)
  })

  test('the route\'s timeout before headers: its upstream_timeout reason comes back as the 504', async () => {
    fake.program({ kind: 'hang' })
    const ac = new AbortController()
    const reason = upstreamTimeout(route.provider)
    setTimeout(() => ac.abort(reason), 50)
    const err = await adapter.complete(request(), route, ac.signal).catch((e: unknown) => e)
    expect(err).toBe(reason)
    expect((err as GatewayError).status).toBe(504)
  })
})

describe('fake upstream default mode (used by the benchmark)', () => {
  test('answers both wire formats with usage, streams N chunks', async () => {
    const bench = await startFakeUpstream({ record: false, defaults: { chunks: 3, latencyMs: 5 } })
    try {
      const r: ModelRoute = { ...route, provider: { ...route.provider, baseUrl: bench.url } }
      const msg = await adapter.complete(request(), r, signal())
      expect(msg.usage?.completion_tokens).toBe(3)
      const { chunks } = await collect(await adapter.stream(request({ stream: true }), r, signal()))
      expect(chunks.filter((c) => c.choices[0]?.delta.content).length).toBe(3)
      expect(chunks.at(-1)?.usage?.completion_tokens).toBe(3)
      const oa = await fetch(`${bench.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'm', stream: true }) })
      expect(await oa.text()).toContain('"usage":{"prompt_tokens":10,"completion_tokens":3')
      expect(bench.requests).toHaveLength(0)
    } finally {
      await bench.stop()
    }
  })
})
