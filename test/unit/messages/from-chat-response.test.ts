import { describe, expect, test } from 'bun:test'
import { GatewayError } from '../../../src/errors.ts'
import { chatCompletionToMessage, parseToolInput, stopReasonFor, usageFor, wantsThinking } from '../../../src/messages/from-chat-response.ts'
import type { ChatCompletion } from '../../../src/wire/openai.ts'
import fixture from '../../fixtures/openai-completion.json'

const completion = (message: Record<string, unknown>, finish: string | null = 'stop', extra: Record<string, unknown> = {}): ChatCompletion => ({
  id: 'chatcmpl-abc', object: 'chat.completion', created: 1, model: 'gpt-up',
  choices: [{ index: 0, message: { role: 'assistant', content: null, ...message }, finish_reason: finish, ...extra } as never],
  usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
})

describe('chatCompletionToMessage', () => {
  test('recorded completion → Anthropic message (id, model the client asked for, text, end_turn, usage)', () => {
    expect(chatCompletionToMessage(fixture as ChatCompletion, 'claude-client')).toEqual({
      id: 'msg_B9MHDbslfkBeAs8l4bebGdFOJ6PeG', type: 'message', role: 'assistant', model: 'claude-client',
      content: [{ type: 'text', text: 'The capital of France is Paris.' }],
      stop_reason: 'end_turn', stop_sequence: null,
      usage: { input_tokens: 14, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 8 },
    })
  })

  test('tool calls → tool_use blocks after the text, input parsed', () => {
    const out = chatCompletionToMessage(completion({
      content: 'Checking.',
      tool_calls: [
        { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        { id: 'call_2', type: 'function', function: { name: 'now', arguments: '' } },
      ],
    }, 'tool_calls'), 'c')
    expect(out.content).toEqual([
      { type: 'text', text: 'Checking.' },
      { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: 'call_2', name: 'now', input: {} },
    ])
    expect(out.stop_reason).toBe('tool_use')
  })

  test('a tool call without id gets one derived from the completion id; malformed calls are skipped', () => {
    const out = chatCompletionToMessage(completion({ tool_calls: [null, { function: { name: 'f', arguments: '{}' } }, { id: 'x' }] }, 'tool_calls'), 'c')
    expect(out.content).toEqual([{ type: 'tool_use', id: 'toolu_abc_0', name: 'f', input: {} }])
  })

  test('empty content gives no text block; content as text parts is joined', () => {
    expect(chatCompletionToMessage(completion({ content: '' }), 'c').content).toEqual([])
    expect(chatCompletionToMessage(completion({ content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }), 'c').content).toEqual([{ type: 'text', text: 'ab' }])
  })

  test('refusal → text block with the refusal and stop_reason refusal', () => {
    const out = chatCompletionToMessage(completion({ content: null, refusal: "I can't help with that." }), 'c')
    expect(out.content).toEqual([{ type: 'text', text: "I can't help with that." }])
    expect(out.stop_reason).toBe('refusal')
  })

  test('reasoning_content / reasoning → a thinking block first, only when thinking was asked for', () => {
    const withReasoning = completion({ content: '42', reasoning_content: 'Six times seven.' })
    expect(chatCompletionToMessage(withReasoning, 'c', { thinking: true }).content).toEqual([
      { type: 'thinking', thinking: 'Six times seven.', signature: '' }, { type: 'text', text: '42' },
    ])
    expect(chatCompletionToMessage(withReasoning, 'c').content).toEqual([{ type: 'text', text: '42' }])
    expect(chatCompletionToMessage(completion({ content: '42', reasoning: 'Hmm.' }), 'c', { thinking: true }).content[0]).toEqual({ type: 'thinking', thinking: 'Hmm.', signature: '' })
  })

  test("a server that names the matched stop string (vLLM's stop_reason) gives stop_sequence", () => {
    const out = chatCompletionToMessage(completion({ content: 'a' }, 'stop', { stop_reason: 'END' }), 'c', { stopSequences: ['END'] })
    expect([out.stop_reason, out.stop_sequence]).toEqual(['stop_sequence', 'END'])
    // A string the client did not ask for (or a token id) is not a stop sequence.
    expect(chatCompletionToMessage(completion({ content: 'a' }, 'stop', { stop_reason: 'OTHER' }), 'c', { stopSequences: ['END'] }).stop_reason).toBe('end_turn')
    expect(chatCompletionToMessage(completion({ content: 'a' }, 'stop', { stop_reason: 128001 }), 'c', { stopSequences: ['END'] }).stop_reason).toBe('end_turn')
  })

  test('no choices or no message → upstream_error', () => {
    for (const choices of [[], [null], [{ index: 0 }]]) {
      let thrown: unknown
      try {
        chatCompletionToMessage({ ...completion({}), choices } as never, 'c')
      } catch (err) {
        thrown = err
      }
      expect(thrown).toBeInstanceOf(GatewayError)
      expect((thrown as GatewayError).code).toBe('upstream_error')
    }
  })
})

describe('stopReasonFor', () => {
  test.each([
    ['stop', false, 'end_turn'], ['length', false, 'max_tokens'], ['tool_calls', true, 'tool_use'], ['function_call', true, 'tool_use'],
    ['content_filter', false, 'refusal'], [null, false, 'end_turn'], ['brand_new_reason', false, 'end_turn'],
    // Ollama and some vLLM tool parsers finish tool calls with "stop": clients only run tools on tool_use.
    ['stop', true, 'tool_use'], ['length', true, 'max_tokens'],
  ] as const)('%p (tool calls: %p) → %p', (finish, tools, expected) => {
    expect(stopReasonFor(finish, null, tools, {}).stop_reason).toBe(expected)
  })
})

describe('usageFor', () => {
  test.each([
    ['plain', { prompt_tokens: 19, completion_tokens: 10 }, { input_tokens: 19, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 10 }],
    ['cached tokens are reported apart and excluded from input_tokens', { prompt_tokens: 2006, completion_tokens: 300, prompt_tokens_details: { cached_tokens: 1920 } },
      { input_tokens: 86, cache_creation_input_tokens: 0, cache_read_input_tokens: 1920, output_tokens: 300 }],
    ['cached above prompt is clamped', { prompt_tokens: 5, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 9 } },
      { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 5, output_tokens: 1 }],
    ['missing usage → zeros', undefined, { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 }],
    ['garbage counts → zeros', { prompt_tokens: '7', completion_tokens: -3, prompt_tokens_details: null },
      { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 }],
  ] as const)('%s', (_name, usage, expected) => {
    expect(usageFor(usage)).toEqual(expected)
  })
})

describe('parseToolInput: anything but a JSON object becomes {}', () => {
  test.each([
    ['{"a":1}', { a: 1 }], ['', {}], ['  ', {}], ['{"a":', {}], ['[1,2]', {}], ['null', {}], ['"s"', {}], [undefined, {}], [42, {}],
  ] as const)('%j', (args, expected) => {
    expect(parseToolInput(args)).toEqual(expected)
  })
})

test('wantsThinking', () => {
  expect([{ type: 'enabled', budget_tokens: 1024 }, { type: 'adaptive' }, { type: 'disabled' }, undefined, 'yes'].map((thinking) => wantsThinking({ thinking })))
    .toEqual([true, true, false, false, false])
})
