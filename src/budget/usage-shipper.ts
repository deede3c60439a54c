/**
 * Moves usage records from the tenants' Redis ledger streams to the store (Postgres usage_records) in batches.
 *
 * Delivery is at-least-once into an idempotent sink (insert ON CONFLICT DO NOTHING on request_id), which is
 * exactly-once in the table:
 * - Per tenant and pass: ship-read.lua takes the tenant's shipping lease and reads a batch (XREADGROUP, one
 *   consumer group per stream, recreated on the spot if Redis lost it); then the insert; only then ack.lua
 *   (XACK + XDEL + lease release, only if the lease is still ours). A tenant whose lease is busy (a counter
 *   rebuild, or another gateway's shipper) is skipped this pass. The lease is what makes a counter rebuild exact:
 *   see recover.lua.
 * - If the store is down the entries stay pending for this consumer (lease released) and are re-read (id 0)
 *   after a backoff. If the lease expired during a slow insert, the ack is refused and the batch is re-read and
 *   re-inserted as a no-op.
 * - A gateway that died after settle (or between insert and ack) leaves entries pending under its consumer name
 *   (and its lease expires); XAUTOCLAIM hands those idle longer than claimIdleMs to a live shipper.
 * Tenants are discovered from the set `gw:ledger:tenants`, which the ledger SADDs after settles (see
 * redis-ledger.ts); `addTenant` registers one explicitly. The set only grows (one small entry per tenant ever
 * settled). Timer passes visit the tenants this gateway just settled for (noteSettled) and those with more
 * to ship; a sweep once every `sweepEvery` intervals (over as many passes as it takes), and every flush, visits all of them.
 */
import { hostname } from 'node:os'
import type { LogFn } from '../log.ts'
import type { Store } from '../store/types.ts'
import {
  fieldsToRecord, LEDGER_TENANTS_KEY, leaseToken, parseFieldList, registerScripts, SHIP_LEASE_MS, tenantKeys, type BudgetScripts, type RedisClient,
} from './scripts.ts'
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
  /** TTL of the per-tenant shipping lease held from read to ack (default SHIP_LEASE_MS). */
  leaseMs?: number
  /** One group name for all gateways: entries are XDELed once shipped, so a second group would miss them. */
  group?: string
  consumer?: string
  /**
   * true (default): ship every tenant in `gw:ledger:tenants` plus those added with addTenant.
   * false: only tenants added with addTenant (tests sharing a Redis must not ship other people's records).
   */
  discover?: boolean
  /**
   * Timer passes visit only "hot" tenants (noted by noteSettled, or left with more to ship); from the first pass on,
   * once every `sweepEvery` intervals (30 s by default), a sweep visits every known tenant, over as many passes as its
   * batches take, which finds records settled by other or crashed gateways. Without this, an idle gateway would run
   * one script per known tenant per second (10,000 tenants: 10,000/s).
   */
  sweepEvery?: number
  /** Clock (ms) that spaces the full sweeps (tests). */
  now?: () => number
  onError?: (err: unknown) => void
  /** These records are in the store now (after each successful insert): the gateway that settled them stops holding them. */
  onStored?: (records: UsageRecord[]) => void
  log?: LogFn
}

export interface UsageShipper {
  start(): void
  /**
   * Ship everything that is there now (SIGTERM path); rejects if the store still fails. A tenant whose lease stays
   * busy (another gateway shipping it) is waited for at most about two lease TTLs.
   */
  flush(): Promise<void>
  /** One pass over all tenants; returns the number of records shipped. */
  tick(): Promise<number>
  addTenant(tenantId: string): Promise<void>
  /** This gateway settled for the tenant: visit it on the next timer pass. */
  noteSettled(tenantId: string): void
  stop(): Promise<void>
}

type StreamEntry = [id: string, fieldsJson: string]
/** Streams read in parallel per pass (commands are auto-pipelined). */
const READ_CONCURRENCY = 16

interface Picked { tenantId: string; id: string; record: UsageRecord | null }

/**
 * A full sweep under way. A pass ends once its batch is full, so a sweep may take several: each carries on where the
 * last one stopped (`done`) in the list of known tenants as it was when the sweep began (`tenants`, taken by its first
 * pass: SMEMBERS may list a set in another order once it has grown), until it has visited them all.
 */
