/**
 * Auth on every admin route (the route table itself is iterated, so a new route is covered the day it is added):
 * no key, a wrong key, a tenant key, the admin key in another header → 401, and nothing changes; the read-only
 * key may GET but not change (403); with the API disabled every route is a 404, admin key or not. Under /admin,
 * the key is checked before routing: an unauthenticated caller cannot tell a route from a non-route.
 */
import { beforeAll, describe, expect, test } from 'bun:test'
import { adminKeysFrom } from '../../../src/admin/auth.ts'
import { ADMIN_ROUTES, type AdminRoute } from '../../../src/admin/routes.ts'
import type { Store } from '../../../src/store/types.ts'
import { buildTestGateway, type TestGateway } from '../../helpers/app.ts'

const ADMIN_KEY = 'sec-admin-key-7f3c9a1e5b2d4068-aa11bb22cc33'
const READ_KEY = 'sec-read-key-0d9e8f7a6b5c4d3e-dd44ee55ff66'
let on: TestGateway
let off: TestGateway
let tenantKey: string
let keyId: string

/** A concrete request for a route: ids that exist, and a body that would succeed, so only auth can stop it. */
function requestFor(r: AdminRoute): { path: string; body?: unknown } {
  const path = `/admin/v1${r.path}`.replace('/tenants/{id}', '/tenants/victim').replace('/keys/{id}', `/keys/${keyId}`)
  const bodies: Record<string, unknown> = {
    createTenant: { id: 'intruder' }, updateTenant: { budget_usd_micros: 0 }, createKey: { name: 'intruder' }, rotateKey: { grace: '0' },
  }
  return { path: r.id === 'deleteTenant' ? `${path}?force=true` : path, body: bodies[r.id] }
}

const send = (g: TestGateway, r: AdminRoute, headers: Record<string, string>) => {
  const { path, body } = requestFor(r)
  return g.request(path, { method: r.method, body, headers })
}

/** What an intruder could have changed: the victim tenant, its keys, the tenant list. */
async function state(store: Store) {
  const bundle = await store.loadTenant('victim')
  return { tenant: bundle?.tenant, keys: bundle?.keys, tenants: (await store.listTenants(0)).map((l) => l.tenant.id) }
}

beforeAll(async () => {
  on = await buildTestGateway({ app: { admin: adminKeysFrom({ adminKey: ADMIN_KEY, adminReadonlyKey: READ_KEY })! } })
  off = await buildTestGateway()
  tenantKey = await on.addTenant({ id: 'victim', budgetUsdMicros: 1_000_000 })
  keyId = (await on.store.loadTenant('victim'))!.keys[0]!.id
  await off.addTenant({ id: 'victim' })
})

const REFUSED: Array<[string, () => Record<string, string>]> = [
  ['no credentials', () => ({})],
  ['a wrong bearer key', () => ({ authorization: `Bearer ${ADMIN_KEY.slice(0, -1)}x` })],
  ['the admin key with a suffix', () => ({ authorization: `Bearer ${ADMIN_KEY}0` })],
  ['a valid tenant key (Bearer)', () => ({ authorization: `Bearer ${tenantKey}` })],
  ['a valid tenant key (x-api-key)', () => ({ 'x-api-key': tenantKey })],
  ['the admin key in x-api-key', () => ({ 'x-api-key': ADMIN_KEY })],
  ['the admin key in x-admin-key', () => ({ 'x-admin-key': ADMIN_KEY })],
  ['the admin key without "Bearer"', () => ({ authorization: ADMIN_KEY })],
  ['the admin key as Basic', () => ({ authorization: `Basic ${btoa(`admin:${ADMIN_KEY}`)}` })],
]

describe('every admin route refuses anything but an admin key (401 invalid_admin_key), and changes nothing', () => {
  test('the table has every route of the brief', () => {
    expect(ADMIN_ROUTES.length).toBe(13)
  })

  for (const route of ADMIN_ROUTES) {
    test(`${route.method} ${route.path}`, async () => {
      const before = await state(on.store)
      for (const [what, headers] of REFUSED) {
        const res = await send(on, route, headers())
        const body = await res.json() as any
        expect({ what, status: res.status, code: body.error?.code }).toEqual({ what, status: 401, code: 'invalid_admin_key' })
        expect(JSON.stringify(body)).not.toContain(ADMIN_KEY)
      }
      expect(await state(on.store)).toEqual(before)
    })
  }
})

describe('the read-only key', () => {
  for (const route of ADMIN_ROUTES) {
    const read = route.method === 'GET'
    test(`${route.method} ${route.path} → ${read ? '200' : '403 admin_read_only'}`, async () => {
      const before = await state(on.store)
      const res = await send(on, route, { authorization: `Bearer ${READ_KEY}` })
      const body = await res.json() as any
      if (read) expect(res.status).toBe(200)
      else expect([res.status, body.error.code]).toEqual([403, 'admin_read_only'])
      expect(await state(on.store)).toEqual(before)
    })
  }
})

describe('with the admin API disabled (no GATEWAY_ADMIN_KEY)', () => {
  for (const route of ADMIN_ROUTES) {
    test(`${route.method} ${route.path} → 404 not_found, admin key or not`, async () => {
      const before = await state(off.store)
      for (const headers of [{}, { authorization: `Bearer ${ADMIN_KEY}` }] as Record<string, string>[]) {
        const res = await send(off, route, headers)
        expect([res.status, ((await res.json()) as any).error.code]).toEqual([404, 'not_found'])
      }
      expect(await state(off.store)).toEqual(before)
    })
  }
})

describe('under /admin, the key comes before routing', () => {
  const paths = ['/admin', '/admin/', '/admin/v1', '/admin/v1/', '/admin/v1/nope', '/admin/v2/tenants', '/admin/tenants', '/admin/v1/tenants/victim/secrets', '/admin/v1/../v2/tenants']
  test.each(paths)('%s: 401 without the key, 404 with it', async (path) => {
    for (const method of ['GET', 'POST', 'PUT', 'DELETE']) {
      expect({ method, path, status: (await on.request(path, { method })).status }).toEqual({ method, path, status: 401 })
      const authed = await on.request(path, { method, headers: { authorization: `Bearer ${ADMIN_KEY}` } })
      expect({ method, path, status: authed.status }).toEqual({ method, path, status: 404 })
    }
  })

  test('an encoded slash is not a path separator: /admin%2Fv1/tenants is no admin path (404 with the key too)', async () => {
    for (const headers of [{}, { authorization: `Bearer ${ADMIN_KEY}` }] as Record<string, string>[]) expect((await on.request('/admin%2Fv1/tenants', { headers })).status).toBe(404)
  })

  test('a known path with another method is a plain 404 for the admin (no 405 listing what is allowed)', async () => {
    const res = await on.request('/admin/v1/tenants', { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_KEY}` } })
    expect(res.status).toBe(404)
    expect(res.headers.get('allow')).toBeNull()
  })
})

describe('the admin key is no tenant key', () => {
  test('/v1 refuses it in either header', async () => {
    for (const headers of [{ authorization: `Bearer ${ADMIN_KEY}` }, { 'x-api-key': ADMIN_KEY }, { authorization: `Bearer ${READ_KEY}` }] as Record<string, string>[]) {
      const res = await on.request('/v1/models', { headers })
      expect([res.status, ((await res.json()) as any).error.code]).toEqual([401, 'invalid_api_key'])
    }
  })
})
