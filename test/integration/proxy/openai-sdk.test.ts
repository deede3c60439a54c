/**
 * The official `openai` SDK (v5) against the gateway over real HTTP, with each provider kind behind it:
 * mock (built in), openai and anthropic (both via the fake upstream speaking their real wire formats).
 * Every SSE response is also audited by an independent parser (harness.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import OpenAI from 'openai'
import type { ChatCompletionChunk } from 'openai/resources/chat/completions'
import {
  anthropicMessage, anthropicTextStream, anthropicToolUseStream, type FakeUpstream, openaiCompletion, openaiTextStream, sseReply,
} from '../../helpers/fake-upstream.ts'
import { auditProblems, type Kind, MODELS, type ProxyEnv, startProxyEnv } from './harness.ts'

const FIXTURES = new URL('../../fixtures/', import.meta.url)

let env: ProxyEnv
let client: OpenAI

beforeAll(async () => {
  env = await startProxyEnv()
  client = new OpenAI({ baseURL: env.http.baseURL, apiKey: env.key, maxRetries: 0 })
})

afterAll(async () => {
  // Requirement: every stream the gateway emitted in this file is well-formed.
  expect(auditProblems(env.http.audits)).toEqual([])
  expect(env.http.audits.length).toBeGreaterThan(0)
  await env.stop()
})

interface Case {
  kind: Kind
  /** Programs the upstream for one text reply and returns the text the client must see. */
  program: (up: FakeUpstream, stream: boolean) => string
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number }
}

const PROMPT = 'hello gateway'
const cases: Case[] = [
  {
    kind: 'mock',
    program: () => `Echo: ${PROMPT}`,
    // mock: one token per word; prompt = words + 1 per message.
    usage: { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 },
  },
  {
    kind: 'openai',
    program: (up, stream) => {
      if (stream) up.program(sseReply(openaiTextStream({ model: MODELS.openai.upstream, parts: ['Hi', ' there', ', friend'], promptTokens: 7, completionTokens: 3 }), { chunkSize: 61 }))
      else up.program({ kind: 'json', body: openaiCompletion({ model: MODELS.openai.upstream, text: 'Hi there, friend', promptTokens: 7, completionTokens: 3 }) })
      return 'Hi there, friend'
    },
    usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
  },
  {
    kind: 'anthropic',
    program: (up, stream) => {
      if (stream) up.program(sseReply(anthropicTextStream({ model: MODELS.anthropic.upstream, parts: ['Bonjour', ' à', ' vous'], inputTokens: 9, outputTokens: 4, pings: true }), { chunkSize: 37 }))
      else up.program({ kind: 'json', body: anthropicMessage({ model: MODELS.anthropic.upstream, text: 'Bonjour à vous', inputTokens: 9, outputTokens: 4 }) })
      return 'Bonjour à vous'
    },
    usage: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 },
  },
]

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const out: ChatCompletionChunk[] = []
  for await (const c of stream) out.push(c)
  return out
}

const textOf = (chunks: ChatCompletionChunk[]) => chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')

