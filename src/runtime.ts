/**
 * Boot and shutdown: config → stores (fail fast) → Lua scripts → listen (not ready) → warm tenants → ready.
 * SIGTERM: stop accepting, let in-flight requests finish up to a deadline, flush the ledger, close stores.
 * SIGHUP (via reload): swap the per-request config.
 */
import { ADMIN_PREFIX, createAdminApi } from './admin/api.ts'
import { adminKeysFrom } from './admin/auth.ts'
import { createApp, fetchHandler } from './app.ts'
import { drainServer, type Drain } from './drain.ts'
import type { AppDeps } from './routes/context.ts'
import { warmRequestPath } from './routes/warmup.ts'
import { createMemoryLedger } from './budget/memory-ledger.ts'
import { periodKeyStartMs } from './budget/money.ts'
import { createRedisLedger } from './budget/redis-ledger.ts'
import { BudgetService, RESERVATION_TTL_MS } from './budget/service.ts'
import type { BudgetLedger } from './budget/types.ts'
import { createUsageShipper, type UsageShipper } from './budget/usage-shipper.ts'
import type { GatewayConfig } from './config/index.ts'
import { planReload, type ReloadPlan } from './config/reload.ts'
import { startGcPacer } from './gc-pacer.ts'
import { startLoopLagMonitor } from './http/loop-lag.ts'
import { startMetricsServer } from './http/metrics-server.ts'
import { createMetrics, type Metrics, observeSettled } from './http/metrics.ts'
import type { LogFn } from './log.ts'
import type { ProviderAdapter } from './providers/types.ts'
import type { ProviderKind } from './config/types.ts'
import { descriptorFor, providerUsable } from './providers/registry.ts'
import { openStore } from './store/index.ts'
import { MAX_GROUP_RECORDS } from './store/usage-writer.ts'
import type { Store } from './store/types.ts'
import { TenantCache, warmTenants } from './tenants/cache.ts'

/** A boot failure the operator must fix (bad store URL, unreachable server): exit code 2. */
export class BootError extends Error {}

export interface RunningGateway {
  url: string
  port: number
  /** The /metrics listener when `metrics_listen` is set. */
  metricsUrl: string | null
  /** Base URL of the admin API (…/admin/v1) when GATEWAY_ADMIN_KEY enables it: on the metrics listener if there is one. */
  adminUrl: string | null
  store: Store
  ledger: BudgetLedger
  cache: TenantCache
  /** Resolves when warm-up finished (readyz turns 200). */
  ready: Promise<void>
  /** Drains for `deadlineMs` (default: the config's drain timeout); a second call ends the drain at once. */
  stop(deadlineMs?: number): Promise<void>
  /** Applies a newly loaded config (SIGHUP); returns what changed and what needs a restart. */
  reload(next: GatewayConfig): ReloadPlan
}

export interface StartOptions {
  log: LogFn
  adapters?: Partial<Record<ProviderKind, ProviderAdapter>>
  bootStartedAt?: number
}

/** Host and port of a Redis URL, never its password (boot messages). */
function describeRedis(url: string): string {
  try {
    const u = new URL(url)
    return `${u.hostname}:${u.port || '6379'}`
  } catch {
    return 'the configured URL'
  }
}

/**
 * `ship: false` for one-shot admin commands: shipping usage is a serving gateway's job, not the CLI's.
 * Both stores are opened at once, so with both unreachable the one BootError names both (and boot waits
 * for the slower connect timeout, not the sum).
 */
