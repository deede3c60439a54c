/** Usage shipper: Redis ledger streams → store, exactly once, surviving store outages and crashed consumers. */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { Redis } from 'ioredis'
import { createRedisLedger, type RedisLedger } from '../../../src/budget/redis-ledger.ts'
import { registerScripts, tenantKeys } from '../../../src/budget/scripts.ts'
import { createUsageShipper } from '../../../src/budget/usage-shipper.ts'
import { startRedis, type TestRedis } from '../../helpers/redis.ts'
import { FakeStore, uid, usage } from '../../unit/budget/ledger-contract.ts'

let redis: TestRedis
let admin: Redis
let ledger: RedisLedger
let store: FakeStore

beforeAll(async () => {
  redis = await startRedis()
  admin = new Redis(redis.url)
  store = new FakeStore()
  ledger = await createRedisLedger({ url: redis.url, rebuild: (t, _pk, exclude) => store.sumUsageSince(t, 0, exclude), commandTimeoutMs: 2000 })
})
afterAll(async () => {
  await ledger?.close()
  admin?.disconnect()
  await redis?.stop()
})

/** Each test uses its own consumer group so tests sharing one Redis do not see each other's entries as theirs. */
async function settleMany(tenants: string[], n: number): Promise<string[]> {
  const ids: string[] = []
  await Promise.all(Array.from({ length: n }, (_, i) => {
    const t = tenants[i % tenants.length]
    const id = uid('req')
    ids.push(id)
    return ledger.settle({ tenantId: t, periodKey: 'total', requestId: id, costMicros: 10 + i, record: usage(t, id, 0) })
  }))
  return ids
}

const rowsOf = (ids: string[]) => ids.filter(id => store.rows.has(id)).length

test('records reach the store exactly once and leave the streams', async () => {
  const tenants = [uid('a'), uid('b'), uid('c')]
  const ids = await settleMany(tenants, 120)
  const inserted: string[] = []
  const spy = { insertUsage: async (r: Parameters<FakeStore['insertUsage']>[0]) => { inserted.push(...r.map(x => x.requestId)); return store.insertUsage(r) } }
  const shipper = createUsageShipper({ source: ledger, discover: false, store: spy, batchSize: 50, group: uid('g') })
  for (const t of tenants) await shipper.addTenant(t)
  await shipper.flush()
  expect(rowsOf(ids)).toBe(120)
  const mine = inserted.filter(id => ids.includes(id))
  expect(new Set(mine).size).toBe(mine.length) // no record inserted twice
  for (const t of tenants) expect(await admin.xlen(tenantKeys(t).ledger)).toBe(0)
  const r = store.rows.get(ids[7])!
  expect(r.costUsdMicros).toBe(17) // the settled cost, not the record's placeholder
  await shipper.stop()
})

test('the client-visible request id rides the ledger stream to the store; a record without one still ships', async () => {
  const t = uid('crid')
  const [a, b] = [uid('req'), uid('req')]
  await ledger.settle({ tenantId: t, periodKey: 'total', requestId: a, costMicros: 5, record: { ...usage(t, a, 0), clientRequestId: 'req_client_abc' } })
  await ledger.settle({ tenantId: t, periodKey: 'total', requestId: b, costMicros: 5, record: usage(t, b, 0) })
  const shipper = createUsageShipper({ source: ledger, discover: false, store, group: uid('g') })
  await shipper.addTenant(t)
  await shipper.flush()
  await shipper.stop()
  expect(store.rows.get(a)!.clientRequestId).toBe('req_client_abc')
  expect(store.rows.get(b)!.clientRequestId).toBeUndefined()
})

