/**
 * Builds an in-process gateway app around real parts (sqlite or Postgres store, memory or Redis ledger)
 * for tests that call app.handle(new Request(...)) with no network.
 */
import { createApp, type AppOptions } from '../../src/app.ts'
import { createRedisLedger } from '../../src/budget/redis-ledger.ts'
import { createMemoryLedger } from '../../src/budget/memory-ledger.ts'
import { periodKeyStartMs } from '../../src/budget/money.ts'
import { BudgetService } from '../../src/budget/service.ts'
import type { BudgetLedger } from '../../src/budget/types.ts'
import { loadConfig, type GatewayConfig } from '../../src/config/index.ts'
import { createMetrics, observeSettled } from '../../src/http/metrics.ts'
import { createLogger } from '../../src/log.ts'
import type { AppDeps } from '../../src/routes/context.ts'
import type { ProviderAdapter } from '../../src/providers/types.ts'
import type { ProviderKind } from '../../src/config/types.ts'
import { generateApiKey } from '../../src/store/keys.ts'
import { createSqliteStore } from '../../src/store/sqlite.ts'
import type { Store } from '../../src/store/types.ts'
import type { Tenant } from '../../src/tenants/types.ts'
import { TenantCache, warmTenants } from '../../src/tenants/cache.ts'

export function testConfig(toml = '[providers.mock]\nkind = "mock"\n', argv: string[] = [], env: Record<string, string> = {}): GatewayConfig {
  const r = loadConfig(['--config', 'test.toml', ...argv], env, () => toml)
  if (!r.ok) throw new Error(r.errors.join('\n'))
  return r.config
}

/**
 * Two providers at one fake upstream: `oai` (OpenAI-compatible, base URL `<url>/v1`) serving model `m` ($1 / $2 per
 * Mtok, 100 output tokens) and `ant` (Anthropic) serving `claude-test` ($3 / $15, 100 output tokens), both keyed by
 * env K. `providerLines` go into both provider tables (e.g. `timeout_ms = 300`).
 */
export function openaiAndAnthropicConfig(upstreamUrl: string, providerLines = ''): GatewayConfig {
  return testConfig(`
[providers.oai]
kind = "openai"
base_url = "${upstreamUrl}/v1"
api_key_env = "K"
${providerLines}

[providers.ant]
kind = "anthropic"
base_url = "${upstreamUrl}"
api_key_env = "K"
${providerLines}

[models."m"]
provider = "oai"
input_usd_per_mtok = 1
output_usd_per_mtok = 2
max_output_tokens = 100

[models."claude-test"]
provider = "ant"
input_usd_per_mtok = 3
output_usd_per_mtok = 15
max_output_tokens = 100
`, [], { K: 'sk-up' })
}

export interface TestGateway {
  app: ReturnType<typeof createApp>
  deps: AppDeps
  store: Store
  ledger: BudgetLedger
  cache: TenantCache
  metrics: ReturnType<typeof createMetrics>
  logs: string[]
  /** Aborting it is what the runtime does at a shutdown's drain deadline (AppDeps.shutdown). */
  shutdown: AbortController
  /**
   * Resolves once no /v1 request is in flight: a reply goes out before its settle is answered, and its
   * access-log line, metrics and [COLD-START] line are written after (fails after 5 s).
   */
  idle: () => Promise<void>
  /** POST/GET helper: path, JSON body, API key. */
  request: (path: string, opts?: { body?: unknown; key?: string; headers?: Record<string, string>; method?: string }) => Promise<Response>
  addTenant: (t: Partial<Tenant> & { id: string }) => Promise<string>
  warm: () => Promise<void>
}

export async function buildTestGateway(opts: {
  store?: Store
  ledger?: BudgetLedger
  /** Use a Redis ledger (the production Lua scripts) on this server instead of the in-process one. */
  redisUrl?: string
  config?: GatewayConfig
  adapters?: Partial<Record<ProviderKind, ProviderAdapter>>
  ready?: () => Promise<string | null>
  heartbeatMs?: number
  maxRequestMs?: number
  /** createApp options, e.g. { metricsRoute: false }. */
  app?: AppOptions
} = {}): Promise<TestGateway> {
  const store = opts.store ?? createSqliteStore(':memory:')
  await store.migrate()
  const rebuild = (t: string, pk: string, exclude: string[]) => store.sumUsageSince(t, periodKeyStartMs(pk), exclude)
  const ledger = opts.ledger ?? (opts.redisUrl
    ? await createRedisLedger({ url: opts.redisUrl, rebuild, durable: store })
    : createMemoryLedger({ rebuild, sink: (records) => store.insertUsage(records) }))
  const logs: string[] = []
  const log = createLogger((l) => logs.push(l))
  const metrics = createMetrics()
  const cache = new TenantCache(store)
  const budget = new BudgetService(ledger, log, Date.now, observeSettled(metrics))
  const shutdown = new AbortController()
  const deps: AppDeps = {
    config: opts.config ?? testConfig(), store, cache, budget, metrics, log, shutdown: shutdown.signal,
    adapters: opts.adapters, notReadyReason: opts.ready ?? (async () => null), heartbeatMs: opts.heartbeatMs,
    maxRequestMs: opts.maxRequestMs,
  }
  const app = createApp(deps, opts.app)
  const request: TestGateway['request'] = (path, o = {}) => {
    const headers: Record<string, string> = { ...(o.key ? { authorization: `Bearer ${o.key}` } : {}), ...o.headers }
    if (o.body !== undefined) headers['content-type'] = 'application/json'
    return app.handle(new Request(`http://localhost${path}`, {
      method: o.method ?? (o.body === undefined ? 'GET' : 'POST'),
      headers,
      body: o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body),
    }))
  }
  const addTenant = async (t: Partial<Tenant> & { id: string }) => {
    await store.createTenant({ budgetUsdMicros: null, budgetPeriod: 'total', policy: 'strict', allowedModels: null, failOpen: false, ...t })
    const k = generateApiKey()
    await store.createKey({ id: k.id, tenantId: t.id, keyHash: k.hash, prefix: k.prefix, name: null })
    return k.key
  }
  const warm = async () => {
    // As at boot (runtime.ts): load tenants and prime their budget counters.
    await warmTenants(store, cache, 8, (t) => budget.prime(t))
  }
  const idle = async () => {
    for (let i = 0; i < 1_000 && metrics.inflightRequests.get() > 0; i++) await Bun.sleep(5)
    if (metrics.inflightRequests.get() > 0) throw new Error('requests still in flight after 5 s')
  }
  return { app, deps, store, ledger, cache, metrics, logs, shutdown, request, addTenant, warm, idle }
}

export const chat = (content = 'hello gateway', extra: Record<string, unknown> = {}) => ({
  model: 'mock-echo', messages: [{ role: 'user', content }], ...extra,
})