export async function openStores(config: GatewayConfig, log: LogFn, opts: { ship?: boolean; metrics?: Metrics } = {}): Promise<{ store: Store; ledger: BudgetLedger; flush: () => Promise<void>; stopShipper: () => Promise<void> }> {
  let store: Store | undefined
  let shipper: UsageShipper | undefined
  // Sum for the period without the records the ledger still holds (it counts those itself): see recover.lua.
  const rebuild = (tenantId: string, periodKey: string, excludeRequestIds: string[]) =>
    store!.sumUsageSince(tenantId, periodKeyStartMs(periodKey), excludeRequestIds)
  const [db, redis] = await Promise.allSettled([
    (async () => {
      const s = await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir })
      try {
        await s.migrate()
      } catch (e) {
        await s.close().catch(() => {})
        throw e
      }
      return s
    })(),
    // Ledger ids are per-request UUIDs that live at most one reservation TTL, so that much exactly-once memory is plenty.
    // The store is also where the ledger writes records Redis lost before they were shipped (opened beside it:
    // recovery only runs once both are up).
    config.redisUrl
      ? createRedisLedger({
        url: config.redisUrl, rebuild, log, doneRetentionMs: RESERVATION_TTL_MS, onSettled: (t) => shipper?.noteSettled(t),
        durable: { insertUsage: (r) => store!.insertUsage(r), storedUsageIds: (ids) => store!.storedUsageIds(ids) },
        onOutboxDrop: (n) => opts.metrics?.ledgerOutboxDropped.inc({}, n),
        sliceMicros: config.budgetSliceMicros,
        onSlices: (s) => {
          opts.metrics?.budgetSlices.set({}, s.slices)
          opts.metrics?.budgetSlicesHeld.set({}, s.heldMicros)
        },
      })
        // Its message names the URL, which may hold a password: boot errors show host and port only.
        .catch((e: Error) => Promise.reject(new Error(String(e?.message).replaceAll(config.redisUrl!, describeRedis(config.redisUrl!)))))
      : Promise.resolve(null),
  ])
  const problems: string[] = []
  if (db.status === 'rejected') problems.push(`database: ${(db.reason as Error).message}`)
  if (redis.status === 'rejected') problems.push(`redis: ${(redis.reason as Error).message}`)
  if (problems.length > 0) {
    if (db.status === 'fulfilled') await db.value.close().catch(() => {})
    if (redis.status === 'fulfilled') await redis.value?.close().catch(() => {})
    throw new BootError(problems.length === 1 ? problems[0]! : `stores unreachable:\n  - ${problems.join('\n  - ')}`)
  }
  store = (db as PromiseFulfilledResult<Store>).value
  const ledger = (redis as PromiseFulfilledResult<Awaited<ReturnType<typeof createRedisLedger>> | null>).value
  if (!ledger) {
    log({ level: 'warn', msg: 'no REDIS_URL: using the in-process budget ledger; run a single gateway instance only' })
    // The in-process ledger reserves without a round trip already: there is nothing for a slice to save.
    if (config.budgetSliceMicros > 0) log({ level: 'warn', msg: 'budget_slice_usd is set but has no effect without REDIS_URL' })
    const s = store
    const memory = createMemoryLedger({
      // The same exactly-once memory as on Redis: its default (a day) held every request id of the day in this
      // process, ~120 bytes each (1 GB a day at 100 req/s).
      rebuild, sink: (records) => s.insertUsage(records), doneRetentionMs: RESERVATION_TTL_MS,
      onSinkError: (error, pending) => log(error === null
        ? { level: 'info', msg: 'usage records stored again', pending }
        : { level: 'error', msg: 'usage records not stored; kept in memory and retried (they are lost if the process ends first)', pending, error: String(error) }),
    })
    return { store, ledger: memory, flush: () => memory.flush(), stopShipper: async () => {} }
  }
  const redisLedger = ledger
  // A pass parses its whole batch on the request thread: 100 records keep each pass near 1 ms (a full batch goes
  // again at once, after a turn of the event loop), where 500 made the 1 s passes a 10–20 ms stall (c=1 p99). Into
  // the embedded store, a pass of that size is one usage-writer batch, sent without waiting on its window.
  const started = createUsageShipper({ client: ledger.client, store, log, batchSize: MAX_GROUP_RECORDS, onStored: (records) => redisLedger.confirmStored(records) })
  shipper = started
  if (opts.ship !== false) started.start()
  return { store, ledger, flush: () => started.flush(), stopShipper: () => started.stop() }
}

/** Bun's limit on concurrent outgoing fetches, fixed at process start (main.ts raises it for servers). */
function fetchCap(): number {
  return Number(process.env.BUN_CONFIG_MAX_HTTP_REQUESTS) || 256
}

