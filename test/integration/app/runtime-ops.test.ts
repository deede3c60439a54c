/**
 * The running gateway (startGateway, in-process, embedded store): /metrics on its own listener, a config
 * reload that keeps in-flight requests on their route, the drain deadline, and boot errors naming every store.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, type GatewayConfig } from '../../../src/config/index.ts'
import { createLogger } from '../../../src/log.ts'
import { mockAdapter } from '../../../src/providers/mock/adapter.ts'
import type { ProviderAdapter } from '../../../src/providers/types.ts'
import type { ChatChunk } from '../../../src/wire/openai.ts'
import { BootError, openStores, startGateway, type RunningGateway } from '../../../src/runtime.ts'
import { generateApiKey } from '../../../src/store/keys.ts'
import { runGateway } from '../../helpers/gateway-process.ts'
import { freePort } from '../../helpers/ports.ts'

const dir = mkdtempSync(join(tmpdir(), 'gw-runtime-ops-'))
const MODEL = (name: string) => `[models."${name}"]\nprovider = "mock"\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 1\n`
const BASE = `[providers.mock]\nkind = "mock"\n${MODEL('old-model')}`

const FLAGS = ['--port', '0', '--host', '127.0.0.1', '--data-dir', dir, '--metrics-listen', '127.0.0.1:0', '--drain-timeout-ms', '300']

/** The config as the gateway's argv (FLAGS) and this file would give it: a reload re-reads with the same flags. */
function config(toml: string): GatewayConfig {
  const r = loadConfig(['--config', 'g.toml', ...FLAGS], {}, () => toml)
  if (!r.ok) throw new Error(r.errors.join('\n'))
  return r.config
}

/** A stream whose chunks the test releases one at a time (`release()`, counted); the request's abort ends it. */
function gatedAdapter() {
  let permits = 0
  let waiter: (() => void) | null = null
  const release = () => {
    permits++
    waiter?.()
  }
  const take = (signal: AbortSignal) => new Promise<void>((resolve, reject) => {
    const tryTake = () => {
      if (permits === 0) return false
      permits--
      waiter = null
      resolve()
      return true
    }
    if (tryTake()) return
    waiter = () => void tryTake()
    signal.addEventListener('abort', () => reject(signal.reason), { once: true })
  })
  const adapter: ProviderAdapter = {
    complete: (req, route, signal) => mockAdapter.complete(req, route, signal),
    async stream(req, _route, signal) {
      const chunk = (content: string): ChatChunk => ({ id: 'c', object: 'chat.completion.chunk', created: 0, model: req.model, choices: [{ index: 0, delta: { content }, finish_reason: null }] })
      return (async function* () {
        for (const part of ['a', 'b', 'c']) {
          await take(signal)
          yield chunk(part)
        }
      })()
    },
  }
  return { adapter, release }
}

const logs: string[] = []
let gw: RunningGateway
let key: string
/** What an operator sees once the gateway is ready, before any client request. */
let atReady: { metrics: string; logs: string[] }
const gate = gatedAdapter()

beforeAll(async () => {
  gw = await startGateway(config(BASE), {
    log: createLogger((l) => logs.push(l)), adapters: { mock: gate.adapter },
  })
  await gw.store.createTenant({ id: 'rt', budgetUsdMicros: null, budgetPeriod: 'total', policy: 'fixed', allowedModels: null, failOpen: false })
  const k = generateApiKey()
  await gw.store.createKey({ id: k.id, tenantId: 'rt', keyHash: k.hash, prefix: k.prefix, name: null })
  key = k.key
  await gw.ready
  atReady = { metrics: await (await fetch(`${gw.metricsUrl}/metrics`)).text(), logs: [...logs] }
  await gw.cache.reload('rt')
})
afterAll(async () => {
  await gw?.stop(0)
  rmSync(dir, { recursive: true, force: true })
})

const chat = (model: string, stream = false) => fetch(`${gw.url}/v1/chat/completions`, {
  method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
  body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'hello' }] }),
})
const modelIds = async () => ((await (await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).json()) as any).data.map((m: any) => m.id)

// The boot's own calls (the request path run in-process, the POST to itself that starts Bun's HTTP client) must not
// show as traffic.
test('boot: the warm-up counts no request and logs no access or [COLD-START] line', () => {
  expect(atReady.metrics).toContain('gateway_warmup_duration_ms')
  expect(atReady.metrics).not.toContain('gateway_requests_total{')
  expect(atReady.metrics).not.toContain('gateway_errors_total{')
  const msgs = atReady.logs.map((l) => JSON.parse(l).msg)
  expect(msgs).toContain('ready')
  expect(msgs.filter((m) => m === 'access' || m === '[COLD-START]')).toEqual([])
})

