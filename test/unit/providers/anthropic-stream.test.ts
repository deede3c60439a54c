import { describe, expect, test } from 'bun:test'
import { GatewayError } from '../../../src/errors.ts'
import {
  type AnthropicEvent, anthropicEventToChunks, type AnthropicStreamState, createAnthropicStreamState,
} from '../../../src/providers/anthropic/stream.ts'
import { BILLING, type ChatChunk } from '../../../src/wire/openai.ts'

const NOW = 1_700_000_123_456

function fresh(): AnthropicStreamState {
  return createAnthropicStreamState({ requestedModel: 'claude-x', now: () => NOW, secret: 'sk-ant-secret-provider-key' })
}

function run(state: AnthropicStreamState, events: AnthropicEvent[]): ChatChunk[] {
  return events.flatMap((e) => anthropicEventToChunks(state, e))
}

const start = (usage: Record<string, unknown> = { input_tokens: 20, output_tokens: 1 }): AnthropicEvent => ({
  type: 'message_start',
  message: { id: 'msg_abc', type: 'message', role: 'assistant', model: 'claude-real', content: [], stop_reason: null, usage },
})
const textStart = (index: number): AnthropicEvent => ({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } })
const textDelta = (index: number, text: string): AnthropicEvent => ({ type: 'content_block_delta', index, delta: { type: 'text_delta', text } })
const toolStart = (index: number, id: string, name: string): AnthropicEvent => ({
  type: 'content_block_start', index, content_block: { type: 'tool_use', id, name, input: {} },
})
const jsonDelta = (index: number, partial_json: string): AnthropicEvent => ({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json } })
const stop = (index: number): AnthropicEvent => ({ type: 'content_block_stop', index })
const msgDelta = (stop_reason: string | null, usage: Record<string, unknown>): AnthropicEvent => ({ type: 'message_delta', delta: { stop_reason }, usage })

