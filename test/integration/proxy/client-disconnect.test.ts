/**
 * A client that goes away mid-stream: the gateway aborts its upstream request at once and settles what was
 * consumed (never releases it), over real HTTP with each upstream wire format.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { anthropicTextStream, openaiTextStream } from '../../helpers/fake-upstream.ts'
import { type Kind, MODELS, type ProxyEnv, startProxyEnv } from './harness.ts'

let env: ProxyEnv

beforeAll(async () => {
  // No tap: the gateway's own Response goes to the socket, so cancel timing is the gateway's alone.
  env = await startProxyEnv({ audit: false, tenant: { budgetUsdMicros: 50_000_000 } })
})

afterAll(async () => {
  await env.stop()
})

/** The first `n` events of a stream that then hangs (no usage, no end), as separate writes. */
function headOf(kind: Exclude<Kind, 'mock'>, n: number): string[] {
  const text = kind === 'openai'
    ? openaiTextStream({ model: MODELS.openai.upstream, parts: ['one', ' two', ' three', ' four', ' five'] })
    : anthropicTextStream({ model: MODELS.anthropic.upstream, parts: ['one', ' two', ' three', ' four', ' five'], inputTokens: 12 })
  return text.split('\n\n').filter((e) => e !== '').slice(0, n).map((e) => `${e}\n\n`)
}

async function waitFor<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 2000): Promise<T> {
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

describe.each([['openai' as const, 4], ['anthropic' as const, 5]])('client disconnect mid-stream (%s upstream)', (kind, events) => {
  test('upstream request aborted promptly; reservation settled, not released', async () => {
    const tenant = 't1'
    const before = await env.gw.ledger.snapshot(tenant, 'total')
    expect(before.reservedMicros).toBe(0)

    const index = env.up.requests.length
    env.up.program({ kind: 'sse', chunks: headOf(kind, events), after: 'hang' })
    const client = new AbortController()
    const res = await fetch(`${env.http.url}/v1/chat/completions`, {
      method: 'POST',
      signal: client.signal,
      headers: { authorization: `Bearer ${env.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODELS[kind].client, messages: [{ role: 'user', content: 'count to five' }], stream: true, max_tokens: 200 }),
    })
    expect(res.status).toBe(200)
    const seen = await readUntil(res.body!, ' two')
    expect(seen).toContain('"role":"assistant"')

    // Mid-stream: the worst case is held.
    const during = await env.gw.ledger.snapshot(tenant, 'total')
    expect(during.reservedMicros).toBeGreaterThan(0)

    const abortedAt = performance.now()
    client.abort()
    const upstreamSawAbortAt = await env.up.waitForAbort(index, 1000)
    expect(upstreamSawAbortAt - abortedAt).toBeLessThan(500)

    const after = await waitFor('reservation settled', () => env.gw.ledger.snapshot(tenant, 'total'), (s) => s.reservedMicros === 0)
    expect(after.reservedMicros).toBe(0)
    // Settled, not released: something was charged for what the upstream already produced.
    expect(after.spentMicros).toBeGreaterThan(before.spentMicros)
    // …and never more than the worst case that was reserved for this request.
    expect(after.spentMicros - before.spentMicros).toBeLessThanOrEqual(during.reservedMicros)
  })
})

test('client disconnect while waiting for upstream headers: upstream aborted, reservation not leaked', async () => {
  const before = await env.gw.ledger.snapshot('t1', 'total')
  const index = env.up.requests.length
  env.up.program({ kind: 'hang' })
  const client = new AbortController()
  const pending = fetch(`${env.http.url}/v1/chat/completions`, {
    method: 'POST',
    signal: client.signal,
    headers: { authorization: `Bearer ${env.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODELS.openai.client, messages: [{ role: 'user', content: 'x' }], stream: true }),
  }).catch((e: unknown) => e)
  await waitFor('upstream request received', async () => env.up.requests.length, (n) => n > index)
  client.abort()
  expect(await pending).toBeInstanceOf(Error)
  await env.up.waitForAbort(index, 1000)
  const after = await waitFor('reservation dropped', () => env.gw.ledger.snapshot('t1', 'total'), (s) => s.reservedMicros === 0)
  expect(after.reservedMicros).toBe(0)
  // Nothing was generated: spending nothing (release) or the estimate are both acceptable; never a leak.
  expect(after.spentMicros).toBeGreaterThanOrEqual(before.spentMicros)
})

test('client disconnect during a non-stream request: upstream aborted, worst case settled (never released)', async () => {
  const before = await env.gw.ledger.snapshot('t1', 'total')
  const index = env.up.requests.length
  env.up.program({ kind: 'hang' })
  const client = new AbortController()
  const pending = fetch(`${env.http.url}/v1/chat/completions`, {
    method: 'POST',
    signal: client.signal,
    headers: { authorization: `Bearer ${env.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODELS.openai.client, messages: [{ role: 'user', content: 'x' }], max_tokens: 100 }),
  }).catch((e: unknown) => e)
  await waitFor('upstream request received', async () => env.up.requests.length, (n) => n > index)
  const during = await env.gw.ledger.snapshot('t1', 'total')
  expect(during.reservedMicros).toBeGreaterThan(0)
  const abortedAt = performance.now()
  client.abort()
  expect(await pending).toBeInstanceOf(Error)
  expect((await env.up.waitForAbort(index, 1000)) - abortedAt).toBeLessThan(500)
  const after = await waitFor('reservation settled', () => env.gw.ledger.snapshot('t1', 'total'), (s) => s.reservedMicros === 0)
  // The upstream may have generated up to max_tokens: the whole reservation is charged.
  expect(after.spentMicros - before.spentMicros).toBe(during.reservedMicros)
})
