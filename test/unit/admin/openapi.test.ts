/**
 * The OpenAPI document and the route table describe the same API: every served route is documented and every
 * documented operation is served, with the same operationId; every $ref resolves; and the JSON views the routes
 * send fit the document's schemas (the integration tests check real responses too).
 */
import { describe, expect, test } from 'bun:test'
import { OPENAPI_DOCUMENT } from '../../../src/admin/openapi.ts'
import { ADMIN_ROUTES, matchRoute } from '../../../src/admin/routes.ts'
import type { PeriodStatus } from '../../../src/admin/service.ts'
import {
  createdKeyView, keyView, rotatedKeyView, tenantDetailView, tenantListingView, tenantView, usageReportView,
} from '../../../src/admin/views.ts'
import type { ApiKeyRecord, Tenant } from '../../../src/tenants/types.ts'
import { checkSchema, refsIn, resolveRef } from '../../helpers/json-schema.ts'

const doc = OPENAPI_DOCUMENT as unknown as Record<string, any>
const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head', 'options', 'trace']

const documented = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, item]) =>
  Object.entries(item).filter(([m]) => METHODS.includes(m)).map(([m, op]) => `${m.toUpperCase()} ${path} ${op.operationId}`))
const served = ADMIN_ROUTES.map((r) => `${r.method} ${r.path} ${r.id}`)

describe('the document and the route table', () => {
  test('every served route is documented (same method, path and operationId)', () => {
    expect(served.filter((r) => !documented.includes(r))).toEqual([])
  })

  test('every documented operation is served', () => {
    expect(documented.filter((d) => !served.includes(d))).toEqual([])
    expect(documented.length).toBe(ADMIN_ROUTES.length)
  })

  test('route ids and method+path pairs are unique', () => {
    expect(new Set(ADMIN_ROUTES.map((r) => r.id)).size).toBe(ADMIN_ROUTES.length)
    expect(new Set(ADMIN_ROUTES.map((r) => `${r.method} ${r.path}`)).size).toBe(ADMIN_ROUTES.length)
  })

  test('path parameters are declared where they are used', () => {
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1])
      for (const op of Object.values(item)) {
        const declared = (op.parameters ?? []).filter((p: any) => p.in === 'path').map((p: any) => p.name)
        expect({ path, declared }).toEqual({ path, declared: inPath })
      }
    }
  })

  test('a route with a JSON body documents one, and one without does not', () => {
    for (const r of ADMIN_ROUTES) {
      const op = doc.paths[r.path][r.method.toLowerCase()]
      expect({ route: r.id, body: op.requestBody === undefined ? 'none' : op.requestBody.required ? 'required' : 'optional' })
        .toEqual({ route: r.id, body: r.body })
    }
  })

  test('every operation documents 401 (the admin key) and, when it changes something, 403 (the read-only key)', () => {
    for (const r of ADMIN_ROUTES) {
      const codes = Object.keys(doc.paths[r.path][r.method.toLowerCase()].responses)
      expect(codes).toContain('401')
      if (r.method !== 'GET') expect({ route: r.id, has403: codes.includes('403') }).toEqual({ route: r.id, has403: true })
    }
  })

  test('OpenAPI 3.1 with a bearer security scheme applied everywhere; every $ref resolves', () => {
    expect(doc.openapi).toBe('3.1.0')
    expect(doc.security).toEqual([{ adminKey: [] }])
    expect(doc.components.securitySchemes.adminKey).toMatchObject({ type: 'http', scheme: 'bearer' })
    const refs = refsIn(doc)
    expect(refs.length).toBeGreaterThan(30)
    for (const { ref } of refs) expect(() => resolveRef(doc, ref)).not.toThrow()
  })
})

