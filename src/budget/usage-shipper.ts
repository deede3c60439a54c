/**
 * Moves usage records from the tenants' Redis ledger streams to the store (Postgres usage_records) in batches.
 *
 * Delivery is at-least-once into an idempotent sink (insert ON CONFLICT DO NOTHING on request_id), which is
 * exactly-once in the table:
 * - XREADGROUP (one consumer group per stream), insert, and only then ack.lua (XACK + XDEL + shipped count).
 *   If the store is down the entries stay pending for this consumer and are re-read (id 0) after a backoff.
 * - A gateway that died after settle leaves entries pending under its consumer name; XAUTOCLAIM hands those
 *   idle longer than claimIdleMs to a live shipper.
 * Tenants are discovered from the set `gw:ledger:tenants`, which the ledger SADDs after settles (see
 * redis-ledger.ts); `addTenant` registers one explicitly (e.g. every warmed tenant at boot). The set only
 * grows (one small entry per tenant ever settled); a tenant with an empty stream costs 3 cheap calls a pass.
 */
import { hostname } from 'node:os'
import type { LogFn } from '../log.ts'
import type { Store } from '../store/types.ts'
import { fieldsToRecord, LEDGER_TENANTS_KEY, registerScripts, tenantKeys, type BudgetScripts, type RedisClient } from './scripts.ts'
import type { UsageRecord } from './types.ts'

export interface UsageShipperOptions {
  /** The Redis ledger (or anything exposing its client); or pass `client` directly. */
  source?: { client: RedisClient }
  client?: RedisClient
  store: Pick<Store, 'insertUsage'>
  batchSize?: number
  intervalMs?: number
  /** Pending entries idle longer than this are taken over from a (presumably dead) consumer. */
  claimIdleMs?: number
  /** One group name for all gateways: entries are XDELed once shipped, so a second group would miss them. */
  group?: string
  consumer?: string
  /**
   * true (default): ship every tenant in `gw:ledger:tenants` plus those added with addTenant.
   * false: only tenants added with addTenant (tests sharing a Redis must not ship other people's records).
   */
  discover?: boolean
  onError?: (err: unknown) => void
  log?: LogFn
}

export interface UsageShipper {
  start(): void
  /** Ship everything that is there now (SIGTERM path); rejects if the store still fails. */
  flush(): Promise<void>
  /** One pass over all tenants; returns the number of records shipped. */
  tick(): Promise<number>
  addTenant(tenantId: string): Promise<void>
  stop(): Promise<void>
}

type StreamEntry = [id: string, fields: string[]]
/** Streams read in parallel per pass (commands are auto-pipelined). */
const READ_CONCURRENCY = 16

interface Picked { tenantId: string; id: string; periodKey: string; record: UsageRecord }

