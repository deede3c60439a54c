/**
 * The access log: one JSON line per /v1 request, written when its response (or stream) has ended.
 * Facts are filled as they become known: the request id by the app, tenant and key by the route after
 * authentication, model, provider, cost and tokens by the reservation (BudgetService.reserve / settle).
 */
import type { AccessFacts } from '../budget/types.ts'
import type { LogLevel } from '../log.ts'


export interface AccessEnd {
  route: string
  /** HTTP status sent; 499 when the client left before a non-streamed response. */
  status: number
  stream: boolean
  durationMs: number
  /** The error code of an error response. */
  errorCode?: string
}

/** Outcomes worth an operator's look; a client that left (499, client_disconnect) is the client's doing: info. */
const GATEWAY_TROUBLE = new Set(['upstream_error', 'upstream_timeout', 'shutdown', 'error'])

export function accessLevel(status: number, outcome: string | undefined): LogLevel {
  if (status >= 500) return 'warn'
  return outcome !== undefined && GATEWAY_TROUBLE.has(outcome) ? 'warn' : 'info'
}

export function accessLine(f: AccessFacts, end: AccessEnd): Record<string, unknown> {
  // Undefined fields vanish in JSON.stringify: a 401 line has no tenant, a released request no tokens.
  return {
    level: accessLevel(end.status, f.outcome),
    msg: 'access',
    request_id: f.requestId,
    route: end.route,
    status: end.status,
    outcome: f.outcome,
    error: end.errorCode,
    tenant: f.tenant,
    key_id: f.keyId,
    model: f.model,
    provider: f.provider,
    cost_usd_micros: f.costMicros,
    prompt_tokens: f.promptTokens,
    completion_tokens: f.completionTokens,
    duration_ms: Math.round(end.durationMs * 1000) / 1000,
    stream: end.stream,
  }
}
