/**
 * The recorded-shape OpenAI streams go through the same steps a /v1/messages request served by an
 * OpenAI-compatible upstream runs (SSE parser → openAIEventToChunk → chatChunkToMessageEvents → finish),
 * whole and split at every byte offset: the Anthropic events must be identical. Then the official
 * @anthropic-ai/sdk's stream accumulator must build the expected final message from those events, served
 * over real HTTP by a tiny Bun.serve.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import Anthropic from '@anthropic-ai/sdk'
import { GatewayError } from '../../../src/errors.ts'
import { sseJsonStringify } from '../../../src/http/sse.ts'
import { chatCompletionToMessage, type FromChatOptions } from '../../../src/messages/from-chat-response.ts'
import { chatChunkToMessageEvents, createMessagesStreamState, finish } from '../../../src/messages/from-chat-stream.ts'
import type { MessagesResponse, MessagesSseEvent } from '../../../src/wire/anthropic.ts'
import { openAIEventToChunk } from '../../../src/providers/openai/adapter.ts'
import type { ProviderConfig } from '../../../src/config/types.ts'
import type { ChatCompletion } from '../../../src/wire/openai.ts'
import { SseParser } from '../../../src/sse/parser.ts'
import { splitBytes } from '../../helpers/fake-upstream.ts'

const FIXTURES = new URL('../../fixtures/', import.meta.url)
const provider: ProviderConfig = { name: 'fixture', kind: 'openai', baseUrl: 'http://x', apiKey: 'sk-fixture', timeoutMs: 1000 }
const MODEL = 'claude-via-openai'

function replay(reads: Uint8Array[], opts: FromChatOptions): MessagesSseEvent[] {
  const parser = new SseParser()
  const state = createMessagesStreamState(MODEL, opts)
  const out: MessagesSseEvent[] = []
  for (const e of [...reads.flatMap((r) => parser.feed(r)), ...parser.end()]) {
    const chunk = openAIEventToChunk(e.data, provider, MODEL)
    if (chunk === 'done') break
    out.push(...chatChunkToMessageEvents(state, chunk))
  }
  out.push(...finish(state))
  return out
}

const usage = (input: number, output: number, cacheRead = 0) => ({ input_tokens: input, cache_creation_input_tokens: 0, cache_read_input_tokens: cacheRead, output_tokens: output })

// [fixture, options, the final message the SDK must assemble]
const cases: Array<[string, FromChatOptions, MessagesResponse]> = [
  ['openai-text-usage.sse', {}, {
    id: 'msg_B9MBs8CjcvOU2jLn4n570S5qMJKcT', type: 'message', role: 'assistant', model: MODEL,
    content: [{ type: 'text', text: 'Hello! How can I help you today? héllo wörld 👋 日本' }],
    stop_reason: 'end_turn', stop_sequence: null, usage: usage(19, 10),
  }],
  ['openai-text-crlf.sse', {}, {
    id: 'msg_B9MBs8CjcvOU2jLn4n570S5qMJKcT', type: 'message', role: 'assistant', model: MODEL,
    content: [{ type: 'text', text: 'Hello! How can I help you today? héllo wörld 👋 日本' }],
    stop_reason: 'end_turn', stop_sequence: null, usage: usage(19, 10),
  }],
  ['openai-tool-calls-parallel.sse', {}, {
    id: 'msg_B9MBs8CjcvOU2jLn4n570S5qMJKcT', type: 'message', role: 'assistant', model: MODEL,
    content: [
      { type: 'tool_use', id: 'call_weatherParis01', name: 'get_weather', input: { location: 'Paris' } },
      { type: 'tool_use', id: 'call_weatherTokyo02', name: 'get_weather', input: { location: 'Tokyo' } },
    ],
    stop_reason: 'tool_use', stop_sequence: null, usage: usage(19, 10),
  }],
  ['openai-text-then-tools-cached.sse', {}, {
    id: 'msg_C3xToolsAndCache7Q', type: 'message', role: 'assistant', model: MODEL,
    content: [
      { type: 'text', text: 'Let me check.' },
      { type: 'tool_use', id: 'call_Rk2fWeatherBerlin', name: 'get_weather', input: { city: 'Berlin' } },
      { type: 'tool_use', id: 'call_Zt9kCurrentTimeNoArgs', name: 'get_current_time', input: {} },
    ],
    stop_reason: 'tool_use', stop_sequence: null, usage: usage(86, 41, 1920),
  }],
  ['openai-reasoning-usage-on-finish.sse', { thinking: true }, {
    id: 'msg_8f1c6a3e-5b2d-4c1e-9f7a-0d3b2c1a9e8f', type: 'message', role: 'assistant', model: MODEL,
    content: [
      { type: 'thinking', thinking: 'The user asks 27 × 453. 27 × 453 = 12,231.', signature: '' },
      { type: 'text', text: '27 × 453 = 12,231.' },
    ],
    stop_reason: 'end_turn', stop_sequence: null, usage: usage(21, 64),
  }],
  // No usage chunk and no include_usage: message_delta is sent by finish() at [DONE].
  ['bom-comments.sse', {}, {
    id: 'msg_B9MBs8CjcvOU2jLn4n570S5qMJKcT', type: 'message', role: 'assistant', model: MODEL,
    content: [{ type: 'text', text: 'BOM ok' }], stop_reason: 'end_turn', stop_sequence: null, usage: usage(0, 0),
  }],
]

async function load(file: string): Promise<Uint8Array> {
  return new Uint8Array(await Bun.file(new URL(file, FIXTURES)).arrayBuffer())
}

describe('OpenAI fixture → Anthropic events is independent of read boundaries', () => {
  test.each(cases)('%s: split at every byte offset', async (file, opts) => {
    const bytes = await load(file)
    const whole = replay([bytes], opts)
    expect(whole[0].event).toBe('message_start')
    expect(whole.at(-1)?.event).toBe('message_stop')
    for (let i = 1; i < bytes.length; i++) {
      const got = replay(splitBytes(bytes, [i]), opts)
      if (!Bun.deepEquals(got, whole)) expect({ offset: i, got }).toEqual({ offset: i, got: whole })
    }
  })

  test.each(cases)('%s: a well-formed event sequence', async (file, opts) => {
    const events = replay([await load(file)], opts)
    const names = events.map((e) => e.event)
    expect(names.filter((n) => n === 'message_start')).toHaveLength(1)
    expect(names.filter((n) => n === 'message_delta')).toHaveLength(1)
    expect(names.slice(-2)).toEqual(['message_delta', 'message_stop'])
    // Blocks: started in index order 0, 1, 2..., each stopped once, never two open at a time.
    let open: number | null = null
    let next = 0
    for (const e of events) {
      expect(e.event).toBe(e.data.type)
      if (e.data.type === 'content_block_start') {
        expect([open, e.data.index]).toEqual([null, next++])
        open = e.data.index
      } else if (e.data.type === 'content_block_stop') {
        expect(e.data.index).toBe(open!)
        open = null
      } else if (e.data.type === 'content_block_delta') {
        expect(e.data.index).toBe(open!)
      }
    }
    expect(open).toBeNull()
  })
})

describe('@anthropic-ai/sdk assembles the translated stream', () => {
  let server: ReturnType<typeof Bun.serve>
  let client: Anthropic
  /** Each request names its fixture in `model`; options ride in metadata.user_id; non-stream gets the JSON translated. */
  beforeAll(() => {
    server = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      async fetch(req) {
        const body = (await req.json()) as { model: string; stream?: boolean; metadata?: { user_id?: string } }
        if (!body.stream) {
          const completion = (await Bun.file(new URL(body.model, FIXTURES)).json()) as ChatCompletion
          return Response.json(chatCompletionToMessage(completion, MODEL))
        }
        const opts = JSON.parse(body.metadata?.user_id ?? '{}') as FromChatOptions
        const events = replay([await load(body.model)], opts)
        const sse = events.map((e) => `event: ${e.event}\ndata: ${sseJsonStringify(e.data)}\n\n`).join('')
        return new Response(sse, { headers: { 'content-type': 'text/event-stream' } })
      },
    })
    client = new Anthropic({ baseURL: `http://127.0.0.1:${server.port}`, apiKey: 'sk-ant-test', maxRetries: 0 })
  })
  afterAll(() => server.stop(true))

  test.each(cases)('%s: finalMessage() equals the expected message', async (file, opts, expected) => {
    const stream = client.messages.stream({
      model: file, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }], metadata: { user_id: JSON.stringify(opts) },
    })
    const texts: string[] = []
    stream.on('text', (t) => texts.push(t))
    const final = await stream.finalMessage()
    // Plain data (the SDK defines tool input as a lazy getter); parsed_output is the SDK's own addition.
    const { parsed_output: parsed, ...message } = JSON.parse(JSON.stringify(final)) as MessagesResponse & { parsed_output: unknown }
    expect(parsed).toBeNull()
    expect(message).toEqual(expected)
    expect(texts.join('')).toBe(expected.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join(''))
  })

  test('messages.create() (non-stream) reads the translated completion', async () => {
    const msg = await client.messages.create({ model: 'openai-completion.json', max_tokens: 100, messages: [{ role: 'user', content: 'capital of France?' }] })
    expect(msg.content).toEqual([{ type: 'text', text: 'The capital of France is Paris.' } as never])
    expect([msg.stop_reason, msg.usage.input_tokens, msg.usage.output_tokens]).toEqual(['end_turn', 14, 8])
  })

  test('the events of a mid-stream upstream error stop where the error is thrown', async () => {
    const bad = new TextEncoder().encode('data: {"id":"chatcmpl-x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Part"},"finish_reason":null}]}\n\ndata: {"error":{"message":"overloaded","type":"server_error"}}\n\n')
    let thrown: unknown
    const state = createMessagesStreamState(MODEL)
    const seen: string[] = []
    try {
      for (const e of new SseParser().feed(bad)) {
        const chunk = openAIEventToChunk(e.data, provider, MODEL)
        if (chunk !== 'done') seen.push(...chatChunkToMessageEvents(state, chunk).map((x) => x.event))
      }
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(GatewayError)
    expect(seen).toEqual(['message_start', 'content_block_start', 'content_block_delta'])
    expect(state.stopped).toBe(false) // the route writes the terminal error event, not message_stop
  })
})
