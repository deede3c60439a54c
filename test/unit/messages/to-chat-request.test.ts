import { describe, expect, test } from 'bun:test'
import { GatewayError } from '../../../src/errors.ts'
import { validateChatRequest } from '../../../src/http/validate.ts'
import { chatCompletionToMessage } from '../../../src/messages/from-chat-response.ts'
import { messagesToChatRequest } from '../../../src/messages/to-chat-request.ts'

const hi = { role: 'user', content: 'hi' }
const body = (extra: Record<string, unknown>) => ({ model: 'claude-client', max_tokens: 100, messages: [hi], ...extra })
const base = { model: 'gpt-up', messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 100 }
const png = { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' }

// [name, Anthropic request fields, expected OpenAI chat request]
const table: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
  ['plain user message; max_tokens → max_completion_tokens', {}, base],
  ['system string → first system message', { system: 'Be brief.' }, { ...base, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }] }],
  ['system text blocks joined by a blank line; cache_control dropped', {
    system: [{ type: 'text', text: 'You are Claude Code.' }, { type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral', ttl: '1h', scope: 'x' } }],
  }, { ...base, messages: [{ role: 'system', content: 'You are Claude Code.\n\nBe brief.' }, { role: 'user', content: 'hi' }] }],
  ['empty system (string or no blocks) sends no system message', { system: [] }, base],
  ['empty system string', { system: '' }, base],
  ['system message inside messages keeps its place', {
    messages: [hi, { role: 'system', content: 'Now answer in French.' }, { role: 'user', content: 'ok' }],
  }, { ...base, messages: [{ role: 'user', content: 'hi' }, { role: 'system', content: 'Now answer in French.' }, { role: 'user', content: 'ok' }] }],
  ['one text block → plain string content (cache_control, citations dropped)', {
    messages: [{ role: 'user', content: [{ type: 'text', text: 'hello', cache_control: { type: 'ephemeral' }, citations: null }] }],
  }, { ...base, messages: [{ role: 'user', content: 'hello' }] }],
  ['several text blocks → text parts', {
    messages: [{ role: 'user', content: [{ type: 'text', text: '<reminder/>' }, { type: 'text', text: 'hello' }] }],
  }, { ...base, messages: [{ role: 'user', content: [{ type: 'text', text: '<reminder/>' }, { type: 'text', text: 'hello' }] }] }],
  ['images: base64 → data: URL, url → url', {
    messages: [{ role: 'user', content: [
      { type: 'text', text: 'What is this?' },
      { type: 'image', source: png },
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } },
    ] }],
  }, { ...base, messages: [{ role: 'user', content: [
    { type: 'text', text: 'What is this?' },
    { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
    { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
  ] }] }],
  ['plain-text documents → text (title first)', {
    messages: [{ role: 'user', content: [
      { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'The grass is green.' }, title: 'Facts' },
      { type: 'document', source: { type: 'content', content: [{ type: 'text', text: 'Sky: blue.' }] } },
    ] }],
  }, { ...base, messages: [{ role: 'user', content: [{ type: 'text', text: 'Facts\n\nThe grass is green.' }, { type: 'text', text: 'Sky: blue.' }] }] }],
  ['tool round trip: tool_use → tool_calls, tool_result → tool messages in order, then the rest of the turn', {
    messages: [
      { role: 'user', content: 'weather in Paris and Tokyo?' },
      { role: 'assistant', content: [
        { type: 'thinking', thinking: 'Two cities.', signature: 'sig' },
        { type: 'text', text: 'Checking ' }, { type: 'text', text: 'both.' },
        { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
        { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: {} },
      ] },
      { role: 'user', content: [
        { type: 'tool_result', tool_use_id: 'toolu_1', content: '18C', cache_control: { type: 'ephemeral' } },
        { type: 'tool_result', tool_use_id: 'toolu_2', content: [{ type: 'text', text: '09:00' }, { type: 'text', text: 'JST' }] },
        { type: 'text', text: 'thanks' },
      ] },
    ],
  }, { ...base, messages: [
    { role: 'user', content: 'weather in Paris and Tokyo?' },
    { role: 'assistant', content: 'Checking both.', tool_calls: [
      { id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      { id: 'toolu_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
    ] },
    { role: 'tool', tool_call_id: 'toolu_1', content: '18C' },
    { role: 'tool', tool_call_id: 'toolu_2', content: '09:00\nJST' },
    { role: 'user', content: 'thanks' },
  ] }],
  ['assistant turn with only tool_use → content null; is_error and empty results', {
    messages: [
      hi,
      { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'rm', input: { path: '/' } }, { type: 'tool_use', id: 't2', name: 'ls' }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'permission denied', is_error: true }, { type: 'tool_result', tool_use_id: 't2' }] },
    ],
  }, { ...base, messages: [
    { role: 'user', content: 'hi' },
    { role: 'assistant', content: null, tool_calls: [
      { id: 't1', type: 'function', function: { name: 'rm', arguments: '{"path":"/"}' } },
      { id: 't2', type: 'function', function: { name: 'ls', arguments: '{}' } },
    ] },
    { role: 'tool', tool_call_id: 't1', content: 'Error: permission denied' },
    { role: 'tool', tool_call_id: 't2', content: '' },
  ] }],
  ['images inside a tool_result move to the user message that follows', {
    messages: [
      hi,
      { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'screenshot', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: [{ type: 'text', text: 'Here.' }, { type: 'image', source: png }] }] },
    ],
  }, { ...base, messages: [
    { role: 'user', content: 'hi' },
    { role: 'assistant', content: null, tool_calls: [{ id: 't1', type: 'function', function: { name: 'screenshot', arguments: '{}' } }] },
    { role: 'tool', tool_call_id: 't1', content: 'Here.\n[1 image attached in the next user message]' },
    { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] },
  ] }],
  ['assistant turn of thinking only (or empty string) is skipped', {
    messages: [hi, { role: 'assistant', content: [{ type: 'redacted_thinking', data: 'xx' }] }, { role: 'assistant', content: '' }, { role: 'user', content: 'again' }],
  }, { ...base, messages: [{ role: 'user', content: 'hi' }, { role: 'user', content: 'again' }] }],
  ['tools: input_schema → parameters; cache_control, strict dropped; type custom accepted', {
    tools: [
      { name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, cache_control: { type: 'ephemeral' } },
      { type: 'custom', name: 'noargs', input_schema: { type: 'object' }, strict: true },
    ],
  }, { ...base, tools: [
    { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, description: 'Weather' } },
    { type: 'function', function: { name: 'noargs', parameters: { type: 'object' } } },
  ] }],
  ...([
    ['auto', { type: 'auto' }, { tool_choice: 'auto' }],
    ['any → required', { type: 'any' }, { tool_choice: 'required' }],
    ['tool → function', { type: 'tool', name: 'f' }, { tool_choice: { type: 'function', function: { name: 'f' } } }],
    ['none', { type: 'none', disable_parallel_tool_use: true }, { tool_choice: 'none' }],
    ['auto + disable_parallel_tool_use → parallel_tool_calls false', { type: 'auto', disable_parallel_tool_use: true }, { tool_choice: 'auto', parallel_tool_calls: false }],
  ] as const).map(([name, choice, expected]): [string, Record<string, unknown>, Record<string, unknown>] => [
    `tool_choice ${name}`,
    { tools: [{ name: 'f', input_schema: { type: 'object' } }], tool_choice: choice },
    { ...base, tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }], ...expected },
  ]),
  ['tool_choice without tools is not sent (OpenAI rejects it)', { tool_choice: { type: 'any' } }, base],
  ['stop_sequences → stop; empty list dropped', { stop_sequences: ['\n\nHuman:', 'END'] }, { ...base, stop: ['\n\nHuman:', 'END'] }],
  ['empty stop_sequences', { stop_sequences: [] }, base],
  ['temperature, top_p kept; top_k dropped', { temperature: 0.2, top_p: 0.9, top_k: 5 }, { ...base, temperature: 0.2, top_p: 0.9 }],
  ['metadata.user_id → user', { metadata: { user_id: 'u-1' } }, { ...base, user: 'u-1' }],
  ['stream → stream + include_usage', { stream: true }, { ...base, stream: true, stream_options: { include_usage: true } }],
  ['stream false is not sent', { stream: false }, base],
  ['output_config.format → response_format', { output_config: { format: { type: 'json_schema', schema: { type: 'object' } } } }, {
    ...base, response_format: { type: 'json_schema', json_schema: { name: 'output', schema: { type: 'object' } } },
  }],
  ['thinking, service_tier, cache_control, unknown fields dropped', {
    thinking: { type: 'enabled', budget_tokens: 2048 }, service_tier: 'auto', cache_control: { type: 'ephemeral' }, context_management: {}, future_field: 1,
  }, base],
]

