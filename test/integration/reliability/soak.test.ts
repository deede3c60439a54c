/**
 * Soak: mixed load against a gateway process on Redis + Postgres (streams, plain completions, upstream 5xx,
 * refused upstream connections, bad keys, bad JSON, unknown models, client disconnects mid-stream), sampling
 * the gateway's RSS from /proc/<pid>/status. At the end: zero leaked reservations, ledger rows == settled
 * requests, exit 0 on SIGTERM, and no unbounded RSS growth (last-third average < 2× first-third average).
 *
 * SOAK_SECONDS sets the duration (default 20: the CI variant); bench/ runs it with SOAK_SECONDS=120.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { startFakeUpstream, type FakeUpstream } from '../../helpers/fake-upstream.ts'
import { spawnGateway, type GatewayProcess } from '../../helpers/gateway-process.ts'
import { startPostgres, type PgInstance } from '../../helpers/postgres.ts'
import { freePort } from '../../helpers/ports.ts'
import { startRedis, type TestRedis } from '../../helpers/redis.ts'
import {
  chatBody, cleanupTempDirs, createKey, createTenant, gatewayToml, postChat, PROVIDER_KEY, reservedInRedis, rssKb,
  sseData, usageRows, waitUntil, writeToml, type Env,
} from './lib.ts'

const SECONDS = Math.max(1, Number(process.env.SOAK_SECONDS ?? 20))
const WORKERS = Math.max(1, Number(process.env.SOAK_WORKERS ?? 8))
const TENANT = `soak-${process.pid}`

let pg: PgInstance
let redis: TestRedis
let fake: FakeUpstream
let broken: ReturnType<typeof Bun.serve>
let gw: GatewayProcess
let env: Env
let key: string

beforeAll(async () => {
  ;[pg, redis, fake] = await Promise.all([startPostgres(), startRedis(), startFakeUpstream({ record: false, defaults: { latencyMs: 5, chunks: 8, intervalMs: 10 } })])
  // An upstream that always fails with an HTML 500, and one where nothing listens (connection refused).
  broken = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('<html>oops</html>', { status: 500, headers: { 'content-type': 'text/html' } }) })
  const dead = `http://127.0.0.1:${await freePort()}`
  env = { DATABASE_URL: pg.url, REDIS_URL: redis.url, UP_KEY: PROVIDER_KEY }
  await createTenant(env, TENANT) // unlimited: every admitted request is served
  key = (await createKey(env, TENANT)).key
  const toml = gatewayToml({ upstreamUrl: fake.url, timeoutMs: 2000, extraUpstreams: { 'm-500': `http://127.0.0.1:${broken.port}`, 'm-dead': dead } })
  gw = await spawnGateway(['serve', '--config', writeToml(toml)], { env })
  await gw.waitReady()
})

afterAll(async () => {
  await gw?.stop('SIGKILL')
  broken?.stop(true)
  await Promise.all([fake?.stop(), redis?.stop(), pg?.stop()])
  cleanupTempDirs()
})

type Kind = 'plain' | 'stream' | 'disconnect' | 'upstream500' | 'upstreamDead' | 'badKey' | 'badJson' | 'unknownModel'
const MIX: Kind[] = ['plain', 'stream', 'stream', 'disconnect', 'plain', 'upstream500', 'stream', 'upstreamDead', 'badKey', 'disconnect', 'badJson', 'unknownModel']
const EXPECTED: Record<Kind, number> = {
  plain: 200, stream: 200, disconnect: 200, upstream500: 502, upstreamDead: 502, badKey: 401, badJson: 400, unknownModel: 404,
}

/** One request of a kind; returns true when it was settled (a usage record must exist for it). */
async function run(kind: Kind): Promise<{ settled: boolean; problem: string | null }> {
  const signal = AbortSignal.timeout(15_000)
  switch (kind) {
    case 'plain':
    case 'stream': {
      const res = await postChat(gw.url, key, chatBody(kind === 'stream' ? { stream: true } : {}), { signal })
      const text = await res.text()
      if (res.status !== 200) return { settled: false, problem: `${kind}: ${res.status} ${text.slice(0, 200)}` }
      if (kind === 'stream' && sseData(text).at(-1) !== '[DONE]') return { settled: true, problem: `stream did not end with [DONE]: ${text.slice(-200)}` }
      return { settled: true, problem: null }
    }
    case 'disconnect': {
      const ctl = new AbortController()
      const res = await postChat(gw.url, key, chatBody({ stream: true }), { signal: AbortSignal.any([ctl.signal, signal]) })
      if (res.status !== 200) return { settled: false, problem: `disconnect: ${res.status}` }
      const reader = res.body!.getReader()
      await reader.read() // the stream has started: the gateway must settle it, whatever happens next
      ctl.abort()
      await reader.cancel().catch(() => {})
      return { settled: true, problem: null }
    }
    default: {
      const body = kind === 'badJson' ? '{"model": "m", "messages": [' : chatBody({}, kind === 'upstream500' ? 'm-500' : kind === 'upstreamDead' ? 'm-dead' : kind === 'unknownModel' ? 'no-such-model' : 'm')
      const res = await postChat(gw.url, kind === 'badKey' ? 'gw_not-a-real-key-000000000000000' : key, body, { signal })
      const text = await res.text()
      if (res.status !== EXPECTED[kind]) return { settled: false, problem: `${kind}: expected ${EXPECTED[kind]}, got ${res.status} ${text.slice(0, 200)}` }
      const err = JSON.parse(text).error
      if (!err || typeof err.code !== 'string' || err.request_id !== res.headers.get('x-request-id')) return { settled: false, problem: `${kind}: bad envelope ${text}` }
      return { settled: false, problem: null }
    }
  }
}