test('store down: records stay pending and are shipped once it is back (backoff, nothing lost)', async () => {
  const t = uid('pgdown')
  const ids = await settleMany([t], 30)
  const errors: unknown[] = []
  const shipper = createUsageShipper({ source: ledger, discover: false, store, batchSize: 10, intervalMs: 5, group: uid('g'), onError: e => errors.push(e) })
  await shipper.addTenant(t)
  store.failNext = 4
  shipper.start()
  await expect(shipper.flush()).rejects.toThrow('store down')
  // Backoff: intervalMs × 2^failures between attempts; wait for the background loop to get through.
  for (let i = 0; i < 200 && rowsOf(ids) < 30; i++) await Bun.sleep(10)
  await shipper.stop()
  expect(store.failNext).toBe(0)
  expect(errors.length).toBeGreaterThanOrEqual(1)
  expect(rowsOf(ids)).toBe(30)
  expect(await admin.xlen(tenantKeys(t).ledger)).toBe(0)
})

test('a crashed consumer\'s pending records are claimed by a new shipper', async () => {
  const t = uid('crash')
  const group = uid('g')
  const ids = await settleMany([t], 25)
  const stream = tenantKeys(t).ledger
  // The dead gateway read everything and died before inserting/acking.
  await admin.xgroup('CREATE', stream, group, '0')
  await admin.xreadgroup('GROUP', group, 'dead-gateway', 'COUNT', 100, 'STREAMS', stream, '>')
  const live = createUsageShipper({ source: ledger, discover: false, store, group, claimIdleMs: 50, batchSize: 10 })
  await live.addTenant(t)
  expect(await live.tick()).toBe(0) // too fresh to be taken over
  await Bun.sleep(60)
  await live.flush()
  expect(rowsOf(ids)).toBe(25)
  expect(await admin.xlen(stream)).toBe(0)
  const pending = (await admin.xpending(stream, group)) as [number, ...unknown[]]
  expect(pending[0]).toBe(0)
})

test('lost counter after partial shipping is rebuilt exactly (store + stream, none twice)', async () => {
  const t = uid('rebuild')
  const shipper = createUsageShipper({ source: ledger, discover: false, store, batchSize: 7, group: uid('g') })
  await shipper.addTenant(t)
  const ids = await settleMany([t], 20) // Σ cost = Σ (10+i) = 390
  await shipper.tick() // 7 shipped, 13 still in the stream
  expect(rowsOf(ids)).toBe(7)
  await admin.del(tenantKeys(t).spent('total'))
  expect((await ledger.snapshot(t, 'total')).spentMicros).toBe(390)
  await shipper.flush()
  expect(rowsOf(ids)).toBe(20)
  await admin.del(tenantKeys(t).spent('total'))
  expect((await ledger.snapshot(t, 'total')).spentMicros).toBe(390)
  expect(await admin.exists(tenantKeys(t).shipLease)).toBe(0) // released by the ack and by the rebuild
})

test('a shipper that died between insert and ack: the rebuild counts its batch once; re-delivery is a no-op insert', async () => {
  const t = uid('insert-no-ack')
  const group = uid('g')
  const k = tenantKeys(t)
  const ids = await settleMany([t], 20) // Σ = 390
  // The dying shipper inserts, then hangs forever before its ack (a process frozen or killed there): its lease
  // stays until it expires (leaseMs), its entries stay pending under its consumer name.
  let inserted!: () => void
  const insertedP = new Promise<void>(r => (inserted = r))
  let unfreeze!: () => void
  const frozen = new Promise<void>(r => (unfreeze = r))
  const dying = createUsageShipper({
    source: ledger, discover: false, group, consumer: 'dying', leaseMs: 300,
    store: { insertUsage: async recs => { await store.insertUsage(recs); inserted(); await frozen } },
  })
  await dying.addTenant(t)
  const dyingTick = dying.tick()
  await insertedP
  expect(rowsOf(ids)).toBe(20)
  expect(await admin.xlen(k.ledger)).toBe(20) // in the store AND in the stream
  await admin.del(k.spent('total'))
  const t0 = performance.now()
  expect((await ledger.snapshot(t, 'total')).spentMicros).toBe(390) // not 780
  expect(performance.now() - t0).toBeGreaterThan(150) // it waited for the dead holder's lease to expire
  // A settle after the rebuild, then a live shipper takes the dead consumer's entries over (XAUTOCLAIM).
  await ledger.settle({ tenantId: t, periodKey: 'total', requestId: `${t}-late`, costMicros: 10, record: usage(t, `${t}-late`, 0) })
  const live = createUsageShipper({ source: ledger, discover: false, store, group, consumer: 'live', claimIdleMs: 50 })
  await live.addTenant(t)
  await Bun.sleep(60)
  await live.flush()
  expect(rowsOf([...ids, `${t}-late`])).toBe(21)
  expect(await admin.xlen(k.ledger)).toBe(0)
  // The frozen shipper wakes up: its lease is long gone, so its ack is refused and changes nothing.
  unfreeze()
  await dyingTick
  expect((await admin.xpending(k.ledger, group) as [number])[0]).toBe(0)
  expect(await store.sumUsageSince(t, 0)).toBe(400)
  await admin.del(k.spent('total'))
  expect((await ledger.snapshot(t, 'total')).spentMicros).toBe(400)
})

