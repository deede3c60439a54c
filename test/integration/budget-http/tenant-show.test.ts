/**
 * `gateway tenant show ID` for each period (total/day/month) reports the live spend and reservations that HTTP
 * traffic produced, in USD, read from the same Redis ledger and Postgres the gateway uses; the admin API's
 * GET /admin/v1/tenants/{id} reports the same figures from the gateway's own Redis ledger.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { createAdminApi } from '../../../src/admin/api.ts'
import { adminKeysFrom } from '../../../src/admin/auth.ts'
import { periodKey } from '../../../src/budget/money.ts'
import { describePostgresUrl } from '../../../src/store/index.ts'
import type { Store } from '../../../src/store/types.ts'
import { runGateway } from '../../helpers/gateway-process.ts'
import { type PgInstance } from '../../helpers/postgres.ts'
import { type TestRedis } from '../../helpers/redis.ts'
import { body, chat, count, EXACT_COST, startHttpGateway, uid, type HttpGateway, startStores, type Stores } from './harness.ts'

let pg: PgInstance
let redis: TestRedis
let store: Store
let stores: Stores
let g: HttpGateway

beforeAll(async () => {
  stores = await startStores()
  ;({ pg, redis, store } = stores)
  g = await startHttpGateway('redis', store, redis.url)
})

afterAll(async () => {
  await g?.close()
  await stores?.stop()
})

for (const period of ['total', 'day', 'month'] as const) {
  test(`tenant show (${period}): spent and reserved of the current period in USD`, async () => {
    const t = uid(`show-${period}`)
    const key = await g.addTenant({ id: t, budgetUsdMicros: 50_000, budgetPeriod: period })
    const out = await Promise.all(Array.from({ length: 3 }, (_, i) => chat(g.url, key, body('exact', `ok ${i}`, i === 1))))
    expect(count(out, (o) => o.status === 200)).toBe(3)
    const pk = periodKey(period, Date.now())
    // A request in flight: its reservation is live in Redis.
    expect(await g.ledger.reserve({ tenantId: t, periodKey: pk, limitMicros: 50_000, requestId: uid('inflight'), amountMicros: 2_500, ttlMs: 60_000 }))
      .toEqual({ ok: true })

    const env = { DATABASE_URL: pg.url, REDIS_URL: redis.url }
    const r = await runGateway(['tenant', 'show', t], { env })
    expect(r.stderr).toBe(`gateway: store: postgres ${describePostgresUrl(pg.url)}\n`) // the store line only: no warning
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`tenant ${t}: budget $0.050000 per ${period}, policy strict`)
    const spent = 3 * EXACT_COST // $0.009003
    expect(r.stdout).toContain(`period ${pk}: spent $0.009003, reserved $0.002500, remaining $${((50_000 - spent - 2_500) / 1e6).toFixed(6)}`)

    // Without REDIS_URL the CLI can only read recorded usage (shipped rows), and says so.
    await g.ship([t])
    const pgOnly = await runGateway(['tenant', 'show', t], { env: { DATABASE_URL: pg.url } })
    expect(pgOnly.code).toBe(0)
    expect(pgOnly.stdout).toContain(`period ${pk}: spent $0.009003, reserved $0.000000`)
    expect(pgOnly.stdout).toContain('no REDIS_URL')
  }, 30_000)
}

test('admin API: GET /admin/v1/tenants/{id} shows live spent and reserved from the Redis ledger, like tenant show', async () => {
  const ADMIN_KEY = 'tenant-show-admin-key-0123456789abcdef'
  const api = createAdminApi(g.gw.deps, adminKeysFrom({ adminKey: ADMIN_KEY, adminReadonlyKey: null })!)
  const t = uid('show-api')
  const key = await g.addTenant({ id: t, budgetUsdMicros: 50_000, budgetPeriod: 'day' })
  const out = await Promise.all(Array.from({ length: 2 }, (_, i) => chat(g.url, key, body('exact', `ok ${i}`, false))))
  expect(count(out, (o) => o.status === 200)).toBe(2)
  const pk = periodKey('day', Date.now())
  expect(await g.ledger.reserve({ tenantId: t, periodKey: pk, limitMicros: 50_000, requestId: uid('inflight'), amountMicros: 1_500, ttlMs: 60_000 }))
    .toEqual({ ok: true })
  const res = await api(new Request(`http://gw/admin/v1/tenants/${t}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } }))
  expect(res.status).toBe(200)
  const spent = 2 * EXACT_COST
  expect(((await res.json()) as any).budget).toEqual({
    period: pk, spent_usd_micros: spent, reserved_usd_micros: 1_500, remaining_usd_micros: 50_000 - spent - 1_500, source: 'live', live_unavailable: null,
  })
  const cli = await runGateway(['tenant', 'show', t, '--json'], { env: { DATABASE_URL: pg.url, REDIS_URL: redis.url } })
  expect(JSON.parse(cli.stdout).budget).toEqual({
    period: pk, spent_usd_micros: spent, reserved_usd_micros: 1_500, remaining_usd_micros: 50_000 - spent - 1_500, source: 'live', live_unavailable: null,
  })
}, 30_000)
