/**
 * Operability in-process: the access log (one line per /v1 request, `level` on each, a client that left is
 * info), the in-flight gauges, /metrics off the main port when it has its own listener, GET /v1/models/{id}.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import OpenAI from 'openai'
import { fetchHandler } from '../../../src/app.ts'
import { mockAdapter } from '../../../src/providers/mock/adapter.ts'
import type { ProviderAdapter } from '../../../src/providers/types.ts'
import type { ChatChunk } from '../../../src/wire/openai.ts'
import { buildTestGateway, chat, testConfig, type TestGateway } from '../../helpers/app.ts'

type Line = Record<string, any>
const lines = (gw: TestGateway): Line[] => gw.logs.map((l) => JSON.parse(l))
const accessLines = (gw: TestGateway): Line[] => lines(gw).filter((l) => l.msg === 'access')

/** mock-echo, except that a prompt of "hang" is slow: the reply (or the stream's end) comes after 150 ms. */
const hangingMock: ProviderAdapter = {
  async complete(req, route, signal) {
    if (JSON.stringify(req.messages).includes('hang')) await Bun.sleep(150)
    return mockAdapter.complete(req, route, signal)
  },
  async stream(req, route, signal) {
    if (!JSON.stringify(req.messages).includes('hang')) return mockAdapter.stream(req, route, signal)
    return (async function* (): AsyncGenerator<ChatChunk> {
      const base = { id: 'c1', object: 'chat.completion.chunk' as const, created: 0, model: req.model }
      yield { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: 'x' }, finish_reason: null }] }
      await Bun.sleep(150)
      yield { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }
      yield { ...base, choices: [], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } }
    })()
  },
}

const TOML = `
[providers.mock]
kind = "mock"
[providers.hosted]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "NOT_SET_ANYWHERE"
[models."org/model-with-slash"]
provider = "mock"
input_usd_per_mtok = 1
output_usd_per_mtok = 1
[models."hosted-m"]
provider = "hosted"
input_usd_per_mtok = 1
output_usd_per_mtok = 1
`

let gw: TestGateway
let key: string
let limitedKey: string
beforeAll(async () => {
  gw = await buildTestGateway({ config: testConfig(TOML), adapters: { mock: hangingMock } })
  key = await gw.addTenant({ id: 'ops-t' })
  limitedKey = await gw.addTenant({ id: 'ops-limited', allowedModels: ['mock-echo'] })
  await gw.warm()
})

describe('access log', () => {
  test('one info line per request with the client request id, route, status, tenant and key, duration, stream flag', async () => {
    gw.logs.length = 0
    const res = await gw.request('/v1/models', { key, headers: { 'x-request-id': 'req_client_1' } })
    expect(res.status).toBe(200)
    const [line, ...more] = accessLines(gw)
    expect(more).toEqual([])
    expect(line).toMatchObject({ level: 'info', msg: 'access', request_id: 'req_client_1', route: 'models', status: 200, tenant: 'ops-t', stream: false })
    expect(line!.key_id).toStartWith('key_')
    expect(typeof line!.duration_ms).toBe('number')
  })

  test('an error response names its code and has no tenant when auth failed; every line has a level', async () => {
    gw.logs.length = 0
    expect((await gw.request('/v1/models', { key: 'gw_wrong' })).status).toBe(401)
    expect(accessLines(gw)).toEqual([expect.objectContaining({ level: 'info', status: 401, error: 'invalid_api_key' })])
    expect(accessLines(gw)[0]).not.toHaveProperty('tenant')
    expect(lines(gw).every((l) => typeof l.level === 'string')).toBe(true)
  })

  test('a stream is logged once, when it has ended, with stream: true', async () => {
    gw.logs.length = 0
    const res = await gw.request('/v1/chat/completions', { key, body: chat('hi there', { stream: true }) })
    expect(accessLines(gw)).toEqual([]) // headers sent, stream not read yet
    await res.text()
    await Bun.sleep(0)
    expect(accessLines(gw)).toEqual([expect.objectContaining({ route: 'chat.completions', status: 200, stream: true })])
  })

  test('a client that leaves before a non-streamed reply: the reply is still read (and charged), logged 499, info, client_disconnect; no error line, no error metric', async () => {
    gw.logs.length = 0
    const errorsBefore = gw.metrics.render().match(/gateway_errors_total\{code="internal_error"\} (\d+)/)?.[1] ?? '0'
    const ctl = new AbortController()
    const pending = gw.app.handle(new Request('http://localhost/v1/chat/completions', {
      method: 'POST', signal: ctl.signal, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(chat('hang')),
    }))
    await Bun.sleep(20)
    ctl.abort()
    expect((await pending).status).toBe(499)
    await gw.idle()
    expect(lines(gw).filter((l) => l.level === 'error')).toEqual([])
    expect(accessLines(gw)).toEqual([expect.objectContaining({ level: 'info', status: 499, outcome: 'client_disconnect' })])
    expect(gw.metrics.render().match(/gateway_errors_total\{code="internal_error"\} (\d+)/)?.[1] ?? '0').toBe(errorsBefore)
    expect(gw.metrics.requests.get({ route: 'chat.completions', status: '499' })).toBe(1)
  })
})

