/**
 * The HTTP surface is the data plane only. GATEWAY_ADMIN_KEY is reserved: no admin operation exists over HTTP
 * (plausible admin routes answer 404 with the admin key in every usual header, and nothing is created), the
 * admin key is not an API key, and /metrics, /healthz, /readyz carry no secret. Routing must not depend on the
 * Host header (a front proxy's path rules would otherwise be bypassable).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { runGateway, spawnGateway, type GatewayProcess } from '../../helpers/gateway-process.ts'
import { startPostgres, type PgInstance } from '../../helpers/postgres.ts'
import { cleanupTempDirs, createKey, createTenant, PROVIDER_KEY, sha256Hex, writeToml, type Env } from '../reliability/lib.ts'
import { rawHttp } from './raw-http.ts'

const ADMIN_KEY = 'adm-secret-5b1e0c7a9d3f42e8'
const PG_PASSWORD = 'pg-password-never-print-91ab'
let pg: PgInstance
let gw: GatewayProcess
let env: Env
let key: string

beforeAll(async () => {
  pg = await startPostgres()
  const u = new URL(pg.url)
  u.password = PG_PASSWORD // trust auth ignores it; it must still never be printed or served
  env = { DATABASE_URL: u.toString(), GATEWAY_ADMIN_KEY: ADMIN_KEY, UP_KEY: PROVIDER_KEY, OPENAI_API_KEY: PROVIDER_KEY }
  await createTenant(env, 'adm-t')
  key = (await createKey(env, 'adm-t')).key
  gw = await spawnGateway(['serve', '--config', writeToml('[providers.mock]\nkind = "mock"\n')], { env })
  await gw.waitReady()
  // Some traffic so the metrics have series.
  for (let i = 0; i < 3; i++) {
    await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'mock-echo', messages: [{ role: 'user', content: 'hi' }] }) })
  }
})

afterAll(async () => {
  await gw?.stop('SIGKILL')
  await pg?.stop()
  cleanupTempDirs()
})

const ADMIN_PATHS = [
  '/admin', '/admin/tenants', '/admin/tenants/evil', '/admin/keys', '/admin/keys/revoke', '/v1/admin/tenants', '/v1/tenants',
  '/v1/tenants/evil', '/v1/keys', '/v1/api_keys', '/v1/organization/api_keys', '/v1/organization/projects', '/tenants', '/keys',
  '/api/tenants', '/api/keys', '/internal/tenants', '/config', '/debug', '/v1/budgets', '/v1/usage', '/migrate',
]
const adminHeaders = {
  authorization: `Bearer ${ADMIN_KEY}`, 'x-admin-key': ADMIN_KEY, 'x-api-key': ADMIN_KEY, 'x-gateway-admin-key': ADMIN_KEY,
  'content-type': 'application/json',
}
const evilBody = JSON.stringify({ id: 'evil', tenant: 'evil', budget_usd: 1e9, budget_usd_micros: 1e15, models: 'all', name: 'evil' })

describe('no admin operation over HTTP', () => {
  test('POST/PUT/PATCH/DELETE (and GET) to plausible admin paths → 404 JSON, with the admin key presented every way', async () => {
    const wrong: string[] = []
    for (const path of ADMIN_PATHS) {
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'GET']) {
        const res = await fetch(`${gw.url}${path}`, { method, headers: adminHeaders, body: method === 'GET' ? undefined : evilBody })
        const text = await res.text()
        if (res.status !== 404) wrong.push(`${method} ${path} → ${res.status}`)
        else if (JSON.parse(text).error?.code !== 'not_found') wrong.push(`${method} ${path}: ${text}`)
        if (text.includes(ADMIN_KEY)) wrong.push(`${method} ${path} echoed the admin key`)
      }
    }
    expect(wrong).toEqual([])
  })

  test('the data-plane routes refuse other methods (nothing mutable hides behind PUT/DELETE)', async () => {
    for (const [method, path] of [['PUT', '/v1/chat/completions'], ['DELETE', '/v1/chat/completions'], ['PATCH', '/v1/chat/completions'],
      ['POST', '/v1/models'], ['DELETE', '/v1/models'], ['POST', '/metrics'], ['DELETE', '/metrics'], ['POST', '/healthz'], ['PUT', '/readyz']] as const) {
      const res = await fetch(`${gw.url}${path}`, { method, headers: adminHeaders, body: evilBody })
      await res.text()
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 404 })
    }
  })

  test('nothing was created: the CLI does not know tenant "evil"', async () => {
    const r = await runGateway(['tenant', 'show', 'evil'], { env })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('tenant "evil" does not exist')
  })

  test('the admin key is not an API key', async () => {
    for (const headers of [{ authorization: `Bearer ${ADMIN_KEY}` }, { 'x-api-key': ADMIN_KEY }] as Record<string, string>[]) {
      const res = await fetch(`${gw.url}/v1/models`, { headers })
      expect(res.status).toBe(401)
      expect(await res.text()).not.toContain(ADMIN_KEY)
    }
  })
})

describe('probes and metrics hold no secrets', () => {
  test('/metrics, /healthz, /readyz: no admin key, API key, key hash, provider key or database password; process output neither', async () => {
    const secrets = [ADMIN_KEY, key, sha256Hex(key), key.slice(3), PROVIDER_KEY, PG_PASSWORD]
    for (const path of ['/metrics', '/healthz', '/readyz']) {
      const res = await fetch(`${gw.url}${path}`)
      expect(res.status).toBe(200)
      const text = `${JSON.stringify(Object.fromEntries(res.headers))}\n${await res.text()}`
      for (const s of secrets) expect({ path, leaked: text.includes(s) }).toEqual({ path, leaked: false })
    }
    const metrics = await (await fetch(`${gw.url}/metrics`)).text()
    expect(metrics).toContain('gateway_requests_total')
    expect(metrics).not.toContain('adm-t') // no tenant ids as label values either (cardinality and privacy)
    for (const s of secrets) expect(gw.output().includes(s)).toBe(false)
  })
})

describe('routing does not depend on the Host header', () => {
  test('a 1-char Host header does not shift the routed path (GET /xx/metrics with "Host: x" is a 404)', async () => {
    // Elysia finds the path at url.indexOf('/', 11), i.e. it assumes "http://" + a host of at least 4 chars.
    // With "Host: x" the URL is "http://x/xx/metrics" and the router sees "/metrics": a front proxy that only
    // blocks the exact path /metrics (or allows only /v1/*) can be walked around.
    const shifted = await rawHttp({ port: gw.port, head: ['GET /xx/metrics HTTP/1.1', 'host: x', 'connection: close'] })
    const normal = await rawHttp({ port: gw.port, head: ['GET /xx/metrics HTTP/1.1', `host: 127.0.0.1:${gw.port}`, 'connection: close'] })
    expect(normal.status).toBe(404)
    expect(shifted.status).toBe(404)
  })

  test('a 1-char Host header does not break the real routes (regression: Elysia path offset 11)', async () => {
    const body = JSON.stringify({ model: 'mock-echo', messages: [{ role: 'user', content: 'hi' }] })
    const r = await rawHttp({
      port: gw.port,
      head: ['POST /v1/chat/completions HTTP/1.1', 'host: x', `authorization: Bearer ${key}`, 'content-type: application/json', `content-length: ${body.length}`, 'connection: close'],
      body,
    })
    expect(r.status).toBe(200)
  })
})
