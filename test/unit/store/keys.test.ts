import { describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { createHash } from 'node:crypto'
import { API_KEY_PREFIX, generateApiKey, hashApiKey, timingSafeEqualHex } from '../../../src/store/keys.ts'

describe('generateApiKey', () => {
  test('a gw_ key with 256 random bits, a display prefix, a hex id and its sha256', () => {
    const k = generateApiKey()
    expect(k.key).toMatch(/^gw_[A-Za-z0-9_-]{43}$/) // 32 bytes base64url, unpadded
    expect(k.key.startsWith(API_KEY_PREFIX)).toBe(true)
    expect(k.prefix).toBe(k.key.slice(0, 10))
    expect(k.id).toMatch(/^key_[0-9a-f]{16}$/) // never starts with '-', so it is safe as a CLI argument
    expect(k.hash).toBe(createHash('sha256').update(k.key).digest('hex'))
  })

  test('keys, ids and hashes do not repeat', () => {
    const many = Array.from({ length: 1000 }, generateApiKey)
    expect(new Set(many.map((k) => k.key)).size).toBe(1000)
    expect(new Set(many.map((k) => k.id)).size).toBe(1000)
    expect(new Set(many.map((k) => k.hash)).size).toBe(1000)
  })
})

describe('hashApiKey', () => {
  test.each([
    ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
  ])('sha256(%p) as lowercase hex', (input, expected) => {
    expect(hashApiKey(input)).toBe(expected)
  })

  test('hashes UTF-8, so a key pasted with non-ASCII characters is still deterministic', () => {
    expect(hashApiKey('gw_é')).toBe(createHash('sha256').update(Buffer.from('gw_é', 'utf8')).digest('hex'))
  })

  // Every stored hash was made by node:crypto's sha256 of the key's UTF-8: any string, lone surrogates included
  // (both encode them as U+FFFD), must hash as it did there. fast-check's own string units never produce a lone
  // surrogate, so one arbitrary is made of any UTF-16 code units.
  const codeUnits = fc.string({ unit: fc.nat(0xffff).map((c) => String.fromCharCode(c)), maxLength: 300 })
  test('equals node:crypto sha256 over UTF-8 for any string (fast-check)', () => {
    fc.assert(fc.property(fc.oneof(codeUnits, fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' })), (key) => {
      expect(hashApiKey(key)).toBe(createHash('sha256').update(key, 'utf8').digest('hex'))
    }), { numRuns: 2000 })
  })

  test.each(['\ud800', 'a\udc00b', '\udbff\udfff\udbff', 'gw_\ud83d'])('a lone surrogate hashes as node:crypto does (%#)', (key) => {
    expect(hashApiKey(key)).toBe(createHash('sha256').update(key, 'utf8').digest('hex'))
  })
})

describe('timingSafeEqualHex', () => {
  const h = hashApiKey('gw_x')
  test.each([
    ['equal digests', h, h, true],
    ['one character differs', h, h.slice(0, -1) + (h.endsWith('0') ? '1' : '0'), false],
    ['different lengths', h, h.slice(0, -2), false],
    ['empty strings', '', '', true],
    ['empty vs digest', '', h, false],
    ['malformed hex is unequal, not truncated', 'abzz', 'ab', false],
    ['case matters (digests are lowercase)', 'ab', 'AB', false],
  ])('%s', (_name, a, b, expected) => {
    expect(timingSafeEqualHex(a, b)).toBe(expected)
  })
})
