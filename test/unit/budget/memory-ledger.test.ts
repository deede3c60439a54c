import { expect, test } from 'bun:test'
import { createMemoryLedger, type MemoryLedger } from '../../../src/budget/memory-ledger.ts'
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
