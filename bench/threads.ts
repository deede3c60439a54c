/**
 * CPU per request, thread by thread, of several gateway builds (or settings) side by side: which one does less
 * work on the thread that bounds it, the request thread. Give each build twice (`--bin A --bin B --bin A --bin B`)
 * and read the A/A beside the A/B: on the seventeenth VM two copies of one build read 0.95–1.00× of each other
 * (medians of 8 rounds; single rounds 0.67–1.35× at its noisiest hour), so no difference below ~5% was a finding
 * there (bench/RESULTS.md).
 *
 *   bun bench/threads.ts --bin A [--bin B …] [--env 'K=V,…' …] [--rounds N] [-d 5] [--mode json|stream] [--ledger memory|redis]
 *
 * `--env` goes with the `--bin` of the same position (`--env ''` for none). Beside the gateways it runs the bare proxy and
 * the Elysia metering floor (floor-proxy.ts), for scale. Each target serves 8 s at c=32 first (past its JIT compiler's
 * first seconds), then each round drives every target for `-d` seconds at c=32 and reads each thread's CPU time from
 * /proc before and after: per request, by thread name ("HTTP Client" is fetch's thread, "Worker" the usage writer,
 * the process's own name its request thread), and with `--ledger redis` Redis's own CPU in the gateways' cells
 * ("redis", its process's CPU in /proc, as in decompose.ts): it runs on the same cores, and what a settle costs there
 * is part of what the gateway costs. The order is rotated by one each round, so that over `--rounds` (default: as
 * many as there are targets) each target runs once in each place; its predecessor mostly stays the same. With
 * `--ledger redis` the usage records the gateways left in Redis are let drain before each cell, as in ab.ts. The
 * summary gives each target's median, and its ratio to the first `--bin` taken round by round, then the median of
 * those.
 *
 * What one part of the gateway costs where it runs: the gateway as shipped first (the ratios' reference), then the build
 * of bench/ablation.patch (`bun bench/lib/ablation.ts` prints its path) with `--env ''` (its A/A against the first)
 * and with `--env GW_DUP=<part>`, which does that part twice. The difference is the part's cost in the serving process;
 * the larger parts cost 2–3× what they cost in a loop there, the smaller ones are within the spread (bench/RESULTS.md).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { Redis } from 'ioredis'
import { parseArgs } from 'node:util'
import { startRedis, type TestRedis } from '../test/helpers/redis.ts'
import { chatBody, jsonHeaders } from './lib/context.ts'
import { envOf, seedEmbedded, startOurGateway, TMP, usageShipped, useGatewayBinary, writeConfig } from './lib/gateway.ts'
import { cpuTimeMs, stopAll } from './lib/procs.ts'
import { redisServerPid } from './lib/redis-info.ts'
import { startBareProxy, startFloorProxy, startUpstream } from './lib/servers.ts'
import { median } from './lib/stats.ts'
import { findWrk, runWrk } from './wrk.ts'

const { values } = parseArgs({
  options: {
    bin: { type: 'string', multiple: true }, env: { type: 'string', multiple: true },
    rounds: { type: 'string' }, d: { type: 'string', default: '5' },
    mode: { type: 'string', default: 'json' }, ledger: { type: 'string', default: 'memory' },
  },
})
if (!values.bin?.length) throw new Error('usage: bun bench/threads.ts --bin A [--bin B …] [--env K=V,… …] [--rounds N] [-d 5] [--mode json|stream] [--ledger memory|redis]')
const wrk = findWrk()
if ('missing' in wrk) throw new Error(wrk.missing)

interface Target { name: string; url: string; pid: number; key: string }
/** CPU ms so far of each thread of `pid`, by thread id, with its name (a thread that ended meanwhile is left out). */
function threads(pid: number): Map<string, { name: string; ms: number }> {
  const out = new Map<string, { name: string; ms: number }>()
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ms = cpuTimeMs(pid, Number(tid))
      if (Number.isFinite(ms)) out.set(tid, { name: readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim(), ms })
    } catch {}
  }
  return out
}

