/**
 * The core flows against the gateway run as a real process from source (`gateway demo`, embedded store, mock
 * provider): the key is taken from the curl line the demo prints, then the official SDK talks to it.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI, { APIError } from 'openai'
import { type GatewayProcess, spawnGateway } from '../../helpers/gateway-process.ts'
import { auditSse } from './harness.ts'

let gw: GatewayProcess
let dataDir: string
let key: string

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'gw-proxy-demo-'))
  gw = await spawnGateway(['demo'], { env: { GATEWAY_DATA_DIR: dataDir } })
  const out = await gw.waitForOutput(/Bearer gw_[^']+'/, 30_000)
  key = /Bearer (gw_[^']+)'/.exec(out)![1]!
  await gw.waitReady(30_000)
}, 60_000)

afterAll(async () => {
  await gw?.stop()
  rmSync(dataDir, { recursive: true, force: true })
})

const messages = [{ role: 'user' as const, content: 'hello gateway' }]

test('the printed curl line targets this gateway and carries a working key', () => {
  expect(gw.output()).toContain(`curl -s ${gw.url}/v1/chat/completions`)
  expect(key).toMatch(/^gw_[A-Za-z0-9_-]+$/)
})

test('non-stream completion via the openai SDK', async () => {
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0 })
  const r = await client.chat.completions.create({ model: 'mock-echo', messages })
  expect(r.choices[0]!.message.content).toBe('Echo: hello gateway')
  expect(r.usage?.total_tokens).toBeGreaterThan(0)
})

test('stream via the openai SDK, with usage', async () => {
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0 })
  const stream = await client.chat.completions.create({ model: 'mock-echo', messages, stream: true, stream_options: { include_usage: true } })
  let text = ''
  let usage: OpenAI.CompletionUsage | null | undefined
  for await (const c of stream) {
    text += c.choices[0]?.delta.content ?? ''
    if (c.usage) usage = c.usage
  }
  expect(text).toBe('Echo: hello gateway')
  expect(usage?.completion_tokens).toBe(3)
})

test('the raw stream from the process is well-formed SSE ending in [DONE]', async () => {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mock-echo', messages: [{ role: 'user', content: 'line\r\nbreaks\nand "quotes"' }], stream: true }),
  })
  expect(res.status).toBe(200)
  expect(res.headers.get('x-request-id')).toBeString()
  const audit = auditSse(await res.text())
  expect(audit.problems).toEqual([])
  expect(audit.outcome).toBe('done')
})

test('401 with a wrong key: AuthenticationError, no retry needed', async () => {
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'gw_wrong_key_for_demo', maxRetries: 0 })
  let err: unknown
  try {
    await client.chat.completions.create({ model: 'mock-echo', messages })
  } catch (e) {
    err = e
  }
  expect(err).toBeInstanceOf(OpenAI.AuthenticationError)
  expect((err as APIError).code).toBe('invalid_api_key')
})
