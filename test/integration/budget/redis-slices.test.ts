/**
 * Budget slices (src/budget/slices.ts) on a throwaway redis-server: requests admitted from a slice leased of the
 * tenant's budget, with the same guarantees as per-request reservations. Exact totals under concurrency, several
 * gateways (ledgers) on one Redis with no overrun, releases, give-back, recovery after Redis lost everything.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Redis } from 'ioredis'
import { createRedisLedger, type RedisLedger } from '../../../src/budget/redis-ledger.ts'
import { tenantKeys } from '../../../src/budget/scripts.ts'
import type { ReserveInput } from '../../../src/budget/types.ts'
import { randomInt } from '../../helpers/prng.ts'
import { startRedis, type TestRedis } from '../../helpers/redis.ts'
import { uid, usage } from '../../unit/budget/ledger-contract.ts'

let redis: TestRedis
let admin: Redis
const opened: RedisLedger[] = []

beforeAll(async () => {
  redis = await startRedis()
  admin = new Redis(redis.url)
})
afterAll(async () => {
  await Promise.allSettled(opened.map(l => l.close()))
  admin?.disconnect()
  await redis?.stop()
})

/** A gateway's ledger with slices of `sliceMicros`; the sweep timer is left to the test (sweep()). */
async function ledger(sliceMicros: number, opts: Partial<Parameters<typeof createRedisLedger>[0]> = {}): Promise<RedisLedger> {
  const l = await createRedisLedger({ url: redis.url, rebuild: async () => 0, commandTimeoutMs: 2000, sweepMs: 3_600_000, sliceMicros, ...opts })
  opened.push(l)
  return l
}

const input = (tenantId: string, requestId: string, amountMicros: number, limitMicros: number): ReserveInput =>
  ({ tenantId, periodKey: 'total', limitMicros, requestId, amountMicros, ttlMs: 7_200_000 })
const settle = (l: RedisLedger, tenantId: string, requestId: string, cost: number) =>
  l.settle({ tenantId, periodKey: 'total', requestId, costMicros: cost, record: usage(tenantId, requestId, cost) })

