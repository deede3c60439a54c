/**
 * Credentials of the admin HTTP API, kept apart from tenant keys both ways: this check reads only
 * `Authorization: Bearer <key>` and compares it with the admin keys alone (a tenant key is not one of them), and
 * /v1 looks keys up only among tenant keys (src/auth/api-key.ts), where an admin key is simply unknown (401).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { GatewayConfig } from '../config/index.ts'

/** `write` may do everything; `read` (GATEWAY_ADMIN_READONLY_KEY) only the GET routes. */
export type AdminScope = 'write' | 'read'

export interface AdminKeys {
  /** sha256 of GATEWAY_ADMIN_KEY. */
  readonly write: Buffer
  /** sha256 of GATEWAY_ADMIN_READONLY_KEY, when set. */
  readonly read: Buffer | null
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest()

/** null when the admin API is off (no GATEWAY_ADMIN_KEY). The keys themselves are not kept, only their digests. */
export function adminKeysFrom(config: Pick<GatewayConfig, 'adminKey' | 'adminReadonlyKey'>): AdminKeys | null {
  if (!config.adminKey) return null
  return { write: digest(config.adminKey), read: config.adminReadonlyKey ? digest(config.adminReadonlyKey) : null }
}

const BEARER = /^Bearer ([\x21-\x7e]+)$/i

/**
 * The scope the request's bearer token grants, or null. Both sides are sha256 digests, so timingSafeEqual
 * compares equal lengths whatever was sent: neither the key's content nor its length leaks through timing.
 * Both keys are always compared, so the time does not tell which one matched.
 */
export function adminScope(headers: Headers, keys: AdminKeys): AdminScope | null {
  const m = BEARER.exec(headers.get('authorization')?.trim() ?? '')
  if (!m) return null
  const d = digest(m[1]!)
  const write = timingSafeEqual(d, keys.write)
  const read = keys.read !== null && timingSafeEqual(d, keys.read)
  return write ? 'write' : read ? 'read' : null
}
