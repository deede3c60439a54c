import { expect, test } from 'bun:test'
import { createMemoryLedger, type MemoryLedger } from '../../../src/budget/memory-ledger.ts'
import { randomInt } from '../../helpers/prng.ts'
import { FakeStore, ledgerContract, uid, usage } from './ledger-contract.ts'

ledgerContract('memory', async ({ rebuild, now, store }) => {
  const make = () => createMemoryLedger({ rebuild, now, sink: r => store.insertUsage(r), retryBaseMs: 5 })
  let ledger: MemoryLedger = make()
  return {
    ledger,
    // The in-process ledger loses its counters when the process restarts: flush, then start a new one.
    async loseCounter() {
      await ledger.flush()
      await ledger.close()
      ledger = make()
      return ledger
    },
    close: () => ledger.close(),
  }
})

test('memory: records reach the sink in batches; a failing sink keeps them and retries', async () => {
  const store = new FakeStore()
  const t = uid('t')
  const ledger = createMemoryLedger({ rebuild: async () => 0, sink: r => store.insertUsage(r), retryBaseMs: 5, batchSize: 10 })
  store.failNext = 3
  for (let i = 0; i < 25; i++) {
    await ledger.settle({ tenantId: t, periodKey: 'total', requestId: `r${i}`, costMicros: 1, record: usage(t, `r${i}`, 1) })
  }
  // Background retries with backoff (5, 10, 20 ms) eventually get everything through.
  for (let i = 0; i < 100 && ledger.pendingCount() > 0; i++) await Bun.sleep(10)
  expect(ledger.pendingCount()).toBe(0)
  expect(store.rows.size).toBe(25)
  await ledger.close()
})

test('memory: flush() rejects while the sink fails and keeps every record', async () => {
  const store = new FakeStore()
  const t = uid('t')
  const ledger = createMemoryLedger({ rebuild: async () => 0, sink: r => store.insertUsage(r), retryBaseMs: 60_000 })
  await ledger.flush()
  store.failNext = 1_000
  await ledger.settle({ tenantId: t, periodKey: 'total', requestId: 'a', costMicros: 5, record: usage(t, 'a', 5) })
  await expect(ledger.flush()).rejects.toThrow('store down')
  expect(ledger.pendingCount()).toBe(1)
  store.failNext = 0
  await ledger.flush()
  expect(ledger.pendingCount()).toBe(0)
  expect([...store.rows.keys()]).toEqual(['a'])
  await ledger.close()
})

test('memory: the settled record carries the settled cost, request and tenant ids', async () => {
  const got: unknown[] = []
  const ledger = createMemoryLedger({ rebuild: async () => 0, sink: r => { got.push(...r) } })
  await ledger.settle({ tenantId: 't', periodKey: 'total', requestId: 'x', costMicros: 42, record: usage('t', 'x', 0) })
  await ledger.flush()
  expect(got).toEqual([usage('t', 'x', 42, (got[0] as { startedAt: number }).startedAt)])
  await ledger.close()
})

test('memory: done ids are forgotten after the retention window (bounded memory)', async () => {
  let t = Date.now()
  const ledger = createMemoryLedger({ rebuild: async () => 0, sink: () => {}, now: () => t, doneRetentionMs: 1000 })
  await ledger.settle({ tenantId: 't', periodKey: 'total', requestId: 'old', costMicros: 1, record: usage('t', 'old', 1) })
  t += 1001
  await ledger.settle({ tenantId: 't', periodKey: 'total', requestId: 'new', costMicros: 1, record: usage('t', 'new', 1) })
  expect(await ledger.settle({ tenantId: 't', periodKey: 'total', requestId: 'new', costMicros: 1, record: usage('t', 'new', 1) })).toEqual({ settled: false })
  expect(await ledger.settle({ tenantId: 't', periodKey: 'total', requestId: 'old', costMicros: 1, record: usage('t', 'old', 1) })).toEqual({ settled: true })
  await ledger.close()
})

test('memory: a done id is remembered for the retention window to the millisecond', async () => {
  let t = 1_000_000
  const ledger = createMemoryLedger({ rebuild: async () => 0, sink: () => {}, now: () => t, doneRetentionMs: 1000 })
  const settle = (id: string) => ledger.settle({ tenantId: 't', periodKey: 'total', requestId: id, costMicros: 1, record: usage('t', id, 1) })
  await settle('a')
  t += 1000
  await settle('b') // forgets what is older than the retention: 'a' is exactly that old, so it stays
  expect(await settle('a')).toEqual({ settled: false })
  t += 1
  await settle('c')
  expect(await settle('a')).toEqual({ settled: true })
  await ledger.close()
})

