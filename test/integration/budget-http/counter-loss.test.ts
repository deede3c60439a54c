/**
 * Redis loses a tenant's spent counter (DEL) while the gateway serves HTTP traffic: the next request rebuilds it
 * from Postgres usage_records (plus records still in the ledger stream) before it is admitted, and the limit
 * still admits exactly K requests overall.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import type { RedisLedger } from '../../../src/budget/redis-ledger.ts'
import { tenantKeys } from '../../../src/budget/scripts.ts'
import { createUsageShipper } from '../../../src/budget/usage-shipper.ts'
import type { Store } from '../../../src/store/types.ts'
import { type PgInstance } from '../../helpers/postgres.ts'
import { type TestRedis } from '../../helpers/redis.ts'
import { body, chat, count, eventually, EXACT_COST, startHttpGateway, uid, usageRows, type HttpGateway, startStores, type Stores } from './harness.ts'

let pg: PgInstance
let redis: TestRedis
let store: Store
let stores: Stores
let rows: ReturnType<typeof usageRows>
let g: HttpGateway

beforeAll(async () => {
  stores = await startStores()
  ;({ pg, redis, store, rows } = stores)
  g = await startHttpGateway('redis', store, redis.url)
})

afterAll(async () => {
  await g?.close()
  await stores?.stop()
})

const redisClient = () => (g.ledger as RedisLedger).client
const fire = (key: string, n: number, tag: string) =>
  Promise.all(Array.from({ length: n }, (_, i) => chat(g.url, key, body('exact', `ok ${tag} ${i}`, i % 2 === 0))))

test('DEL of the spent counter: the next request rebuilds it from Postgres + stream; the limit holds exactly', async () => {
  const t = uid('lost')
  const K = 150
  const limit = K * EXACT_COST + EXACT_COST - 1
  const key = await g.addTenant({ id: t, budgetUsdMicros: limit })
  const spentKey = tenantKeys(t).spent('total')

  // Phase 1: 40 requests, shipped to Postgres. Phase 2: 30 more, still in the Redis stream only.
  expect(count(await fire(key, 40, 'p1'), (o) => o.status === 200)).toBe(40)
  await g.ship([t])
  expect((await rows.of(t)).length).toBe(40)
  expect(count(await fire(key, 30, 'p2'), (o) => o.status === 200)).toBe(30)
  expect(Number(await redisClient().get(spentKey))).toBe(70 * EXACT_COST)

  // The counter is lost; Postgres alone would say 40 requests' worth.
  await redisClient().del(spentKey)
  expect(await store.sumUsageSince(t, 0)).toBe(40 * EXACT_COST)
  const one = await chat(g.url, key, body('exact', 'ok after-loss', false))
  expect(one.status).toBe(200)
  // Rebuilt before the request was admitted (store 40 + stream 30), then the request itself was added.
  expect(Number(await redisClient().get(spentKey))).toBe(71 * EXACT_COST)

  // Phase 3: 300 concurrent requests with the counter deleted three more times while they run.
  const dels = [5, 20, 40].map((ms) => Bun.sleep(ms).then(() => redisClient().del(spentKey)))
  const out = await fire(key, 300, 'p3')
  await Promise.all(dels)
  const ok = count(out, (o) => o.status === 200)
  expect(ok).toBe(K - 71)
  expect(count(out, (o) => o.status === 402)).toBe(300 - ok)

  const snap = await eventually('quiesced', () => g.ledger.snapshot(t, 'total'), (s) => s.reservedMicros === 0)
  console.log(`[counter loss] limit=${limit} admitted=${71 + ok} spent=${snap.spentMicros} reserved=${snap.reservedMicros}`)
  expect(snap.spentMicros).toBe(K * EXACT_COST)
  expect(snap.spentMicros).toBeLessThanOrEqual(limit)
  await g.ship([t])
  const r = await rows.of(t)
  expect(r.length).toBe(K)
  expect(r.reduce((n, x) => n + x.cost, 0)).toBe(snap.spentMicros)
}, 30_000)

test('a lost counter with the shipper running concurrently: the rebuilt counter equals the rows exactly', async () => {
  const t = uid('lost-shipping')
  const K = 100
  const limit = K * EXACT_COST + EXACT_COST - 1
  const key = await g.addTenant({ id: t, budgetUsdMicros: limit })
  const spentKey = tenantKeys(t).spent('total')
  expect(count(await fire(key, 30, 'warm'), (o) => o.status === 200)).toBe(30)
  let shipping = true
  const shipLoop = (async () => { while (shipping) { await g.ship([t]); await Bun.sleep(1) } })()
  const dels = [3, 10, 25, 50].map((ms) => Bun.sleep(ms).then(() => redisClient().del(spentKey)))
  const out = await fire(key, 300, 'race')
  await Promise.all(dels)
  shipping = false
  await shipLoop
  await g.ship([t])
  const snap = await eventually('quiesced', () => g.ledger.snapshot(t, 'total'), (s) => s.reservedMicros === 0)
  const inStore = await store.sumUsageSince(t, 0)
  const ok = 30 + count(out, (o) => o.status === 200)
  console.log(`[counter loss + shipper race] limit=${limit} admitted=${ok} spent(redis)=${snap.spentMicros} Σrows=${inStore} ` +
    `overstated=${snap.spentMicros - inStore} µUSD`)
  expect(count(out, (o) => o.status !== 200 && o.status !== 402)).toBe(0) // no 503: every rebuild got the lease
  expect(inStore).toBe(ok * EXACT_COST) // the durable ledger is exact
  expect(ok).toBe(K) // and so is the counter: exactly K admitted, as without the loss
  expect(snap.spentMicros).toBe(inStore)
  expect(await redisClient().xlen(tenantKeys(t).ledger)).toBe(0)
}, 30_000)

/**
 * The shipper has inserted a batch into Postgres but not yet acked it (the records are in both places) when the
 * counter is lost. The rebuild needs the tenant's shipping lease, which the shipper holds from read to ack: it
 * waits for the ack, then counts each record once.
 */