describe.each(cases)('openai SDK → gateway → $kind', (c) => {
  const model = MODELS[c.kind].client
  const messages = [{ role: 'user' as const, content: PROMPT }]

  test('non-stream completion', async () => {
    const expected = c.program(env.up, false)
    const r = await client.chat.completions.create({ model, messages })
    expect(r.object).toBe('chat.completion')
    expect(r.model).toBe(model)
    expect(r.choices[0]!.message.role).toBe('assistant')
    expect(r.choices[0]!.message.content).toBe(expected)
    expect(r.choices[0]!.finish_reason).toBe('stop')
    expect(r.usage).toMatchObject(c.usage)
  })

  test('streaming text: first chunk has the role, text reassembles, finish_reason stop', async () => {
    const expected = c.program(env.up, true)
    const chunks = await collect(await client.chat.completions.create({ model, messages, stream: true }))
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant')
    expect(textOf(chunks)).toBe(expected)
    expect(chunks.every((ch) => ch.model === model && ch.object === 'chat.completion.chunk')).toBe(true)
    expect(new Set(chunks.map((ch) => ch.id)).size).toBe(1)
    const finishes = chunks.flatMap((ch) => ch.choices.map((x) => x.finish_reason)).filter((f) => f !== null)
    expect(finishes).toEqual(['stop'])
  })

  test('stream_options.include_usage: the SDK sees exactly one usage chunk, last, with empty choices', async () => {
    c.program(env.up, true)
    const chunks = await collect(await client.chat.completions.create({ model, messages, stream: true, stream_options: { include_usage: true } }))
    const withUsage = chunks.filter((ch) => ch.usage)
    expect(withUsage).toHaveLength(1)
    expect(withUsage[0]).toBe(chunks[chunks.length - 1]!)
    expect(withUsage[0]!.choices).toEqual([])
    expect(withUsage[0]!.usage).toMatchObject(c.usage)
  })

  test('without include_usage no usage reaches the client (the OpenAI upstream was still asked for it)', async () => {
    const before = env.up.requests.length
    const expected = c.program(env.up, true)
    const chunks = await collect(await client.chat.completions.create({ model, messages, stream: true }))
    expect(textOf(chunks)).toBe(expected)
    expect(chunks.filter((ch) => ch.usage !== undefined && ch.usage !== null)).toEqual([])
    expect(chunks.filter((ch) => ch.choices.length === 0)).toEqual([])
    // The raw wire carries no `usage` key at all (not even usage:null) when the client did not ask.
    const audit = env.http.audits[env.http.audits.length - 1]!
    expect(audit.chunks.filter((ch) => 'usage' in ch)).toEqual([])
    if (c.kind === 'openai') {
      const sent = env.up.requests[before]!.body as { stream?: boolean; stream_options?: { include_usage?: boolean } }
      expect(sent.stream).toBe(true)
      expect(sent.stream_options?.include_usage).toBe(true)
    }
  })
})

