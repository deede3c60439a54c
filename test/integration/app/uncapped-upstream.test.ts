/**
 * Issue: a compatible server (Ollama, older vLLM) that reads only `max_tokens` generated 16k tokens on a
 * 16-token cap. The gateway now sends the cap in both fields to such servers, and charges what the server
 * reports when it overruns anyway: settlement follows the reported usage, never the reservation (Redis ledger).
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { loadConfig } from '../../../src/config/index.ts'
import { buildTestGateway, type TestGateway } from '../../helpers/app.ts'
import { type FakeUpstream, openaiCompletion, startFakeUpstream } from '../../helpers/fake-upstream.ts'
import { startRedis, type TestRedis } from '../../helpers/redis.ts'

let up: FakeUpstream
let gw: TestGateway
let key: string
let redis: TestRedis

beforeAll(async () => {
  up = await startFakeUpstream()
  redis = await startRedis()
  const toml = `
[providers.local]
kind = "openai"
base_url = "${up.url}/v1"

[models."llama"]
provider = "local"
input_usd_per_mtok = 1
output_usd_per_mtok = 10
max_output_tokens = 4096
`
  const r = loadConfig(['--config', 'x.toml'], {}, () => toml)
  if (!r.ok) throw new Error(r.errors.join('\n'))
  gw = await buildTestGateway({ config: r.config, redisUrl: redis.url })
  key = await gw.addTenant({ id: 'ol', budgetUsdMicros: 10_000_000, policy: 'strict' })
  await gw.warm()
})

afterAll(async () => {
  await up.stop()
  await gw.ledger.close()
  await redis.stop()
})

test('the cap reaches a compatible server as max_tokens too', async () => {
  up.program({ kind: 'json', body: openaiCompletion({ text: 'ok', promptTokens: 5, completionTokens: 16 }) })
  const r = await gw.request('/v1/chat/completions', { key, body: { model: 'llama', messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 16 } })
  expect(r.status).toBe(200)
  expect(up.requests.at(-1)!.body).toMatchObject({ max_completion_tokens: 16, max_tokens: 16 })
})

test('a server that ignores the cap anyway is charged what it reports (charged ≥ billed)', async () => {
  const before = await gw.ledger.snapshot('ol', 'total')
  up.program({ kind: 'json', body: openaiCompletion({ text: 'long', promptTokens: 5, completionTokens: 16_000 }) })
  const r = await gw.request('/v1/chat/completions', { key, body: { model: 'llama', messages: [{ role: 'user', content: 'hi' }], max_tokens: 16 } })
  expect(r.status).toBe(200)
  const after = await gw.ledger.snapshot('ol', 'total')
  const billed = Math.ceil(5 * 1 + 16_000 * 10) // µUSD at $1/$10 per Mtok
  expect(after.spentMicros - before.spentMicros).toBe(billed)
  expect(gw.logs.some((l) => l.includes('actual cost above the strict reservation'))).toBe(true)
})
