import { expect, test } from 'bun:test'
import { createLogger } from '../../../src/log.ts'

const capture = (level?: Parameters<typeof createLogger>[1]) => {
  const lines: Array<Record<string, unknown>> = []
  const log = createLogger((l) => lines.push(JSON.parse(l)), level)
  return { log, lines }
}

test('every line carries ts and level (info unless given), in that order', () => {
  const { log, lines } = capture()
  log({ msg: 'a' })
  log({ level: 'warn', msg: 'b' })
  expect(lines.map((l) => Object.keys(l).slice(0, 2))).toEqual([['ts', 'level'], ['ts', 'level']])
  expect(lines.map((l) => [l.level, l.msg])).toEqual([['info', 'a'], ['warn', 'b']])
})

test.each([
  ['debug', ['debug', 'info', 'warn', 'error']],
  ['info', ['info', 'warn', 'error']],
  ['warn', ['warn', 'error']],
  ['error', ['error']],
] as const)('level %s keeps %j', (min, kept) => {
  const { log, lines } = capture(min)
  for (const level of ['debug', 'info', 'warn', 'error']) log({ level, msg: level })
  expect(lines.map((l) => l.level)).toEqual([...kept])
  expect(log.enabled('info')).toBe(kept.includes('info' as never))
})

test('setLevel changes the threshold of a running logger; an unknown level is never dropped', () => {
  const { log, lines } = capture('error')
  log({ msg: 'dropped' })
  log.setLevel('info')
  log({ msg: 'kept' })
  log({ level: 'fatal-typo', msg: 'odd' })
  expect(lines.map((l) => l.msg)).toEqual(['kept', 'odd'])
})
