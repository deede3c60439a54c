/**
 * Two builds of the gateway side by side in one run: which one serves more, on the same machine at the same
 * time. Each build gets its own embedded store and its own tenant; both run behind the same 0 ms upstream; wrk
 * drives them in interleaved rounds (A B, B A, A B, …) so drifting machine load hits both alike.
 *
 * What one side leaves behind must not land on the other's cell: before each cell the usage records the Redis
 * gateways left in Redis are let drain (shipped), and each side serves its own tenant, so its shipper's frequent passes
 * (the tenants it settled for) ship only its own records (with one tenant for both, the side measured second shipped
 * the first one's backlog in its own cell; a full sweep, every 30th pass, may still visit the other's tenant). Each gateway
 * first serves --warmup seconds of load at c=32 in each mode (bench/cpu.ts's STEADY_WARMUP_S), past its JIT
 * compiler's first seconds. Without these and with A always first, an A/A run (one binary on both sides, 5 rounds,
 * JSON c=32) read B/A 0.98× req/s with Redis and 0.85× in-process (CPU 1.18×); with them, 1.00× and 0.98×.
 *
 *   bun bench/ab.ts --a OLD_BINARY [--b dist/gateway] [--rounds 4] [-d 4] [-c 32] [--mode json,stream] [--ledger redis,memory]
 *                   [--a-env K=V,…] [--b-env K=V,…] [--warmup 10]
 *
 * The same binary twice with different settings compares those: `--a dist/gateway --b-env GATEWAY_BUDGET_SLICE_USD=1`.
 *
 * Reports req/s, CPU ms per 1,000 requests and latency p50/p99 of each (median over rounds), for JSON and SSE, with strict
 * budgets in a throwaway Redis and with the in-process ledger. At -c 1 the latency is each request as timed (bench/wrk.ts
 * `raw`); above, wrk's own percentiles.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { Redis } from 'ioredis'
import { parseArgs } from 'node:util'
import { startRedis } from '../test/helpers/redis.ts'
import { STEADY_WARMUP_S } from './cpu.ts'
import { chatBody, jsonHeaders } from './lib/context.ts'
import { BINARY, envOf, seedEmbedded, startOurGateway, TMP, usageShipped, useGatewayBinary, writeConfig, type GatewayHandle } from './lib/gateway.ts'
import { cpuTimeMs, stopAll } from './lib/procs.ts'
import { startUpstream } from './lib/servers.ts'
import { median } from './lib/stats.ts'
import { findWrk, runWrk } from './wrk.ts'

const { values } = parseArgs({
  options: {
    a: { type: 'string' }, b: { type: 'string', default: BINARY },
    // Even, so each side runs first as often as the other.
    rounds: { type: 'string', default: '4' }, d: { type: 'string', default: '4' }, c: { type: 'string', default: '32' },
    mode: { type: 'string', default: 'json,stream' }, ledger: { type: 'string', default: 'redis,memory' },
    'a-env': { type: 'string', default: '' }, 'b-env': { type: 'string', default: '' },
    warmup: { type: 'string', default: String(STEADY_WARMUP_S) },
  },
})
if (!values.a) throw new Error('usage: bun bench/ab.ts --a OLD_BINARY [--b dist/gateway] [--rounds 4] [-d 4] [-c 32]')
const wrk = findWrk()
if ('missing' in wrk) throw new Error(wrk.missing)

const cpuMs = cpuTimeMs
/** Medians over the rounds; latency = request start → whole response read (wrk). */
interface Stats { rps: number; cpu: number; p50: number; p99: number }

const redis = await startRedis({ own: true })
const admin = new Redis(redis.url)
const dirs: string[] = []
try {
  const up = await startUpstream({ latencyMs: 0, chunks: 20, intervalMs: 0, fast: true })
  const config = writeConfig('ab', up.url)
  const gateways: Array<{ label: string; ledger: string; gw: GatewayHandle; key: string; tenant: string }> = []
  for (const [label, binary, env] of [['A', values.a, envOf(values['a-env']!)], ['B', values.b!, envOf(values['b-env']!)]] as const) {
    useGatewayBinary(binary)
    for (const ledger of ['redis', 'memory']) {
      const dir = mkdtempSync(`${TMP}/ab-`)
      dirs.push(dir)
      const tenant = `ab-${label.toLowerCase()}-${ledger}`
      const key = seedEmbedded(dir, tenant)
      const gw = await startOurGateway({ name: `${label} ${ledger}`, databaseUrl: null, redisUrl: ledger === 'redis' ? redis.url : null, config, dataDir: dir, env })
      gateways.push({ label, ledger, gw, key, tenant })
    }
  }
  console.log(`A = ${values.a} ${values['a-env']}\nB = ${values.b} ${values['b-env']}`)
  const redisTenants = gateways.filter((g) => g.ledger === 'redis').map((g) => g.tenant)
  const drained = () => usageShipped(admin, redisTenants, console.log)
  const spec = (g: (typeof gateways)[number], mode: 'json' | 'stream', connections: number) =>
    ({ url: `${g.gw.url}/v1/chat/completions`, headers: jsonHeaders(g.key), body: chatBody({ stream: mode === 'stream' }), connections })
  for (const mode of values.mode!.split(',') as Array<'json' | 'stream'>) {
    for (const g of gateways.filter((x) => values.ledger!.split(',').includes(x.ledger))) {
      await drained()
      await runWrk(wrk.path, { ...spec(g, mode, 32), durationS: Number(values.warmup) })
    }
    for (const ledger of values.ledger!.split(',')) {
      const rows: Record<string, { rps: number[]; cpu: number[]; p50: number[]; p99: number[] }> = {
        A: { rps: [], cpu: [], p50: [], p99: [] }, B: { rps: [], cpu: [], p50: [], p99: [] },
      }
      for (let round = 0; round < Number(values.rounds); round++) {
        const pair = gateways.filter((x) => x.ledger === ledger)
        for (const g of round % 2 === 0 ? pair : pair.reverse()) {
          const cell = spec(g, mode, Number(values.c))
          await drained()
          await runWrk(wrk.path, { ...cell, durationS: 1 })
          const c0 = cpuMs(g.gw.pid)
          const r = await runWrk(wrk.path, { ...cell, durationS: Number(values.d) })
          rows[g.label]!.rps.push(r.rps)
          // At c=1 each request as timed (wrk.ts `raw`), not wrk's percentiles with their made-up samples.
          rows[g.label]!.p50.push(r.raw?.p50Ms ?? r.p50Ms)
          rows[g.label]!.p99.push(r.raw?.p99Ms ?? r.p99Ms)
          rows[g.label]!.cpu.push(((cpuMs(g.gw.pid) - c0) / r.requests) * 1000)
        }
      }
      const [a, b] = [rows.A!, rows.B!].map((x) => ({ rps: median(x.rps), cpu: median(x.cpu), p50: median(x.p50), p99: median(x.p99) })) as [Stats, Stats]
      const show = (x: Stats) => `${x.rps} req/s ${x.cpu.toFixed(1)} CPU ms/1k p50/p99 ${x.p50}/${x.p99} ms`
      console.log(`${mode.padEnd(6)} ${ledger.padEnd(6)} c=${values.c}: A ${show(a)} | B ${show(b)} | B/A req/s ${(b.rps / a.rps).toFixed(2)}×, CPU ${(b.cpu / a.cpu).toFixed(2)}× (rounds: A ${rows.A!.rps.join('/')}, B ${rows.B!.rps.join('/')})`)
    }
  }
} finally {
  admin.disconnect()
  await stopAll()
  await redis.stop()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
}
