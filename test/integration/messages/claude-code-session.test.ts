/**
 * A replayed Claude Code-style turn through an Anthropic upstream: system prompt blocks with cache_control,
 * tools (the last one cache-marked), extended thinking, a multi-turn history with thinking signatures,
 * tool_use and tool_result blocks, streamed. What the provider receives is the client's body but the model;
 * what the client receives is the provider's bytes but the model, whatever the read boundaries.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { sseReply } from '../../helpers/fake-upstream.ts'
import { MODELS, type ProxyEnv, startProxyEnv } from '../proxy/harness.ts'

const FIXTURES = new URL('../../fixtures/', import.meta.url)
let env: ProxyEnv

beforeAll(async () => {
  env = await startProxyEnv({ audit: false, tenant: { budgetUsdMicros: 100_000_000 } })
})

afterAll(() => env.stop())

const tools = [
  { name: 'Bash', description: 'Run a shell command', input_schema: { type: 'object', properties: { command: { type: 'string' }, timeout: { type: 'number' } }, required: ['command'] } },
  { name: 'Read', description: 'Read a file', input_schema: { type: 'object', properties: { file_path: { type: 'string' } }, required: ['file_path'] } },
  { name: 'Edit', description: 'Edit a file', input_schema: { type: 'object', properties: { file_path: { type: 'string' }, old_string: { type: 'string' }, new_string: { type: 'string' } } }, cache_control: { type: 'ephemeral' } },
]

function sessionBody(model: string) {
  return {
    model,
    max_tokens: 1_000, // the harness model's cap
    stream: true,
    thinking: { type: 'enabled', budget_tokens: 800 },
    metadata: { user_id: 'user_abc_account_def_session_123' },
    system: [
      { type: 'text', text: 'You are Claude Code, an interactive CLI tool.', cache_control: { type: 'ephemeral' } },
      { type: 'text', text: 'Working directory: /repo\nIs git repo: yes', cache_control: { type: 'ephemeral', ttl: '1h' } },
    ],
    tools,
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'What does 27 * 453 equal? Check with bash.' }] },
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'I should compute it with a shell.', signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrk' },
          { type: 'text', text: 'Let me check.' },
          { type: 'tool_use', id: 'toolu_01A', name: 'Bash', input: { command: 'echo $((27*453))' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_01A', content: [{ type: 'text', text: '12231' }] },
          { type: 'text', text: 'Explain it.', cache_control: { type: 'ephemeral' } },
        ],
      },
    ],
  }
}

test('request passed through but the model; response bytes passed through but the model, at any read size', async () => {
  const fixture = readFileSync(new URL('anthropic-thinking-text.sse', FIXTURES), 'utf8')
  const expected = fixture.replace(/\r\n|\r/g, '\n').replace(/"model":"[^"]*"/, `"model":"${MODELS.anthropic.client}"`)
  for (const chunkSize of [1, 3, 17, 256, 100_000]) {
    const index = env.up.requests.length
    env.up.program(sseReply(fixture, { chunkSize }))
    const res = await fetch(`${env.http.url}/v1/messages`, {
      method: 'POST',
      headers: {
        'x-api-key': env.key, 'anthropic-version': '2023-06-01', 'anthropic-beta': 'interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14',
        'content-type': 'application/json',
      },
      body: JSON.stringify(sessionBody(MODELS.anthropic.client)),
    })
    if (res.status !== 200) throw new Error(await res.text())
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    expect(await res.text()).toBe(expected)
    const seen = env.up.requests[index]!
    expect(seen.body).toEqual(sessionBody(MODELS.anthropic.upstream))
    expect(seen.headers['anthropic-beta']).toBe('interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14')
  }
})