interface Sweep { tenants: string[] | null; done: number }

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
  const leaseMs = opts.leaseMs ?? SHIP_LEASE_MS
  const registered = new Set<string>()
  const sweepEvery = opts.sweepEvery ?? 30
  const hot = new Set<string>()
  const now = opts.now ?? (() => performance.now())
  let lastSweepAt = -Infinity
  let sweep: Sweep | null = null
  /** The last timer pass was part of a sweep: the next one serves the hot tenants, if any, so they never wait a whole sweep. */
  let lastWasSweep = false
  let timer: ReturnType<typeof setTimeout> | null = null
  let running: Promise<number> | null = null
  let stopped = false
  let failures = 0
  let rotation = 0
  /** Tenants skipped in the last pass because their lease was busy. */
  let busyLastPass = 0

  /** Takes the tenant's lease and reads a batch; null if the lease is busy. No entries ⇒ the lease is already free. */
  async function readTenant(tenantId: string, count: number): Promise<{ token: string; entries: StreamEntry[] } | null> {
    const k = tenantKeys(tenantId)
    const token = leaseToken()
    const r = await scripts.shipRead([k.ledger, k.shipLease], [token, leaseMs, group, consumer, count, claimIdleMs])
    if (r[0] === 0) return null
    return { token, entries: r[1] }
  }

  async function releaseLeases(held: Map<string, string>): Promise<void> {
    await Promise.all([...held].map(([t, token]) => scripts.releaseLease([tenantKeys(t).shipLease], [token]).catch(() => {})))
  }

  /** The list from a different tenant each time, so that one tenant's backlog cannot starve the others. */
  function rotated(all: string[]): string[] {
    const start = all.length > 0 ? rotation++ % all.length : 0
    return [...all.slice(start), ...all.slice(0, start)]
  }

  async function knownTenants(): Promise<string[]> {
    return rotated([...new Set([...(discover ? await client.smembers(LEDGER_TENANTS_KEY) : []), ...registered])])
  }

  /**
   * One pass over `only` (a hot pass), over the part of a sweep not visited yet, or over every known tenant. Tenants
   * that may have more go back to `hot`.
   */
  async function tickOnce(only?: string[], part?: Sweep): Promise<number> {
    let tenants: string[]
    if (only) tenants = rotated(only)
    else if (part) tenants = (part.tenants ??= await knownTenants()).slice(part.done)
    else tenants = await knownTenants()
    const picked: Picked[] = []
    const held = new Map<string, string>() // tenant → lease token, for tenants with entries read this pass
    let busy = 0
    let visited = 0
    try {
      for (let i = 0; i < tenants.length && picked.length < batchSize; i += READ_CONCURRENCY) {
        visited = Math.min(tenants.length, i + READ_CONCURRENCY)
        const want = batchSize - picked.length
        const chunk = tenants.slice(i, i + READ_CONCURRENCY)
        const results = await Promise.allSettled(chunk.map(t => readTenant(t, want)))
        let failed: unknown = null
        chunk.forEach((tenantId, j) => {
          const r = results[j]
          if (r.status === 'rejected') { failed ??= r.reason; return }
          if (r.value === null) { busy++; hot.add(tenantId); return }
          if (r.value.entries.length === 0) return
          held.set(tenantId, r.value.token)
          hot.add(tenantId) // it had records, so it may have more: look again next pass (an empty read is cheap)
          for (const [id, fieldsJson] of r.value.entries) {
            const fields = parseFieldList(fieldsJson)
            const parsed = fields && fieldsToRecord(fields)
            // A malformed entry can never be inserted; ack it (record null) so it does not block the stream forever.
            picked.push({ tenantId, id, record: parsed ? parsed.record : null })
          }
        })
        if (failed) throw failed
      }
      const records = picked.flatMap(p => (p.record ? [p.record] : []))
      if (records.length > 0) {
        await opts.store.insertUsage(records)
        opts.onStored?.(records)
      }
    } catch (e) {
      await releaseLeases(held) // entries stay pending for this consumer and are re-read next pass
      for (const t of only ?? []) hot.add(t)
      throw e
    }
    busyLastPass = busy
    // A hot pass that filled its batch early did not reach every hot tenant: keep the rest for the next pass.
    if (only) for (const t of tenants.slice(visited)) hot.add(t)
    const byTenant = new Map<string, string[]>()
    for (const p of picked) {
      let ids = byTenant.get(p.tenantId)
      if (!ids) { ids = []; byTenant.set(p.tenantId, ids) }
      ids.push(p.id)
    }
    // -1 (lease lost during a slow insert): nothing acked; the entries are re-read and re-inserted as a no-op.
    await Promise.all([...byTenant].map(([t, ids]) => {
      const k = tenantKeys(t)
      return scripts.ack([k.ledger, k.shipLease], [held.get(t)!, group, ...ids])
    }))
    // Only now: a pass that failed anywhere before is tried again from the same place.
    if (part) part.done += visited
    return picked.reduce((n, p) => n + (p.record ? 1 : 0), 0)
  }

  function tick(): Promise<number> {
    if (!running) running = tickOnce().finally(() => { running = null })
    return running
  }

  /**
   * A timer pass: a full sweep once `sweepEvery` intervals have gone by since the last one began (carried on over
   * as many passes as it takes to go all the way round), otherwise only the hot tenants. Counted in time, not in
   * passes: under load full batches follow each other at once, and counted in passes the "every 30 s" sweep came
   * every few hundred milliseconds, each one visiting idle tenants one script apiece until its batch was full.
   */
  function timedPass(): Promise<number> {
    if (running) return running
    const t = now()
    if (!sweep && t - lastSweepAt >= sweepEvery * intervalMs) {
      lastSweepAt = t
      sweep = { tenants: null, done: 0 }
    }
    if (sweep && !(lastWasSweep && hot.size > 0)) {
      const current = sweep
      lastWasSweep = true
      running = tickOnce(undefined, current).then((n) => {
        if (current.tenants !== null && current.done >= current.tenants.length && sweep === current) sweep = null
        return n
      }).finally(() => { running = null })
      return running
    }
    lastWasSweep = false
    const only = [...hot]
    hot.clear()
    running = tickOnce(only).finally(() => { running = null })
    return running
  }

  function schedule(delay: number): void {
    if (stopped) return
    timer = setTimeout(async () => {
      timer = null
      try {
        const n = await timedPass()
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
      // The first pass of a (re)started shipper is a full sweep.
      lastSweepAt = -Infinity
      sweep = null
      lastWasSweep = false
      if (!timer) schedule(0)
    },
    async flush() {
      let busySince: number | null = null
      for (;;) {
        if (running) await running.catch(() => {})
        const n = await tick()
        if (n > 0) { busySince = null; continue }
        if (busyLastPass === 0) return
        // Nothing shipped but some tenant's lease was busy (a rebuild, another shipper): wait for it, boundedly.
        busySince ??= performance.now()
        if (performance.now() - busySince > 2 * leaseMs) return
        await Bun.sleep(10)
      }
    },
    tick,
    noteSettled(tenantId: string) {
      hot.add(tenantId)
    },
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
