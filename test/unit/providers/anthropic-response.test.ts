import { describe, expect, test } from 'bun:test'
import { fromAnthropicResponse, mapStopReason } from '../../../src/providers/anthropic/response.ts'
import { type AnthropicResponse } from '../../../src/providers/anthropic/wire.ts'
import { toOpenAIUsage } from '../../../src/messages/usage.ts'
import { BILLING } from '../../../src/wire/openai.ts'
import fixture from '../../fixtures/anthropic-message-tool-use.json'

describe('mapStopReason', () => {
  test.each([
    ['end_turn', 'stop'], ['stop_sequence', 'stop'], ['max_tokens', 'length'], ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'], ['pause_turn', 'stop'], ['unknown_future', 'stop'], ['toString', 'stop'], [null, null],
  ] as const)('%s → %s', (reason, expected) => {
    expect(mapStopReason(reason)).toBe(expected)
  })
})

describe('fromAnthropicResponse', () => {
  test('recorded tool-use message: thinking dropped, text kept, tool_use → tool_calls, cache tokens counted', () => {
    const out = fromAnthropicResponse(fixture as AnthropicResponse, 'claude-client-name', 1_700_000_000_999)
    expect(out).toEqual({
      id: 'chatcmpl-msg_01XFDUDYJgAACzvnptvVoYEL',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'claude-client-name',
      choices: [{
        index: 0,
        message: {
          role: 'assistant',
          content: "I'll look that up.",
          refusal: null,
          tool_calls: [{
            id: 'toolu_01A09q90qw90lq917835lq9', type: 'function',
            function: { name: 'get_weather', arguments: '{"location":"San Francisco, CA","unit":"celsius"}' },
          }],
        },
        finish_reason: 'tool_calls',
        logprobs: null,
      }],
      usage: { prompt_tokens: 2110, completion_tokens: 503, total_tokens: 2613, prompt_tokens_details: { cached_tokens: 5 },
        [BILLING]: { cacheWriteTokens: 10, cacheWrite1hTokens: 0, webSearchRequests: 0 } },
    })
  })

  test('several text blocks are joined; no text at all gives null content', () => {
    const base = { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', stop_reason: 'end_turn', usage: { input_tokens: 1, output_tokens: 2 } } as const
    expect(fromAnthropicResponse({ ...base, content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }, 'x').choices[0].message.content).toBe('ab')
    const onlyTool = fromAnthropicResponse({ ...base, content: [{ type: 'tool_use', id: 't', name: 'f', input: {} }] }, 'x')
    expect(onlyTool.choices[0].message.content).toBeNull()
    expect(onlyTool.choices[0].message.tool_calls?.[0].function.arguments).toBe('{}')
  })
})

describe('fromAnthropicResponse: message.refusal (issue 9 item 13)', () => {
  const base = { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', usage: { input_tokens: 1, output_tokens: 2 } } as const
  test.each([
    ['end_turn with text', 'end_turn', [{ type: 'text', text: 'ok' }], undefined, null],
    ['tool_use', 'tool_use', [{ type: 'tool_use', id: 't', name: 'f', input: {} }], undefined, null],
    ['refusal with text: the text', 'refusal', [{ type: 'text', text: 'I cannot help with that.' }], undefined, 'I cannot help with that.'],
    ['refusal without text: the explanation', 'refusal', [], { type: 'refusal', category: null, explanation: 'Policy.' }, 'Policy.'],
    ['refusal with nothing: a plain sentence', 'refusal', [], null, 'The model declined to respond.'],
  ] as const)('%s', (_name, stop_reason, content, stop_details, refusal) => {
    const msg = { ...base, stop_reason, content, stop_details } as unknown as AnthropicResponse
    const out = fromAnthropicResponse(msg, 'x').choices[0]
    expect(out.message).toHaveProperty('refusal', refusal)
    if (stop_reason === 'refusal') expect(out.finish_reason).toBe('content_filter')
  })
})

describe('Anthropic usage → OpenAI usage + billing breakdown', () => {
  // https://docs.anthropic.com/en/api/messages#response-usage: input_tokens excludes cache reads and writes.
  test.each([
    ['plain', { input_tokens: 10, output_tokens: 5 },
      { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, prompt_tokens_details: { cached_tokens: 0 } },
      { cacheWriteTokens: 0, cacheWrite1hTokens: 0, webSearchRequests: 0 }],
    ['cache writes by TTL and reads: prompt_tokens sums all input, reads are cached_tokens',
      { input_tokens: 10, cache_creation_input_tokens: 300, cache_read_input_tokens: 1000, output_tokens: 5, cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 200 }, service_tier: 'standard' },
      { prompt_tokens: 1310, completion_tokens: 5, total_tokens: 1315, prompt_tokens_details: { cached_tokens: 1000 } },
      { cacheWriteTokens: 300, cacheWrite1hTokens: 200, webSearchRequests: 0, serviceTier: 'default' }],
    ['a TTL breakdown above the total: the larger is billed',
      { input_tokens: 0, cache_creation_input_tokens: 10, output_tokens: 0, cache_creation: { ephemeral_5m_input_tokens: 10, ephemeral_1h_input_tokens: 20 } },
      { prompt_tokens: 10, completion_tokens: 0, total_tokens: 10, prompt_tokens_details: { cached_tokens: 0 } },
      { cacheWriteTokens: 30, cacheWrite1hTokens: 20, webSearchRequests: 0 }],
    ['server tool use: web searches reported', { input_tokens: 7, output_tokens: 1, server_tool_use: { web_search_requests: 3 }, service_tier: 'priority' },
      { prompt_tokens: 7, completion_tokens: 1, total_tokens: 8, prompt_tokens_details: { cached_tokens: 0 } },
      { cacheWriteTokens: 0, cacheWrite1hTokens: 0, webSearchRequests: 3, serviceTier: 'priority' }],
  ] as const)('%s', (_name, u, openai, billing) => {
    const usage = toOpenAIUsage(u)
    expect(JSON.parse(JSON.stringify(usage))).toEqual(openai)
    expect(usage[BILLING]).toEqual(billing)
  })
})
