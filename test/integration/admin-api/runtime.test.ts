/**
 * Where a running gateway (startGateway, in-process, embedded store) serves the admin API: nowhere without
 * GATEWAY_ADMIN_KEY; on the main port; or, with `metrics_listen`, only on that operators' listener beside
 * /metrics. The API validates `allowed_models` against the config as last reloaded (SIGHUP).
 */
import { afterAll, afterEach, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, type GatewayConfig } from '../../../src/config/index.ts'
import { createLogger } from '../../../src/log.ts'
import { startGateway, type RunningGateway } from '../../../src/runtime.ts'

const ADMIN_KEY = 'runtime-admin-key-5e4d3c2b1a09-ffeeddccbbaa'
const dirs: string[] = []
let gw: RunningGateway | null = null
const logs: string[] = []

const MODEL = (name: string) => `[models."${name}"]\nprovider = "mock"\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 1\n`

function config(env: Record<string, string>, extraFlags: string[] = [], toml = `[providers.mock]\nkind = "mock"\n${MODEL('m-one')}`): GatewayConfig {
  const dir = mkdtempSync(join(tmpdir(), 'gw-admin-rt-'))
  dirs.push(dir)
  const r = loadConfig(['--config', 'g.toml', '--port', '0', '--host', '127.0.0.1', '--data-dir', dir, ...extraFlags], env, () => toml)
  if (!r.ok) throw new Error(r.errors.join('\n'))
  return r.config
}

async function start(c: GatewayConfig): Promise<RunningGateway> {
  logs.length = 0
  gw = await startGateway(c, { log: createLogger((l) => logs.push(l)) })
  await gw.ready
  return gw
}

afterEach(async () => {
  await gw?.stop(0)
  gw = null
})
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

const get = (base: string, path: string, key: string | null = ADMIN_KEY) =>
  fetch(`${base}${path}`, { headers: key ? { authorization: `Bearer ${key}` } : {} })
const post = (base: string, path: string, body: unknown) =>
  fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })

test('without GATEWAY_ADMIN_KEY there is no admin API: 404 with any key, on every listener', async () => {
  const g = await start(config({}, ['--metrics-listen', '127.0.0.1:0']))
  expect(g.adminUrl).toBeNull()
  for (const base of [g.url, g.metricsUrl!]) {
    expect((await get(base, '/admin/v1/tenants')).status).toBe(404)
    expect((await get(base, '/admin/v1/openapi.json', null)).status).toBe(404)
  }
  expect(JSON.parse(logs.find((l) => l.includes('"msg":"ready"'))!).admin_url).toBeUndefined()
})

test('with GATEWAY_ADMIN_KEY and no metrics_listen: on the main port, announced in the ready line', async () => {
  const g = await start(config({ GATEWAY_ADMIN_KEY: ADMIN_KEY }))
  expect(g.adminUrl).toBe(`${g.url}/admin/v1`)
  expect((await get(g.url, '/admin/v1/tenants')).status).toBe(200)
  expect((await get(g.url, '/admin/v1/tenants', null)).status).toBe(401)
  const doc = await (await get(g.url, '/admin/v1/openapi.json')).json() as any
  expect(doc.openapi).toBe('3.1.0')
  expect(JSON.parse(logs.find((l) => l.includes('"msg":"ready"'))!).admin_url).toBe(g.adminUrl)
})

test('with metrics_listen: only on that listener; a tenant and key made there are served on the main port', async () => {
  const g = await start(config({ GATEWAY_ADMIN_KEY: ADMIN_KEY }, ['--metrics-listen', '127.0.0.1:0']))
  expect(g.adminUrl).toBe(`${g.metricsUrl}/admin/v1`)
  const main = await get(g.url, '/admin/v1/tenants')
  expect([main.status, ((await main.json()) as any).error.code]).toEqual([404, 'not_found'])
  expect((await get(g.metricsUrl!, '/admin/v1/tenants', null)).status).toBe(401)
  expect((await get(g.metricsUrl!, '/admin/v1/tenants', 'wrong')).status).toBe(401)
  const created = await post(g.metricsUrl!, '/admin/v1/tenants', { id: 'ops', allowed_models: ['m-one'] })
  expect(created.status).toBe(201)
  expect(created.headers.get('x-request-id')).toMatch(/^req_/)
  const { api_key: secret } = await (await post(g.metricsUrl!, '/admin/v1/tenants/ops/keys', {})).json() as any
  const chat = await fetch(`${g.url}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm-one', messages: [{ role: 'user', content: 'hi' }] }),
  })
  expect(chat.status).toBe(200)
  expect((await fetch(`${g.metricsUrl}/metrics`)).status).toBe(200) // still the metrics listener
})

test('allowed_models is checked against the config as reloaded (SIGHUP), not as booted', async () => {
  const boot = config({ GATEWAY_ADMIN_KEY: ADMIN_KEY })
  const g = await start(boot)
  const before = await post(g.url, '/admin/v1/tenants', { id: 'early', allowed_models: ['m-two'] })
  expect([before.status, ((await before.json()) as any).error.message]).toEqual([400, expect.stringContaining('unknown model "m-two"')])
  const r = loadConfig(['--config', 'g.toml', '--port', '0', '--host', '127.0.0.1', '--data-dir', boot.dataDir], { GATEWAY_ADMIN_KEY: ADMIN_KEY },
    () => `[providers.mock]\nkind = "mock"\n${MODEL('m-one')}${MODEL('m-two')}`)
  if (!r.ok) throw new Error(r.errors.join('\n'))
  g.reload(r.config)
  expect((await post(g.url, '/admin/v1/tenants', { id: 'early', allowed_models: ['m-two'] })).status).toBe(201)
})
