/**
 * Where the gateway's CPU goes: runs it from source under `bun --cpu-prof-md` behind the 0 ms fake upstream,
 * drives it with wrk, stops it (the profile is written at exit) and prints the top self-time functions.
 *
 *   bun bench/profile.ts [--ledger redis|memory] [--slices] [--mode json|stream] [-c 32] [-d 5] [--top 10] [--out DIR]
 *                        [--interval µs] [--heap]
 *   bun bench/profile.ts --save-all FILE     every case of the `profile` scenario, as JSON
 *
 * Redis is a throwaway instance; the store is the embedded one, as in the `cpu` scenario. The same runs are the
 * `profile` scenario of bench/run.ts, reported beside bench/profiles-before.json (the tree before the issue-10 work).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { startRedis } from '../test/helpers/redis.ts'
import { chatBody, jsonHeaders } from './lib/context.ts'
import type { BenchCtx } from './lib/context.ts'
import { seedEmbedded, startOurGateway, TMP, writeConfig } from './lib/gateway.ts'
import { ROOT, stopAll } from './lib/procs.ts'
import { startUpstream } from './lib/servers.ts'
import { findWrk, runWrk } from './wrk.ts'

export interface ProfileRow { selfPct: number; selfMs: number; name: string; where: string }

/**
 * The "self time" table of a `--cpu-prof-md` profile: rows `| self% | self | total% | total | function | location |`
 * under the heading that names self time (Bun 1.4's layout).
 */
