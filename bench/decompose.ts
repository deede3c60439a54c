/**
 * Where the gateway's CPU per request goes, part by part: the gateway built with parts left out (temporary
 * switches in bench/ablation.patch, applied to a copy of src/ in bench/.tmp; never in the product), beside the
 * bare proxy and the Elysia metering floor (bench/floor-proxy.ts; with Redis also the floor running two one-command
 * scripts, and the floor running the gateway's own reserve.lua and settle.lua), all behind the 0 ms upstream, in
 * interleaved rounds under wrk at c=32 or -c N (each round starts at another target and every other round runs
 * backwards, so drifting machine load hits all alike). Reports medians over the rounds: req/s, its ratio to the bare
 * proxy's, CPU time per request of the serving process, of its main thread alone, and of Redis (with -c 1 also each
 * request's latency as the client timed it: p50, p99, the share over 1 ms); then, for the targets that use Redis, what
 * Redis spent per request by command (its `INFO commandstats`: each EVALSHA in all, and the commands the scripts ran
 * inside it, whose time is part of the EVALSHA's).
 *
 *   bun bench/decompose.ts [--mode json|stream] [--rounds 6] [-d 4] [-c 32] [--ledger memory,redis[,slices]]
 *                          [--variants ',ledger,budget,record+headers+deadline+budget'] [--warmup 8]
 *
 * `slices` is the Redis ledger with budget slices of $1, beside the floor that runs only settle.lua per request,
 * drawing from one slice. A variant is a '+'-joined list of switches (bench/ablation.patch names them); the empty one is the gateway as
 * shipped. The difference between two variants is what the parts left out cost. ~8 minutes with the defaults.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { startRedis } from '../test/helpers/redis.ts'
import { buildPatched } from './lib/ablation.ts'
import { chatBody, jsonHeaders } from './lib/context.ts'
import { seedEmbedded, startOurGateway, TMP, usageShipped, useGatewayBinary, writeConfig } from './lib/gateway.ts'
import { cpuTimeMs, stopAll } from './lib/procs.ts'
import { commandStats, redisServerPid } from './lib/redis-info.ts'
import { startBareProxy, startFloorProxy, startUpstream } from './lib/servers.ts'
import { median } from './lib/stats.ts'
import { findWrk, runWrk } from './wrk.ts'

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'json' }, rounds: { type: 'string', default: '6' }, d: { type: 'string', default: '4' },
    c: { type: 'string', default: '32' },
    ledger: { type: 'string', default: 'memory,redis' },
    variants: { type: 'string', default: ',ledger,budget,record+headers+deadline+budget' },
    warmup: { type: 'string', default: '8' },
  },
})
const mode = values.mode as 'json' | 'stream'
const connections = Number(values.c)
if (mode !== 'json' && mode !== 'stream') throw new Error('--mode is json or stream')
const wrk = findWrk()
if ('missing' in wrk) throw new Error(wrk.missing)

/** `redis`: it uses Redis (its commands are broken down); `redisTenant`: a gateway's tenant, whose records ship. */
interface Target { name: string; url: string; key: string; pid: number; redis?: boolean; redisTenant?: string }

