/**
 * In-process BudgetLedger, used when there is no REDIS_URL (single gateway instance only). Same semantics as
 * the Redis scripts: reclaim expired reservations, reject over limit, settle exactly once, release marks done,
 * a missing spent counter (new period, fresh process) is rebuilt from the store before the tenant is served.
 * Each operation's state change runs synchronously (no await in between), which is what makes it atomic here.
 * Settled records go to `sink` (the embedded store) in batches; on failure they stay queued and are retried.
 */
import { DoneIds } from './done-ids.ts'
import { FairRwGate } from './rw-gate.ts'
import type { BudgetLedger, PeriodSnapshot, ReserveInput, ReserveResult, SettleInput, UsageRecord } from './types.ts'

export interface MemoryLedgerOptions {
  /** Store sum for the period without the records in `excludeRequestIds` (still queued: counted from the queue). */
  rebuild: (tenantId: string, periodKey: string, excludeRequestIds: string[]) => Promise<number>
  sink: (records: UsageRecord[]) => Promise<void> | void
  now?: () => number
  doneRetentionMs?: number
  batchSize?: number
  /** First retry delay after a sink failure; doubles up to 5 s. */
  retryBaseMs?: number
  /**
   * Told of every failed hand-over to the sink (so at most once per retry delay) with the records still waiting, and
   * once when they went through again (error null): the records live only in this process meanwhile.
   */
  onSinkError?: (error: unknown, pending: number) => void
}

export interface MemoryLedger extends BudgetLedger {
  readonly kind: 'memory'
  /** Hand every queued record to the sink now; rejects if the sink fails (records stay queued). */
  flush(): Promise<void>
  /** Records settled but not yet accepted by the sink. */
  pendingCount(): number
  ensureCounter(tenantId: string, periodKey: string): Promise<number>
}

interface Reservation { periodKey: string; amount: number; expiry: number }

interface Queued { periodKey: string; record: UsageRecord }

