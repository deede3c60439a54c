import { describe, expect, test } from 'bun:test'
import { chatChunkToMessageEvents, createMessagesStreamState, finish, type MessagesStreamState } from '../../../src/messages/from-chat-stream.ts'
import type { FromChatOptions } from '../../../src/messages/from-chat-response.ts'
import type { MessagesSseEvent } from '../../../src/wire/anthropic.ts'
import type { ChatChunk } from '../../../src/wire/openai.ts'

const chunk = (delta: Record<string, unknown>, finish_reason: string | null = null, extra: Record<string, unknown> = {}): ChatChunk => ({
  id: 'chatcmpl-s1', object: 'chat.completion.chunk', created: 1, model: 'm',
  choices: [{ index: 0, delta, finish_reason, ...extra } as never],
})
const usage = (prompt: number, completion: number, cached = 0): ChatChunk => ({
  id: 'chatcmpl-s1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [],
  usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached } } as never,
})
const text = (t: string) => chunk({ content: t })
const call = (index: number, fields: Record<string, unknown>) => chunk({ tool_calls: [{ index, ...fields }] })

function run(chunks: ChatChunk[], opts: FromChatOptions = {}, end = true): { state: MessagesStreamState; events: MessagesSseEvent[] } {
  const state = createMessagesStreamState('claude-client', opts)
  const events = chunks.flatMap((c) => chatChunkToMessageEvents(state, c))
  if (end) events.push(...finish(state))
  return { state, events }
}

/** Compact view: event name plus what matters of its payload. */
function brief(e: MessagesSseEvent): unknown[] {
  const d = e.data
  switch (d.type) {
    case 'content_block_start': return [e.event, d.index, d.content_block]
    case 'content_block_delta': return [e.event, d.index, d.delta]
    case 'content_block_stop': return [e.event, d.index]
    case 'message_delta': return [e.event, d.delta, d.usage]
    default: return [e.event]
  }
}

const zero = { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 }

