/**
 * The one place where gateway errors are named, given a status and shaped into the OpenAI envelope.
 * The set of codes is closed: adding one forces a status below (exhaustive switch).
 */
export type ErrorCode =
  | 'invalid_request_error'
  | 'invalid_api_key'
  | 'invalid_admin_key'
  | 'admin_read_only'
  | 'tenant_disabled'
  | 'budget_exceeded'
  | 'model_not_allowed'
  | 'model_not_found'
  | 'not_found'
  | 'conflict'
  | 'request_too_large'
  | 'upstream_error'
  | 'budget_unavailable'
  | 'store_unavailable'
  | 'upstream_timeout'
  | 'upstream_client_error'
  | 'server_shutdown'
  | 'internal_error'

export function statusFor(code: ErrorCode): number {
  switch (code) {
    case 'invalid_request_error': return 400
    case 'invalid_api_key': return 401
    case 'invalid_admin_key': return 401
    case 'admin_read_only': return 403 // a genuine admin key that may only read
    case 'tenant_disabled': return 403 // the key is genuine; its tenant may not use the gateway
    case 'budget_exceeded': return 402
    case 'model_not_allowed': return 403
    case 'model_not_found': return 404
    case 'not_found': return 404
    case 'conflict': return 409 // the admin API: the resource's state refuses the change (exists, has active keys, revoked)
    case 'request_too_large': return 413
    case 'upstream_error': return 502
    case 'budget_unavailable': return 503
    case 'store_unavailable': return 503
    case 'upstream_timeout': return 504
    case 'upstream_client_error': return 400 // real status carried by the error instance
    case 'server_shutdown': return 503
    case 'internal_error': return 500
    default: {
      const never: never = code
      throw new Error(`unmapped error code ${String(never)}`)
    }
  }
}

/** OpenAI `error.type` for each code; SDKs switch on status, people read the type. */
function typeFor(code: ErrorCode): string {
  switch (code) {
    case 'invalid_api_key':
    case 'invalid_admin_key': return 'authentication_error'
    case 'budget_exceeded': return 'insufficient_quota'
    case 'model_not_allowed':
    case 'admin_read_only':
    case 'tenant_disabled': return 'permission_error'
    case 'model_not_found':
    case 'not_found': return 'not_found_error'
    case 'upstream_error':
    case 'upstream_timeout':
    case 'budget_unavailable':
    case 'store_unavailable':
    case 'server_shutdown':
    case 'internal_error': return 'api_error'
    default: return 'invalid_request_error'
  }
}

export class GatewayError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly param: string | null
  /** Extra response headers (e.g. an upstream's retry-after); values are validated by whoever sets them. */
  readonly headers: Record<string, string>

  constructor(code: ErrorCode, message: string, opts: { status?: number; param?: string | null; headers?: Record<string, string> } = {}) {
    super(message)
    this.code = code
    this.status = opts.status ?? statusFor(code)
    this.param = opts.param ?? null
    this.headers = opts.headers ?? {}
  }

  get type(): string {
    // An upstream rate limit keeps its status (429) and reads as one, so SDKs back off instead of failing hard.
    if (this.code === 'upstream_client_error' && this.status === 429) return 'rate_limit_error'
    return typeFor(this.code)
  }
}

export interface ErrorBody {
  error: { message: string; type: string; code: string; param: string | null; request_id: string }
}

export function errorBody(err: GatewayError, requestId: string): ErrorBody {
  return { error: { message: err.message, type: err.type, code: err.code, param: err.param, request_id: requestId } }
}

/** Anything thrown that is not a GatewayError is an internal error; its message never reaches the client. */
export function asGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err
  return new GatewayError('internal_error', 'internal error')
}

function errorHeaders(err: GatewayError, requestId: string, headers: Record<string, string>): Record<string, string> {
  const h: Record<string, string> = { ...err.headers, 'content-type': 'application/json', 'x-request-id': requestId, ...headers }
  // Both SDKs honour x-should-retry: an empty budget will not refill by retrying.
  if (err.code === 'budget_exceeded') h['x-should-retry'] = 'false'
  return h
}

export function errorResponse(err: GatewayError, requestId: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(errorBody(err, requestId)), { status: err.status, headers: errorHeaders(err, requestId, headers) })
}

/**
 * Anthropic's error `type` for a gateway error (https://docs.anthropic.com/en/api/errors): chosen by status,
 * since the Anthropic SDK and Claude Code switch on status and read the type.
 */
export function anthropicErrorType(err: GatewayError): string {
  switch (err.status) {
    case 400: return 'invalid_request_error'
    case 401: return 'authentication_error'
    case 402: return 'billing_error'
    case 403: return 'permission_error'
    case 404: return 'not_found_error'
    case 413: return 'request_too_large'
    case 429: return 'rate_limit_error'
    case 504: return 'timeout_error'
    case 529: return 'overloaded_error'
    default: return err.status >= 400 && err.status < 500 ? 'invalid_request_error' : 'api_error'
  }
}

export interface AnthropicErrorBody {
  type: 'error'
  error: { type: string; message: string }
  request_id: string
}

export function anthropicErrorBody(err: GatewayError, requestId: string): AnthropicErrorBody {
  return { type: 'error', error: { type: anthropicErrorType(err), message: err.message }, request_id: requestId }
}

/** The error envelope a route speaks: OpenAI's on /v1/chat/completions, Anthropic's on /v1/messages. */
export type ErrorFormat = 'openai' | 'anthropic'

export function errorResponseAs(format: ErrorFormat, err: GatewayError, requestId: string, headers: Record<string, string> = {}): Response {
  if (format === 'openai') return errorResponse(err, requestId, headers)
  const h = errorHeaders(err, requestId, { 'request-id': requestId, ...headers })
  return new Response(JSON.stringify(anthropicErrorBody(err, requestId)), { status: err.status, headers: h })
}

/** The error a request cut by a shutdown ends with: the signal's own reason when it is one of ours. */
export function shutdownError(signal: AbortSignal): GatewayError {
  return signal.reason instanceof GatewayError ? signal.reason : new GatewayError('server_shutdown', 'The gateway is shutting down and ended this request; retry it.')
}
