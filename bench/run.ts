#!/usr/bin/env bun
/**
 * The one benchmark command: `bun bench/run.ts` (or `npm run bench`).
 * Builds dist/gateway, starts throwaway Redis + Postgres, runs the scenarios one after another (each
 * starts and stops its own servers) and writes bench/RESULTS.md and bench/results.json.
 *
 *   --quick            fewer requests/streams/rounds (a smoke run, ~6 min)
 *   --only a,b         scenarios to run: overhead, cold-start, streams, budget-race, cpu, profile (the others keep
 *                      their figures from the previous results.json, marked with the run that measured them)
 *
 * `cpu` and `profile` drive the servers with wrk (`apt-get install -y wrk`); without it they fail with that message.
 *   --skip-build       reuse an existing dist/gateway
 *
 * Everything it starts is stopped at the end, on failure and on SIGINT/SIGTERM too.
 */
import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { startPostgres, type PgInstance } from '../test/helpers/postgres.ts'
import { startRedis, type TestRedis } from '../test/helpers/redis.ts'
import { budgetRace } from './budget-race.ts'
import { coldStart } from './cold-start.ts'
import { cpu } from './cpu.ts'
import type { BenchCtx } from './lib/context.ts'
import { BINARY, dbMigrate, TMP, useGatewayBinary } from './lib/gateway.ts'
import { ROOT, stopAll } from './lib/procs.ts'
import { overhead } from './overhead.ts'
import { profiles } from './profile.ts'
import { mergePrevious, writeReport, type BenchResults } from './report.ts'
import { streams } from './streams.ts'
import { findWrk } from './wrk.ts'

const SCENARIOS = { overhead, 'cold-start': coldStart, streams, 'budget-race': budgetRace, cpu, profile: profiles } as const
type Name = keyof typeof SCENARIOS
/**
 * Past this, remaining scenarios are skipped so the whole command stays under 22 minutes (a full run takes about 16:
 * the cpu scenario's steady-state warm-up is nearly 4 of them, the streams scenario's three rounds 3).
 */
const TOTAL_BUDGET_MS = 20 * 60_000

const { values } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, 'skip-build': { type: 'boolean', default: false } },
})
const only = (values.only?.split(',').map((s) => s.trim()) ?? Object.keys(SCENARIOS)) as Name[]
for (const n of only) if (!(n in SCENARIOS)) throw new Error(`unknown scenario "${n}" (one of ${Object.keys(SCENARIOS).join(', ')})`)
const command = ['bun bench/run.ts', ...(values.quick ? ['--quick'] : []), ...(values.only ? [`--only ${values.only}`] : []), ...(values['skip-build'] ? ['--skip-build'] : [])].join(' ')

if (only.includes('cpu') || only.includes('profile')) {
  const wrk = findWrk()
  if ('missing' in wrk) {
    console.error(`bench: scenarios "cpu" and "profile" need wrk. ${wrk.missing}`)
    process.exit(2)
  }
}

const t0 = performance.now()
const log = (line: string) => console.log(`[bench ${((performance.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${line}`)
let pg: PgInstance | null = null
let redis: TestRedis | null = null
let cleaning: Promise<void> | null = null
const cleanup = () => (cleaning ??= (async () => {
  await stopAll()
  await redis?.stop().catch(() => {})
  await pg?.stop().catch(() => {})
})())
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`${sig}: stopping everything`)
    cleanup().finally(() => process.exit(130))
  })
}

const results: BenchResults = {
  command, startedAt: new Date().toISOString(), quick: values.quick!, machine: machine(), scenarios: {}, skipped: {}, totalMs: 0,
}

try {
  if (values['skip-build'] && existsSync(BINARY)) log('reusing dist/gateway')
  else build()
  ;[pg, redis] = await Promise.all([startPostgres(), startRedis({ own: true })])
  log(`postgres ${pg.url}, redis ${redis.url}`)
  dbMigrate(pg.url, redis.url)
  const ctx: BenchCtx = { databaseUrl: pg.url, redisUrl: redis.url, quick: values.quick!, log }
  for (const name of only) {
    if (performance.now() - t0 > TOTAL_BUDGET_MS) {
      results.skipped[name] = 'time budget of the run exhausted'
      log(`${name}: skipped (time budget)`)
      continue
    }
    log(`${name}: start`)
    const s0 = performance.now()
    try {
      ;(results.scenarios as Record<string, unknown>)[name] = await SCENARIOS[name](ctx)
    } catch (e) {
      results.skipped[name] = `failed: ${String((e as Error).stack ?? e).slice(0, 1500)}`
      log(`${name}: FAILED ${String(e).slice(0, 500)}`)
      await stopAll() // the scenario's servers; the stores stay for the next scenario
    }
    log(`${name}: done in ${((performance.now() - s0) / 1000).toFixed(1)} s`)
  }
} finally {
  await cleanup()
  results.totalMs = Math.round(performance.now() - t0)
  results.machine.loadAvgAfter = loadAvg()
  await mergePrevious(results)
  const files = await writeReport(results)
  log(`wrote ${files.join(', ')} (total ${(results.totalMs / 1000).toFixed(1)} s)`)
}
process.exit(Object.keys(results.skipped).some((k) => results.skipped[k]!.startsWith('failed')) ? 1 : 0)

/**
 * ./build.sh → dist/gateway. If it fails, the same `bun build --compile` with `--format=esm` (top-level
 * await needs it under --bytecode) goes to bench/.tmp/gateway instead, and the report says so loudly.
 */
function build(): void {
  log('building dist/gateway (./build.sh)')
  const b = Bun.spawnSync([`${ROOT}build.sh`], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
  if (b.exitCode === 0) {
    log(b.stdout.toString().trim().split('\n').pop() ?? 'built')
    results.build = { binary: 'dist/gateway', via: './build.sh' }
    return
  }
  const why = (b.stderr.toString() + b.stdout.toString()).trim().split('\n').filter((l) => /error/i.test(l)).slice(0, 3).join(' | ')
  log(`./build.sh FAILED (${why}); falling back to --format=esm into bench/.tmp/gateway`)
  const out = `${TMP}/gateway`
  const f = Bun.spawnSync([`${ROOT}node_modules/.bin/bun`, 'build', '--compile', '--minify', '--bytecode', '--format=esm', '--sourcemap=none',
    'src/main.ts', 'src/store/usage-writer-worker.ts', '--outfile', out], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
  if (f.exitCode !== 0) throw new Error(`./build.sh failed (${why}) and so did the fallback build:\n${f.stderr.toString()}`)
  useGatewayBinary(out)
  results.build = { binary: 'bench/.tmp/gateway', via: 'fallback: bun build --compile --minify --bytecode --format=esm', buildShError: why }
}

function machine() {
  const os = require('node:os') as typeof import('node:os')
  return { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '?', memGiB: Math.round(os.totalmem() / 2 ** 30), bun: Bun.version, kernel: os.release(),
    loadAvgBefore: loadAvg(), loadAvgAfter: '' }
}

/** 1-minute load average: anything else busy on the 2 cores during the run shows up here. */
function loadAvg(): string {
  return (require('node:os') as typeof import('node:os')).loadavg()[0]!.toFixed(2)
}
