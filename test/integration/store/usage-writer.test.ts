/**
 * Usage rows of an embedded store on a file go through the usage writer thread: a call resolves only once its
 * batch is committed, concurrent calls all land exactly once, a failing batch rejects (and the thread keeps
 * serving), close() waits for what was sent, and the thread's commits are not taken for config changes.
 */
import { afterAll, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { UsageRecord } from '../../../src/budget/types.ts'
import { createSqliteStore } from '../../../src/store/sqlite.ts'
import { startUsageWriter } from '../../../src/store/usage-writer.ts'
import type { ChangeEvent } from '../../../src/store/types.ts'

const dirs: string[] = []
const tempFile = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'gw-usage-writer-'))
  dirs.push(d)
  return join(d, 'gateway.sqlite')
}
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const record = (i: number, o: Partial<UsageRecord> = {}): UsageRecord => ({
  requestId: `req_${i}`, tenantId: 'acme', keyId: 'key_1', model: 'm', provider: 'p', promptTokens: 3, completionTokens: 4,
  costUsdMicros: 7, status: 'ok', startedAt: 1_700_000_000_000 + i, durationMs: 5, clientRequestId: `client_${i}`, ...o,
})

async function migratedStore(file: string) {
  const store = createSqliteStore(file)
  await store.migrate()
  await store.createTenant({ id: 'acme', budgetUsdMicros: null, budgetPeriod: 'total', policy: 'strict', allowedModels: null, failOpen: false })
  return store
}

/** What another connection (another process) sees committed in the file. */
const committedRows = (file: string): Array<{ request_id: string; cost_usd_micros: number; client_request_id: string | null }> => {
  const db = new Database(file, { readonly: true })
  try {
    return db.query<{ request_id: string; cost_usd_micros: number; client_request_id: string | null }, []>(
      'select request_id, cost_usd_micros, client_request_id from usage_records order by request_id').all()
  } finally {
    db.close()
  }
}

test('an insert resolves once its rows are committed, as another connection sees them', async () => {
  const file = tempFile()
  const store = await migratedStore(file)
  try {
    await store.insertUsage([record(1), record(2)])
    expect(committedRows(file)).toEqual([
      { request_id: 'req_1', cost_usd_micros: 7, client_request_id: 'client_1' },
      { request_id: 'req_2', cost_usd_micros: 7, client_request_id: 'client_2' },
    ])
  } finally {
    await store.close()
  }
})

test('200 concurrent batches land exactly once each; a replayed batch is a no-op', async () => {
  const file = tempFile()
  const store = await migratedStore(file)
  try {
    const batches = Array.from({ length: 200 }, (_, b) => Array.from({ length: 5 }, (_, j) => record(b * 5 + j, { costUsdMicros: b + 1 })))
    await Promise.all(batches.map((batch) => store.insertUsage(batch)))
    await store.insertUsage(batches[17]!)
    const rows = committedRows(file)
    expect(rows.length).toBe(1000)
    expect(rows.reduce((n, r) => n + r.cost_usd_micros, 0)).toBe(5 * (200 * 201) / 2)
    expect(await store.sumUsageSince('acme', 0)).toBe(5 * (200 * 201) / 2)
  } finally {
    await store.close()
  }
})

test('a batch the database refuses rejects with its error and nothing of it lands; the next batch still works', async () => {
  const file = tempFile()
  const store = await migratedStore(file)
  try {
    // tenant_id is NOT NULL: the whole transaction fails, including the good record before the bad one.
    const bad = [record(1), record(2, { tenantId: null as never })]
    await expect(store.insertUsage(bad)).rejects.toThrow(/NOT NULL/i)
    expect(committedRows(file)).toEqual([])
    await store.insertUsage([record(3)])
    expect(committedRows(file).map((r) => r.request_id)).toEqual(['req_3'])
  } finally {
    await store.close()
  }
})

