/**
 * Shared setup for the HTTP-level budget tests: a real gateway app (test/helpers/app.ts) served over real HTTP,
 * a Redis or in-process ledger, a Postgres store, a deterministic "chaos" adapter and a client that records
 * what each request really cost (from the usage the gateway returned), computed independently of money.ts.
 *
 * Models (provider `mock`, one token per word):
 *   exact: input 0.001, output 1000 $/Mtok. With max_tokens 3 and a short prompt, the strict worst-case
 *          reservation ceil(est × 0.001 + 3 × 1000) and the actual cost ceil(prompt × 0.001 + 3 × 1000) are both
 *          3001 µUSD (the input term is < 1 µUSD and rounds up), so a limit admits exactly K requests whatever
 *          the interleaving.
 *   cheap: output 100 $/Mtok → 301 µUSD per request, below the `fixed` flat reservation of 1000 µUSD.
 */
import postgres from 'postgres'
import { createMemoryLedger } from '../../../src/budget/memory-ledger.ts'
import { periodKeyStartMs } from '../../../src/budget/money.ts'
import { createRedisLedger, type RedisLedger } from '../../../src/budget/redis-ledger.ts'
import type { BudgetLedger } from '../../../src/budget/types.ts'
import { createUsageShipper, type UsageShipper } from '../../../src/budget/usage-shipper.ts'
import { GatewayError } from '../../../src/errors.ts'
import { mockAdapter } from '../../../src/providers/mock/adapter.ts'
import type { ProviderAdapter } from '../../../src/providers/types.ts'
import type { ChatChunk, ChatRequest } from '../../../src/wire/openai.ts'
import { createPostgresStore } from '../../../src/store/postgres.ts'
import type { Store } from '../../../src/store/types.ts'
import type { Tenant } from '../../../src/tenants/types.ts'
import { buildTestGateway, testConfig, type TestGateway } from '../../helpers/app.ts'
import { startPostgres, type PgInstance } from '../../helpers/postgres.ts'
import { startRedis, type TestRedis } from '../../helpers/redis.ts'

export const TOML = `
[providers.mock]
kind = "mock"

[models."exact"]
provider = "mock"
input_usd_per_mtok = 0.001
output_usd_per_mtok = 1000
max_output_tokens = 64

[models."cheap"]
provider = "mock"
input_usd_per_mtok = 0.001
output_usd_per_mtok = 100
max_output_tokens = 64
`

/** µUSD per token × 1000 (so 0.001 $/Mtok is the integer 1): the test's own price table. */
const PRICE_MILLI: Record<string, { input: number; output: number }> = {
  exact: { input: 1, output: 1_000_000 },
  cheap: { input: 1, output: 100_000 },
}

/** ceil(prompt × in + completion × out) in µUSD, in integers: independent of src/budget/money.ts. */
export function expectedCost(model: string, u: { prompt_tokens: number; completion_tokens: number }): number {
  const p = PRICE_MILLI[model]
  const milli = u.prompt_tokens * p.input + u.completion_tokens * p.output
  return Math.floor((milli + 999) / 1000)
}
export const EXACT_COST = 3001
export const CHEAP_COST = 301

let seq = 0
export const uid = (p: string) => `${p}-${process.pid}-${Date.now().toString(36)}-${(seq++).toString(36)}`

// ---- the chaos adapter: behaviour chosen by the first word of the last user message ----

export type Behaviour = 'ok' | 'fail-early' | 'fail-mid' | 'slow'
/** Upstream calls per behaviour; an upstream call happens only after the reservation was admitted. */
export type Calls = Record<Behaviour, number> & { producedTokens: number }

