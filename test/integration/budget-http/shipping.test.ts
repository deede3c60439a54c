/**
 * Redis ledger → Postgres usage_records through the usage shipper, driven by real HTTP traffic: one row per
 * settled request (200s and settled disconnects), exactly once, across a Postgres outage (budgets keep being
 * enforced by Redis meanwhile) and across a gateway that dies right after settling.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { createUsageShipper } from '../../../src/budget/usage-shipper.ts'
import type { RedisLedger } from '../../../src/budget/redis-ledger.ts'
import type { Store } from '../../../src/store/types.ts'
import { type PgInstance } from '../../helpers/postgres.ts'
import { type TestRedis } from '../../helpers/redis.ts'
import { body, chat, count, eventually, EXACT_COST, startHttpGateway, uid, usageRows, type HttpGateway, type Outcome, startStores, type Stores } from './harness.ts'

let pg: PgInstance
let redis: TestRedis
let store: Store
let stores: Stores
let rows: ReturnType<typeof usageRows>
let g: HttpGateway

beforeAll(async () => {
  stores = await startStores({ ownPostgres: true })
  ;({ pg, redis, store, rows } = stores)
  g = await startHttpGateway('redis', store, redis.url)
})

afterAll(async () => {
  await g?.close()
  await stores?.stop()
})

const client = () => (g.ledger as RedisLedger).client

/** n requests at once: plain ones (stream and not) and, every 5th, a stream the client abandons mid-way. */
async function traffic(key: string, n: number, tag: string): Promise<Outcome[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => i % 5 === 4
    ? chat(g.url, key, body('exact', `slow ${tag} ${i}`, true), { abortOnFirstContent: true })
    : chat(g.url, key, body('exact', `ok ${tag} ${i}`, i % 2 === 0))))
}
const settledCount = (out: Outcome[]) => count(out, (o) => o.status === 200)

async function quiesced(t: string): Promise<number> {
  const s = await eventually('reserved back to 0', () => g.ledger.snapshot(t, 'total'), (x) => x.reservedMicros === 0)
  return s.spentMicros
}

test('every settled request (200s and settled disconnects) becomes exactly one row', async () => {
  const t = uid('ship')
  const key = await g.addTenant({ id: t, budgetUsdMicros: 1_000 * EXACT_COST })
  const out = await traffic(key, 100, 'a')
  const spent = await quiesced(t)
  const shipper = createUsageShipper({ client: client(), store, discover: false })
  await shipper.addTenant(t)
  await shipper.flush()
  const r = await rows.of(t)
  expect(r.length).toBe(settledCount(out)) // every 200, incl. the 20 aborted streams (settled, not released)
  expect(count(r, (x) => x.status === 'client_disconnect')).toBe(20)
  expect(r.reduce((n, x) => n + x.cost, 0)).toBe(spent)
  await shipper.flush() // a second flush ships nothing new
  expect((await rows.of(t)).length).toBe(r.length)
  await shipper.stop()
}, 30_000)

test('Postgres down: requests still served and limited by Redis; after restart every row arrives once', async () => {
  const t = uid('pgdown')
  const K = 60
  const limit = K * EXACT_COST + 100
  const key = await g.addTenant({ id: t, budgetUsdMicros: limit })
  const shipper = createUsageShipper({ client: client(), store, discover: false })
  await shipper.addTenant(t)
  const first = await traffic(key, 20, 'before')
  await quiesced(t)
  await shipper.flush()
  expect((await rows.of(t)).length).toBe(20)

  await pg.kill()
  const during = await traffic(key, 150, 'during')
  // The warmed tenant needs no database: served while Postgres is down, and the limit still holds.
  expect(settledCount(first) + settledCount(during)).toBe(K)
  expect(count(during, (o) => o.status === 402)).toBe(150 - (K - 20))
  const spent = await quiesced(t)
  expect(spent).toBe(K * EXACT_COST) // strict: every settled request costs exactly its reservation here
  expect(spent).toBeLessThanOrEqual(limit)
  await expect(shipper.flush()).rejects.toThrow()

  await pg.restart()
  await eventually('shipped after restart', async () => { await shipper.flush().catch(() => {}); return (await rows.of(t)).length }, (n) => n >= K, 15_000)
  await shipper.flush()
  const r = await rows.of(t)
  expect(r.length).toBe(K)
  expect(new Set(r.map((x) => x.request_id)).size).toBe(K)
  expect(r.reduce((n, x) => n + x.cost, 0)).toBe(spent)
  expect(await client().xlen(`gw:{t:${t}}:ledger`)).toBe(0)
  await shipper.stop()
}, 60_000)

test('a gateway that dies right after settle: its records still arrive (unread, and read-but-unacked)', async () => {
  const t = uid('crash')
  const key = await g.addTenant({ id: t, budgetUsdMicros: 1_000 * EXACT_COST })
  const a = await traffic(key, 30, 'a')
  await quiesced(t)
  // Gateway A read a batch, then died before its insert was acked (the insert never reached the store).
  let dying = true
  const crashed = createUsageShipper({
    client: client(), discover: false, consumer: 'gateway-a',
    store: { insertUsage: async () => { if (dying) throw new Error('process killed') } },
  })
  await crashed.addTenant(t)
  await expect(crashed.tick()).rejects.toThrow('process killed')
  await crashed.stop()
  dying = false
  // More settles that no shipper ever read (gateway B died right after settling them).
  const b = await traffic(key, 30, 'b')
  const spent = await quiesced(t)
  expect((await rows.of(t)).length).toBe(0)

  // A fresh gateway's shipper (never flushed the old one) takes over the dead consumer's pending entries.
  const fresh = createUsageShipper({ client: client(), store, discover: false, consumer: 'gateway-c', claimIdleMs: 50 })
  await fresh.addTenant(t)
  await Bun.sleep(80)
  await fresh.flush()
  const r = await rows.of(t)
  expect(r.length).toBe(settledCount(a) + settledCount(b))
  expect(r.reduce((n, x) => n + x.cost, 0)).toBe(spent)
  const pending = (await client().xpending(`gw:{t:${t}}:ledger`, 'usage-shipper')) as [number, ...unknown[]]
  expect(pending[0]).toBe(0)
  await fresh.stop()
}, 30_000)
