/**
 * BudgetLedger on Redis (single node or Cluster): every mutation is one Lua script (see scripts.ts).
 * While Redis is unreachable every call rejects with GatewayError('budget_unavailable') within about
 * commandTimeoutMs (redis-connect.ts).
 *
 * Redis may come back empty. So the gateway keeps what it wrote there until it no longer matters (holdings.ts):
 * its live reservations until they end, the records it settled until the store has them, and any settle or release
 * that failed until it goes through. When a script finds that Redis lost the tenant's state (its counter or epoch
 * is gone, or the epoch is not the one this gateway's holdings carry), or the sweep finds it, the gateway puts its
 * holdings back (redis-recovery.ts) before it goes on.
 */
import { GatewayError } from '../errors.ts'
import type { LogFn } from '../log.ts'
import { Holdings } from './holdings.ts'
import { connectRedis, type ConnectOptions, withTimeout } from './redis-connect.ts'
import { isLeaseLost, recoverTenant, type RecoveryDeps } from './redis-recovery.ts'
import { type PendingOp, RetryQueue, startSweep } from './redis-sweep.ts'
import { type Slice, SliceBook, type SliceTotals } from './slices.ts'
import {
  LEASE_WAIT_MS, LEDGER_TENANTS_KEY, preloadScripts, recordToFields, registerScripts, SHIP_LEASE_MS, tenantKeys,
  type BudgetScripts, type RedisClient,
} from './scripts.ts'
import type { BudgetLedger, PeriodSnapshot, ReserveInput, ReserveResult, SettleInput, UsageRecord } from './types.ts'

export interface RedisLedgerOptions extends ConnectOptions {
  /**
   * Sum of the tenant's usage in the store for the period (Postgres usage_records), leaving out the records whose
   * request id is in `excludeRequestIds` (they are still in the ledger stream and counted from there).
   */
  rebuild: (tenantId: string, periodKey: string, excludeRequestIds: string[]) => Promise<number>
  /**
   * The durable store of usage records. With it, settled records are held until the store has them, and written
   * there directly if Redis lost them. Without it a record lost with Redis is lost.
   */
  durable?: { insertUsage(records: UsageRecord[]): Promise<void>; storedUsageIds(requestIds: readonly string[]): Promise<string[]> }
  /** Settled records held at most (default 50,000, about 30 MB); past it the oldest is forgotten (logged, counted). */
  maxOutbox?: number
  /** Told how many held records were just forgotten because the outbox was full (a metric). */
  onOutboxDrop?: (n: number) => void
  /** Every this often: retry failed settles/releases, check the epochs of held tenants, confirm old records (1 s). */
  sweepMs?: number
  /** A held record is looked up in the store after this long (default 10 s); usually the shipper confirms it first. */
  confirmAfterMs?: number
  log?: LogFn
  /** Told after every successful settle (the usage shipper ships that tenant on its next pass). */
  onSettled?: (tenantId: string) => void
  /** Clock passed to the scripts (ms). */
  now?: () => number
  /** How long settled/released request ids are remembered for exactly-once (default 24 h). */
  doneRetentionMs?: number
  /** A reserved counter lives this long past its last reservation's expiry (default 60 s). */
  reservedGraceMs?: number
  /** TTL of the shipping lease a rebuild holds (default SHIP_LEASE_MS). */
  leaseMs?: number
  /** A rebuild waits at most this long for the tenant's shipping lease, then fails (default LEASE_WAIT_MS). */
  leaseWaitMs?: number
  /**
   * Budget slices (slices.ts): µUSD this gateway leases of a tenant's budget at a time, to admit requests of up to a
   * quarter of it without a Redis round trip. 0 or absent: every request reserves in Redis.
   */
  sliceMicros?: number
  /** A slice nobody drew from for this long is given back (default 2 s). */
  sliceIdleMs?: number
  /** Told what the slices hold after each of their sweeps (every sweepMs; metrics). */
  onSlices?: (held: SliceTotals) => void
}

