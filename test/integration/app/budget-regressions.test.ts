/** Regressions from review: ways a request could spend without being charged, or be charged wrongly. */
import { expect, test } from 'bun:test'
import { MAX_REQUEST_MS, RESERVATION_TTL_MS } from '../../../src/budget/service.ts'
import { GatewayError } from '../../../src/errors.ts'
import { mockAdapter } from '../../../src/providers/mock/adapter.ts'
import type { ProviderAdapter } from '../../../src/providers/types.ts'
import type { ChatChunk } from '../../../src/wire/openai.ts'
import { buildTestGateway, chat } from '../../helpers/app.ts'

const withAdapter = (a: Partial<ProviderAdapter>) => buildTestGateway({ adapters: { mock: { ...mockAdapter, ...a } } })

test('regression: a huge pass-through field (legacy `functions`) is counted in the strict reservation', async () => {
  const gw = await buildTestGateway()
  // mock-echo: $1/Mtok in, $2/Mtok out. A plain request reserves well under $0.01 with max_tokens 1.
  const key = await gw.addTenant({ id: 's', budgetUsdMicros: 10_000, policy: 'strict' })
  await gw.warm()
  expect((await gw.request('/v1/chat/completions', { key, body: chat('hi', { max_tokens: 1 }) })).status).toBe(200)
  const big = chat('hi', { max_tokens: 1, functions: [{ name: 'f', description: 'x'.repeat(400_000), parameters: {} }] })
  const r = await gw.request('/v1/chat/completions', { key, body: big })
  expect(r.status).toBe(402) // 400k prompt bytes ≥ 400k tokens ≈ $0.40 > the $0.01 left
})

test('regression: file inputs are refused under strict (no bound exists) and allowed under fixed', async () => {
  const gw = await buildTestGateway()
  const strictKey = await gw.addTenant({ id: 'st', budgetUsdMicros: 1_000_000, policy: 'strict' })
  const fixedKey = await gw.addTenant({ id: 'fx', budgetUsdMicros: 1_000_000, policy: 'fixed' })
  await gw.warm()
  const body = { model: 'mock-echo', messages: [{ role: 'user', content: [{ type: 'text', text: 'sum up' }, { type: 'file', file: { file_id: 'file-abc' } }] }] }
  const refused = await gw.request('/v1/chat/completions', { key: strictKey, body })
  expect(refused.status).toBe(400)
  expect(((await refused.json()) as any).error.message).toContain('strict budget')
  expect((await gw.request('/v1/chat/completions', { key: fixedKey, body })).status).toBe(200)
})

test('regression: a non-streamed upstream timeout is charged the worst case, not released (the upstream may have billed)', async () => {
  const gw = await withAdapter({ complete: async () => { throw new GatewayError('upstream_timeout', 'no reply') } })
  const key = await gw.addTenant({ id: 't', budgetUsdMicros: 1_000_000 })
  await gw.warm()
  const r = await gw.request('/v1/chat/completions', { key, body: chat('hi', { max_tokens: 10 }) })
  expect(r.status).toBe(504)
  const snap = await gw.ledger.snapshot('t', 'total')
  expect(snap.reservedMicros).toBe(0)
  expect(snap.spentMicros).toBeGreaterThan(0)
})

test.each([
  ['null completion_tokens', { prompt_tokens: 3, completion_tokens: null, total_tokens: 3 }],
  ['fractional prompt_tokens', { prompt_tokens: 5.5, completion_tokens: 1, total_tokens: 6.5 }],
  ['negative tokens', { prompt_tokens: -1, completion_tokens: 2, total_tokens: 1 }],
])('regression: malformed upstream usage (%s) is settled on the estimate, never left reserved', async (_name, usage) => {
  const gw = await withAdapter({
    complete: async (req, route, signal) => ({ ...(await mockAdapter.complete(req, route, signal)), usage: usage as never }),
    stream: async (req, route, signal) => {
      const inner = await mockAdapter.stream(req, route, signal)
      return (async function* () {
        for await (const c of inner) yield (c.usage ? { ...c, usage: usage as never } : c) as ChatChunk
      })()
    },
  })
  const key = await gw.addTenant({ id: 'u', budgetUsdMicros: 1_000_000 })
  await gw.warm()
  expect((await gw.request('/v1/chat/completions', { key, body: chat('hi') })).status).toBe(200)
  const streamed = await gw.request('/v1/chat/completions', { key, body: chat('hi', { stream: true }) })
  expect((await streamed.text()).trimEnd().endsWith('data: [DONE]')).toBe(true)
  await Bun.sleep(10)
  const snap = await gw.ledger.snapshot('u', 'total')
  expect(snap.reservedMicros).toBe(0)
  expect(snap.spentMicros).toBeGreaterThan(0)
})

test('a stream can never outlive its reservation', () => {
  expect(MAX_REQUEST_MS).toBeLessThan(RESERVATION_TTL_MS)
})
