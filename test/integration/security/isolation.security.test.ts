/**
 * Tenant isolation on the real Redis ledger: a key of tenant A never spends B's budget, never sees or uses B's
 * models, and nothing a client sends (headers, body fields, a second key) moves a charge to another tenant.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { periodKey, periodKeyStartMs } from '../../../src/budget/money.ts'
import { createRedisLedger, type RedisLedger } from '../../../src/budget/redis-ledger.ts'
import { fieldsToRecord } from '../../../src/budget/scripts.ts'
import { createSqliteStore } from '../../../src/store/sqlite.ts'
import { buildTestGateway, testConfig, type TestGateway } from '../../helpers/app.ts'
import { startRedis, type TestRedis } from '../../helpers/redis.ts'

const sfx = `${process.pid}-${Date.now().toString(36)}`
const A = `iso-a-${sfx}`
const B = `iso-b-${sfx}`
let redis: TestRedis
let ledger: RedisLedger
let g: TestGateway
let keyA: string
let keyB: string

beforeAll(async () => {
  redis = await startRedis()
  const store = createSqliteStore(':memory:')
  await store.migrate()
  ledger = await createRedisLedger({ url: redis.url, rebuild: (t, pk, exclude) => store.sumUsageSince(t, periodKeyStartMs(pk), exclude) })
  // A provider key so the catalog's gpt-4o-mini is served (a provider without its key is hidden).
  g = await buildTestGateway({ store, ledger, config: testConfig(undefined, [], { OPENAI_API_KEY: 'sk-test-not-used' }) })
  // Both: 10 000 µUSD ($0.01) in total. A may use mock-echo only; B also gpt-4o-mini.
  keyA = await g.addTenant({ id: A, budgetUsdMicros: 10_000, budgetPeriod: 'total', allowedModels: ['mock-echo'] })
  keyB = await g.addTenant({ id: B, budgetUsdMicros: 10_000, budgetPeriod: 'total', allowedModels: ['mock-echo', 'gpt-4o-mini'] })
  await g.warm()
})

afterAll(async () => {
  await ledger?.close()
  await redis?.stop()
})

const snap = (t: string) => ledger.snapshot(t, periodKey('total', Date.now()))
/** ~2000 echoed words: costs about 6000 µUSD, so a second one cannot fit in a $0.01 budget. */
const expensive = (extra: Record<string, unknown> = {}) => ({
  model: 'mock-echo', max_tokens: 2500, messages: [{ role: 'user', content: Array(2000).fill('w').join(' ') }], ...extra,
})

describe('models', () => {
  test('/v1/models lists only the caller tenant\'s models', async () => {
    const a = (await (await g.request('/v1/models', { key: keyA })).json()) as { data: { id: string }[] }
    const b = (await (await g.request('/v1/models', { key: keyB })).json()) as { data: { id: string }[] }
    expect(a.data.map((m) => m.id)).toEqual(['mock-echo'])
    expect(b.data.map((m) => m.id).sort()).toEqual(['gpt-4o-mini', 'mock-echo'])
  })

  test('A asking for B\'s model → 403 model_not_allowed, before any reservation', async () => {
    const before = await snap(A)
    const res = await g.request('/v1/chat/completions', { key: keyA, body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] } })
    expect(res.status).toBe(403)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('model_not_allowed')
    expect(await snap(A)).toEqual(before)
  })
})

describe('budgets', () => {
  test('A spends only A: B\'s counters never move, whatever A sends alongside its key', async () => {
    const b0 = await snap(B)
    // Attempts to point the charge elsewhere: tenant-ish headers, B's key in x-api-key, tenant-ish body fields.
    const res = await g.request('/v1/chat/completions', {
      key: keyA,
      headers: { 'x-api-key': keyB, 'x-tenant-id': B, 'openai-organization': B, 'openai-project': B },
      body: expensive({ user: B, tenant: B, metadata: { tenant_id: B } }),
    })
    expect(res.status).toBe(200)
    const a1 = await snap(A)
    expect(a1.spentMicros).toBeGreaterThan(0)
    expect(a1.reservedMicros).toBe(0)
    expect(await snap(B)).toEqual(b0)

    // A exhausts its budget: refused with 402 (and x-should-retry: false) — B is untouched and still served.
    let refused: Response | null = null
    for (let i = 0; i < 5 && !refused; i++) {
      const r = await g.request('/v1/chat/completions', { key: keyA, body: expensive() })
      if (r.status === 402) refused = r
      else expect(r.status).toBe(200)
    }
    expect(refused).not.toBeNull()
    expect(refused!.headers.get('x-should-retry')).toBe('false')
    expect(((await refused!.json()) as { error: { code: string } }).error.code).toBe('budget_exceeded')
    expect(await snap(B)).toEqual(b0)

    const rb = await g.request('/v1/chat/completions', { key: keyB, body: expensive() })
    expect(rb.status).toBe(200)
    expect((await snap(B)).spentMicros).toBeGreaterThan(0)
  })

  test('Authorization wins over x-api-key: B\'s key in x-api-key with A\'s bearer is charged to A', async () => {
    const a0 = await snap(A)
    const b0 = await snap(B)
    const res = await g.request('/v1/chat/completions', { key: keyA, headers: { 'x-api-key': keyB }, body: { model: 'mock-echo', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] } })
    // A is over budget for big requests but this one is tiny; either way the charge/refusal is A's.
    expect([200, 402]).toContain(res.status)
    expect(await snap(B)).toEqual(b0)
    if (res.status === 200) expect((await snap(A)).spentMicros).toBeGreaterThan(a0.spentMicros)
  })

  test('ledger streams are per tenant: each usage record carries its own tenant id', async () => {
    const r = ledger.client
    for (const [t, other] of [[A, B], [B, A]] as const) {
      const entries = (await r.xrange(`gw:{t:${t}}:ledger`, '-', '+')) as [string, string[]][]
      expect(entries.length).toBeGreaterThan(0)
      for (const [, fields] of entries) {
        const record = fieldsToRecord(fields)!.record
        expect(record.tenantId).toBe(t)
        expect(record.tenantId).not.toBe(other)
      }
    }
  })
})
