/**
 * A client that goes away: the gateway reads the upstream reply to its end (within the reservation and the
 * request deadline) and charges exactly what the provider's usage report says, so a model that spent tokens
 * the client never saw (reasoning, text still in flight) is never charged less than the provider bills.
 * Over real HTTP with each upstream wire format, streamed and not, on the Redis ledger.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { costMicros } from '../../../src/budget/money.ts'
import { anthropicTextStream, openaiCompletion, openaiTextStream } from '../../helpers/fake-upstream.ts'
import { type Kind, MODELS, type ProxyEnv, startProxyEnv } from './harness.ts'

let env: ProxyEnv

beforeAll(async () => {
  // No tap: the gateway's own Response goes to the socket, so cancel timing is the gateway's alone.
  env = await startProxyEnv({ audit: false, tenant: { budgetUsdMicros: 50_000_000 }, redis: true })
})

afterAll(async () => {
  await env.stop()
})

/** The model prices of harness.ts: what the fake provider bills for its usage report. */
const PRICES = { openai: { inputUsdPerMtok: 1, outputUsdPerMtok: 2 }, anthropic: { inputUsdPerMtok: 3, outputUsdPerMtok: 15 } }
const billed = (kind: Exclude<Kind, 'mock'>, prompt: number, completion: number) =>
  costMicros({ prompt_tokens: prompt, completion_tokens: completion }, PRICES[kind])

async function waitFor<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 3000): Promise<T> {
  const deadline = performance.now() + timeoutMs
  let v = await read()
  while (!ok(v)) {
    if (performance.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)} after ${timeoutMs} ms`)
    await Bun.sleep(5)
    v = await read()
  }
  return v
}

/** Reads from the body until the decoded text contains `needle`. */
async function readUntil(body: ReadableStream<Uint8Array>, needle: string): Promise<string> {
  const reader = body.getReader()
  const dec = new TextDecoder()
  let seen = ''
  while (!seen.includes(needle)) {
    const { done, value } = await reader.read()
    if (done) throw new Error(`stream ended before ${needle}: ${seen}`)
    seen += dec.decode(value, { stream: true })
  }
  return seen
}

function post(body: Record<string, unknown>, signal: AbortSignal) {
  return fetch(`${env.http.url}/v1/chat/completions`, {
    method: 'POST', signal,
    headers: { authorization: `Bearer ${env.key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
}

/** A stream whose usage reports far more output than it shows: a reasoning model, or text still in flight. */
function reasoningStream(kind: Exclude<Kind, 'mock'>, prompt: number, completion: number): string[] {
  const parts = ['one', ' two', ' three', ' four', ' five']
  const text = kind === 'openai'
    ? openaiTextStream({ model: MODELS.openai.upstream, parts, promptTokens: prompt, completionTokens: completion })
    : anthropicTextStream({ model: MODELS.anthropic.upstream, parts, inputTokens: prompt, outputTokens: completion })
  return text.split('\n\n').filter((e) => e !== '').map((e) => `${e}\n\n`)
}

describe.each(['openai' as const, 'anthropic' as const])('client disconnect (%s upstream)', (kind) => {
  test('mid-stream: the upstream is read to its end and the reported usage is charged exactly', async () => {
    const before = await env.gw.ledger.snapshot('t1', 'total')
    const index = env.up.requests.length
    env.up.program({ kind: 'sse', chunks: reasoningStream(kind, 40, 700), chunkDelayMs: 20 })
    const client = new AbortController()
    const res = await post({ model: MODELS[kind].client, messages: [{ role: 'user', content: 'count to five' }], stream: true, max_tokens: 1000 }, client.signal)
    expect(res.status).toBe(200)
    expect(await readUntil(res.body!, ' two')).toContain('"role":"assistant"')
    const during = await env.gw.ledger.snapshot('t1', 'total')
    expect(during.reservedMicros).toBeGreaterThan(0)
    client.abort()

    const after = await waitFor('reservation settled', () => env.gw.ledger.snapshot('t1', 'total'), (s) => s.reservedMicros === 0)
    // The provider finished the reply (nobody aborted it) and billed its usage: that is what was charged.
    expect(env.up.requests[index]!.abortedAt).toBeNull()
    expect(after.spentMicros - before.spentMicros).toBe(billed(kind, 40, 700))
    expect(after.spentMicros - before.spentMicros).toBeLessThanOrEqual(during.reservedMicros)
  })

  test('before any visible text (a model still thinking): charged the reasoning the provider bills', async () => {
    const before = await env.gw.ledger.snapshot('t1', 'total')
    const events = reasoningStream(kind, 25, 900)
    // The first event arrives, then the model "thinks" for a while before the rest.
    env.up.program({ kind: 'sse', chunks: [events[0]!, ...events.slice(1)], chunkDelayMs: 60 })
    const client = new AbortController()
    const res = await post({ model: MODELS[kind].client, messages: [{ role: 'user', content: 'think hard' }], stream: true, max_tokens: 1000 }, client.signal)
    expect(res.status).toBe(200)
    await readUntil(res.body!, '"role":"assistant"')
    client.abort()
    const after = await waitFor('reservation settled', () => env.gw.ledger.snapshot('t1', 'total'), (s) => s.reservedMicros === 0)
    expect(after.spentMicros - before.spentMicros).toBe(billed(kind, 25, 900))
  })
})

test('client gone while waiting for stream headers: the reply is still read and its usage charged', async () => {
  const before = await env.gw.ledger.snapshot('t1', 'total')
  const index = env.up.requests.length
  env.up.program({ kind: 'sse', chunks: reasoningStream('openai', 30, 400), delayMs: 300 })
  const client = new AbortController()
  const pending = post({ model: MODELS.openai.client, messages: [{ role: 'user', content: 'x' }], stream: true }, client.signal).catch((e: unknown) => e)
  await waitFor('upstream request received', async () => env.up.requests.length, (n) => n > index)
  client.abort()
  expect(await pending).toBeInstanceOf(Error)
  const after = await waitFor('reservation settled', () => env.gw.ledger.snapshot('t1', 'total'), (s) => s.reservedMicros === 0 && s.spentMicros > before.spentMicros)
  expect(after.spentMicros - before.spentMicros).toBe(billed('openai', 30, 400))
})

test('client gone during a non-stream request: the reply is read and its usage charged exactly', async () => {
  const before = await env.gw.ledger.snapshot('t1', 'total')
  const index = env.up.requests.length
  env.up.program({ kind: 'json', body: openaiCompletion({ model: MODELS.openai.upstream, text: 'done', promptTokens: 12, completionTokens: 650 }), delayMs: 300 })
  const client = new AbortController()
  const pending = post({ model: MODELS.openai.client, messages: [{ role: 'user', content: 'x' }], max_tokens: 1000 }, client.signal).catch((e: unknown) => e)
  await waitFor('upstream request received', async () => env.up.requests.length, (n) => n > index)
  const during = await env.gw.ledger.snapshot('t1', 'total')
  expect(during.reservedMicros).toBeGreaterThan(0)
  client.abort()
  expect(await pending).toBeInstanceOf(Error)
  const after = await waitFor('reservation settled', () => env.gw.ledger.snapshot('t1', 'total'), (s) => s.reservedMicros === 0 && s.spentMicros > before.spentMicros)
  expect(env.up.requests[index]!.abortedAt).toBeNull()
  expect(after.spentMicros - before.spentMicros).toBe(billed('openai', 12, 650))
})