export interface RedisLedger extends BudgetLedger {
  readonly kind: 'redis'
  readonly client: RedisClient
  readonly scripts: BudgetScripts
  /** Make sure the period's spent counter exists (rebuilding it from the store if needed); returns its value. */
  ensureCounter(tenantId: string, periodKey: string): Promise<number>
  /** These records are in the durable store (the usage shipper inserted them): stop holding them. */
  confirmStored(records: readonly Pick<UsageRecord, 'tenantId' | 'requestId'>[]): void
  /** One sweep now (tests; the timer runs it every sweepMs). */
  sweep(): Promise<void>
  /** What this gateway holds: live reservations, unconfirmed records, failed settles/releases to retry, records forgotten. */
  holdings(): { live: number; outbox: number; pending: number; dropped: number }
  /** Budget slices held (null: slices are off). */
  slices(): SliceTotals | null
}

/** How long close() waits for a connection that is reconnecting (its backoff is at most 1 s) before its last try. */
const CLOSE_RECONNECT_WAIT_MS = 1_500

/** Resolves when the client is connected, or after `ms` (the caller's command then fails as usual). */
function whenReady(client: RedisClient, ms: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      client.off('ready', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    client.once('ready', done)
  })
}

/** After a lease is refused (the tenant is near its limit), its requests reserve one by one for this long. */
const NEAR_LIMIT_RECHECK_MS = 1_000

/** Refills a request waits for (others may take each new slice first) before it reserves on its own. */
const MAX_REFILL_WAITS = 64

/** Recoveries one call tries when the tenant's state keeps disappearing right after each recovery. */
const REBUILD_ATTEMPTS = 3

export function unavailable(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err
  const msg = err instanceof Error ? err.message : String(err)
  return new GatewayError('budget_unavailable', `budget store unavailable: ${msg}`)
}

/** Connects (rejecting within about connectTimeoutMs if Redis is unreachable) and preloads the scripts. */
export async function createRedisLedger(opts: RedisLedgerOptions): Promise<RedisLedger> {
  const client = connectRedis(opts)
  // Without a listener ioredis reports every reconnect failure as an unhandled 'error' event.
  client.on('error', () => {})
  const connectTimeout = opts.connectTimeoutMs ?? 500
  try {
    await withTimeout(client.connect(), connectTimeout * 4, 'connect')
    await preloadScripts(client)
  } catch (e) {
    client.disconnect()
    throw new Error(`cannot reach Redis at ${String(opts.url)}: ${e instanceof Error ? e.message : String(e)}`)
  }
  return ledgerOn(client, opts)
}

