/**
 * The admin HTTP API under /admin/v1: off unless GATEWAY_ADMIN_KEY is set. Everything under /admin needs the
 * admin key first (401 before any routing, so an unauthenticated caller learns nothing about the routes), then
 * a GET route takes either admin key and any other route only the full one (403 admin_read_only). Errors use
 * the gateway's envelope (src/http/errors.ts); every request writes one `admin` log line (the audit trail).
 * Writes go through the same store calls as the CLI, so running gateways pick them up the same way
 * (Postgres NOTIFY; embedded: at once in-process, ≤250 ms for other processes).
 */
import { errorResponse } from '../http/errors.ts'
import { asGatewayError, GatewayError } from '../errors.ts'
import { readJsonBody } from '../http/body.ts'
import { requestIdFor } from '../http/request-id.ts'
import type { AppDeps } from '../routes/context.ts'
import { adminScope, type AdminKeys, type AdminScope } from './auth.ts'
import { ADMIN_ROUTES, matchRoute, scopeOf, type AdminCall, type AdminContext, type AdminResult } from './routes.ts'
import { AdminError, ID_SHAPE } from './service.ts'

export const ADMIN_PREFIX = '/admin/v1'
/** Admin bodies are a few fields; nothing legitimate comes near this. */
export const ADMIN_MAX_BODY_BYTES = 64 * 1024

/** Handles one request whose path is /admin or below; `requestId` as the caller's other routes assign it. */
export type AdminHandler = (request: Request, requestId?: string) => Promise<Response>

export type AdminDeps = Pick<AppDeps, 'store' | 'budget' | 'log' | 'metrics' | 'now'> & { config: Pick<AppDeps['config'], 'models'> }

/** Whether a path belongs to the admin API's space (auth first, then 404 for what is not a route). */
export const isAdminPath = (pathname: string): boolean => pathname === '/admin' || pathname.startsWith('/admin/')

function gatewayErrorOf(e: unknown): GatewayError {
  if (e instanceof AdminError) {
    const code = e.code === 'not_found' ? 'not_found' : e.code === 'conflict' ? 'conflict' : 'invalid_request_error'
    return new GatewayError(code, e.message)
  }
  return asGatewayError(e)
}

/** Path parameters, decoded and held to the shape every id has: a bad one is a 400, never a store query. */
function decodeParams(raw: Record<string, string>): Record<string, string> {
  const params: Record<string, string> = {}
  for (const [name, value] of Object.entries(raw)) {
    let v: string
    try {
      v = decodeURIComponent(value)
    } catch {
      v = ''
    }
    if (!ID_SHAPE.test(v)) throw new GatewayError('invalid_request_error', `${name} may only contain letters, digits and . _ : - (1-128 chars)`, { param: name })
    params[name] = v
  }
  return params
}

async function bodyOf(request: Request, mode: 'none' | 'optional' | 'required'): Promise<unknown> {
  if (mode === 'none') return undefined
  const empty = request.body === null || request.headers.get('content-length') === '0'
  if (empty) {
    if (mode === 'required') throw new GatewayError('invalid_request_error', 'Request body is empty; expected a JSON object.')
    return undefined
  }
  return readJsonBody(request, ADMIN_MAX_BODY_BYTES)
}

const json = (r: AdminResult, requestId: string): Response => new Response(JSON.stringify(r.body), {
  status: r.status,
  headers: { 'content-type': 'application/json', 'cache-control': 'no-store', 'x-request-id': requestId },
})

export function createAdminApi(deps: AdminDeps, keys: AdminKeys): AdminHandler {
  const ctx: AdminContext = {
    store: deps.store,
    // Read per request: SIGHUP swaps deps.config.
    knownModels: () => Object.keys(deps.config.models),
    snapshot: (tenantId, periodKey) => deps.budget.ledger.snapshot(tenantId, periodKey),
  }

  return async (request, requestId = requestIdFor(request)) => {
    const url = new URL(request.url)
    let scope: AdminScope | null = null
    let route = 'admin.unknown'
    let res: Response
    let errorCode: string | undefined
    try {
      scope = adminScope(request.headers, keys)
      if (scope === null) throw new GatewayError('invalid_admin_key', 'Missing or invalid admin key: send "Authorization: Bearer <GATEWAY_ADMIN_KEY>".')
      const path = url.pathname.startsWith(ADMIN_PREFIX + '/') ? url.pathname.slice(ADMIN_PREFIX.length) : null
      const m = path === null ? { kind: 'none' as const } : matchRoute(ADMIN_ROUTES, request.method, path)
      if (m.kind === 'none') throw new GatewayError('not_found', 'Unknown admin route.')
      route = `admin.${m.route.id}`
      if (scopeOf(m.route) === 'write' && scope !== 'write') {
        throw new GatewayError('admin_read_only', 'This admin key may only read (GET); changes need GATEWAY_ADMIN_KEY.')
      }
      const call: AdminCall = {
        params: decodeParams(m.rawParams),
        query: url.searchParams,
        body: await bodyOf(request, m.route.body),
        now: deps.now?.() ?? Date.now(),
      }
      res = json(await m.route.run(ctx, call), requestId)
    } catch (e) {
      const err = gatewayErrorOf(e)
      if (err.code === 'internal_error') deps.log({ level: 'error', msg: 'admin request failed', request_id: requestId, route, error: String(e), stack: (e as Error)?.stack })
      errorCode = err.code
      deps.metrics.errors.inc({ code: err.code })
      res = errorResponse(err, requestId, { 'cache-control': 'no-store' })
    }
    deps.metrics.requests.inc({ route, status: String(res.status) })
    deps.log({
      // The path is the caller's (perhaps unauthenticated) input: bounded in the log.
      level: res.status >= 500 ? 'warn' : 'info', msg: 'admin', request_id: requestId, method: request.method, path: url.pathname.slice(0, 300),
      route, status: res.status, scope: scope ?? undefined, error: errorCode,
    })
    return res
  }
}
