/**
 * Budget slices (src/budget/slices.ts) on a throwaway redis-server: requests admitted from a slice leased of the
 * tenant's budget, with the same guarantees as per-request reservations. Exact totals under concurrency, several
 * gateways (ledgers) on one Redis with no overrun, releases, give-back, recovery after Redis lost everything.
 */
import { beforeAll, describe, expect, test } from 'bun:test'
import type { Redis } from 'ioredis'
import type { RedisLedger, RedisLedgerOptions } from '../../../src/budget/redis-ledger.ts'
import { tenantKeys } from '../../../src/budget/scripts.ts'
import type { ReserveInput } from '../../../src/budget/types.ts'
import { createRedisLedger } from '../../../src/budget/redis-ledger.ts'
import { randomInt } from '../../helpers/prng.ts'
import { startRedis } from '../../helpers/redis.ts'
import { redisLedgers } from '../../helpers/redis-ledgers.ts'
import { uid, usage } from '../../unit/budget/ledger-contract.ts'

const env = redisLedgers()
let admin: Redis
beforeAll(() => { admin = env.admin })

/** A gateway's ledger with slices of `sliceMicros`; the sweep timer is left to the test (sweep()). */
const ledger = (sliceMicros: number, opts: Partial<RedisLedgerOptions> = {}): Promise<RedisLedger> =>
  env.ledger({ sweepMs: 3_600_000, sliceMicros, ...opts })

const input = (tenantId: string, requestId: string, amountMicros: number, limitMicros: number): ReserveInput =>
  ({ tenantId, periodKey: 'total', limitMicros, requestId, amountMicros, ttlMs: 7_200_000 })
const settle = (l: RedisLedger, tenantId: string, requestId: string, cost: number) =>
  l.settle({ tenantId, periodKey: 'total', requestId, costMicros: cost, record: usage(tenantId, requestId, cost) })