function ledgerOn(client: RedisClient, opts: RedisLedgerOptions): RedisLedger {
  const scripts = registerScripts(client)
  const now = opts.now ?? Date.now
  const log = opts.log ?? (() => {})
  const doneRetentionMs = opts.doneRetentionMs ?? 86_400_000
  const graceMs = opts.reservedGraceMs ?? 60_000
  const maxOutbox = opts.durable ? (opts.maxOutbox ?? 50_000) : 0
  const holdings = new Holdings(maxOutbox)
  // Failed settles/releases, retried by the sweep. Done ids are remembered doneRetentionMs: retry within half of it.
  const pending = new RetryQueue(Math.max(maxOutbox, 10_000), doneRetentionMs / 2, log, (op) => dropped(op))
  const recovering = new Map<string, Promise<void>>()
  const tenantsSeen = new Map<string, number>()
  const deps: RecoveryDeps = {
    client, scripts, holdings, rebuild: opts.rebuild, insertUsage: opts.durable && ((r) => opts.durable!.insertUsage(r)), now,
    reservedGraceMs: graceMs, leaseMs: opts.leaseMs ?? SHIP_LEASE_MS, leaseWaitMs: opts.leaseWaitMs ?? LEASE_WAIT_MS,
  }
  const hk = RetryQueue.key
  let lastDropLog = 0

  /** One recovery per tenant in flight in this process; other gateways are kept out by the shipping lease. */
  function recover(tenantId: string, periodKey?: string): Promise<void> {
    let p = recovering.get(tenantId)
    if (!p) {
      // Redis may have lost the shipper's tenant set too: add the tenant again with its next settle.
      p = recoverTenantAgainIfLeaseLost(tenantId, periodKey).finally(() => { recovering.delete(tenantId); tenantsSeen.delete(tenantId) })
      recovering.set(tenantId, p)
    }
    return p
  }

  /**
   * A recovery whose lease is gone when recover.lua runs (Redis emptied again mid-rebuild, or the lease expired under a
   * slow store query) is refused by that script, which then writes nothing; no holdings change before a recovery
   * succeeds, and every step before is safe to repeat. So it starts over, a bounded number of times, rather than fail
   * every request waiting on it.
   */
  async function recoverTenantAgainIfLeaseLost(tenantId: string, periodKey?: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      // A slice that Redis lost serves no more draws, and is put back only for the draws in flight (admitted against
      // it): put back whole, it could hold budget another gateway has since reserved. Recoveries for a missing counter
      // retire the slices too, which costs a lease. On every try: a slice leased while a cut-short one ran (under the
      // epoch it had created) may have been lost with it.
      for (const s of book?.lostWith(tenantId) ?? []) holdings.resized(tenantId, s.id, s.held)
      try {
        return await recoverTenant(deps, tenantId, periodKey)
      } catch (e) {
        if (!isLeaseLost(e) || attempt === REBUILD_ATTEMPTS) throw e
      }
    }
  }

  /** Runs a script until it does not answer -1 (recovering in between), a bounded number of times. */
  async function withRecovery<R extends unknown[] | number>(tenantId: string, periodKey: string, run: () => Promise<R>): Promise<R> {
    for (let i = 0; ; i++) {
      const r = await run()
      if ((Array.isArray(r) ? r[0] : r) !== -1) return r
      if (i === REBUILD_ATTEMPTS) throw new Error(`budget state of ${tenantId} vanished right after recovery (${i} times)`)
      await recover(tenantId, periodKey)
    }
  }

  /**
   * The shipper finds streams through this set. SADD outside the script (the set has no tenant hash tag),
   * at most every 30 s per tenant; if Redis lost the set, records wait in the stream until the next SADD.
   */
  function touchTenant(tenantId: string): void {
    const t = now()
    const last = tenantsSeen.get(tenantId)
    if (last !== undefined && t - last < 30_000) return
    tenantsSeen.set(tenantId, t)
    client.sadd(LEDGER_TENANTS_KEY, tenantId).catch(() => tenantsSeen.delete(tenantId))
  }

  /** `retry`: an earlier attempt failed without an answer, so "already settled" means that attempt went through. */
  async function settleNow(input: SettleInput, retry = false): Promise<boolean> {
    const k = tenantKeys(input.tenantId)
    const record = { ...input.record, requestId: input.requestId, tenantId: input.tenantId, costUsdMicros: input.costMicros }
    const fields = recordToFields(record)
    const drawn = book?.drawOf(input.tenantId, input.requestId)
    const r = await withRecovery(input.tenantId, input.periodKey, () => scripts.settle(
      [k.spent(input.periodKey), k.reserved(input.periodKey), k.resv, k.resvAmt, k.done, k.ledger, k.epoch],
      [input.requestId, input.costMicros, now(), doneRetentionMs, input.periodKey, holdings.epochOf(input.tenantId), JSON.stringify(fields),
        drawn?.slice.id ?? '', drawn?.amount ?? 0]))
    if (r[0] === -1) throw new Error('unreachable')
    await letGoIfRegisteredAgain(input.tenantId, input.periodKey, input.requestId, r[1])
    if (r[0] === 0 && !retry) {
      // Ended before (released): that call left the draw in the slice, where it is free again.
      if (drawn) book!.undrawn(input.requestId)
      holdings.ended(input.tenantId, input.requestId)
      return false
    }
    if (drawn) {
      book!.settled(input.requestId)
      holdings.resized(input.tenantId, drawn.slice.id, drawn.slice.held)
      // Redis still holds the slice, or no longer does (reclaimed, or restored from an older snapshot): then it backs
      // no more draws.
      if (r[0] === 1 && r[2] === 0) book!.retire(drawn.slice)
      else drawn.slice.confirmedAt = now()
    }
    const forgotten = holdings.settled(input.tenantId, input.periodKey, record, r[1], now())
    if (forgotten > 0) outboxFull(forgotten)
    touchTenant(input.tenantId)
    opts.onSettled?.(input.tenantId)
    return true
  }

  /** release.lua for the request, recovering the tenant in between if Redis lost its state. */
  function releaseInRedis(tenantId: string, periodKey: string, requestId: string): Promise<[1 | 0, string] | [-1]> {
    const k = tenantKeys(tenantId)
    return withRecovery(tenantId, periodKey, () => scripts.release([k.reserved(periodKey), k.resv, k.resvAmt, k.done, k.epoch],
      [requestId, periodKey, now(), doneRetentionMs, holdings.epochOf(tenantId)]))
  }

  /** A release Redis did not answer, retried by the sweep: else what it holds would stay held until it expires. */
  function keepRelease(tenantId: string, periodKey: string, requestId: string): void {
    pending.keep(hk(tenantId, requestId), { kind: 'release', tenantId, periodKey, requestId, since: now() })
  }

  async function releaseNow(tenantId: string, periodKey: string, requestId: string): Promise<void> {
    const r = await releaseInRedis(tenantId, periodKey, requestId)
    if (r.length !== 2) throw new Error('unreachable')
    await letGoIfRegisteredAgain(tenantId, periodKey, requestId, r[1])
    holdings.ended(tenantId, requestId)
    // A request drawn from a slice had no reservation of its own: its draw is free in the slice again.
    book?.undrawn(requestId)
  }

  /**
   * The settle/release ran in `epoch`, but a recovery in this process registered the reservation again in a newer
   * epoch before this reply was seen (Redis was emptied in between): that hold must go too, or it would keep the
   * tenant's budget until it expires. The release is a no-op if the request is done there already.
   */
  async function letGoIfRegisteredAgain(tenantId: string, periodKey: string, requestId: string, epoch: string): Promise<void> {
    const held = holdings.liveEpoch(tenantId, requestId)
    if (held === undefined || held === epoch) return
    holdings.ended(tenantId, requestId)
    // Never throws: the settle itself went through and must not be retried.
    await releaseInRedis(tenantId, periodKey, requestId).catch(() => keepRelease(tenantId, periodKey, requestId))
  }

  function outboxFull(n: number): void {
    opts.onOutboxDrop?.(n)
    if (now() - lastDropLog < 10_000) return
    lastDropLog = now()
    log({ level: 'warn', msg: 'ledger outbox full: oldest unshipped usage records no longer held (lost if Redis loses them)',
      max_outbox: maxOutbox, dropped_total: holdings.dropped })
  }

  const retryOp = (op: PendingOp) => op.kind === 'settle' ? settleNow(op.input, true) : releaseNow(op.tenantId, op.periodKey, op.requestId)
  const sweeper = startSweep({
    holdings, retries: pending, now, everyMs: opts.sweepMs ?? 1_000, confirmAfterMs: opts.confirmAfterMs ?? 10_000,
    run: retryOp,
    epochOf: (tenantId) => client.get(tenantKeys(tenantId).epoch),
    recover: (tenantId) => recover(tenantId),
    storedUsageIds: opts.durable && ((ids) => opts.durable!.storedUsageIds(ids)),
    alsoEachPass: () => sweepSlices(),
  })

  /**
   * reserve.lua under the tenant's limit for `requestId`: a request's own reservation of `amount`, or with `least` a
   * budget slice's, granted up to `amount`. An admitted one is registered in the holdings. `at`: when it was made
   * (its expiry is `at` + ttlMs); `held`: what it holds.
   */
  async function reserveInRedis(input: ReserveInput, requestId: string, amount: number, least?: number) {
    const { tenantId, periodKey } = input
    const k = tenantKeys(tenantId)
    const limit = Number.isFinite(input.limitMicros) ? input.limitMicros : -1
    let at = 0
    const r = await withRecovery(tenantId, periodKey, () => {
      at = now()
      return scripts.reserve([k.spent(periodKey), k.reserved(periodKey), k.resv, k.resvAmt, k.epoch],
        [requestId, amount, limit, at, at + input.ttlMs, periodKey, graceMs, holdings.epochOf(tenantId), ...(least === undefined ? [] : [least])])
    })
    if (r[0] === -1) throw new Error('unreachable')
    // A reservation made already (a repeated reserve) answers without a grant: it holds what was asked.
    const held = r[0] === 1 ? (r[4] ?? amount) : 0
    if (r[0] === 1) holdings.reserved(tenantId, { requestId, periodKey, amount: held, expiry: at + input.ttlMs, epoch: r[3] })
    return { r, at, held }
  }

  async function reserveNow(input: ReserveInput): Promise<ReserveResult> {
    const { r } = await reserveInRedis(input, input.requestId, input.amountMicros)
    if (r[0] === 0) return { ok: false, reason: 'budget_exceeded', spentMicros: r[1], reservedMicros: r[2] }
    return { ok: true }
  }

  // ---- budget slices (slices.ts) ----
  const book = opts.sliceMicros && opts.sliceMicros > 0 ? new SliceBook(opts.sliceMicros) : null
  const sliceIdleMs = opts.sliceIdleMs ?? 2_000
  /** One refill per tenant period at a time; requests that find no room wait for it. */
  const refilling = new Map<string, Promise<void>>()
  /** Tenant periods whose last lease was refused, until when their requests reserve one by one. */
  const nearLimitUntil = new Map<string, number>()
  /** One confirmation per slice at a time (Slice.confirmedAt). */
  const confirming = new Map<Slice, Promise<void>>()
  /** close() has begun: requests reserve on their own, and no slice is leased that nobody would give back. */
  let closing = false
  const ADMITTED: ReserveResult = { ok: true }

  /** Admits the request from a slice (leasing one if needed); null: it must reserve on its own. */
  async function reserveFromSlice(input: ReserveInput): Promise<ReserveResult | null> {
    const { tenantId, periodKey, requestId, amountMicros } = input
    // Each refill either leases room for at least this request or marks the tenant near its limit, so waiting for
    // the next one is progress. A request must not fall back to its own reservation while slices are still being
    // leased: a slice leased meanwhile can hold the room it needed (requests refused below the limit).
    for (let attempt = 0; attempt < MAX_REFILL_WAITS; attempt++) {
      if (book!.drawOf(tenantId, requestId)) return ADMITTED
      const drawn = book!.draw(tenantId, periodKey, requestId, amountMicros, input.limitMicros, now())
      if (drawn === 'drawn') return ADMITTED
      if (drawn === 'confirm') {
        await confirm(book!.current(tenantId, periodKey)!)
        continue
      }
      const key = `${tenantId}\0${periodKey}`
      const until = nearLimitUntil.get(key)
      if (until !== undefined) {
        if (until > now()) return null
        nearLimitUntil.delete(key)
      }
      let p = refilling.get(key)
      if (!p) {
        p = refill(input, key).finally(() => refilling.delete(key))
        refilling.set(key, p)
      }
      await p
    }
    return null
  }

  /**
   * Gives back what the current slice holds beyond its draws in flight, then leases a new one. Giving back first
   * means that near the limit the lease, and every request that then reserves on its own, sees all of the budget
   * this gateway does not need: requests are refused only for budget that is spent or drawn.
   */
  async function refill(input: ReserveInput, key: string): Promise<void> {
    const old = book!.current(input.tenantId, input.periodKey)
    if (old) await retire(old)
    if (!(await lease(input))) nearLimitUntil.set(key, now() + NEAR_LIMIT_RECHECK_MS)
  }

  /** Redis still has the tenant's epoch the slice was registered in: trust the slice again; else recover. */
  function confirm(s: Slice): Promise<void> {
    let p = confirming.get(s)
    if (!p) {
      p = (async () => {
        const epoch = await client.get(tenantKeys(s.tenantId).epoch)
        if (epoch !== null && epoch === holdings.liveEpoch(s.tenantId, s.id)) s.confirmedAt = now()
        else await recover(s.tenantId, s.periodKey)
      })().finally(() => confirming.delete(s))
      confirming.set(s, p)
    }
    return p
  }

  async function lease(input: ReserveInput): Promise<boolean> {
    const { tenantId, periodKey } = input
    const id = `slice:${crypto.randomUUID()}`
    let leased: Awaited<ReturnType<typeof reserveInRedis>>
    try {
      leased = await reserveInRedis(input, id, book!.sliceMicros, input.amountMicros)
    } catch (e) {
      // No answer, but Redis may have run it (a reply that timed out): released by the sweep like a failed release,
      // else a slice nobody knows of would hold the tenant's budget for the reservation's 2 hours. Releasing an id
      // Redis never saw only marks it done, and slice ids are never a request's.
      keepRelease(tenantId, periodKey, id)
      throw e
    }
    const { r, at, held } = leased
    if (r[0] !== 1) return false
    // Drawn from for a twelfth of the reservation's life (10 minutes of 2 hours), so that a request drawn at the
    // last moment, which may run 100 minutes (service.ts MAX_REQUEST_MS), still ends before the slice expires.
    // Confirmed as of the reply; the draw window counts from the time the reservation's expiry was computed from.
    book!.add({ id, tenantId, periodKey, limitMicros: input.limitMicros, held, inflight: 0, draws: 0, lastDrawAt: at,
      confirmedAt: now(), drawUntil: at + Math.floor(input.ttlMs / 12), retired: false })
    return true
  }

  /** No more draws from the slice; what it holds beyond its draws goes back now, the rest once they end. */
  async function retire(s: Slice): Promise<void> {
    const extra = book!.retire(s)
    if (s.draws === 0) {
      book!.forget(s)
      return giveBack(s)
    }
    if (extra === 0) return
    const k = tenantKeys(s.tenantId)
    await withRecovery(s.tenantId, s.periodKey, () =>
      scripts.trim([k.reserved(s.periodKey), k.resvAmt, k.epoch], [s.id, s.periodKey, extra, holdings.epochOf(s.tenantId)]))
    book!.gaveBack(s, extra)
    holdings.resized(s.tenantId, s.id, s.held)
  }

  /** Drops a finished slice's reservation; retried by the sweep like any release if Redis does not answer. */
  async function giveBack(s: Slice): Promise<void> {
    await releaseNow(s.tenantId, s.periodKey, s.id).catch(() => keepRelease(s.tenantId, s.periodKey, s.id))
  }

  /**
   * A settle or release of a request drawn from a slice that will not be retried: whether Redis applied it is
   * unknown, so the slice is retired (no more draws from what it may or may not still hold) and the draw ended, so
   * that the slice, once its other draws end, is released whole.
   */
  function dropped(op: PendingOp): void {
    const tenantId = op.kind === 'settle' ? op.input.tenantId : op.tenantId
    const requestId = op.kind === 'settle' ? op.input.requestId : op.requestId
    const drawn = book?.drawOf(tenantId, requestId)
    if (!drawn) return
    book!.retire(drawn.slice)
    book!.undrawn(requestId)
  }

  /** Every sweep: idle slices are retired, finished ones given back. */
  async function sweepSlices(): Promise<void> {
    if (!book) return
    const t = now()
    for (const [key, until] of nearLimitUntil) if (until <= t) nearLimitUntil.delete(key)
    await Promise.all(book.idle(t, sliceIdleMs).map(s => retire(s).catch(() => {})))
    await Promise.all(book.takeFinished().map(giveBack))
    opts.onSlices?.(book.size())
  }

  return {
    kind: 'redis',
    client,
    scripts,

    async reserve(input: ReserveInput): Promise<ReserveResult> {
      if (!Number.isSafeInteger(input.amountMicros) || input.amountMicros < 0) throw new RangeError('amountMicros must be a non-negative integer')
      try {
        // A request already reserved on its own stays so (a repeated reserve is idempotent).
        if (book?.fits(input.amountMicros) && !closing && holdings.liveEpoch(input.tenantId, input.requestId) === undefined) {
          const r = await reserveFromSlice(input)
          if (r) return r
        }
        return await reserveNow(input)
      } catch (e) {
        throw unavailable(e)
      }
    },

    async settle(input: SettleInput): Promise<{ settled: boolean }> {
      if (!Number.isSafeInteger(input.costMicros) || input.costMicros < 0) throw new RangeError('costMicros must be a non-negative integer')
      const key = hk(input.tenantId, input.requestId)
      // Settled already (its record is held), or its failed settle is being retried: exactly once even if Redis
      // lost its done set meanwhile.
      if (holdings.inOutbox(input.tenantId, input.requestId) || pending.has(key)) return { settled: false }
      try {
        return { settled: await settleNow(input) }
      } catch (e) {
        // The cost is owed whatever Redis says now: retried until it goes through (its reservation is still held).
        pending.keep(key, { kind: 'settle', input, since: now() })
        throw unavailable(e)
      }
    },

    async release(tenantId: string, periodKey: string, requestId: string): Promise<void> {
      const key = hk(tenantId, requestId)
      if (pending.has(key)) return
      try {
        await releaseNow(tenantId, periodKey, requestId)
      } catch (e) {
        keepRelease(tenantId, periodKey, requestId)
        throw unavailable(e)
      }
    },

    async snapshot(tenantId: string, periodKey: string): Promise<PeriodSnapshot> {
      const k = tenantKeys(tenantId)
      try {
        // Same hash tag ⇒ same slot ⇒ MGET is legal on a cluster.
        let [spent, reserved] = await client.mget(k.spent(periodKey), k.reserved(periodKey))
        if (spent === null) {
          await recover(tenantId, periodKey)
          ;[spent, reserved] = await client.mget(k.spent(periodKey), k.reserved(periodKey))
          if (spent === null) throw new Error('spent counter vanished right after recovery')
        }
        return { spentMicros: Number(spent), reservedMicros: Number(reserved ?? 0) }
      } catch (e) {
        throw unavailable(e)
      }
    },

    async ensureCounter(tenantId: string, periodKey: string): Promise<number> {
      const k = tenantKeys(tenantId)
      try {
        // The epoch too: priming a tenant at boot then spares its first request a recovery.
        let [spent, epoch] = await client.mget(k.spent(periodKey), k.epoch)
        if (spent === null || epoch === null) {
          await recover(tenantId, periodKey)
          spent = await client.get(k.spent(periodKey))
          if (spent === null) throw new Error('spent counter vanished right after recovery')
        }
        return Number(spent)
      } catch (e) {
        throw unavailable(e)
      }
    },

    confirmStored(records) {
      holdings.stored(records)
    },
    sweep: () => sweeper.sweep(),
    holdings() {
      return { ...holdings.size(), pending: pending.size, dropped: holdings.dropped }
    },
    slices: () => book?.size() ?? null,

    async close(): Promise<void> {
      closing = true
      await sweeper.stop()
      // A lease on the wire would add a slice after the ones given back below.
      await Promise.allSettled([...refilling.values()])
      // Requests have ended (the gateway drained): give back every slice, so the budget it held is free at once
      // rather than when its reservation expires. A slice whose draws are still in flight keeps only those.
      if (book) await Promise.all(book.all().map(s => retire(s).catch(() => {})))
      // Settles and releases that failed wait for the next sweep; a stopping gateway has none, so each gets one
      // last try (stopping at the first failure: Redis is likely still down). Else a charge owed when Redis
      // blinked just before the stop would be dropped with the process.
      if (pending.size > 0) {
        await whenReady(client, CLOSE_RECONNECT_WAIT_MS)
        await pending.retry(now(), retryOp)
      }
      if (pending.size > 0) {
        log({ level: 'error', msg: 'ledger stopping with settles or releases Redis has not applied (their reservations are reclaimed after 2 hours; each was logged as it failed)', pending: pending.size })
      }
      await client.quit().catch(() => client.disconnect())
    },
  }
}
