/** A quiet upstream (a model reasoning before it writes): keep-alive comments flow, and clients ignore them. */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { createParser } from 'eventsource-parser'
import OpenAI from 'openai'
import { mockAdapter } from '../../../src/providers/mock/adapter.ts'
import type { ChatChunk } from '../../../src/wire/openai.ts'
import { buildTestGateway, chat, type TestGateway } from '../../helpers/app.ts'

let gw: TestGateway
let server: ReturnType<typeof Bun.serve>
let key: string

beforeAll(async () => {
  // The mock's chunks, with 120 ms of silence before each one; heartbeats every 40 ms.
  const slow = {
    ...mockAdapter,
    stream: async (...args: Parameters<typeof mockAdapter.stream>) => {
      const inner = await mockAdapter.stream(...args)
      return (async function* () {
        for await (const c of inner) {
          await Bun.sleep(120)
          yield c as ChatChunk
        }
      })()
    },
  }
  gw = await buildTestGateway({ adapters: { mock: slow }, heartbeatMs: 40 })
  key = await gw.addTenant({ id: 'hb' })
  await gw.warm()
  server = Bun.serve({ port: 0, fetch: (r) => gw.app.handle(r) })
})

afterAll(() => {
  server.stop(true)
})

test('keep-alive comments arrive between chunks; a spec parser sees only the real events', async () => {
  const res = await gw.request('/v1/chat/completions', { key, body: chat('one two', { stream: true }) })
  const text = await res.text()
  expect(text.split(': keep-alive\n\n').length - 1).toBeGreaterThanOrEqual(3)
  const events: string[] = []
  const parser = createParser({ onEvent: (e) => events.push(e.data) })
  parser.feed(text)
  expect(events.at(-1)).toBe('[DONE]')
  expect(events.slice(0, -1).every((d) => JSON.parse(d).object === 'chat.completion.chunk')).toBe(true)
})

test('the official openai SDK streams through the heartbeats unchanged', async () => {
  const client = new OpenAI({ apiKey: key, baseURL: `http://127.0.0.1:${server.port}/v1`, maxRetries: 0 })
  const stream = await client.chat.completions.create({ model: 'mock-echo', messages: [{ role: 'user', content: 'one two' }], stream: true })
  let text = ''
  for await (const c of stream) text += c.choices[0]?.delta?.content ?? ''
  expect(text).toBe('Echo: one two')
})
