/**
 * For a test file of the Redis ledger: a throwaway Redis started before its tests, an admin connection to it (to
 * read keys, FLUSHALL, pause clients), and ledgers on it that are all closed after the file.
 */
import { afterAll, beforeAll } from 'bun:test'
import { Redis } from 'ioredis'
import { createRedisLedger, type RedisLedger, type RedisLedgerOptions } from '../../src/budget/redis-ledger.ts'
import { startRedis, type TestRedis } from './redis.ts'

export interface RedisLedgers {
  readonly redis: TestRedis
  readonly admin: Redis
  /** A ledger on the file's Redis: a rebuild that finds nothing stored and a 2 s command timeout unless `opts` say otherwise. */
  ledger(opts?: Partial<RedisLedgerOptions>): Promise<RedisLedger>
  /** Closes this ledger (on another Redis, say) after the file too. */
  adopt<L extends { close(): Promise<void> }>(l: L): L
}

export function redisLedgers(): RedisLedgers {
  let redis: TestRedis | undefined
  let admin: Redis | undefined
  const opened: { close(): Promise<void> }[] = []
  beforeAll(async () => {
    redis = await startRedis()
    admin = new Redis(redis.url)
  })
  afterAll(async () => {
    await Promise.allSettled(opened.map((l) => l.close()))
    admin?.disconnect()
    await redis?.stop()
  })
  return {
    get redis() { return redis! },
    get admin() { return admin! },
    async ledger(opts = {}) {
      const l = await createRedisLedger({ url: redis!.url, rebuild: async () => 0, commandTimeoutMs: 2000, ...opts })
      opened.push(l)
      return l
    },
    adopt(l) {
      opened.push(l)
      return l
    },
  }
}
