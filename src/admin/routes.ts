/**
 * The admin HTTP API's routes, one table: method, path (under /admin/v1), and what each does with the same
 * service functions (src/admin/service.ts) and JSON views (src/admin/views.ts) as the CLI. The transport
 * (auth, matching, bodies, errors, logging) is src/admin/api.ts; the OpenAPI document (openapi.ts) is held to
 * this table by a test.
 */
import type { PeriodSnapshot } from '../budget/types.ts'
import type { Store } from '../store/types.ts'
import { forceOf, keyCreateOf, keyRotateOf, tenantCreateOf, tenantPatchOf, usageParamsOf } from './input.ts'
import { OPENAPI_DOCUMENT } from './openapi.ts'
import * as admin from './service.ts'
import { createdKeyView, keyView, rotatedKeyView, tenantDetailView, tenantListingView, tenantView, usageReportView } from './views.ts'

export interface AdminContext {
  store: Store
  /** Model names `allowed_models` may list (built-in catalog plus the config file, as reloaded by SIGHUP). */
  knownModels: () => readonly string[]
  /** Live spend/reservations from the gateway's own budget ledger; may reject (Redis down). */
  snapshot: (tenantId: string, periodKey: string) => Promise<PeriodSnapshot>
}

export interface AdminCall {
  /** Path parameters, URL-decoded and checked against ID_SHAPE. */
  params: Readonly<Record<string, string>>
  query: URLSearchParams
  /** The parsed JSON body; undefined when none was sent (or the route takes none). */
  body: unknown
  now: number
}

export interface AdminResult {
  status: number
  body: unknown
}

export type AdminMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE'

export interface AdminRoute {
  method: AdminMethod
  /** Relative to /admin/v1; `{name}` is one path segment. */
  path: string
  /** The OpenAPI operationId; also the log's and the metrics' route name (`admin.<id>`). */
  id: string
  /** Whether a JSON body is read: routes that take none ignore one. */
  body: 'none' | 'optional' | 'required'
  run: (c: AdminContext, r: AdminCall) => Promise<AdminResult>
}

const ok = (body: unknown): AdminResult => ({ status: 200, body })
const created = (body: unknown): AdminResult => ({ status: 201, body })

const setDisabled = (disabled: boolean) => async (c: AdminContext, r: AdminCall) =>
  ok({ tenant: tenantView(await admin.updateTenant(c.store, r.params.id!, { disabled })) })

export const ADMIN_ROUTES: readonly AdminRoute[] = [
  {
    method: 'GET', path: '/tenants', id: 'listTenants', body: 'none',
    run: async (c, r) => ok({ data: (await admin.listTenants(c.store, r.now)).map(tenantListingView) }),
  },
  {
    method: 'POST', path: '/tenants', id: 'createTenant', body: 'required',
    async run(c, r) {
      const { id, patch } = tenantCreateOf(r.body, c.knownModels())
      return created({ tenant: tenantView(await admin.createTenant(c.store, id, patch)) })
    },
  },
  {
    method: 'GET', path: '/tenants/{id}', id: 'getTenant', body: 'none',
    async run(c, r) {
      const { tenant, keys } = await admin.getTenant(c.store, r.params.id!)
      const period = await admin.periodStatus(c.store, tenant, r.now, c.snapshot)
      return ok(tenantDetailView(tenant, period, keys, r.now))
    },
  },
  {
    method: 'PATCH', path: '/tenants/{id}', id: 'updateTenant', body: 'required',
    run: async (c, r) => ok({ tenant: tenantView(await admin.updateTenant(c.store, r.params.id!, tenantPatchOf(r.body, c.knownModels()))) }),
  },
  {
    method: 'DELETE', path: '/tenants/{id}', id: 'deleteTenant', body: 'none',
    async run(c, r) {
      const { activeKeys } = await admin.deleteTenant(c.store, r.params.id!, { force: forceOf(r.query), now: r.now })
      return ok({ id: r.params.id!, deleted: true, revoked_keys: activeKeys })
    },
  },
  { method: 'POST', path: '/tenants/{id}/disable', id: 'disableTenant', body: 'none', run: setDisabled(true) },
  { method: 'POST', path: '/tenants/{id}/enable', id: 'enableTenant', body: 'none', run: setDisabled(false) },
  {
    method: 'GET', path: '/tenants/{id}/keys', id: 'listKeys', body: 'none',
    run: async (c, r) => ok({ data: (await admin.listKeys(c.store, r.params.id!)).map((k) => keyView(k, r.now)) }),
  },
  {
    method: 'POST', path: '/tenants/{id}/keys', id: 'createKey', body: 'optional',
    async run(c, r) {
      const opts = keyCreateOf(r.body, r.now)
      const { key, secret } = await admin.createKey(c.store, r.params.id!, { ...opts, now: r.now })
      return created(createdKeyView(key, secret, r.now))
    },
  },
  {
    method: 'POST', path: '/keys/{id}/revoke', id: 'revokeKey', body: 'none',
    run: async (c, r) => ok({ key: keyView(await admin.revokeKey(c.store, r.params.id!), r.now) }),
  },
  {
    method: 'POST', path: '/keys/{id}/rotate', id: 'rotateKey', body: 'optional',
    async run(c, r) {
      const opts = keyRotateOf(r.body, r.now, admin.DEFAULT_ROTATION_GRACE_MS)
      return created(rotatedKeyView(await admin.rotateKey(c.store, r.params.id!, { ...opts, now: r.now }), r.now))
    },
  },
  {
    method: 'GET', path: '/usage', id: 'usageReport', body: 'none',
    async run(c, r) {
      const q = usageParamsOf(r.query, r.now)
      return ok(usageReportView(q, await admin.usageReport(c.store, q)))
    },
  },
  { method: 'GET', path: '/openapi.json', id: 'openapi', body: 'none', run: async () => ok(OPENAPI_DOCUMENT) },
]

/** GET routes read; every other method changes something and needs the full admin key. */
export const scopeOf = (route: AdminRoute): 'read' | 'write' => (route.method === 'GET' ? 'read' : 'write')

export type RouteMatch =
  | { kind: 'route'; route: AdminRoute; rawParams: Record<string, string> }
  | { kind: 'none' }

/** Finds the route for a method and a path relative to /admin/v1 (`/tenants/acme/keys`); raw segments, not yet decoded. */
export function matchRoute(routes: readonly AdminRoute[], method: string, path: string): RouteMatch {
  const segments = path.split('/').slice(1)
  for (const route of routes) {
    if (route.method !== method) continue
    const pattern = route.path.split('/').slice(1)
    if (pattern.length !== segments.length) continue
    const rawParams: Record<string, string> = {}
    const hit = pattern.every((p, i) => {
      const s = segments[i]!
      if (p.startsWith('{')) {
        rawParams[p.slice(1, -1)] = s
        return s !== ''
      }
      return p === s
    })
    if (hit) return { kind: 'route', route, rawParams }
  }
  return { kind: 'none' }
}
