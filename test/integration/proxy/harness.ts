/**
 * Shared setup for the proxy integration tests: a gateway routed to a fake upstream (OpenAI + Anthropic wire
 * formats), served over real HTTP for the SDKs, with every SSE response it emits audited by an independent
 * parser (eventsource-parser, not the gateway's own).
 */
import { createParser } from 'eventsource-parser'
import { loadConfig, type GatewayConfig } from '../../../src/config/index.ts'
import { periodKeyStartMs } from '../../../src/budget/money.ts'
import { createRedisLedger } from '../../../src/budget/redis-ledger.ts'
import { createSqliteStore } from '../../../src/store/sqlite.ts'
import { buildTestGateway, type TestGateway } from '../../helpers/app.ts'
import { startRedis } from '../../helpers/redis.ts'
import { startFakeUpstream, type FakeUpstream } from '../../helpers/fake-upstream.ts'

/** Provider secrets the gateway holds; they must never reach a client. */
export const OPENAI_PROVIDER_KEY = 'sk-provider-secret-0123456789'
export const ANTHROPIC_PROVIDER_KEY = 'sk-ant-provider-secret-abcdef0123'

/** Client model names → upstream model names. */
export const MODELS = {
  openai: { client: 'gpt-proxy', upstream: 'gpt-4o-mini-2024-07-18' },
  anthropic: { client: 'claude-proxy', upstream: 'claude-sonnet-4-5-20250929' },
  mock: { client: 'mock-echo', upstream: 'mock-echo' },
} as const

export type Kind = keyof typeof MODELS

export function proxyToml(upstreamUrl: string): string {
  return `
[providers.up]
kind = "openai"
base_url = "${upstreamUrl}/v1"
api_key_env = "UP_KEY"
timeout_ms = 5000

[providers.ant]
kind = "anthropic"
base_url = "${upstreamUrl}"
api_key_env = "ANT_KEY"
timeout_ms = 5000

[providers.mock]
kind = "mock"

[models."${MODELS.openai.client}"]
provider = "up"
upstream_model = "${MODELS.openai.upstream}"
input_usd_per_mtok = 1
output_usd_per_mtok = 2
max_output_tokens = 1000

[models."${MODELS.anthropic.client}"]
provider = "ant"
upstream_model = "${MODELS.anthropic.upstream}"
input_usd_per_mtok = 3
output_usd_per_mtok = 15
max_output_tokens = 1000
`
}

export function proxyConfig(upstreamUrl: string): GatewayConfig {
  const r = loadConfig(['--config', 'proxy.toml'], { UP_KEY: OPENAI_PROVIDER_KEY, ANT_KEY: ANTHROPIC_PROVIDER_KEY }, () => proxyToml(upstreamUrl))
  if (!r.ok) throw new Error(r.errors.join('\n'))
  return r.config
}

// ---- SSE audit (independent parser) ----

export interface AuditEvent {
  event?: string
  data: string
}

export interface StreamAudit {
  raw: string
  events: AuditEvent[]
  /** Parsed JSON payloads of the chunk events (not [DONE], not the error). */
  chunks: Array<Record<string, unknown>>
  outcome: 'done' | 'error' | 'truncated'
  error: Record<string, unknown> | null
  problems: string[]
}

/** `requestId`: the response's x-request-id, which an error event's request_id must repeat. */
export function createAuditor(requestId?: string | null) {
  const decoder = new TextDecoder()
  let raw = ''
  const events: AuditEvent[] = []
  const problems: string[] = []
  const parser = createParser({
    onEvent: (e) => events.push({ ...(e.event !== undefined ? { event: e.event } : {}), data: e.data }),
    onError: (err) => problems.push(`parser error: ${err.message}`),
  })
  return {
    feed(bytes: Uint8Array) {
      const text = decoder.decode(bytes, { stream: true })
      raw += text
      parser.feed(text)
    },
    end(): StreamAudit {
      const tail = decoder.decode()
      raw += tail
      parser.feed(tail)
      return judge(raw, events, problems, requestId ?? null)
    },
  }
}

/** Audits a whole SSE body given at once. */
export function auditSse(raw: string, requestId?: string | null): StreamAudit {
  const a = createAuditor(requestId)
  a.feed(new TextEncoder().encode(raw))
  return a.end()
}

