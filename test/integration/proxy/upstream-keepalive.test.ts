/**
 * A stream that ends with its protocol's last event (`data: [DONE]`, `message_stop`) leaves the connection to the
 * provider open for the next call, also when the end of the HTTP body comes in a later TCP segment than that event.
 * The gateway used to cancel the body at the last event, which closed the connection whenever the body's end had
 * not arrived yet: every call after it then paid a new connection (with a real provider, a TLS handshake).
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { buildTestGateway, openaiAndAnthropicConfig, type TestGateway } from '../../helpers/app.ts'
import { type ChunkedUpstream, startChunkedUpstream } from '../../helpers/chunked-upstream.ts'
import { anthropicTextStream, openaiTextStream } from '../../helpers/fake-upstream.ts'

const END_DELAY_MS = 20
let up: ChunkedUpstream
let gw: TestGateway
let key: string

beforeAll(async () => {
  up = startChunkedUpstream({
    endDelayMs: END_DELAY_MS,
    reply: (path) => path.endsWith('/chat/completions')
      ? openaiTextStream({ parts: ['Hel', 'lo'] })
      : anthropicTextStream({ parts: ['Hel', 'lo'], pings: true }),
  })
  gw = await buildTestGateway({
    config: openaiAndAnthropicConfig(up.url),
  })
  key = await gw.addTenant({ id: 'ka', budgetUsdMicros: 1_000_000 })
  await gw.warm()
})

afterAll(() => up.stop())

const routes: Array<[name: string, path: string, body: Record<string, unknown>, end: string]> = [
  ['OpenAI chat stream', '/v1/chat/completions', { model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] }, 'data: [DONE]'],
  ['chat stream from Anthropic', '/v1/chat/completions', { model: 'claude-test', stream: true, messages: [{ role: 'user', content: 'hi' }] }, 'data: [DONE]'],
  ['Anthropic messages stream', '/v1/messages', { model: 'claude-test', stream: true, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }, 'event: message_stop'],
]

test.each(routes)('%s: five streams in a row over one upstream connection', async (_name, path, body, end) => {
  const connections = up.connections()
  const requests = up.requests()
  for (let i = 0; i < 5; i++) {
    const res = await gw.request(path, { key, body })
    expect(res.status).toBe(200)
    expect(await res.text()).toContain(end)
    // The client's stream ends at the last event; the body's end reaches the gateway END_DELAY_MS later, and fetch
    // must have its connection back before the next call.
    await Bun.sleep(END_DELAY_MS * 5)
  }
  expect(up.requests() - requests).toBe(5)
  expect(up.connections() - connections).toBeLessThanOrEqual(1)
})