const dirs: string[] = []
let redis: TestRedis | null = null
let admin: Redis | null = null
try {
  const up = await startUpstream({ latencyMs: 0, chunks: 20, intervalMs: 0, fast: true })
  redis = values.ledger === 'redis' ? await startRedis({ own: true }) : null
  admin = redis ? new Redis(redis.url) : null
  const redisPid = admin ? await redisServerPid(admin) : null
  const targets: Target[] = []
  const tenants: string[] = []
  /** The usage records a Redis gateway left are shipped before the next cell, so their shipping is not in it. */
  const drained = () => (admin ? usageShipped(admin, tenants, console.log) : Promise.resolve())
  const bare = await startBareProxy(up.url)
  targets.push({ name: 'bare', url: bare.url, pid: bare.pid, key: 'unused' })
  const floor = await startFloorProxy(up.url, { elysia: true })
  targets.push({ name: 'floor-elysia', url: floor.url, pid: floor.pid, key: 'unused' })
  const config = writeConfig('threads', up.url)
  for (const [i, bin] of values.bin.entries()) {
    useGatewayBinary(bin)
    const dir = mkdtempSync(`${TMP}/threads-`)
    dirs.push(dir)
    const key = seedEmbedded(dir, `threads-${i}`)
    // With GW_DUP=budget (bench/ablation.patch) its shadow tenant's records ship too; a stream never written reads empty.
    tenants.push(`threads-${i}`, `threads-${i}-shadow`)
    const spec = values.env?.[i] ?? ''
    const gw = await startOurGateway({ name: `gw${i}`, databaseUrl: null, redisUrl: redis?.url ?? null, config, dataDir: dir, env: envOf(spec) })
    targets.push({ name: `gw${i} ${bin}${spec ? ` ${spec}` : ''}`, url: gw.url, pid: gw.pid, key })
  }
  const body = chatBody({ stream: values.mode === 'stream' })
  const cell = (t: Target, durationS: number) => ({ url: `${t.url}/v1/chat/completions`, headers: jsonHeaders(t.key), body, connections: 32, durationS })
  for (const t of targets) {
    await drained()
    await runWrk(wrk.path, cell(t, 8))
  }

  const main: Record<string, number[]> = {}
  const total: Record<string, number[]> = {}
  const rounds = Number(values.rounds ?? targets.length)
  for (let r = 0; r < rounds; r++) {
    // A place of its own in the order biased a target by up to ~5% on the seventeenth VM.
    for (const t of targets.map((_, i) => targets[(i + r) % targets.length]!)) {
      await drained()
      const byName: Record<string, number> = {}
      const before = threads(t.pid)
      const redisBefore = redisPid === null ? 0 : cpuTimeMs(redisPid)
      const res = await runWrk(wrk.path, cell(t, Number(values.d)))
      // Redis shares the cores: its CPU a request is part of what a Redis gateway costs (the floors use none).
      if (redisPid !== null && t.name.startsWith('gw')) byName.redis = cpuTimeMs(redisPid) - redisBefore
      for (const [tid, now] of threads(t.pid)) byName[now.name] = (byName[now.name] ?? 0) + now.ms - (before.get(tid)?.ms ?? 0)
      const perReq = (ms: number) => (ms / res.requests) * 1000
      ;(main[t.name] ??= []).push(perReq(cpuTimeMs(t.pid, t.pid) - before.get(String(t.pid))!.ms))
      ;(total[t.name] ??= []).push(perReq(Object.values(byName).reduce((a, b) => a + b, 0)))
      const shown = Object.entries(byName).filter(([, ms]) => perReq(ms) >= 0.5).sort((a, b) => b[1] - a[1])
      console.log(`round ${r + 1} ${t.name}: ${Math.round(res.rps)} req/s, µs a request: ${shown.map(([n, ms]) => `${n} ${perReq(ms).toFixed(1)}`).join(', ')}`)
    }
  }
  const ref = targets[2]!.name
  const ratios = (xs: Record<string, number[]>, n: string) => xs[n]!.map((x, i) => x / xs[ref]![i]!)
  console.log(`\nc=32 ${values.mode}, ${values.ledger} ledger, ${rounds} rounds of ${values.d} s; ratios to ${ref}, round by round`)
  for (const t of targets) {
    const m = ratios(main, t.name)
    console.log(`${t.name}: request thread ${median(main[t.name]!).toFixed(1)} µs a request (${median(m).toFixed(3)}×: ${m.map((x) => x.toFixed(2)).join(' ')}), ` +
      `all threads${admin && t.name.startsWith('gw') ? ' and Redis' : ''} ${median(total[t.name]!).toFixed(1)} µs (${median(ratios(total, t.name)).toFixed(3)}×)`)
  }
} finally {
  admin?.disconnect()
  await stopAll()
  await redis?.stop()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
}
