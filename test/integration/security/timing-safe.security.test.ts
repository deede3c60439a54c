/**
 * Key comparison is constant-time by construction: timingSafeEqualHex is crypto.timingSafeEqual on equal-length
 * buffers, and authentication's final check of the stored hash goes through it (and actually gates access).
 * No timing measurements here: they are flaky and prove little; the code path is what is asserted.
 */
import { describe, expect, spyOn, test } from 'bun:test'
import * as nodeCrypto from 'node:crypto'
import { readFileSync } from 'node:fs'
import { authenticate } from '../../../src/auth/api-key.ts'
import * as keys from '../../../src/store/keys.ts'
import type { TenantCache } from '../../../src/tenants/cache.ts'

const ROOT = new URL('../../..', import.meta.url).pathname

/** A stand-in for the warmed cache whose lookup returns whatever record the test wants. */
function cacheReturning(keyHash: string | null): TenantCache {
  return {
    lookup: async () => keyHash === null ? null : {
      key: { id: 'key_1', tenantId: 't', keyHash, prefix: 'gw_x', name: null, createdAt: 0, revokedAt: null },
      tenant: { id: 't', budgetUsdMicros: null, budgetPeriod: 'total', policy: 'strict', allowedModels: null, failOpen: false },
    },
  } as unknown as TenantCache
}

const bearer = (k: string) => new Headers({ authorization: `Bearer ${k}` })

describe('timingSafeEqualHex', () => {
  const a = keys.hashApiKey('gw_a')
  const b = keys.hashApiKey('gw_b')
  test.each([
    [a, a, true],
    [a, b, false],
    [a, a.slice(0, -1) + (a.endsWith('0') ? '1' : '0'), false], // differs in the last char only
    [a, a.slice(0, -1), false], // length differs
    [a, a.toUpperCase(), false], // not decoded as hex: case matters
    ['zz', 'zz', true],
    ['', '', true],
    [a, '', false],
  ])('(%s, %s) → %p', (x, y, want) => {
    expect(keys.timingSafeEqualHex(x, y)).toBe(want)
  })

  test('is crypto.timingSafeEqual underneath (called for equal lengths, never a plain string compare)', () => {
    const spy = spyOn(nodeCrypto, 'timingSafeEqual')
    try {
      keys.timingSafeEqualHex(a, b)
      keys.timingSafeEqualHex(a, a)
      if (spy.mock.calls.length === 0) {
        // The named import may be bound before the spy; then prove it from the source instead.
        const src = readFileSync(`${ROOT}src/store/keys.ts`, 'utf8')
        const body = src.slice(src.indexOf('export function timingSafeEqualHex'))
        expect(src).toMatch(/import \{[^}]*\btimingSafeEqual\b[^}]*\} from 'node:crypto'/)
        expect(body).toMatch(/return timingSafeEqual\(x, y\)/)
        expect(body.slice(0, body.indexOf('\n}'))).not.toMatch(/\ba\s*===\s*b\b|\bx\s*===\s*y\b/)
      } else {
        expect(spy.mock.calls.length).toBe(2)
      }
    } finally {
      spy.mockRestore()
    }
  })
})

describe('authenticate compares the stored hash with timingSafeEqualHex', () => {
  test('the comparison runs on (stored hash, sha256 of the presented key)', async () => {
    const k = keys.generateApiKey()
    const spy = spyOn(keys, 'timingSafeEqualHex')
    try {
      await authenticate(bearer(k.key), cacheReturning(k.hash))
      expect(spy).toHaveBeenCalledTimes(1)
      expect(spy.mock.calls[0]).toEqual([k.hash, keys.hashApiKey(k.key)])
    } finally {
      spy.mockRestore()
    }
  })

  test('the comparison gates access: a lookup that returns a record with another hash is still refused', async () => {
    const k = keys.generateApiKey()
    const other = keys.generateApiKey()
    await expect(authenticate(bearer(k.key), cacheReturning(other.hash))).rejects.toMatchObject({ code: 'invalid_api_key' })
    await expect(authenticate(bearer(k.key), cacheReturning(null))).rejects.toMatchObject({ code: 'invalid_api_key' })
    await expect(authenticate(bearer(k.key), cacheReturning(k.hash))).resolves.toBeDefined()
  })

  test('the source keeps the constant-time check (no plain === on key material in the auth module)', () => {
    const src = readFileSync(`${ROOT}src/auth/api-key.ts`, 'utf8')
    expect(src).toContain("import { hashApiKey, timingSafeEqualHex } from '../store/keys.ts'")
    expect(src).toMatch(/timingSafeEqualHex\(found\.key\.keyHash, hash\)/)
    expect(src).not.toMatch(/keyHash\s*[!=]==|[!=]==\s*hash\b/)
  })
})
