/**
 * 500 concurrent chat requests over real HTTP against one tenant's limit, on the Redis ledger (with and without
 * budget slices) and on the
 * in-process ledger: exactly K admitted under `strict`, the rest 402 budget_exceeded with x-should-retry: false;
 * spent == Σ actual costs (computed here from the usage the gateway returned) ≤ limit; reserved == 0; one
 * usage_records row per admitted request. Under `fixed`, the overrun is measured and held to the DESIGN bound.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Store } from '../../../src/store/types.ts'
import { type PgInstance } from '../../helpers/postgres.ts'
import { type TestRedis } from '../../helpers/redis.ts'
import {
  body, chat, CHEAP_COST, count, EXACT_COST, expectedCost, startHttpGateway, uid, usageRows,
  type HttpGateway, type LedgerKind, type Outcome, startStores, type Stores,
} from './harness.ts'

const N = 500
let pg: PgInstance
let redis: TestRedis
let store: Store
let stores: Stores
let rows: ReturnType<typeof usageRows>
const gateways: Partial<Record<LedgerKind, HttpGateway>> = {}

beforeAll(async () => {
  stores = await startStores()
  ;({ pg, redis, store, rows } = stores)
  gateways.redis = await startHttpGateway('redis', store, redis.url)
  gateways.slices = await startHttpGateway('slices', store, redis.url)
  gateways.memory = await startHttpGateway('memory', store)
})

afterAll(async () => {
  for (const g of Object.values(gateways)) await g?.close()
  await stores?.stop()
})

/** Fires N requests at once (even ones streamed), each with its own prompt so prompts differ in size. */
async function burst(g: HttpGateway, key: string, model: string): Promise<Outcome[]> {
  return Promise.all(Array.from({ length: N }, (_, i) =>
    chat(g.url, key, body(model, `req ${i} ${'x'.repeat(i % 7)}`, i % 2 === 0))))
}

function checkRejections(out: Outcome[]): void {
  for (const o of out.filter((x) => x.status !== 200)) {
    expect(o.status).toBe(402)
    expect(o.error).toMatchObject({ code: 'budget_exceeded', type: 'insufficient_quota' })
    expect(o.shouldRetry).toBe('false')
  }
}

/** Σ of each admitted request's cost, from the usage in its response and the model price (ceil). */
function sumCosts(out: Outcome[], model: string): number {
  let s = 0
  for (const o of out.filter((x) => x.status === 200)) {
    expect(o.usage).not.toBeNull()
    s += expectedCost(model, o.usage!)
  }
  return s
}

async function checkRows(g: HttpGateway, tenant: string, admitted: number, spent: number, model: string): Promise<void> {
  await g.ship([tenant])
  const r = await rows.of(tenant)
  expect(r.length).toBe(admitted)
  expect(new Set(r.map((x) => x.request_id)).size).toBe(admitted)
  expect(r.every((x) => x.status === 'ok')).toBe(true)
  expect(r.reduce((n, x) => n + x.cost, 0)).toBe(spent)
  for (const x of r) expect(x.cost).toBe(expectedCost(model, x))
}

for (const kind of ['redis', 'slices', 'memory'] as const) {
  describe(`${kind} ledger over HTTP`, () => {
    test(`strict: ${N} concurrent requests, the limit admits exactly K`, async () => {
      const g = gateways[kind]!
      const K = 137
      const limit = K * EXACT_COST + EXACT_COST - 1 // one µUSD short of a (K+1)th request
      const t = uid(`strict-${kind}`)
      const key = await g.addTenant({ id: t, budgetUsdMicros: limit, policy: 'strict' })
      const out = await burst(g, key, 'exact')
      expect(count(out, (o) => o.status === 200)).toBe(K)
      expect(count(out, (o) => o.status === 402)).toBe(N - K)
      checkRejections(out)
      const expected = sumCosts(out, 'exact')
      expect(expected).toBe(K * EXACT_COST) // the model really is "exact"
      await g.giveBackSlices()
      const snap = await g.ledger.snapshot(t, 'total')
      console.log(`[${kind} strict] limit=${limit} admitted=${K} spent=${snap.spentMicros} Σcost=${expected} reserved=${snap.reservedMicros}`)
      expect(snap.spentMicros).toBe(expected)
      expect(snap.spentMicros).toBeLessThanOrEqual(limit)
      expect(snap.reservedMicros).toBe(0)
      await checkRows(g, t, K, expected, 'exact')
    }, 30_000)

    test(`fixed, requests costing more than $0.001: overrun measured and bounded`, async () => {
      const g = gateways[kind]!
      const limit = 100 * EXACT_COST
      const t = uid(`fixed-${kind}`)
      const key = await g.addTenant({ id: t, budgetUsdMicros: limit, policy: 'fixed' })
      const out = await burst(g, key, 'exact')
      const ok = count(out, (o) => o.status === 200)
      checkRejections(out)
      const expected = sumCosts(out, 'exact')
      await g.giveBackSlices()
      const snap = await g.ledger.snapshot(t, 'total')
      const overrun = snap.spentMicros - limit
      console.log(`[${kind} fixed >$0.001] limit=${limit} admitted=${ok} spent=${snap.spentMicros} overrun=${overrun} µUSD ` +
        `(bound ${ok} × (${EXACT_COST} − 1000) = ${ok * (EXACT_COST - 1000)})`)
      expect(snap.spentMicros).toBe(expected)
      expect(snap.reservedMicros).toBe(0)
      // Each admitted request held 1000 µUSD but cost EXACT_COST: the overrun is at most Σ (cost − 1000) over the
      // requests in flight when the last one was admitted, hence at most admitted × (cost − 1000).
      expect(overrun).toBeLessThanOrEqual(ok * (EXACT_COST - 1000))
      // And the budget was really used up: the first rejection saw spent + reserved + 1000 > limit.
      expect(ok).toBeLessThan(N)
      expect(snap.spentMicros).toBeGreaterThan(limit - 1000)
      await checkRows(g, t, ok, expected, 'exact')
    }, 30_000)

    test(`fixed, requests costing less than $0.001: never over the limit`, async () => {
      const g = gateways[kind]!
      const limit = 50_000
      const t = uid(`fixed-cheap-${kind}`)
      const key = await g.addTenant({ id: t, budgetUsdMicros: limit, policy: 'fixed' })
      const out = await burst(g, key, 'cheap')
      const ok = count(out, (o) => o.status === 200)
      checkRejections(out)
      const expected = sumCosts(out, 'cheap')
      expect(expected).toBe(ok * CHEAP_COST)
      await g.giveBackSlices()
      const snap = await g.ledger.snapshot(t, 'total')
      console.log(`[${kind} fixed <$0.001] limit=${limit} admitted=${ok} spent=${snap.spentMicros} headroom=${limit - snap.spentMicros}`)
      expect(snap.spentMicros).toBe(expected)
      expect(snap.spentMicros).toBeLessThanOrEqual(limit)
      expect(snap.reservedMicros).toBe(0)
      // Admitted while spent + reserved + 1000 ≤ limit, so at least ⌊(limit − 1000) / 1000⌋ + 1 requests got in.
      expect(ok).toBeGreaterThanOrEqual(Math.floor((limit - 1000) / 1000) + 1)
      await checkRows(g, t, ok, expected, 'cheap')
    }, 30_000)
  })
}