test('in-flight gauges count a stream until it ends', async () => {
  const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(gw.metrics.render())![1])
  expect([gauge('gateway_inflight_requests'), gauge('gateway_inflight_streams')]).toEqual([0, 0])
  const ctl = new AbortController()
  const res = await gw.app.handle(new Request('http://localhost/v1/chat/completions', {
    method: 'POST', signal: ctl.signal, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(chat('hang', { stream: true })),
  }))
  const reader = res.body!.getReader()
  await reader.read()
  expect([gauge('gateway_inflight_requests'), gauge('gateway_inflight_streams')]).toEqual([1, 1])
  await reader.cancel()
  await gw.idle()
  expect([gauge('gateway_inflight_requests'), gauge('gateway_inflight_streams')]).toEqual([0, 0])
})

test('process and event-loop figures are on /metrics; tenant ids are not (main port)', async () => {
  await Bun.sleep(300) // one event-loop lag sample
  const text = await (await gw.request('/metrics')).text()
  for (const name of ['process_resident_memory_bytes', 'process_cpu_seconds_total', 'process_start_time_seconds']) {
    expect(Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1])).toBeGreaterThan(0)
  }
  expect(text).toContain('# TYPE gateway_event_loop_lag_ms histogram')
  expect(text).not.toContain('ops-t')
  expect(gw.metrics.render({ tenants: true })).toContain('gateway_tenant_spend_usd_micros_total{tenant="ops-t"}')
})

test('with metrics on their own listener the main port has no /metrics', async () => {
  const other = await buildTestGateway({ app: { metricsRoute: false } })
  const res = await other.request('/metrics', { headers: { 'x-request-id': 'req_m' } })
  expect(res.status).toBe(404)
  expect(await res.json()).toMatchObject({ error: { code: 'not_found', request_id: 'req_m' } })
})

describe('GET /v1/models/{id}', () => {
  test.each([
    ['mock-echo', 'full', 200, null],
    ['org%2Fmodel-with-slash', 'full', 200, null],
    ['org/model-with-slash', 'full', 200, null],
    ['nope', 'full', 404, 'model_not_found'],
    ['hosted-m', 'full', 404, 'model_not_found'], // its provider has no key: hidden from /v1/models too
    ['org/model-with-slash', 'limited', 403, 'model_not_allowed'],
    ['mock-echo', 'limited', 200, null],
    ['%E0%A4%A', 'full', 404, 'model_not_found'], // malformed escape
  ] as const)('%s (%s key) → %d', async (id, which, status, code) => {
    const res = await gw.request(`/v1/models/${id}`, { key: which === 'full' ? key : limitedKey })
    expect(res.status).toBe(status)
    const body = (await res.json()) as any
    if (code === null) expect(body).toEqual({ id: decodeURIComponent(id), object: 'model', created: expect.any(Number), owned_by: 'mock' })
    else expect(body.error).toMatchObject({ code, param: 'model' })
  })

  test('without a key: 401', async () => {
    expect((await gw.request('/v1/models/mock-echo')).status).toBe(401)
  })

  test('the openai SDK\'s models.retrieve, over HTTP', async () => {
    const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: fetchHandler(gw.app) })
    try {
      const client = new OpenAI({ apiKey: key, baseURL: `http://127.0.0.1:${server.port}/v1`, maxRetries: 0 })
      expect(await client.models.retrieve('org/model-with-slash')).toMatchObject({ id: 'org/model-with-slash', object: 'model' })
      const err = await client.models.retrieve('nope').then(() => null, (e: unknown) => e)
      expect(err).toBeInstanceOf(OpenAI.NotFoundError)
      const limited = new OpenAI({ apiKey: limitedKey, baseURL: `http://127.0.0.1:${server.port}/v1`, maxRetries: 0 })
      expect(await limited.models.retrieve('org/model-with-slash').then(() => null, (e: unknown) => e)).toBeInstanceOf(OpenAI.PermissionDeniedError)
    } finally {
      server.stop(true)
    }
  })
})

afterAll(async () => {
  await gw?.ledger.close()
})
