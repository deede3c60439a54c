/** What a gateway holds until Redis can no longer lose it: live reservations, unconfirmed records, their epochs. */
import { describe, expect, test } from 'bun:test'
import { Holdings, MIXED_EPOCHS, type LiveReservation } from '../../../src/budget/holdings.ts'
import { randomInt } from '../../helpers/prng.ts'
import { usage } from './ledger-contract.ts'

const live = (requestId: string, epoch: string, o: Partial<LiveReservation> = {}): LiveReservation =>
  ({ requestId, periodKey: 'total', amount: 100, expiry: 1_000, epoch, ...o })

describe('Holdings', () => {
  test('a tenant holding nothing passes no epoch; holdings carry the epoch they were written in', () => {
    const h = new Holdings(10)
    expect(h.epochOf('t')).toBe('')
    h.reserved('t', live('r1', 'E1'))
    expect(h.epochOf('t')).toBe('E1')
    expect(h.liveEpoch('t', 'r1')).toBe('E1')
    h.settled('t', 'total', usage('t', 'r1', 50), 'E1', 0)
    expect(h.liveEpoch('t', 'r1')).toBeUndefined()
    expect(h.inOutbox('t', 'r1')).toBe(true)
    expect(h.epochOf('t')).toBe('E1')
    h.stored([{ tenantId: 't', requestId: 'r1' }])
    expect(h.epochOf('t')).toBe('')
    expect(h.held()).toEqual([])
  })

  test('holdings from two epochs mark the tenant mixed until a recovery re-tags what it put back', () => {
    const h = new Holdings(10)
    h.reserved('t', live('r1', 'E1'))
    h.reserved('t', live('r2', 'E2'))
    expect(h.epochOf('t')).toBe(MIXED_EPOCHS)
    const lost = h.lost('t', 'E2')
    expect(lost.reservations.map(r => r.requestId)).toEqual(['r1'])
    h.recovered('t', lost.records, lost.reservations, 'E2')
    expect(h.epochOf('t')).toBe('E2')
    expect(h.liveEpoch('t', 'r1')).toBe('E2')
  })

  const lostCases: { name: string; redisEpoch: string | null; lostRecords: string[]; lostReservations: string[] }[] = [
    { name: 'epoch unchanged: only what carries no epoch', redisEpoch: 'E1', lostRecords: ['s0'], lostReservations: [] },
    { name: 'epoch gone (Redis emptied): everything lost', redisEpoch: null, lostRecords: ['s0', 's1'], lostReservations: ['r1'] },
    { name: 'another epoch: everything from the old one lost', redisEpoch: 'E2', lostRecords: ['s0', 's1'], lostReservations: ['r1'] },
  ]
  for (const c of lostCases) {
    test(`lost(): ${c.name}`, () => {
      const h = new Holdings(10)
      h.reserved('t', live('r1', 'E1'))
      h.settled('t', 'total', usage('t', 's0', 1), '', 0) // settled while Redis had no epoch (fail-open)
      h.settled('t', 'total', usage('t', 's1', 1), 'E1', 0)
      h.reserved('u', live('x', 'E1')) // another tenant: never part of t's answer
      const lost = h.lost('t', c.redisEpoch)
      expect(lost.records.map(e => e.record.requestId)).toEqual(c.lostRecords)
      expect(lost.reservations.map(r => r.requestId)).toEqual(c.lostReservations)
    })
  }

  test('recovered() forgets the records it wrote to the store, but not ones that arrived meanwhile', () => {
    const h = new Holdings(10)
    h.settled('t', 'total', usage('t', 's1', 1), 'E1', 0)
    const lost = h.lost('t', null)
    h.settled('t', 'total', usage('t', 's2', 1), 'E1', 0) // a late reply from the old epoch
    h.recovered('t', lost.records, lost.reservations, 'E2')
    expect(h.inOutbox('t', 's1')).toBe(false)
    expect(h.inOutbox('t', 's2')).toBe(true)
    expect(h.epochOf('t')).toBe('E1') // still tagged with the lost epoch: the next script call recovers again
  })

  test('the outbox is bounded across tenants: the oldest record goes first and is counted', () => {
    const h = new Holdings(3)
    expect(h.settled('a', 'total', usage('a', '1', 1), 'E', 0)).toBe(0)
    h.settled('b', 'total', usage('b', '2', 1), 'E', 1)
    h.settled('a', 'total', usage('a', '3', 1), 'E', 2)
    expect(h.settled('b', 'total', usage('b', '4', 1), 'E', 3)).toBe(1)
    expect(h.inOutbox('a', '1')).toBe(false)
    expect(h.size()).toEqual({ live: 0, outbox: 3 })
    expect(h.dropped).toBe(1)
  })

  test('a full outbox keeps evicting oldest-first while records are stored, settled again and added (against a model)', () => {
    // Eviction reads the outbox through one iterator kept between calls: every interleaving must still evict the
    // oldest record held, as a plain list in insertion order would.
    const rand = randomInt(7)
    const max = 5
    const h = new Holdings(max)
    let model: { tenantId: string; requestId: string }[] = []
    let next = 0
    for (let step = 0; step < 2_000; step++) {
      const op = rand(10)
      if (op < 6 || model.length === 0) {
        // A new record, or (op 5) the same request settled again: it moves to the end. Room is made first,
        // counting the record it replaces.
        const again = op === 5 && model.length > 0 ? model[rand(model.length)]! : null
        const tenantId = again?.tenantId ?? ['a', 'b', 'c'][rand(3)]!
        const requestId = again?.requestId ?? `r${next++}`
        let expectEvicted = 0
        while (model.length >= max) {
          const oldest = model.shift()!
          expectEvicted++
          expect(h.inOutbox(oldest.tenantId, oldest.requestId)).toBe(true)
        }
        model = model.filter(m => !(m.tenantId === tenantId && m.requestId === requestId))
        expect(h.settled(tenantId, 'total', usage(tenantId, requestId, 1), 'E', step)).toBe(expectEvicted)
        model.push({ tenantId, requestId })
      } else {
        const gone = model.splice(rand(model.length), 1)
        h.stored(gone)
      }
      expect(h.size().outbox).toBe(model.length)
      expect(h.unconfirmed(Infinity, max).map(r => `${r.tenantId}/${r.requestId}`)).toEqual(model.map(m => `${m.tenantId}/${m.requestId}`))
    }
  })

  test('maxOutbox 0 (no durable store) holds reservations only', () => {
    const h = new Holdings(0)
    h.reserved('t', live('r1', 'E'))
    h.settled('t', 'total', usage('t', 'r1', 1), 'E', 0)
    expect(h.size()).toEqual({ live: 0, outbox: 0 })
    expect(h.dropped).toBe(0)
  })

  test('unconfirmed() lists the oldest records first, only those older than the cut-off', () => {
    const h = new Holdings(10)
    for (let i = 0; i < 5; i++) h.settled('t', 'total', usage('t', `r${i}`, 1), 'E', i * 100)
    expect(h.unconfirmed(250, 10).map(r => r.requestId)).toEqual(['r0', 'r1', 'r2'])
    expect(h.unconfirmed(1_000, 2).map(r => r.requestId)).toEqual(['r0', 'r1'])
  })

  test('expired reservations are let go (Redis reclaims them; nothing to put back)', () => {
    const h = new Holdings(10)
    h.reserved('t', live('old', 'E', { expiry: 500 }))
    h.reserved('t', live('new', 'E', { expiry: 2_000 }))
    h.expire(1_000)
    expect(h.liveEpoch('t', 'old')).toBeUndefined()
    expect(h.liveEpoch('t', 'new')).toBe('E')
  })
})
