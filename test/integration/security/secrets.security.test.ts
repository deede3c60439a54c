/**
 * Secrets never leave the gateway: after traffic that includes every kind of error (bad keys, upstream errors
 * that echo the provider key, mid-stream errors, timeouts, budget refusals), the process output, /metrics,
 * /healthz, /readyz and every response (headers and bodies) are searched for the tenant's API key, its full
 * sha256 hex, the provider key and the wrong keys clients sent. The client's key is never sent upstream either.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { openaiTextStream, type FakeUpstream } from '../../helpers/fake-upstream.ts'
import { type GatewayProcess } from '../../helpers/gateway-process.ts'
import { type PgInstance } from '../../helpers/postgres.ts'
import { type TestRedis } from '../../helpers/redis.ts'
import {
  chatBody, type Env, PROVIDER_KEY, sha256Hex, type Stack, startStack,
} from '../reliability/lib.ts'

let pg: PgInstance
let redis: TestRedis
let fake: FakeUpstream
let gw: GatewayProcess
let env: Env
let key: string
let poorKey: string
const seen: string[] = [] // every response: status line, headers and body

let stack: Stack

beforeAll(async () => {
  stack = await startStack({ tenants: { sec: [], 'sec-poor': ['--budget-usd', '0.000001'] }, toml: { timeoutMs: 500 } })
  ;({ pg, redis, fake, env, gw } = stack)
  key = stack.keys.sec!
  poorKey = stack.keys['sec-poor']!
})

afterAll(async () => {
  await stack?.stop()
})

async function send(path: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(`${gw.url}${path}`, init)
  const body = await res.text()
  seen.push(`${res.status} ${JSON.stringify(Object.fromEntries(res.headers))}\n${body}`)
  return new Response(body, { status: res.status, headers: res.headers })
}
const chatWith = (headers: Record<string, string>, body: unknown = chatBody()) =>
  send('/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) })

test('no API key, key hash or provider key in logs, metrics, probes or any response', async () => {
  const flipped = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A')
  const stranger = 'gw_' + 'Z'.repeat(43)
  const auth = (k: string) => ({ authorization: `Bearer ${k}` })

  // Successes (plain, stream, x-api-key), /v1/models.
  expect((await chatWith(auth(key))).status).toBe(200)
  expect((await chatWith(auth(key), chatBody({ stream: true, stream_options: { include_usage: true } }))).status).toBe(200)
  expect((await chatWith({ 'x-api-key': key })).status).toBe(200)
  expect((await send('/v1/models', { headers: auth(key) })).status).toBe(200)

  // Authentication failures with near-miss and foreign keys, malformed headers that carry the key.
  expect((await chatWith(auth(flipped))).status).toBe(401)
  expect((await chatWith(auth(stranger))).status).toBe(401)
  expect((await chatWith({ authorization: `Basic ${key}` })).status).toBe(401)
  expect((await chatWith({ authorization: `Bearer ${key} ${key}` })).status).toBe(401)
  expect((await chatWith({ authorization: `Bearer ${key}${'!'.repeat(3)}` })).status).toBe(401)
  expect((await send('/v1/models', { headers: auth(flipped) })).status).toBe(401)

  // Upstream errors that echo the provider key (as real providers do for a bad key), in every shape.
  fake.program({ kind: 'json', status: 401, body: { error: { message: `Incorrect API key provided: ${PROVIDER_KEY}. You can find your API key at ...`, type: 'invalid_request_error', code: 'invalid_api_key' } } })
  const up401 = await chatWith(auth(key))
  expect(up401.status).toBe(401)
  fake.program({ kind: 'text', status: 500, body: `upstream crashed; request had Authorization: Bearer ${PROVIDER_KEY}`, contentType: 'text/plain' })
  expect((await chatWith(auth(key))).status).toBe(502)
  fake.program({ kind: 'json', status: 429, body: { error: `rate limited for key ${PROVIDER_KEY}` } })
  expect((await chatWith(auth(key))).status).toBe(429)
  fake.program({ kind: 'json', status: 400, body: { message: `bad request from ${PROVIDER_KEY.slice(0, 20)}... full: ${PROVIDER_KEY}` } })
  expect((await chatWith(auth(key))).status).toBe(400)
  // Mid-stream error event carrying the provider key.
  const head = openaiTextStream({ parts: ['a '] }).split('\n\n').slice(0, 2).map((e) => `${e}\n\n`)
  fake.program({ kind: 'sse', chunks: [...head, `data: ${JSON.stringify({ error: { message: `key ${PROVIDER_KEY} was revoked`, type: 'server_error' } })}\n\n`] })
  const midStream = await chatWith(auth(key), chatBody({ stream: true }))
  expect(await midStream.text()).toContain('"error"')
  // Timeout, upstream reset, budget refusal, unknown model, bad JSON, too large.
  fake.program({ kind: 'hang' })
  expect((await chatWith(auth(key))).status).toBe(504)
  fake.program({ kind: 'sse', chunks: head, after: 'reset' })
  expect((await chatWith(auth(key), chatBody({ stream: true }))).status).toBe(200)
  expect((await chatWith(auth(poorKey))).status).toBe(402)
  expect((await chatWith(auth(key), chatBody({}, 'no-such-model'))).status).toBe(404)
  expect((await chatWith(auth(key), '{"model":')).status).toBe(400)
  expect((await chatWith(auth(key), JSON.stringify(chatBody({ pad: 'x'.repeat(5 * 1024 * 1024) })))).status).toBe(413)

  // The probes and metrics, after all that.
  for (const p of ['/metrics', '/healthz', '/readyz']) expect((await send(p)).status).toBe(200)
  await Bun.sleep(300) // let the last log lines reach the pipe

  // The upstream got the provider key and never the client's key.
  const upstreamHeaders = fake.requests.map((r) => JSON.stringify(r.headers)).join('\n')
  expect(upstreamHeaders).toContain(PROVIDER_KEY)
  for (const s of [key, sha256Hex(key)]) expect(upstreamHeaders).not.toContain(s)
  expect(JSON.stringify(fake.requests.map((r) => r.body))).not.toContain(key)

  const secrets: Record<string, string> = {
    'api key': key, 'api key sha256': sha256Hex(key), 'poor tenant key': poorKey, 'poor key sha256': sha256Hex(poorKey),
    'provider key': PROVIDER_KEY, 'flipped key': flipped, 'flipped sha256': sha256Hex(flipped), 'stranger key': stranger,
    // The random part alone (someone could log the key without its prefix).
    'api key body': key.slice(3),
  }
  const places: Record<string, string> = { 'process output': gw.output(), responses: seen.join('\n\n') }
  const leaks: string[] = []
  for (const [where, text] of Object.entries(places)) {
    for (const [what, s] of Object.entries(secrets)) if (text.includes(s)) leaks.push(`${what} in ${where}`)
  }
  expect(leaks).toEqual([])
  expect(seen.length).toBeGreaterThan(20)
  expect(gw.output()).toContain('[COLD-START]') // the logs were captured at all
})