// A fresh clone has no bench/.tmp yet.
mkdirSync(TMP, { recursive: true })
const dir = mkdtempSync(`${TMP}/decompose-`)
const redis = await startRedis({ own: true })
const admin = new Redis(redis.url)
try {
  const redisPid = await redisServerPid(admin)
  useGatewayBinary(buildPatched(dir))
  const up = await startUpstream({ latencyMs: 0, chunks: 20, intervalMs: 0, fast: true })
  const config = writeConfig('decompose', up.url)
  const bare = await startBareProxy(up.url)
  const floor = await startFloorProxy(up.url, { elysia: true })
  const targets: Target[] = [
    { name: 'bare proxy', url: bare.url, key: 'sk-bench-upstream', pid: bare.pid },
    { name: 'Elysia floor', url: floor.url, key: 'sk-bench-upstream', pid: floor.pid },
  ]
  const ledgers = values.ledger!.split(',')
  if (ledgers.includes('redis')) {
    // The round trips of a per-request budget without our ledger around them: two one-command scripts, then the
    // gateway's own reserve.lua and settle.lua with its keys and arguments.
    for (const budgetScripts of [false, true]) {
      const f = await startFloorProxy(up.url, { elysia: true, redisUrl: redis.url, budgetScripts })
      targets.push({ name: `Elysia floor + ${budgetScripts ? 'budget' : 'two one-command'} scripts`, url: f.url, key: 'sk-bench-upstream', pid: f.pid, redis: true })
    }
  }
  if (ledgers.includes('slices')) {
    const f = await startFloorProxy(up.url, { elysia: true, redisUrl: redis.url, budgetScripts: true, slice: true })
    targets.push({ name: 'Elysia floor + settle script (slice)', url: f.url, key: 'sk-bench-upstream', pid: f.pid, redis: true })
  }
  for (const ledger of ledgers) {
    for (const variant of values.variants!.split(',')) {
      const tenant = `dc-${ledger}-${variant.replace(/\W/g, '_') || 'shipped'}`
      const dataDir = mkdtempSync(`${dir}/data-`)
      const key = seedEmbedded(dataDir, tenant)
      const onRedis = ledger === 'redis' || ledger === 'slices'
      const env: Record<string, string> = { GW_ABL: variant, ...(ledger === 'slices' ? { GATEWAY_BUDGET_SLICE_USD: '1' } : {}) }
      const gw = await startOurGateway({ name: tenant, databaseUrl: null, redisUrl: onRedis ? redis.url : null, config, dataDir, env })
      targets.push({ name: `gateway ${ledger}${variant ? ` without ${variant}` : ''}`, url: gw.url, key, pid: gw.pid, redis: onRedis, redisTenant: onRedis ? tenant : undefined })
    }
  }
  const redisTenants = targets.flatMap((t) => (t.redisTenant ? [t.redisTenant] : []))
  const spec = (t: Target, durationS: number) =>
    ({ url: `${t.url}/v1/chat/completions`, headers: jsonHeaders(t.key), body: chatBody({ stream: mode === 'stream' }), connections, durationS })
  // Past the JIT compiler's first seconds (bench/cpu.ts's warm-up), at c=32 whatever the level measured.
  for (const t of targets) await runWrk(wrk.path, { ...spec(t, Number(values.warmup)), connections: 32 })
  const rows = new Map(targets.map((t) => [t.name, { rps: [] as number[], cpu: [] as number[], main: [] as number[], redis: [] as number[], p50: [] as number[], p99: [] as number[], over1: [] as number[] }]))
  /** Per target, one map per round: Redis command → calls and µs per request. */
  const commands = new Map<string, Map<string, { calls: number; usec: number }>[]>()
  for (let round = 0; round < Number(values.rounds); round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length]!)
    if (round % 2 === 1) order.reverse()
    for (const t of order) {
      // One target's usage records are shipped before the next one's cell, not during it.
      await usageShipped(admin, redisTenants, console.log)
      await runWrk(wrk.path, spec(t, 1))
      await admin.config('RESETSTAT')
      const [c0, m0, r0] = [cpuTimeMs(t.pid), cpuTimeMs(t.pid, t.pid), cpuTimeMs(redisPid)]
      const r = await runWrk(wrk.path, spec(t, Number(values.d)))
      const stats = await commandStats(admin)
      const per = (ms: number) => (ms / r.requests) * 1000
      if (t.redis) {
        // The admin connection's own CONFIG RESETSTAT is not the target's.
        const round = new Map<string, { calls: number; usec: number }>()
        for (const [cmd, v] of stats) if (!cmd.startsWith('config|')) round.set(cmd, { calls: v.calls / r.requests, usec: v.usec / r.requests })
        ;(commands.get(t.name) ?? commands.set(t.name, []).get(t.name)!).push(round)
      }
      const row = rows.get(t.name)!
      row.rps.push(r.rps)
      row.cpu.push(per(cpuTimeMs(t.pid) - c0))
      row.main.push(per(cpuTimeMs(t.pid, t.pid) - m0))
      row.redis.push(per(cpuTimeMs(redisPid) - r0))
      // With one connection wrk's script times each request (wrk.ts): the latency as the client saw it.
      if (r.raw) {
        row.p50.push(r.raw.p50Ms)
        row.p99.push(r.raw.p99Ms)
        row.over1.push((r.raw.over1Ms / r.raw.n) * 100)
      }
    }
  }
  const bareRps = median(rows.get('bare proxy')!.rps)
  const timed = rows.get('bare proxy')!.p99.length > 0
  console.log(`\n${mode}, c=${connections}, medians of ${values.rounds} rounds of ${values.d} s\n`)
  console.log(`| target | req/s | vs bare | CPU µs / req | main thread µs / req | Redis µs / req |${timed ? ' p50 / p99 ms | % over 1 ms | p99 by round |' : ''} req/s by round |`)
  console.log(`| --- | --- | --- | --- | --- | --- |${timed ? ' --- | --- | --- |' : ''} --- |`)
  for (const [name, r] of rows) {
    const latency = timed
      ? ` ${median(r.p50).toFixed(3)} / ${median(r.p99).toFixed(3)} | ${median(r.over1).toFixed(1)} | ${r.p99.map((x) => x.toFixed(2)).join(' / ')} |`
      : ''
    console.log(`| ${name} | ${Math.round(median(r.rps))} | ${(median(r.rps) / bareRps).toFixed(2)}× | ${median(r.cpu).toFixed(1)} | ${median(r.main).toFixed(1)} | ${median(r.redis).toFixed(1)} |${latency} ${r.rps.map(Math.round).join(' / ')} |`)
  }
  if (commands.size) {
    console.log('\nRedis by command, per request (medians; µs of the commands inside a script are also in its EVALSHA)\n')
    console.log('| target | command | calls | µs |')
    console.log('| --- | --- | --- | --- |')
    for (const [name, rounds] of commands) {
      // A command a round did not run counts 0 there; shown if it took at least 1% of Redis's CPU per request.
      const names = new Set(rounds.flatMap((m) => [...m.keys()]))
      const least = median(rows.get(name)!.redis) / 100
      const cells = [...names].map((cmd) => ({
        cmd, calls: median(rounds.map((m) => m.get(cmd)?.calls ?? 0)), usec: median(rounds.map((m) => m.get(cmd)?.usec ?? 0)),
      })).filter((c) => c.usec >= least).sort((a, b) => b.usec - a.usec)
      for (const c of cells) console.log(`| ${name} | ${c.cmd} | ${c.calls.toFixed(2)} | ${c.usec.toFixed(2)} |`)
    }
  }
} finally {
  admin.disconnect()
  await stopAll()
  await redis.stop()
  rmSync(dir, { recursive: true, force: true })
}
