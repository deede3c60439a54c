import { describe, expect, test } from 'bun:test'
import { batchedLines, createLogger } from '../../../src/log.ts'

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
