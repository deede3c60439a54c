import { expect, test } from 'bun:test'
import fc from 'fast-check'
import { sseDataFrame, sseJsonStringify } from '../../../src/http/sse.ts'

test('payloads with CR, LF, CRLF, U+2028 and NUL never produce a bare line break', () => {
  const frame = sseDataFrame({ content: 'a\rb\nc\r\nd\u2028e\u0000' })
  expect(frame.endsWith('\n\n')).toBe(true)
  const inner = frame.slice('data: '.length, -2)
  expect(inner).not.toMatch(/[\r\n]/)
  expect(JSON.parse(inner).content).toBe('a\rb\nc\r\nd\u2028e\u0000')
})

test('any JSON value round-trips through one data line', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      const frame = sseDataFrame(v)
      const inner = frame.slice(6, -2)
      expect(inner.includes('\n') || inner.includes('\r')).toBe(false)
      expect(JSON.parse(inner)).toEqual(JSON.parse(JSON.stringify(v)))
    }),
    { numRuns: 500 },
  )
})

test('refuses values that cannot be serialized instead of writing a broken frame', () => {
  expect(() => sseJsonStringify(undefined)).toThrow()
  expect(() => sseJsonStringify(() => 1)).toThrow()
})
