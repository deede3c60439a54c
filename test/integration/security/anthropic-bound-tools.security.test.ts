/**
 * Regression (issue 9 item 10): chat requests routed to an Anthropic upstream with malformed tool shapes
 * (`tools:[{}]`, `tools:[null]`, `tool_calls:[{}]`, ...) were answered 500 (a TypeError in the translation).
 * Each must be a 400 invalid_request_error naming the field, sent before any upstream request, and the
 * reservation must be released (nothing spent).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { buildTestGateway, testConfig, type TestGateway } from '../../helpers/app.ts'
import { type FakeUpstream, startFakeUpstream } from '../../helpers/fake-upstream.ts'

let g: TestGateway
let up: FakeUpstream
let key: string

beforeAll(async () => {
  up = await startFakeUpstream()
  g = await buildTestGateway({
    config: testConfig(`
[providers.ant]
kind = "anthropic"
base_url = "${up.url}"
api_key_env = "ANT_KEY"

[models."claude-test"]
provider = "ant"
upstream_model = "claude-upstream"
input_usd_per_mtok = 3
output_usd_per_mtok = 15
max_output_tokens = 1000
`, [], { ANT_KEY: 'sk-ant-test' }),
  })
  key = await g.addTenant({ id: 'tools', budgetUsdMicros: 1_000_000 })
  await g.warm()
})

afterAll(async () => {
  await up.stop()
})

const user = { role: 'user', content: 'hi' }
const withCall = (call: unknown) => ({ messages: [user, { role: 'assistant', content: null, tool_calls: [call] }, user] })

const cases: Array<[string, Record<string, unknown>, string]> = [
  ['tools: [{}]', { messages: [user], tools: [{}] }, 'tools[0].type'],
  ['tools: [null]', { messages: [user], tools: [null] }, 'tools[0]'],
  ['tools: [{type:"function"}]', { messages: [user], tools: [{ type: 'function' }] }, 'tools[0].function'],
  ['tools: [{type:"function",function:{}}]', { messages: [user], tools: [{ type: 'function', function: {} }] }, 'tools[0].function.name'],
  ['tool_calls: [{}]', withCall({}), 'messages[1].tool_calls[0].id'],
  ['tool_calls: [null]', withCall(null), 'messages[1].tool_calls[0]'],
  ['tool_calls without function', withCall({ id: 'c', type: 'function' }), 'messages[1].tool_calls[0].function'],
  ['tool_calls without arguments', withCall({ id: 'c', type: 'function', function: { name: 'f' } }), 'messages[1].tool_calls[0].function.arguments'],
  ['tool_calls not an array', { messages: [user, { role: 'assistant', content: null, tool_calls: {} }] }, 'messages[1].tool_calls'],
]

describe('Anthropic-bound malformed tool shapes → 400 with param, never 500', () => {
  for (const stream of [false, true]) {
    test.each(cases)(`%s (stream: ${stream})`, async (_name, fields, param) => {
      const before = up.requests.length
      const res = await g.request('/v1/chat/completions', { key, body: { model: 'claude-test', stream, ...fields } })
      expect(res.status).toBe(400)
      const body = (await res.json()) as { error: { code: string; param: string | null } }
      expect({ code: body.error.code, param: body.error.param }).toEqual({ code: 'invalid_request_error', param })
      expect(up.requests.length).toBe(before)
    })
  }

  test('after all of them: nothing spent, nothing left reserved', async () => {
    expect(await g.ledger.snapshot('tools', 'total')).toEqual({ spentMicros: 0, reservedMicros: 0 })
  })
})
