/** Every request ends inside its reservation's lifetime, even when the upstream stalls or the client stops reading. */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { loadConfig } from '../../../src/config/index.ts'
import { openaiTextStream, startFakeUpstream, type FakeUpstream } from '../../helpers/fake-upstream.ts'
import { buildTestGateway, type TestGateway } from '../../helpers/app.ts'

let up: FakeUpstream
let gw: TestGateway
let key: string

beforeAll(async () => {
  up = await startFakeUpstream()
  const toml = `[providers.up]\nkind = "openai"\nbase_url = "${up.url}/v1"\napi_key_env = "K"\ntimeout_ms = 400\n` +
    `[models."m"]\nprovider = "up"\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 2\nmax_output_tokens = 100\n`
  const r = loadConfig(['--config', 'x'], { K: 'sk-up' }, () => toml)
  if (!r.ok) throw new Error(r.errors.join())
  gw = await buildTestGateway({ config: r.config, maxRequestMs: 600 })
  key = await gw.addTenant({ id: 'dl', budgetUsdMicros: 1_000_000 })
  await gw.warm()
})

afterAll(async () => {
  await up.stop()
})

const body = (stream: boolean) => ({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream })

test('regression: a non-streamed reply whose body stalls after the headers ends in 504 and is charged, not held', async () => {
  // Headers, then half a JSON body, then nothing: upstreamFetch's header timeout no longer applies.
  up.program({ kind: 'sse', chunks: ['{"id":"x","object":"chat.completion","choices":['], after: 'hang', headers: { 'content-type': 'application/json' } })
  const t0 = performance.now()
  const r = await gw.request('/v1/chat/completions', { key, body: body(false) })
  expect(r.status).toBe(504)
  expect(performance.now() - t0).toBeLessThan(3_000)
  const snap = await gw.ledger.snapshot('dl', 'total')
  expect(snap.reservedMicros).toBe(0)
  expect(snap.spentMicros).toBeGreaterThan(0)
})

test('regression: a stream that never stops is ended at the request deadline, even while the client is not reading', async () => {
  const before = (await gw.ledger.snapshot('dl', 'total')).spentMicros
  const events = openaiTextStream({ parts: Array.from({ length: 400 }, (_, i) => `w${i} `) }).split('\n\n').filter(Boolean).map((e) => `${e}\n\n`)
  up.program({ kind: 'sse', chunks: events, chunkDelayMs: 5 })
  const r = await gw.request('/v1/chat/completions', { key, body: body(true) })
  await Bun.sleep(1_000) // read nothing until well past the 600 ms deadline
  const snap = await gw.ledger.snapshot('dl', 'total')
  expect(snap.reservedMicros).toBe(0) // settled at the deadline, without the client's help
  expect(snap.spentMicros).toBeGreaterThan(before)
  const text = await r.text()
  expect(text).toContain('"code":"upstream_timeout"')
  expect(text).not.toContain('[DONE]')
})
