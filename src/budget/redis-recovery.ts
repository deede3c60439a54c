/**
 * Puts a tenant back together after Redis lost some or all of its keys: a spent counter evicted, a new period, or
 * Redis restarted empty (FLUSHALL, kill -9 without persistence) while requests were in flight.
 *
 * Under the tenant's shipping lease (so no shipper reads or deletes stream entries meanwhile, see recover.lua):
 * 1. read the tenant's epoch; whatever this gateway holds tagged with another one (holdings.ts) was lost with Redis;
 * 2. write the lost usage records to the store (insert ON CONFLICT DO NOTHING: one already shipped is a no-op);
 * 3. per period concerned: read the request ids in the stream, ask the store for the sum without them, and run
 *    recover.lua, which sets the counter (recounted if this gateway wrote lost records of that period), registers
 *    this gateway's lost reservations again, and creates the epoch if there is none.
 * Every other gateway does the same with its own holdings when its next script call, or its sweep, finds the
 * epoch changed (redis-ledger.ts); each recount is exact over store ∪ stream, so once each has recovered the
 * counter counts every record once.
 */
import type { Holdings, LiveReservation } from './holdings.ts'
import { leaseToken, tenantKeys, type BudgetScripts, type RedisClient } from './scripts.ts'
import type { UsageRecord } from './types.ts'

export interface RecoveryDeps {
  client: RedisClient
  scripts: BudgetScripts
  holdings: Holdings
  /** Store sum for the period without the given request ids (they are counted from the stream). */
  rebuild: (tenantId: string, periodKey: string, excludeRequestIds: string[]) => Promise<number>
  /** Writes records to the store, idempotently; without it nothing is held in the outbox (nothing to write). */
  insertUsage?: (records: UsageRecord[]) => Promise<void>
  now: () => number
  reservedGraceMs: number
  leaseMs: number
  leaseWaitMs: number
}

const DAY_MS = 86_400_000
/** Stream entries per XRANGE call while a rebuild collects request ids. */
const STREAM_PAGE = 1_000

/** Spent counters of past days/months are only read by reports; let Redis drop them (a rebuild restores one). */
export function counterTtlMs(periodKey: string): number {
  if (periodKey.startsWith('day:')) return 40 * DAY_MS
  if (periodKey.startsWith('month:')) return 400 * DAY_MS
  return 0
}

/** What recover.lua answers when the caller no longer holds the tenant's shipping lease (it then writes nothing). */
const LEASE_LOST = 'shipping lease lost during the rebuild'

/** The recovery failed only because its lease was gone when recover.lua ran: starting over is safe. */
export function isLeaseLost(err: unknown): boolean {
  return err instanceof Error && err.message.includes(LEASE_LOST)
}

/**
 * Recovers `tenantId`: the periods this gateway lost something in, plus `periodKey` if given (whose counter the
 * caller needs). Throws if the lease stays busy past leaseWaitMs or the store fails; nothing is guessed.
 */
export async function recoverTenant(d: RecoveryDeps, tenantId: string, periodKey?: string): Promise<void> {
  const k = tenantKeys(tenantId)
  const token = leaseToken()
  const { epoch, peek } = await acquireLease(d, tenantId, token, periodKey)
  try {
    const lost = d.holdings.lost(tenantId, epoch)
    if (lost.records.length > 0) await d.insertUsage!(lost.records.map(e => e.record))
    const recount = new Set(lost.records.map(e => e.periodKey))
    const periods = new Set([...(periodKey ? [periodKey] : []), ...recount, ...lost.reservations.map(r => r.periodKey)])
    // Used only if Redis has no epoch: recover.lua keeps an existing one.
    let current = epoch ?? crypto.randomUUID()
    for (const p of periods) {
      current = await recoverPeriod(d, tenantId, p, recount.has(p), lost.reservations.filter(r => r.periodKey === p), token, current,
        p === periodKey ? peek : undefined)
    }
    d.holdings.recovered(tenantId, lost.records, lost.reservations, current)
  } finally {
    await d.scripts.releaseLease([k.shipLease], [token]).catch(() => {}) // else it expires after leaseMs
  }
}

/** What was read of a period together with taking the lease (in its round trip): the counter's presence, the stream's first page. */
interface Peek { spentExists: boolean; firstPage: StreamPage }
type StreamPage = [id: string, fields: string[]][]

