import { expect, test } from 'bun:test'
import { FairRwGate } from '../../../src/budget/rw-gate.ts'

/** A section that records when it starts and ends and finishes when told to. */
function held(log: string[], name: string) {
  let finish!: () => void
  const done = new Promise<void>((r) => (finish = r))
  return {
    section: async () => {
      log.push(`${name}+`)
      await done
      log.push(`${name}-`)
    },
    finish,
  }
}
const tick = () => Bun.sleep(1)

test('readers run together; a writer runs alone', async () => {
  const gate = new FairRwGate()
  const log: string[] = []
  const [r1, r2, w] = [held(log, 'r1'), held(log, 'r2'), held(log, 'w')]
  const runs = [gate.read(r1.section), gate.read(r2.section), gate.write(w.section)]
  await tick()
  expect(log).toEqual(['r1+', 'r2+'])
  r1.finish()
  await tick()
  expect(log).toEqual(['r1+', 'r2+', 'r1-'])
  r2.finish()
  await tick()
  expect(log).toEqual(['r1+', 'r2+', 'r1-', 'r2-', 'w+'])
  w.finish()
  await Promise.all(runs)
})

test.each([
  // arrivals in order; the first one is inside when the others arrive
  ['readers arriving while a writer waits go after it (writers are not starved)', ['r1', 'w', 'r2', 'r3'], ['r1+', 'r1-', 'w+', 'w-', 'r2+', 'r3+', 'r2-', 'r3-']],
  ['a reader waiting behind a writer goes before the next writer (readers are not starved)', ['w1', 'r', 'w2'], ['w1+', 'w1-', 'r+', 'r-', 'w2+', 'w2-']],
  ['writers take turns in order of arrival', ['w1', 'w2', 'w3'], ['w1+', 'w1-', 'w2+', 'w2-', 'w3+', 'w3-']],
] as const)('%s', async (_, arrivals, expected) => {
  const gate = new FairRwGate()
  const log: string[] = []
  const sections = arrivals.map((name) => ({ name, ...held(log, name) }))
  const runs = sections.map((s) => (s.name.startsWith('w') ? gate.write(s.section) : gate.read(s.section)))
  // Finish whatever is inside, one at a time, until everything ran.
  for (let guard = 0; guard < 50 && log.length < arrivals.length * 2; guard++) {
    await tick()
    const inside = sections.filter((s) => log.includes(`${s.name}+`) && !log.includes(`${s.name}-`))
    inside[0]?.finish()
  }
  await Promise.all(runs)
  expect(log).toEqual([...expected])
})

test('a section that throws still lets the next one in, and its error reaches its caller', async () => {
  const gate = new FairRwGate()
  const failing = gate.write(async () => { throw new Error('boom') })
  const after = gate.read(async () => 'ran')
  await expect(failing).rejects.toThrow('boom')
  expect(await after).toBe('ran')
})
