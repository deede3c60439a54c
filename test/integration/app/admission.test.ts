/** The shared admission path: what is refused before any money or upstream work, and how (Redis ledger). */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { buildTestGateway, chat, type TestGateway } from '../../helpers/app.ts'
import { startRedis, type TestRedis } from '../../helpers/redis.ts'

let redis: TestRedis
const gateways: TestGateway[] = []
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  for (const g of gateways) await g.ledger.close()
  await redis.stop()
})

async function setup(budgetUsdMicros: number | null = 1_000_000) {
  const gw = await buildTestGateway({ redisUrl: redis.url })
  gateways.push(gw)
  const key = await gw.addTenant({ id: `t-${gateways.length}`, budgetUsdMicros, policy: 'strict' })
  await gw.warm()
  return { gw, key, tenant: `t-${gateways.length}` }
}

test('a bad key is refused from the headers alone: 401 even when the body is not JSON, and the body is never read', async () => {
  const { gw } = await setup()
  let pulled = 0
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled++
      c.enqueue(new TextEncoder().encode('{not json'))
      if (pulled > 3) c.close()
    },
  })
  const r = await gw.app.handle(new Request('http://localhost/v1/chat/completions', {
    method: 'POST', body, headers: { authorization: 'Bearer gw_not_a_real_key_0000000', 'content-type': 'application/json' },
  }))
  expect(r.status).toBe(401)
  expect(((await r.json()) as any).error.code).toBe('invalid_api_key')
  expect(pulled).toBeLessThanOrEqual(1) // at most what the stream primes itself; never read to the end
  const noKey = await gw.request('/v1/chat/completions', { body: '{"model":' })
  expect(noKey.status).toBe(401)
})

test('an output cap above the model\'s max is a 400 naming the cap, not a 402', async () => {
  const { gw, key, tenant } = await setup()
  const r = await gw.request('/v1/chat/completions', { key, body: chat('hi', { max_tokens: 10_000_000 }) })
  expect(r.status).toBe(400)
  const err = ((await r.json()) as any).error
  expect(err.param).toBe('max_completion_tokens')
  expect(err.message).toMatch(/above the \d+ output tokens the model `mock-echo` allows/)
  expect((await gw.ledger.snapshot(tenant, 'total')).reservedMicros).toBe(0)
})

test('a 402 says what the request needed, what is left, and to lower max_tokens', async () => {
  const { gw, key } = await setup(50) // $0.000050
  const r = await gw.request('/v1/chat/completions', { key, body: chat('hi', { max_tokens: 1000 }) })
  expect(r.status).toBe(402)
  expect(r.headers.get('x-should-retry')).toBe('false')
  const msg = ((await r.json()) as any).error.message as string
  expect(msg).toMatch(/needs up to \$0\.00\d{4}/)
  expect(msg).toContain('$0.000050 left of $0.000050')
  expect(msg).toContain('Lower max_tokens')
})

test('JSON nested 100k deep is a 400, not a stack overflow', async () => {
  const { gw, key } = await setup()
  const deep = `{"model":"mock-echo","messages":[{"role":"user","content":"hi","x":${'['.repeat(100_000)}${']'.repeat(100_000)}}]}`
  const r = await gw.request('/v1/chat/completions', { key, body: deep })
  expect(r.status).toBe(400)
  expect(((await r.json()) as any).error.message).toContain('nests deeper than')
  // Brackets inside strings are text, not nesting.
  const ok = await gw.request('/v1/chat/completions', { key, body: chat('['.repeat(10_000), { max_tokens: 5 }) })
  expect(ok.status).toBe(200)
})
