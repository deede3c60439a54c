/** The boot-time run of the request path touches nothing a client or operator sees. */
import { expect, test } from 'bun:test'
import { warmRequestPath } from '../../../src/routes/warmup.ts'
import { buildTestGateway, chat } from '../../helpers/app.ts'

test('warmRequestPath records no request, logs no [COLD-START], spends nothing; real requests still get n=1..3', async () => {
  const gw = await buildTestGateway()
  const key = await gw.addTenant({ id: 'acme', budgetUsdMicros: 1_000_000 })
  await gw.warm()
  await warmRequestPath(gw.deps)
  expect(gw.metrics.render()).not.toContain('gateway_requests_total{')
  expect(gw.logs.filter((l) => l.includes('[COLD-START]'))).toEqual([])
  expect(await gw.ledger.snapshot('acme', 'total')).toEqual({ spentMicros: 0, reservedMicros: 0 })
  for (let i = 0; i < 3; i++) expect((await gw.request('/v1/chat/completions', { key, body: chat() })).status).toBe(200)
  await gw.idle()
  expect(gw.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === '[COLD-START]').map((l) => l.n)).toEqual([1, 2, 3])
})
