/**
 * Boot and shutdown: config → stores (fail fast) → Lua scripts → listen (not ready) → warm tenants → ready.
 * SIGTERM: stop accepting, let in-flight requests finish up to a deadline, flush the ledger, close stores.
 */
import { createApp, fetchHandler } from './app.ts'
import type { AppDeps } from './routes/context.ts'
import { warmRequestPath } from './routes/warmup.ts'
import { createMemoryLedger } from './budget/memory-ledger.ts'
import { periodKeyStartMs } from './budget/money.ts'
import { createRedisLedger } from './budget/redis-ledger.ts'
import { BudgetService } from './budget/service.ts'
import type { BudgetLedger } from './budget/types.ts'
import { createUsageShipper, type UsageShipper } from './budget/usage-shipper.ts'
import type { GatewayConfig } from './config/index.ts'
import { createMetrics, type Metrics } from './http/metrics.ts'
import type { LogFn } from './log.ts'
import type { ProviderAdapter, ProviderKind } from './providers/types.ts'
import { providerUsable } from './providers/registry.ts'
import { openStore } from './store/index.ts'
import type { Store } from './store/types.ts'
import { TenantCache, warmTenants } from './tenants/cache.ts'

/** A boot failure the operator must fix (bad store URL, unreachable server): exit code 2. */
export class BootError extends Error {}

export interface RunningGateway {
  url: string
  port: number
  store: Store
  ledger: BudgetLedger
  cache: TenantCache
  /** Resolves when warm-up finished (readyz turns 200). */
  ready: Promise<void>
  stop(deadlineMs?: number): Promise<void>
}

export interface StartOptions {
  log: LogFn
  adapters?: Partial<Record<ProviderKind, ProviderAdapter>>
  bootStartedAt?: number
}

/** `ship: false` for one-shot admin commands: shipping usage is a serving gateway's job, not the CLI's. */
export async function openStores(config: GatewayConfig, log: LogFn, opts: { ship?: boolean; metrics?: Metrics } = {}): Promise<{ store: Store; ledger: BudgetLedger; flush: () => Promise<void>; stopShipper: () => Promise<void> }> {
  let store: Store
  try {
    store = await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir })
    await store.migrate()
  } catch (e) {
    throw new BootError(`database: ${(e as Error).message}`)
  }
  // Sum for the period without the records the ledger still holds (it counts those itself): see recover.lua.
  const rebuild = (tenantId: string, periodKey: string, excludeRequestIds: string[]) =>
    store.sumUsageSince(tenantId, periodKeyStartMs(periodKey), excludeRequestIds)
  if (!config.redisUrl) {
    log({ level: 'warn', msg: 'no REDIS_URL: using the in-process budget ledger; run a single gateway instance only' })
    const ledger = createMemoryLedger({ rebuild, sink: (records) => store.insertUsage(records) })
    return { store, ledger, flush: () => ledger.flush(), stopShipper: async () => {} }
  }
  let ledger
  let shipper: UsageShipper | undefined
  try {
    // Ledger ids are per-request UUIDs that live at most one reservation TTL, so 2 h of exactly-once memory is plenty.
    // The store is also where the ledger writes records Redis lost before they were shipped.
    ledger = await createRedisLedger({
      url: config.redisUrl, rebuild, durable: store, log, doneRetentionMs: 2 * 3_600_000, onSettled: (t) => shipper?.noteSettled(t),
      onOutboxDrop: (n) => opts.metrics?.ledgerOutboxDropped.inc({}, n),
    })
  } catch (e) {
    await store.close().catch(() => {})
    throw new BootError(`redis: ${(e as Error).message}`)
  }
  const redisLedger = ledger
  const started = createUsageShipper({ client: ledger.client, store, log, onStored: (records) => redisLedger.confirmStored(records) })
  shipper = started
  if (opts.ship !== false) started.start()
  return { store, ledger, flush: () => started.flush(), stopShipper: () => started.stop() }
}

