/** SliceBook (src/budget/slices.ts): the bookkeeping of budget slices, without Redis. */
import { describe, expect, test } from 'bun:test'
import { type Slice, SliceBook } from '../../../src/budget/slices.ts'

const slice = (over: Partial<Slice> = {}): Slice => ({
  id: 'slice:1', tenantId: 't', periodKey: 'total', held: 1_000, inflight: 0, draws: 0, lastDrawAt: 0, drawUntil: 10_000, retired: false, ...over,
})

describe('SliceBook', () => {
  test.each([
    // [slice size, amount, draws from a slice]
    [1_000, 250, true],
    [1_000, 251, false],
    [1_000, 0, true],
    [1, 0, true],
    [1, 1, false],
  ])('a slice of %i serves requests of up to a quarter of it: %i → %p', (size, amount, fits) => {
    expect(new SliceBook(size).fits(amount)).toBe(fits)
  })

  test.each([
    ['room left', {}, 't', 'total', 400, 5_000, true],
    ['exactly the room left', { inflight: 600 }, 't', 'total', 400, 5_000, true],
    ['one µUSD more than the room left', { inflight: 601 }, 't', 'total', 400, 5_000, false],
    ['another tenant', {}, 'u', 'total', 1, 5_000, false],
    ['another period', {}, 't', 'day:2026-12-03', 1, 5_000, false],
    ['retired', { retired: true }, 't', 'total', 1, 5_000, false],
    ['at the end of its draw window', {}, 't', 'total', 1, 10_000, false],
    ['just before it', {}, 't', 'total', 1, 9_999, true],
  ] as const)('draw: %s', (_, over, tenant, period, amount, now, ok) => {
    const b = new SliceBook(4_000)
    const s = slice(over)
    b.add(s)
    const inflight = s.inflight
    expect(b.draw(tenant, period, 'r', amount, now)).toBe(ok)
    expect(s.inflight).toBe(ok ? inflight + amount : inflight)
    expect(b.drawOf(tenant, 'r')).toEqual(ok ? { slice: s, amount } : undefined)
  })

  test('a settled draw leaves the slice; a released one stays held and is free again', () => {
    const b = new SliceBook(4_000)
    const s = slice()
    b.add(s)
    expect(b.draw('t', 'total', 'a', 300, 1)).toBe(true)
    expect(b.draw('t', 'total', 'b', 200, 2)).toBe(true)
    expect(b.size()).toEqual({ slices: 1, draws: 2, heldMicros: 1_000 })
    b.settled('a')
    expect([s.held, s.inflight, s.draws]).toEqual([700, 200, 1])
    b.undrawn('b')
    expect([s.held, s.inflight, s.draws]).toEqual([700, 0, 0])
    // Ending twice, or ending an unknown request, changes nothing.
    b.settled('a')
    b.undrawn('b')
    b.settled('nobody')
    expect([s.held, s.inflight, s.draws]).toEqual([700, 0, 0])
    expect(b.drawOf('t', 'a')).toBeUndefined()
    // A draw is looked up with its tenant: another tenant's request of the same id is not it.
    expect(b.draw('t', 'total', 'c', 100, 3)).toBe(true)
    expect(b.drawOf('u', 'c')).toBeUndefined()
  })

  test('retire: no more draws, what it holds beyond its draws is what to give back, once', () => {
    const b = new SliceBook(4_000)
    const s = slice()
    b.add(s)
    expect(b.draw('t', 'total', 'a', 300, 1)).toBe(true)
    expect(b.retire(s)).toBe(700)
    expect(b.retire(s)).toBe(0) // already retired: nothing more to give back
    expect(b.current('t', 'total')).toBeNull()
    expect(b.draw('t', 'total', 'b', 1, 2)).toBe(false)
    b.gaveBack(s, 700)
    expect(s.held).toBe(300)
    // Still drawn from: not finished until its draw ends.
    expect(b.takeFinished()).toEqual([])
    b.settled('a')
    expect(s.held).toBe(0)
    expect(b.takeFinished()).toEqual([s])
    expect(b.takeFinished()).toEqual([])
    expect(b.size()).toEqual({ slices: 0, draws: 0, heldMicros: 0 })
  })

  test('a new slice replaces the retired one for draws; the retired one still settles its draws', () => {
    const b = new SliceBook(4_000)
    const old = slice({ id: 'slice:old' })
    b.add(old)
    expect(b.draw('t', 'total', 'a', 900, 1)).toBe(true)
    expect(b.draw('t', 'total', 'b', 200, 1)).toBe(false) // 100 left
    b.retire(old)
    const next = slice({ id: 'slice:new', held: 500 })
    b.add(next)
    expect(b.draw('t', 'total', 'b', 200, 2)).toBe(true)
    expect(b.drawOf('t', 'b')!.slice).toBe(next)
    b.settled('a')
    expect(old.held).toBe(100)
    expect(b.takeFinished()).toEqual([old])
    expect(b.current('t', 'total')).toBe(next)
    expect(b.all()).toEqual([next])
  })

  test.each([
    // [last draw at, now, idle ms, draw until, retired, idle?]
    [0, 1_999, 2_000, 10_000, false, false],
    [0, 2_000, 2_000, 10_000, false, true],
    [5_000, 5_000, 0, 10_000, false, true],
    [9_000, 9_500, 2_000, 9_500, false, true], // its draw window is over
    [0, 5_000, 2_000, 10_000, true, false], // retired already
  ])('idle: last draw %i, now %i, idle after %i ms, draws until %i, retired %p → %p', (lastDrawAt, now, idleMs, drawUntil, retired, idle) => {
    const b = new SliceBook(4_000)
    const s = slice({ lastDrawAt, drawUntil, retired })
    b.add(s)
    expect(b.idle(now, idleMs)).toEqual(idle ? [s] : [])
  })

  test('held never goes below zero, whatever Redis gave back', () => {
    const b = new SliceBook(4_000)
    const s = slice({ held: 100 })
    b.add(s)
    b.gaveBack(s, 150)
    expect(s.held).toBe(0)
  })
})
