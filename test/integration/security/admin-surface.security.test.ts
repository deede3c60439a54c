/**
 * The HTTP surface of a real gateway process with the admin API enabled (GATEWAY_ADMIN_KEY): admin operations
 * exist only at the documented /admin/v1 routes (plausible other admin paths answer 404 with the admin key in
 * every usual header, and nothing is created); without the key everything under /admin is a 401; the admin API
 * works end to end (a key it creates authenticates on /v1 of the same process); the admin key is not an API key;
 * a short admin key is a boot error; /metrics, /healthz, /readyz carry no secret. Routing must not depend on
 * the Host header (a front proxy's path rules would otherwise be bypassable). Per-route auth, the read-only key
 * and the disabled API: admin-api.security.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { runGateway, spawnGateway, type GatewayProcess } from '../../helpers/gateway-process.ts'
import { startPostgres, type PgInstance } from '../../helpers/postgres.ts'
import { cleanupTempDirs, createKey, createTenant, PROVIDER_KEY, sha256Hex, waitUntil, writeToml, type Env } from '../reliability/lib.ts'
import { rawHttp } from './raw-http.ts'

const ADMIN_KEY = 'adm-secret-5b1e0c7a9d3f42e8-0c1d2e3f4a5b6c7d'
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

describe('no admin operation outside /admin/v1', () => {
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

  test('without the admin key (or with it only in x-api-key), every path under /admin is a 401; the others stay 404', async () => {
    const wrong: string[] = []
    for (const path of [...ADMIN_PATHS, '/admin/v1/tenants', '/admin/v1/tenants/adm-t/keys', '/admin/v1/openapi.json']) {
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'GET']) {
        for (const headers of [{ 'x-api-key': ADMIN_KEY, 'x-admin-key': ADMIN_KEY }, { authorization: `Bearer ${key}` }, { authorization: 'Bearer not-the-admin-key' }] as Record<string, string>[]) {
          const res = await fetch(`${gw.url}${path}`, { method, headers: { ...headers, 'content-type': 'application/json' }, body: method === 'GET' ? undefined : evilBody })
          const want = path === '/admin' || path.startsWith('/admin/') ? 401 : 404
          if (res.status !== want) wrong.push(`${method} ${path} ${Object.keys(headers)} → ${res.status}`)
          if ((await res.text()).includes(ADMIN_KEY)) wrong.push(`${method} ${path} echoed the admin key`)
        }
      }
    }
    expect(wrong).toEqual([])
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

describe('the admin API end to end', () => {
  let apiSecret = ''
  const admin = (method: string, path: string, body?: unknown) => fetch(`${gw.url}/admin/v1${path}`, {
    method, headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  })

  test('a tenant and key created over HTTP: the CLI sees them, and the key works on /v1 of the same gateway', async () => {
    expect((await admin('POST', '/tenants', { id: 'api-made', budget_usd_micros: 2_000_000 })).status).toBe(201)
    const created = await admin('POST', '/tenants/api-made/keys', { name: 'from-api' })
    expect(created.status).toBe(201)
    const { key: view, api_key: secret } = await created.json() as any
    apiSecret = secret
    const show = await runGateway(['tenant', 'show', 'api-made', '--json'], { env })
    expect(show.code).toBe(0)
    expect(JSON.parse(show.stdout)).toMatchObject({ tenant: { id: 'api-made', budget_usd_micros: 2_000_000 }, keys: [{ id: view.id, name: 'from-api', status: 'active' }] })
    expect(show.stdout).not.toContain(secret)
    const chat = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'mock-echo', messages: [{ role: 'user', content: 'hi' }] }) })
    expect(chat.status).toBe(200)
    // Revoked over HTTP: the same gateway refuses it once the change notification is in (no restart).
    expect((await admin('POST', `/keys/${view.id}/revoke`)).status).toBe(200)
    await waitUntil('the revoked key to be refused', async () => (await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } })).status === 401, 5000, 20)
  })

  test('the process log has one admin line per request and no secret', async () => {
    expect(gw.output()).toMatch(/"msg":"admin".*"route":"admin.createKey","status":201/)
    expect(apiSecret).toMatch(/^gw_/)
    for (const s of [ADMIN_KEY, apiSecret, sha256Hex(apiSecret)]) expect(gw.output().includes(s)).toBe(false)
  })

  test('a GATEWAY_ADMIN_KEY shorter than 32 characters is a configuration error (exit 2), and its value is not printed', async () => {
    const r = await runGateway(['serve'], { env: { ...env, GATEWAY_ADMIN_KEY: 'too-short-admin-key' } })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('GATEWAY_ADMIN_KEY must be at least 32 characters')
    expect(r.stderr + r.stdout).not.toContain('too-short-admin-key')
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
