import { describe, expect, spyOn, test } from 'bun:test'
import * as nodeCrypto from 'node:crypto'
import { readFileSync } from 'node:fs'
import { adminKeysFrom, adminScope } from '../../../src/admin/auth.ts'

const WRITE = 'w'.repeat(32) + '-admin-write-key'
const READ = 'r'.repeat(32) + '-admin-read-key'
const keys = adminKeysFrom({ adminKey: WRITE, adminReadonlyKey: READ })!
const writeOnly = adminKeysFrom({ adminKey: WRITE, adminReadonlyKey: null })!

describe('adminKeysFrom', () => {
  test('off without GATEWAY_ADMIN_KEY; keeps digests, never the keys', () => {
    expect(adminKeysFrom({ adminKey: null, adminReadonlyKey: null })).toBeNull()
    expect(keys.write).toHaveLength(32)
    expect(keys.read).toHaveLength(32)
    expect(writeOnly.read).toBeNull()
    expect(JSON.stringify(keys)).not.toContain(WRITE)
  })
})

describe('adminScope', () => {
  test.each([
    [{ authorization: `Bearer ${WRITE}` }, 'write'],
    [{ authorization: `bearer ${WRITE}` }, 'write'],
    [{ authorization: `  Bearer ${WRITE}  ` }, 'write'],
    [{ authorization: `Bearer ${READ}` }, 'read'],
    [{}, null],
    [{ authorization: WRITE }, null],
    [{ authorization: `Basic ${WRITE}` }, null],
    [{ authorization: `Bearer ${WRITE} extra` }, null],
    [{ authorization: `Bearer ${WRITE}x` }, null],
    [{ authorization: `Bearer ${WRITE.slice(0, -1)}` }, null],
    [{ authorization: 'Bearer gw_someTenantKeyAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, null],
    // Only the Authorization header: the tenant-style header never carries an admin key.
    [{ 'x-api-key': WRITE }, null],
    [{ 'x-admin-key': WRITE }, null],
  ] as const)('%j → %p', (headers, want) => {
    expect(adminScope(new Headers(headers as Record<string, string>), keys)).toBe(want)
  })

  test('without a read-only key, nothing is read-only', () => {
    expect(adminScope(new Headers({ authorization: `Bearer ${READ}` }), writeOnly)).toBeNull()
    expect(adminScope(new Headers({ authorization: `Bearer ${WRITE}` }), writeOnly)).toBe('write')
  })

  test('compares sha256 digests with crypto.timingSafeEqual, both keys every time', () => {
    const spy = spyOn(nodeCrypto, 'timingSafeEqual')
    try {
      adminScope(new Headers({ authorization: 'Bearer short' }), keys)
      if (spy.mock.calls.length === 0) {
        // The named import may be bound before the spy; then prove it from the source instead.
        const src = readFileSync(new URL('../../../src/admin/auth.ts', import.meta.url), 'utf8')
        expect(src).toMatch(/import \{[^}]*\btimingSafeEqual\b[^}]*\} from 'node:crypto'/)
        expect(src).toContain('timingSafeEqual(d, keys.write)')
        expect(src).toContain('timingSafeEqual(d, keys.read)')
      } else {
        expect(spy.mock.calls.length).toBe(2)
        for (const [a, b] of spy.mock.calls) expect([(a as Buffer).length, (b as Buffer).length]).toEqual([32, 32])
      }
    } finally {
      spy.mockRestore()
    }
  })
})
