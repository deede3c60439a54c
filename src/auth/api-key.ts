/** API key → tenant. Accepts `Authorization: Bearer <key>` or `x-api-key: <key>`. */
import { GatewayError } from '../errors.ts'
import { hashApiKey, timingSafeEqualHex } from '../store/keys.ts'
import type { CachedKey, TenantCache } from '../tenants/cache.ts'

const KEY_SHAPE = /^[A-Za-z0-9_\-.]{8,256}$/

export function extractApiKey(headers: Headers): string {
  const auth = headers.get('authorization')
  if (auth !== null) {
    const m = /^Bearer ([^\s]+)$/i.exec(auth.trim())
    if (!m) throw new GatewayError('invalid_api_key', 'Malformed Authorization header: expected "Bearer <key>".')
    return m[1]!
  }
  const x = headers.get('x-api-key')
  if (x !== null && x.trim() !== '') return x.trim()
  throw new GatewayError('invalid_api_key', 'Missing API key: send "Authorization: Bearer <key>" or "x-api-key".')
}

/**
 * Revocation, expiry and a disabled tenant are checked here on every request, against the cached records:
 * an expiry needs no change event to take effect, it is one comparison with the clock.
 */
export async function authenticate(headers: Headers, cache: TenantCache, now: number = Date.now()): Promise<CachedKey> {
  const key = extractApiKey(headers)
  if (!KEY_SHAPE.test(key)) throw new GatewayError('invalid_api_key', 'Invalid API key.')
  const hash = hashApiKey(key)
  let found: CachedKey | null
  try {
    found = await cache.lookup(hash)
  } catch {
    // Only a key not yet in the warmed cache needs the database; while it is down that key cannot be checked.
    throw new GatewayError('store_unavailable', 'The key store is unavailable; this API key cannot be verified right now.')
  }
  // The map lookup is by hash of the secret; the explicit comparison keeps the final check constant-time.
  if (!found || !timingSafeEqualHex(found.key.keyHash, hash)) throw new GatewayError('invalid_api_key', 'Invalid API key.')
  if (found.key.revokedAt !== null) throw new GatewayError('invalid_api_key', 'This API key has been revoked.')
  if (found.key.expiresAt != null && found.key.expiresAt <= now) throw new GatewayError('invalid_api_key', 'This API key has expired.')
  if (found.tenant.disabled) throw new GatewayError('tenant_disabled', 'The tenant of this API key is disabled.')
  return found
}