test('inserts asked for while a batch is in flight go as one; a bad record there fails only its own caller', async () => {
  const file = tempFile()
  const store = await migratedStore(file)
  try {
    // The first goes at once; the next three wait for it and are sent together, then retried one by one.
    const first = store.insertUsage([record(1)])
    const good = store.insertUsage([record(2)])
    const bad = store.insertUsage([record(3, { tenantId: null as never })])
    const later = store.insertUsage([record(4)])
    const outcome = (p: Promise<void>) => p.then(() => 'stored', (e: Error) => e.message)
    expect(await Promise.all([first, good, bad, later].map(outcome)))
      .toEqual(['stored', 'stored', 'NOT NULL constraint failed: usage_records.tenant_id', 'stored'])
    expect(committedRows(file).map((r) => r.request_id)).toEqual(['req_1', 'req_2', 'req_4'])
  } finally {
    await store.close()
  }
})

test('an insert asked for once close() has begun is refused, never left waiting', async () => {
  const file = tempFile()
  const store = await migratedStore(file)
  const sent = store.insertUsage([record(1)])
  const closing = store.close()
  await expect(store.insertUsage([record(2)])).rejects.toThrow(/closed/)
  await closing
  await sent
  expect(committedRows(file).map((r) => r.request_id)).toEqual(['req_1'])
})

test('close() waits for the batches already sent', async () => {
  const file = tempFile()
  const store = await migratedStore(file)
  const sent = Array.from({ length: 20 }, (_, b) => store.insertUsage(Array.from({ length: 50 }, (_, j) => record(b * 50 + j))))
  await store.close()
  await Promise.all(sent)
  expect(committedRows(file).length).toBe(1000)
})

test('the writer thread\'s commits are no config change: a listener hears nothing of them, but hears a tenant change', async () => {
  const file = tempFile()
  const store = await migratedStore(file)
  const other = createSqliteStore(file) // another connection making a config change, as the CLI would
  const events: ChangeEvent[] = []
  const unlisten = await store.listen((e) => void events.push(e))
  try {
    await store.insertUsage([record(1)])
    await Bun.sleep(600) // two polls
    expect(events).toEqual([])
    await other.updateTenant('acme', { budgetUsdMicros: 5 })
    const deadline = Date.now() + 2000
    while (!events.some((e) => e.kind === 'tenant' && e.tenantId === 'acme') && Date.now() < deadline) await Bun.sleep(10)
    expect(events).toContainEqual({ kind: 'tenant', tenantId: 'acme' })
  } finally {
    await unlisten()
    await other.close()
    await store.close()
  }
})

test('under a steady flow inserts wait for the group window and commit together; after a quiet spell one goes at once', async () => {
  const file = tempFile()
  await (await migratedStore(file)).close()
  const batches: number[] = []
  const writer = startUsageWriter(file, { groupWindowMs: 300, onBatch: (n) => batches.push(n) })
  try {
    await writer.insert([record(0)]) // the first goes at once: nothing was sent within the window
    expect(batches).toEqual([1])
    // 30 single-record inserts, one every ~1 ms: without the window each would be its own commit.
    const calls: Promise<void>[] = []
    for (let i = 1; i <= 30; i++) {
      calls.push(writer.insert([record(i)]))
      await Bun.sleep(1)
    }
    await Promise.all(calls)
    expect(batches.length).toBeLessThanOrEqual(3)
    expect(batches.reduce((a, b) => a + b, 0)).toBe(31)
    await Bun.sleep(350) // quiet for longer than the window
    const before = batches.length
    const t0 = performance.now()
    await writer.insert([record(99)])
    expect(batches.length).toBe(before + 1)
    expect(performance.now() - t0).toBeLessThan(300) // it did not wait for a window
  } finally {
    await writer.close()
  }
  expect(committedRows(file).length).toBe(32)
})

test('a batch goes before the window ends once maxGroupRecords wait, and close() sends what waits at once', async () => {
  const file = tempFile()
  await (await migratedStore(file)).close()
  const batches: number[] = []
  const writer = startUsageWriter(file, { groupWindowMs: 60_000, maxGroupRecords: 10, onBatch: (n) => batches.push(n) })
  await writer.insert([record(0)])
  const full = Promise.all(Array.from({ length: 10 }, (_, i) => writer.insert([record(1 + i)])))
  await full // resolved long before the 60 s window: the tenth record sent the batch
  expect(batches).toEqual([1, 10])
  const waiting = writer.insert([record(50)])
  await writer.close()
  await waiting
  expect(batches).toEqual([1, 10, 1])
  expect(committedRows(file).length).toBe(12)
})