describe('messagesToChatRequest', () => {
  test.each(table)('%s', (_name, fields, expected) => {
    expect(messagesToChatRequest(body(fields), 'gpt-up') as unknown).toEqual(expected)
  })

  test('legacyMaxTokens also sends max_tokens (servers that ignore max_completion_tokens)', () => {
    expect(messagesToChatRequest(body({}), 'gpt-up', { legacyMaxTokens: true }) as unknown).toEqual({ ...base, max_tokens: 100 })
  })

  test('the input is not mutated', () => {
    const input = body({ system: [{ type: 'text', text: 'S' }], stream: true, tools: [{ name: 'f', input_schema: { type: 'object' } }] })
    const copy = structuredClone(input)
    messagesToChatRequest(input, 'gpt-up')
    expect(input).toEqual(copy)
  })
})

describe('messagesToChatRequest: what cannot be translated or is malformed is a 400 with param', () => {
  const user = (content: unknown) => ({ messages: [{ role: 'user', content }] })
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['PDF document', user([{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBER' } }]), 'messages[0].content[0].source.type'],
    ['Files API image', user([{ type: 'image', source: { type: 'file', file_id: 'file_1' } }]), 'messages[0].content[0].source.type'],
    ['search_result block', user([{ type: 'search_result', source: 's', title: 't', content: [] }]), 'messages[0].content[0].type'],
    ['server tool (web search)', { tools: [{ type: 'web_search_20250305', name: 'web_search' }] }, 'tools[0].type'],
    ['Anthropic-defined client tool (bash)', { tools: [{ type: 'bash_20250124', name: 'bash' }] }, 'tools[0].type'],
    ['server_tool_use in an assistant turn', { messages: [hi, { role: 'assistant', content: [{ type: 'server_tool_use', id: 's', name: 'web_search', input: {} }] }] }, 'messages[1].content[0].type'],
    ['mcp_servers', { mcp_servers: [{ type: 'url', url: 'https://mcp.example', name: 'x' }] }, 'mcp_servers'],
    ['container', { container: 'cntr_1' }, 'container'],
    ['document in a tool_result', { messages: [hi, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'document', source: {} }] }] }] }, 'messages[1].content[0].content[0].type'],
    ['messages missing', { messages: undefined }, 'messages'],
    ['messages empty', { messages: [] }, 'messages'],
    ['message null', { messages: [null] }, 'messages[0]'],
    ['bad role', { messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].role'],
    ['content number', user(5), 'messages[0].content'],
    ['content block null', user([null]), 'messages[0].content[0]'],
    ['text block without text', user([{ type: 'text' }]), 'messages[0].content[0].text'],
    ['image without source', user([{ type: 'image' }]), 'messages[0].content[0].source'],
    ['base64 image without data', user([{ type: 'image', source: { type: 'base64', media_type: 'image/png' } }]), 'messages[0].content[0].source'],
    ['tool_result without tool_use_id', user([{ type: 'tool_result', content: 'x' }]), 'messages[0].content[0].tool_use_id'],
    ['tool_result content number', user([{ type: 'tool_result', tool_use_id: 't', content: 5 }]), 'messages[0].content[0].content'],
    ['tool_use without id', { messages: [hi, { role: 'assistant', content: [{ type: 'tool_use', name: 'f', input: {} }] }] }, 'messages[1].content[0].id'],
    ['tool_use without name', { messages: [hi, { role: 'assistant', content: [{ type: 'tool_use', id: 't', input: {} }] }] }, 'messages[1].content[0].name'],
    ['tool_use input string', { messages: [hi, { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'f', input: '{}' }] }] }, 'messages[1].content[0].input'],
    ['system number', { system: 5 }, 'system'],
    ['system block not text', { system: [{ type: 'image', source: png }] }, 'system[0]'],
    ['tools not an array', { tools: {} }, 'tools'],
    ['tools: [null]', { tools: [null] }, 'tools[0]'],
    ['tools: [{}]', { tools: [{}] }, 'tools[0].name'],
    ['tool without input_schema', { tools: [{ name: 'f' }] }, 'tools[0].input_schema'],
    ['tool_choice string', { tools: [{ name: 'f', input_schema: {} }], tool_choice: 'auto' }, 'tool_choice'],
    ['tool_choice unknown type', { tools: [{ name: 'f', input_schema: {} }], tool_choice: { type: 'sometimes' } }, 'tool_choice.type'],
    ['tool_choice tool without name', { tools: [{ name: 'f', input_schema: {} }], tool_choice: { type: 'tool' } }, 'tool_choice.name'],
    ['stop_sequences string', { stop_sequences: 'END' }, 'stop_sequences'],
    ['stop_sequences [1]', { stop_sequences: [1] }, 'stop_sequences'],
    ['max_tokens missing', { max_tokens: undefined }, 'max_tokens'],
    ['max_tokens 0', { max_tokens: 0 }, 'max_tokens'],
    ['max_tokens 1.5', { max_tokens: 1.5 }, 'max_tokens'],
    ['temperature string', { temperature: '0.5' }, 'temperature'],
  ]
  test.each(cases)('%s', (_name, fields, param) => {
    let thrown: unknown
    try {
      messagesToChatRequest(body(fields), 'gpt-up')
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(GatewayError)
    const e = thrown as GatewayError
    expect({ status: e.status, code: e.code, param: e.param }).toEqual({ status: 400, code: 'invalid_request_error', param })
  })
})

