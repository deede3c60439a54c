import { describe, expect, test } from 'bun:test'
import { GatewayError } from '../../../src/errors.ts'
import { toAnthropicRequest } from '../../../src/providers/anthropic/request.ts'
import type { ChatRequest } from '../../../src/wire/openai.ts'

const req = (extra: Partial<ChatRequest>): ChatRequest => ({ model: 'claude-client', messages: [{ role: 'user', content: 'hi' }], ...extra })
const base = { model: 'claude-upstream', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4096 }

// [name, OpenAI request fields, expected Anthropic request]
const table: Array<[string, Partial<ChatRequest>, Record<string, unknown>]> = [
  ['plain user message', {}, base],
  ['max_completion_tokens wins over max_tokens', { max_completion_tokens: 10, max_tokens: 20 }, { ...base, max_tokens: 10 }],
  ['max_tokens used when alone', { max_tokens: 20 }, { ...base, max_tokens: 20 }],
  ['system and developer messages → top-level system', {
    messages: [{ role: 'system', content: 'Be brief.' }, { role: 'developer', content: [{ type: 'text', text: 'Use French.' }] }, { role: 'user', content: 'hi' }],
  }, { ...base, system: 'Be brief.\n\nUse French.' }],
  ['stop string → stop_sequences', { stop: 'END' }, { ...base, stop_sequences: ['END'] }],
  ['stop list → stop_sequences', { stop: ['a', 'b'] }, { ...base, stop_sequences: ['a', 'b'] }],
  ['temperature and top_p', { temperature: 0.2, top_p: 0.9 }, { ...base, temperature: 0.2, top_p: 0.9 }],
  ['stream', { stream: true }, { ...base, stream: true }],
  ['user → metadata.user_id', { user: 'u-1' }, { ...base, metadata: { user_id: 'u-1' } }],
  ['unknown OpenAI-only fields are not sent', { frequency_penalty: 1, seed: 3, response_format: { type: 'text' } }, base],
  ['user text and image parts', {
    messages: [{ role: 'user', content: [
      { type: 'text', text: 'What is this?' },
      { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
      { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
    ] }],
  }, { ...base, messages: [{ role: 'user', content: [
    { type: 'text', text: 'What is this?' },
    { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } },
    { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
  ] }] }],
  ['assistant tool_calls → tool_use; consecutive tool results merged into one user message', {
    messages: [
      { role: 'user', content: 'weather in Paris and Tokyo?' },
      { role: 'assistant', content: null, tool_calls: [
        { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '' } },
      ] },
      { role: 'tool', tool_call_id: 'call_1', content: '18C' },
      { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: '25C' }] },
      { role: 'user', content: 'thanks' },
    ],
  }, { ...base, messages: [
    { role: 'user', content: 'weather in Paris and Tokyo?' },
    { role: 'assistant', content: [
      { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: 'call_2', name: 'get_weather', input: {} },
    ] },
    { role: 'user', content: [
      { type: 'tool_result', tool_use_id: 'call_1', content: '18C' },
      { type: 'tool_result', tool_use_id: 'call_2', content: '25C' },
    ] },
    { role: 'user', content: 'thanks' },
  ] }],
  ['assistant text with tool call keeps the text block first', {
    messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: 'Let me check.', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }] }],
  }, { ...base, messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: [
    { type: 'text', text: 'Let me check.' }, { type: 'tool_use', id: 'c', name: 'f', input: {} },
  ] }] }],
  ['tools → name/description/input_schema', {
    tools: [
      { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
      { type: 'function', function: { name: 'noargs' } },
    ],
  }, { ...base, tools: [
    { name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } },
    { name: 'noargs', input_schema: { type: 'object', properties: {} } },
  ] }],
  ['the web search server tool passes through as written (the budget prices its max_uses)', {
    tools: [
      { type: 'web_search_20250305', name: 'web_search', max_uses: 3, allowed_domains: ['example.com'] } as never,
      { type: 'function', function: { name: 'f' } },
    ],
  }, { ...base, tools: [
    { type: 'web_search_20250305', name: 'web_search', max_uses: 3, allowed_domains: ['example.com'] },
    { name: 'f', input_schema: { type: 'object', properties: {} } },
  ] }],
  ['tool_choice auto', { tool_choice: 'auto' }, { ...base, tool_choice: { type: 'auto' } }],
  ['tool_choice none', { tool_choice: 'none' }, { ...base, tool_choice: { type: 'none' } }],
  ['tool_choice required → any', { tool_choice: 'required' }, { ...base, tool_choice: { type: 'any' } }],
  ['tool_choice function → tool', { tool_choice: { type: 'function', function: { name: 'f' } } }, { ...base, tool_choice: { type: 'tool', name: 'f' } }],
  ['parallel_tool_calls false → disable_parallel_tool_use', { tool_choice: 'required', parallel_tool_calls: false }, {
    ...base, tool_choice: { type: 'any', disable_parallel_tool_use: true },
  }],
]