test('memory: exactly-once over time matches a model (each id remembered until the retention has passed)', async () => {
  // Whatever the interleaving, an id is remembered until a later settle or release (of any tenant: the set is one,
  // src/budget/done-ids.ts) finds it older than the retention, and never forgotten before.
  const rand = randomInt(11)
  let t = 1_000_000
  const retention = 1_000
  const ledger = createMemoryLedger({ rebuild: async () => 0, sink: () => {}, now: () => t, doneRetentionMs: retention })
  const model = new Map<string, Map<string, number>>() // tenant → id → when done
  const markDone = (tenantId: string, id: string) => {
    const m = model.get(tenantId) ?? new Map<string, number>()
    model.set(tenantId, m)
    m.set(id, t)
    for (const ids of model.values()) for (const [x, at] of ids) if (at < t - retention) ids.delete(x)
  }
  const used: [string, string][] = []
  for (let step = 0; step < 1_500; step++) {
    t += rand(120)
    const tenantId = ['a', 'b'][rand(2)]!
    const again = rand(3) === 0 && used.length > 0 ? used[rand(used.length)]! : null
    // The gateway's own ids (UUIDs, kept compact) and any other string (kept as text).
    const [tid, id] = again ?? [tenantId, step % 2 === 0 ? Bun.randomUUIDv7() : `r${step}`]
    const known = model.get(tid)?.has(id) ?? false
    if (rand(4) === 0) {
      await ledger.release(tid, 'total', id)
      if (!known) markDone(tid, id)
    } else {
      const r = await ledger.settle({ tenantId: tid, periodKey: 'total', requestId: id, costMicros: 1, record: usage(tid, id, 1) })
      expect(r).toEqual({ settled: !known })
      if (!known) markDone(tid, id)
    }
    if (!again) used.push([tid, id])
  }
  await ledger.close()
})

test('memory: records a failed sink call did write (reply lost) are counted once by a rebuild', async () => {
  const store = new FakeStore()
  const t = uid('t')
  store.base.set(t, 1000)
  // The insert commits, then the sink reports failure: the records are in the store AND still queued.
  const ledger = createMemoryLedger({
    rebuild: (tenantId, _pk, exclude) => store.sumUsageSince(tenantId, 0, exclude),
    sink: async r => { await store.insertUsage(r); throw new Error('connection lost after commit') },
    retryBaseMs: 60_000,
  })
  // No reserve yet: the counter does not exist, so these settles leave it missing (counted at the rebuild).
  for (let i = 0; i < 4; i++) {
    await ledger.settle({ tenantId: t, periodKey: 'total', requestId: `r${i}`, costMicros: 10, record: usage(t, `r${i}`, 10) })
  }
  await expect(ledger.flush()).rejects.toThrow('connection lost')
  expect(store.rows.size).toBe(4)
  expect(ledger.pendingCount()).toBe(4)
  expect(await ledger.snapshot(t, 'total')).toEqual({ spentMicros: 1040, reservedMicros: 0 })
  await ledger.close()
})

test('memory: every failed hand-over to the sink is reported with what waits, and the recovery once', async () => {
  const store = new FakeStore()
  const t = uid('t')
  const told: Array<[string | null, number]> = []
  const ledger = createMemoryLedger({
    rebuild: async () => 0, sink: r => store.insertUsage(r), retryBaseMs: 5,
    onSinkError: (e, pending) => told.push([e === null ? null : String(e), pending]),
  })
  store.failNext = 2
  await ledger.settle({ tenantId: t, periodKey: 'total', requestId: 'a', costMicros: 5, record: usage(t, 'a', 5) })
  for (let i = 0; i < 100 && ledger.pendingCount() > 0; i++) await Bun.sleep(10)
  expect(ledger.pendingCount()).toBe(0)
  expect(told).toEqual([['Error: store down', 1], ['Error: store down', 1], [null, 0]])
  await ledger.settle({ tenantId: t, periodKey: 'total', requestId: 'b', costMicros: 5, record: usage(t, 'b', 5) })
  await ledger.flush()
  expect(told.length).toBe(3) // a success after successes is not news
  await ledger.close()
})