describe('tool use round trip through both translators', () => {
  test('a tool_use answer sent back with its tool_result becomes tool_calls + tool messages with the same ids, and passes chat validation', () => {
    const answer = chatCompletionToMessage({
      id: 'chatcmpl-rt', object: 'chat.completion', created: 1, model: 'gpt-up',
      choices: [{ index: 0, finish_reason: 'tool_calls', message: { role: 'assistant', content: 'Looking.', tool_calls: [
        { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
        { id: 'call_2', type: 'function', function: { name: 'now', arguments: '{}' } },
      ] } }],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    }, 'claude-client')
    const next = messagesToChatRequest(body({
      messages: [
        hi,
        { role: 'assistant', content: answer.content },
        { role: 'user', content: answer.content.flatMap((b) => (b.type === 'tool_use' ? [{ type: 'tool_result', tool_use_id: b.id, content: `result of ${b.name}` }] : [])) },
      ],
    }), 'gpt-up')
    expect(next.messages.slice(1)).toEqual([
      { role: 'assistant', content: 'Looking.', tool_calls: [
        { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
        { id: 'call_2', type: 'function', function: { name: 'now', arguments: '{}' } },
      ] },
      { role: 'tool', tool_call_id: 'call_1', content: 'result of get_weather' },
      { role: 'tool', tool_call_id: 'call_2', content: 'result of now' },
    ])
    expect(validateChatRequest(next)).toBe(next)
  })
})