describe('toAnthropicRequest', () => {
  test.each(table)('%s', (_name, fields, expected) => {
    expect(toAnthropicRequest(req(fields), 'claude-upstream', 4096)).toEqual(expected as never)
  })

  const invalid: Array<[string, Partial<ChatRequest>]> = [
    ['audio part', { messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }],
    ['non-JSON tool arguments', { messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{oops' } }] }] }],
    ['tool message without tool_call_id', { messages: [{ role: 'tool', content: 'x' }] }],
    ['non-base64 data URL', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png,abc' } }] }] }],
    ['unknown tool_choice', { tool_choice: 'sometimes' }],
  ]
  test.each(invalid)('rejects %s as invalid_request_error', (_name, fields) => {
    let thrown: unknown
    try {
      toAnthropicRequest(req(fields), 'm', 1)
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(GatewayError)
    expect((thrown as GatewayError).status).toBe(400)
    expect((thrown as GatewayError).code).toBe('invalid_request_error')
  })
})

/**
 * Regression (issue 9 item 10): malformed tool shapes bound for Anthropic were TypeErrors (500). Each must be
 * the client's 400 naming the offending field. Casts: these are exactly the shapes the type system forbids.
 */
describe('toAnthropicRequest: malformed tool shapes are 400 with param', () => {
  const call = (c: unknown): Partial<ChatRequest> => ({ messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: null, tool_calls: [c] as never }] })
  const fn = { name: 'f', arguments: '{}' }
  const cases: Array<[string, Partial<ChatRequest>, string]> = [
    ['tools: [{}]', { tools: [{}] as never }, 'tools[0].type'],
    ['tools: [null]', { tools: [null] as never }, 'tools[0]'],
    ['tools: [1]', { tools: [1] as never }, 'tools[0]'],
    ['tools: ["f"]', { tools: ['f'] as never }, 'tools[0]'],
    ['tools: [[]]', { tools: [[]] as never }, 'tools[0]'],
    ['tools: {} (not an array)', { tools: {} as never }, 'tools'],
    ['tool without function', { tools: [{ type: 'function' }] as never }, 'tools[0].function'],
    ['tool with function: null', { tools: [{ type: 'function', function: null }] as never }, 'tools[0].function'],
    ['tool with function: {}', { tools: [{ type: 'function', function: {} }] as never }, 'tools[0].function.name'],
    ['tool with numeric name', { tools: [{ type: 'function', function: { name: 5 } }] as never }, 'tools[0].function.name'],
    ['tool with empty name', { tools: [{ type: 'function', function: { name: '' } }] as never }, 'tools[0].function.name'],
    ['tool with numeric description', { tools: [{ type: 'function', function: { name: 'f', description: 5 } }] as never }, 'tools[0].function.description'],
    ['tool with string parameters', { tools: [{ type: 'function', function: { name: 'f', parameters: 'x' } }] as never }, 'tools[0].function.parameters'],
    ['custom tool type', { tools: [{ type: 'custom', custom: { name: 'f' } }] as never }, 'tools[0].type'],
    ['second tool malformed', { tools: [{ type: 'function', function: { name: 'ok' } }, null] as never }, 'tools[1]'],
    ['tool_calls: [{}]', call({}), 'messages[1].tool_calls[0].id'],
    ['tool_calls: [null]', call(null), 'messages[1].tool_calls[0]'],
    ['tool_calls: ["x"]', call('x'), 'messages[1].tool_calls[0]'],
    ['tool_calls: {} (not an array)', { messages: [{ role: 'assistant', content: null, tool_calls: {} as never }] }, 'messages[0].tool_calls'],
    ['tool_calls: "x" (not an array)', { messages: [{ role: 'assistant', content: null, tool_calls: 'x' as never }] }, 'messages[0].tool_calls'],
    ['tool call without id', call({ type: 'function', function: fn }), 'messages[1].tool_calls[0].id'],
    ['tool call with numeric id', call({ id: 7, type: 'function', function: fn }), 'messages[1].tool_calls[0].id'],
    ['tool call without function', call({ id: 'c', type: 'function' }), 'messages[1].tool_calls[0].function'],
    ['tool call with function: null', call({ id: 'c', type: 'function', function: null }), 'messages[1].tool_calls[0].function'],
    ['tool call without name', call({ id: 'c', type: 'function', function: { arguments: '{}' } }), 'messages[1].tool_calls[0].function.name'],
    ['tool call without arguments', call({ id: 'c', type: 'function', function: { name: 'f' } }), 'messages[1].tool_calls[0].function.arguments'],
    ['tool call with object arguments', call({ id: 'c', type: 'function', function: { name: 'f', arguments: {} } }), 'messages[1].tool_calls[0].function.arguments'],
    ['tool call with invalid JSON arguments', call({ id: 'c', type: 'function', function: { name: 'f', arguments: '{x' } }), 'messages[1].tool_calls[0].function.arguments'],
    ['custom tool call type', call({ id: 'c', type: 'custom', custom: { name: 'f', input: '' } }), 'messages[1].tool_calls[0].type'],
    ['stop: [1]', { stop: [1] as never }, 'stop'],
    ['stop: {}', { stop: {} as never }, 'stop'],
  ]
  test.each(cases)('%s → 400', (_name, fields, param) => {
    let thrown: unknown
    try {
      toAnthropicRequest(req(fields), 'm', 1)
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(GatewayError)
    expect({ status: (thrown as GatewayError).status, code: (thrown as GatewayError).code, param: (thrown as GatewayError).param })
      .toEqual({ status: 400, code: 'invalid_request_error', param })
  })

  test('tool call type may be omitted (older clients); description null is dropped', () => {
    const out = toAnthropicRequest(req({
      messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: null, tool_calls: [{ id: 'c', function: { name: 'f', arguments: '{"a":1}' } }] as never }],
      tools: [{ type: 'function', function: { name: 'f', description: null } }] as never,
    }), 'm', 1)
    expect(out.messages[1]).toEqual({ role: 'assistant', content: [{ type: 'tool_use', id: 'c', name: 'f', input: { a: 1 } }] })
    expect(out.tools).toEqual([{ name: 'f', input_schema: { type: 'object', properties: {} } }])
  })
})
