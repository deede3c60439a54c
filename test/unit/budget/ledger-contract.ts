/**
 * One behavioural contract for every BudgetLedger (Redis scripts on a node or a cluster, in-process memory).
 * A harness builds the ledger around a controllable clock and a fake store, and knows how to "lose" a
 * spent counter the way its backend can (Redis: the key is gone; memory: the process restarted).
 */
import { describe, expect, test } from 'bun:test'
import { periodKey, periodKeyStartMs, reservationMicros } from '../../../src/budget/money.ts'
import type { BudgetLedger, UsageRecord } from '../../../src/budget/types.ts'
import type { Store } from '../../../src/store/types.ts'

export class FakeStore implements Pick<Store, 'insertUsage' | 'sumUsageSince' | 'storedUsageIds'> {
  readonly rows = new Map<string, UsageRecord>()
  /** Usage from before the test (as if already in usage_records), per tenant. */
  readonly base = new Map<string, number>()
  insertCalls = 0
  failNext = 0
  async insertUsage(records: UsageRecord[]): Promise<void> {
    this.insertCalls++
    if (this.failNext > 0) { this.failNext--; throw new Error('store down') }
    for (const r of records) if (!this.rows.has(r.requestId)) this.rows.set(r.requestId, r) // ON CONFLICT DO NOTHING
  }
  async storedUsageIds(requestIds: readonly string[]): Promise<string[]> {
    return requestIds.filter(id => this.rows.has(id))
  }
  async sumUsageSince(tenantId: string, sinceMs: number, excludeRequestIds: readonly string[] = []): Promise<number> {
    const skip = new Set(excludeRequestIds)
    let s = this.base.get(tenantId) ?? 0
    for (const r of this.rows.values()) {
      if (r.tenantId === tenantId && r.startedAt >= sinceMs && !skip.has(r.requestId)) s += r.costUsdMicros
    }
    return s
  }
}

export interface HarnessDeps {
  rebuild: (tenantId: string, periodKey: string, excludeRequestIds: string[]) => Promise<number>
  now: () => number
  store: FakeStore
}

export interface LedgerHarness {
  ledger: BudgetLedger
  /** Make the backend lose the tenant's spent counter; returns the ledger to use from then on. */
  loseCounter(tenantId: string, periodKey: string): Promise<BudgetLedger>
  close(): Promise<void>
}

let seq = 0
/** Unique per run so suites can share one Redis (REDIS_URL). */
export const uid = (p: string) => `${p}-${process.pid}-${Date.now().toString(36)}-${(seq++).toString(36)}`

export function usage(tenantId: string, requestId: string, cost: number, startedAt = Date.now()): UsageRecord {
  return { requestId, tenantId, keyId: 'k1', model: 'm', provider: 'mock', promptTokens: 10, completionTokens: 5,
    costUsdMicros: cost, status: 'ok', startedAt, durationMs: 12 }
}