test('an insert slower than the lease: the ack is refused and the batch is re-inserted harmlessly next pass', async () => {
  const t = uid('slow-insert')
  const group = uid('g')
  const ids = await settleMany([t], 10)
  let calls = 0
  const slow = {
    insertUsage: async (r: Parameters<FakeStore['insertUsage']>[0]) => {
      if (calls++ === 0) await Bun.sleep(150)
      return store.insertUsage(r)
    },
  }
  const shipper = createUsageShipper({ source: ledger, discover: false, store: slow, group, leaseMs: 50 })
  await shipper.addTenant(t)
  await shipper.tick()
  expect(rowsOf(ids)).toBe(10)
  expect(await admin.xlen(tenantKeys(t).ledger)).toBe(10) // not acked: the lease had expired
  await shipper.flush()
  expect(calls).toBe(2)
  expect(rowsOf(ids)).toBe(10)
  expect(await admin.xlen(tenantKeys(t).ledger)).toBe(0)
})

test('a busy lease: the shipper skips the tenant and flush() waits for it; a rebuild waits for it too', async () => {
  const t = uid('busy')
  const k = tenantKeys(t)
  const ids = await settleMany([t], 5) // Σ = 60
  const shipper = createUsageShipper({ source: ledger, discover: false, store, group: uid('g'), leaseMs: 1000 })
  await shipper.addTenant(t)
  await admin.set(k.shipLease, 'someone-else', 'PX', 200)
  expect(await shipper.tick()).toBe(0)
  expect(rowsOf(ids)).toBe(0)
  await shipper.flush() // waits until the other holder's lease expires
  expect(rowsOf(ids)).toBe(5)
  await admin.set(k.shipLease, 'someone-else', 'PX', 100)
  await admin.del(k.spent('total'))
  expect((await ledger.snapshot(t, 'total')).spentMicros).toBe(60)
})

test('stream and group gone (Redis restarted empty): the very next pass recreates the group and ships', async () => {
  const t = uid('nogroup')
  const shipper = createUsageShipper({ source: ledger, discover: false, store, group: uid('g') })
  await shipper.addTenant(t)
  const first = await settleMany([t], 3)
  await shipper.flush()
  expect(rowsOf(first)).toBe(3)
  await admin.del(tenantKeys(t).ledger) // the group goes with the stream
  const second = await settleMany([t], 4)
  expect(await shipper.tick()).toBe(4)
  expect(rowsOf(second)).toBe(4)
  expect(await admin.xlen(tenantKeys(t).ledger)).toBe(0)
})

