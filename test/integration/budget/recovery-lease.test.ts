/**
 * A recovery takes the shipping lease in the same round trip as its first reads. If one of those reads fails, the
 * lease is given back at once (not left to expire), and the failure is reported.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { Redis } from 'ioredis'
import { createRedisLedger, type RedisLedger } from '../../../src/budget/redis-ledger.ts'
import { tenantKeys } from '../../../src/budget/scripts.ts'
import { startRedis, type TestRedis } from '../../helpers/redis.ts'
import { uid } from '../../unit/budget/ledger-contract.ts'

let redis: TestRedis
let admin: Redis
let ledger: RedisLedger

beforeAll(async () => {
  redis = await startRedis()
  admin = new Redis(redis.url)
  ledger = await createRedisLedger({ url: redis.url, rebuild: async () => 0, commandTimeoutMs: 2000 })
})
afterAll(async () => {
  await ledger?.close()
  admin?.disconnect()
  await redis?.stop()
})

test('a read that fails right after the lease was taken: the error is reported and the lease is free again', async () => {
  const t = uid('lease')
  const k = tenantKeys(t)
  await admin.set(k.ledger, 'not a stream') // XRANGE on it fails with WRONGTYPE
  await expect(ledger.ensureCounter(t, 'total')).rejects.toThrow()
  expect(await admin.exists(k.shipLease)).toBe(0)
  // Once the stream is sane again the recovery goes through.
  await admin.del(k.ledger)
  expect(await ledger.ensureCounter(t, 'total')).toBe(0)
})
