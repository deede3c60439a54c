/** Shape checks shared by the Messages translators: a malformed body is the client's 400 with `param`. */
import { GatewayError } from '../errors.ts'

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function invalid(message: string, param: string): GatewayError {
  return new GatewayError('invalid_request_error', message, { param })
}

/** A feature that exists in the Messages API but cannot be served by an OpenAI-compatible upstream. */
export function unsupported(what: string, param: string): GatewayError {
  return invalid(`${what} is not supported for this model: it is served by an OpenAI-compatible upstream`, param)
}