describe('chatChunkToMessageEvents', () => {
  test('message_start first: id from the upstream id, the client model, empty content, input tokens 0 until known', () => {
    const { events } = run([chunk({ role: 'assistant', content: '' })], {}, false)
    expect(events).toEqual([{
      event: 'message_start',
      data: { type: 'message_start', message: {
        id: 'msg_s1', type: 'message', role: 'assistant', model: 'claude-client', content: [], stop_reason: null, stop_sequence: null, usage: zero,
      } },
    }])
    for (const e of events) expect(e.event).toBe(e.data.type)
  })

  test('usage already on the first chunk (continuous usage stats) is in message_start', () => {
    const first = { ...chunk({ role: 'assistant' }), usage: { prompt_tokens: 30, completion_tokens: 0, total_tokens: 30 } }
    const { events } = run([first], {}, false)
    expect(events[0]).toMatchObject({ data: { message: { usage: { input_tokens: 30, output_tokens: 0 } } } })
  })

  test('text, then usage after finish: message_delta held until the usage chunk, carrying the final usage', () => {
    const { state, events } = run([chunk({ role: 'assistant', content: '' }), text('Hel'), text(''), text('lo'), chunk({}, 'stop')], {}, false)
    expect(events.map(brief)).toEqual([
      ['message_start'],
      ['content_block_start', 0, { type: 'text', text: '' }],
      ['content_block_delta', 0, { type: 'text_delta', text: 'Hel' }],
      ['content_block_delta', 0, { type: 'text_delta', text: 'lo' }],
      ['content_block_stop', 0],
    ])
    expect(chatChunkToMessageEvents(state, usage(19, 10, 4)).map(brief)).toEqual([
      ['message_delta', { stop_reason: 'end_turn', stop_sequence: null }, { input_tokens: 15, cache_creation_input_tokens: 0, cache_read_input_tokens: 4, output_tokens: 10 }],
      ['message_stop'],
    ])
    expect(state.stopped).toBe(true)
    expect(chatChunkToMessageEvents(state, text('late'))).toEqual([])
    expect(finish(state)).toEqual([])
  })

  test('usage on the finish chunk itself ends the message at once', () => {
    const { events } = run([text('a'), { ...chunk({}, 'length'), usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } }], {}, false)
    expect(events.slice(-2).map(brief)).toEqual([
      ['message_delta', { stop_reason: 'max_tokens', stop_sequence: null }, { ...zero, input_tokens: 3, output_tokens: 1 }],
      ['message_stop'],
    ])
  })

  test('no usage chunk at all: finish() sends message_delta (zero usage) and message_stop', () => {
    const { events } = run([text('a'), chunk({}, 'stop')])
    expect(events.slice(-3).map(brief)).toEqual([
      ['content_block_stop', 0],
      ['message_delta', { stop_reason: 'end_turn', stop_sequence: null }, zero],
      ['message_stop'],
    ])
  })

  test('finish() on a stream that sent nothing still yields a complete message', () => {
    expect(run([]).events.map(brief)).toEqual([['message_start'], ['message_delta', { stop_reason: 'end_turn', stop_sequence: null }, zero], ['message_stop']])
  })

  test('text → tool calls → text: each run is its own block, the open block is closed first, indexes count up', () => {
    const { events } = run([
      text('Let me check.'),
      call(0, { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }),
      call(0, { function: { arguments: '{"city":' } }),
      call(0, { function: { arguments: '"Paris"}' } }),
      call(1, { id: 'call_b', type: 'function', function: { name: 'now', arguments: '' } }),
      text('Done.'),
      chunk({}, 'tool_calls'),
      usage(5, 6),
    ])
    expect(events.map(brief)).toEqual([
      ['message_start'],
      ['content_block_start', 0, { type: 'text', text: '' }],
      ['content_block_delta', 0, { type: 'text_delta', text: 'Let me check.' }],
      ['content_block_stop', 0],
      ['content_block_start', 1, { type: 'tool_use', id: 'call_a', name: 'get_weather', input: {} }],
      ['content_block_delta', 1, { type: 'input_json_delta', partial_json: '{"city":' }],
      ['content_block_delta', 1, { type: 'input_json_delta', partial_json: '"Paris"}' }],
      ['content_block_stop', 1],
      ['content_block_start', 2, { type: 'tool_use', id: 'call_b', name: 'now', input: {} }],
      ['content_block_stop', 2],
      ['content_block_start', 3, { type: 'text', text: '' }],
      ['content_block_delta', 3, { type: 'text_delta', text: 'Done.' }],
      ['content_block_stop', 3],
      ['message_delta', { stop_reason: 'tool_use', stop_sequence: null }, { ...zero, input_tokens: 5, output_tokens: 6 }],
      ['message_stop'],
    ])
  })

  test('a late argument fragment for an earlier call goes to that call\'s block', () => {
    const { events } = run([
      call(0, { id: 'a', function: { name: 'f', arguments: '{"x":' } }),
      call(1, { id: 'b', function: { name: 'g', arguments: '{}' } }),
      call(0, { function: { arguments: '1}' } }),
      chunk({}, 'tool_calls'),
    ])
    expect(events.map(brief).slice(1, 7)).toEqual([
      ['content_block_start', 0, { type: 'tool_use', id: 'a', name: 'f', input: {} }],
      ['content_block_delta', 0, { type: 'input_json_delta', partial_json: '{"x":' }],
      ['content_block_stop', 0],
      ['content_block_start', 1, { type: 'tool_use', id: 'b', name: 'g', input: {} }],
      ['content_block_delta', 1, { type: 'input_json_delta', partial_json: '{}' }],
      ['content_block_delta', 0, { type: 'input_json_delta', partial_json: '1}' }],
    ])
  })

  test('a tool call without id gets one derived from the message id; tool calls finished with "stop" are tool_use', () => {
    const { events } = run([call(0, { function: { name: 'f', arguments: '{}' } }), chunk({}, 'stop')])
    expect(events[1]).toMatchObject({ data: { content_block: { type: 'tool_use', id: 'toolu_s1_0', name: 'f' } } })
    expect(events.at(-2)).toMatchObject({ data: { delta: { stop_reason: 'tool_use' } } })
  })

  test('reasoning deltas → a thinking block before the text, only when thinking was asked for', () => {
    const chunks = [chunk({ reasoning_content: 'Hmm.' }), chunk({ reasoning: ' Yes.' }), text('42'), chunk({}, 'stop')]
    expect(run(chunks, { thinking: true }).events.map(brief).slice(1, 7)).toEqual([
      ['content_block_start', 0, { type: 'thinking', thinking: '', signature: '' }],
      ['content_block_delta', 0, { type: 'thinking_delta', thinking: 'Hmm.' }],
      ['content_block_delta', 0, { type: 'thinking_delta', thinking: ' Yes.' }],
      ['content_block_stop', 0],
      ['content_block_start', 1, { type: 'text', text: '' }],
      ['content_block_delta', 1, { type: 'text_delta', text: '42' }],
    ])
    expect(run(chunks).events.filter((e) => e.event === 'content_block_start')).toHaveLength(1)
  })

  test('refusal deltas are text and make stop_reason refusal; content_filter too', () => {
    const refused = run([chunk({ refusal: "I can't" }), chunk({ refusal: ' help.' }), chunk({}, 'stop')]).events
    expect(refused.filter((e) => e.event === 'content_block_delta').map(brief)).toEqual([
      ['content_block_delta', 0, { type: 'text_delta', text: "I can't" }], ['content_block_delta', 0, { type: 'text_delta', text: ' help.' }],
    ])
    expect(refused.at(-2)).toMatchObject({ data: { delta: { stop_reason: 'refusal' } } })
    expect(run([text('x'), chunk({}, 'content_filter')]).events.at(-2)).toMatchObject({ data: { delta: { stop_reason: 'refusal' } } })
  })

  test("the stop string a server says it matched (vLLM's stop_reason) → stop_sequence", () => {
    const { events } = run([text('a'), chunk({}, 'stop', { stop_reason: 'END' })], { stopSequences: ['END'] })
    expect(events.at(-2)).toMatchObject({ data: { delta: { stop_reason: 'stop_sequence', stop_sequence: 'END' } } })
  })

  test('malformed chunk parts are ignored, never thrown on', () => {
    const junk = [
      { id: 'chatcmpl-s1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: null },
      { id: 'chatcmpl-s1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [null] },
      chunk({ tool_calls: [null, 'x', { index: 0, function: null }] }),
      chunk({ content: 5 }),
    ] as unknown as ChatChunk[]
    expect(() => run(junk)).not.toThrow()
  })
})