export function topSelf(markdown: string, n: number): ProfileRow[] {
  const lines = markdown.split('\n')
  const start = lines.findIndex((l) => /^#+ .*self/i.test(l))
  const rows: ProfileRow[] = []
  for (const l of lines.slice(start + 1)) {
    if (/^#+ /.test(l) && rows.length) break
    const cells = l.split('|').map((c) => c.trim())
    if (cells.length < 7) continue
    const selfPct = parseFloat(cells[1]!)
    if (!Number.isFinite(selfPct)) continue
    rows.push({ selfPct, selfMs: parseFloat(cells[2]!), name: cells[5]!.replace(/`/g, ''), where: cells[6]!.replace(/`/g, '') })
    if (rows.length === n) break
  }
  return rows
}

/** `slices`: the Redis ledger with budget slices of $1 (`GATEWAY_BUDGET_SLICE_USD=1`). */
export interface ProfileCase { ledger: 'redis' | 'memory'; mode: 'json' | 'stream'; slices?: boolean }

export interface ProfileRun extends ProfileCase {
  concurrency: number
  durationS: number
  rps: number
  p50Ms: number
  p99Ms: number
  top: ProfileRow[]
}

export interface ProfilesResult {
  /** The commit whose src/ was profiled (git rev-parse HEAD, plus "+changes" if the tree was dirty). */
  commit: string
  runs: ProfileRun[]
}

/** The cases the bench profiles: both ledgers on JSON, and streams. */
export const PROFILE_CASES: readonly ProfileCase[] = [
  { ledger: 'redis', mode: 'json' }, { ledger: 'redis', mode: 'json', slices: true }, { ledger: 'memory', mode: 'json' }, { ledger: 'memory', mode: 'stream' },
]

/** A location relative to the repository (node_modules may be a link to another checkout's). */
const repoPath = (where: string): string => where.replace(ROOT, '').replace(/^\/.*?\/(node_modules|src)\//, '$1/')

function commitOf(): string {
  const rev = Bun.spawnSync(['git', 'rev-parse', '--short', 'HEAD'], { cwd: ROOT }).stdout.toString().trim() || 'unknown'
  const dirty = Bun.spawnSync(['git', 'status', '--porcelain', '--', 'src'], { cwd: ROOT }).stdout.toString().trim() !== ''
  return dirty ? `${rev}+changes` : rev
}

/**
 * One profiled run: the gateway from source under `bun --cpu-prof-md` (embedded store; strict budgets in the
 * given Redis, or the in-process ledger), 1 s of warm-up then `durationS` of wrk at `connections`, then the
 * top self-time functions of the profile written at exit.
 */
export async function profileOnce(c: ProfileCase, o: { redisUrl: string | null; connections?: number; durationS?: number; top?: number; out?: string; bunFlags?: string[] }): Promise<ProfileRun> {
  const wrk = findWrk()
  if ('missing' in wrk) throw new Error(wrk.missing)
  mkdirSync(TMP, { recursive: true })
  const out = o.out ?? mkdtempSync(`${TMP}/profile-`)
  mkdirSync(out, { recursive: true })
  const dataDir = mkdtempSync(`${TMP}/profile-data-`)
  const connections = o.connections ?? 32
  const durationS = o.durationS ?? 5
  try {
    const up = await startUpstream({ latencyMs: 0, chunks: 20, intervalMs: 0, fast: true })
    try {
      const config = writeConfig('profile', up.url)
      const key = seedEmbedded(dataDir, 'prof')
      const gw = await startOurGateway({ name: `gateway (profiled, ${c.ledger}${c.slices ? ' + slices' : ''}, ${c.mode})`, databaseUrl: null,
        redisUrl: c.ledger === 'redis' ? o.redisUrl : null, config, dataDir, profileDir: out, profileFlags: o.bunFlags,
        env: c.slices ? { GATEWAY_BUDGET_SLICE_USD: '1' } : {} })
      const spec = { url: `${gw.url}/v1/chat/completions`, headers: jsonHeaders(key), body: chatBody({ stream: c.mode === 'stream' }), connections }
      await runWrk(wrk.path, { ...spec, durationS: 1 })
      const r = await runWrk(wrk.path, { ...spec, durationS })
      await gw.stop()
      const file = readdirSync(out).filter((f) => f.startsWith('CPU') && f.endsWith('.md')).sort().pop()
      if (!file) throw new Error(`no profile written in ${out}:\n${gw.child.output().slice(-2000)}`)
      const top = topSelf(readFileSync(`${out}/${file}`, 'utf8'), o.top ?? 10).map((row) => ({ ...row, where: repoPath(row.where) }))
      return { ...c, concurrency: connections, durationS, rps: r.rps, p50Ms: r.p50Ms, p99Ms: r.p99Ms, top }
    } finally {
      await up.child.stop()
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
    if (!o.out) rmSync(out, { recursive: true, force: true })
  }
}

/** Scenario `profile`: every case of PROFILE_CASES, one after another. */
export async function profiles(ctx: BenchCtx): Promise<ProfilesResult> {
  const runs: ProfileRun[] = []
  for (const c of PROFILE_CASES) {
    const r = await profileOnce(c, { redisUrl: ctx.redisUrl, durationS: ctx.quick ? 2 : 5 })
    ctx.log(`  profile ${c.ledger}${c.slices ? '+slices' : ''} ${c.mode}: ${r.rps} req/s under the profiler; top: ${r.top.slice(0, 3).map((t) => `${t.name} ${t.selfPct}%`).join(', ')}`)
    runs.push(r)
  }
  return { commit: commitOf(), runs }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      ledger: { type: 'string', default: 'redis' }, mode: { type: 'string', default: 'json' },
      /** With --ledger redis: budget slices of $1. */
      slices: { type: 'boolean', default: false },
      c: { type: 'string', default: '32' }, d: { type: 'string', default: '5' }, top: { type: 'string', default: '10' },
      out: { type: 'string' },
      /** Sampling interval in µs (bun's default is 1000): finer for functions of a few µs per request. */
      interval: { type: 'string' },
      /** Also write a heap (allocation) profile in markdown beside the CPU one (bun --heap-prof-md). */
      heap: { type: 'boolean', default: false },
      /** Profile every case of PROFILE_CASES and write them as JSON (how bench/profiles-before.json was made). */
      'save-all': { type: 'string' },
    },
  })
  const redis = values.ledger === 'redis' || values['save-all'] ? await startRedis({ own: true }) : null
  try {
    if (values['save-all']) {
      const runs: ProfileRun[] = []
      for (const c of PROFILE_CASES) runs.push(await profileOnce(c, { redisUrl: redis!.url, durationS: Number(values.d) }))
      await Bun.write(values['save-all'], JSON.stringify({ commit: commitOf(), runs } satisfies ProfilesResult, null, 2) + '\n')
      console.log(`wrote ${values['save-all']}`)
    } else {
      const r = await profileOnce({ ledger: values.ledger as ProfileCase['ledger'], mode: values.mode as ProfileCase['mode'], slices: values.slices },
        { redisUrl: redis?.url ?? null, connections: Number(values.c), durationS: Number(values.d), top: Number(values.top), out: values.out,
          bunFlags: [...(values.interval ? [`--cpu-prof-interval=${values.interval}`] : []), ...(values.heap ? ['--heap-prof-md', `--heap-prof-dir=${values.out ?? TMP}`] : [])] })
      console.log(`${r.ledger} ${r.mode} c=${r.concurrency}: ${r.rps} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms (under the profiler)`)
      console.log('| self % | self ms | function | location |\n| --- | --- | --- | --- |')
      for (const row of r.top) console.log(`| ${row.selfPct} | ${row.selfMs} | ${row.name} | ${row.where} |`)
    }
  } finally {
    await stopAll()
    await redis?.stop()
  }
}
