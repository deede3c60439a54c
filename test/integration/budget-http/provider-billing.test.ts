/**
 * Issue 9, items 1, 3, 4, 5: through the HTTP app with a real Redis ledger and Postgres usage_records, against an
 * upstream that bills what the real provider bills for the body it received (test/helpers/billing-upstream.ts):
 * images by their family formula, service tiers, per-call web search fees, cached and cache-written input.
 * Every scenario checks charged (the ledger's spent) = billed (so ≥ billed, and no overcharge), and under
 * `strict` with concurrent requests that neither the charge nor the provider's bill passes the limit.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { periodKeyStartMs } from '../../../src/budget/money.ts'
import { createRedisLedger, type RedisLedger } from '../../../src/budget/redis-ledger.ts'
import { createUsageShipper, type UsageShipper } from '../../../src/budget/usage-shipper.ts'
import { buildTestGateway, testConfig, type TestGateway } from '../../helpers/app.ts'
import { type BillingUpstream, startBillingUpstream } from '../../helpers/billing-upstream.ts'
import { chat, count, eventually, type Outcome, startStores, type Stores, uid } from './harness.ts'

const PNG_2048x768 = `data:image/png;base64,${readFileSync(join(import.meta.dir, '../../fixtures/images/2048x768.png')).toString('base64')}`

// The built-in catalog's models, routed to the billing upstream; Claude web search results are bounded at the
// 2,000 tokens per search the fake adds.
const TOML = `
[models."claude-haiku-4-5"]
web_search_input_tokens_per_call = 2000
`

let stores: Stores
let up: BillingUpstream
let ledger: RedisLedger
let gw: TestGateway
let server: ReturnType<typeof Bun.serve>
let shipper: UsageShipper
let url: string

beforeAll(async () => {
  stores = await startStores()
  up = await startBillingUpstream()
  const store = stores.store
  ledger = await createRedisLedger({ url: stores.redis.url, rebuild: (t, pk, ex) => store.sumUsageSince(t, periodKeyStartMs(pk), ex) })
  const config = testConfig(TOML, [], {
    OPENAI_API_KEY: 'sk-test-openai', ANTHROPIC_API_KEY: 'sk-ant-test', OPENAI_BASE_URL: `${up.url}/v1`, ANTHROPIC_BASE_URL: up.url,
  })
  gw = await buildTestGateway({ ledger, store, config })
  server = Bun.serve({ port: 0, hostname: '127.0.0.1', idleTimeout: 30, fetch: (r) => gw.app.handle(r) })
  url = `http://127.0.0.1:${server.port}`
  shipper = createUsageShipper({ client: ledger.client, store, discover: false })
})

afterAll(async () => {
  await shipper?.stop()
  server?.stop(true)
  await ledger?.close()
  await up?.stop()
  await stores?.stop()
})

interface Run { out: Outcome[]; ok: number; spent: number; billed: number; limit: number | null }

/** A fresh tenant sends `bodies` all at once; returns what the gateway charged and what the provider billed. */
async function run(policy: 'strict' | 'fixed', limit: number | null, bodies: Record<string, unknown>[], sequential = false): Promise<Run> {
  const tenant = uid(`bill-${policy}`)
  const key = await gw.addTenant({ id: tenant, budgetUsdMicros: limit, policy })
  await gw.warm()
  const first = up.bills.length
  const out: Outcome[] = []
  if (sequential) for (const b of bodies) out.push(await chat(url, key, b))
  else out.push(...(await Promise.all(bodies.map((b) => chat(url, key, b)))))
  const snap = await eventually('settled', () => ledger.snapshot(tenant, 'total'), (s) => s.reservedMicros === 0)
  const billed = up.bills.slice(first).reduce((n, b) => n + b.micros, 0)
  const ok = count(out, (o) => o.status === 200)
  // Nothing lost: one usage_records row per admitted request, summing to the ledger's spent.
  await shipper.addTenant(tenant)
  await shipper.flush()
  const rows = await stores.rows.of(tenant)
  expect(rows.length).toBe(ok)
  expect(rows.reduce((n, r) => n + r.cost, 0)).toBe(snap.spentMicros)
  expect(up.bills.length - first).toBe(ok) // every upstream call was admitted and answered
  for (const o of out) if (o.status !== 200) expect(o.status).toBe(402)
  return { out, ok, spent: snap.spentMicros, billed, limit }
}

