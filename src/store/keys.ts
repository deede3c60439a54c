/**
 * API key helpers. A key is shown once at creation; only sha256(key) is stored, so a leaked database
 * does not leak usable keys. sha256 (not a slow KDF) is fine here because keys carry 256 random bits:
 * there is nothing to brute-force, and auth must stay one hash per request.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'

export const API_KEY_PREFIX = 'gw_'
/** Characters of the key kept for display ("gw_AbCdEfG…"): enough to tell keys apart, useless to guess. */
const DISPLAY_PREFIX_LENGTH = 10

export interface GeneratedApiKey {
  /** The secret; print it once, never store it. */
  key: string
  /** Public identifier used by `gateway key revoke` (hex, so it can never look like a CLI flag). */
  id: string
  prefix: string
  /** sha256 hex of `key`. */
  hash: string
}

export function generateApiKey(): GeneratedApiKey {
  const key = API_KEY_PREFIX + randomBytes(32).toString('base64url')
  return {
    key,
    id: 'key_' + randomBytes(8).toString('hex'),
    prefix: key.slice(0, DISPLAY_PREFIX_LENGTH),
    hash: hashApiKey(key),
  }
}

/** Bun's one-shot hasher instead of a node:crypto Hash object per call: 0.59 → 0.22 µs in a loop (bench/RESULTS.md). */
export function hashApiKey(key: string): string {
  return Bun.CryptoHasher.hash('sha256', key, 'hex')
}

/**
 * Constant-time comparison of two hex digests. Only the length can leak, and every sha256 hex digest has
 * the same length. Compares the strings' bytes rather than decoding hex, so malformed input is simply
 * unequal instead of being silently truncated by Buffer.from(x, 'hex').
 */
export function timingSafeEqualHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8')
  const y = Buffer.from(b, 'utf8')
  if (x.length !== y.length) return false
  return timingSafeEqual(x, y)
}