/** The tenant's counters as Redis has them, read through another connection. */
const inRedis = async (t: string) => ({
  spent: Number(await admin.get(tenantKeys(t).spent('total'))),
  reserved: Number((await admin.get(tenantKeys(t).reserved('total'))) ?? 0),
})

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
    const told: unknown[] = []
    const l = await ledger(100_000, { sliceIdleMs: 0, onSlices: (held) => told.push(held) })
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
    // What the metrics are told after each sweep.
    expect(told).toEqual([{ slices: 1, draws: 1, heldMicros: 10_000 }, { slices: 0, draws: 0, heldMicros: 0 }])
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
    // The settle finds the tenant's epoch gone and recovers: the slice is registered again for its draws in flight
    // only (b and c), and serves no more draws. Then b settles.
    expect(await settle(l, t, 'b', 2_000)).toEqual({ settled: true })
    // The rebuild sums the store, which is empty here (no durable store): a's record went with Redis.
    expect(await l.snapshot(t, 'total')).toEqual({ spentMicros: 2_000, reservedMicros: 10_000 })
    expect(await settle(l, t, 'c', 3_000)).toEqual({ settled: true })
    expect(await l.snapshot(t, 'total')).toEqual({ spentMicros: 5_000, reservedMicros: 0 })
    await l.sweep()
    expect(await l.snapshot(t, 'total')).toEqual({ spentMicros: 5_000, reservedMicros: 0 })
  })

  // ---- regressions found in review: each failed before its fix ----

  test('a lowered limit stops draws from a slice leased under the old one', async () => {
    const l = await ledger(100_000)
    const t = uid('lowered')
    expect(await l.reserve(input(t, 'a', 10_000, Number.MAX_SAFE_INTEGER))).toEqual({ ok: true }) // no budget yet
    await settle(l, t, 'a', 10_000)
    // The budget is set to $0.02: the next requests carry that limit.
    const admitted: string[] = []
    for (let i = 0; i < 9; i++) if ((await l.reserve(input(t, `b${i}`, 10_000, 20_000))).ok) admitted.push(`b${i}`)
    for (const id of admitted) await settle(l, t, id, 10_000)
    expect(admitted.length).toBe(1)
    expect((await inRedis(t)).spent).toBe(20_000)
  })

  test('Redis emptied under two gateways: a slice nobody confirmed since is not drawn from; the limit holds', async () => {
    const g1 = await ledger(400_000)
    const g2 = await ledger(0)
    const t = uid('flush-two')
    const L = 1_000_000
    expect(await g1.reserve(input(t, 'a', 100_000, L))).toEqual({ ok: true }) // g1 leases 400,000 (half of what is left: 500,000)
    await g1.release(t, 'total', 'a')
    expect(await inRedis(t)).toEqual({ spent: 0, reserved: 400_000 })
    await admin.flushall()
    expect(await g2.reserve(input(t, 'big', L, L))).toEqual({ ok: true }) // g2 recovers first and sees the budget free
    await Bun.sleep(300) // past CONFIRM_MS: g1 must ask Redis before it draws again, and finds the tenant's state lost
    const rs = await Promise.all(['b', 'c', 'd', 'e'].map(id => g1.reserve(input(t, id, 100_000, L))))
    expect(rs.filter(r => r.ok).length).toBe(0)
    await settle(g2, t, 'big', L)
    await g1.sweep()
    expect(await inRedis(t)).toEqual({ spent: L, reserved: 0 })
  })

  test('Redis emptied while a busy gateway draws: its next settle finds out, the slice is put back for its draws only', async () => {
    const l = await ledger(400_000, { sliceIdleMs: 0 })
    const t = uid('flush-busy')
    const L = 1_000_000
    for (const id of ['a', 'b']) expect(await l.reserve(input(t, id, 100_000, L))).toEqual({ ok: true })
    await admin.flushall()
    expect(await settle(l, t, 'a', 50_000)).toEqual({ settled: true }) // recovers first: the slice is registered again for b only
    expect(await inRedis(t)).toEqual({ spent: 50_000, reserved: 100_000 })
    expect(l.slices()).toEqual({ slices: 1, draws: 1, heldMicros: 100_000 })
    expect(await l.reserve(input(t, 'c', 100_000, L))).toEqual({ ok: true }) // from a new slice, leased against the limit
    expect(l.slices()!.slices).toBe(2)
    await settle(l, t, 'b', 100_000)
    await settle(l, t, 'c', 100_000)
    await l.sweep()
    expect(await inRedis(t)).toEqual({ spent: 250_000, reserved: 0 })
  })

  test('a slice whose reservation Redis no longer has (restored from an older snapshot) serves no more draws', async () => {
    const l = await ledger(400_000)
    const t = uid('snapshot')
    for (const id of ['a', 'b']) expect(await l.reserve(input(t, id, 100_000, 1_000_000))).toEqual({ ok: true })
    const [sliceId] = await admin.zrange(tenantKeys(t).resv, 0, -1)
    // What an older snapshot would not have: the slice (same epoch, so nothing else tells).
    await admin.hdel(tenantKeys(t).resvAmt, sliceId!)
    await admin.zrem(tenantKeys(t).resv, sliceId!)
    await admin.set(tenantKeys(t).reserved('total'), 0)
    expect(await settle(l, t, 'a', 100_000)).toEqual({ settled: true })
    expect(await l.reserve(input(t, 'c', 100_000, 1_000_000))).toEqual({ ok: true })
    // c came from a new slice, leased against the limit: Redis holds it.
    expect(await admin.zcard(tenantKeys(t).resv)).toBe(1)
    expect((await inRedis(t)).reserved).toBeGreaterThanOrEqual(100_000)
  })

  test('a lease whose reply timed out, though Redis ran it, is given back by the sweep', async () => {
    const l = await ledger(400_000, { commandTimeoutMs: 200, sliceIdleMs: 0 })
    const t = uid('lease-timeout')
    await l.ensureCounter(t, 'total')
    await admin.call('CLIENT', 'PAUSE', '600', 'WRITE')
    await expect(l.reserve(input(t, 'a', 1_000, 1_000_000))).rejects.toThrow('budget store unavailable')
    await Bun.sleep(800) // the pause is over: Redis ran the lease
    expect((await inRedis(t)).reserved).toBe(400_000)
    expect(l.holdings().pending).toBe(1)
    await l.sweep()
    expect(await inRedis(t)).toEqual({ spent: 0, reserved: 0 })
    expect(l.holdings().pending).toBe(0)
  })

  test('close() while a lease is on the wire gives that slice back too, but for the draw still in flight', async () => {
    const l = await ledger(400_000)
    const t = uid('close-race')
    await l.ensureCounter(t, 'total')
    await admin.call('CLIENT', 'PAUSE', '300', 'WRITE')
    const p = l.reserve(input(t, 'a', 1_000, 1_000_000))
    await Bun.sleep(20) // the lease is on the wire
    await l.close()
    expect(await p).toEqual({ ok: true })
    // a was admitted from the slice and has not ended (a drained gateway has none such): its draw stays held.
    expect(await inRedis(t)).toEqual({ spent: 0, reserved: 1_000 })
  })

  test('a settle Redis applied but whose reply timed out is retried by the sweep: the slice shrinks once', async () => {
    const l = await ledger(100_000, { commandTimeoutMs: 200, sliceIdleMs: 0 })
    const t = uid('retry')
    await l.ensureCounter(t, 'total')
    for (const id of ['a', 'b']) expect(await l.reserve(input(t, id, 10_000, 1_000_000))).toEqual({ ok: true })
    await admin.call('CLIENT', 'PAUSE', '500', 'WRITE')
    await expect(settle(l, t, 'a', 7_000)).rejects.toThrow()
    await Bun.sleep(650) // Redis has run the settle meanwhile
    expect(l.holdings().pending).toBe(1)
    await l.sweep() // retried ("already settled" means the first attempt went through); b still drawn, so trimmed to it
    expect(l.holdings().pending).toBe(0)
    expect(await inRedis(t)).toEqual({ spent: 7_000, reserved: 10_000 })
    expect(l.slices()).toEqual({ slices: 1, draws: 1, heldMicros: 10_000 })
    expect(await settle(l, t, 'b', 1_000)).toEqual({ settled: true })
    await l.sweep()
    expect(await inRedis(t)).toEqual({ spent: 8_000, reserved: 0 })
    expect(l.slices()).toEqual({ slices: 0, draws: 0, heldMicros: 0 })
  })

  test('no draw past a twelfth of the slice reservation\'s TTL: the next request leases a new slice', async () => {
    let clock = Date.now()
    const l = await ledger(100_000, { now: () => clock })
    const t = uid('window')
    expect(await l.reserve(input(t, 'a', 1_000, 1_000_000))).toEqual({ ok: true })
    const first = await admin.zrange(tenantKeys(t).resv, 0, -1)
    clock += 7_200_000 / 12
    expect(await l.reserve(input(t, 'b', 1_000, 1_000_000))).toEqual({ ok: true })
    const now = await admin.zrange(tenantKeys(t).resv, 0, -1)
    expect(now.filter(id => !first.includes(id)).length).toBe(1)
  })

  test('a settle given up after Redis stayed down too long: the slice is retired, and released whole once its draws end', async () => {
    const own = await startRedis({ own: true })
    try {
      // Retries are given up after half the exactly-once retention: 200 ms here.
      const l = env.adopt(await createRedisLedger({ url: own.url, rebuild: async () => 0, commandTimeoutMs: 200, sweepMs: 3_600_000,
        sliceMicros: 100_000, sliceIdleMs: 3_600_000, doneRetentionMs: 400 }))
      const t = uid('given-up')
      for (const id of ['a', 'b']) expect(await l.reserve(input(t, id, 10_000, 1_000_000))).toEqual({ ok: true })
      await own.kill()
      await expect(settle(l, t, 'a', 5_000)).rejects.toThrow('budget store unavailable')
      await Bun.sleep(300)
      await l.sweep() // a's settle is given up: whether Redis applied it is unknown, so no more draws from that slice
      expect(l.slices()).toEqual({ slices: 1, draws: 1, heldMicros: 100_000 })
      await own.restart() // back, and empty
      for (const until = Date.now() + 5_000; Date.now() < until; await Bun.sleep(50)) {
        if (await l.snapshot(t, 'total').then(() => true, () => false)) break // reconnected (its backoff is up to 1 s)
      }
      expect(await settle(l, t, 'b', 5_000)).toEqual({ settled: true })
      await l.sweep()
      expect(l.slices()).toEqual({ slices: 0, draws: 0, heldMicros: 0 })
      expect(await l.snapshot(t, 'total')).toEqual({ spentMicros: 5_000, reservedMicros: 0 })
    } finally {
      await own.stop()
    }
  })
})