function behaviourOf(req: ChatRequest): Behaviour {
  const last = req.messages[req.messages.length - 1]
  const first = typeof last?.content === 'string' ? last.content.split(' ')[0] : 'ok'
  return (['fail-early', 'fail-mid', 'slow'].includes(first) ? first : 'ok') as Behaviour
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve() }, ms)
    const onAbort = () => { clearTimeout(t); reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

export function chaosAdapter(): { adapter: ProviderAdapter; calls: Calls } {
  const calls: Calls = { ok: 0, 'fail-early': 0, 'fail-mid': 0, slow: 0, producedTokens: 0 }
  const adapter: ProviderAdapter = {
    async complete(req, route, signal) {
      const b = behaviourOf(req)
      calls[b]++
      if (b === 'fail-early') throw new GatewayError('upstream_error', 'upstream returned 500')
      if (b === 'slow') await abortableSleep(2_000, signal) // the client gives up first
      calls.producedTokens++
      return mockAdapter.complete(req, route, signal)
    },
    async stream(req, route, signal) {
      const b = behaviourOf(req)
      calls[b]++
      if (b === 'fail-early') throw new GatewayError('upstream_error', 'upstream returned 500')
      const inner = await mockAdapter.stream(req, route, signal)
      if (b === 'ok') { calls.producedTokens++; return inner }
      return (async function* () {
        let n = 0
        for await (const c of inner as AsyncIterable<ChatChunk>) {
          if (c.choices[0]?.delta.content) {
            if (n === 0) calls.producedTokens++
            n++
            if (b === 'fail-mid' && n === 3) throw new GatewayError('upstream_error', 'upstream stream broke')
            if (b === 'slow') await abortableSleep(100, signal)
          }
          yield c
        }
      })()
    },
  }
  return { adapter, calls }
}

// ---- environment ----

/** `slices`: the Redis ledger with budget slices (src/budget/slices.ts) of SLICE_MICROS, given back once idle. */
export type LedgerKind = 'redis' | 'slices' | 'memory'
/** Sixteen `exact` requests' worst cases per slice: a burst leases many slices, and the last ones near the limit. */
export const SLICE_MICROS = 16 * EXACT_COST

export interface HttpGateway {
  gw: TestGateway
  ledger: BudgetLedger
  url: string
  calls: Calls
  /** Gives back idle budget slices now (a no-op without slices), so `reserved` counts only requests in flight. */
  giveBackSlices(): Promise<void>
  /** Ship the ledger's records to Postgres (usage shipper for Redis, sink flush for memory). */
  ship(tenants: string[]): Promise<void>
  addTenant(t: Partial<Tenant> & { id: string }): Promise<string>
  close(): Promise<void>
}

export async function startHttpGateway(kind: LedgerKind, store: Store, redisUrl?: string): Promise<HttpGateway> {
  const rebuild = (t: string, pk: string, exclude: string[]) => store.sumUsageSince(t, periodKeyStartMs(pk), exclude)
  const ledger: BudgetLedger = kind !== 'memory'
    ? await createRedisLedger({ url: redisUrl!, rebuild, durable: store, ...(kind === 'slices' ? { sliceMicros: SLICE_MICROS, sliceIdleMs: 0 } : {}) })
    : createMemoryLedger({ rebuild, sink: (r) => store.insertUsage(r) })
  const { adapter, calls } = chaosAdapter()
  const gw = await buildTestGateway({ ledger, store, config: testConfig(TOML), adapters: { mock: adapter } })
  const server = Bun.serve({ port: 0, hostname: '127.0.0.1', idleTimeout: 30, fetch: (r) => gw.app.handle(r) })
  let shipper: UsageShipper | null = null
  return {
    gw, ledger, calls, url: `http://127.0.0.1:${server.port}`,
    giveBackSlices: async () => { if (kind === 'slices') await (ledger as RedisLedger).sweep() },
    async ship(tenants) {
      if (ledger.kind === 'memory') return (ledger as ReturnType<typeof createMemoryLedger>).flush()
      const redisLedger = ledger as RedisLedger
      shipper ??= createUsageShipper({ client: redisLedger.client, store, discover: false, onStored: (r) => redisLedger.confirmStored(r) })
      for (const t of tenants) await shipper.addTenant(t)
      await shipper.flush()
    },
    async addTenant(t) {
      const key = await gw.addTenant(t)
      await gw.warm()
      return key
    },
    async close() {
      await shipper?.stop()
      server.stop(true)
      await ledger.close()
    },
  }
}

/** Direct SQL on usage_records, independent of the store implementation. */
export function usageRows(url: string) {
  const sql = postgres(url, { max: 2, onnotice: () => {} })
  return {
    async of(tenantId: string) {
      const rows = await sql<{ request_id: string; status: string; cost: string; prompt_tokens: number; completion_tokens: number }[]>`
        select request_id, status, cost_usd_micros::text as cost, prompt_tokens, completion_tokens
        from usage_records where tenant_id = ${tenantId}`
      return rows.map((r) => ({ ...r, cost: Number(r.cost) }))
    },
    end: () => sql.end({ timeout: 1 }),
  }
}

// ---- client ----

export interface Outcome {
  status: number
  /** Usage the gateway reported (JSON body or the stream's usage chunk). */
  usage: { prompt_tokens: number; completion_tokens: number } | null
  error: { code?: string; type?: string; message?: string } | null
  shouldRetry: string | null
  /** A stream that ended with an error event. */
  streamError: boolean
  /** The client aborted after the response had started (stream) or while waiting (non-stream). */
  aborted: boolean
  ms: number
}

export function body(model: string, words: string, stream: boolean, extra: Record<string, unknown> = {}) {
  return {
    model, messages: [{ role: 'user', content: words }], max_tokens: 3, stream,
    ...(stream ? { stream_options: { include_usage: true } } : {}), ...extra,
  }
}

export async function chat(url: string, key: string, b: Record<string, unknown>, opts: { abortAfterMs?: number; abortOnFirstContent?: boolean } = {}): Promise<Outcome> {
  const t0 = performance.now()
  const ac = new AbortController()
  const timer = opts.abortAfterMs !== undefined ? setTimeout(() => ac.abort(), opts.abortAfterMs) : null
  const out: Outcome = { status: 0, usage: null, error: null, shouldRetry: null, streamError: false, aborted: false, ms: 0 }
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST', signal: ac.signal,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(b),
    })
    out.status = res.status
    out.shouldRetry = res.headers.get('x-should-retry')
    if (res.status !== 200) {
      out.error = ((await res.json()) as { error: Outcome['error'] }).error
    } else if (!b.stream) {
      out.usage = ((await res.json()) as { usage: Outcome['usage'] }).usage
    } else {
      const reader = res.body!.getReader()
      const dec = new TextDecoder()
      let text = ''
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        text += dec.decode(value, { stream: true })
        if (opts.abortOnFirstContent && /"content":"[^"]/.test(text)) {
          ac.abort()
          out.aborted = true
          await reader.cancel().catch(() => {})
          break
        }
      }
      for (const line of text.split('\n')) {
        if (!line.startsWith('data: ') || line === 'data: [DONE]') continue
        const ev = JSON.parse(line.slice(6)) as { usage?: Outcome['usage']; error?: Outcome['error'] }
        if (ev.usage) out.usage = ev.usage
        if (ev.error) { out.error = ev.error; out.streamError = true }
      }
    }
  } catch (e) {
    if (!ac.signal.aborted) throw e
    out.aborted = true
  } finally {
    if (timer) clearTimeout(timer)
  }
  out.ms = performance.now() - t0
  return out
}

/** Polls until `ok` holds (server-side settles of aborted requests finish after the client is gone). */
export async function eventually<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const v = await read()
    if (ok(v)) return v
    if (performance.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)} after ${timeoutMs} ms`)
    await Bun.sleep(20)
  }
}

export const count = <T>(xs: T[], p: (x: T) => boolean) => xs.reduce((n, x) => n + (p(x) ? 1 : 0), 0)

export interface Stores {
  pg: PgInstance
  redis: TestRedis
  /** A migrated Postgres store. */
  store: Store
  rows: ReturnType<typeof usageRows>
  stop(): Promise<void>
}

/** Throwaway Postgres (migrated) and Redis; `own*` when the suite kills or restarts that server. */
export async function startStores(o: { ownPostgres?: boolean; ownRedis?: boolean } = {}): Promise<Stores> {
  const [pg, redis] = await Promise.all([startPostgres({ own: o.ownPostgres }), startRedis({ own: o.ownRedis })])
  const store = await createPostgresStore(pg.url)
  await store.migrate()
  const rows = usageRows(pg.url)
  const stop = async () => {
    await rows.end()
    await store.close()
    await redis.stop()
    await pg.stop()
  }
  return { pg, redis, store, rows, stop }
}
