/**
 * The admin HTTP API's happy paths and refusals on the embedded store and on Postgres, in-process
 * (app.handle): tenants, keys (the secret shown once), usage, live budget figures. Every response is checked
 * against the OpenAPI document. Gateway A serves the API; gateway B, on its own connection to the same
 * database, only subscribes to changes like any running gateway: what the API changes reaches both (Postgres:
 * NOTIFY; embedded: the store's in-process events; another process's CLI writes are found by its data_version
 * poll, tested in test/integration/cli/lifecycle.test.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { adminKeysFrom } from '../../../src/admin/auth.ts'
import { OPENAPI_DOCUMENT } from '../../../src/admin/openapi.ts'
import { ADMIN_ROUTES, matchRoute } from '../../../src/admin/routes.ts'
import { createMemoryLedger } from '../../../src/budget/memory-ledger.ts'
import { periodKey, periodKeyStartMs } from '../../../src/budget/money.ts'
import type { BudgetLedger, UsageRecord } from '../../../src/budget/types.ts'
import { hashApiKey } from '../../../src/store/keys.ts'
import { createPostgresStore } from '../../../src/store/postgres.ts'
import { createSqliteStore } from '../../../src/store/sqlite.ts'
import type { Store } from '../../../src/store/types.ts'
import { buildTestGateway, chat, type TestGateway } from '../../helpers/app.ts'
import { checkSchema } from '../../helpers/json-schema.ts'
import { startPostgres, type PgInstance } from '../../helpers/postgres.ts'
import { waitUntil } from '../reliability/lib.ts'

const ADMIN_KEY = 'test-admin-key-0123456789abcdef-0123456789'
const DAY = 86_400_000
const doc = OPENAPI_DOCUMENT as unknown as Record<string, any>

let pg: PgInstance
const dir = mkdtempSync(join(tmpdir(), 'gw-admin-api-'))
beforeAll(async () => {
  pg = await startPostgres()
})
afterAll(async () => {
  await pg?.stop()
  rmSync(dir, { recursive: true, force: true })
})

interface Reply {
  status: number
  body: any
  text: string
  headers: Headers
}

/** The documented schema of a response: the route's status, or the error envelope. */
function schemaFor(method: string, path: string, status: number): Record<string, unknown> {
  const m = matchRoute(ADMIN_ROUTES, method, path.replace(/^\/admin\/v1/, '').split('?')[0]!)
  if (status >= 400 || m.kind === 'none') return doc.components.schemas.Error
  const response = doc.paths[m.route.path][method.toLowerCase()].responses[String(status)]
  if (!response) throw new Error(`${method} ${path}: status ${status} is not documented`)
  return response.content['application/json'].schema
}

