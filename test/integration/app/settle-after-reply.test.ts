/**
 * A non-streamed reply goes out before the ledger has answered its settlement (as a stream's end does), but
 * the charge is handed over first: the request stays in flight and unlogged until the ledger answered, and a
 * client's next request through the same gateway sees the previous one charged (in-process, and on Redis,
 * where the order of commands on the one connection guarantees it).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createMemoryLedger } from '../../../src/budget/memory-ledger.ts'
import type { BudgetLedger, SettleInput } from '../../../src/budget/types.ts'
import { buildTestGateway, chat, testConfig } from '../../helpers/app.ts'
import { startRedis, type TestRedis } from '../../helpers/redis.ts'

let redis: TestRedis
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await redis.stop()
})

/** An in-process ledger whose settles wait until `open()`; `handed` lists what was handed to it, at once. */
function heldLedger() {
  const inner = createMemoryLedger({ rebuild: async () => 0, sink: async () => {} })
  const handed: SettleInput[] = []
  let open!: () => void
  const gate = new Promise<void>((r) => (open = r))
  const ledger: BudgetLedger = {
    ...inner,
    kind: 'memory',
    reserve: (i) => inner.reserve(i),
    release: (...a) => inner.release(...a),
    snapshot: (...a) => inner.snapshot(...a),
    ensureCounter: (...a) => inner.ensureCounter(...a),
    close: () => inner.close(),
    async settle(input) {
      handed.push(input)
      await gate
      return inner.settle(input)
    },
  }
  return { ledger, handed, open }
}

const gauge = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)![1])

test('a non-streamed reply is returned before the ledger answers its settle, and stays in flight (unlogged) until it does', async () => {
  const { ledger, handed, open } = heldLedger()
  const gw = await buildTestGateway({ ledger })
  const key = await gw.addTenant({ id: 'acme', budgetUsdMicros: 1_000_000 })
  await gw.warm()
  const res = await gw.request('/v1/chat/completions', { key, body: chat('hi there') })
  expect(res.status).toBe(200)
  expect(((await res.json()) as { usage: { total_tokens: number } }).usage.total_tokens).toBeGreaterThan(0)
  // The charge was handed to the ledger before the reply left, with the cost already computed.
  expect(handed).toHaveLength(1)
  expect(handed[0]!.costMicros).toBeGreaterThan(0)
  expect(res.headers.get('server-timing')).not.toContain('settle;')
  const metrics = () => gw.metrics.render()
  expect([gauge(metrics(), 'gateway_inflight_requests'), gauge(metrics(), 'gateway_inflight_streams')]).toEqual([1, 0])
  const access = () => gw.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'access')
  expect(access()).toEqual([])

  open()
  await gw.idle()
  expect(access()).toEqual([expect.objectContaining({ status: 200, stream: false, outcome: 'ok', cost_usd_micros: handed[0]!.costMicros })])
  expect(metrics()).toMatch(/gateway_stage_duration_ms_count\{stage="settle"\} 1$/m)
  expect(await ledger.snapshot('acme', 'total')).toEqual({ spentMicros: handed[0]!.costMicros, reservedMicros: 0 })
})

/**
 * Each request reserves its worst case (60 output tokens: 6,001 µUSD) and costs far less (a few tokens). The
 * limit fits one worst case beside the spend of many requests, but never two worst cases: a request is
 * admitted only if the previous one's reservation was settled by the time it reserved.
 */
const TOML = `
[providers.mock]
kind = "mock"

[models."cheap"]
provider = "mock"
input_usd_per_mtok = 0.001
output_usd_per_mtok = 100
max_output_tokens = 64
`

describe.each(['memory', 'redis'] as const)('%s ledger', (kind) => {
  test('a client\'s next request sees the previous reply charged, not still reserved', async () => {
    const gw = await buildTestGateway({ config: testConfig(TOML), ...(kind === 'redis' ? { redisUrl: redis.url } : {}) })
    const tenant = `seq-${kind}-${Date.now()}`
    const key = await gw.addTenant({ id: tenant, budgetUsdMicros: 12_000 })
    await gw.warm()
    try {
      const costs: number[] = []
      for (let i = 0; i < 10; i++) {
        const res = await gw.request('/v1/chat/completions', { key, body: { model: 'cheap', messages: [{ role: 'user', content: 'hi' }], max_tokens: 60 } })
        expect(res.status).toBe(200)
        const { usage } = (await res.json()) as { usage: { completion_tokens: number } }
        costs.push(usage.completion_tokens * 100 + 1)
      }
      // Sanity of the setup: one worst case fits beside the spend, two never do.
      expect(costs.reduce((a, b) => a + b) + 6_001).toBeLessThanOrEqual(12_000)
      expect(2 * 6_001).toBeGreaterThan(12_000)
    } finally {
      await gw.ledger.close()
    }
  })
})
