/**
 * What the usage shipper costs Redis while one busy tenant's backlog ships among many idle tenants the gateway knows
 * of: a full sweep visits idle tenants one ship-read.lua each until its batch is full, so how often the sweeps come
 * under load is what this measures. `--records` records of one tenant are settled into its stream first, then the
 * shipper (batches of 100, one pass a second, a full sweep every 30 s: the gateway's own settings) ships them into a
 * store that counts them, from a cold start (whose first pass is a full sweep).
 * Prints the time to ship them all, the scripts Redis ran meanwhile (EVALSHA calls; an EVAL after a NOSCRIPT is not
 * counted) and Redis's CPU time (/proc, at 100 ticks a second). The busy tenant is the last one known, so the first
 * sweep walks every idle tenant before it; the backlog ships well within 30 s, so with sweeps spaced in time that
 * first one is the only one, while counted in passes (before) one came every 30th batch.
 *
 *   bun bench/shipper-sweeps.ts [--idle 5000] [--records 30000]
 */
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { startRedis } from '../test/helpers/redis.ts'
import { createRedisLedger } from '../src/budget/redis-ledger.ts'
import { createUsageShipper } from '../src/budget/usage-shipper.ts'
import { MAX_GROUP_RECORDS } from '../src/store/usage-writer.ts'
import { cpuTimeMs } from './lib/procs.ts'
import { commandStats, redisServerPid } from './lib/redis-info.ts'

const { values } = parseArgs({ options: { idle: { type: 'string', default: '5000' }, records: { type: 'string', default: '30000' } } })
const idle = Number(values.idle)
const records = Number(values.records)

const redis = await startRedis({ own: true })
const admin = new Redis(redis.url)
const ledger = await createRedisLedger({ url: redis.url, rebuild: async () => 0 })
try {
  const redisPid = await redisServerPid(admin)
  const busy = 'busy'
  await ledger.ensureCounter(busy, 'total')
  let settled = 0
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (settled < records) {
      settled++
      const id = Bun.randomUUIDv7()
      await ledger.settle({ tenantId: busy, periodKey: 'total', requestId: id, costMicros: 1, record: {
        requestId: id, tenantId: busy, keyId: 'k', model: 'm', provider: 'p', promptTokens: 1, completionTokens: 1,
        costUsdMicros: 1, status: 'ok', startedAt: Date.now(), durationMs: 1,
      } })
    }
  }))
  let stored = 0
  const shipper = createUsageShipper({
    client: ledger.client, store: { insertUsage: async (r) => void (stored += r.length) }, batchSize: MAX_GROUP_RECORDS, discover: false,
  })
  for (let t = 0; t < idle; t++) await shipper.addTenant(`idle-${t}`)
  await shipper.addTenant(busy)
  await admin.config('RESETSTAT')
  const cpu0 = cpuTimeMs(redisPid)
  const t0 = performance.now()
  shipper.start()
  while (stored < records) await Bun.sleep(5)
  const ms = performance.now() - t0
  await shipper.stop()
  const scripts = (await commandStats(admin)).get('evalsha')?.calls ?? 0
  console.log(`${records} records of one tenant among ${idle} idle ones shipped in ${ms.toFixed(0)} ms: ` +
    `${scripts} scripts, Redis CPU ${cpuTimeMs(redisPid) - cpu0} ms`)
} finally {
  await ledger.close()
  admin.disconnect()
  await redis.stop()
}
