/**
 * Streams that do not end the way a complete answer ends must not reach the client as a complete answer
 * (`[DONE]`), and the audit used across these tests must itself catch malformed output.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { openaiCompletion, openaiTextStream } from '../../helpers/fake-upstream.ts'
import { auditSse, MODELS, type ProxyEnv, startProxyEnv } from './harness.ts'

let env: ProxyEnv

beforeAll(async () => {
  env = await startProxyEnv()
})

afterAll(async () => {
  await env.stop()
})

async function streamThrough(model: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${env.http.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env.key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }], stream: true }),
  })
  const text = await res.text()
  return { res, text, audit: auditSse(text, res.headers.get('x-request-id')) }
}

describe('upstream streams that end early', () => {
  test('a complete OpenAI stream without [DONE] (finish_reason and usage seen) still ends with [DONE]', async () => {
    env.up.program({ kind: 'sse', chunks: [openaiTextStream({ model: MODELS.openai.upstream, parts: ['all', ' here'], done: false })] })
    const { audit } = await streamThrough(MODELS.openai.client)
    expect(audit.problems).toEqual([])
    expect(audit.outcome).toBe('done')
  })

  test('the client x-request-id is echoed and repeated in a mid-stream error event', async () => {
    const head = openaiTextStream({ parts: ['a'], done: false }).split('\n\n').slice(0, 2).join('\n\n')
    env.up.program({ kind: 'sse', chunks: [`${head}\n\ndata: {"error":{"message":"boom","type":"server_error"}}\n\n`] })
    const { res, audit } = await streamThrough(MODELS.openai.client, { 'x-request-id': 'client-req-42' })
    expect(res.headers.get('x-request-id')).toBe('client-req-42')
    expect(audit.problems).toEqual([])
    expect(audit.error?.request_id).toBe('client-req-42')
  })

  // Regression target: src/providers/openai/adapter.ts openAIChunks() returns normally on a clean EOF, so the
  // route emits [DONE] for a stream cut off mid-answer (no finish_reason). The Anthropic adapter already treats
  // the same situation as upstream_error ("stream ended before message_stop").
  test('BUG: OpenAI stream cut off (clean EOF, no finish_reason, no [DONE]) must end with an error event, not [DONE]', async () => {
    const cut = openaiTextStream({ model: MODELS.openai.upstream, parts: ['Partial', ' ans'], done: false }).split('\n\n').slice(0, 3).join('\n\n')
    env.up.program({ kind: 'sse', chunks: [`${cut}\n\n`] })
    const { res, audit } = await streamThrough(MODELS.openai.client)
    expect(res.status).toBe(200)
    expect(audit.chunks.map((c) => (c.choices as Array<{ delta: { content?: string } }>)[0]?.delta.content ?? '').join('')).toBe('Partial ans')
    expect(audit.outcome).toBe('error')
    expect(audit.error?.code).toBe('upstream_error')
  })

  // Regression target: src/providers/openai/adapter.ts stream() never checks the upstream content-type, so a
  // 200 JSON/HTML body (a proxy error page, a server that ignores `stream`) parses as zero SSE events and the
  // client receives a successful, empty stream: `data: [DONE]` alone — and is charged the prompt estimate.
  test.each([
    ['JSON completion', { kind: 'json' as const, body: openaiCompletion({ text: 'not streamed' }) }],
    ['HTML page', { kind: 'text' as const, status: 200, body: '<html>proxy says hi</html>', contentType: 'text/html' }],
  ])('BUG: stream request answered 200 with a non-SSE body (%s) must fail, not end with an empty [DONE]', async (_n, reply) => {
    env.up.program(reply)
    const { res, audit } = await streamThrough(MODELS.openai.client)
    const failed = res.status === 502 || (res.status === 200 && audit.outcome === 'error')
    expect({ status: res.status, outcome: audit.outcome, failed }).toMatchObject({ failed: true })
  })
})

describe('the SSE audit itself rejects malformed output', () => {
  const chunk = '{"object":"chat.completion.chunk","choices":[]}'
  const err = '{"error":{"message":"m","type":"t","code":"c","param":null,"request_id":"r"}}'
  test.each([
    ['bare CR inside a frame', `data: ${chunk}\r\n\r\ndata: [DONE]\n\n`, /CR byte/],
    ['multi-line data', `data: ${chunk}\ndata: ${chunk}\n\ndata: [DONE]\n\n`, /spans lines/],
    ['non-JSON data', 'data: hello\n\ndata: [DONE]\n\n', /not JSON/],
    ['no terminator', `data: ${chunk}\n\n`, /neither \[DONE\] nor an error/],
    ['[DONE] after an error', `data: ${err}\n\ndata: [DONE]\n\n`, /error event at 0 is not the last/],
    ['named event', `event: error\ndata: ${err}\n\n`, /event name/],
    ['events after [DONE]', `data: [DONE]\n\ndata: ${chunk}\n\n`, /not the last event/],
    ['unterminated last event', `data: ${chunk}\n\ndata: [DONE]`, /unterminated/],
    ['error without request_id', 'data: {"error":{"message":"m","type":"t","code":"c","param":null}}\n\n', /request_id/],
  ])('%s', (_n, raw, problem) => {
    expect(auditSse(raw).problems.join('\n')).toMatch(problem)
  })

  test('a good stream has no problems', () => {
    expect(auditSse(`data: ${chunk}\n\ndata: [DONE]\n\n`).problems).toEqual([])
    expect(auditSse(`data: ${chunk}\n\ndata: ${err}\n\n`, 'r').problems).toEqual([])
    expect(auditSse(`data: ${err}\n\n`, 'other').problems.join()).toMatch(/≠ x-request-id/)
  })
})
