/**
 * Where the gateway's CPU goes: runs it from source under `bun --cpu-prof-md` behind the 0 ms fake upstream,
 * drives it with wrk, stops it (the profile is written at exit) and prints the top self-time functions.
 *
 *   bun bench/profile.ts [--ledger redis|memory] [--mode json|stream] [-c 32] [-d 5] [--top 10] [--out DIR]
 *
 * Redis is a throwaway instance; the store is the embedded one, as in the `cpu` scenario.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { startRedis } from '../test/helpers/redis.ts'
import { chatBody, jsonHeaders } from './lib/context.ts'
import { seedEmbedded, startOurGateway, TMP, writeConfig } from './lib/gateway.ts'
import { stopAll } from './lib/procs.ts'
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

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      ledger: { type: 'string', default: 'redis' }, mode: { type: 'string', default: 'json' },
      c: { type: 'string', default: '32' }, d: { type: 'string', default: '5' }, top: { type: 'string', default: '10' },
      out: { type: 'string' },
    },
  })
  const wrk = findWrk()
  if ('missing' in wrk) throw new Error(wrk.missing)
  mkdirSync(TMP, { recursive: true })
  const out = values.out ?? mkdtempSync(`${TMP}/profile-`)
  mkdirSync(out, { recursive: true })
  const redis = values.ledger === 'redis' ? await startRedis({ own: true }) : null
  const dataDir = mkdtempSync(`${TMP}/profile-data-`)
  try {
    const up = await startUpstream({ latencyMs: 0, chunks: 20, intervalMs: 0, fast: true })
    const config = writeConfig('profile', up.url)
    const key = seedEmbedded(dataDir, 'prof')
    const gw = await startOurGateway({ name: 'gateway', databaseUrl: null, redisUrl: redis?.url ?? null, config, dataDir, profileDir: out })
    const spec = { url: `${gw.url}/v1/chat/completions`, headers: jsonHeaders(key), body: chatBody({ stream: values.mode === 'stream' }), connections: Number(values.c) }
    await runWrk(wrk.path, { ...spec, durationS: 1 })
    const r = await runWrk(wrk.path, { ...spec, durationS: Number(values.d) })
    await gw.stop()
    const file = readdirSync(out).filter((f) => f.endsWith('.md')).sort().pop()
    if (!file) throw new Error(`no profile written in ${out}:\n${gw.child.output().slice(-2000)}`)
    console.log(`${values.ledger} ${values.mode} c=${values.c}: ${r.rps} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, non-2xx ${r.non2xx}; profile ${out}/${file}`)
    console.log('| self % | self ms | function | location |\n| --- | --- | --- | --- |')
    for (const row of topSelf(readFileSync(`${out}/${file}`, 'utf8'), Number(values.top))) {
      console.log(`| ${row.selfPct} | ${row.selfMs} | ${row.name} | ${row.where} |`)
    }
  } finally {
    await stopAll()
    await redis?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}
