/** The Redis ledger against a throwaway redis-server: contract, exact totals under concurrency, outages. */
import { beforeAll, describe, expect, test } from 'bun:test'
import { Redis } from 'ioredis'
import { createRedisLedger } from '../../../src/budget/redis-ledger.ts'
import { tenantKeys } from '../../../src/budget/scripts.ts'
import { GatewayError } from '../../../src/errors.ts'
import { startRedis } from '../../helpers/redis.ts'
import { redisLedgers } from '../../helpers/redis-ledgers.ts'
import { ledgerContract, uid, usage } from '../../unit/budget/ledger-contract.ts'

const env = redisLedgers()
const ledger = env.ledger
let admin: Redis
beforeAll(() => { admin = env.admin })

ledgerContract('redis', async ({ rebuild, now }) => {
  const l = await ledger({ rebuild, now })
  return {
    ledger: l,
    async loseCounter(tenantId, periodKey) {
      await admin.del(tenantKeys(tenantId).spent(periodKey))
      return l
    },
    close: async () => {},
  }
})

const rand = (n: number) => Math.floor(Math.random() * n)

describe('redis ledger: exact totals under concurrency', () => {
  test('500 concurrent reserves at a limit admitting exactly K, then settles: spent == Σ actual, reserved == 0', async () => {
    const l = await ledger()
    const t = uid('conc')
    const K = 137, R = 1000
    const rs = await Promise.all(Array.from({ length: 500 }, (_, i) =>
      l.reserve({ tenantId: t, periodKey: 'total', limitMicros: K * R, requestId: `r${i}`, amountMicros: R, ttlMs: 60_000 })))
    const admitted = rs.flatMap((r, i) => (r.ok ? [i] : []))
    expect(admitted.length).toBe(K)
    const costs = admitted.map(() => rand(R + 1))
    await Promise.all(admitted.map((i, j) => l.settle({ tenantId: t, periodKey: 'total', requestId: `r${i}`, costMicros: costs[j], record: usage(t, `r${i}`, costs[j]) })))
    const snap = await l.snapshot(t, 'total')
    expect(snap).toEqual({ spentMicros: costs.reduce((a, b) => a + b, 0), reservedMicros: 0 })
    expect(snap.spentMicros).toBeLessThanOrEqual(K * R)
    expect(await admin.xlen(tenantKeys(t).ledger)).toBe(K)
  })

  for (const withScriptFlush of [false, true]) {
    test(`500 interleaved reserve→settle|release flows${withScriptFlush ? ' with SCRIPT FLUSH mid-run' : ''}: never over the limit, exact totals`, async () => {
      const l = await ledger()
      const t = uid('flow')
      const limit = 200_000
      let settledSum = 0, ok = 0, settledN = 0
      let maxSeen = 0
      const flow = async (i: number) => {
        await Bun.sleep(rand(20))
        const amount = 500 + rand(1500)
        const r = await l.reserve({ tenantId: t, periodKey: 'total', limitMicros: limit, requestId: `f${i}`, amountMicros: amount, ttlMs: 60_000 })
        if (!r.ok) return
        ok++
        await Bun.sleep(rand(5))
        if (Math.random() < 0.3) return l.release(t, 'total', `f${i}`)
        const cost = rand(amount + 1)
        const s = await l.settle({ tenantId: t, periodKey: 'total', requestId: `f${i}`, costMicros: cost, record: usage(t, `f${i}`, cost) })
        if (s.settled) { settledSum += cost; settledN++ }
      }
      const sampler = setInterval(async () => {
        const s = await l.snapshot(t, 'total').catch(() => null)
        if (s) maxSeen = Math.max(maxSeen, s.spentMicros + s.reservedMicros)
      }, 2)
      const flusher = withScriptFlush ? setTimeout(() => { admin.script('FLUSH').catch(() => {}) }, 10) : null
      await Promise.all(Array.from({ length: 500 }, (_, i) => flow(i)))
      clearInterval(sampler)
      if (flusher) clearTimeout(flusher)
      if (withScriptFlush) {
        await admin.script('FLUSH') // and once more for certain, then the next call must still work
        expect(await admin.script('EXISTS', '0000000000000000000000000000000000000000')).toEqual([0])
      }
      const snap = await l.snapshot(t, 'total')
      expect(snap).toEqual({ spentMicros: settledSum, reservedMicros: 0 })
      expect(snap.spentMicros).toBeLessThanOrEqual(limit)
      expect(maxSeen).toBeLessThanOrEqual(limit)
      expect(ok).toBeGreaterThan(100)
      expect(await admin.xlen(tenantKeys(t).ledger)).toBe(settledN)
      expect((await l.reserve({ tenantId: t, periodKey: 'total', limitMicros: limit, requestId: 'after', amountMicros: 1, ttlMs: 1000 })).ok).toBe(true)
    })
  }

  test('settle/release/reserve keys carry the tenant hash tag and the done set is pruned by time', async () => {
    let now = Date.now()
    const l = await ledger({ now: () => now, doneRetentionMs: 1000 })
    const t = uid('keys')
    await l.reserve({ tenantId: t, periodKey: 'total', limitMicros: 10, requestId: 'a', amountMicros: 1, ttlMs: 1000 })
    await l.settle({ tenantId: t, periodKey: 'total', requestId: 'a', costMicros: 1, record: usage(t, 'a', 1) })
    now += 2000
    await l.release(t, 'total', 'b')
    const keys = await admin.keys(`gw:{t:${t}}:*`)
    expect(keys.sort()).toEqual([`gw:{t:${t}}:done`, `gw:{t:${t}}:epoch`, `gw:{t:${t}}:ledger`, `gw:{t:${t}}:reserved:total`, `gw:{t:${t}}:spent:total`].sort())
    expect(await admin.zrange(`gw:{t:${t}}:done`, 0, -1)).toEqual(['b'])
    expect(await admin.sismember('gw:ledger:tenants', t)).toBe(1)
  })
})