export function createUsageShipper(opts: UsageShipperOptions): UsageShipper {
  const maybeClient = opts.client ?? opts.source?.client
  if (!maybeClient) throw new TypeError('createUsageShipper needs `client` or `source`')
  const client: RedisClient = maybeClient
  const onError = (e: unknown) => {
    opts.onError?.(e)
    opts.log?.({ level: 'warn', msg: 'usage shipper: will retry', error: e instanceof Error ? e.message : String(e) })
  }
  const scripts: BudgetScripts = registerScripts(client)
  const batchSize = opts.batchSize ?? 500
  const intervalMs = opts.intervalMs ?? 1_000
  const claimIdleMs = opts.claimIdleMs ?? 30_000
  const group = opts.group ?? 'usage-shipper'
  const consumer = opts.consumer ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
  const discover = opts.discover ?? true
  const registered = new Set<string>()
  const groupsMade = new Set<string>()
  let timer: ReturnType<typeof setTimeout> | null = null
  let running: Promise<number> | null = null
  let stopped = false
  let failures = 0
  let rotation = 0

  async function ensureGroup(stream: string): Promise<void> {
    if (groupsMade.has(stream)) return
    await scripts.ensureGroup([stream], [group])
    groupsMade.add(stream)
  }

  /** This consumer's own unacked entries first (a failed insert), then dead consumers', then new ones. */
  async function readTenant(tenantId: string, count: number): Promise<StreamEntry[]> {
    const stream = tenantKeys(tenantId).ledger
    await ensureGroup(stream)
    try {
      const own = await xreadgroup(stream, '0', count)
      if (own.length > 0) return own
      const claimed = (await client.xautoclaim(stream, group, consumer, claimIdleMs, '0-0', 'COUNT', count)) as [string, StreamEntry[], string[]?]
      const live = claimed[1].filter(e => e[1] !== null) // deleted entries come back with null fields
      if (live.length > 0) return live
      return await xreadgroup(stream, '>', count)
    } catch (e) {
      // The stream (and its group) vanished, e.g. Redis restarted empty: make it again next time.
      if (String(e).includes('NOGROUP')) groupsMade.delete(stream)
      throw e
    }
  }

  async function xreadgroup(stream: string, id: string, count: number): Promise<StreamEntry[]> {
    const res = (await client.xreadgroup('GROUP', group, consumer, 'COUNT', count, 'STREAMS', stream, id)) as
      [string, StreamEntry[]][] | null
    return res?.[0]?.[1] ?? []
  }

  async function tickOnce(): Promise<number> {
    const all = [...new Set([...(discover ? await client.smembers(LEDGER_TENANTS_KEY) : []), ...registered])]
    // Start at a different tenant each pass so one tenant's backlog cannot starve the others.
    const start = all.length > 0 ? rotation++ % all.length : 0
    const tenants = [...all.slice(start), ...all.slice(0, start)]
    const picked: Picked[] = []
    const junk: Picked[] = []
    for (let i = 0; i < tenants.length && picked.length < batchSize; i += READ_CONCURRENCY) {
      const want = batchSize - picked.length
      const chunk = tenants.slice(i, i + READ_CONCURRENCY)
      const results = await Promise.all(chunk.map(t => readTenant(t, want)))
      chunk.forEach((tenantId, j) => {
        for (const [id, fields] of results[j]) {
          const parsed = fieldsToRecord(fields)
          // A malformed entry can never be inserted; ack it so it does not block the stream forever.
          if (!parsed) { junk.push({ tenantId, id, periodKey: '', record: null as unknown as UsageRecord }); continue }
          picked.push({ tenantId, id, ...parsed })
        }
      })
    }
    if (picked.length > 0) await opts.store.insertUsage(picked.map(p => p.record))
    const byTenant = new Map<string, (string | number)[]>()
    for (const p of [...picked, ...junk]) {
      let args = byTenant.get(p.tenantId)
      if (!args) { args = [group]; byTenant.set(p.tenantId, args) }
      args.push(p.id, p.periodKey || 'invalid', p.record ? p.record.costUsdMicros : 0)
    }
    await Promise.all([...byTenant].map(([t, args]) => {
      const k = tenantKeys(t)
      return scripts.ack([k.ledger, k.shipped], args)
    }))
    return picked.length
  }

  function tick(): Promise<number> {
    if (!running) running = tickOnce().finally(() => { running = null })
    return running
  }

  function schedule(delay: number): void {
    if (stopped) return
    timer = setTimeout(async () => {
      timer = null
      try {
        const n = await tick()
        failures = 0
        // A full batch means there is more: go again at once.
        schedule(n >= batchSize ? 0 : intervalMs)
      } catch (e) {
        onError(e)
        failures++
        schedule(Math.min(intervalMs * 2 ** failures, 30_000)) // back off while the store (or Redis) is down
      }
    }, delay)
    timer.unref?.()
  }

  return {
    start() {
      stopped = false
      if (!timer) schedule(0)
    },
    async flush() {
      for (;;) {
        if (running) await running.catch(() => {})
        const n = await tick()
        if (n === 0) return
      }
    },
    tick,
    async addTenant(tenantId: string) {
      registered.add(tenantId)
      if (discover) await client.sadd(LEDGER_TENANTS_KEY, tenantId)
    },
    async stop() {
      stopped = true
      if (timer) { clearTimeout(timer); timer = null }
      if (running) await running.catch(() => {})
    },
  }
}