describe('budget slices', () => {
  test('500 concurrent reserves at a limit admitting exactly K: exactly K admitted, spent == Σ actual, all given back', async () => {
    const l = await ledger(20_000, { sliceIdleMs: 0 })
    const t = uid('slices')
    const K = 137, R = 1000
    const rs = await Promise.all(Array.from({ length: 500 }, (_, i) => l.reserve(input(t, `r${i}`, R, K * R))))
    const admitted = rs.flatMap((r, i) => (r.ok ? [i] : []))
    expect(admitted.length).toBe(K)
    // Most were admitted from slices, with no reservation of their own in Redis.
    expect(l.slices()!.draws).toBeGreaterThan(K / 2)
    expect(await admin.zcard(tenantKeys(t).resv)).toBeLessThan(K / 2)
    const rnd = randomInt(7)
    const costs = admitted.map(() => rnd(R + 1))
    await Promise.all(admitted.map((i, j) => settle(l, t, `r${i}`, costs[j]!)))
    const spent = costs.reduce((a, b) => a + b, 0)
    expect((await l.snapshot(t, 'total')).spentMicros).toBe(spent)
    await l.sweep()
    expect(await l.snapshot(t, 'total')).toEqual({ spentMicros: spent, reservedMicros: 0 })
    expect(l.slices()).toEqual({ slices: 0, draws: 0, heldMicros: 0 })
    expect(await admin.xlen(tenantKeys(t).ledger)).toBe(K)
    expect(await admin.zcard(tenantKeys(t).resv)).toBe(0)
  })

  test('a settle shrinks the slice by the draw in the same step: spent + reserved never counts a request twice', async () => {
    const l = await ledger(100_000)
    const t = uid('shrink')
    expect(await l.reserve(input(t, 'a', 10_000, 1_000_000))).toEqual({ ok: true })
    expect(await l.reserve(input(t, 'b', 20_000, 1_000_000))).toEqual({ ok: true })
    expect(await l.snapshot(t, 'total')).toEqual({ spentMicros: 0, reservedMicros: 100_000 }) // the slice, not the draws
    expect(await settle(l, t, 'a', 7_000)).toEqual({ settled: true })
    expect(await l.snapshot(t, 'total')).toEqual({ spentMicros: 7_000, reservedMicros: 90_000 })
    expect(l.slices()).toEqual({ slices: 1, draws: 1, heldMicros: 90_000 })
    // Exactly once: a second settle changes nothing, in Redis or in the slice.
    expect(await settle(l, t, 'a', 7_000)).toEqual({ settled: false })
    expect(await l.snapshot(t, 'total')).toEqual({ spentMicros: 7_000, reservedMicros: 90_000 })
    expect(l.slices()).toEqual({ slices: 1, draws: 1, heldMicros: 90_000 })
    await l.release(t, 'total', 'b')
    expect(await l.snapshot(t, 'total')).toEqual({ spentMicros: 7_000, reservedMicros: 90_000 }) // b's draw is free in the slice again
    expect(l.slices()).toEqual({ slices: 1, draws: 0, heldMicros: 90_000 })
    // A settle after the release is a no-op, as for any reservation.
    expect(await settle(l, t, 'b', 5_000)).toEqual({ settled: false })
    expect((await l.snapshot(t, 'total')).spentMicros).toBe(7_000)
  })

  test('a lease takes at most half of what is left; near the limit requests reserve one by one, exactly to it', async () => {
    const l = await ledger(1_000_000)
    const t = uid('edge')
    expect(await l.reserve(input(t, 'a', 100, 10_000))).toEqual({ ok: true })
    expect(await l.snapshot(t, 'total')).toEqual({ spentMicros: 0, reservedMicros: 5_000 })
    // 49 more fit in the slice; then the slice is given back beyond its draws, the next lease would be below
    // the request's amount (half of 5,000 left is 2,500, yes; then 1,250, 625, 312, 156, then 78 < 100), so
    // requests reserve on their own until the limit is reached exactly.
    const rs = []
    for (let i = 0; i < 120; i++) rs.push(await l.reserve(input(t, `r${i}`, 100, 10_000)))
    expect(rs.filter(r => r.ok).length).toBe(99)
    expect(await l.snapshot(t, 'total')).toEqual({ spentMicros: 0, reservedMicros: 10_000 })
    expect(rs.at(-1)).toEqual({ ok: false, reason: 'budget_exceeded', spentMicros: 0, reservedMicros: 10_000 })
  })

  test('a request above a quarter of the slice reserves on its own', async () => {
    const l = await ledger(40_000)
    const t = uid('big')
    expect(await l.reserve(input(t, 'small', 10_000, 1_000_000))).toEqual({ ok: true })
    expect(await l.reserve(input(t, 'big', 10_001, 1_000_000))).toEqual({ ok: true })
    expect(l.slices()!.draws).toBe(1)
    expect(await admin.hget(tenantKeys(t).resvAmt, 'big')).toBe('total|10001')
    expect(await l.snapshot(t, 'total')).toEqual({ spentMicros: 0, reservedMicros: 50_001 })
    // Reserving it again does not draw it from a slice: still one reservation.
    expect(await l.reserve(input(t, 'big', 10_001, 1_000_000))).toEqual({ ok: true })
    expect(await l.snapshot(t, 'total')).toEqual({ spentMicros: 0, reservedMicros: 50_001 })
    expect(await l.reserve(input(t, 'small', 10_000, 1_000_000))).toEqual({ ok: true })
    expect(l.slices()!.draws).toBe(1)
  })

  test('an idle slice is given back; one with draws in flight keeps only them until they end', async () => {
    const l = await ledger(100_000, { sliceIdleMs: 0 })
    const t = uid('idle')
    expect(await l.reserve(input(t, 'a', 10_000, 1_000_000))).toEqual({ ok: true })
    await l.sweep()
    expect(await l.snapshot(t, 'total')).toEqual({ spentMicros: 0, reservedMicros: 10_000 }) // trimmed to a's draw
    expect(await settle(l, t, 'a', 4_000)).toEqual({ settled: true })
    expect(await l.snapshot(t, 'total')).toEqual({ spentMicros: 4_000, reservedMicros: 0 })
    await l.sweep()
    expect(l.slices()).toEqual({ slices: 0, draws: 0, heldMicros: 0 })
    expect(await admin.zcard(tenantKeys(t).resv)).toBe(0)
    expect(await admin.hlen(tenantKeys(t).resvAmt)).toBe(0)
  })

  test('close gives every slice back', async () => {
    const l = await ledger(100_000)
    const t = uid('close')
    expect(await l.reserve(input(t, 'a', 10_000, 1_000_000))).toEqual({ ok: true })
    expect(await settle(l, t, 'a', 3_000)).toEqual({ settled: true })
    await l.close()
    const spent = Number(await admin.get(tenantKeys(t).spent('total')))
    const reserved = Number(await admin.get(tenantKeys(t).reserved('total')) ?? 0)
    expect({ spent, reserved }).toEqual({ spent: 3_000, reserved: 0 })
  })

  test('three gateways on one Redis, 600 concurrent reserves of mixed sizes: what is admitted at once never passes the limit', async () => {
    const gateways = await Promise.all([ledger(50_000, { sliceIdleMs: 0 }), ledger(30_000, { sliceIdleMs: 0 }), ledger(80_000, { sliceIdleMs: 0 })])
    const t = uid('three')
    const L = 1_000_000
    const rnd = randomInt(11)
    const asks = Array.from({ length: 600 }, (_, i) => ({ g: gateways[i % 3]!, id: `r${i}`, amount: 1 + rnd(25_000) }))
    // Nothing settles until every reserve has answered: everything admitted is held at once.
    const rs = await Promise.all(asks.map(a => a.g.reserve(input(t, a.id, a.amount, L))))
    const admitted = asks.filter((_, i) => rs[i]!.ok)
    const held = admitted.reduce((s, a) => s + a.amount, 0)
    console.log(`[3 gateways, slices] admitted ${admitted.length}/600, holding ${held} of ${L}`)
    expect(held).toBeLessThanOrEqual(L)
    expect(admitted.length).toBeGreaterThan(0)
    // Strict: each costs at most what it reserved.
    const costs = admitted.map(a => rnd(a.amount + 1))
    await Promise.all(admitted.map((a, i) => settle(a.g, t, a.id, costs[i]!)))
    await Promise.all(gateways.map(g => g.sweep()))
    const spent = costs.reduce((a, b) => a + b, 0)
    expect(await gateways[0]!.snapshot(t, 'total')).toEqual({ spentMicros: spent, reservedMicros: 0 })
    expect(await admin.xlen(tenantKeys(t).ledger)).toBe(admitted.length)
  })

  test('three gateways, workers that reserve and settle in a loop until refused: spent ≤ limit, spent == Σ charged', async () => {
    const gateways = await Promise.all([ledger(50_000), ledger(50_000), ledger(50_000)])
    const t = uid('loop')
    const L = 2_000_000
    const rnd = randomInt(5)
    let charged = 0, admitted = 0, maxHeldAtOnce = 0, heldNow = 0
    await Promise.all(Array.from({ length: 90 }, async (_, w) => {
      const g = gateways[w % 3]!
      for (let i = 0, refusals = 0; refusals < 3; i++) {
        const amount = 1 + rnd(15_000)
        const id = `w${w}-${i}`
        const r = await g.reserve(input(t, id, amount, L))
        if (!r.ok) { refusals++; await Bun.sleep(1); continue }
        admitted++
        heldNow += amount
        maxHeldAtOnce = Math.max(maxHeldAtOnce, heldNow)
        await Bun.sleep(rnd(3))
        // Worst case every time: the tenant spends what it reserved, so the limit is reached exactly.
        const cost = amount
        heldNow -= amount
        if (i % 10 === 9) { await g.release(t, 'total', id); continue }
        await settle(g, t, id, cost)
        charged += cost
      }
    }))
    await Promise.all(gateways.map(g => g.close()))
    const spent = Number(await admin.get(tenantKeys(t).spent('total')))
    console.log(`[3 gateways, loop] admitted ${admitted}, spent ${spent} of ${L}`)
    expect(spent).toBe(charged)
    expect(spent).toBeLessThanOrEqual(L)
    expect(Number(await admin.get(tenantKeys(t).reserved('total')) ?? 0)).toBe(0)
  })

  test('Redis emptied while requests drawn from a slice are in flight: each is charged once, the slice put back', async () => {
    const l = await ledger(100_000, { sliceIdleMs: 0 })
    const t = uid('flush')
    for (const id of ['a', 'b', 'c']) expect(await l.reserve(input(t, id, 10_000, 1_000_000))).toEqual({ ok: true })
    await settle(l, t, 'a', 1_000)
    await admin.flushall()
    // The settle finds the tenant's epoch gone, recovers (the slice registered again with what it holds), then settles.
    expect(await settle(l, t, 'b', 2_000)).toEqual({ settled: true })
    // The rebuild sums the store, which is empty here (no durable store): a's record went with Redis.
    expect(await l.snapshot(t, 'total')).toEqual({ spentMicros: 2_000, reservedMicros: 80_000 })
    expect(await settle(l, t, 'c', 3_000)).toEqual({ settled: true })
    expect(await l.snapshot(t, 'total')).toEqual({ spentMicros: 5_000, reservedMicros: 70_000 })
    await l.sweep()
    expect(await l.snapshot(t, 'total')).toEqual({ spentMicros: 5_000, reservedMicros: 0 })
  })
})
