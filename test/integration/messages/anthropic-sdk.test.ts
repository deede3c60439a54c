/**
 * The official @anthropic-ai/sdk against POST /v1/messages over real HTTP, with both upstream kinds behind it:
 * Anthropic (body passed through, events re-emitted as written) and OpenAI-compatible (translated, one
 * upstream request per client request). Every SSE body is checked by an independent parser.
 */
import Anthropic from '@anthropic-ai/sdk'
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createParser } from 'eventsource-parser'
import {
  anthropicMessage, anthropicTextStream, anthropicToolUseStream, openaiCompletion, openaiTextStream, sseReply,
} from '../../helpers/fake-upstream.ts'
import { ANTHROPIC_PROVIDER_KEY, MODELS, type ProxyEnv, startProxyEnv } from '../proxy/harness.ts'

let env: ProxyEnv
let client: Anthropic

beforeAll(async () => {
  env = await startProxyEnv({ audit: false, tenant: { budgetUsdMicros: 50_000_000 }, redis: true })
  client = new Anthropic({ baseURL: env.http.url, apiKey: env.key, maxRetries: 0 })
})

afterAll(async () => {
  await env.stop()
})

/** Events of a raw SSE body by an independent parser; CR bytes and unterminated events are problems. */
function parseEvents(raw: string): { events: Array<{ event?: string; data: unknown }>; problems: string[] } {
  const events: Array<{ event?: string; data: unknown }> = []
  const problems: string[] = []
  if (raw.includes('\r')) problems.push('CR byte')
  if (!raw.endsWith('\n\n')) problems.push('unterminated')
  const p = createParser({ onEvent: (e) => events.push({ event: e.event, data: JSON.parse(e.data) }), onError: (e) => problems.push(e.message) })
  p.feed(raw)
  for (const e of events) if ((e.data as { type?: string }).type !== e.event) problems.push(`event ${e.event} carries type ${(e.data as { type?: string }).type}`)
  return { events, problems }
}

async function rawPost(body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${env.http.url}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': env.key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })
}