export async function startGateway(config: GatewayConfig, opts: StartOptions): Promise<RunningGateway> {
  const bootStartedAt = opts.bootStartedAt ?? performance.now()
  const { log } = opts
  const metrics = createMetrics()
  const { store, ledger, flush, stopShipper } = await openStores(config, log, { metrics })
  const cache = new TenantCache(store)
  const budget = new BudgetService(ledger, log, Date.now, observeSettled(metrics))
  const shutdown = new AbortController()
  let warmed = false
  /** Boot config with the reloadable parts as last applied (restart-only settings stay as booted). */
  let current = config

  const appDeps: AppDeps = {
    config, store, cache, budget, metrics, log, adapters: opts.adapters, shutdown: shutdown.signal,
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
  // The admin API lives with /metrics: on the main port, or only on the operators' `metrics_listen` listener.
  const adminKeys = adminKeysFrom(config)
  const app = createApp(appDeps, { metricsRoute: config.metricsListen === null, admin: config.metricsListen === null ? adminKeys ?? undefined : undefined })

  const unlisten = await store.listen((e) => {
    cache.onChange(e).catch((err) => log({ level: 'error', msg: 'tenant refresh failed', tenant: e.tenantId, error: String(err) }))
  }, () => {
    // Notifications sent while the LISTEN connection was down are lost: reload everything once.
    log({ level: 'warn', msg: 'config subscription re-established; reloading tenants' })
    warmTenants(store, cache, config.warmLimit).catch((err) => log({ level: 'error', msg: 'tenant reload failed', error: String(err) }))
  })

  let server: ReturnType<typeof Bun.serve>
  let metricsServer: ReturnType<typeof Bun.serve> | null = null
  try {
    server = Bun.serve({ port: config.port, hostname: config.host, fetch: fetchHandler(app), idleTimeout: 255 })
  } catch (e) {
    await closeAll()
    throw new BootError(`cannot listen on ${config.host}:${config.port}: ${(e as Error).message}`)
  }
  if (config.metricsListen) {
    const { host, port } = config.metricsListen
    try {
      metricsServer = startMetricsServer(config.metricsListen, metrics, adminKeys ? createAdminApi(appDeps, adminKeys) : undefined)
    } catch (e) {
      await server.stop(true)
      await closeAll()
      throw new BootError(`cannot listen for metrics on ${host}:${port}: ${(e as Error).message}`)
    }
  }
  async function closeAll() {
    await unlisten().catch(() => {})
    await store.close().catch(() => {})
    await ledger.close().catch(() => {})
  }
  const hostUrl = (host: string, port: number | undefined) => `http://${host === '0.0.0.0' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host}:${port}`
  const url = hostUrl(config.host, server.port)
  const metricsUrl = metricsServer && config.metricsListen ? hostUrl(config.metricsListen.host, metricsServer.port) : null
  const adminUrl = adminKeys ? `${metricsUrl ?? url}${ADMIN_PREFIX}` : null
  const stopLoopLag = startLoopLagMonitor((ms) => metrics.loopLagMs.observe({}, ms))
  const gcPacer = startGcPacer()

  const readyProviders = (providers: GatewayConfig['providers']) => {
    for (const p of Object.values(providers)) {
      if (!providerUsable(p)) log({ level: 'warn', msg: 'provider has no API key; its models are not served', provider: p.name })
    }
    // The first request must pay nothing: open upstream connections and prime every tenant's budget counter.
    for (const p of Object.values(providers)) {
      if (descriptorFor(p.kind).local) continue
      try {
        fetch.preconnect(p.baseUrl)
      } catch {
        // Best effort: Bun 1.4.5 refuses https origins here ("Invalid port"); the first request then connects.
      }
    }
  }
  readyProviders(config.providers)
  const ready = warmTenants(store, cache, config.warmLimit, (t) => budget.prime(t)).then(async (w) => {
    await warmRequestPath(appDeps)
    // Bun starts its HTTP client on the first fetch; do that here (to ourselves) instead of on a client's request,
    // and as a POST with a JSON body and the options of an upstream call: a GET left the first upstream call ~2 ms
    // slower than the next ones (bench/RESULTS.md). POST /healthz is a 404 that nothing records.
    await fetch(`${url}/healthz`, {
      method: 'POST', body: '{"warmup":true}', headers: { 'content-type': 'application/json' },
      // Bounded: a request to ourselves that never answers (a proxy from the environment) must not hold /readyz.
      signal: AbortSignal.timeout(5_000), redirect: 'manual', timeout: false,
    }).then((r) => r.arrayBuffer()).catch(() => {})
    warmed = true
    metrics.warmupMs.set({}, w.durationMs)
    metrics.warmTenants.set({}, cache.size)
    log({
      msg: 'ready', url, ...(metricsUrl ? { metrics_url: metricsUrl } : {}), ...(adminUrl ? { admin_url: adminUrl } : {}), store: store.kind, ledger: ledger.kind, tenants: w.tenants, failed: w.failed,
      warm_limit: config.warmLimit, fetch_cap: fetchCap(), warmup_ms: Math.round(w.durationMs), ...(w.loadMs !== undefined ? { warmup_load_ms: Math.round(w.loadMs) } : {}), boot_to_ready_ms: Math.round(performance.now() - bootStartedAt),
    })
  })

  let stopping: Promise<void> | null = null
  let drain: Drain | null = null
  const stop = (deadlineMs = config.drainTimeoutMs) => {
    if (stopping) {
      drain?.cutNow() // a second stop (signal) does not wait for the deadline
      return stopping
    }
    return (stopping = (async () => {
      log({ msg: 'shutting down', deadline_ms: deadlineMs, in_flight: metrics.inflightRequests.get() })
      drain = drainServer({ server, deadlineMs, shutdown, inFlight: () => metrics.inflightRequests.get(), log })
      await drain.done
      await metricsServer?.stop(true)
      stopLoopLag()
      gcPacer.stop()
      await unlisten().catch(() => {})
      await flush().catch((e) => log({ level: 'error', msg: 'ledger flush failed at shutdown', error: String(e) }))
      await stopShipper().catch(() => {})
      await ledger.close().catch(() => {})
      await store.close().catch(() => {})
      log({ msg: 'stopped' })
    })())
  }

  const reload = (next: GatewayConfig): ReloadPlan => {
    const plan = planReload(current, next)
    current = { ...current, ...plan.apply, logLevel: plan.logLevel }
    appDeps.config = plan.apply // read per request: the next request sees it, one in flight keeps its route
    readyProviders(plan.apply.providers)
    log({
      ...(plan.needsRestart.length ? { level: 'warn', restart_required: plan.needsRestart } : {}),
      msg: 'config reloaded', models: Object.keys(plan.apply.models).length,
      providers_changed: plan.changed.providers, models_changed: plan.changed.models,
    })
    return plan
  }

  return { url, port: server.port!, metricsUrl, adminUrl, store, ledger, cache, ready, stop, reload }
}