test('malformed stream entries are acked away instead of blocking the stream', async () => {
  const t = uid('junk')
  await admin.xadd(tenantKeys(t).ledger, '*', 'hello', 'world')
  const ids = await settleMany([t], 3)
  const shipper = createUsageShipper({ source: ledger, discover: false, store, group: uid('g') })
  await shipper.addTenant(t)
  await shipper.flush()
  expect(rowsOf(ids)).toBe(3)
  expect(await admin.xlen(tenantKeys(t).ledger)).toBe(0)
})

test('a record crosses the wire as one JSON array each way, is stored one field per column, and ships byte for byte', async () => {
  const t = uid('wire')
  const id = uid('req')
  // Everything JSON or cjson escapes, and text beyond ASCII, in the fields that carry names.
  const record = { ...usage(t, id, 0), model: 'a/b "quoted" \\ back\u0001slash é 模型 🚀', provider: 'p/1', clientRequestId: 'req_x:y.z-1' }
  await ledger.settle({ tenantId: t, periodKey: 'total', requestId: id, costMicros: 42, record })
  // What any gateway version reads: period, cost, then one field per column.
  const [[, stored]] = (await admin.xrange(tenantKeys(t).ledger, '-', '+')) as [string, string[]][]
  expect(stored.slice(0, 6)).toEqual(['period', 'total', 'cost', '42', 'requestId', id])
  expect(stored[stored.indexOf('model') + 1]).toBe(record.model)
  const shipper = createUsageShipper({ source: ledger, discover: false, store, group: uid('g') })
  await shipper.addTenant(t)
  await shipper.flush()
  expect(store.rows.get(id)).toEqual({ ...record, costUsdMicros: 42 })
  expect(await admin.xlen(tenantKeys(t).ledger)).toBe(0)
  await shipper.stop()
})

test('a lone UTF-16 surrogate in a name is stored as U+FFFD (as when each field was its own argument), not refused', async () => {
  const t = uid('surrogate')
  const id = uid('req')
  await ledger.settle({ tenantId: t, periodKey: 'total', requestId: id, costMicros: 7, record: { ...usage(t, id, 0), model: 'm\ud800x' } })
  const [[, stored]] = (await admin.xrange(tenantKeys(t).ledger, '-', '+')) as [string, string[]][]
  expect(stored[stored.indexOf('model') + 1]).toBe('m\ufffdx')
})

test.each([
  ['an undecodable string', '["requestId", "\\ud800"]'],
  ['not an array', '"requestId"'],
  ['an empty list', '[]'],
  ['an odd number of items', '["requestId", "r", "model"]'],
  ['a number among the strings', '["requestId", "r", "promptTokens", 3]'],
  ['a nested array', '["requestId", ["r"]]'],
])('settle.lua refuses a field list that is %s before it writes anything', async (_, fieldsJson) => {
  const t = uid('refused')
  const id = uid('req')
  await ledger.ensureCounter(t, 'total')
  const k = tenantKeys(t)
  const before = await admin.get(k.spent('total'))
  await expect(ledger.scripts.settle([k.spent('total'), k.reserved('total'), k.resv, k.resvAmt, k.done, k.ledger, k.epoch],
    [id, 500, Date.now(), 60_000, 'total', '', fieldsJson])).rejects.toThrow()
  expect(await admin.get(k.spent('total'))).toBe(before)
  expect(await admin.zscore(k.done, id)).toBeNull()
  expect(await admin.xlen(k.ledger)).toBe(0)
})

test('default discovery: tenants come from gw:ledger:tenants, filled by settle (own Redis: it ships everything)', async () => {
  const own = await startRedis({ own: true })
  const l = await createRedisLedger({ url: own.url, rebuild: async () => 0, commandTimeoutMs: 2000 })
  try {
    const s = new FakeStore()
    const tenants = [uid('d1'), uid('d2')]
    for (const [i, t] of tenants.entries()) {
      await l.settle({ tenantId: t, periodKey: 'total', requestId: `x${i}`, costMicros: 5, record: usage(t, `x${i}`, 5) })
    }
    await Bun.sleep(20) // the SADD after settle is fire-and-forget
    const shipper = createUsageShipper({ client: l.client, store: s })
    await shipper.flush()
    expect([...s.rows.keys()].sort()).toEqual(['x0', 'x1'])
    await shipper.stop()
  } finally {
    await l.close()
    await own.stop()
  }
})