describe('tool calls', () => {
  const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
    { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } },
    { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } } },
  ]

  test('openai: parallel tool calls pass through chunk for chunk; the SDK accumulates both calls', async () => {
    const fixture = await Bun.file(new URL('openai-tool-calls-parallel.sse', FIXTURES)).text()
    env.up.program(sseReply(fixture, { chunkSize: 97 }), sseReply(fixture, { chunkSize: 13 }))
    const model = MODELS.openai.client
    const messages = [{ role: 'user' as const, content: 'weather in Paris and Tokyo?' }]

    const chunks = await collect(await client.chat.completions.create({ model, messages, tools, stream: true, stream_options: { include_usage: true } }))
    const upstreamChunks = fixture.split('\n\n').map((e) => e.replace(/^data: /, '')).filter((d) => d !== '' && d !== '[DONE]')
      .map((d) => ({ ...JSON.parse(d), model }))
    expect(chunks as unknown[]).toEqual(upstreamChunks)

    const final = await client.chat.completions.stream({ model, messages, tools }).finalChatCompletion()
    const msg = final.choices[0]!.message
    expect(final.choices[0]!.finish_reason).toBe('tool_calls')
    expect(msg.tool_calls?.map((t) => t.type === 'function' ? [t.id, t.function.name, JSON.parse(t.function.arguments)] : null)).toEqual([
      ['call_weatherParis01', 'get_weather', { location: 'Paris' }],
      ['call_weatherTokyo02', 'get_weather', { location: 'Tokyo' }],
    ])
  })

  test('anthropic: several tool_use blocks → OpenAI tool call deltas the SDK accumulates', async () => {
    const stream = anthropicToolUseStream({
      model: MODELS.anthropic.upstream,
      text: ['Let me check', ' both.'],
      tools: [
        { id: 'toolu_01A', name: 'get_weather', jsonParts: ['{"loc', 'ation": "Par', 'is, \\"FR\\""}'] },
        { id: 'toolu_02B', name: 'get_time', jsonParts: ['{"tz":', ' "Asia/Tokyo"', '}'] },
        { id: 'toolu_03C', name: 'get_weather', jsonParts: ['{"location": "Zürich 🇨🇭"}'] },
      ],
      pings: true,
    })
    env.up.program(sseReply(stream, { chunkSize: 23 }), sseReply(stream, { chunkSize: 5 }))
    const model = MODELS.anthropic.client
    const messages = [{ role: 'user' as const, content: 'weather?' }]

    const chunks = await collect(await client.chat.completions.create({ model, messages, tools, stream: true }))
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant')
    expect(textOf(chunks)).toBe('Let me check both.')
    const deltas = chunks.flatMap((ch) => ch.choices[0]?.delta.tool_calls ?? [])
    // Per call: the first delta carries id, type and name (arguments empty); the rest carry arguments only.
    for (const index of [0, 1, 2]) {
      const mine = deltas.filter((d) => d.index === index)
      expect(mine[0]).toMatchObject({ index, id: expect.any(String), type: 'function', function: { name: expect.any(String) } })
      for (const d of mine.slice(1)) {
        expect(d.id).toBeUndefined()
        expect(d.function?.name).toBeUndefined()
        expect(typeof d.function?.arguments).toBe('string')
      }
    }
    const finishes = chunks.flatMap((ch) => ch.choices.map((x) => x.finish_reason)).filter((f) => f !== null)
    expect(finishes).toEqual(['tool_calls'])

    const final = await client.chat.completions.stream({ model, messages, tools }).finalChatCompletion()
    expect(final.choices[0]!.finish_reason).toBe('tool_calls')
    expect(final.choices[0]!.message.content).toBe('Let me check both.')
    expect(final.choices[0]!.message.tool_calls?.map((t) => t.type === 'function' ? [t.id, t.function.name, JSON.parse(t.function.arguments)] : null)).toEqual([
      ['toolu_01A', 'get_weather', { location: 'Paris, "FR"' }],
      ['toolu_02B', 'get_time', { tz: 'Asia/Tokyo' }],
      ['toolu_03C', 'get_weather', { location: 'Zürich 🇨🇭' }],
    ])
  })

  test('regression (issue 9 item 12): anthropic tools without input → finalChatCompletion() arguments JSON.parse to {}', async () => {
    const fixture = await Bun.file(new URL('anthropic-tool-no-input.sse', FIXTURES)).text()
    env.up.program(sseReply(fixture, { chunkSize: 29 }))
    const model = MODELS.anthropic.client
    const noArgs: OpenAI.Chat.Completions.ChatCompletionTool[] = [
      { type: 'function', function: { name: 'get_current_time' } },
      { type: 'function', function: { name: 'list_time_zones', parameters: { type: 'object', properties: {} } } },
    ]
    const final = await client.chat.completions.stream({ model, messages: [{ role: 'user', content: 'time?' }], tools: noArgs }).finalChatCompletion()
    expect(final.choices[0]!.finish_reason).toBe('tool_calls')
    expect(final.choices[0]!.message.tool_calls?.map((t) => t.type === 'function' ? [t.function.name, JSON.parse(t.function.arguments)] : null)).toEqual([
      ['get_current_time', {}],
      ['list_time_zones', {}],
    ])
  })
})

describe('regression (issue 9 item 13): non-stream replies translated from Anthropic carry message.refusal', () => {
  const model = MODELS.anthropic.client
  const messages = [{ role: 'user' as const, content: 'hi' }]

  test('an ordinary answer has refusal: null', async () => {
    env.up.program({ kind: 'json', body: anthropicMessage({ model: MODELS.anthropic.upstream, text: 'Hello' }) })
    const raw = await client.chat.completions.create({ model, messages }).asResponse()
    const body = (await raw.json()) as { choices: Array<{ message: Record<string, unknown> }> }
    expect(body.choices[0]!.message).toHaveProperty('refusal', null)
  })

  test('stop_reason refusal → finish_reason content_filter and the refusal text', async () => {
    env.up.program({ kind: 'json', body: { ...anthropicMessage({ model: MODELS.anthropic.upstream, text: 'I can\'t help with that.' }), stop_reason: 'refusal' } })
    const r = await client.chat.completions.create({ model, messages })
    expect(r.choices[0]!.finish_reason).toBe('content_filter')
    expect(r.choices[0]!.message.refusal).toBe('I can\'t help with that.')
  })
})

