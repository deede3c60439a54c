import { describe, expect, setSystemTime, test } from 'bun:test'
import fc from 'fast-check'
import { batchedLines, createLogger, lineOf } from '../../../src/log.ts'

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

describe('batchedLines', () => {
  test('lines of one turn go out in one write, at the next turn, in order', async () => {
    const writes: string[] = []
    const b = batchedLines((chunk) => void writes.push(chunk))
    b.line('a')
    b.line('b')
    expect(writes).toEqual([])
    await new Promise((r) => setImmediate(r))
    expect(writes).toEqual(['a\nb\n'])
    b.line('c')
    await new Promise((r) => setImmediate(r))
    expect(writes).toEqual(['a\nb\n', 'c\n'])
  })

  test('a full buffer is written at once; flush() writes the rest now; an empty flush writes nothing', () => {
    const writes: string[] = []
    const b = batchedLines((chunk) => void writes.push(chunk), 10)
    b.line('12345')
    b.line('67890') // 12 bytes with the newlines: over the limit
    expect(writes).toEqual(['12345\n67890\n'])
    b.line('x')
    b.flush()
    b.flush()
    expect(writes).toEqual(['12345\n67890\n', 'x\n'])
  })
})

test('the gateway\'s stdout logger writes its last lines when the process exits', () => {
  const script = `import { createLogger } from '${new URL('../../../src/log.ts', import.meta.url).pathname}'
const log = createLogger()
for (let i = 0; i < 3; i++) log({ msg: 'line', i })
process.exit(0)`
  const r = Bun.spawnSync([process.execPath, '-e', script], { stdout: 'pipe', stderr: 'pipe' })
  const lines = r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l))
  expect(lines.map((l) => l.i)).toEqual([0, 1, 2])
})

describe('lineOf: the line of { ts, level, ...fields }, built without that object', () => {
  /** What the logger wrote before lineOf: the same line, key order included, for any fields. */
  const reference = (fields: Record<string, unknown>, level: string, ts: string) => JSON.stringify({ ts, level, ...fields })
  const same = (fields: Record<string, unknown>) => {
    const level = typeof fields.level === 'string' ? fields.level : 'info'
    const line = lineOf(fields, level)
    // A ts of the caller's is kept, and a toJSON makes the line whatever it returns: no timestamp of ours to read.
    if ('ts' in fields || typeof fields.toJSON === 'function') return expect(line).toBe(reference(fields, level, 'unused'))
    const ts = (JSON.parse(line) as { ts: string }).ts
    expect(ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    expect(Math.abs(Date.parse(ts) - Date.now())).toBeLessThan(1000)
    expect(line).toBe(reference(fields, level, ts))
  }

  test.each([
    ['no fields', {}],
    ['msg only', { msg: 'a' }],
    ['level first (the access log)', { level: 'warn', msg: 'access', status: 502, tenant: undefined, cost: 0 }],
    ['level only', { level: 'error' }],
    ['level after msg', { msg: 'b', level: 'warn' }],
    ['level not a string', { level: 5, msg: 'x' }],
    ['level null', { level: null, msg: 'x' }],
    ['a ts of the caller', { ts: 'mine', msg: 'x' }],
    ['level then ts', { level: 'info', ts: 'mine' }],
    ['strings that need escaping', { msg: 'line\nbreak "quoted" \\ \u2028 \ud800', k: '\u0000' }],
    ['nested values', { msg: 'n', obj: { a: [1, { b: null }] }, arr: ['x'] }],
    ['level undefined', { level: undefined, msg: 'x' }],
    ['array-index names (enumerated before ts)', { 0: 'a', msg: 'x' }],
    ['array-index names and a level', { level: 'warn', 7: 'a' }],
    ['a name starting with a digit', { '1a': 'x', msg: 'y' }],
    ['a level inherited, not its own', Object.assign(Object.create({ level: 'warn' }), { msg: 'x' })],
    ['a prototype of its own', Object.assign(Object.create({ inherited: 1 }), { level: 'info', msg: 'x' })],
    ['no prototype', Object.assign(Object.create(null), { level: 'warn', msg: 'x' })],
    ['a toJSON of its own', { level: 'warn', msg: 'x', toJSON: (): string => 'X' }],
    ['a toJSON and no level', { msg: 'x', toJSON: (): object => ({ other: 1 }) }],
  ] as const)('%s', (_, fields) => same(fields as Record<string, unknown>))

  test('the level it is given is the line\'s when the fields have none of their own', () => {
    expect(JSON.parse(lineOf({ msg: 'x' }, 'warn'))).toMatchObject({ level: 'warn', msg: 'x' })
    expect(JSON.parse(lineOf({}, 'error'))).toMatchObject({ level: 'error' })
  })

  test('the timestamp follows the clock, forwards and backwards, to the millisecond', () => {
    const at = (iso: string) => {
      setSystemTime(new Date(iso))
      return (JSON.parse(lineOf({ msg: 'x' }, 'info')) as { ts: string }).ts
    }
    try {
      expect(at('2026-12-04T10:00:00.000Z')).toBe('2026-12-04T10:00:00.000Z')
      expect(at('2026-12-04T10:00:00.000Z')).toBe('2026-12-04T10:00:00.000Z')
      expect(at('2026-12-04T10:00:00.001Z')).toBe('2026-12-04T10:00:00.001Z')
      expect(at('2027-01-01T00:00:00.000Z')).toBe('2027-01-01T00:00:00.000Z')
      expect(at('2026-12-04T09:59:59.999Z')).toBe('2026-12-04T09:59:59.999Z')
    } finally {
      setSystemTime()
    }
  })

  test('any fields (fast-check)', () => {
    const name = fc.oneof(fc.constantFrom('level', 'ts', 'msg', '0', '12', 'toJSON'), fc.string())
    fc.assert(fc.property(fc.dictionary(name, fc.jsonValue()), (fields) => same(fields)), { numRuns: 1000 })
  })

  test('the level is the line\'s second member when the caller gave it first or not at all', () => {
    for (const fields of [{ msg: 'a' }, { level: 'warn', msg: 'b' }, {}]) expect(Object.keys(JSON.parse(lineOf(fields, 'info'))).slice(0, 2)).toEqual(['ts', 'level'])
  })
})
