/** authenticate() decides on the cached records at request time: revocation, expiry (against the clock) and a disabled tenant. */
import { expect, test } from 'bun:test'
import { authenticate } from '../../../src/auth/api-key.ts'
import { GatewayError } from '../../../src/errors.ts'
import { hashApiKey } from '../../../src/store/keys.ts'
import type { ApiKeyRecord, Tenant } from '../../../src/tenants/types.ts'
import type { TenantCache } from '../../../src/tenants/cache.ts'

const SECRET = 'gw_0123456789abcdefghij'
const EXPIRES = Date.parse('2026-06-01T00:00:00Z')

function cacheWith(key: Partial<ApiKeyRecord>, tenant: Partial<Tenant> = {}): TenantCache {
  const record: ApiKeyRecord = {
    id: 'key_1', tenantId: 't', keyHash: hashApiKey(SECRET), prefix: 'gw_0123456', name: null, createdAt: 0, expiresAt: null, revokedAt: null, ...key,
  }
  const t: Tenant = { id: 't', budgetUsdMicros: null, budgetPeriod: 'total', policy: 'strict', allowedModels: null, failOpen: false, disabled: false, ...tenant }
  return { lookup: async () => ({ key: record, tenant: t }) } as unknown as TenantCache
}

const headers = new Headers({ authorization: `Bearer ${SECRET}` })
const outcome = (cache: TenantCache, now: number) => authenticate(headers, cache, now).then(
  () => 'ok',
  (e: unknown) => (e instanceof GatewayError ? `${e.status} ${e.code}: ${e.message}` : String(e)),
)

test.each([
  ['a key without expiry', {}, {}, EXPIRES + 1e12, 'ok'],
  ['a key before its expiry', { expiresAt: EXPIRES }, {}, EXPIRES - 1, 'ok'],
  ['a key at its expiry instant', { expiresAt: EXPIRES }, {}, EXPIRES, '401 invalid_api_key: This API key has expired.'],
  ['a key past its expiry', { expiresAt: EXPIRES }, {}, EXPIRES + 1, '401 invalid_api_key: This API key has expired.'],
  ['a revoked key (revocation wins over expiry)', { revokedAt: 1, expiresAt: EXPIRES }, {}, EXPIRES + 1, '401 invalid_api_key: This API key has been revoked.'],
  ['a key of a disabled tenant', {}, { disabled: true }, EXPIRES, '403 tenant_disabled: The tenant of this API key is disabled.'],
  ['an expired key of a disabled tenant', { expiresAt: EXPIRES }, { disabled: true }, EXPIRES, '401 invalid_api_key: This API key has expired.'],
] as const)('%s', async (_what, key, tenant, now, want) => {
  expect(await outcome(cacheWith(key, tenant), now)).toBe(want)
})

test('without an explicit time the clock is read on every call: a cached key expires without any change event', async () => {
  const cache = cacheWith({ expiresAt: Date.now() + 60_000 })
  expect(await authenticate(headers, cache).then(() => 'ok')).toBe('ok')
  const expired = cacheWith({ expiresAt: Date.now() - 1 })
  expect(await authenticate(headers, expired).then(() => 'ok', (e: GatewayError) => e.code)).toBe('invalid_api_key')
})
