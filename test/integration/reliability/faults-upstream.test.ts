/**
 * Upstream faults against a real gateway process (Redis + Postgres): a hang until the provider timeout, a reset
 * in the middle of a stream, malformed SSE and non-JSON bodies. Each one must end in a clean error for the client
 * (504 / 502 / one error event), the reservation released or settled exactly, and the process still serving.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { openaiCompletion, openaiTextStream, type FakeUpstream } from '../../helpers/fake-upstream.ts'
import { type GatewayProcess } from '../../helpers/gateway-process.ts'
import { type PgInstance } from '../../helpers/postgres.ts'
import { type TestRedis } from '../../helpers/redis.ts'
import {
  chatBody, type Env, postChat, reservedInRedis, sseData, type Stack, startStack, tenantShow, usageRows, waitUntil,
} from './lib.ts'

const TENANT = `upf-${process.pid}`
let pg: PgInstance
let redis: TestRedis
let fake: FakeUpstream
let gw: GatewayProcess
let env: Env
let key: string

let stack: Stack

beforeAll(async () => {
  stack = await startStack({ tenants: { [TENANT]: ['--budget-usd', '5'] }, toml: { timeoutMs: 1000 } })
  ;({ pg, redis, fake, env, gw } = stack)
  key = stack.keys[TENANT]!
})

afterAll(async () => {
  await stack?.stop()
})

/** No reservation may be left behind once a request is over (counter and open entries both zero). */
async function expectNoReservation(): Promise<void> {
  const r = await waitUntil('reservations to drain', async () => {
    const s = await reservedInRedis(redis.url, TENANT)
    return s.micros === 0 && s.open === 0 ? s : null
  }, 3000, 25).catch(async () => reservedInRedis(redis.url, TENANT))
  expect(r).toEqual({ micros: 0, open: 0 })
}

const stillServing = async () => {
  expect(gw.proc.exitCode).toBeNull()
  expect((await fetch(`${gw.url}/healthz`)).status).toBe(200)
}

describe('upstream hang → 504 upstream_timeout after the provider timeout_ms, reservation released', () => {
  test('non-streaming', async () => {
    fake.program({ kind: 'hang' })
    const t0 = performance.now()
    const res = await postChat(gw.url, key, chatBody())
    const ms = performance.now() - t0
    expect(res.status).toBe(504)
    const body = (await res.json()) as { error: Record<string, unknown> }
    expect(body.error).toMatchObject({ code: 'upstream_timeout', type: 'api_error', param: null })
    expect(body.error.request_id).toBe(res.headers.get('x-request-id')!)
    expect(ms).toBeGreaterThanOrEqual(900)
    expect(ms).toBeLessThan(5000)
    await expectNoReservation()
  })

  test('streaming (headers never come: still a plain 504, not a 200 stream)', async () => {
    fake.program({ kind: 'hang' })
    const res = await postChat(gw.url, key, chatBody({ stream: true }))
    expect(res.status).toBe(504)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('upstream_timeout')
    await expectNoReservation()
    await stillServing()
  })
})

describe('upstream reset mid-stream', () => {
  test('one error event, then the end of the stream; what was consumed is settled, nothing stays reserved', async () => {
    const full = openaiTextStream({ model: 'm', parts: ['alpha ', 'beta ', 'gamma ', 'delta '], usage: true })
    const events = full.split('\n\n').filter(Boolean).map((e) => `${e}\n\n`)
    // role chunk + two content chunks, then the connection dies (no finish_reason, no usage, no [DONE]).
    fake.program({ kind: 'sse', chunks: events.slice(0, 3), after: 'reset' })
    const before = (await usageRows(pg.url, TENANT)).length
    const res = await postChat(gw.url, key, chatBody({ stream: true }))
    expect(res.status).toBe(200)
    const data = sseData(await res.text())
    const errors = data.filter((d) => d.startsWith('{"error"'))
    expect(errors).toHaveLength(1)
    expect(data.at(-1)).toBe(errors[0]) // the error is the last thing on the stream: no [DONE] after it
    expect(data).not.toContain('[DONE]')
    const err = JSON.parse(errors[0]!).error
    expect(err).toMatchObject({ code: 'upstream_error', type: 'api_error', request_id: res.headers.get('x-request-id') })
    const content = data.slice(0, -1).map((d) => JSON.parse(d).choices[0]?.delta?.content ?? '').join('')
    expect(content).toBe('alpha beta ')
    await expectNoReservation()
    // Settled, not released: one usage record with status upstream_error and a non-zero cost reaches Postgres.
    const rows = await waitUntil('the usage record in Postgres', async () => {
      const r = await usageRows(pg.url, TENANT)
      return r.length > before ? r : null
    }, 10_000)
    const row = rows.find((r) => r.status === 'upstream_error')
    expect(row).toBeDefined()
    expect(row!.cost_usd_micros).toBeGreaterThan(0)
    expect(row!.completion_tokens).toBeGreaterThanOrEqual(1)
    await stillServing()
  })
})