test(`soak ${SECONDS}s × ${WORKERS} workers: no leaked reservation, rows == settled, bounded RSS, clean exit`, async () => {
  const pid = gw.proc.pid
  const rss: number[] = []
  const sampler = setInterval(() => {
    const v = rssKb(pid)
    if (v !== null) rss.push(v)
  }, 250)
  const counts = Object.fromEntries(MIX.map((k) => [k, 0])) as Record<Kind, number>
  const problems: string[] = []
  let settled = 0
  const deadline = Date.now() + SECONDS * 1000
  try {
    await Promise.all(Array.from({ length: WORKERS }, async (_, w) => {
      for (let i = w; Date.now() < deadline && i < 1_000_000; i++) {
        const kind = MIX[i % MIX.length]!
        counts[kind]++
        try {
          const r = await run(kind)
          if (r.settled) settled++
          if (r.problem && problems.length < 20) problems.push(r.problem)
        } catch (e) {
          if (problems.length < 20) problems.push(`${kind}: ${String(e)}`)
        }
      }
    }))
  } finally {
    clearInterval(sampler)
  }
  const total = Object.values(counts).reduce((a, b) => a + b, 0)
  const third = Math.floor(rss.length / 3)
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
  const firstThird = avg(rss.slice(0, third))
  const lastThird = avg(rss.slice(rss.length - third))
  console.log('soak:', JSON.stringify({ seconds: SECONDS, workers: WORKERS, total, settled, counts, rss_kb: { first_third: Math.round(firstThird), last_third: Math.round(lastThird), max: Math.max(...rss), samples: rss.length } }))

  expect(problems).toEqual([])
  expect(gw.proc.exitCode).toBeNull()
  expect(total).toBeGreaterThan(SECONDS * 10)
  expect(third).toBeGreaterThan(1)
  expect(lastThird).toBeLessThan(2 * firstThird)

  // Zero leaked reservations once the load is over (client disconnects settle asynchronously: bounded wait).
  const resv = await waitUntil('reservations to drain', async () => {
    const r = await reservedInRedis(redis.url, TENANT)
    return r.micros === 0 && r.open === 0 ? r : null
  }, 10_000).catch(() => reservedInRedis(redis.url, TENANT))
  expect(resv).toEqual({ micros: 0, open: 0 })

  // The ledger reaches Postgres while the gateway runs (shipper), and SIGTERM loses nothing.
  await waitUntil(`${settled} usage rows`, async () => (await usageRows(pg.url, TENANT)).length >= settled, 20_000, 250).catch(() => {})
  const code = await gw.stop('SIGTERM')
  expect(code).toBe(0)
  const rows = await usageRows(pg.url, TENANT)
  const byStatus = rows.reduce<Record<string, number>>((m, r) => ((m[r.status] = (m[r.status] ?? 0) + 1), m), {})
  console.log('soak ledger:', JSON.stringify({ rows: rows.length, settled, byStatus }))
  expect(rows.length).toBe(settled)
  expect(gw.output()).not.toMatch(/"unhandled error"|settle failed|release failed|stream failed/)
}, (SECONDS + 90) * 1000)