function judge(raw: string, events: AuditEvent[], problems: string[], requestId: string | null): StreamAudit {
  const chunks: Array<Record<string, unknown>> = []
  let outcome: StreamAudit['outcome'] = 'truncated'
  let error: Record<string, unknown> | null = null
  if (raw.includes('\r')) problems.push('raw stream contains a CR byte')
  if (!raw.endsWith('\n\n')) problems.push('raw stream does not end with a blank line (unterminated event)')
  events.forEach((e, i) => {
    const last = i === events.length - 1
    if (e.event !== undefined) problems.push(`event ${i} has an event name ${JSON.stringify(e.event)}`)
    if (/[\r\n]/.test(e.data)) problems.push(`event ${i} data spans lines`)
    if (e.data === '[DONE]') {
      if (!last) problems.push(`[DONE] at ${i} is not the last event`)
      outcome = 'done'
      return
    }
    let value: unknown
    try {
      value = JSON.parse(e.data)
    } catch {
      problems.push(`event ${i} is not JSON: ${e.data.slice(0, 80)}`)
      return
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push(`event ${i} is not a JSON object`)
      return
    }
    const obj = value as Record<string, unknown>
    if ('error' in obj) {
      if (!last) problems.push(`error event at ${i} is not the last event`)
      const err = obj.error as Record<string, unknown> | null
      for (const f of ['message', 'type', 'code', 'request_id']) {
        if (typeof err?.[f] !== 'string') problems.push(`error event lacks string error.${f}`)
      }
      if (!err || !('param' in err)) problems.push('error event lacks error.param')
      if (requestId !== null && err?.request_id !== requestId) problems.push(`error event request_id ${String(err?.request_id)} ≠ x-request-id ${requestId}`)
      error = err
      outcome = 'error'
      return
    }
    if (obj.object !== 'chat.completion.chunk') problems.push(`event ${i} is not a chat.completion.chunk`)
    chunks.push(obj)
  })
  if (outcome === 'truncated') problems.push('stream ended with neither [DONE] nor an error event')
  return { raw, events, chunks, outcome, error, problems }
}

// ---- Serving over real HTTP ----

export interface Served {
  url: string
  /** For SDK clients: `${url}/v1`. */
  baseURL: string
  /** Every request the gateway received (path + method), to count SDK retries. */
  hits: Array<{ method: string; path: string }>
  /** One audit per SSE response that ran to its end. */
  audits: StreamAudit[]
  stop: () => Promise<void>
}

/**
 * Serves the app on 127.0.0.1:<random>. SSE responses are passed through a byte-for-byte tap that feeds the
 * auditor; with `audit: false` the app's Response is returned untouched (for disconnect timing tests).
 */
export function serve(gw: TestGateway, opts: { audit?: boolean } = {}): Served {
  const hits: Served['hits'] = []
  const audits: StreamAudit[] = []
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    idleTimeout: 30,
    async fetch(req) {
      hits.push({ method: req.method, path: new URL(req.url).pathname })
      const res = await gw.app.handle(req)
      const isSse = res.headers.get('content-type')?.startsWith('text/event-stream') ?? false
      if (opts.audit === false || !isSse || !res.body) return res
      const auditor = createAuditor(res.headers.get('x-request-id'))
      const tap = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, c) {
          auditor.feed(chunk)
          c.enqueue(chunk)
        },
        flush() {
          audits.push(auditor.end())
        },
      })
      return new Response(res.body.pipeThrough(tap), { status: res.status, headers: res.headers })
    },
  })
  const url = `http://127.0.0.1:${server.port}`
  return { url, baseURL: `${url}/v1`, hits, audits, stop: () => server.stop(true) }
}

export interface ProxyEnv {
  gw: TestGateway
  up: FakeUpstream
  http: Served
  /** A key of tenant `t1` (unlimited budget, period total). */
  key: string
  stop: () => Promise<void>
}

export async function startProxyEnv(opts: { audit?: boolean; tenant?: { budgetUsdMicros?: number | null }; redis?: boolean } = {}): Promise<ProxyEnv> {
  const up = await startFakeUpstream()
  // `redis`: the budget ledger is a real (throwaway) Redis running the production Lua scripts.
  const redis = opts.redis ? await startRedis() : null
  const store = createSqliteStore(':memory:')
  const ledger = redis
    ? await createRedisLedger({ url: redis.url, rebuild: (t, pk, exclude) => store.sumUsageSince(t, periodKeyStartMs(pk), exclude), durable: store })
    : undefined
  const gw = await buildTestGateway({ config: proxyConfig(up.url), store, ledger })
  const key = await gw.addTenant({ id: 't1', ...opts.tenant })
  await gw.warm()
  const http = serve(gw, { audit: opts.audit })
  return {
    gw, up, http, key,
    async stop() {
      await http.stop()
      await up.stop()
      await ledger?.close()
      await redis?.stop()
    },
  }
}

/** Problems found in all audited streams, labelled; expect this to equal []. */
export function auditProblems(audits: StreamAudit[]): string[] {
  return audits.flatMap((a, i) => a.problems.map((p) => `stream ${i}: ${p}`))
}

/** Reads the whole body of an in-process SSE response and audits it. */
export async function auditResponse(res: Response): Promise<StreamAudit> {
  return auditSse(await res.text(), res.headers.get('x-request-id'))
}
