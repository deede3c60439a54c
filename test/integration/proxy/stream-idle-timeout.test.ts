/** An upstream that goes silent mid-stream: the client gets one upstream_timeout error event, the upstream is aborted, consumption is settled. */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { loadConfig } from '../../../src/config/index.ts'
import { openaiTextStream, startFakeUpstream, type FakeUpstream } from '../../helpers/fake-upstream.ts'
import { buildTestGateway, type TestGateway } from '../../helpers/app.ts'

let up: FakeUpstream
let gw: TestGateway
let key: string

beforeAll(async () => {
  up = await startFakeUpstream()
  const toml = `[providers.up]\nkind = "openai"\nbase_url = "${up.url}/v1"\napi_key_env = "K"\nidle_timeout_ms = 200\n` +
    `[models."m"]\nprovider = "up"\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 2\nmax_output_tokens = 100\n`
  const r = loadConfig(['--config', 'x'], { K: 'sk-up' }, () => toml)
  if (!r.ok) throw new Error(r.errors.join())
  expect(r.config.providers.up!.idleTimeoutMs).toBe(200)
  gw = await buildTestGateway({ config: r.config })
  key = await gw.addTenant({ id: 'idle', budgetUsdMicros: 1_000_000 })
  await gw.warm()
})

afterAll(async () => {
  await up.stop()
})

test('silence after the first chunks ends the stream with upstream_timeout and settles what was seen', async () => {
  const head = openaiTextStream({ parts: ['one', ' two', ' three'] }).split('\n\n').slice(0, 2).map((e) => `${e}\n\n`)
  up.program({ kind: 'sse', chunks: head, after: 'hang' })
  const index = up.requests.length
  const t0 = performance.now()
  const res = await gw.request('/v1/chat/completions', { key, body: { model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true } })
  const text = await res.text()
  const elapsed = performance.now() - t0
  const events = text.split('\n\n').filter(Boolean).map((e) => e.slice('data: '.length))
  expect(events.at(-1)).toContain('"code":"upstream_timeout"')
  expect(events).not.toContain('[DONE]')
  expect(JSON.parse(events[1]!).choices[0].delta.content).toBe('one')
  expect(elapsed).toBeLessThan(5_000) // bounded by the idle timeout, not by the upstream
  await up.waitForAbort(index, 2_000)
  const snap = await gw.ledger.snapshot('idle', 'total')
  expect(snap.reservedMicros).toBe(0)
  expect(snap.spentMicros).toBeGreaterThan(0) // tokens were seen: settled, not released
})

test('a stream that keeps flowing is not cut, however long it lasts in total', async () => {
  up.program({ kind: 'sse', chunks: openaiTextStream({ parts: ['a', 'b', 'c', 'd', 'e', 'f'] }).split('\n\n').filter(Boolean).map((e) => `${e}\n\n`), chunkDelayMs: 100 })
  const res = await gw.request('/v1/chat/completions', { key, body: { model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true } })
  const text = await res.text()
  expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true)
})

test('a client that stops reading for longer than the idle timeout is not cut: only a waiting read is timed', async () => {
  up.program({ kind: 'sse', chunks: openaiTextStream({ parts: ['a', 'b', 'c'] }).split('\n\n').filter(Boolean).map((e) => `${e}\n\n`), chunkDelayMs: 20 })
  const res = await gw.request('/v1/chat/completions', { key, body: { model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true } })
  await Bun.sleep(600) // three idle periods without reading a byte
  const text = await res.text()
  expect(text).not.toContain('upstream_timeout')
  expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true)
})