test('metrics_listen: /metrics (with per-tenant spend) there, 404 on the main port', async () => {
  expect((await chat('old-model')).status).toBe(200)
  expect(gw.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
  expect((await fetch(`${gw.url}/metrics`)).status).toBe(404)
  const res = await fetch(`${gw.metricsUrl}/metrics`)
  expect(res.status).toBe(200)
  const text = await res.text()
  expect(text).toMatch(/^gateway_tenant_spend_usd_micros_total\{tenant="rt"\} [1-9]\d*$/m)
  expect(text).toContain('gateway_tenant_tokens_total{tenant="rt",type="prompt"}')
  expect((await fetch(`${gw.metricsUrl}/v1/models`)).status).toBe(404) // the API is not on the metrics listener
  expect(logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'ready').metrics_url).toBe(gw.metricsUrl)
})

test('reload: new requests see the new models; a stream in flight keeps the route it resolved', async () => {
  gate.release() // Bun sends the response headers with the first body bytes
  const res = await chat('old-model', true)
  expect(res.status).toBe(200)
  const plan = gw.reload(config(`[providers.mock]\nkind = "mock"\n${MODEL('new-model')}[server]\nport = 1234\nwarm_limit = 3\n`))
  expect(plan.changed.models).toEqual(['new-model', 'old-model'])
  expect(plan.needsRestart).toEqual(['warmLimit']) // the file's port: the --port flag still wins, so no change
  expect(await modelIds()).toContain('new-model')
  expect(await modelIds()).not.toContain('old-model')
  expect((await chat('old-model')).status).toBe(404)
  gate.release()
  gate.release()
  const text = await res.text()
  expect(text).toContain('"content":"c"')
  expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true)
  expect(logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'config reloaded')).toMatchObject({ level: 'warn', restart_required: ['warmLimit'] })
})

test('stop: at the drain deadline AppDeps.shutdown ends what is left, then connections close; stop resolves', async () => {
  gw.reload(config(BASE))
  gate.release()
  const res = await chat('old-model', true)
  const reader = res.body!.getReader()
  await reader.read() // in flight: one chunk out, the next one never comes
  await gw.stop()
  await reader.read().catch(() => null)
  const msgs = logs.map((l) => JSON.parse(l).msg)
  const at = (m: string) => msgs.indexOf(m)
  expect(at('shutting down')).toBeGreaterThan(-1)
  expect(at('drain deadline reached; ending in-flight requests')).toBeGreaterThan(at('shutting down'))
  expect(at('stopped')).toBeGreaterThan(at('drain deadline reached; ending in-flight requests'))
  // The route ended its own stream when the shutdown signal fired: nothing was left for a forced close.
  expect(at('closing remaining connections')).toBe(-1)
  expect(await fetch(`${gw.metricsUrl}/metrics`).then(() => 'up', () => 'closed')).toBe('closed')
})

test('budget slices without REDIS_URL: the setting is said to have no effect', async () => {
  const r = loadConfig(['--data-dir', join(dir, 'slices'), '--budget-slice-usd', '1'], {})
  if (!r.ok) throw new Error(r.errors.join())
  const lines: Array<Record<string, unknown>> = []
  const stores = await openStores(r.config, (e) => lines.push(e))
  try {
    expect(lines.map((l) => l.msg)).toContain('budget_slice_usd is set but has no effect without REDIS_URL')
  } finally {
    await stores.ledger.close()
    await stores.store.close()
  }
})

describe('boot with unreachable stores', () => {
  test('both unreachable: one BootError naming the database and Redis (host and port only)', async () => {
    const [pgPort, redisPort] = [await freePort(), await freePort()]
    const r = loadConfig([], { DATABASE_URL: `postgres://u:pgsecret@127.0.0.1:${pgPort}/x`, REDIS_URL: `redis://:redissecret@127.0.0.1:${redisPort}` })
    if (!r.ok) throw new Error(r.errors.join())
    const err = await openStores(r.config, () => {}).then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(BootError)
    const msg = (err as Error).message
    expect(msg).toContain('database: ')
    expect(msg).toContain(`127.0.0.1:${pgPort}`)
    expect(msg).toContain('redis: ')
    expect(msg).toContain(`127.0.0.1:${redisPort}`)
    expect(msg).not.toContain('secret')
  }, 20_000)

  test('gateway serve: exit 2 with one message listing both', async () => {
    const [pgPort, redisPort] = [await freePort(), await freePort()]
    const r = await runGateway(['serve'], { env: { DATABASE_URL: `postgres://u@127.0.0.1:${pgPort}/x`, REDIS_URL: `redis://127.0.0.1:${redisPort}` } })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/^gateway: stores unreachable:\n {2}- database: [^\n]+\n {2}- redis: [^\n]+\n$/)
  }, 30_000)
})