test('rebuild while a shipped batch is not yet acked is exact', async () => {
  const t = uid('lost-unacked')
  const key = await g.addTenant({ id: t, budgetUsdMicros: 1_000 * EXACT_COST })
  expect(count(await fire(key, 30, 'a'), (o) => o.status === 200)).toBe(30)
  let inserted!: () => void
  let letAck!: () => void
  const insertedP = new Promise<void>((r) => (inserted = r))
  const ackGate = new Promise<void>((r) => (letAck = r))
  const shipper = createUsageShipper({
    client: redisClient(), discover: false,
    store: { insertUsage: async (recs) => { await store.insertUsage(recs); inserted(); await ackGate } },
  })
  await shipper.addTenant(t)
  const flushing = shipper.flush()
  await insertedP
  expect((await rows.of(t)).length).toBe(30)
  expect(await redisClient().xlen(tenantKeys(t).ledger)).toBe(30) // in Postgres and still in the stream
  await redisClient().del(tenantKeys(t).spent('total'))
  let answered = false
  const req = chat(g.url, key, body('exact', 'ok rebuild', false)).then((o) => { answered = true; return o })
  await Bun.sleep(150)
  expect(answered).toBe(false) // the rebuild waits for the shipper's lease
  letAck()
  expect((await req).status).toBe(200)
  await flushing
  await g.ship([t])
  const snap = await g.ledger.snapshot(t, 'total')
  const inStore = await store.sumUsageSince(t, 0)
  console.log(`[unacked batch + lost counter] spent(redis)=${snap.spentMicros} Σrows=${inStore}`)
  expect(inStore).toBe(31 * EXACT_COST)
  expect(snap.spentMicros).toBe(inStore)
}, 30_000)

test('a shipper that crashed between insert and ack: the rebuild counts its batch once, re-delivery acks it', async () => {
  const t = uid('lost-crashed')
  const k = tenantKeys(t)
  const key = await g.addTenant({ id: t, budgetUsdMicros: 1_000 * EXACT_COST })
  expect(count(await fire(key, 25, 'a'), (o) => o.status === 200)).toBe(25)
  // The insert commits, then the process dies before its ack: entries pending under its name, lease left to expire.
  let inserted!: () => void
  const insertedP = new Promise<void>((r) => (inserted = r))
  const dead = createUsageShipper({
    client: redisClient(), discover: false, consumer: 'dead-gateway', leaseMs: 300,
    store: { insertUsage: async (recs) => { await store.insertUsage(recs); inserted(); await new Promise(() => {}) } },
  })
  await dead.addTenant(t)
  void dead.tick()
  await insertedP
  await redisClient().del(k.spent('total'))
  expect((await chat(g.url, key, body('exact', 'ok after-crash', false))).status).toBe(200)
  expect(Number(await redisClient().get(k.spent('total')))).toBe(26 * EXACT_COST) // 25 once (not 50) + this one
  const fresh = createUsageShipper({ client: redisClient(), store, discover: false, consumer: 'fresh-gateway', claimIdleMs: 50 })
  await fresh.addTenant(t)
  await Bun.sleep(60)
  await fresh.flush() // claims the dead consumer's entries: re-insert is a no-op, then ack
  const r = await rows.of(t)
  expect(r.length).toBe(26)
  expect(r.reduce((n, x) => n + x.cost, 0)).toBe(26 * EXACT_COST)
  expect(await redisClient().xlen(k.ledger)).toBe(0)
  expect(((await redisClient().xpending(k.ledger, 'usage-shipper')) as [number])[0]).toBe(0)
  expect((await g.ledger.snapshot(t, 'total')).spentMicros).toBe(26 * EXACT_COST)
  await fresh.stop()
}, 30_000)