export function createMemoryLedger(opts: MemoryLedgerOptions): MemoryLedger {
  const now = opts.now ?? Date.now
  const retention = opts.doneRetentionMs ?? 86_400_000
  const batchSize = opts.batchSize ?? 500
  const retryBase = opts.retryBaseMs ?? 100
  const spent = new Map<string, number>()
  const reserved = new Map<string, number>()
  const resv = new Map<string, Map<string, Reservation>>() // tenant → requestId → reservation
  // tenant → no later than its earliest reservation expiry: reserve looks for expired reservations only from then,
  // instead of reading every reservation in flight each time (15 µs per reserve at 1,000 in flight, 65 at 5,000).
  const firstExpiry = new Map<string, number>()
  const done = new DoneIds(retention)
  const rebuilding = new Map<string, Promise<void>>()
  let queue: Queued[] = []
  let flushing: Promise<void> | null = null
  const gate = new FairRwGate()
  let retryTimer: ReturnType<typeof setTimeout> | null = null
  let retryDelay = retryBase
  let failing = false
  let closed = false

  const pk = (t: string, p: string) => `${t}\0${p}`
  const tenantMap = <V>(m: Map<string, Map<string, V>>, t: string) => {
    let x = m.get(t)
    if (!x) { x = new Map(); m.set(t, x) }
    return x
  }

  function dropReservation(tenantId: string, requestId: string): void {
    const r = resv.get(tenantId)?.get(requestId)
    if (!r) return
    resv.get(tenantId)!.delete(requestId)
    const k = pk(tenantId, r.periodKey)
    reserved.set(k, Math.max(0, (reserved.get(k) ?? 0) - r.amount))
  }

  const isDone = (tenantId: string, requestId: string) => done.has(tenantId, requestId)
  const markDone = (tenantId: string, requestId: string) => done.add(tenantId, requestId, now())

  /** Mirrors reserve.lua: 1 admitted, 0 rejected, -1 counter missing. */
  function reserveSync(input: ReserveInput): [number, number, number] {
    const t = now()
    const mine = resv.get(input.tenantId)
    if (mine && t >= (firstExpiry.get(input.tenantId) ?? Infinity)) {
      let first = Infinity
      for (const [id, r] of mine) {
        if (r.expiry <= t) dropReservation(input.tenantId, id)
        else if (r.expiry < first) first = r.expiry
      }
      firstExpiry.set(input.tenantId, first)
    }
    const k = pk(input.tenantId, input.periodKey)
    const s = spent.get(k)
    if (mine?.has(input.requestId)) return [1, s ?? 0, reserved.get(k) ?? 0]
    if (s === undefined) return [-1, 0, 0]
    const rsv = reserved.get(k) ?? 0
    const unlimited = !Number.isFinite(input.limitMicros) || input.limitMicros < 0
    if (!unlimited && s + rsv + input.amountMicros > input.limitMicros) return [0, s, rsv]
    reserved.set(k, rsv + input.amountMicros)
    const expiry = t + input.ttlMs
    tenantMap(resv, input.tenantId).set(input.requestId, { periodKey: input.periodKey, amount: input.amountMicros, expiry })
    if (expiry < (firstExpiry.get(input.tenantId) ?? Infinity)) firstExpiry.set(input.tenantId, expiry)
    return [1, s, rsv + input.amountMicros]
  }

  /**
   * Like recover.lua: store sum without the queued records + the queued records. A rebuild reads the queue and the
   * store with no sink batch between them (`gate`: rebuilds read together, a batch writes alone), so the queue only
   * grows meanwhile and a record appended during the query is in no store. Records a failed sink call did write
   * (e.g. the commit landed, the reply was lost) are in the store AND still queued: excluding the queued ids from
   * the store's answer counts them once, like the Redis ledger does for a shipped but not yet acked batch.
   * Turns are fair: a rebuild waits for the batch in the sink, not for every batch of a steady flow (which kept a
   * new tenant's first request waiting for seconds), and a batch waits for the rebuilds already reading, not for a
   * burst of them (every tenant's first request after a period rollover).
   */
  function ensureCounter(tenantId: string, periodKey: string): Promise<void> {
    const k = pk(tenantId, periodKey)
    if (spent.has(k)) return Promise.resolve()
    let p = rebuilding.get(k)
    if (!p) {
      p = gate.read(async () => {
        if (spent.has(k)) return
        const mine = (q: Queued) => q.record.tenantId === tenantId && q.periodKey === periodKey
        const queued = queue.filter(mine).map(q => q.record.requestId)
        const fromStore = await opts.rebuild(tenantId, periodKey, queued)
        if (!Number.isSafeInteger(fromStore) || fromStore < 0) throw new Error(`rebuild returned ${fromStore}`)
        if (spent.has(k)) return
        let total = fromStore
        for (const q of queue) if (mine(q)) total += q.record.costUsdMicros
        spent.set(k, total)
      }).finally(() => rebuilding.delete(k))
      rebuilding.set(k, p)
    }
    return p
  }

  async function flushOnce(): Promise<void> {
    while (queue.length > 0) {
      await gate.write(async () => {
        // Settles only append meanwhile, so the batch is still the queue's head when the sink has it.
        const batch = queue.slice(0, batchSize)
        await opts.sink(batch.map(q => q.record))
        queue = queue.slice(batch.length)
      })
    }
  }

  function flush(): Promise<void> {
    if (!flushing) {
      flushing = flushOnce().then(
        () => {
          if (failing) opts.onSinkError?.(null, queue.length)
          failing = false
          retryDelay = retryBase
        },
        e => {
          failing = true
          opts.onSinkError?.(e, queue.length)
          scheduleRetry()
          throw e
        },
      ).finally(() => { flushing = null })
    }
    return flushing
  }

  function scheduleRetry(): void {
    if (retryTimer || closed) return
    retryTimer = setTimeout(() => { retryTimer = null; flush().catch(() => {}) }, retryDelay)
    retryTimer.unref?.()
    retryDelay = Math.min(retryDelay * 2, 5_000)
  }

  function scheduleFlush(): void {
    if (flushing || retryTimer || closed) return
    // Next macrotask: settles of concurrent requests land in one batch.
    retryTimer = setTimeout(() => { retryTimer = null; flush().catch(() => {}) }, 0)
    retryTimer.unref?.()
  }

  return {
    kind: 'memory',

    async reserve(input: ReserveInput): Promise<ReserveResult> {
      if (!Number.isSafeInteger(input.amountMicros) || input.amountMicros < 0) throw new RangeError('amountMicros must be a non-negative integer')
      let r = reserveSync(input)
      if (r[0] === -1) {
        await ensureCounter(input.tenantId, input.periodKey)
        r = reserveSync(input)
      }
      if (r[0] === 1) return { ok: true }
      return { ok: false, reason: 'budget_exceeded', spentMicros: r[1], reservedMicros: r[2] }
    },

    async settle(input: SettleInput): Promise<{ settled: boolean }> {
      if (!Number.isSafeInteger(input.costMicros) || input.costMicros < 0) throw new RangeError('costMicros must be a non-negative integer')
      if (isDone(input.tenantId, input.requestId)) return { settled: false }
      dropReservation(input.tenantId, input.requestId)
      const k = pk(input.tenantId, input.periodKey)
      const s = spent.get(k)
      // A missing counter stays missing: the rebuild counts this record from the queue (as settle.lua does).
      if (s !== undefined) spent.set(k, s + input.costMicros)
      const record = { ...input.record, requestId: input.requestId, tenantId: input.tenantId, costUsdMicros: input.costMicros }
      queue.push({ periodKey: input.periodKey, record })
      markDone(input.tenantId, input.requestId)
      scheduleFlush()
      return { settled: true }
    },

    async release(tenantId: string, periodKey: string, requestId: string): Promise<void> {
      void periodKey // the reservation remembers its own period
      if (isDone(tenantId, requestId)) return
      dropReservation(tenantId, requestId)
      markDone(tenantId, requestId)
    },

    async snapshot(tenantId: string, periodKey: string): Promise<PeriodSnapshot> {
      await ensureCounter(tenantId, periodKey)
      const k = pk(tenantId, periodKey)
      return { spentMicros: spent.get(k) ?? 0, reservedMicros: reserved.get(k) ?? 0 }
    },

    async ensureCounter(tenantId: string, periodKey: string): Promise<number> {
      await ensureCounter(tenantId, periodKey)
      return spent.get(pk(tenantId, periodKey)) ?? 0
    },

    flush,
    pendingCount: () => queue.length,

    async close(): Promise<void> {
      if (retryTimer) { clearTimeout(retryTimer); retryTimer = null }
      await flush().catch(() => {}) // best effort: the caller decides whether unflushed records matter
      closed = true
      if (retryTimer) { clearTimeout(retryTimer); retryTimer = null }
    },
  }
}
