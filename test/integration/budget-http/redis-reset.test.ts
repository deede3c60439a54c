/**
 * Redis restarted empty (FLUSHALL, or kill -9 and a restart without persistence) while requests are in flight
 * (issue 9, item 7). The gateway remembers its live reservations and the records it settled until Postgres has
 * them, so after the loss: no more admitted than the limit allows (exactly K at a limit of K requests), nothing
 * left reserved, and usage_records holds exactly the served requests, whose costs sum to the rebuilt counter.
 *
 * Each test owns its Redis (FLUSHALL / kill on a shared server would hit other suites).
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import type { RedisLedger } from '../../../src/budget/redis-ledger.ts'
import { tenantKeys } from '../../../src/budget/scripts.ts'
import type { Store } from '../../../src/store/types.ts'
import { type TestRedis } from '../../helpers/redis.ts'
import {
  body, chat, count, eventually, EXACT_COST, startHttpGateway, startStores, uid, usageRows, type HttpGateway, type Outcome, type Stores,
} from './harness.ts'

let redis: TestRedis
let store: Store
let stores: Stores
let rows: ReturnType<typeof usageRows>
let g: HttpGateway

beforeAll(async () => {
  stores = await startStores({ ownRedis: true })
  ;({ redis, store, rows } = stores)
  g = await startHttpGateway('redis', store, redis.url)
})

afterAll(async () => {
  await g?.close()
  await stores?.stop()
})

const redisClient = () => (g.ledger as RedisLedger).client

/** n concurrent requests, a third of them slow (2 s non-stream, 100 ms per streamed token), half streamed. */
function fire(key: string, n: number, tag: string, onDone?: (done: number) => void): Promise<Outcome[]> {
  let done = 0
  return Promise.all(Array.from({ length: n }, async (_, i) => {
    const words = `${i % 3 === 0 ? 'slow' : 'ok'} ${tag} ${i}`
    const o = await chat(g.url, key, body('exact', words, i % 2 === 0))
    onDone?.(++done)
    return o
  }))
}

/** Outcomes other than served or refused for budget, with what they said (a failure then shows why). */
const unexpected = (out: Outcome[]) =>
  out.filter((o) => o.status !== 200 && o.status !== 402).map((o) => `${o.status} ${o.error?.code ?? ''} ${o.error?.message ?? ''}`.trim())

/** Requests until one is refused for budget: the limit then holds exactly what was admitted. */
async function drainBudget(key: string): Promise<number> {
  let ok = 0
  for (let round = 0; round < 20; round++) {
    const out = await fire(key, 20, `drain${round}`)
    ok += count(out, (o) => o.status === 200)
    expect(unexpected(out)).toEqual([])
    if (count(out, (o) => o.status === 402) > 0) return ok
  }
  throw new Error('budget never ran out')
}

/** Phases 1 and 2 of both tests: 40 requests shipped to Postgres, then 30 settled but still only in Redis. */
async function history(key: string, t: string): Promise<void> {
  expect(count(await fire(key, 40, 'shipped'), (o) => o.status === 200)).toBe(40)
  await g.ship([t])
  expect((await rows.of(t)).length).toBe(40)
  expect(count(await fire(key, 30, 'unshipped'), (o) => o.status === 200)).toBe(30)
  expect(await redisClient().xlen(tenantKeys(t).ledger)).toBe(30)
}

/** After the run: nothing reserved, spent ≤ limit, and exactly the served requests in usage_records. */
async function expectExact(t: string, limit: number, K: number, served: number, label: string): Promise<void> {
  const snap = await eventually('reservations drained', () => g.ledger.snapshot(t, 'total'), (s) => s.reservedMicros === 0, 15_000)
  await g.ship([t])
  const r = await rows.of(t)
  const sum = r.reduce((n, x) => n + x.cost, 0)
  console.log(`[${label}] limit=${limit} served=${served} (K=${K}) spent=${snap.spentMicros} reserved=${snap.reservedMicros} ` +
    `rows=${r.length} Σrows=${sum}`)
  expect(snap.spentMicros).toBeLessThanOrEqual(limit)
  expect(served).toBe(K)
  expect(snap.spentMicros).toBe(K * EXACT_COST)
  expect(r.length).toBe(served)
  expect(sum).toBe(snap.spentMicros)
  expect(await store.sumUsageSince(t, 0)).toBe(snap.spentMicros)
}

test('FLUSHALL twice during 300 concurrent requests: exactly K admitted, nothing reserved, rows = served', async () => {
  const t = uid('flushall')
  const K = 150
  const limit = K * EXACT_COST + EXACT_COST - 1
  const key = await g.addTenant({ id: t, budgetUsdMicros: limit })
  await history(key, t)

  // Both losses hit while slow requests hold reservations and settled records wait in the stream.
  const flushes: Promise<unknown>[] = []
  const out = await fire(key, 300, 'load', (done) => {
    if (done === 20 || done === 120) flushes.push(redisClient().flushall())
  })
  await Promise.all(flushes)
  expect(flushes.length).toBe(2)
  expect(unexpected(out)).toEqual([])
  let served = 70 + count(out, (o) => o.status === 200)
  if (served < K) served += await drainBudget(key)
  await expectExact(t, limit, K, served, 'FLUSHALL mid-load')
}, 60_000)

test('kill -9 and an empty restart of Redis mid-load: refused while down, then exactly K admitted, rows = served', async () => {
  const t = uid('restart')
  const K = 150
  const limit = K * EXACT_COST + EXACT_COST - 1
  const key = await g.addTenant({ id: t, budgetUsdMicros: limit })
  await history(key, t)

  let crash: Promise<void> | null = null
  const out = await fire(key, 300, 'load', (done) => {
    if (done === 40) crash = redis.kill().then(() => Bun.sleep(300)).then(() => redis.restart())
  })
  await crash
  // Down: only 200 (admitted before the kill), 402, or the fail-closed 503 budget_unavailable.
  expect(count(out, (o) => ![200, 402, 503].includes(o.status))).toBe(0)
  expect(count(out, (o) => o.status === 503)).toBeGreaterThan(0)
  let served = 70 + count(out, (o) => o.status === 200)
  await eventually('Redis back', () => redisClient().ping().catch(() => null), (p) => p === 'PONG', 10_000)
  if (served < K) served += await drainBudget(key)
  await expectExact(t, limit, K, served, 'kill -9 + restart mid-load')
}, 60_000)
