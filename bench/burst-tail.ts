/**
 * Where the c=1 tail with Redis comes from (issue 10, target 2). The gateway's p99 at c=1 roughly doubles while its
 * usage shipper runs; every change to the shipper's own work tried inside the gateway (no insert, smaller passes,
 * paced passes, a read 3× cheaper in Redis) left it where it was. This puts the shipper, and plain bursts of work
 * of a known length, in a process of their own (bench/lib/side-load.ts) beside a gateway built without its shipper
 * (bench/ablation.patch, GW_ABL=ship), and measures the gateway's latency at c=1 as the client times it:
 *
 *   none                     nothing beside the gateway
 *   ship, batches of N       the usage shipper shipping the gateway's records (its reads and acks; the store keeps nothing)
 *   CPU N × µs               N bursts a second of µs each on the CPU: 1,000 µs bursts, and the same CPU in 500 and 200 µs ones
 *   Redis N × µs             N scripts a second, each holding Redis for µs
 *   the gateway as shipped   its own shipper, in its own process (another tenant, another gateway)
 *
 * Each cell starts with the tenant's stream shipped empty, then serves 1 s unmeasured while the side process starts;
 * rounds are interleaved, every other one backwards. The gateway as shipped has a Redis of its own: on a shared one
 * its shipper's sweeps would find the other gateway's tenant and ship its records in the middle of its cells.
 *
 *   bun bench/burst-tail.ts [--rounds 4] [-d 4] [--warmup 8]
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { startRedis } from '../test/helpers/redis.ts'
import { buildPatched } from './lib/ablation.ts'
import { chatBody, jsonHeaders } from './lib/context.ts'
import { seedEmbedded, startOurGateway, TMP, usageShipped, useGatewayBinary, writeConfig } from './lib/gateway.ts'
import { BUN, cpuTimeMs, spawnChild, stopAll, type Child } from './lib/procs.ts'
import { redisServerPid } from './lib/redis-info.ts'
import { startUpstream } from './lib/servers.ts'
import { median } from './lib/stats.ts'
import { findWrk, runWrk } from './wrk.ts'

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '4' }, d: { type: 'string', default: '4' }, warmup: { type: 'string', default: '8' } },
})
const durationS = Number(values.d)
const wrk = findWrk()
if ('missing' in wrk) throw new Error(wrk.missing)

interface Cell { name: string; side?: Record<string, string>; shipped?: boolean }
const CELLS: Cell[] = [
  { name: 'none' },
  { name: 'ship, batches of 100 (as the gateway)', side: { SIDE_KIND: 'ship', SIDE_BATCH: '100' } },
  { name: 'ship, batches of 20', side: { SIDE_KIND: 'ship', SIDE_BATCH: '20' } },
  { name: 'CPU 30/s × 1,000 µs', side: { SIDE_KIND: 'cpu', SIDE_PER_S: '30', SIDE_US: '1000' } },
  { name: 'CPU 60/s × 500 µs', side: { SIDE_KIND: 'cpu', SIDE_PER_S: '60', SIDE_US: '500' } },
  { name: 'CPU 150/s × 200 µs', side: { SIDE_KIND: 'cpu', SIDE_PER_S: '150', SIDE_US: '200' } },
  { name: 'Redis 30/s × 450 µs', side: { SIDE_KIND: 'redis', SIDE_PER_S: '30', SIDE_US: '450' } },
  { name: 'Redis 30/s × 150 µs', side: { SIDE_KIND: 'redis', SIDE_PER_S: '30', SIDE_US: '150' } },
  { name: 'the gateway as shipped (its own shipper)', shipped: true },
]

mkdirSync(TMP, { recursive: true })
const dir = mkdtempSync(`${TMP}/burst-tail-`)
const redis = await startRedis({ own: true })
const shippedRedis = await startRedis({ own: true })
const admin = new Redis(redis.url)
const shippedAdmin = new Redis(shippedRedis.url)
try {
  const redisPid = await redisServerPid(admin)
  useGatewayBinary(buildPatched(dir))
  const up = await startUpstream({ latencyMs: 0, chunks: 20, intervalMs: 0, fast: true })
  const config = writeConfig('burst-tail', up.url)
  const start = async (tenant: string, redisUrl: string, env: Record<string, string>) => {
    const dataDir = mkdtempSync(`${dir}/data-`)
    const key = seedEmbedded(dataDir, tenant)
    const gw = await startOurGateway({ name: tenant, databaseUrl: null, redisUrl, config, dataDir, env })
    return { tenant, spec: { url: `${gw.url}/v1/chat/completions`, headers: jsonHeaders(key), body: chatBody({ stream: false }) } }
  }
  const bare = await start('bt-without-shipper', redis.url, { GW_ABL: 'ship' })
  const shipped = await start('bt-shipped', shippedRedis.url, { GW_ABL: '' })
  const side = (env: Record<string, string>): Child =>
    spawnChild('side load', [BUN, 'bench/lib/side-load.ts'], { env: { ...(process.env as Record<string, string>), SIDE_REDIS: redis.url, SIDE_TENANT: bare.tenant, ...env } })
  /** Ships the shipper-less gateway's records with a side shipper, so each cell starts with its stream empty. */
  const drain = async () => {
    const shipper = side({ SIDE_KIND: 'ship' })
    try {
      await usageShipped(admin, [bare.tenant], console.log)
      await usageShipped(shippedAdmin, [shipped.tenant], console.log)
    } finally {
      await shipper.stop()
    }
  }
  for (const g of [bare, shipped]) await runWrk(wrk.path, { ...g.spec, connections: 32, durationS: Number(values.warmup) })
  const rows = new Map(CELLS.map((c) => [c.name, { p50: [] as number[], p99: [] as number[], over1: [] as number[], sideCpu: [] as number[], redisCpu: [] as number[] }]))
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const cell of round % 2 === 0 ? CELLS : [...CELLS].reverse()) {
      await drain()
      const load = cell.side ? side(cell.side) : null
      try {
        const spec = (cell.shipped ? shipped : bare).spec
        // Every cell alike: 1 s unmeasured, past the side process's start (Bun's, then its first pass).
        await runWrk(wrk.path, { ...spec, connections: 1, durationS: 1 })
        const c0 = load ? cpuTimeMs(load.proc.pid) : 0
        const r0 = cpuTimeMs(redisPid)
        const r = await runWrk(wrk.path, { ...spec, connections: 1, durationS })
        if (load && load.proc.exitCode !== null) throw new Error(`the side process of "${cell.name}" stopped:\n${load.output().slice(-2000)}`)
        if (!r.raw) throw new Error('wrk gave no per-request latencies at c=1')
        const row = rows.get(cell.name)!
        row.p50.push(r.raw.p50Ms)
        row.p99.push(r.raw.p99Ms)
        row.over1.push((r.raw.over1Ms / r.raw.n) * 100)
        if (load) row.sideCpu.push((cpuTimeMs(load.proc.pid) - c0) / durationS)
        if (!cell.shipped) row.redisCpu.push((cpuTimeMs(redisPid) - r0) / durationS)
      } finally {
        await load?.stop()
      }
    }
  }
  console.log(`\njson, c=1, strict budgets in Redis, medians of ${values.rounds} rounds of ${durationS} s\n`)
  // CPU from /proc in 10 ms ticks: over 4 s, ±2.5 ms/s. Redis's includes the gateway's own scripts (the "none" row).
  console.log('| beside the gateway | p50 / p99 ms | % over 1 ms | p99 by round | side process CPU ms/s | Redis CPU ms/s |')
  console.log('| --- | --- | --- | --- | --- | --- |')
  const ms = (xs: number[]) => (xs.length ? median(xs).toFixed(0) : '—')
  for (const [name, r] of rows) {
    console.log(`| ${name} | ${median(r.p50).toFixed(3)} / ${median(r.p99).toFixed(3)} | ${median(r.over1).toFixed(1)} | ${r.p99.map((x) => x.toFixed(2)).join(' / ')} | ${ms(r.sideCpu)} | ${ms(r.redisCpu)} |`)
  }
} finally {
  admin.disconnect()
  shippedAdmin.disconnect()
  await stopAll()
  await redis.stop()
  await shippedRedis.stop()
  rmSync(dir, { recursive: true, force: true })
}