function report(name: string, r: Run): void {
  console.log(`[${name}] limit=${r.limit} admitted=${r.ok}/${r.out.length} billed=${r.billed} charged=${r.spent}` +
    (r.limit ? ` billed/limit=${(r.billed / r.limit).toFixed(2)}` : ''))
}

/** charged = billed (≥ billed, and never above it), and under strict both stay within the limit. */
function expectExact(r: Run): void {
  expect(r.spent).toBe(r.billed)
  if (r.limit !== null) {
    expect(r.billed).toBeLessThanOrEqual(r.limit)
    expect(r.spent).toBeLessThanOrEqual(r.limit)
  }
}

const msg = (content: unknown) => [{ role: 'user', content }]
const imageBody = (model: string, url: string, stream: boolean, extra: Record<string, unknown> = {}) => ({
  model, max_tokens: 16, stream, ...(stream ? { stream_options: { include_usage: true } } : {}),
  messages: msg([{ type: 'text', text: 'What is in this image?' }, { type: 'image_url', image_url: { url, detail: 'high' } }]), ...extra,
})

describe('images (item 1)', () => {
  test('regression: one 2048×768 high-detail image on gpt-4o-mini cannot spend past a strict budget (was 4.3×)', async () => {
    // The old flat 3,000-token image allowance reserved ~$0.0005 for what gpt-4o-mini bills ~$0.0072.
    const r = await run('strict', 1_700, [imageBody('gpt-4o-mini', PNG_2048x768, false)])
    report('image 1 request', r)
    expect(r.ok).toBe(0)
    expectExact(r)
  })

  test('regression: 12 concurrent image requests on gpt-4o-mini stay within a strict limit, charged = billed', async () => {
    const bodies = Array.from({ length: 12 }, (_, i) => imageBody('gpt-4o-mini', PNG_2048x768, i % 2 === 0))
    const r = await run('strict', 20_000, bodies)
    report('image burst gpt-4o-mini', r)
    expect(r.ok).toBeGreaterThan(0)
    expectExact(r)
  })

  test('images of unknown size (URLs) on tile, patch and Claude models: reserved at the worst case, charged = billed', async () => {
    const bodies = [
      imageBody('gpt-4o', 'https://img.test/4000x1000.png', false),
      imageBody('gpt-4.1-mini', 'https://img.test/1800x2400.png', true),
      imageBody('claude-haiku-4-5', 'https://img.test/3000x2000.png', false),
      imageBody('claude-haiku-4-5', PNG_2048x768, true),
      ...Array.from({ length: 8 }, () => imageBody('gpt-4o-mini', 'https://img.test/2048x768.png', false)),
    ]
    const r = await run('strict', 40_000, bodies)
    report('image mix', r)
    expectExact(r)
  })

  test('up to 500 images: the bound sums them all', async () => {
    const content = [{ type: 'text', text: 'Compare these.' }, ...Array.from({ length: 500 }, (_, i) => ({ type: 'image_url', image_url: { url: `https://img.test/${i}/1024x1024.png` } }))]
    const r = await run('strict', 2_000_000, Array.from({ length: 4 }, () => ({ model: 'gpt-4o', max_tokens: 16, messages: msg(content) })))
    report('500 images × 4', r)
    expectExact(r)
  })
})

