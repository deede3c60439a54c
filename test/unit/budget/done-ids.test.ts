/** The in-process ledger's exactly-once set: compact UUID keys, a string fallback, expiry oldest first. */
import { describe, expect, test } from 'bun:test'
import { DoneIds, uuidWords } from '../../../src/budget/done-ids.ts'

describe('uuidWords', () => {
  const cases: Array<[string, string, number[] | null]> = [
    ['a lowercase UUIDv7', '01a23dc7-4ef9-769f-b090-e4f7d1326b0d', [0x01a23dc7, 0x4ef9769f, 0xb090e4f7, 0xd1326b0d]],
    ['all zeros', '00000000-0000-0000-0000-000000000000', [0, 0, 0, 0]],
    ['all f', 'ffffffff-ffff-ffff-ffff-ffffffffffff', [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff]],
    ['uppercase hex (another string: not compact)', '01A23DC7-4EF9-769F-B090-E4F7D1326B0D', null],
    ['no dashes', '01a23dc74ef9769fb090e4f7d1326b0d', null],
    ['a dash out of place', '01a23dc74-ef9-769f-b090-e4f7d1326b0d', null],
    ['one character short', '01a23dc7-4ef9-769f-b090-e4f7d1326b0', null],
    ['a non-hex letter', '01a23dc7-4ef9-769f-b090-e4f7d1326b0g', null],
    ['braces', '{1a23dc7-4ef9-769f-b090-e4f7d1326b0}', null],
    ['empty', '', null],
  ]
  for (const [name, id, words] of cases) {
    test(name, () => {
      const out = new Uint32Array(4)
      expect(uuidWords(id, out)).toBe(words !== null)
      if (words) expect([...out]).toEqual(words)
    })
  }
})

describe('DoneIds', () => {
  test('an id is done from its mark until `retention` ms later, then forgotten at the next mark', () => {
    const d = new DoneIds(1_000)
    const a = '01a23dc7-4ef9-769f-b090-e4f7d1326b0d'
    d.add(a, 10_000)
    expect(d.has(a)).toBe(true)
    d.add(crypto.randomUUID(), 11_000) // cutoff 10,000: a mark at exactly the cutoff is kept
    expect(d.has(a)).toBe(true)
    d.add(crypto.randomUUID(), 11_001)
    expect(d.has(a)).toBe(false)
    expect(d.size).toBe(2)
  })

  test('a second mark keeps the first (the id expires from its first mark)', () => {
    const d = new DoneIds(1_000)
    d.add('req-1', 0)
    d.add('req-1', 900)
    d.add('01a23dc7-4ef9-769f-b090-e4f7d1326b0d', 0)
    d.add('01a23dc7-4ef9-769f-b090-e4f7d1326b0d', 900)
    expect(d.size).toBe(2)
    d.add('other', 1_001)
    expect(d.has('req-1')).toBe(false)
    expect(d.has('01a23dc7-4ef9-769f-b090-e4f7d1326b0d')).toBe(false)
  })

  test('ids that differ only in case are two ids', () => {
    const d = new DoneIds(1_000)
    d.add('01a23dc7-4ef9-769f-b090-e4f7d1326b0d', 0)
    expect(d.has('01A23DC7-4EF9-769F-B090-E4F7D1326B0D')).toBe(false)
    d.add('01A23DC7-4EF9-769F-B090-E4F7D1326B0D', 1)
    expect(d.has('01A23DC7-4EF9-769F-B090-E4F7D1326B0D')).toBe(true)
    expect(d.size).toBe(2)
  })

  // Against a plain Map of id → first mark, over bursts (the table grows), quiet spells (it expires and shrinks)
  // and every kind of id, with a retention short enough that most marks are forgotten along the way.
  test('agrees with a reference set over 200,000 random operations', () => {
    let seed = 42
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32)
    const retention = 500
    const d = new DoneIds(retention)
    const ref = new Map<string, number>()
    const seen: string[] = []
    const newId = (): string => {
      const r = rand()
      if (r < 0.6) return Bun.randomUUIDv7()
      if (r < 0.8) return crypto.randomUUID()
      if (r < 0.9) return crypto.randomUUID().toUpperCase()
      return `req-${Math.floor(rand() * 1e9)}`
    }
    let now = 0
    let maxSize = 0
    for (let step = 0; step < 200_000; step++) {
      // Mostly a steady flow; sometimes a quiet spell longer than the retention.
      now += rand() < 0.0005 ? retention * 2 : rand() < 0.5 ? 1 : 0
      const op = rand()
      if (op < 0.55) {
        const id = seen.length > 0 && rand() < 0.1 ? seen[Math.floor(rand() * seen.length)]! : newId()
        seen.push(id)
        if (seen.length > 5_000) seen.splice(0, 1_000)
        d.add(id, now)
        for (const [k, at] of ref) if (at < now - retention) ref.delete(k); else break
        if (!ref.has(id)) ref.set(id, now)
      } else {
        const id = seen.length > 0 && rand() < 0.9 ? seen[Math.floor(rand() * seen.length)]! : newId()
        expect(d.has(id)).toBe(ref.has(id))
      }
      maxSize = Math.max(maxSize, ref.size)
      if (step % 997 === 0) expect(d.size).toBe(ref.size)
    }
    expect(maxSize).toBeGreaterThan(200) // the table grew well past its first 16 slots
    for (const id of seen) expect(d.has(id)).toBe(ref.has(id))
  })
})