export async function startGateway(config: GatewayConfig, opts: StartOptions): Promise<RunningGateway> {
  const bootStartedAt = opts.bootStartedAt ?? performance.now()
  const { log } = opts
  const metrics = createMetrics()
  const { store, ledger, flush, stopShipper } = await openStores(config, log, { metrics })
  // Requests still settling (streams, drained replies of departed clients) and the signal that cuts them.
  const inflight = new Set<Promise<unknown>>()
  const shutdown = new AbortController()
  const cache = new TenantCache(store)
  const budget = new BudgetService(ledger, log)
  let warmed = false

  const appDeps: AppDeps = {
    config, store, cache, budget, metrics, log, adapters: opts.adapters, shutdown: shutdown.signal,
    track: (p) => {
      inflight.add(p)
      void p.finally(() => inflight.delete(p))
    },
    notReadyReason: async () => {
      if (!warmed) return 'warming up'
      try {
        await store.ping()
      } catch {
        return 'database unreachable'
      }
      try {
        await ledger.snapshot('__readyz__', 'total')
      } catch {
        return 'budget store unreachable'
      }
      return null
    },
  }
  const app = createApp(appDeps)

  const unlisten = await store.listen((e) => {
    cache.onChange(e).catch((err) => log({ level: 'error', msg: 'tenant refresh failed', tenant: e.tenantId, error: String(err) }))
  }, () => {
    // Notifications sent while the LISTEN connection was down are lost: reload everything once.
    log({ level: 'warn', msg: 'config subscription re-established; reloading tenants' })
    warmTenants(store, cache, config.warmLimit).catch((err) => log({ level: 'error', msg: 'tenant reload failed', error: String(err) }))
  })

  let server: ReturnType<typeof Bun.serve>
  try {
    server = Bun.serve({ port: config.port, hostname: config.host, fetch: fetchHandler(app), idleTimeout: 255 })
  } catch (e) {
    await unlisten()
    await store.close()
    await ledger.close()
    throw new BootError(`cannot listen on ${config.host}:${config.port}: ${(e as Error).message}`)
  }
  const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${server.port}`

  for (const p of Object.values(config.providers)) {
    if (!providerUsable(p)) log({ level: 'warn', msg: 'provider has no API key; its models are not served', provider: p.name })
  }
  // The first request must pay nothing: open upstream connections and prime every tenant's budget counter.
  for (const p of Object.values(config.providers)) {
    if (p.kind === 'mock') continue
    try {
      fetch.preconnect(p.baseUrl)
    } catch {
      // Best effort: Bun 1.4.5 refuses https origins here ("Invalid port"); the first request then connects.
    }
  }
  const ready = warmTenants(store, cache, config.warmLimit, (t) => budget.prime(t)).then(async (w) => {
    await warmRequestPath(appDeps)
    // Bun starts its HTTP client on the first fetch; do that here (to ourselves) instead of on a client's request.
    await fetch(`${url}/healthz`).then((r) => r.arrayBuffer()).catch(() => {})
    warmed = true
    metrics.warmupMs.set({}, w.durationMs)
    metrics.warmTenants.set({}, cache.size)
    log({
      msg: 'ready', url, store: store.kind, ledger: ledger.kind, tenants: w.tenants, failed: w.failed,
      warm_limit: config.warmLimit, warmup_ms: Math.round(w.durationMs), boot_to_ready_ms: Math.round(performance.now() - bootStartedAt),
    })
  })

  let stopping: Promise<void> | null = null
  const stop = (deadlineMs = 30_000) => (stopping ??= (async () => {
    log({ msg: 'shutting down', deadline_ms: deadlineMs })
    const drained = server.stop(false)
    const settled = drained.then(() => Promise.all([...inflight]))
    const timedOut = await Promise.race([settled.then(() => false), Bun.sleep(deadlineMs).then(() => true)])
    if (timedOut) {
      log({ level: 'warn', msg: 'deadline reached; cutting requests still running', in_flight: inflight.size })
      // Streams end with an error event and settle (status `shutdown`) before their connections close.
      shutdown.abort()
      await Promise.race([Promise.all([...inflight]), Bun.sleep(2_000)])
      await server.stop(true)
    }
    await unlisten().catch(() => {})
    await flush().catch((e) => log({ level: 'error', msg: 'ledger flush failed at shutdown', error: String(e) }))
    await stopShipper().catch(() => {})
    await ledger.close().catch(() => {})
    await store.close().catch(() => {})
    log({ msg: 'stopped' })
  })())

  return { url, port: server.port!, store, ledger, cache, ready, stop }
}
