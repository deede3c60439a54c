/** What a budget cannot charge is refused with a 400 naming the field and the config key, before any reservation. */
import { expect, test } from 'bun:test'
import { buildTestGateway, chat } from '../../helpers/app.ts'

const image = { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }

test.each([
  // [case, policy, extra request fields, status, param, message part]
  ['an image on a model with no image formula, strict', 'strict', { messages: [{ role: 'user', content: [image] }] }, 400, 'messages', 'models."mock-echo".image_pricing'],
  ['… under fixed: admitted (the usage reports what the image cost)', 'fixed', { messages: [{ role: 'user', content: [image] }] }, 200, null, null],
  ['web search on a model with no per-call fee, strict', 'strict', { web_search_options: {} }, 400, 'web_search_options', 'web_search_usd_per_call'],
  ['… and fixed (a fee never shows in token usage)', 'fixed', { web_search_options: {} }, 400, 'web_search_options', 'web_search_usd_per_call'],
  ['a service tier with no price', 'fixed', { service_tier: 'priority' }, 400, 'service_tier', 'service_tier "priority"'],
  ['"default" is the list price', 'strict', { service_tier: 'default' }, 200, null, null],
] as const)('%s', async (_name, policy, extra, status, param, message) => {
  const gw = await buildTestGateway()
  const key = await gw.addTenant({ id: 't', budgetUsdMicros: 1_000_000, policy })
  await gw.warm()
  const r = await gw.request('/v1/chat/completions', { key, body: chat('hi', extra) })
  expect(r.status).toBe(status)
  if (status === 400) {
    const err = ((await r.json()) as { error: { param: string; message: string; code: string } }).error
    expect(err).toMatchObject({ code: 'invalid_request_error', param })
    expect(err.message).toContain(message!)
  }
  const snap = await gw.ledger.snapshot('t', 'total')
  expect(snap.reservedMicros).toBe(0)
  if (status === 400) expect(snap.spentMicros).toBe(0)
})
