/** The same scripts on a 3-master Redis Cluster: every script touches one slot thanks to the tenant hash tag. */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { Cluster } from 'ioredis'
import { createRedisLedger, type RedisLedger } from '../../../src/budget/redis-ledger.ts'
import { tenantKeys } from '../../../src/budget/scripts.ts'
import { createUsageShipper } from '../../../src/budget/usage-shipper.ts'
import { startRedisCluster, type TestRedisCluster } from '../../helpers/redis.ts'
import { FakeStore, ledgerContract, uid, usage } from '../../unit/budget/ledger-contract.ts'

let cluster: TestRedisCluster
let admin: Cluster
const opened: RedisLedger[] = []

beforeAll(async () => {
  cluster = await startRedisCluster(3)
  admin = new Cluster(cluster.nodes)
})
afterAll(async () => {
  await Promise.allSettled(opened.map(l => l.close()))
  admin?.disconnect()
  await cluster?.stop()
})

async function ledger(opts: Partial<Parameters<typeof createRedisLedger>[0]> = {}): Promise<RedisLedger> {
  const l = await createRedisLedger({ url: cluster.urls, cluster: true, rebuild: async () => 0, commandTimeoutMs: 2000, ...opts })
  opened.push(l)
  return l
}

ledgerContract('redis cluster', async ({ rebuild, now }) => {
  const l = await ledger({ rebuild, now })
  return {
    ledger: l,
    async loseCounter(tenantId, periodKey) {
      await admin.del(tenantKeys(tenantId).spent(periodKey))
      return l
    },
    close: async () => {},
  }
})

test('tenants spread over all masters; concurrent flows keep exact totals; SCRIPT FLUSH on every master is survived', async () => {
  const l = await ledger()
  const tenants = Array.from({ length: 12 }, () => uid('ct'))
  const masters = admin.nodes('master')
  expect(masters.length).toBe(3)
  const K = 20, R = 100
  const sums = new Map<string, number>()
  const flows = tenants.flatMap(t => Array.from({ length: 40 }, async (_, i) => {
    const id = `${t}-${i}`
    const r = await l.reserve({ tenantId: t, periodKey: 'total', limitMicros: K * R, requestId: id, amountMicros: R, ttlMs: 60_000 })
    if (!r.ok) return false
    if (i === 20) await Promise.all(masters.map(m => m.script('FLUSH')))
    const cost = Math.floor(Math.random() * (R + 1))
    await l.settle({ tenantId: t, periodKey: 'total', requestId: id, costMicros: cost, record: usage(t, id, cost) })
    sums.set(t, (sums.get(t) ?? 0) + cost)
    return true
  }))
  const results = await Promise.all(flows)
  expect(results.filter(Boolean).length).toBeGreaterThanOrEqual(tenants.length * K)
  for (const t of tenants) {
    const s = await l.snapshot(t, 'total')
    expect(s).toEqual({ spentMicros: sums.get(t) ?? 0, reservedMicros: 0 })
    expect(s.spentMicros).toBeLessThanOrEqual(K * R)
  }
  // 12 tenants hash to slots on more than one master (3 masters: all on one has probability 3^-11).
  const perMaster = await Promise.all(masters.map(async m => (await m.keys('gw:{t:ct-*}:spent:total')).length))
  expect(perMaster.filter(n => n > 0).length).toBeGreaterThanOrEqual(2)
  expect(perMaster.reduce((a, b) => a + b, 0)).toBe(tenants.length)
  // The shipper reads every tenant's stream, wherever its slot lives.
  const store = new FakeStore()
  const shipper = createUsageShipper({ source: l, store, batchSize: 100, group: uid('g'), discover: false })
  for (const t of tenants) await shipper.addTenant(t)
  await shipper.flush()
  for (const t of tenants) {
    expect(await store.sumUsageSince(t, 0)).toBe(sums.get(t) ?? 0)
    expect(await admin.xlen(tenantKeys(t).ledger)).toBe(0)
  }
})

test('every master emptied (FLUSHALL) while tenants hold reservations and unshipped records: recovered per tenant slot', async () => {
  const store = new FakeStore()
  const l = await ledger({ durable: store, rebuild: (t, _pk, exclude) => store.sumUsageSince(t, 0, exclude) })
  const tenants = Array.from({ length: 9 }, () => uid('cf'))
  const R = 100
  const id = (t: string, i: number) => `${t}/${i}`
  for (const t of tenants) {
    for (let i = 0; i < 4; i++) expect((await l.reserve({ tenantId: t, periodKey: 'total', limitMicros: 4 * R, requestId: id(t, i), amountMicros: R, ttlMs: 60_000 })).ok).toBe(true)
    await l.settle({ tenantId: t, periodKey: 'total', requestId: id(t, 0), costMicros: 70, record: usage(t, id(t, 0), 70) })
  }
  await Promise.all(admin.nodes('master').map(m => m.flushall()))
  for (const t of tenants) {
    // Full: 70 spent (written back to the store) + 3 live reservations put back = 370, so 31 more does not fit.
    expect(await l.reserve({ tenantId: t, periodKey: 'total', limitMicros: 4 * R, requestId: id(t, 9), amountMicros: 31, ttlMs: 60_000 }))
      .toEqual({ ok: false, reason: 'budget_exceeded', spentMicros: 70, reservedMicros: 3 * R })
    for (let i = 1; i < 4; i++) await l.settle({ tenantId: t, periodKey: 'total', requestId: id(t, i), costMicros: 10, record: usage(t, id(t, i), 10) })
    expect(await l.snapshot(t, 'total')).toEqual({ spentMicros: 100, reservedMicros: 0 })
    expect(store.rows.has(id(t, 0))).toBe(true)
  }
})