export function ledgerContract(name: string, make: (deps: HarnessDeps) => Promise<LedgerHarness>): void {
  describe(`BudgetLedger contract: ${name}`, () => {
    /** Clock starts at real time and only moves forward (Redis key TTLs are set from it). */
    async function setup() {
      const clock = { t: Date.now() }
      const store = new FakeStore()
      const calls: string[] = []
      const rebuild = async (tenantId: string, pk: string, exclude: string[]) => {
        calls.push(`${tenantId}|${pk}`)
        await Bun.sleep(5) // a real query takes time: lets concurrent reserves pile up on the rebuild
        return store.sumUsageSince(tenantId, periodKeyStartMs(pk), exclude)
      }
      const h = await make({ rebuild, now: () => clock.t, store })
      return { h, clock, store, calls, t: uid('t'), P: 'total' }
    }
    const reserve = (l: BudgetLedger, tenantId: string, requestId: string, amountMicros: number, limitMicros: number, pk = 'total', ttlMs = 60_000) =>
      l.reserve({ tenantId, periodKey: pk, limitMicros, requestId, amountMicros, ttlMs })
    const settle = (l: BudgetLedger, tenantId: string, requestId: string, cost: number, pk = 'total') =>
      l.settle({ tenantId, periodKey: pk, requestId, costMicros: cost, record: usage(tenantId, requestId, cost) })

    test('reserve within the limit, reject over it with spent and reserved', async () => {
      const { h, t, calls } = await setup()
      try {
        expect(await reserve(h.ledger, t, 'r1', 600, 1000)).toEqual({ ok: true })
        expect(await reserve(h.ledger, t, 'r2', 400, 1000)).toEqual({ ok: true }) // exactly at the limit
        expect(await reserve(h.ledger, t, 'r3', 1, 1000)).toEqual({ ok: false, reason: 'budget_exceeded', spentMicros: 0, reservedMicros: 1000 })
        expect(await h.ledger.snapshot(t, 'total')).toEqual({ spentMicros: 0, reservedMicros: 1000 })
        expect(calls).toEqual([`${t}|total`]) // new counter: rebuilt once from the store
      } finally { await h.close() }
    })

    test('same request id reserved twice counts once', async () => {
      const { h, t } = await setup()
      try {
        await reserve(h.ledger, t, 'r1', 600, 1000)
        expect(await reserve(h.ledger, t, 'r1', 600, 1000)).toEqual({ ok: true })
        expect((await h.ledger.snapshot(t, 'total')).reservedMicros).toBe(600)
      } finally { await h.close() }
    })

    test('settle exactly once: the second settle is a no-op', async () => {
      const { h, t } = await setup()
      try {
        await reserve(h.ledger, t, 'r1', 500, 1000)
        expect(await settle(h.ledger, t, 'r1', 300)).toEqual({ settled: true })
        expect(await h.ledger.snapshot(t, 'total')).toEqual({ spentMicros: 300, reservedMicros: 0 })
        expect(await settle(h.ledger, t, 'r1', 300)).toEqual({ settled: false })
        expect(await settle(h.ledger, t, 'r1', 999)).toEqual({ settled: false })
        expect(await h.ledger.snapshot(t, 'total')).toEqual({ spentMicros: 300, reservedMicros: 0 })
        // Spent counts against the limit: 300 + 701 > 1000.
        expect((await reserve(h.ledger, t, 'r2', 701, 1000)).ok).toBe(false)
        expect((await reserve(h.ledger, t, 'r3', 700, 1000)).ok).toBe(true)
      } finally { await h.close() }
    })

    test('release frees the reservation, never touches spent, and makes a later settle a no-op', async () => {
      const { h, t } = await setup()
      try {
        await settle(h.ledger, t, 'r0', 100)
        await reserve(h.ledger, t, 'r1', 900, 1000)
        await h.ledger.release(t, 'total', 'r1')
        expect(await h.ledger.snapshot(t, 'total')).toEqual({ spentMicros: 100, reservedMicros: 0 })
        await h.ledger.release(t, 'total', 'r1')
        await h.ledger.release(t, 'total', 'never-reserved')
        expect(await settle(h.ledger, t, 'r1', 50)).toEqual({ settled: false })
        expect(await h.ledger.snapshot(t, 'total')).toEqual({ spentMicros: 100, reservedMicros: 0 })
      } finally { await h.close() }
    })

    test('settle without a reservation adds the cost', async () => {
      const { h, t } = await setup()
      try {
        await reserve(h.ledger, t, 'other', 200, 1000)
        expect(await settle(h.ledger, t, 'r9', 250)).toEqual({ settled: true })
        expect(await h.ledger.snapshot(t, 'total')).toEqual({ spentMicros: 250, reservedMicros: 200 })
      } finally { await h.close() }
    })

    test('an expired reservation is reclaimed by the next reserve; its late settle is charged once', async () => {
      const { h, t, clock } = await setup()
      try {
        await reserve(h.ledger, t, 'crashed', 800, 1000, 'total', 1000)
        expect((await reserve(h.ledger, t, 'b', 800, 1000)).ok).toBe(false)
        clock.t += 999
        expect((await reserve(h.ledger, t, 'b', 800, 1000)).ok).toBe(false) // not expired yet
        clock.t += 2
        expect((await reserve(h.ledger, t, 'b', 800, 1000)).ok).toBe(true)
        expect(await h.ledger.snapshot(t, 'total')).toEqual({ spentMicros: 0, reservedMicros: 800 })
        expect(await settle(h.ledger, t, 'crashed', 100)).toEqual({ settled: true })
        expect(await h.ledger.snapshot(t, 'total')).toEqual({ spentMicros: 100, reservedMicros: 800 })
      } finally { await h.close() }
    })

    test('reservations are reclaimed as each expires, whatever order they were made in', async () => {
      const { h, t, clock } = await setup()
      try {
        await reserve(h.ledger, t, 'long', 400, 1000, 'total', 5000)
        await reserve(h.ledger, t, 'short', 400, 1000, 'total', 1000) // made later, expires first
        expect((await reserve(h.ledger, t, 'x', 400, 1000)).ok).toBe(false)
        clock.t += 1000
        expect((await reserve(h.ledger, t, 'x', 400, 1000)).ok).toBe(true) // 'short' reclaimed at its expiry
        expect(await h.ledger.snapshot(t, 'total')).toEqual({ spentMicros: 0, reservedMicros: 800 })
        await h.ledger.release(t, 'total', 'x')
        clock.t += 3999
        expect((await reserve(h.ledger, t, 'y', 700, 1000)).ok).toBe(false) // 'long' still held, 1 ms to go
        clock.t += 1
        expect((await reserve(h.ledger, t, 'y', 700, 1000)).ok).toBe(true)
        expect(await h.ledger.snapshot(t, 'total')).toEqual({ spentMicros: 0, reservedMicros: 700 })
      } finally { await h.close() }
    })

    test('strict reserves the worst case, fixed a flat $0.001', async () => {
      const { h, t } = await setup()
      const price = { inputUsdPerMtok: 3, outputUsdPerMtok: 15 }
      const strict = reservationMicros('strict', { promptTokens: 100, maxOutputTokens: 1000 }, price) // 15_300
      const fixed = reservationMicros('fixed', { promptTokens: 100, maxOutputTokens: 1000 }, price) // 1_000
      try {
        expect((await reserve(h.ledger, t, 's1', strict, 5000)).ok).toBe(false)
        for (let i = 0; i < 5; i++) expect((await reserve(h.ledger, t, `f${i}`, fixed, 5000)).ok).toBe(true)
        expect((await reserve(h.ledger, t, 'f5', fixed, 5000)).ok).toBe(false)
        // fixed bounds overrun only for cheap requests: an expensive one settles above its reservation.
        await settle(h.ledger, t, 'f0', 3000)
        expect((await h.ledger.snapshot(t, 'total')).spentMicros).toBe(3000)
      } finally { await h.close() }
    })

    test('a lost counter is rebuilt from the store (plus unshipped records) before serving', async () => {
      const { h, t, store, calls } = await setup()
      store.base.set(t, 5000) // usage already in usage_records from earlier
      try {
        expect((await reserve(h.ledger, t, 'r1', 1000, 10_000)).ok).toBe(true)
        await settle(h.ledger, t, 'r1', 700)
        expect((await h.ledger.snapshot(t, 'total')).spentMicros).toBe(5700)
        const l2 = await h.loseCounter(t, 'total')
        await settle(l2, t, 'r2', 300) // settled while the counter is missing: must not be lost either
        const before = calls.length
        expect(await reserve(l2, t, 'r3', 4001, 10_000)).toEqual({ ok: false, reason: 'budget_exceeded', spentMicros: 6000, reservedMicros: 0 })
        expect(calls.length).toBe(before + 1)
        expect((await reserve(l2, t, 'r4', 4000, 10_000)).ok).toBe(true)
      } finally { await h.close() }
    })

    test('concurrent reserves on a missing counter rebuild it once and never over-admit', async () => {
      const { h, t, store, calls } = await setup()
      store.base.set(t, 400)
      try {
        const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => reserve(h.ledger, t, `c${i}`, 100, 1000)))
        expect(rs.filter(r => r.ok).length).toBe(6)
        expect(calls.length).toBe(1)
      } finally { await h.close() }
    })

    test('periods are independent counters (UTC day/month/total)', async () => {
      const { h, t, clock } = await setup()
      const day1 = periodKey('day', clock.t)
      const day2 = periodKey('day', clock.t + 86_400_000)
      const month = periodKey('month', clock.t)
      try {
        expect((await reserve(h.ledger, t, 'a', 1000, 1000, day1)).ok).toBe(true)
        await settle(h.ledger, t, 'a', 1000, day1)
        expect((await reserve(h.ledger, t, 'b', 1, 1000, day1)).ok).toBe(false)
        expect((await reserve(h.ledger, t, 'c', 1000, 1000, day2)).ok).toBe(true)
        expect(await h.ledger.snapshot(t, day1)).toEqual({ spentMicros: 1000, reservedMicros: 0 })
        expect(await h.ledger.snapshot(t, day2)).toEqual({ spentMicros: 0, reservedMicros: 1000 })
        // (A month counter of the same tenant would be rebuilt to include day1's usage: use another tenant.)
        const t2 = uid('t')
        expect((await reserve(h.ledger, t2, 'd', 1000, 1000, month)).ok).toBe(true)
        expect(await h.ledger.snapshot(t2, month)).toEqual({ spentMicros: 0, reservedMicros: 1000 })
        expect(await h.ledger.snapshot(t2, 'total')).toEqual({ spentMicros: 0, reservedMicros: 0 })
      } finally { await h.close() }
    })

    test('tenants are independent', async () => {
      const { h, t } = await setup()
      const t2 = uid('t')
      try {
        await reserve(h.ledger, t, 'a', 1000, 1000)
        expect((await reserve(h.ledger, t2, 'a', 1000, 1000)).ok).toBe(true)
        expect(await settle(h.ledger, t2, 'a', 10)).toEqual({ settled: true })
        expect(await h.ledger.snapshot(t, 'total')).toEqual({ spentMicros: 0, reservedMicros: 1000 })
      } finally { await h.close() }
    })

    test('unlimited (non-finite or MAX_SAFE_INTEGER) limits admit everything', async () => {
      const { h, t } = await setup()
      try {
        expect((await reserve(h.ledger, t, 'a', 10 ** 12, Infinity)).ok).toBe(true)
        expect((await reserve(h.ledger, t, 'b', 10 ** 12, Number.MAX_SAFE_INTEGER)).ok).toBe(true)
      } finally { await h.close() }
    })
  })
}
