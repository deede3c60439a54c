/**
 * BudgetLedger on Redis (single node or Cluster): every mutation is one Lua script (see scripts.ts).
 *
 * Fail fast, fail closed: short connect/command timeouts, no offline queue and one retry, so while Redis is
 * unreachable every call rejects with GatewayError('budget_unavailable') within about commandTimeoutMs instead
 * of queueing requests; ioredis keeps reconnecting in the background, so service resumes on its own.
 */
import { Cluster, Redis } from 'ioredis'
import { GatewayError } from '../http/errors.ts'
import {
  LEASE_WAIT_MS, LEDGER_TENANTS_KEY, leaseToken, preloadScripts, recordToFields, registerScripts, SHIP_LEASE_MS, tenantKeys,
  type BudgetScripts, type RedisClient,
} from './scripts.ts'
import type { BudgetLedger, PeriodSnapshot, ReserveInput, ReserveResult, SettleInput } from './types.ts'

export interface RedisLedgerOptions {
  /** `redis://host:port` or, for a cluster, the seed nodes. */
  url: string | string[]
  cluster?: boolean
  /**
   * Sum of the tenant's usage in the store for the period (Postgres usage_records), leaving out the records whose
   * request id is in `excludeRequestIds` (they are still in the ledger stream and counted from there).
   */
  rebuild: (tenantId: string, periodKey: string, excludeRequestIds: string[]) => Promise<number>
  commandTimeoutMs?: number
  connectTimeoutMs?: number
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
}

export interface RedisLedger extends BudgetLedger {
  readonly kind: 'redis'
  readonly client: RedisClient
  readonly scripts: BudgetScripts
  /** Make sure the period's spent counter exists (rebuilding it from the store if needed); returns its value. */
  ensureCounter(tenantId: string, periodKey: string): Promise<number>
}

const DAY_MS = 86_400_000
/** Stream entries per XRANGE call while a rebuild collects request ids. */
const STREAM_PAGE = 1_000
/** Rebuilds one reserve tries when the counter keeps disappearing right after each rebuild. */
const REBUILD_ATTEMPTS = 3

/** Spent counters of past days/months are only read by reports; let Redis drop them (a rebuild restores one). */
function counterTtlMs(periodKey: string): number {
  if (periodKey.startsWith('day:')) return 40 * DAY_MS
  if (periodKey.startsWith('month:')) return 400 * DAY_MS
  return 0
}

function toNode(u: string): { host: string; port: number } {
  const p = new URL(u.includes('://') ? u : `redis://${u}`)
  return { host: p.hostname, port: Number(p.port || 6379) }
}

export function unavailable(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err
  const msg = err instanceof Error ? err.message : String(err)
  return new GatewayError('budget_unavailable', `budget store unavailable: ${msg}`)
}

export function connectRedis(opts: Pick<RedisLedgerOptions, 'url' | 'cluster' | 'commandTimeoutMs' | 'connectTimeoutMs'>): RedisClient {
  const commandTimeout = opts.commandTimeoutMs ?? 500
  const connectTimeout = opts.connectTimeoutMs ?? 500
  const nodeOpts = {
    connectTimeout,
    commandTimeout,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    lazyConnect: true,
    // Reconnect forever, backing off to 1 s: the gateway must recover without a restart.
    retryStrategy: (times: number) => Math.min(50 * times, 1000),
  }
  const urls = Array.isArray(opts.url) ? opts.url : [opts.url]
  if (opts.cluster) {
    return new Cluster(urls.map(toNode), {
      enableOfflineQueue: false,
      lazyConnect: true,
      enableAutoPipelining: true,
      slotsRefreshTimeout: connectTimeout * 2,
      clusterRetryStrategy: (times: number) => Math.min(100 * times, 1000),
      redisOptions: { connectTimeout, commandTimeout, maxRetriesPerRequest: 1 },
    })
  }
  return new Redis(urls[0], { ...nodeOpts, enableAutoPipelining: true })
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

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const t = new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error(`${what} timed out after ${ms} ms`)), ms) })
  return Promise.race([p, t]).finally(() => clearTimeout(timer))
}