test('memory: a missing counter is rebuilt after the batch in the sink, not after every batch still queued', async () => {
  const events: string[] = []
  const pending: Array<() => void> = []
  const stored = new Map<string, number>() // what the sink has written: requestId → cost
  const ledger = createMemoryLedger({
    batchSize: 2,
    sink: (records) => {
      events.push(`sink ${records.map((r) => r.requestId).join(',')}`)
      return new Promise<void>((resolve) => pending.push(() => {
        for (const r of records) stored.set(r.requestId, r.costUsdMicros)
        resolve()
      }))
    },
    rebuild: async (tenantId, _pk, exclude) => {
      events.push(`rebuild ${tenantId}`)
      let sum = 0
      for (const [id, cost] of stored) if (id.startsWith(tenantId) && !exclude.includes(id)) sum += cost
      return sum
    },
  })
  const t = 'busy'
  await ledger.ensureCounter(t, 'total')
  events.length = 0
  // Six settles queue three batches of two; the first goes to the sink and is held there.
  for (let i = 0; i < 6; i++) await ledger.settle({ tenantId: t, periodKey: 'total', requestId: `${t}-${i}`, costMicros: 10, record: usage(t, `${t}-${i}`, 10) })
  for (let i = 0; i < 50 && pending.length === 0; i++) await Bun.sleep(1)
  expect(events).toEqual(['sink busy-0,busy-1'])
  // A tenant whose counter is missing (its first request) waits for that batch only.
  const fresh = ledger.reserve({ tenantId: 'fresh', periodKey: 'total', limitMicros: 1000, requestId: 'fresh-1', amountMicros: 5, ttlMs: 60_000 })
  pending.shift()!()
  // Failing fast on a regression: a rebuild held behind every queued batch would not settle before the timer.
  expect(await Promise.race([fresh, Bun.sleep(2_000).then(() => 'still waiting')])).toEqual({ ok: true })
  expect(events.slice(0, 2)).toEqual(['sink busy-0,busy-1', 'rebuild fresh'])
  // The rest of the queue goes on afterwards.
  while (events.length < 4 || pending.length > 0) {
    pending.shift()?.()
    await Bun.sleep(1)
  }
  expect(events.slice(2)).toEqual(['sink busy-2,busy-3', 'sink busy-4,busy-5'])
  await ledger.close()
})

test('memory: a rebuild while records are in the sink and in the queue counts each exactly once', async () => {
  const pending: Array<() => void> = []
  const stored = new Map<string, number>()
  const ledger = createMemoryLedger({
    batchSize: 2,
    sink: (records) => new Promise<void>((resolve) => pending.push(() => {
      for (const r of records) stored.set(r.requestId, r.costUsdMicros)
      resolve()
    })),
    // Like a real query, the answer comes a moment after the call: a batch landing meanwhile must not be missed.
    rebuild: async (_t, _pk, exclude) => {
      await Bun.sleep(1)
      return [...stored].filter(([id]) => !exclude.includes(id)).reduce((n, [, c]) => n + c, 0)
    },
  })
  // Settled into a period whose counter does not exist yet (a fresh process): the records wait in the queue.
  const t = 'x'
  for (let i = 0; i < 5; i++) await ledger.settle({ tenantId: t, periodKey: 'total', requestId: `r${i}`, costMicros: 2 ** i, record: usage(t, `r${i}`, 2 ** i) })
  for (let i = 0; i < 50 && pending.length === 0; i++) await Bun.sleep(1)
  expect(pending.length).toBe(1) // r0, r1 are in the sink; r2..r4 queued
  const counter = ledger.ensureCounter(t, 'total')
  pending.shift()!() // r0, r1 reach the store while the rebuild waits for them
  expect(await Promise.race([counter, Bun.sleep(2_000).then(() => 'still waiting')])).toBe(31)
  while (ledger.pendingCount() > 0) {
    pending.shift()?.()
    await Bun.sleep(1)
  }
  expect([...stored.keys()].sort()).toEqual(['r0', 'r1', 'r2', 'r3', 'r4'])
  expect(await ledger.ensureCounter(t, 'total')).toBe(31)
  await ledger.close()
})

test('memory: a burst of rebuilds does not keep usage records from the store', async () => {
  const events: string[] = []
  const queries: Array<() => void> = []
  const ledger = createMemoryLedger({
    sink: (records) => void events.push(`sink ${records.map((r) => r.requestId).join(',')}`),
    rebuild: (tenantId) => {
      events.push(`rebuild ${tenantId}`)
      return new Promise<number>((resolve) => queries.push(() => resolve(0)))
    },
  })
  const t = 'steady'
  const first = ledger.ensureCounter(t, 'total')
  queries.shift()!()
  await first
  // A rebuild is reading (its query held) when a settle queues a record; more tenants' first requests keep arriving.
  const a = ledger.ensureCounter('new-a', 'total')
  await ledger.settle({ tenantId: t, periodKey: 'total', requestId: 's1', costMicros: 1, record: usage(t, 's1', 1) })
  await Bun.sleep(2) // the flush is scheduled and waits for the reading rebuild
  const b = ledger.ensureCounter('new-b', 'total')
  const c = ledger.ensureCounter('new-c', 'total')
  queries.shift()!() // the rebuild that was reading ends: the batch goes before the rebuilds that came after it
  for (let i = 0; i < 50 && !events.includes('sink s1'); i++) await Bun.sleep(1)
  expect(events.slice(1)).toEqual(['rebuild new-a', 'sink s1', 'rebuild new-b', 'rebuild new-c'])
  while (queries.length > 0) queries.shift()!()
  await Promise.all([a, b, c])
  await ledger.close()
})