describe('redis ledger: outages', () => {
  test('Redis down → budget_unavailable in < 1 s; works again after a restart without recreating the ledger', async () => {
    const own = await startRedis({ own: true })
    try {
      let rebuilds = 0
      const l = await createRedisLedger({ url: own.url, rebuild: async () => { rebuilds++; return 250 }, commandTimeoutMs: 400 })
      env.adopt(l)
      const t = uid('down')
      const input = (id: string) => ({ tenantId: t, periodKey: 'total', limitMicros: 1000, requestId: id, amountMicros: 500, ttlMs: 60_000 })
      expect((await l.reserve(input('a'))).ok).toBe(true)
      await own.kill()
      for (const id of ['b', 'c']) {
        const started = performance.now()
        const err = await l.reserve(input(id)).then(() => null, e => e)
        expect(err).toBeInstanceOf(GatewayError)
        expect((err as GatewayError).code).toBe('budget_unavailable')
        expect(performance.now() - started).toBeLessThan(1000)
      }
      await expect(l.settle({ tenantId: t, periodKey: 'total', requestId: 'a', costMicros: 1, record: usage(t, 'a', 1) })).rejects.toThrow(GatewayError)
      expect(l.holdings()).toMatchObject({ live: 1, pending: 1 }) // 'a' is still held, its settle kept for a retry
      await own.restart() // empty: the counter is gone and must be rebuilt from the store
      // The sweep retries the settle of 'a' once Redis answers: it recovers the tenant first (rebuild from the store,
      // 'a' registered again), then settles it, which charges its cost and lets its reservation go.
      const deadline = Date.now() + 5000
      while (l.holdings().pending > 0 && Date.now() < deadline) {
        await l.sweep()
        await Bun.sleep(50)
      }
      expect(l.holdings()).toMatchObject({ live: 0, pending: 0 })
      expect(await l.reserve(input('d'))).toEqual({ ok: true })
      expect(rebuilds).toBe(2)
      expect(await l.snapshot(t, 'total')).toEqual({ spentMicros: 251, reservedMicros: 500 })
    } finally {
      await own.stop()
    }
  })

  /** A ledger on its own Redis holding tenant `t`'s request 'a', whose settle (cost 7) failed because Redis died. */
  async function settleFailedThenStop(t: string) {
    const own = await startRedis({ own: true })
    const logs: Record<string, unknown>[] = []
    const l = await createRedisLedger({ url: own.url, rebuild: async () => 0, commandTimeoutMs: 300, sweepMs: 3_600_000, log: (e) => logs.push(e) })
    expect((await l.reserve({ tenantId: t, periodKey: 'total', limitMicros: 1000, requestId: 'a', amountMicros: 500, ttlMs: 60_000 })).ok).toBe(true)
    await own.kill()
    await expect(l.settle({ tenantId: t, periodKey: 'total', requestId: 'a', costMicros: 7, record: usage(t, 'a', 7) })).rejects.toThrow(GatewayError)
    expect(l.holdings()).toMatchObject({ pending: 1 })
    return { own, l, logs }
  }

  test('a settle that failed just before the stop is tried once more by close(), not dropped with the process', async () => {
    const t = uid('closing')
    const { own, l, logs } = await settleFailedThenStop(t)
    try {
      await own.restart() // back, and empty; no sweep runs before the stop
      await l.close()
      const check = new Redis(own.url)
      try {
        expect(await check.get(tenantKeys(t).spent('total'))).toBe('7')
        expect(await check.zscore(tenantKeys(t).done, 'a')).not.toBeNull()
      } finally {
        check.disconnect()
      }
      expect(logs.filter((e) => e.level === 'error')).toEqual([])
    } finally {
      await own.stop()
    }
  })

  test('a stop while Redis is still down says how many settles were not applied', async () => {
    const { own, l, logs } = await settleFailedThenStop(uid('closing-down'))
    try {
      await l.close()
      expect(logs).toContainEqual(expect.objectContaining({ level: 'error', pending: 1 }))
    } finally {
      await own.stop()
    }
  })

  test('rebuild failure (store down) → budget_unavailable, nothing admitted', async () => {
    const l = await ledger({ rebuild: async () => { throw new Error('postgres down') } })
    const t = uid('pgdown')
    const err = await l.reserve({ tenantId: t, periodKey: 'total', limitMicros: 1000, requestId: 'a', amountMicros: 1, ttlMs: 1000 }).catch(e => e)
    expect((err as GatewayError).code).toBe('budget_unavailable')
    expect(await admin.exists(tenantKeys(t).spent('total'), tenantKeys(t).reserved('total'))).toBe(0)
  })

  test('shipping lease held past the wait bound → the rebuild gives up with budget_unavailable, nothing admitted', async () => {
    let rebuilds = 0
    const l = await ledger({ rebuild: async () => { rebuilds++; return 0 }, leaseWaitMs: 150 })
    const t = uid('leasebusy')
    const lease = tenantKeys(t).shipLease
    await admin.set(lease, 'stuck-shipper', 'PX', 10_000)
    const started = performance.now()
    const err = await l.reserve({ tenantId: t, periodKey: 'total', limitMicros: 1000, requestId: 'a', amountMicros: 1, ttlMs: 1000 }).catch(e => e)
    expect((err as GatewayError).code).toBe('budget_unavailable')
    expect(performance.now() - started).toBeLessThan(1000)
    expect(rebuilds).toBe(0) // never guessed
    expect(await admin.get(lease)).toBe('stuck-shipper') // someone else's lease is never released by us
    await admin.del(lease)
    expect((await l.reserve({ tenantId: t, periodKey: 'total', limitMicros: 1000, requestId: 'a', amountMicros: 1, ttlMs: 1000 })).ok).toBe(true)
    expect(rebuilds).toBe(1)
    expect(await admin.exists(lease)).toBe(0) // the rebuild released its own lease
  })

  test('createRedisLedger fails fast when Redis is unreachable at boot', async () => {
    const started = performance.now()
    await expect(createRedisLedger({ url: 'redis://127.0.0.1:1', rebuild: async () => 0 })).rejects.toThrow(/cannot reach Redis/)
    expect(performance.now() - started).toBeLessThan(3000)
  })
})