function ledgerOn(client: RedisClient, opts: RedisLedgerOptions): RedisLedger {
  const scripts = registerScripts(client)
  const now = opts.now ?? Date.now
  const doneRetentionMs = opts.doneRetentionMs ?? DAY_MS
  const graceMs = opts.reservedGraceMs ?? 60_000
  const leaseMs = opts.leaseMs ?? SHIP_LEASE_MS
  const leaseWaitMs = opts.leaseWaitMs ?? LEASE_WAIT_MS
  const rebuilding = new Map<string, Promise<number>>()
  const tenantsSeen = new Map<string, number>()

  /**
   * Exact rebuild (see init-counter.lua): under the tenant's shipping lease, read the request ids of the period's
   * stream entries, ask the store for the period's sum without them, and let the script add every entry of the
   * period that is in the stream then. No lease within leaseWaitMs → throw (the reserve fails budget_unavailable
   * rather than guessing).
   */
  async function rebuildCounter(tenantId: string, periodKey: string): Promise<number> {
    const k = tenantKeys(tenantId)
    const token = leaseToken()
    await acquireLease(k.shipLease, token)
    try {
      const cur = await client.get(k.spent(periodKey)) // rebuilt by another gateway while we waited
      if (cur !== null) return Number(cur)
      const inStream = await streamRequestIds(k.ledger, periodKey)
      const fromStore = await opts.rebuild(tenantId, periodKey, inStream)
      if (!Number.isSafeInteger(fromStore) || fromStore < 0) throw new Error(`rebuild returned ${fromStore}`)
      return await scripts.initCounter([k.spent(periodKey), k.ledger, k.shipLease], [fromStore, periodKey, counterTtlMs(periodKey), token])
    } finally {
      await scripts.releaseLease([k.shipLease], [token]).catch(() => {}) // else it expires after leaseMs
    }
  }

  async function acquireLease(key: string, token: string): Promise<void> {
    const deadline = performance.now() + leaseWaitMs
    for (;;) {
      if ((await client.set(key, token, 'PX', leaseMs, 'NX')) === 'OK') return
      // A shipper holds it for one batch (read, insert, ack): usually milliseconds.
      if (performance.now() > deadline) throw new Error(`ledger busy: no shipping lease for ${key} within ${leaseWaitMs} ms`)
      await Bun.sleep(5 + Math.random() * 10)
    }
  }

  /** Request ids of the period's usage records in the stream, pending ones included (XRANGE sees every entry). */
  async function streamRequestIds(stream: string, periodKey: string): Promise<string[]> {
    const ids: string[] = []
    let start = '-'
    for (;;) {
      const page = (await client.xrange(stream, start, '+', 'COUNT', STREAM_PAGE)) as [string, string[]][]
      for (const [, f] of page) {
        // Same test as init-counter.lua ('period', <key>, 'cost', <µUSD>, ... written by settle.lua).
        if (f[0] !== 'period' || f[1] !== periodKey) continue
        for (let i = 4; i + 1 < f.length; i += 2) if (f[i] === 'requestId') { ids.push(f[i + 1]); break }
      }
      if (page.length < STREAM_PAGE) return ids
      start = `(${page[page.length - 1][0]}`
    }
  }

  /** One rebuild per (tenant, period) in flight in this process; other gateways are made safe by SET NX. */
  function ensureCounterRaw(tenantId: string, periodKey: string): Promise<number> {
    const id = `${tenantId}\0${periodKey}`
    let p = rebuilding.get(id)
    if (!p) {
      p = rebuildCounter(tenantId, periodKey).finally(() => rebuilding.delete(id))
      rebuilding.set(id, p)
    }
    return p
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

  async function reserveOnce(input: ReserveInput): Promise<number[]> {
    const k = tenantKeys(input.tenantId)
    const t = now()
    const limit = Number.isFinite(input.limitMicros) ? input.limitMicros : -1
    return scripts.reserve([k.spent(input.periodKey), k.reserved(input.periodKey), k.resv, k.resvAmt],
      [input.requestId, input.amountMicros, limit, t, t + input.ttlMs, input.periodKey, graceMs])
  }

  return {
    kind: 'redis',
    client,
    scripts,

    async reserve(input: ReserveInput): Promise<ReserveResult> {
      if (!Number.isSafeInteger(input.amountMicros) || input.amountMicros < 0) throw new RangeError('amountMicros must be a non-negative integer')
      try {
        let r = await reserveOnce(input)
        // Lost again between the rebuild and this reserve (e.g. evicted twice in a row): rebuild again, a few times.
        for (let i = 0; r[0] === -1; i++) {
          if (i === REBUILD_ATTEMPTS) throw new Error(`spent counter vanished right after rebuild (${i} times)`)
          await ensureCounterRaw(input.tenantId, input.periodKey)
          r = await reserveOnce(input)
        }
        if (r[0] === 1) return { ok: true }
        return { ok: false, reason: 'budget_exceeded', spentMicros: r[1], reservedMicros: r[2] }
      } catch (e) {
        throw unavailable(e)
      }
    },

    async settle(input: SettleInput): Promise<{ settled: boolean }> {
      if (!Number.isSafeInteger(input.costMicros) || input.costMicros < 0) throw new RangeError('costMicros must be a non-negative integer')
      const k = tenantKeys(input.tenantId)
      const record = { ...input.record, requestId: input.requestId, tenantId: input.tenantId, costUsdMicros: input.costMicros }
      try {
        const n = await scripts.settle(
          [k.spent(input.periodKey), k.reserved(input.periodKey), k.resv, k.resvAmt, k.done, k.ledger],
          [input.requestId, input.costMicros, now(), doneRetentionMs, input.periodKey, ...recordToFields(record)])
        touchTenant(input.tenantId)
        if (n === 1) opts.onSettled?.(input.tenantId)
        return { settled: n === 1 }
      } catch (e) {
        throw unavailable(e)
      }
    },

    async release(tenantId: string, periodKey: string, requestId: string): Promise<void> {
      const k = tenantKeys(tenantId)
      try {
        await scripts.release([k.reserved(periodKey), k.resv, k.resvAmt, k.done], [requestId, periodKey, now(), doneRetentionMs])
      } catch (e) {
        throw unavailable(e)
      }
    },

    async snapshot(tenantId: string, periodKey: string): Promise<PeriodSnapshot> {
      const k = tenantKeys(tenantId)
      try {
        // Same hash tag ⇒ same slot ⇒ MGET is legal on a cluster.
        const [spent, reserved] = await client.mget(k.spent(periodKey), k.reserved(periodKey))
        const spentMicros = spent === null ? await ensureCounterRaw(tenantId, periodKey) : Number(spent)
        return { spentMicros, reservedMicros: Number(reserved ?? 0) }
      } catch (e) {
        throw unavailable(e)
      }
    },

    async ensureCounter(tenantId: string, periodKey: string): Promise<number> {
      try {
        const v = await client.get(tenantKeys(tenantId).spent(periodKey))
        return v === null ? await ensureCounterRaw(tenantId, periodKey) : Number(v)
      } catch (e) {
        throw unavailable(e)
      }
    },

    async close(): Promise<void> {
      await client.quit().catch(() => client.disconnect())
    },
  }
}
