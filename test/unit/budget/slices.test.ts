/** SliceBook (src/budget/slices.ts): the bookkeeping of budget slices, without Redis. */
import { describe, expect, test } from 'bun:test'
import { CONFIRM_MS, type Slice, SliceBook } from '../../../src/budget/slices.ts'

/** Leased under a limit of 1,000,000; confirmed at 0 (so draws at t < CONFIRM_MS need no confirmation). */
const slice = (over: Partial<Slice> = {}): Slice => ({
  id: 'slice:1', tenantId: 't', periodKey: 'total', limitMicros: 1_000_000, held: 1_000, inflight: 0, draws: 0, lastDrawAt: 0,
  confirmedAt: 0, drawUntil: 10_000, retired: false, ...over,
})
const L = 1_000_000

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
    // [case, slice fields, tenant, period, amount, the request's limit, now, answer]
    ['room left', {}, 't', 'total', 400, L, 100, 'drawn'],
    ['exactly the room left', { inflight: 600 }, 't', 'total', 400, L, 100, 'drawn'],
    ['one µUSD more than the room left', { inflight: 601 }, 't', 'total', 400, L, 100, 'none'],
    ['another tenant', {}, 'u', 'total', 1, L, 100, 'none'],
    ['another period', {}, 't', 'day:2026-12-03', 1, L, 100, 'none'],
    ['retired', { retired: true }, 't', 'total', 1, L, 100, 'none'],
    ['at the end of its draw window', { confirmedAt: 9_999 }, 't', 'total', 1, L, 10_000, 'none'],
    ['just before it', { confirmedAt: 9_998 }, 't', 'total', 1, L, 9_999, 'drawn'],
    ['a lower limit than it was leased under (the budget was lowered)', {}, 't', 'total', 1, L - 1, 100, 'none'],
    ['a higher limit', {}, 't', 'total', 1, L + 1, 100, 'drawn'],
    ['confirmed just under CONFIRM_MS ago', {}, 't', 'total', 1, L, CONFIRM_MS - 1, 'drawn'],
    ['confirmed CONFIRM_MS ago: Redis must show it still holds it', {}, 't', 'total', 1, L, CONFIRM_MS, 'confirm'],
    ['stale but without room: nothing to confirm', { inflight: 1_000 }, 't', 'total', 1, L, CONFIRM_MS, 'none'],
  ] as const)('draw: %s', (_, over, tenant, period, amount, limit, now, answer) => {
    const b = new SliceBook(4_000)
    const { retired, ...fields } = over as Partial<Slice>
    const s = slice(fields)
    b.add(s)
    if (retired) b.retire(s)
    const inflight = s.inflight
    expect(b.draw(tenant, period, 'r', amount, limit, now)).toBe(answer)
    const ok = answer === 'drawn'
    expect(s.inflight).toBe(ok ? inflight + amount : inflight)
    expect(b.drawOf(tenant, 'r')).toEqual(ok ? { slice: s, amount } : undefined)
  })

  test('a settled draw leaves the slice; a released one stays held and is free again', () => {
    const b = new SliceBook(4_000)
    const s = slice()
    b.add(s)
    expect(b.draw('t', 'total', 'a', 300, L, 1)).toBe('drawn')
    expect(b.draw('t', 'total', 'b', 200, L, 2)).toBe('drawn')
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
    expect(b.draw('t', 'total', 'c', 100, L, 3)).toBe('drawn')
    expect(b.drawOf('u', 'c')).toBeUndefined()
  })

  test('retire: no more draws, what it holds beyond its draws is what to give back, once', () => {
    const b = new SliceBook(4_000)
    const s = slice()
    b.add(s)
    expect(b.draw('t', 'total', 'a', 300, L, 1)).toBe('drawn')
    expect(b.retire(s)).toBe(700)
    expect(b.retire(s)).toBe(0) // already retired: nothing more to give back
    expect(b.current('t', 'total')).toBeNull()
    expect(b.draw('t', 'total', 'b', 1, L, 2)).toBe('none')
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
    expect(b.draw('t', 'total', 'a', 900, L, 1)).toBe('drawn')
    expect(b.draw('t', 'total', 'b', 200, L, 1)).toBe('none') // 100 left
    b.retire(old)
    const next = slice({ id: 'slice:new', held: 500 })
    b.add(next)
    expect(b.draw('t', 'total', 'b', 200, L, 2)).toBe('drawn')
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

  test('lost with Redis: the tenant\'s slices serve no more draws and hold only their draws in flight', () => {
    const b = new SliceBook(4_000)
    const a = slice({ id: 'slice:a' })
    const other = slice({ id: 'slice:o', tenantId: 'u' })
    b.add(a)
    b.add(other)
    expect(b.draw('t', 'total', 'r1', 300, L, 1)).toBe('drawn')
    expect(b.lostWith('t')).toEqual([a])
    expect([a.retired, a.held, a.inflight]).toEqual([true, 300, 300])
    expect(b.current('t', 'total')).toBeNull()
    expect(b.draw('t', 'total', 'r2', 1, L, 2)).toBe('none')
    expect([other.retired, other.held]).toEqual([false, 1_000]) // another tenant's slice is untouched
    b.settled('r1')
    expect(a.held).toBe(0)
    expect(b.takeFinished()).toEqual([a])
  })

  test('held never goes below zero, whatever Redis gave back', () => {
    const b = new SliceBook(4_000)
    const s = slice({ held: 100 })
    b.add(s)
    b.gaveBack(s, 150)
    expect(s.held).toBe(0)
  })
})
