import { expect, test } from 'bun:test'
import { formatDuration, parseDate, parseDuration, parseSince } from '../../../src/cli/time-args.ts'

const NOW = Date.parse('2026-03-10T12:00:00Z')

test.each([
  ['0', 0],
  ['90s', 90_000],
  ['15m', 900_000],
  ['24h', 86_400_000],
  ['30d', 30 * 86_400_000],
  ['2w', 14 * 86_400_000],
  ['3650d', 3650 * 86_400_000],
])('parseDuration(%p) = %p ms', (s, ms) => {
  expect(parseDuration(s)).toEqual({ ok: true, ms })
})

test.each([['30'], ['30 days'], ['-1d'], ['1.5h'], ['d'], [''], ['3651d'], ['1y']])('parseDuration(%p) is refused', (s) => {
  const r = parseDuration(s)
  expect(r.ok).toBe(false)
})

test.each([
  ['2026-01-31', '2026-01-31T00:00:00.000Z'],
  ['2026-01-31T12:30:00Z', '2026-01-31T12:30:00.000Z'],
  ['2026-01-31T12:30Z', '2026-01-31T12:30:00.000Z'],
  ['2026-01-31T12:30:00.250+02:00', '2026-01-31T10:30:00.250Z'],
])('parseDate(%p) = %s', (s, iso) => {
  const r = parseDate(s)
  expect(r.ok && new Date(r.ms).toISOString()).toBe(iso)
})

test.each([
  ['2026-01-31T12:30:00', 'no time zone'],
  ['2026-02-30', 'not a date'],
  ['yesterday', 'not a date'],
  ['31/01/2026', 'not a date'],
])('parseDate(%p) is refused: %s', (s, message) => {
  const r = parseDate(s)
  expect(r.ok ? '' : r.error).toContain(message)
})

test('parseSince: a duration counts back from now, a date is absolute', () => {
  expect(parseSince('7d', NOW)).toEqual({ ok: true, ms: NOW - 7 * 86_400_000 })
  expect(parseSince('2026-03-01', NOW)).toEqual({ ok: true, ms: Date.parse('2026-03-01T00:00:00Z') })
  expect(parseSince('soon', NOW).ok).toBe(false)
})

test.each([[86_400_000 * 30, '30d'], [3_600_000 * 36, '36h'], [1_209_600_000, '2w'], [90_000, '90s'], [0, '0'], [1500, '1500ms']])(
  'formatDuration(%p) = %p', (ms, s) => { expect(formatDuration(ms)).toBe(s) })