/** One period: returns the tenant's epoch after recover.lua. */
async function recoverPeriod(d: RecoveryDeps, tenantId: string, periodKey: string, recount: boolean,
  reservations: LiveReservation[], token: string, newEpoch: string, peek?: Peek): Promise<string> {
  const k = tenantKeys(tenantId)
  const keys = [k.spent(periodKey), k.reserved(periodKey), k.resv, k.resvAmt, k.done, k.ledger, k.shipLease, k.epoch] as const
  const resv = reservations.flatMap(r => [r.requestId, r.amount, r.expiry])
  // 'keep' spares the store query when the counter exists (e.g. another gateway recovered first, nothing of ours lost).
  const spentExists = peek ? peek.spentExists : (await d.client.exists(keys[0])) === 1
  let mode: 'keep' | 'init' | 'set' = recount ? 'set' : spentExists ? 'keep' : 'init'
  let firstPage = peek?.firstPage
  for (;;) {
    let fromStore = 0
    if (mode !== 'keep') {
      const inStream = await streamRequestIds(d.client, k.ledger, periodKey, firstPage)
      firstPage = undefined // a second pass (the counter vanished) reads the stream again
      fromStore = await d.rebuild(tenantId, periodKey, inStream)
      if (!Number.isSafeInteger(fromStore) || fromStore < 0) throw new Error(`rebuild returned ${fromStore}`)
    }
    const r = await d.scripts.recover([...keys], [token, mode, fromStore, periodKey, counterTtlMs(periodKey), newEpoch,
      d.now(), d.reservedGraceMs, ...resv])
    if (r.length === 2) return r[1]
    mode = 'init' // the counter vanished since EXISTS
  }
}

/**
 * Takes the tenant's shipping lease, and in the same round trip reads what the recovery reads first: the epoch and,
 * for `periodKey`, whether its counter exists and the stream's first page. The reads are sent right behind the SET on
 * the same connection (all keys share the tenant's slot), so Redis runs them after it: while the lease is ours they
 * see what a read made afterwards would see; while it is busy they are discarded and sent again with the next try.
 * (Measured at boot on an empty Redis, 10,000 tenants: one socket write per command was ~40% of the gateway's CPU.)
 */
async function acquireLease(d: RecoveryDeps, tenantId: string, token: string, periodKey?: string): Promise<{ epoch: string | null; peek?: Peek }> {
  const k = tenantKeys(tenantId)
  const deadline = performance.now() + d.leaseWaitMs
  for (let attempt = 0; ; attempt++) {
    // Only the first try reads ahead: while the lease is busy, retries send the SET alone.
    const peekAt = attempt === 0 ? periodKey : undefined
    const [taken, epoch, exists, page] = await Promise.allSettled([
      d.client.set(k.shipLease, token, 'PX', d.leaseMs, 'NX'),
      d.client.get(k.epoch),
      peekAt === undefined ? null : d.client.exists(k.spent(peekAt)),
      peekAt === undefined ? null : d.client.xrange(k.ledger, '-', '+', 'COUNT', STREAM_PAGE) as Promise<StreamPage>,
    ])
    if (taken.status === 'rejected') throw taken.reason
    if (taken.value === 'OK') {
      const failed = [epoch, exists, page].find((r) => r.status === 'rejected')
      if (failed) {
        // The lease is ours but a read failed: give it back now (the caller's finally is not reached yet).
        await d.scripts.releaseLease([k.shipLease], [token]).catch(() => {})
        throw (failed as PromiseRejectedResult).reason
      }
      const value = <T>(r: PromiseSettledResult<T>) => (r as PromiseFulfilledResult<T>).value
      return {
        epoch: value(epoch),
        ...(peekAt === undefined ? {} : { peek: { spentExists: value(exists) === 1, firstPage: value(page)! } }),
      }
    }
    // A shipper holds it for one batch (read, insert, ack): usually milliseconds.
    if (performance.now() > deadline) throw new Error(`ledger busy: no shipping lease for ${k.shipLease} within ${d.leaseWaitMs} ms`)
    await Bun.sleep(5 + Math.random() * 10)
  }
}

/**
 * Request ids of the period's usage records in the stream, pending ones included (XRANGE sees every entry).
 * `firstPage`: the first page, already read.
 */
async function streamRequestIds(client: RedisClient, stream: string, periodKey: string, firstPage?: StreamPage): Promise<string[]> {
  const ids: string[] = []
  let start = '-'
  for (;;) {
    const page = firstPage ?? (await client.xrange(stream, start, '+', 'COUNT', STREAM_PAGE)) as StreamPage
    firstPage = undefined
    for (const [, f] of page) {
      // Same test as recover.lua ('period', <key>, 'cost', <µUSD>, ... written by settle.lua).
      if (f[0] !== 'period' || f[1] !== periodKey) continue
      for (let i = 4; i + 1 < f.length; i += 2) if (f[i] === 'requestId') { ids.push(f[i + 1]); break }
    }
    if (page.length < STREAM_PAGE) return ids
    start = `(${page[page.length - 1][0]}`
  }
}
