import { expect, test } from 'bun:test'
import { errorBody, errorResponse } from '../../../src/http/errors.ts'
import { GatewayError, statusFor, type ErrorCode } from '../../../src/errors.ts'

test.each([
  ['invalid_request_error', 400, 'invalid_request_error'],
  ['invalid_api_key', 401, 'authentication_error'],
  ['invalid_admin_key', 401, 'authentication_error'],
  ['admin_read_only', 403, 'permission_error'],
  ['conflict', 409, 'invalid_request_error'],
  ['budget_exceeded', 402, 'insufficient_quota'],
  ['tenant_disabled', 403, 'permission_error'],
  ['model_not_allowed', 403, 'permission_error'],
  ['model_not_found', 404, 'not_found_error'],
  ['request_too_large', 413, 'invalid_request_error'],
  ['upstream_error', 502, 'api_error'],
  ['budget_unavailable', 503, 'api_error'],
  ['store_unavailable', 503, 'api_error'],
  ['upstream_timeout', 504, 'api_error'],
  ['server_shutdown', 503, 'api_error'],
  ['internal_error', 500, 'api_error'],
] as const)('%s → %d %s', (code, status, type) => {
  expect(statusFor(code as ErrorCode)).toBe(status)
  const body = errorBody(new GatewayError(code as ErrorCode, 'm'), 'req_1')
  expect(body).toEqual({ error: { message: 'm', type, code, param: null, request_id: 'req_1' } })
})

test('upstream 4xx keep their status', () => {
  expect(new GatewayError('upstream_client_error', 'bad', { status: 422 }).status).toBe(422)
})

test('budget_exceeded tells SDKs not to retry', async () => {
  const r = errorResponse(new GatewayError('budget_exceeded', 'over'), 'req_2')
  expect(r.status).toBe(402)
  expect(r.headers.get('x-should-retry')).toBe('false')
  expect(r.headers.get('x-request-id')).toBe('req_2')
  expect(((await r.json()) as any).error.type).toBe('insufficient_quota')
})

test('an upstream 429 reads as a rate limit, other upstream 4xx as invalid requests', () => {
  expect(new GatewayError('upstream_client_error', 'slow down', { status: 429 }).type).toBe('rate_limit_error')
  expect(new GatewayError('upstream_client_error', 'bad', { status: 400 }).type).toBe('invalid_request_error')
})

test('headers carried by an error reach the response, but never override the envelope headers', async () => {
  const err = new GatewayError('upstream_client_error', 'slow down', { status: 429, headers: { 'retry-after': '7', 'x-request-id': 'spoof' } })
  const r = errorResponse(err, 'req_3')
  expect(r.headers.get('retry-after')).toBe('7')
  expect(r.headers.get('x-request-id')).toBe('req_3')
})
