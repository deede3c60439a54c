/**
 * The one place where gateway errors are named and given a status. The set of codes is closed: adding one
 * forces a status below (exhaustive switch). How an error is shaped on the wire is src/http/errors.ts.
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

/** Anything thrown that is not a GatewayError is an internal error; its message never reaches the client. */
export function asGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err
  return new GatewayError('internal_error', 'internal error')
}

/** The error a request cut by a shutdown ends with: the signal's own reason when it is one of ours. */
export function shutdownError(signal: AbortSignal): GatewayError {
  return signal.reason instanceof GatewayError ? signal.reason : new GatewayError('server_shutdown', 'The gateway is shutting down and ended this request; retry it.')
}
