/**
 * A burst of upstream events that arrives in one read goes to the client as one write (not one per event), in
 * order and unchanged; an error event inside such a burst still comes after the events before it.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { loadConfig } from '../../../src/config/index.ts'
import { openaiTextStream, startFakeUpstream, type FakeUpstream } from '../../helpers/fake-upstream.ts'
import { buildTestGateway, type TestGateway } from '../../helpers/app.ts'

let up: FakeUpstream
let gw: TestGateway
let key: string

beforeAll(async () => {
  up = await startFakeUpstream()
  const toml = `[providers.up]\nkind = "openai"\nbase_url = "${up.url}/v1"\napi_key_env = "K"\n` +
    `[models."m"]\nprovider = "up"\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 2\nmax_output_tokens = 100\n`
  const r = loadConfig(['--config', 'x'], { K: 'sk-up' }, () => toml)
  if (!r.ok) throw new Error(r.errors.join())
  gw = await buildTestGateway({ config: r.config })
  key = await gw.addTenant({ id: 'burst', budgetUsdMicros: 1_000_000 })
  await gw.warm()
})

afterAll(async () => {
  await up.stop()
})

/** The response body as the reads a client makes of it. */
async function reads(res: Response): Promise<string[]> {
  const out: string[] = []
  const dec = new TextDecoder()
  const reader = res.body!.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return out
    out.push(dec.decode(value))
  }
}

const PARTS = Array.from({ length: 30 }, (_, i) => `w${i} `)

test('30 events in one upstream write reach the client in far fewer writes, complete and in order', async () => {
  up.program({ kind: 'sse', chunks: [openaiTextStream({ parts: PARTS })] })
  const res = await gw.request('/v1/chat/completions', { key, body: { model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true } })
  const got = await reads(res)
  const events = got.join('').split('\n\n').filter(Boolean)
  const text = events.filter((e) => e !== 'data: [DONE]').map((e) => JSON.parse(e.slice(6)).choices[0]?.delta?.content ?? '').join('')
  expect(text).toBe(PARTS.join(''))
  expect(events.at(-1)).toBe('data: [DONE]')
  // One write per upstream read (+ the [DONE] end), rather than one per event (33 here).
  expect(got.length).toBeLessThanOrEqual(5)
})

test('an error event inside a burst: the events before it, then one error event, no [DONE]', async () => {
  const head = openaiTextStream({ parts: ['one', ' two'] }).split('\n\n').slice(0, 3).map((e) => `${e}\n\n`).join('')
  up.program({ kind: 'sse', chunks: [`${head}data: {"error":{"message":"overloaded","type":"server_error"}}\n\n`] })
  const res = await gw.request('/v1/chat/completions', { key, body: { model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true } })
  const events = (await res.text()).split('\n\n').filter(Boolean)
  const contents = events.slice(0, -1).map((e) => JSON.parse(e.slice(6)).choices[0]?.delta?.content ?? '')
  expect(contents.join('')).toBe('one two')
  expect(events.at(-1)).toContain('"code":"upstream_error"')
  expect(events.at(-1)).toContain('overloaded')
  expect(events).not.toContain('data: [DONE]')
})

test('an item of a batch that cannot be written: the items before it still reach the client, then one error event', async () => {
  const { buildTestGateway: build, chat } = await import('../../helpers/app.ts')
  const { mockAdapter } = await import('../../../src/providers/mock/adapter.ts')
  const { flattenBatches } = await import('../../../src/providers/batches.ts')
  const chunk = (content: string, extra: Record<string, unknown> = {}) => ({
    id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'mock-echo',
    choices: [{ index: 0, delta: { content }, finish_reason: null }], ...extra,
  })
  async function* batches() {
    // One upstream read: two good chunks, then one no serializer can write (a BigInt never comes out of JSON.parse,
    // so only a broken adapter could produce it).
    yield [chunk('one'), chunk(' two'), chunk(' three', { weird: 1n })]
  }
  const gw2 = await build({ adapters: { mock: { ...mockAdapter, stream: async () => flattenBatches(batches()) as never } } })
  const key2 = await gw2.addTenant({ id: 'broken-batch', budgetUsdMicros: 1_000_000 })
  await gw2.warm()
  const res = await gw2.request('/v1/chat/completions', { key: key2, body: chat('hi', { stream: true }) })
  const events = (await res.text()).split('\n\n').filter(Boolean)
  expect(events.slice(0, 2).map((e) => JSON.parse(e.slice(6)).choices[0].delta.content)).toEqual(['one', ' two'])
  expect(events.at(-1)).toContain('"error"')
  expect(events.length).toBe(3)
})
