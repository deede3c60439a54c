/**
 * Budget slices against an adversarial tenant, across three gateways sharing one Redis and one Postgres: a burst of
 * requests built to cost as much as the provider can bill (large images, the priority tier, web search fees,
 * reasoning models, whole output caps), streamed and not, some abandoned mid-way by the client, spread over the three
 * gateways, each of which admits from its own slices. The upstream bills each request as the real provider would
 * for the body it received (test/helpers/billing-upstream.ts). Checked: no overrun (billed ≤ limit, spent ≤ limit),
 * charged = billed (so never less), one usage record per upstream call, and every slice given back.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { periodKeyStartMs } from '../../../src/budget/money.ts'
import { createRedisLedger, type RedisLedger } from '../../../src/budget/redis-ledger.ts'
import { createUsageShipper } from '../../../src/budget/usage-shipper.ts'
import { buildTestGateway, testConfig, type TestGateway } from '../../helpers/app.ts'
import { type BillingUpstream, startBillingUpstream } from '../../helpers/billing-upstream.ts'
import { randomInt } from '../../helpers/prng.ts'
import { chat, count, eventually, type Outcome, startStores, type Stores, uid } from './harness.ts'

const PNG_2048x768 = `data:image/png;base64,${readFileSync(join(import.meta.dir, '../../fixtures/images/2048x768.png')).toString('base64')}`
const TOML = `
[models."claude-haiku-4-5"]
web_search_input_tokens_per_call = 2000
`
/** $0.20: a quarter ($0.05) is above most of these requests' worst cases, so most are admitted from slices. */
const SLICE_MICROS = 200_000

interface Gw { ledger: RedisLedger; gw: TestGateway; server: ReturnType<typeof Bun.serve>; url: string }
let stores: Stores
let up: BillingUpstream
const gateways: Gw[] = []

beforeAll(async () => {
  stores = await startStores()
  up = await startBillingUpstream()
  const store = stores.store
  const config = testConfig(TOML, [], {
    OPENAI_API_KEY: 'sk-test-openai', ANTHROPIC_API_KEY: 'sk-ant-test', OPENAI_BASE_URL: `${up.url}/v1`, ANTHROPIC_BASE_URL: up.url,
  })
  for (let i = 0; i < 3; i++) {
    const ledger = await createRedisLedger({
      url: stores.redis.url, rebuild: (t, pk, ex) => store.sumUsageSince(t, periodKeyStartMs(pk), ex), durable: store,
      sliceMicros: SLICE_MICROS, sliceIdleMs: 0,
    })
    const gw = await buildTestGateway({ ledger, store, config })
    const server = Bun.serve({ port: 0, hostname: '127.0.0.1', idleTimeout: 30, fetch: (r) => gw.app.handle(r) })
    gateways.push({ ledger, gw, server, url: `http://127.0.0.1:${server.port}` })
  }
})

afterAll(async () => {
  for (const g of gateways) {
    g.server.stop(true)
    await g.ledger.close()
  }
  await up?.stop()
  await stores?.stop()
})

const msg = (content: unknown) => [{ role: 'user', content }]
const streamed = (stream: boolean) => (stream ? { stream: true, stream_options: { include_usage: true } } : {})

/** The request kinds an adversarial tenant mixes: each makes the provider bill as much as its body allows. */
const KINDS: Array<(i: number, stream: boolean) => Record<string, unknown>> = [
  (i, s) => ({ model: 'gpt-4o-mini', max_tokens: 64, ...streamed(s), messages: msg([{ type: 'text', text: `image ${i}` }, { type: 'image_url', image_url: { url: PNG_2048x768, detail: 'high' } }]) }),
  (i, s) => ({ model: 'gpt-4o', service_tier: 'priority', max_tokens: 1000, ...streamed(s), messages: msg(`priority ${i}`) }),
  (i, s) => ({ model: 'gpt-4o-mini-search-preview', max_tokens: 100, web_search_options: {}, ...streamed(s), messages: msg(`news ${i}`) }),
  (i, s) => ({ model: 'claude-haiku-4-5', max_tokens: 200, tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 3 }], ...streamed(s), messages: msg(`look up ${i}`) }),
  (i, s) => ({ model: 'gpt-4.1', max_tokens: 800, ...streamed(s), messages: msg(`think hard ${i} ${'x'.repeat(i % 50)}`) }),
  (i, s) => ({ model: 'gpt-4.1-mini', max_tokens: 300, ...streamed(s), messages: msg([{ type: 'image_url', image_url: { url: `https://img.test/${i}/1800x2400.png` } }]) }),
]

test('three gateways with budget slices, 300 adversarial concurrent requests: no overrun, charged = billed, nothing lost', async () => {
  const tenant = uid('red-team')
  const limit = 600_000
  const key = await gateways[0]!.gw.addTenant({ id: tenant, budgetUsdMicros: limit, policy: 'strict' })
  for (const g of gateways) await g.gw.warm()
  const first = up.bills.length
  const rnd = randomInt(2026)
  const out: Outcome[] = await Promise.all(Array.from({ length: 300 }, (_, i) => {
    const stream = rnd(2) === 0
    const body = KINDS[rnd(KINDS.length)]!(i, stream)
    // One request in ten walks away: at its first token when streamed, after 5 ms otherwise.
    const leave = rnd(10) === 0 ? (stream ? { abortOnFirstContent: true } : { abortAfterMs: 5 }) : {}
    return chat(gateways[i % 3]!.url, key, body, leave)
  }))

  // Abandoned requests are read to their end and settled after the client left; idle slices go back every sweep.
  for (const g of gateways) await g.ledger.sweep()
  const snap = await eventually('settled and every slice given back', async () => {
    for (const g of gateways) await g.ledger.sweep()
    return gateways[0]!.ledger.snapshot(tenant, 'total')
  }, (s) => s.reservedMicros === 0, 10_000)
  const bills = up.bills.slice(first)
  const billed = bills.reduce((n, b) => n + b.micros, 0)
  const served = count(out, (o) => o.status === 200)
  console.log(`[red team, 3 gateways + slices] limit=${limit} served=${served}/300 upstream calls=${bills.length} billed=${billed} charged=${snap.spentMicros}`)
  for (const o of out) if (o.status !== 200 && !o.aborted) expect(o.status).toBe(402)
  expect(served).toBeGreaterThan(0)
  expect(count(out, (o) => o.status === 402)).toBeGreaterThan(0) // the limit was reached
  expect(billed).toBeLessThanOrEqual(limit)
  expect(snap.spentMicros).toBeLessThanOrEqual(limit)
  expect(snap.spentMicros).toBe(billed)
  for (const g of gateways) expect(g.ledger.slices()).toEqual({ slices: 0, draws: 0, heldMicros: 0 })

  const shipper = createUsageShipper({ client: gateways[0]!.ledger.client, store: stores.store, discover: false })
  try {
    await shipper.addTenant(tenant)
    await shipper.flush()
  } finally {
    await shipper.stop()
  }
  const rows = await stores.rows.of(tenant)
  expect(rows.length).toBe(bills.length)
  expect(rows.reduce((n, r) => n + r.cost, 0)).toBe(billed)
}, 60_000)