test('timer passes visit noted tenants at once and everyone else only at the periodic sweep', async () => {
  const [noted, quiet] = [uid('hot'), uid('quiet')]
  const [hotIds, quietIds] = [await settleMany([noted], 3), await settleMany([quiet], 3)]
  const shipper = createUsageShipper({ source: ledger, discover: false, store, intervalMs: 30, sweepEvery: 1_000_000, group: uid('g') })
  await shipper.addTenant(noted)
  await shipper.addTenant(quiet)
  shipper.noteSettled(noted)
  shipper.start() // pass 0 is a sweep: both ship
  const deadline = Date.now() + 3_000
  while ((rowsOf(hotIds) < 3 || rowsOf(quietIds) < 3) && Date.now() < deadline) await Bun.sleep(10)
  expect([rowsOf(hotIds), rowsOf(quietIds)]).toEqual([3, 3])
  await Bun.sleep(150) // a tenant that just shipped is looked at once more (it may have had more); let that pass
  // From now on only noted tenants are visited: a quiet tenant's new record waits, a noted one's ships.
  const [hot2, quiet2] = [await settleMany([noted], 2), await settleMany([quiet], 2)]
  shipper.noteSettled(noted)
  while (rowsOf(hot2) < 2 && Date.now() < deadline + 3_000) await Bun.sleep(10)
  await Bun.sleep(150) // several more timer passes
  expect(rowsOf(hot2)).toBe(2)
  expect(rowsOf(quiet2)).toBe(0)
  await shipper.flush() // a flush always visits everyone
  expect(rowsOf(quiet2)).toBe(2)
  await shipper.stop()
})

test('full sweeps are spaced in time, not in passes: a backlog shipped in many full batches brings none early', async () => {
  const [busy, quiet] = [uid('backlog'), uid('quiet')]
  const backlog = await settleMany([busy], 200)
  let clock = 0
  // 20 full batches of 10 follow each other at once; counted in passes, every 3rd would have been a full sweep.
  const shipper = createUsageShipper({ source: ledger, discover: false, store, batchSize: 10, intervalMs: 20, sweepEvery: 3, now: () => clock, group: uid('g') })
  await shipper.addTenant(busy)
  await shipper.addTenant(quiet)
  shipper.start() // pass 0 is a sweep
  const deadline = Date.now() + 5_000
  while (rowsOf(backlog) === 0 && Date.now() < deadline) await Bun.sleep(2)
  const late = await settleMany([quiet], 1) // after the first sweep, and never noted: only a sweep finds it
  while (rowsOf(backlog) < 200 && Date.now() < deadline) await Bun.sleep(5)
  expect(rowsOf(backlog)).toBe(200)
  await Bun.sleep(120) // several more timer passes (intervalMs 20); the clock stands still, so no sweep is due
  expect(rowsOf(late)).toBe(0)
  clock = 60 // 3 intervals later: the next timer pass is a full sweep
  while (rowsOf(late) === 0 && Date.now() < deadline) await Bun.sleep(5)
  expect(rowsOf(late)).toBe(1)
  await shipper.stop()
})

