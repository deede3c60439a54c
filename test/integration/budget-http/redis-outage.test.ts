/**
 * Failure policy over HTTP: with Redis unreachable, chat requests fail closed with 503 budget_unavailable,
 * quickly and without hanging; a fail-open tenant is still served; after Redis comes back (empty: no
 * persistence) the same gateway serves again, rebuilding the spent counter from Postgres, and the limit holds.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import type { Store } from '../../../src/store/types.ts'
import { type PgInstance } from '../../helpers/postgres.ts'
import { type TestRedis } from '../../helpers/redis.ts'
import { body, chat, count, eventually, EXACT_COST, startHttpGateway, uid, type HttpGateway, startStores, type Stores } from './harness.ts'

let pg: PgInstance
let redis: TestRedis
let store: Store
let stores: Stores
let g: HttpGateway

beforeAll(async () => {
  stores = await startStores({ ownRedis: true })
  ;({ pg, redis, store } = stores)
  g = await startHttpGateway('redis', store, redis.url)
})

afterAll(async () => {
  await g?.close()
  await stores?.stop()
})

test('Redis down → 503 budget_unavailable fast (fail closed), fail-open tenant served; back after restart', async () => {
  const K = 40
  const limit = K * EXACT_COST + 7
  const closed = uid('closed')
  const open = uid('open')
  const closedKey = await g.addTenant({ id: closed, budgetUsdMicros: limit })
  const openKey = await g.addTenant({ id: open, budgetUsdMicros: limit, failOpen: true })

  const warm = await Promise.all(Array.from({ length: 10 }, (_, i) => chat(g.url, closedKey, body('exact', `ok w ${i}`, i % 2 === 0))))
  expect(count(warm, (o) => o.status === 200)).toBe(10)
  await g.ship([closed])
  expect(await store.sumUsageSince(closed, 0)).toBe(10 * EXACT_COST)

  await redis.kill()
  const down = await Promise.all(Array.from({ length: 20 }, (_, i) => chat(g.url, closedKey, body('exact', `ok d ${i}`, i % 2 === 0))))
  for (const o of down) {
    expect(o.status).toBe(503)
    expect(o.error?.code).toBe('budget_unavailable')
    expect(o.ms).toBeLessThan(2_000) // a generous bound against hanging, not a benchmark
  }
  console.log(`[redis down] 503 latency max=${Math.max(...down.map((o) => o.ms)).toFixed(1)} ms`)
  const served = await Promise.all(Array.from({ length: 4 }, (_, i) => chat(g.url, openKey, body('exact', `ok o ${i}`, i % 2 === 0))))
  for (const o of served) {
    expect(o.status).toBe(200)
    expect(o.ms).toBeLessThan(2_000)
  }

  await redis.restart() // empty: the counter must come back from Postgres, not from zero
  await eventually('served again', () => chat(g.url, closedKey, body('exact', 'ok back', false)), (o) => o.status === 200, 10_000)
  // 11 admitted so far (10 + the probe); the rest of the limit admits exactly K − 11 more.
  const after = await Promise.all(Array.from({ length: 100 }, (_, i) => chat(g.url, closedKey, body('exact', `ok a ${i}`, i % 2 === 0))))
  expect(count(after, (o) => o.status === 200)).toBe(K - 11)
  expect(count(after, (o) => o.status === 402)).toBe(100 - (K - 11))
  const snap = await g.ledger.snapshot(closed, 'total')
  expect(snap).toEqual({ spentMicros: K * EXACT_COST, reservedMicros: 0 })
  // The consumer group vanished with Redis: the shipper's read recreates it on the spot, so a single flush() right
  // after a Redis restart (as at SIGTERM) ships everything.
  await g.ship([closed])
  expect(await store.sumUsageSince(closed, 0)).toBe(K * EXACT_COST)
}, 60_000)
