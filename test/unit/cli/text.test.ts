import { expect, test } from 'bun:test'
import { renderTable, when } from '../../../src/cli/text.ts'

test('renderTable pads every column to its widest cell and trims line ends', () => {
  expect(renderTable(['ID', 'NAME', 'N'], [['a', 'longer name', '1'], ['tenant-b', '', '22']])).toEqual([
    'ID        NAME         N',
    'a         longer name  1',
    'tenant-b               22',
  ])
  expect(renderTable(['ID'], [])).toEqual(['ID'])
})

test.each([
  [null, '-'],
  [Date.parse('2026-03-10T12:00:00Z'), '2026-03-10T12:00:00Z'],
  [Date.parse('2026-03-10T12:00:00.250Z'), '2026-03-10T12:00:00.250Z'],
])('when(%p) = %p', (ms, s) => { expect(when(ms)).toBe(s) })