describe.each(['sqlite', 'postgres'] as const)('admin API on %s', (kind) => {
  const open = async (): Promise<Store> => (kind === 'postgres' ? createPostgresStore(pg.url) : createSqliteStore(join(dir, `${kind}.sqlite`)))
  let a: TestGateway
  let b: TestGateway
  const unlisten: Array<() => Promise<void>> = []

  /** Live figures come from this ledger; `down` makes its snapshot fail like an unreachable Redis. */
  let ledgerDown = false
  const ledgerFor = (store: Store): BudgetLedger => {
    const inner = createMemoryLedger({ rebuild: (t, pk, ex) => store.sumUsageSince(t, periodKeyStartMs(pk), ex), sink: (r) => store.insertUsage(r) })
    return Object.assign(Object.create(inner), {
      snapshot: (t: string, pk: string) => (ledgerDown ? Promise.reject(new Error('budget store unreachable (test)')) : inner.snapshot(t, pk)),
    })
  }

  beforeAll(async () => {
    const sa = await open()
    a = await buildTestGateway({ store: sa, ledger: ledgerFor(sa), app: { admin: adminKeysFrom({ adminKey: ADMIN_KEY, adminReadonlyKey: null })! } })
    b = await buildTestGateway({ store: await open() })
    for (const g of [a, b]) unlisten.push(await g.store.listen((e) => void g.cache.onChange(e)))
  })
  afterAll(async () => {
    for (const u of unlisten) await u().catch(() => {})
    for (const g of [a, b]) await g?.store.close().catch(() => {})
  })

  const call = async (method: string, path: string, body?: unknown): Promise<Reply> => {
    const res = await a.request(`/admin/v1${path}`, { method, body, headers: { authorization: `Bearer ${ADMIN_KEY}` } })
    const text = await res.text()
    const reply = { status: res.status, body: JSON.parse(text), text, headers: res.headers }
    // Every answer is one the document describes, and none may be cached.
    expect({ path, problems: checkSchema(doc, schemaFor(method, `/admin/v1${path}`, res.status), reply.body) }).toEqual({ path, problems: [] })
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.headers.get('x-request-id')).toMatch(/^req_/)
    return reply
  }
  const v1 = (g: TestGateway, key: string) => g.request('/v1/chat/completions', { key, body: chat('hi') }).then(async (r) => ({ status: r.status, body: await r.json() as any }))
  const onBoth = (what: string, key: string, status: number) =>
    Promise.all([a, b].map((g, i) => waitUntil(`${what} on gateway ${'AB'[i]}`, async () => (await v1(g, key)).status === status, 5000, 20)))

  test('tenants: create (defaults), get, list, patch; 409 on a duplicate, 404 on an unknown id, 400 on a bad body', async () => {
    const c = await call('POST', '/tenants', { id: 'acme', budget_usd_micros: 5_000_000, budget_period: 'day' })
    expect(c.status).toBe(201)
    expect(c.body).toEqual({
      tenant: { id: 'acme', budget_usd_micros: 5_000_000, budget_period: 'day', policy: 'strict', allowed_models: null, fail_open: false, disabled: false },
    })
    expect((await call('POST', '/tenants', { id: 'plain' })).body.tenant).toEqual({
      id: 'plain', budget_usd_micros: null, budget_period: 'month', policy: 'strict', allowed_models: null, fail_open: false, disabled: false,
    })

    const g = await call('GET', '/tenants/acme')
    expect(g.status).toBe(200)
    expect(g.body.tenant.id).toBe('acme')
    expect(g.body.keys).toEqual([])
    expect(g.body.budget).toMatchObject({ period: periodKey('day', Date.now()), spent_usd_micros: 0, reserved_usd_micros: 0, remaining_usd_micros: 5_000_000, source: 'live' })

    const p = await call('PATCH', '/tenants/acme', { policy: 'fixed', allowed_models: ['mock-echo'], fail_open: true })
    expect(p.body.tenant).toMatchObject({ id: 'acme', policy: 'fixed', allowed_models: ['mock-echo'], fail_open: true, budget_usd_micros: 5_000_000 })
    expect((await a.store.loadTenant('acme'))!.tenant).toMatchObject({ policy: 'fixed', allowedModels: ['mock-echo'], failOpen: true })

    const list = await call('GET', '/tenants')
    expect(list.body.data.map((t: any) => t.id)).toEqual(['acme', 'plain'])
    expect(list.body.data[0]).toMatchObject({ id: 'acme', keys: 0, active_keys: 0, created_at: expect.stringMatching(/Z$/) })

    const dup = await call('POST', '/tenants', { id: 'acme' })
    expect([dup.status, dup.body.error.code, dup.body.error.message]).toEqual([409, 'conflict', 'tenant "acme" already exists'])
    for (const [method, path, body] of [['GET', '/tenants/ghost'], ['PATCH', '/tenants/ghost', { policy: 'fixed' }], ['DELETE', '/tenants/ghost'],
      ['POST', '/tenants/ghost/disable'], ['GET', '/tenants/ghost/keys'], ['POST', '/tenants/ghost/keys']] as const) {
      const r = await call(method, path, body)
      expect({ method, path, status: r.status, code: r.body.error.code }).toEqual({ method, path, status: 404, code: 'not_found' })
      expect(r.body.error.message).toBe('tenant "ghost" does not exist')
    }
    for (const [method, path, body, message] of [
      ['POST', '/tenants', { id: 'x', budget_usd: 5 }, 'unknown field "budget_usd"'],
      ['POST', '/tenants', { id: 'x', allowed_models: ['no-such-model'] }, 'allowed_models: unknown model "no-such-model"'],
      ['POST', '/tenants', undefined, 'Request body is empty'],
      ['POST', '/tenants', '{"id":', 'not valid JSON'],
      ['PATCH', '/tenants/acme', {}, 'nothing to change'],
      ['GET', '/tenants/bad%20id', undefined, 'id may only contain'],
      ['GET', '/tenants/%E0%A4%A', undefined, 'id may only contain'],
    ] as const) {
      const r = await call(method, path, body)
      expect({ path, status: r.status, code: r.body.error.code }).toEqual({ path, status: 400, code: 'invalid_request_error' })
      expect(r.body.error.message).toContain(message)
    }
    expect(await a.store.loadTenant('x')).toBeNull()
  })

  test('keys: the secret is in the create response only; list and tenant detail never show it or its hash; it works on /v1 of both gateways', async () => {
    await call('POST', '/tenants', { id: 'keys-t' })
    const c = await call('POST', '/tenants/keys-t/keys', { name: 'ci', expires_in: '30d' })
    expect(c.status).toBe(201)
    const secret: string = c.body.api_key
    expect(secret).toMatch(/^gw_[A-Za-z0-9_-]{43}$/)
    expect(c.body.key).toMatchObject({ tenant_id: 'keys-t', name: 'ci', prefix: secret.slice(0, 10), status: 'active', revoked_at: null })
    expect(Date.parse(c.body.key.expires_at) - Date.parse(c.body.key.created_at)).toBeGreaterThan(30 * DAY - 5000)
    const bare = await call('POST', '/tenants/keys-t/keys') // no body at all
    expect([bare.status, bare.body.key.name, bare.body.key.expires_at]).toEqual([201, null, null])

    for (const r of [await call('GET', '/tenants/keys-t/keys'), await call('GET', '/tenants/keys-t'), await call('GET', '/tenants')]) {
      expect(r.text).not.toContain(secret)
      expect(r.text).not.toContain(hashApiKey(secret))
      expect(r.text).not.toContain(secret.slice(10))
    }
    expect((await call('GET', '/tenants/keys-t/keys')).body.data.map((k: any) => k.id)).toEqual([c.body.key.id, bare.body.key.id])

    expect((await v1(a, secret)).status).toBe(200)
    expect((await v1(b, secret)).status).toBe(200)
  })

  test('revoke and rotate reach both gateways; a revoked key cannot be rotated (409)', async () => {
    await call('POST', '/tenants', { id: 'rot' })
    const k1 = (await call('POST', '/tenants/rot/keys', { name: 'prod' })).body
    const k2 = (await call('POST', '/tenants/rot/keys')).body
    await onBoth('the new keys to work', k1.api_key, 200)
    await onBoth('the new keys to work', k2.api_key, 200)

    const rv = await call('POST', `/keys/${k2.key.id}/revoke`)
    expect(rv.body.key).toMatchObject({ id: k2.key.id, status: 'revoked', revoked_at: expect.stringMatching(/Z$/) })
    await onBoth('the revoked key to be refused', k2.api_key, 401)
    const again = await call('POST', `/keys/${k2.key.id}/rotate`)
    expect([again.status, again.body.error.code]).toEqual([409, 'conflict'])
    expect((await call('POST', '/keys/key_nope/revoke')).status).toBe(404)

    const t0 = Date.now()
    const r = await call('POST', `/keys/${k1.key.id}/rotate`, { grace: '2h', expires_in: '90d' })
    expect(r.status).toBe(201)
    expect(r.body.key).toMatchObject({ tenant_id: 'rot', name: 'prod', status: 'active' })
    expect(r.body.old_key.id).toBe(k1.key.id)
    expect(Date.parse(r.body.old_key.expires_at)).toBeGreaterThanOrEqual(t0 + 2 * 3_600_000 - 1000)
    expect(Date.parse(r.body.old_key.expires_at)).toBeLessThanOrEqual(Date.now() + 2 * 3_600_000)
    await onBoth('the rotated key to work', r.body.api_key, 200)
    expect((await v1(a, k1.api_key)).status).toBe(200) // still inside its grace

    const now = await call('POST', `/keys/${r.body.key.id}/rotate`, { grace: '0' })
    await onBoth('the key rotated with no grace to be refused', r.body.api_key, 401)
    await onBoth('its successor to work', now.body.api_key, 200)
  })

  test('disable and enable reach both gateways (403 tenant_disabled, then served again)', async () => {
    await call('POST', '/tenants', { id: 'dis' })
    const { api_key: key } = (await call('POST', '/tenants/dis/keys')).body
    await onBoth('the key to work', key, 200)
    expect((await call('POST', '/tenants/dis/disable')).body.tenant.disabled).toBe(true)
    await onBoth('the disabled tenant to be refused', key, 403)
    expect((await v1(a, key)).body.error.code).toBe('tenant_disabled')
    expect((await call('POST', '/tenants/dis/enable')).body.tenant.disabled).toBe(false)
    await onBoth('the enabled tenant to be served', key, 200)
  })

  test('delete: 409 while the tenant has active keys, ?force=true revokes them; usage records are kept', async () => {
    await call('POST', '/tenants', { id: 'del' })
    const { api_key: key } = (await call('POST', '/tenants/del/keys')).body
    await onBoth('the key to work', key, 200)
    const refused = await call('DELETE', '/tenants/del')
    expect([refused.status, refused.body.error.code, refused.body.error.message]).toEqual([409, 'conflict', 'tenant "del" has 1 active key(s)'])
    expect((await call('DELETE', '/tenants/del?force=maybe')).status).toBe(400)
    const d = await call('DELETE', '/tenants/del?force=true')
    expect(d.body).toEqual({ id: 'del', deleted: true, revoked_keys: 1 })
    await onBoth('the deleted tenant\'s key to be refused', key, 401)
    expect((await call('GET', '/tenants/del')).status).toBe(404)
  })

  test('usage: the report of `gateway usage --json`, per day, model or key, one tenant or all', async () => {
    const rec = (requestId: string, tenantId: string, keyId: string, model: string, cost: number, at: string): UsageRecord => ({
      requestId, tenantId, keyId, model, provider: 'openai', promptTokens: 100, completionTokens: 10, costUsdMicros: cost, status: 'ok',
      startedAt: Date.parse(at), durationMs: 20,
    })
    await a.store.insertUsage([
      rec(`u1-${kind}`, 'rep-a', 'key_a1', 'gpt-4o', 1_000, '2026-03-01T10:00:00Z'),
      rec(`u2-${kind}`, 'rep-a', 'key_a2', 'gpt-4o-mini', 2_000, '2026-03-01T23:59:59Z'),
      rec(`u3-${kind}`, 'rep-a', 'key_a1', 'gpt-4o', 4_000, '2026-03-02T00:00:00Z'),
      rec(`u4-${kind}`, 'rep-b', 'key_b1', 'gpt-4o', 8_000, '2026-03-03T12:00:00Z'),
      rec(`u5-${kind}`, 'rep-a', 'key_a1', 'gpt-4o', 99_999, '2026-03-08T00:00:00Z'), // at --until: excluded
    ])
    const window = 'since=2026-03-01&until=2026-03-08'
    const byDay = await call('GET', `/usage?tenant=rep-a&${window}`)
    expect(byDay.body).toEqual({
      tenant_id: 'rep-a', since: '2026-03-01T00:00:00.000Z', until: '2026-03-08T00:00:00.000Z', by: 'day',
      rows: [
        { tenant_id: 'rep-a', day: '2026-03-01', requests: 2, prompt_tokens: 200, completion_tokens: 20, cost_usd_micros: 3_000 },
        { tenant_id: 'rep-a', day: '2026-03-02', requests: 1, prompt_tokens: 100, completion_tokens: 10, cost_usd_micros: 4_000 },
      ],
      total: { requests: 3, prompt_tokens: 300, completion_tokens: 30, cost_usd_micros: 7_000 },
    })
    const byKey = await call('GET', `/usage?tenant=rep-a&${window}&by=key`)
    expect(byKey.body.rows.map((r: any) => [r.key_id, r.cost_usd_micros])).toEqual([['key_a1', 5_000], ['key_a2', 2_000]])
    const all = await call('GET', `/usage?${window}&by=model`)
    expect(all.body.rows.filter((r: any) => r.tenant_id.startsWith('rep-')).map((r: any) => [r.tenant_id, r.model, r.cost_usd_micros]))
      .toEqual([['rep-a', 'gpt-4o', 5_000], ['rep-a', 'gpt-4o-mini', 2_000], ['rep-b', 'gpt-4o', 8_000]])
    expect(all.body.tenant_id).toBeNull()
    const recent = await call('GET', '/usage?tenant=rep-a') // default window: the last 7 days
    expect([recent.body.rows, Date.now() - Date.parse(recent.body.since)]).toEqual([[], expect.any(Number)])
    expect(Math.abs(Date.now() - 7 * DAY - Date.parse(recent.body.since))).toBeLessThan(60_000)

    for (const q of ['by=week', 'since=2026-03-08&until=2026-03-01', 'tenant=a%20b', 'page=2']) {
      expect({ q, status: (await call('GET', `/usage?${q}`)).status }).toEqual({ q, status: 400 })
    }
  })

  test('tenant detail: live spent and reserved from the budget ledger; recorded usage when the ledger does not answer', async () => {
    await call('POST', '/tenants', { id: 'live', budget_usd_micros: 1_000_000 })
    const { api_key: key } = (await call('POST', '/tenants/live/keys')).body
    expect((await v1(a, key)).status).toBe(200)
    const pk = periodKey('month', Date.now())
    // Settlement may finish just after the response.
    const spent = await waitUntil('the request to settle', async () => (await a.ledger.snapshot('live', pk)).spentMicros, 5000, 10)
    expect(await a.ledger.reserve({ tenantId: 'live', periodKey: pk, limitMicros: 1_000_000, requestId: `held-${kind}`, amountMicros: 2_500, ttlMs: 60_000 })).toEqual({ ok: true })
    const live = await call('GET', '/tenants/live')
    expect(live.body.budget).toEqual({
      period: pk, spent_usd_micros: spent, reserved_usd_micros: 2_500, remaining_usd_micros: 1_000_000 - spent - 2_500, source: 'live', live_unavailable: null,
    })

    ledgerDown = true
    try {
      const recorded = await call('GET', '/tenants/live')
      expect(recorded.status).toBe(200)
      expect(recorded.body.budget).toMatchObject({ source: 'recorded', reserved_usd_micros: null, live_unavailable: 'budget store unreachable (test)' })
      // Writes need only the database.
      expect((await call('POST', `/keys/${(await call('GET', '/tenants/live/keys')).body.data[0].id}/revoke`)).status).toBe(200)
    } finally {
      ledgerDown = false
    }
  })

  test('the admin key is not a tenant key: /v1 refuses it (401 invalid_api_key)', async () => {
    for (const g of [a, b]) {
      const r = await v1(g, ADMIN_KEY)
      expect([r.status, r.body.error.code]).toEqual([401, 'invalid_api_key'])
    }
  })

  test('every request writes one `admin` log line (method, path, route, status, scope), never a secret', async () => {
    const before = a.logs.length
    const { api_key: secret } = (await call('POST', '/tenants/keys-t/keys', { name: 'logged' })).body
    await a.request('/admin/v1/tenants', { headers: { authorization: 'Bearer wrong-key' } })
    const lines = a.logs.slice(before).map((l) => JSON.parse(l)).filter((l) => l.msg === 'admin')
    expect(lines.map((l) => [l.method, l.path, l.route, l.status, l.scope, l.error])).toEqual([
      ['POST', '/admin/v1/tenants/keys-t/keys', 'admin.createKey', 201, 'write', undefined],
      ['GET', '/admin/v1/tenants', 'admin.unknown', 401, undefined, 'invalid_admin_key'],
    ])
    const all = a.logs.join('\n')
    for (const s of [secret, hashApiKey(secret), ADMIN_KEY, 'wrong-key']) expect(all).not.toContain(s)
  })
})