describe('anthropic stream → OpenAI chunks', () => {
  test('first chunk carries role and empty content, id and created from the message and clock', () => {
    const [first] = run(fresh(), [start()])
    expect(first).toEqual({
      id: 'chatcmpl-msg_abc', object: 'chat.completion.chunk', created: 1_700_000_123, model: 'claude-x',
      choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
    })
  })

  test('text deltas become content chunks; empty deltas are dropped', () => {
    const chunks = run(fresh(), [start(), textStart(0), textDelta(0, 'Hel'), textDelta(0, ''), textDelta(0, 'lo'), stop(0)])
    expect(chunks.slice(1).map((c) => c.choices[0].delta)).toEqual([{ content: 'Hel' }, { content: 'lo' }])
  })

  test('tool use: start chunk has index/id/type/name, continuation chunks only index + arguments', () => {
    const chunks = run(fresh(), [
      start(), textStart(0), textDelta(0, 'Checking.'), stop(0),
      toolStart(1, 'toolu_1', 'get_weather'), jsonDelta(1, ''), jsonDelta(1, '{"city":'), jsonDelta(1, '"Paris"}'), stop(1),
      toolStart(2, 'toolu_2', 'get_time'), jsonDelta(2, '{}'), stop(2),
    ])
    const calls = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? [])
    expect(calls).toEqual([
      { index: 0, id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '' } },
      { index: 0, function: { arguments: '{"city":' } },
      { index: 0, function: { arguments: '"Paris"}' } },
      { index: 1, id: 'toolu_2', type: 'function', function: { name: 'get_time', arguments: '' } },
      { index: 1, function: { arguments: '{}' } },
    ])
    // Continuation chunks carry nothing but tool_calls in their delta.
    for (const c of chunks.filter((x) => x.choices[0]?.delta.tool_calls?.[0]?.id === undefined && x.choices[0]?.delta.tool_calls)) {
      expect(Object.keys(c.choices[0].delta)).toEqual(['tool_calls'])
    }
  })

  test('regression (issue 9 item 12): a tool with no input gets arguments "{}" at its content_block_stop', () => {
    const chunks = run(fresh(), [
      start(),
      toolStart(0, 'toolu_a', 'now'), jsonDelta(0, ''), stop(0), // empty fragment only, as Anthropic sends
      toolStart(1, 'toolu_b', 'zones'), stop(1), // no fragment at all
      toolStart(2, 'toolu_c', 'f'), jsonDelta(2, '{"a":1}'), stop(2), // has input: nothing added
    ])
    expect(chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? [])).toEqual([
      { index: 0, id: 'toolu_a', type: 'function', function: { name: 'now', arguments: '' } },
      { index: 0, function: { arguments: '{}' } },
      { index: 1, id: 'toolu_b', type: 'function', function: { name: 'zones', arguments: '' } },
      { index: 1, function: { arguments: '{}' } },
      { index: 2, id: 'toolu_c', type: 'function', function: { name: 'f', arguments: '' } },
      { index: 2, function: { arguments: '{"a":1}' } },
    ])
  })

  test('thinking blocks, thinking deltas and signature deltas are dropped; tool index ignores them', () => {
    const chunks = run(fresh(), [
      start(),
      { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'hmm' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'sig' } },
      stop(0),
      { type: 'content_block_start', index: 1, content_block: { type: 'redacted_thinking', data: 'xx' } },
      stop(1),
      toolStart(2, 'toolu_9', 'f'),
    ])
    expect(chunks).toHaveLength(2)
    expect(chunks[1].choices[0].delta.tool_calls?.[0].index).toBe(0)
  })

  test('ping and unknown events are dropped', () => {
    expect(run(fresh(), [{ type: 'ping' }, { type: 'some_future_event', x: 1 }])).toEqual([])
  })

  test('regression: message_delta usage is cumulative — set, not added', () => {
    const state = fresh()
    const chunks = run(state, [
      start({ input_tokens: 20, cache_creation_input_tokens: 5, cache_read_input_tokens: 3, output_tokens: 1 }),
      textStart(0), textDelta(0, 'x'), stop(0),
      msgDelta(null, { output_tokens: 10 }),
      msgDelta('end_turn', { output_tokens: 15 }),
      { type: 'message_stop' },
    ])
    expect(chunks.at(-1)).toEqual({
      id: 'chatcmpl-msg_abc', object: 'chat.completion.chunk', created: 1_700_000_123, model: 'claude-x',
      choices: [], usage: {
        prompt_tokens: 28, completion_tokens: 15, total_tokens: 43, prompt_tokens_details: { cached_tokens: 3 },
        [BILLING]: { cacheWriteTokens: 5, cacheWrite1hTokens: 0, webSearchRequests: 0 },
      },
    })
    expect(state.stopped).toBe(true)
  })

  test('message_delta input usage replaces only the counters it reports', () => {
    const chunks = run(fresh(), [
      start({ input_tokens: 20, cache_read_input_tokens: 100, output_tokens: 1 }),
      msgDelta('end_turn', { input_tokens: 25, output_tokens: 7 }),
      { type: 'message_stop' },
    ])
    expect(chunks.at(-1)?.usage).toMatchObject({ prompt_tokens: 125, completion_tokens: 7, total_tokens: 132 })
  })

  test('the billing breakdown is carried through the stream: cache writes by TTL (message_start), searches (message_delta)', () => {
    const chunks = run(fresh(), [
      start({ input_tokens: 20, cache_creation_input_tokens: 30, cache_read_input_tokens: 100, output_tokens: 1, cache_creation: { ephemeral_5m_input_tokens: 10, ephemeral_1h_input_tokens: 20 }, service_tier: 'standard' }),
      msgDelta('end_turn', { output_tokens: 7, server_tool_use: { web_search_requests: 2 } }),
      { type: 'message_stop' },
    ])
    const usage = chunks.at(-1)!.usage!
    expect(usage).toMatchObject({ prompt_tokens: 150, completion_tokens: 7, prompt_tokens_details: { cached_tokens: 100 } })
    expect(usage[BILLING]).toEqual({ cacheWriteTokens: 30, cacheWrite1hTokens: 20, webSearchRequests: 2, serviceTier: 'default' })
  })

  test.each([
    ['end_turn', 'stop'], ['stop_sequence', 'stop'], ['max_tokens', 'length'], ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'], ['pause_turn', 'stop'], ['brand_new_reason', 'stop'],
  ] as const)('finish chunk for stop_reason %s is %s', (reason, finish) => {
    const chunks = run(fresh(), [start(), msgDelta(reason, { output_tokens: 2 })])
    expect(chunks.at(-1)?.choices).toEqual([{ index: 0, delta: {}, finish_reason: finish }])
  })

  test('error event throws upstream_error after the preceding chunks, with the key redacted', () => {
    const state = fresh()
    const before = run(state, [start(), textStart(0), textDelta(0, 'partial')])
    expect(before).toHaveLength(2)
    let thrown: unknown
    try {
      anthropicEventToChunks(state, {
        type: 'error', error: { type: 'overloaded_error', message: 'Overloaded for key sk-ant-secret-provider-key' },
      })
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(GatewayError)
    expect((thrown as GatewayError).code).toBe('upstream_error')
    expect((thrown as GatewayError).status).toBe(502)
    expect((thrown as GatewayError).message).toContain('overloaded_error')
    expect((thrown as GatewayError).message).not.toContain('secret-provider-key')
  })
})