describe('service tiers (item 3)', () => {
  test('regression: gpt-4o priority is reserved and charged at the priority rates ($4.25 / $17), concurrent, strict', async () => {
    const bodies = Array.from({ length: 16 }, (_, i) => ({
      model: 'gpt-4o', service_tier: 'priority', max_tokens: 1000, stream: i % 2 === 0, messages: msg(`question ${i}`),
      ...(i % 2 === 0 ? { stream_options: { include_usage: true } } : {}),
    }))
    const r = await run('strict', 100_000, bodies)
    report('gpt-4o priority', r)
    expect(r.ok).toBeGreaterThan(0)
    expectExact(r)
  })

  test('a tier the config has no price for is refused with a 400 naming it, before any upstream call', async () => {
    const tenant = uid('tier')
    const key = await gw.addTenant({ id: tenant, budgetUsdMicros: 1_000_000, policy: 'fixed' })
    await gw.warm()
    const before = up.bills.length
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', service_tier: 'flex', messages: msg('hi') }),
    })
    expect(res.status).toBe(400)
    const err = ((await res.json()) as { error: { message: string; param: string } }).error
    expect(err.param).toBe('service_tier')
    expect(err.message).toContain('"flex"')
    expect(up.bills.length).toBe(before)
  })
})

describe('per-call web search fees (item 4)', () => {
  test('regression: search-preview models are charged their $0.025 search, strict and concurrent', async () => {
    const bodies = Array.from({ length: 10 }, (_, i) => ({
      model: 'gpt-4o-mini-search-preview', max_tokens: 100, web_search_options: {}, messages: msg(`news ${i}`), stream: i % 2 === 1,
      ...(i % 2 === 1 ? { stream_options: { include_usage: true } } : {}),
    }))
    const r = await run('strict', 100_000, bodies)
    report('search-preview', r)
    expect(r.ok).toBe(3) // each reserves just over $0.025
    expectExact(r)
  })

  test('regression: Anthropic web_search server tool (max_uses 3): fees and result tokens reserved and charged', async () => {
    const tool = { type: 'web_search_20250305', name: 'web_search', max_uses: 3 }
    const bodies = Array.from({ length: 8 }, (_, i) => ({
      model: 'claude-haiku-4-5', max_tokens: 200, tools: [tool], messages: msg(`look up ${i}`), stream: i % 2 === 0,
      ...(i % 2 === 0 ? { stream_options: { include_usage: true } } : {}),
    }))
    const r = await run('strict', 150_000, bodies)
    report('anthropic web search', r)
    expect(r.ok).toBeGreaterThan(0)
    expectExact(r)
  })
})

describe('cached input (item 5)', () => {
  const long = 'The same long system context, repeated so the provider caches it. '.repeat(100) // ~6.7 kB, ~1.7k tokens

  test('regression: OpenAI cached_tokens are charged at the cached rate (no overcharge), reasoning tokens in full', async () => {
    const bodies = ['gpt-4o-mini', 'gpt-4o-mini', 'gpt-4.1', 'gpt-4.1'].map((model) => ({ model, max_tokens: 64, messages: msg(long) }))
    const r = await run('strict', 1_000_000, bodies, true) // in order, so the second of each pair hits the cache
    report('openai cache', r)
    expect(r.ok).toBe(4)
    expectExact(r)
  })

  test('regression: Anthropic cache writes (5-minute 1.25×, 1-hour 2×) and reads (0.1×) are charged as billed', async () => {
    up.anthropicCache = { write5m: 0.3, write1h: 0.5, read: 0.1 }
    try {
      const bodies = Array.from({ length: 6 }, (_, i) => ({
        model: 'claude-haiku-4-5', max_tokens: 32, messages: msg(`${long} ${i}`), stream: i % 2 === 0,
        ...(i % 2 === 0 ? { stream_options: { include_usage: true } } : {}),
      }))
      const r = await run('fixed', null, bodies)
      report('anthropic cache', r)
      expect(r.ok).toBe(6)
      expectExact(r)
    } finally {
      up.anthropicCache = null
    }
  })
})
