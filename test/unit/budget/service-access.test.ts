/**
 * What a reservation tells the rest of the gateway: the access-log facts (filled at reserve and settle), the
 * client-visible request id in the usage record, and the settle observer behind the per-tenant metrics.
 */
import { expect, test } from 'bun:test'
import { createMemoryLedger } from '../../../src/budget/memory-ledger.ts'
import { BudgetService, type ReserveArgs } from '../../../src/budget/service.ts'
import type { UsageRecord } from '../../../src/budget/types.ts'
import type { AccessFacts } from '../../../src/budget/types.ts'
import { createMetrics, observeSettled } from '../../../src/http/metrics.ts'
import { silentLogger } from '../../../src/log.ts'
import { FakeStore, uid } from './ledger-contract.ts'

function setup() {
  const store = new FakeStore()
  const ledger = createMemoryLedger({ rebuild: async () => 0, sink: (r) => store.insertUsage(r) })
  const observed: UsageRecord[] = []
  const budget = new BudgetService(ledger, silentLogger, Date.now, (r) => observed.push(r))
  const tenantId = uid('t')
  const args = (access?: AccessFacts, budgetUsdMicros: number | null = null): ReserveArgs => ({
    tenant: { id: tenantId, budgetUsdMicros, budgetPeriod: 'total', policy: 'fixed', allowedModels: null, failOpen: false, disabled: false },
    keyId: 'key_1', provider: 'up', ledgerId: crypto.randomUUID(), startedAt: Date.now(), access,
    model: { name: 'm', provider: 'up', upstreamModel: 'm-2025', inputUsdPerMtok: 1, outputUsdPerMtok: 2, maxOutputTokens: 100 },
    req: { model: 'm', messages: [{ role: 'user', content: 'hi' }] } as ReserveArgs['req'],
  })
  return { store, ledger, budget, observed, tenantId, args }
}

test('reserve fills tenant, key, model and provider; settle the cost, tokens and outcome; the record keeps the client request id', async () => {
  const { store, ledger, budget, observed, tenantId, args } = setup()
  const access: AccessFacts = { requestId: 'req_client_42' }
  const r = await budget.reserve(args(access))
  expect(access).toEqual({ requestId: 'req_client_42', tenant: tenantId, keyId: 'key_1', model: 'm', provider: 'up' })
  const cost = await r.settle({ usage: { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 }, completionBytes: 0, status: 'ok' }, 12)
  expect(cost).toBe(2000) // 1000 × $1/M + 500 × $2/M = 2000 µUSD
  expect(access).toMatchObject({ costMicros: 2000, promptTokens: 1000, completionTokens: 500, outcome: 'ok' })
  await ledger.flush()
  const [row] = [...store.rows.values()]
  expect(row).toMatchObject({ tenantId, costUsdMicros: 2000, clientRequestId: 'req_client_42' })
  expect(observed).toEqual([row!])
})

test('a released reservation reads as cost 0, outcome released; the observer sees only settled requests', async () => {
  const { budget, observed, args } = setup()
  const access: AccessFacts = { requestId: 'req_x' }
  const r = await budget.reserve(args(access))
  await r.release()
  expect(access).toMatchObject({ costMicros: 0, outcome: 'released' })
  await r.settle({ usage: null, completionBytes: 1, status: 'ok' }, 1) // after release: a no-op
  expect(observed).toEqual([])
})

test('a budget refusal still names the tenant and key for the access log', async () => {
  const { budget, args, tenantId } = setup()
  const access: AccessFacts = { requestId: 'req_y' }
  await expect(budget.reserve(args(access, 0))).rejects.toMatchObject({ code: 'budget_exceeded' })
  expect(access).toMatchObject({ tenant: tenantId, keyId: 'key_1', model: 'm' })
})

test('without access facts (callers that do not pass them) the record has no client request id', async () => {
  const { store, ledger, budget, args } = setup()
  const r = await budget.reserve(args())
  await r.settle({ usage: null, completionBytes: 4, status: 'shutdown' }, 1)
  await ledger.flush()
  const [row] = [...store.rows.values()]
  expect(row!.status).toBe('shutdown')
  expect('clientRequestId' in row!).toBe(false)
})

test('observeSettled: per-tenant spend and tokens accumulate as Prometheus counters, rendered only on request', () => {
  const metrics = createMetrics()
  const observe = observeSettled(metrics)
  const rec = (tenantId: string, cost: number): UsageRecord => ({
    requestId: crypto.randomUUID(), tenantId, keyId: 'k', model: 'm', provider: 'p', promptTokens: 10, completionTokens: 3,
    costUsdMicros: cost, status: 'ok', startedAt: 0, durationMs: 1,
  })
  observe(rec('acme', 100))
  observe(rec('acme', 50))
  observe(rec('beta', 7))
  expect(metrics.render()).not.toContain('acme') // the main port's /metrics never names tenants
  const text = metrics.render({ tenants: true })
  expect(text).toContain('gateway_tenant_spend_usd_micros_total{tenant="acme"} 150')
  expect(text).toContain('gateway_tenant_spend_usd_micros_total{tenant="beta"} 7')
  expect(text).toContain('gateway_tenant_tokens_total{tenant="acme",type="prompt"} 20')
  expect(text).toContain('gateway_tenant_tokens_total{tenant="acme",type="completion"} 6')
  // Past the bound of its per-tenant handles (10,000 tenants) they are made again: nothing is lost.
  for (let i = 0; i < 10_001; i++) observe(rec(`t${i}`, 1))
  observe(rec('acme', 1))
  observe(rec('t0', 1))
  const after = metrics.render({ tenants: true })
  expect(after).toContain('gateway_tenant_spend_usd_micros_total{tenant="acme"} 151')
  expect(after).toContain('gateway_tenant_spend_usd_micros_total{tenant="t0"} 2')
  expect(after).toContain('gateway_tenant_tokens_total{tenant="t0",type="prompt"} 20')
})