describe('matchRoute', () => {
  test.each([
    ['GET', '/tenants', 'listTenants', {}],
    ['POST', '/tenants', 'createTenant', {}],
    ['GET', '/tenants/acme', 'getTenant', { id: 'acme' }],
    ['DELETE', '/tenants/a%2Fb', 'deleteTenant', { id: 'a%2Fb' }],
    ['POST', '/tenants/acme/keys', 'createKey', { id: 'acme' }],
    ['POST', '/keys/key_1/rotate', 'rotateKey', { id: 'key_1' }],
    ['GET', '/openapi.json', 'openapi', {}],
  ])('%s %s → %s %j', (method, path, id, params) => {
    const m = matchRoute(ADMIN_ROUTES, method, path)
    expect(m.kind === 'route' && [m.route.id, m.rawParams]).toEqual([id, params])
  })

  test.each([
    ['PUT', '/tenants'], ['GET', '/tenants/'], ['GET', '/tenants/acme/'], ['GET', '/tenants//keys'], ['POST', '/tenants/acme'],
    ['GET', '/keys/k/revoke'], ['GET', '/'], ['GET', ''], ['GET', '/tenants/a/keys/extra'], ['HEAD', '/tenants'],
  ])('%s %s → no route', (method, path) => {
    expect(matchRoute(ADMIN_ROUTES, method, path).kind).toBe('none')
  })
})

describe('the views fit the schemas', () => {
  const now = Date.parse('2026-05-10T00:00:00Z')
  const t: Tenant = { id: 'acme', budgetUsdMicros: 5, budgetPeriod: 'day', policy: 'strict', allowedModels: ['gpt-4o'], failOpen: false, disabled: true }
  const k: ApiKeyRecord = { id: 'key_1', tenantId: 'acme', keyHash: 'h'.repeat(64), prefix: 'gw_abcdefg', name: null, createdAt: now - 1, expiresAt: now + 1, revokedAt: null }
  const p: PeriodStatus = { periodKey: 'day:2026-05-10', spentUsdMicros: 1, reservedUsdMicros: null, remainingUsdMicros: 4, source: 'recorded', liveUnavailable: 'down' }
  const row = { tenantId: 'acme', group: '2026-05-10', requests: 1, promptTokens: 2, completionTokens: 3, costUsdMicros: 4 }
  const total = { requests: 1, promptTokens: 2, completionTokens: 3, costUsdMicros: 4 }
  const schema = (name: string) => doc.components.schemas[name]

  test.each([
    ['Tenant', tenantView(t)],
    ['TenantListing', tenantListingView({ tenant: t, createdAt: now, keys: 2, activeKeys: 1 })],
    ['Key', keyView(k, now)],
    ['TenantDetail', tenantDetailView(t, p, [k], now)],
    ['CreatedKey', createdKeyView(k, 'gw_secret', now)],
    ['RotatedKey', rotatedKeyView({ created: k, secret: 'gw_secret', old: { ...k, revokedAt: now } }, now)],
    ['UsageReport', usageReportView({ tenantId: 'acme', sinceMs: now, by: 'day' }, { rows: [row], total })],
    ['UsageReport', usageReportView({ sinceMs: now, untilMs: now + 1, by: 'key' }, { rows: [{ ...row, group: 'key_1' }], total })],
  ])('%s', (name, value) => {
    expect(checkSchema(doc, schema(name), value)).toEqual([])
  })

  test('the schemas name exactly the views\' fields (no documented field that is never sent)', () => {
    expect(Object.keys(schema('Tenant').properties)).toEqual(Object.keys(tenantView(t)))
    expect(Object.keys(schema('Key').properties)).toEqual(Object.keys(keyView(k, now)))
    expect(Object.keys(schema('Budget').properties).sort()).toEqual(Object.keys(tenantDetailView(t, p, [], now).budget).sort())
  })

  test('the checker catches a mismatch', () => {
    expect(checkSchema(doc, schema('Key'), { ...keyView(k, now), key_hash: 'x' })).toEqual(['$: unexpected property "key_hash"'])
    expect(checkSchema(doc, schema('Tenant'), { ...tenantView(t), budget_period: 'week' })[0]).toContain('is not one of')
  })
})