describe('malformed upstream bodies: clean errors, the process stays up', () => {
  test('malformed SSE after a good chunk → one error event, stream ends', async () => {
    const good = JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'x', choices: [{ index: 0, delta: { content: 'ok ' }, finish_reason: null }] })
    fake.program({ kind: 'sse', chunks: [`data: ${good}\n\n`, 'data: {"choices": [oops\n\n', `data: ${good}\n\n`] })
    const res = await postChat(gw.url, key, chatBody({ stream: true }))
    expect(res.status).toBe(200)
    const data = sseData(await res.text())
    expect(data).toHaveLength(2)
    expect(JSON.parse(data[0]!).choices[0].delta.content).toBe('ok ')
    expect(JSON.parse(data[1]!).error.code).toBe('upstream_error')
    await expectNoReservation()
  })

  test('malformed SSE as the very first event → one error event, reservation released (nothing consumed)', async () => {
    const spentBefore = (await tenantShow(env, TENANT)).spentMicros
    fake.program({ kind: 'sse', chunks: ['data: <html>Bad Gateway</html>\n\n'] })
    const res = await postChat(gw.url, key, chatBody({ stream: true }))
    const data = sseData(await res.text())
    expect(data).toHaveLength(1)
    expect(JSON.parse(data[0]!).error.code).toBe('upstream_error')
    await expectNoReservation()
    expect((await tenantShow(env, TENANT)).spentMicros).toBe(spentBefore)
  })

  test.each([
    ['HTML page with 200', { kind: 'text', status: 200, body: '<html><body>proxy says hi</body></html>', contentType: 'text/html' }, false],
    ['truncated JSON with 200', { kind: 'text', status: 200, body: '{"id":"x","choices":[{"message":', contentType: 'application/json' }, false],
    ['JSON without choices', { kind: 'json', body: { id: 'x', object: 'chat.completion' } }, false],
    ['HTML 500 page', { kind: 'text', status: 500, body: '<html>500 Internal Server Error</html>', contentType: 'text/html' }, false],
    ['JSON body answering a stream request', { kind: 'json', body: openaiCompletion({ text: 'hi' }) }, true],
    ['HTML 503 answering a stream request', { kind: 'text', status: 503, body: '<h1>upstream overloaded</h1>', contentType: 'text/html' }, true],
  ] as const)('%s → 502 upstream_error envelope', async (_name, reply, stream) => {
    fake.program(reply as never)
    const res = await postChat(gw.url, key, chatBody(stream ? { stream: true } : {}))
    expect(res.status).toBe(502)
    expect(res.headers.get('content-type')).toContain('application/json')
    const body = (await res.json()) as { error: Record<string, unknown> }
    expect(body.error).toMatchObject({ code: 'upstream_error', type: 'api_error', param: null, request_id: res.headers.get('x-request-id') })
    expect(String(body.error.message)).not.toContain('<html')
    await expectNoReservation()
  })

  test('after every fault: the process is up, a normal request still works, the CLI sees $0 reserved', async () => {
    await stillServing()
    const ok = await postChat(gw.url, key, chatBody())
    expect(ok.status).toBe(200)
    expect(((await ok.json()) as { choices: unknown[] }).choices).toHaveLength(1)
    expect((await tenantShow(env, TENANT)).reservedMicros).toBe(0)
    expect(gw.output()).not.toContain('unhandled error')
  })
})
