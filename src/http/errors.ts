/**
 * Errors on the wire: the OpenAI envelope (every route but /v1/messages) and Anthropic's, each with the request
 * id, and the headers SDKs read. The codes and statuses themselves are src/errors.ts.
 */
import type { GatewayError } from '../errors.ts'

export interface ErrorBody {
  error: { message: string; type: string; code: string; param: string | null; request_id: string }
}

export function errorBody(err: GatewayError, requestId: string): ErrorBody {
  return { error: { message: err.message, type: err.type, code: err.code, param: err.param, request_id: requestId } }
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