describe('Anthropic upstream: passed through', () => {
  test('messages.create: body unchanged but the model, version and betas forwarded, provider key used', async () => {
    const index = env.up.requests.length
    env.up.program({ kind: 'json', body: anthropicMessage({ model: MODELS.anthropic.upstream, text: 'Bonjour', inputTokens: 12, outputTokens: 3 }) })
    const system = [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral', ttl: '1h', scope: 'global' } }]
    const msg = await client.messages.create({
      model: MODELS.anthropic.client, max_tokens: 50, system: system as any,
      messages: [{ role: 'user', content: 'hi' }],
      // A field the gateway does not know still reaches the provider.
      ...({ future_option: { x: 1 } } as object),
    } as any, { headers: { 'anthropic-beta': 'prompt-caching-2024-07-31', 'anthropic-version': '2023-06-01' } })
    expect(msg.content).toEqual([{ type: 'text', text: 'Bonjour' } as any])
    expect(msg.model).toBe(MODELS.anthropic.client)
    expect(msg.usage).toMatchObject({ input_tokens: 12, output_tokens: 3 })
    const seen = env.up.requests[index]!
    expect(seen.path).toBe('/v1/messages')
    expect(seen.body).toEqual({
      model: MODELS.anthropic.upstream, max_tokens: 50, system, messages: [{ role: 'user', content: 'hi' }], future_option: { x: 1 },
    })
    expect(seen.headers['x-api-key']).toBe(ANTHROPIC_PROVIDER_KEY)
    expect(seen.headers['anthropic-version']).toBe('2023-06-01')
    expect(seen.headers['anthropic-beta']).toBe('prompt-caching-2024-07-31')
    expect(seen.headers.authorization).toBeUndefined()
  })

  test('messages.stream().finalMessage(): every event re-emitted, names kept, split anywhere', async () => {
    const text = anthropicTextStream({ model: MODELS.anthropic.upstream, parts: ['Hel', 'lo', ' there'], inputTokens: 9, outputTokens: 3, pings: true, eol: '\r\n' })
    for (const chunkSize of [1, 7, 64]) {
      env.up.program(sseReply(text, { chunkSize }))
      const final = await client.messages.stream({ model: MODELS.anthropic.client, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }).finalMessage()
      expect(final.content).toEqual([{ type: 'text', text: 'Hello there', citations: undefined } as any].map((b) => ({ type: b.type, text: b.text })) as any)
      expect(final.usage.output_tokens).toBe(3)
      expect(final.model).toBe(MODELS.anthropic.client)
    }
    env.up.program(sseReply(text, { chunkSize: 5 }))
    const res = await rawPost({ model: MODELS.anthropic.client, max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }] })
    const { events, problems } = parseEvents(await res.text())
    expect(problems).toEqual([])
    expect(events.map((e) => e.event)).toEqual([
      'message_start', 'ping', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta', 'content_block_delta',
      'content_block_stop', 'ping', 'message_delta', 'message_stop',
    ])
  })

  test('a stream request answered without an event stream: a 502 before any stream, nothing charged or held', async () => {
    const before = await env.gw.ledger.snapshot('t1', 'total')
    env.up.program({ kind: 'json', body: anthropicMessage({ model: MODELS.anthropic.upstream, text: 'not a stream', outputTokens: 3 }) })
    const res = await rawPost({ model: MODELS.anthropic.client, max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }] })
    expect(res.status).toBe(502)
    expect(res.headers.get('content-type')).toContain('application/json')
    const body = await res.json() as { type: string; error: { type: string; message: string } }
    expect(body.type).toBe('error')
    expect(body.error.message).toContain('without an event stream')
    await env.gw.idle()
    expect(await env.gw.ledger.snapshot('t1', 'total')).toEqual(before)
  })

  test('tool use round trip: streamed tool_use input, then the tool_result turn', async () => {
    env.up.program(sseReply(anthropicToolUseStream({ model: MODELS.anthropic.upstream, tools: [{ id: 'toolu_1', name: 'get_weather', jsonParts: ['{"city":', '"Paris"}'] }] }), { chunkSize: 3 }))
    const tools = [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } } }]
    const first = await client.messages.stream({ model: MODELS.anthropic.client, max_tokens: 50, tools, messages: [{ role: 'user', content: 'weather?' }] }).finalMessage()
    expect(first.stop_reason).toBe('tool_use')
    const use = first.content.find((b) => b.type === 'tool_use') as Anthropic.ToolUseBlock
    expect(use.input).toEqual({ city: 'Paris' })
    const index = env.up.requests.length
    env.up.program({ kind: 'json', body: anthropicMessage({ model: MODELS.anthropic.upstream, text: 'Sunny' }) })
    const second = await client.messages.create({
      model: MODELS.anthropic.client, max_tokens: 50, tools,
      messages: [
        { role: 'user', content: 'weather?' }, { role: 'assistant', content: first.content as any },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '21C, sunny' }] },
      ],
    })
    expect((second.content[0] as Anthropic.TextBlock).text).toBe('Sunny')
    expect((env.up.requests[index]!.body as any).messages[2].content[0]).toEqual({ type: 'tool_result', tool_use_id: 'toolu_1', content: '21C, sunny' })
  })

  test('count_tokens is forwarded to Anthropic and never billed', async () => {
    const before = await env.gw.ledger.snapshot('t1', 'total')
    const index = env.up.requests.length
    env.up.program({ kind: 'json', body: { input_tokens: 42 } })
    const counted = await client.messages.countTokens({ model: MODELS.anthropic.client, messages: [{ role: 'user', content: 'count me' }] })
    expect(counted.input_tokens).toBe(42)
    expect(env.up.requests[index]!.path).toBe('/v1/messages/count_tokens')
    expect((env.up.requests[index]!.body as any).model).toBe(MODELS.anthropic.upstream)
    expect(await env.gw.ledger.snapshot('t1', 'total')).toEqual(before)
  })

  test('an upstream error mid-stream reaches the SDK as an error event in Anthropic\'s envelope', async () => {
    const head = anthropicTextStream({ model: MODELS.anthropic.upstream, parts: ['par', 'tial'] }).split('event: message_delta')[0]
    env.up.program(sseReply(head + 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'))
    const err = await client.messages.stream({ model: MODELS.anthropic.client, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] })
      .finalMessage().then(() => null, (e: unknown) => e as Error)
    expect(String(err)).toContain('Overloaded')
  })
})

