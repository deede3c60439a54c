/** The foundation end to end in-process on the embedded store: auth, warm path, timing, readiness. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { createPostgresStore } from '../../../src/store/postgres.ts'
import { createSqliteStore } from '../../../src/store/sqlite.ts'
import type { Store } from '../../../src/store/types.ts'
import { buildTestGateway as build, chat } from '../../helpers/app.ts'
import { startPostgres, type PgInstance } from '../../helpers/postgres.ts'

// Every test runs against the embedded store and against Postgres (a fresh database per test).
let pg: PgInstance
const opened: Store[] = []
let dbSeq = 0
beforeAll(async () => {
  pg = await startPostgres()
})
afterAll(async () => {
  for (const s of opened) await s.close().catch(() => {})
  await pg?.stop()
})

async function freshPostgresStore(): Promise<Store> {
  const admin = postgres(pg.url, { max: 1, onnotice: () => {} })
  const name = `foundation_${process.pid}_${dbSeq++}`
  await admin.unsafe(`create database ${name}`)
  await admin.end()
  const url = new URL(pg.url)
  url.pathname = `/${name}`
  const store = await createPostgresStore(url.toString())
  opened.push(store)
  return store
}

const STORES = [['sqlite', async () => createSqliteStore(':memory:')], ['postgres', freshPostgresStore]] as const

for (const [storeKind, makeStore] of STORES) {
describe(`on ${storeKind}`, () => {
const createStore = makeStore
const buildTestGateway = async (opts: Parameters<typeof build>[0] = {}) => build({ store: opts.store ?? (await createStore()), ...opts })

describe('auth', () => {
  test.each([
    ['no key', {}, 'Missing API key'],
    ['malformed Authorization', { authorization: 'Token abc' }, 'Malformed Authorization'],
    ['Bearer with no key', { authorization: 'Bearer ' }, 'Malformed Authorization'],
    ['unknown key', { authorization: 'Bearer gw_nottherightkeyatall' }, 'Invalid API key'],
    ['unknown x-api-key', { 'x-api-key': 'gw_nottherightkeyatall' }, 'Invalid API key'],
  ])('%s → 401 invalid_api_key', async (_name, headers, message) => {
    const gw = await buildTestGateway()
    const r = await gw.request('/v1/chat/completions', { body: chat(), headers })
    expect(r.status).toBe(401)
    const body: any = await r.json()
    expect(body.error.code).toBe('invalid_api_key')
    expect(body.error.message).toContain(message)
    expect(body.error.request_id).toBe(r.headers.get('x-request-id')!)
  })

  test('Bearer and x-api-key both work; a revoked key is refused once the change arrives', async () => {
    const gw = await buildTestGateway()
    const key = await gw.addTenant({ id: 'acme' })
    await gw.warm()
    expect((await gw.request('/v1/models', { key })).status).toBe(200)
    expect((await gw.request('/v1/models', { headers: { 'x-api-key': key } })).status).toBe(200)
    const unlisten = await gw.store.listen((e) => void gw.cache.onChange(e))
    const bundle = await gw.store.loadTenant('acme')
    await gw.store.revokeKey(bundle!.keys[0]!.id)
    // The change arrives asynchronously (NOTIFY on Postgres); bounded wait.
    let r = await gw.request('/v1/models', { key })
    for (let i = 0; i < 100 && r.status === 200; i++) {
      await Bun.sleep(10)
      r = await gw.request('/v1/models', { key })
    }
    expect(r.status).toBe(401)
    expect(((await r.json()) as any).error.message).toContain('revoked')
    await unlisten()
  })
})

describe('warm path', () => {
  test('a warmed tenant is served with zero database queries', async () => {
    const store = await createStore()
    const gw = await buildTestGateway({ store })
    const keys = await Promise.all(['a', 'b', 'c'].map((id) => gw.addTenant({ id, budgetUsdMicros: 10_000_000 })))
    await gw.warm()
    // Counted from the very first request: warm-up also primed each tenant's budget period counter.
    const before = store.queryCount
    for (const key of keys) {
      expect((await gw.request('/v1/chat/completions', { key, body: chat() })).status).toBe(200)
      expect((await gw.request('/v1/chat/completions', { key, body: chat('s', { stream: true }) })).status).toBe(200)
      expect((await gw.request('/v1/models', { key })).status).toBe(200)
    }
    expect(store.queryCount - before).toBe(0)
  })

  test('a tenant and key created after boot work on the first request, loaded once', async () => {
    const store = await createStore()
    const gw = await buildTestGateway({ store })
    await gw.warm()
    const key = await gw.addTenant({ id: 'late' })
    const first = await gw.request('/v1/models', { key })
    expect(first.status).toBe(200)
    const after = store.queryCount
    expect((await gw.request('/v1/models', { key })).status).toBe(200)
    expect(store.queryCount).toBe(after)
  })

  test('a flood of unknown keys costs one lookup per key, not one per request', async () => {
    const store = await createStore()
    const gw = await buildTestGateway({ store })
    await gw.warm()
    const before = store.queryCount
    await Promise.all(Array.from({ length: 50 }, () => gw.request('/v1/models', { key: 'gw_unknownunknownunknown' })))
    expect(store.queryCount - before).toBe(1)
  })
})

describe('responses', () => {
  test('chat completion through the mock provider, with Server-Timing and x-request-id', async () => {
    const gw = await buildTestGateway()
    const key = await gw.addTenant({ id: 'acme' })
    await gw.warm()
    const r = await gw.request('/v1/chat/completions', { key, body: chat('hi there'), headers: { 'x-request-id': 'client-id-1' } })
    expect(r.status).toBe(200)
    expect(r.headers.get('x-request-id')).toBe('client-id-1')
    const timing = r.headers.get('server-timing')!
    for (const s of ['request', 'auth', 'config', 'budget_reserve', 'upstream_ttfb', 'total']) expect(timing).toContain(`${s};dur=`)
    // Settled after the reply is handed over (test/integration/app/settle-after-reply.test.ts).
    expect(timing).not.toContain('settle;')
    const body: any = await r.json()
    expect(body.choices[0].message.content).toBe('Echo: hi there')
    expect(body.usage.total_tokens).toBeGreaterThan(0)
  })

  test.each([
    ['bad\r\nx-injected: 1'],
    ['a'.repeat(200)],
    ['spaces are not allowed'],
  ])('an ill-formed x-request-id (%j) is replaced, not echoed', async (sent) => {
    const gw = await buildTestGateway()
    const r = await gw.app.handle(new Request('http://localhost/v1/models', { headers: { 'x-request-id': sent.replace(/[\r\n]/g, '') } }))
    expect(r.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/)
  })

  test('first 3 /v1 requests log [COLD-START] with stages_ms and total_ms', async () => {
    const gw = await buildTestGateway()
    const key = await gw.addTenant({ id: 'acme' })
    await gw.warm()
    for (let i = 0; i < 5; i++) await gw.request('/v1/chat/completions', { key, body: chat() })
    await gw.idle()
    const cold = gw.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === '[COLD-START]')
    expect(cold.map((l) => l.n)).toEqual([1, 2, 3])
    expect(cold[0].route).toBe('chat.completions')
    expect(Object.keys(cold[0].stages_ms)).toEqual(['request', 'auth', 'config', 'budget_reserve', 'upstream_ttfb', 'settle'])
    expect(cold[0].total_ms).toBeGreaterThan(0)
  })

  test('/v1/models lists only allowed models; other models are 403, unknown 404', async () => {
    const gw = await buildTestGateway()
    const key = await gw.addTenant({ id: 'acme', allowedModels: ['mock-echo'] })
    await gw.warm()
    const list = await (await gw.request('/v1/models', { key })).json()
    expect(list).toEqual({ object: 'list', data: [{ id: 'mock-echo', object: 'model', created: expect.any(Number), owned_by: 'mock' }] })
    const forbidden = await gw.request('/v1/chat/completions', { key, body: chat('x', { model: 'gpt-4o-mini' }) })
    expect(forbidden.status).toBe(403)
    expect(((await forbidden.json()) as any).error.code).toBe('model_not_allowed')
    const unknown = await gw.request('/v1/chat/completions', { key, body: chat('x', { model: 'nope' }) })
    expect(unknown.status).toBe(404)
    expect(((await unknown.json()) as any).error).toMatchObject({ code: 'model_not_found', param: 'model' })
  })

  test('healthz, readyz (503 with reason until ready), metrics, unknown route', async () => {
    let reason: string | null = 'warming up'
    const gw = await buildTestGateway({ ready: async () => reason })
    expect((await gw.request('/healthz')).status).toBe(200)
    const notReady = await gw.request('/readyz')
    expect(notReady.status).toBe(503)
    expect(await notReady.text()).toContain('warming up')
    reason = null
    expect((await gw.request('/readyz')).status).toBe(200)
    await gw.request('/v1/models')
    const metrics = await (await gw.request('/metrics')).text()
    expect(metrics).toContain('gateway_requests_total{route="models",status="401"} 1')
    expect(metrics).toContain('gateway_stage_duration_ms_bucket')
    for (const path of ['/healthz', '/readyz', '/metrics', '/nope']) {
      const r = await gw.request(path)
      expect(r.headers.get('x-request-id')).toMatch(/^req_/)
      expect(r.headers.get('server-timing')).toMatch(/^total;dur=\d+\.\d{3}$/)
    }
    const nf = await gw.request('/nope')
    expect(nf.status).toBe(404)
    expect(((await nf.json()) as any).error.code).toBe('not_found')
  })
})
})
}

describe('providers without a key', () => {
  test('a hosted provider with no API key is hidden from /v1/models and refused with 502 before any upstream call', async () => {
    const { loadConfig } = await import('../../../src/config/index.ts')
    const r = loadConfig(['--config', 'x'], {}, () => '[providers.mock]\nkind = "mock"\n[providers.local]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n[models."local-m"]\nprovider = "local"\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 1\n')
    if (!r.ok) throw new Error(r.errors.join())
    const gw = await build({ config: r.config })
    const key = await gw.addTenant({ id: 'nokey', budgetUsdMicros: 1_000_000 })
    await gw.warm()
    const ids = (((await (await gw.request('/v1/models', { key })).json()) as any).data as Array<{ id: string }>).map((m) => m.id)
    expect(ids).toContain('mock-echo')
    expect(ids).toContain('local-m') // declared without api_key_env: a keyless local server is fine
    expect(ids).not.toContain('gpt-4o-mini') // OPENAI_API_KEY unset
    const res = await gw.request('/v1/chat/completions', { key, body: chat('hi', { model: 'gpt-4o-mini' }) })
    expect(res.status).toBe(502)
    expect(res.headers.get('x-should-retry')).toBe('false') // a config error: SDKs must not retry it
    expect(((await res.json()) as any).error.message).toContain('no API key for provider `openai`')
    expect(await gw.ledger.snapshot('nokey', 'total')).toEqual({ spentMicros: 0, reservedMicros: 0 })
  })
})
