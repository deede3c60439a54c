/**
 * /v1/messages under the same race as chat completions: 400 concurrent requests (half streamed, in
 * Anthropic's protocol) against one strict tenant on a real Redis ledger. Exactly K admitted, the rest a 402
 * billing_error with x-should-retry: false; spent == Σ actual costs ≤ limit; reserved == 0; one usage row per
 * admitted request. The model is served through the chat adapter (translated path), so the shared admission
 * and settlement are what is under test.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { count, EXACT_COST, expectedCost, type HttpGateway, startHttpGateway, startStores, type Stores, uid } from './harness.ts'

const N = 400
let stores: Stores
let g: HttpGateway

beforeAll(async () => {
  stores = await startStores()
  g = await startHttpGateway('redis', stores.store, stores.redis.url)
})

afterAll(async () => {
  await g?.close()
  await stores?.stop()
})

interface MessagesOutcome { status: number; usage: { input_tokens: number; output_tokens: number } | null; errorType: string | null; shouldRetry: string | null }

async function send(key: string, i: number): Promise<MessagesOutcome> {
  const stream = i % 2 === 0
  const res = await fetch(`${g.url}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'exact', max_tokens: 3, stream, messages: [{ role: 'user', content: `req ${i} ${'x'.repeat(i % 7)}` }] }),
  })
  const out: MessagesOutcome = { status: res.status, usage: null, errorType: null, shouldRetry: res.headers.get('x-should-retry') }
  if (res.status !== 200) {
    out.errorType = ((await res.json()) as { error: { type: string } }).error.type
  } else if (!stream) {
    out.usage = ((await res.json()) as { usage: MessagesOutcome['usage'] }).usage
  } else {
    // The final message_delta carries the cumulative usage (input_tokens too when message_start could not).
    let input = 0
    let output = 0
    for (const line of (await res.text()).split('\n')) {
      if (!line.startsWith('data: ')) continue
      const ev = JSON.parse(line.slice(6)) as { type: string; message?: { usage: { input_tokens: number } }; usage?: { input_tokens?: number; output_tokens: number } }
      if (ev.type === 'message_start') input = ev.message!.usage.input_tokens
      if (ev.type === 'message_delta') {
        output = ev.usage!.output_tokens
        input = ev.usage!.input_tokens ?? input
      }
    }
    out.usage = { input_tokens: input, output_tokens: output }
  }
  return out
}

test(`strict on /v1/messages: ${N} concurrent requests, the limit admits exactly K, never over`, async () => {
  const K = 97
  const limit = K * EXACT_COST + EXACT_COST - 1
  const t = uid('messages-strict')
  const key = await g.addTenant({ id: t, budgetUsdMicros: limit, policy: 'strict' })
  const out = await Promise.all(Array.from({ length: N }, (_, i) => send(key, i)))
  expect(count(out, (o) => o.status === 200)).toBe(K)
  for (const o of out.filter((x) => x.status !== 200)) {
    expect(o.status).toBe(402)
    expect(o.errorType).toBe('billing_error')
    expect(o.shouldRetry).toBe('false')
  }
  let expected = 0
  for (const o of out.filter((x) => x.status === 200)) expected += expectedCost('exact', { prompt_tokens: o.usage!.input_tokens, completion_tokens: o.usage!.output_tokens })
  expect(expected).toBe(K * EXACT_COST)
  const snap = await g.ledger.snapshot(t, 'total')
  console.log(`[messages strict] limit=${limit} admitted=${K} spent=${snap.spentMicros} reserved=${snap.reservedMicros} overrun=${Math.max(0, snap.spentMicros - limit)}`)
  expect(snap.spentMicros).toBe(expected)
  expect(snap.spentMicros).toBeLessThanOrEqual(limit)
  expect(snap.reservedMicros).toBe(0)
  await g.ship([t])
  const rows = await stores.rows.of(t)
  expect(rows.length).toBe(K)
  expect(rows.reduce((n, r) => n + r.cost, 0)).toBe(expected)
}, 60_000)