test('a sweep whose pass filled its batch carries on in the next passes until it has visited every tenant', async () => {
  const busy = uid('first')
  const quiet = Array.from({ length: 40 }, (_, i) => uid(`quiet${i}`))
  const backlog = await settleMany([busy], 200)
  const late = (await Promise.all(quiet.map((t) => settleMany([t], 1)))).flat()
  // Batches of 10: the first sweep's first 16 reads (the busy tenant first) fill it. No second sweep falls due (the
  // clock stands still), and the quiet tenants are never noted: only the same sweep, carried on, reaches them all.
  const shipper = createUsageShipper({ source: ledger, discover: false, store, batchSize: 10, intervalMs: 20, sweepEvery: 3, now: () => 0, group: uid('g') })
  try {
    await shipper.addTenant(busy)
    for (const t of quiet) await shipper.addTenant(t)
    shipper.start()
    const deadline = Date.now() + 5_000
    while ((rowsOf(late) < 40 || rowsOf(backlog) < 200) && Date.now() < deadline) await Bun.sleep(5)
    expect(rowsOf(late)).toBe(40)
    expect(rowsOf(backlog)).toBe(200)
  } finally {
    await shipper.stop()
  }
})

test('a sweep whose passes fail at the insert still reaches every tenant once the store is back', async () => {
  const quiet = Array.from({ length: 40 }, (_, i) => uid(`retry${i}`))
  const ids = (await Promise.all(quiet.map((t) => settleMany([t], 1)))).flat()
  const errors: unknown[] = []
  // Its first three passes fail at the insert, and no second sweep falls due: what the failed passes read must
  // still be shipped, and the sweep must still get round to the rest.
  const shipper = createUsageShipper({ source: ledger, discover: false, store, batchSize: 10, intervalMs: 5, sweepEvery: 3, now: () => 0, group: uid('g'), onError: (e) => errors.push(e) })
  try {
    for (const t of quiet) await shipper.addTenant(t)
    store.failNext = 3
    shipper.start()
    const deadline = Date.now() + 5_000
    while (rowsOf(ids) < 40 && Date.now() < deadline) await Bun.sleep(5)
    expect(errors.length).toBe(3)
    expect(rowsOf(ids)).toBe(40)
  } finally {
    store.failNext = 0
    await shipper.stop()
  }
})

test('ack.lua: acks and deletes every entry of a batch larger than one XDEL slice, counting each once', async () => {
  const t = uid('big-ack')
  const k = tenantKeys(t)
  const group = uid('g')
  // 2,345 entries: three XDEL slices of at most 1,000 ids, the last one partial.
  const ids = await settleMany([t], 2345)
  const scripts = registerScripts(admin)
  const token = 'tok-' + uid('l')
  const read = await scripts.shipRead([k.ledger, k.shipLease], [token, 10_000, group, 'c1', 5000, 30_000])
  expect(read[0]).toBe(1)
  const entries = (read as [1, [string, string][]])[1]
  expect(entries.length).toBe(ids.length)
  const entryIds = entries.map((e) => e[0])
  // An id given twice is acked (and counted) once.
  expect(await scripts.ack([k.ledger, k.shipLease], [token, group, ...entryIds, entryIds[0]!])).toBe(ids.length)
  expect(await admin.xlen(k.ledger)).toBe(0)
  expect(await admin.xpending(k.ledger, group)).toEqual([0, null, null, null])
  expect(await admin.exists(k.shipLease)).toBe(0)
})

test('ack.lua: an entry not pending for the group (acked before) is neither counted nor deleted', async () => {
  const t = uid('ack-partial')
  const k = tenantKeys(t)
  const group = uid('g')
  await settleMany([t], 3)
  const scripts = registerScripts(admin)
  const token = 'tok-' + uid('l')
  const read = await scripts.shipRead([k.ledger, k.shipLease], [token, 10_000, group, 'c1', 10, 30_000]) as [1, [string, string][]]
  const [a, b, c] = read[1].map((e) => e[0])
  await admin.xack(k.ledger, group, b!) // acked elsewhere but left in the stream
  expect(await scripts.ack([k.ledger, k.shipLease], [token, group, a!, b!, c!])).toBe(2)
  const left = (await admin.xrange(k.ledger, '-', '+')).map((e) => e[0])
  expect(left).toEqual([b!])
})