describe('OpenAI-compatible upstream: translated', () => {
  test('messages.create: one upstream chat request, reply as an Anthropic message', async () => {
    const index = env.up.requests.length
    env.up.program({ kind: 'json', body: openaiCompletion({ model: MODELS.openai.upstream, text: 'Hi there', promptTokens: 7, completionTokens: 2 }) })
    const msg = await client.messages.create({ model: MODELS.openai.client, max_tokens: 40, system: 'Be kind', messages: [{ role: 'user', content: 'hello' }] })
    expect(env.up.requests.length).toBe(index + 1)
    const sent = env.up.requests[index]!
    expect(sent.path).toBe('/v1/chat/completions')
    expect((sent.body as any).messages).toEqual([{ role: 'system', content: 'Be kind' }, { role: 'user', content: 'hello' }])
    expect((sent.body as any).model).toBe(MODELS.openai.upstream)
    expect(msg.type).toBe('message')
    expect(msg.model).toBe(MODELS.openai.client)
    expect((msg.content[0] as Anthropic.TextBlock).text).toBe('Hi there')
    expect(msg.stop_reason).toBe('end_turn')
    expect(msg.usage).toMatchObject({ input_tokens: 7, output_tokens: 2 })
  })

  test('messages.stream().finalMessage() over a translated stream, split anywhere', async () => {
    const text = openaiTextStream({ model: MODELS.openai.upstream, parts: ['Bon', 'jour'], promptTokens: 5, completionTokens: 2 })
    for (const chunkSize of [1, 9, 100]) {
      const index = env.up.requests.length
      env.up.program(sseReply(text, { chunkSize }))
      const final = await client.messages.stream({ model: MODELS.openai.client, max_tokens: 40, messages: [{ role: 'user', content: 'hi' }] }).finalMessage()
      expect(env.up.requests.length).toBe(index + 1)
      expect(final.content.map((b) => (b as Anthropic.TextBlock).text).join('')).toBe('Bonjour')
      expect(final.usage.output_tokens).toBe(2)
      expect(final.stop_reason).toBe('end_turn')
    }
    env.up.program(sseReply(text, { chunkSize: 4 }))
    const res = await rawPost({ model: MODELS.openai.client, max_tokens: 40, stream: true, messages: [{ role: 'user', content: 'hi' }] })
    const { events, problems } = parseEvents(await res.text())
    expect(problems).toEqual([])
    expect(events[0]!.event).toBe('message_start')
    expect(events.at(-1)!.event).toBe('message_stop')
  })

  test('tool use round trip: parallel tool calls streamed as tool_use blocks, results sent back as tool messages', async () => {
    const fixture = await Bun.file(new URL('../../fixtures/openai-tool-calls-parallel.sse', import.meta.url)).text()
    env.up.program(sseReply(fixture, { chunkSize: 11 }))
    const tools = [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object' as const, properties: { location: { type: 'string' } } } }]
    const first = await client.messages.stream({ model: MODELS.openai.client, max_tokens: 200, tools, messages: [{ role: 'user', content: 'weather in Paris and Tokyo?' }] }).finalMessage()
    expect(first.stop_reason).toBe('tool_use')
    const uses = first.content.filter((b) => b.type === 'tool_use') as Anthropic.ToolUseBlock[]
    expect(uses.length).toBe(2)
    for (const u of uses) expect(typeof (u.input as { location?: unknown }).location).toBe('string')
    const index = env.up.requests.length
    env.up.program({ kind: 'json', body: openaiCompletion({ model: MODELS.openai.upstream, text: 'Both sunny' }) })
    const second = await client.messages.create({
      model: MODELS.openai.client, max_tokens: 200, tools,
      messages: [
        { role: 'user', content: 'weather in Paris and Tokyo?' }, { role: 'assistant', content: first.content as any },
        { role: 'user', content: uses.map((u) => ({ type: 'tool_result' as const, tool_use_id: u.id, content: 'sunny' })) },
      ],
    })
    expect((second.content[0] as Anthropic.TextBlock).text).toBe('Both sunny')
    const sent = (env.up.requests[index]!.body as any).messages
    expect(sent[1].tool_calls.map((c: any) => c.id)).toEqual(uses.map((u) => u.id))
    expect(sent.slice(2).map((m: any) => [m.role, m.tool_call_id])).toEqual(uses.map((u) => ['tool', u.id]))
  })

  test('count_tokens for a non-Anthropic model is a local estimate, not billed', async () => {
    const index = env.up.requests.length
    const counted = await client.messages.countTokens({ model: MODELS.openai.client, messages: [{ role: 'user', content: 'x'.repeat(400) }] })
    expect(counted.input_tokens).toBe(101) // ceil((400 bytes of text + 4 of "user") / 4)
    expect(env.up.requests.length).toBe(index)
  })
})

describe('errors in Anthropic\'s envelope', () => {
  test('bad key → 401 authentication_error', async () => {
    const bad = new Anthropic({ baseURL: env.http.url, apiKey: 'gw_wrongwrongwrongwrong', maxRetries: 0 })
    const err = await bad.messages.create({ model: MODELS.anthropic.client, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(Anthropic.AuthenticationError)
    expect((err as any).error).toMatchObject({ type: 'error', error: { type: 'authentication_error' } })
  })

  test('missing max_tokens → 400 invalid_request_error; unknown model → 404 not_found_error', async () => {
    const r = await rawPost({ model: MODELS.anthropic.client, messages: [{ role: 'user', content: 'x' }] })
    expect(r.status).toBe(400)
    expect(await r.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } })
    const nf = await client.messages.create({ model: 'nope', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).then(() => null, (e: unknown) => e)
    expect(nf).toBeInstanceOf(Anthropic.NotFoundError)
  })

  test('an empty budget is a 402 billing_error the SDK does not retry', async () => {
    const poor = await env.gw.addTenant({ id: 'poor', budgetUsdMicros: 1 })
    await env.gw.warm()
    const index = env.up.requests.length
    let calls = 0
    const sdk = new Anthropic({ baseURL: env.http.url, apiKey: poor, maxRetries: 3, fetch: (async (u: any, i: any) => { calls++; return fetch(u, i) }) as any })
    const err = await sdk.messages.create({ model: MODELS.anthropic.client, max_tokens: 50, messages: [{ role: 'user', content: 'x' }] }).then(() => null, (e: unknown) => e)
    expect((err as any).status).toBe(402)
    expect((err as any).error).toMatchObject({ error: { type: 'billing_error' } })
    expect(calls).toBe(1)
    expect(env.up.requests.length).toBe(index)
  })
})

test('GET /v1/models answers in Anthropic\'s shape when asked with anthropic-version', async () => {
  const page = await client.models.list()
  const ids = page.data.map((m) => m.id)
  expect(ids).toContain(MODELS.anthropic.client)
  expect(page.data[0]).toMatchObject({ type: 'model', display_name: expect.any(String), created_at: expect.any(String) })
  const openai = await fetch(`${env.http.url}/v1/models`, { headers: { authorization: `Bearer ${env.key}` } })
  expect(((await openai.json()) as any).object).toBe('list')
})
