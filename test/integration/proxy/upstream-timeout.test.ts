/**
 * The provider's timeout_ms, timed by the routes (upstreamFetch sets no timer of its own): it bounds the wait
 * for a reply's headers on every route that calls a provider, count_tokens included, and never cuts a stream
 * that has begun, however long it lasts.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { buildTestGateway, openaiAndAnthropicConfig, type TestGateway } from '../../helpers/app.ts'
import { openaiTextStream, sseReply, startFakeUpstream, type FakeUpstream } from '../../helpers/fake-upstream.ts'

const TIMEOUT_MS = 300
let up: FakeUpstream
let gw: TestGateway
let key: string

beforeAll(async () => {
  up = await startFakeUpstream()
  gw = await buildTestGateway({
    config: openaiAndAnthropicConfig(up.url, `timeout_ms = ${TIMEOUT_MS}`),
  })
  key = await gw.addTenant({ id: 'to', budgetUsdMicros: 1_000_000 })
  await gw.warm()
})

afterAll(async () => {
  await up.stop()
})

const chat = (stream: boolean) => ({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream })
const spent = async () => (await gw.ledger.snapshot('to', 'total')).spentMicros

test('a stream whose headers never come ends in a plain 504 upstream_timeout after timeout_ms, released', async () => {
  const before = await spent()
  up.program({ kind: 'hang' })
  const t0 = performance.now()
  const res = await gw.request('/v1/chat/completions', { key, body: chat(true) })
  const ms = performance.now() - t0
  expect(res.status).toBe(504)
  const body = (await res.json()) as { error: { code: string; message: string } }
  expect(body.error.code).toBe('upstream_timeout')
  expect(body.error.message).toBe(`upstream oai did not respond within ${TIMEOUT_MS} ms`)
  expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 10)
  expect(ms).toBeLessThan(3_000)
  // No headers, so nothing was generated: released, not charged (docs/budgets.md).
  expect(await gw.ledger.snapshot('to', 'total')).toEqual({ reservedMicros: 0, spentMicros: before })
})

test('a stream refused with an error body that stalls ends in 504 after timeout_ms, released', async () => {
  const before = await spent()
  up.program({ kind: 'sse', status: 500, chunks: ['{"error":'], after: 'hang', headers: { 'content-type': 'application/json' } })
  const t0 = performance.now()
  const res = await gw.request('/v1/chat/completions', { key, body: chat(true) })
  expect(res.status).toBe(504)
  expect(((await res.json()) as { error: { code: string } }).error.code).toBe('upstream_timeout')
  expect(performance.now() - t0).toBeLessThan(3_000)
  expect(await gw.ledger.snapshot('to', 'total')).toEqual({ reservedMicros: 0, spentMicros: before })
})

test('a stream that lasts longer than timeout_ms in total is read to its end', async () => {
  const events = openaiTextStream({ parts: ['a', 'b', 'c', 'd'] }).split('\n\n').filter(Boolean).map((e) => `${e}\n\n`)
  up.program({ kind: 'sse', chunks: events, chunkDelayMs: 120 }) // ≥ 4 × 120 ms > 300 ms
  const t0 = performance.now()
  const res = await gw.request('/v1/chat/completions', { key, body: chat(true) })
  const text = await res.text()
  expect(performance.now() - t0).toBeGreaterThan(TIMEOUT_MS)
  expect(res.status).toBe(200)
  expect(text).not.toContain('upstream_timeout')
  expect(text).toContain('data: [DONE]')
})

test('regression: count_tokens to a provider that never answers is a 504 upstream_timeout, not a 500', async () => {
  // It timed itself with AbortSignal.timeout, whose TimeoutError reached the client as internal_error.
  up.program({ kind: 'hang' })
  const res = await gw.request('/v1/messages/count_tokens', { key, body: { model: 'claude-test', messages: [{ role: 'user', content: 'hi' }] } })
  expect(res.status).toBe(504)
  const body = (await res.json()) as { type: string; error: { type: string; message: string } }
  expect(body.type).toBe('error')
  expect(body.error.type).toBe('timeout_error')
  expect(body.error.message).toBe(`upstream ant did not respond within ${TIMEOUT_MS} ms`)
})

test('count_tokens whose answer stalls after its headers is a 504 within timeout_ms', async () => {
  up.program({ kind: 'sse', chunks: ['{"input_tokens":'], after: 'hang', headers: { 'content-type': 'application/json' } })
  const t0 = performance.now()
  const res = await gw.request('/v1/messages/count_tokens', { key, body: { model: 'claude-test', messages: [{ role: 'user', content: 'hi' }] } })
  expect(res.status).toBe(504)
  expect(((await res.json()) as { error: { type: string } }).error.type).toBe('timeout_error')
  expect(performance.now() - t0).toBeLessThan(3_000)
})

test('count_tokens within timeout_ms is answered', async () => {
  up.program({ kind: 'json', body: { input_tokens: 7 } })
  const res = await gw.request('/v1/messages/count_tokens', { key, body: { model: 'claude-test', messages: [{ role: 'user', content: 'hi' }] } })
  expect(res.status).toBe(200)
  expect(await res.json()).toEqual({ input_tokens: 7 })
})

test('a non-streamed Anthropic message body that stalls after its headers ends in 504 within timeout_ms', async () => {
  const before = await spent()
  up.program(sseReply('{"id":"msg_1","type":"message","content":[', { after: 'hang', headers: { 'content-type': 'application/json' } }))
  const t0 = performance.now()
  const res = await gw.request('/v1/messages', { key, body: { model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] } })
  expect(res.status).toBe(504)
  expect(performance.now() - t0).toBeLessThan(3_000)
  // Cut after the headers of a non-streamed reply: the whole generation may have been billed, so the worst case.
  const snap = await gw.ledger.snapshot('to', 'total')
  expect(snap.reservedMicros).toBe(0)
  expect(snap.spentMicros).toBeGreaterThan(before)
})
