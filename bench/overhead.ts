/**
 * Scenario 1 — overhead. The same requests (a) direct to the fake upstream, (b) through a bare Bun.serve
 * fetch-proxy, (c) through our gateway (auth + budget + timing on), (d) through the Portkey gateway, at
 * several concurrencies, JSON and SSE, targets interleaved per level so drift hits all of them alike.
 */
import { seedTenants, startOurGateway, UPSTREAM_KEY, writeConfig } from './lib/gateway.ts'
import { chatBody, jsonHeaders, type BenchCtx } from './lib/context.ts'
import { runLoad, type LoadResult } from './load.ts'
import { portkeyHeaders, startBareProxy, startPortkey, startUpstream } from './lib/servers.ts'
import { round } from './lib/stats.ts'

export const TARGETS = ['direct', 'bare', 'gateway', 'portkey'] as const
export type Target = (typeof TARGETS)[number]

export interface OverheadCell {
  mode: 'json' | 'stream'
  concurrency: number
  target: Target
  load: LoadResult | null
  /** p50/p99 of (total, and TTFT for streams) minus the direct run's, in ms. */
  addedP50Ms: number | null
  addedP99Ms: number | null
  addedTtftP50Ms: number | null
  addedTtftP99Ms: number | null
}

export interface OverheadResult {
  upstream: { latencyMs: number; chunks: number; intervalMs: number }
  portkey: { version: string } | { unavailable: string }
  cells: OverheadCell[]
  /** Per mode+concurrency: (c)/(b) and (c)/(d) for added p50 and for throughput. */
  ratios: Array<{ mode: string; concurrency: number; gwOverBareAddedP50: number | null; gwOverBareRps: number | null
    gwOverPortkeyAddedP50: number | null; gwOverPortkeyRps: number | null
    /** Streams only: TTFT added p50, (c)/(b) and (c)/(d), the latter also with Portkey's first-chunk sleep taken out. */
    gwOverBareTtftAddedP50: number | null; gwOverPortkeyTtftAddedP50: number | null; gwOverPortkeyTtftAddedP50ExclSleep: number | null }>
  /** Portkey sleeps 25 ms before the first streamed chunk (setTimeout in its stream transform). */
  portkeyStreamSleepMs: number
  gatewayStages: Record<string, Record<string, { p50: number; p99: number }>>
  slowestOwnStage: string | null
}

const PORTKEY_SLEEP_MS = 25
const sub = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) ? null : round(a - b, 3))
const div = (a: number | null, b: number | null) => (a === null || b === null || b <= 0 ? null : round(a / b, 2))

export async function overhead(ctx: BenchCtx): Promise<OverheadResult> {
  const upstreamMode = { latencyMs: 10, chunks: 20, intervalMs: 1 }
  // Request counts per level; a stream takes ~4× a JSON reply at concurrency 1, so it gets fewer there.
  const levels = ctx.quick
    ? [{ c: 1, n: 100, nStream: 60 }, { c: 32, n: 800, nStream: 600 }, { c: 256, n: 1500, nStream: 1500 }]
    : [{ c: 1, n: 500, nStream: 200 }, { c: 32, n: 3000, nStream: 3000 }, { c: 256, n: 5000, nStream: 5000 }]
  const up = await startUpstream(upstreamMode)
  const bare = await startBareProxy(up.url)
  const seeded = await seedTenants(ctx.databaseUrl, { prefix: 'ovh', tenants: 1, keysPerTenant: 1, budgetUsdMicros: 1e15, policy: 'strict' })
  const gw = await startOurGateway({ name: 'gateway(overhead)', databaseUrl: ctx.databaseUrl, redisUrl: ctx.redisUrl, config: writeConfig('overhead', up.url) })
  const peer = await startPortkey()
  if ('unavailable' in peer) ctx.log(`  portkey unavailable: ${peer.unavailable}`)

  const path = '/v1/chat/completions'
  const target = (t: Target): { url: string; headers: Record<string, string> } | null => {
    switch (t) {
      case 'direct': return { url: up.url + path, headers: jsonHeaders(UPSTREAM_KEY) }
      case 'bare': return { url: bare.url + path, headers: jsonHeaders(UPSTREAM_KEY) }
      case 'gateway': return { url: gw.url + path, headers: jsonHeaders(seeded.keyFor(1)) }
      case 'portkey': return 'unavailable' in peer ? null : { url: peer.url + path, headers: jsonHeaders(UPSTREAM_KEY, portkeyHeaders(up.url)) }
    }
  }

  const cells: OverheadCell[] = []
  for (const mode of ['json', 'stream'] as const) {
    for (const { c, n: nJson, nStream } of levels) {
      const n = mode === 'json' ? nJson : nStream
      const direct: LoadResult[] = []
      for (const t of TARGETS) {
        const tg = target(t)
        if (!tg) {
          cells.push({ mode, concurrency: c, target: t, load: null, addedP50Ms: null, addedP99Ms: null, addedTtftP50Ms: null, addedTtftP99Ms: null })
          continue
        }
        const load = await runLoad({
          url: tg.url, headers: tg.headers, body: chatBody({ stream: mode === 'stream' }), stream: mode === 'stream',
          concurrency: c, requests: n, warmup: ctx.quick ? 100 : 300, maxMs: 25_000, graceMs: 10_000,
        })
        if (t === 'direct') direct.push(load)
        const d = direct[0]
        const cell: OverheadCell = {
          mode, concurrency: c, target: t, load,
          addedP50Ms: sub(load.total.p50, d?.total.p50), addedP99Ms: sub(load.total.p99, d?.total.p99),
          addedTtftP50Ms: mode === 'stream' ? sub(load.ttfb.p50, d?.ttfb.p50) : null,
          addedTtftP99Ms: mode === 'stream' ? sub(load.ttfb.p99, d?.ttfb.p99) : null,
        }
        cells.push(cell)
        ctx.log(`  ${mode.padEnd(6)} c=${String(c).padEnd(3)} ${t.padEnd(7)} ok=${load.ok}/${load.sent} rps=${load.rps} p50=${load.total.p50}ms p99=${load.total.p99}ms` +
          ` added p50=${cell.addedP50Ms ?? '-'} p99=${cell.addedP99Ms ?? '-'}${load.errors ? ` errors=${load.errors} ${load.errorSamples[0] ?? ''}` : ''}`)
      }
    }
  }

  const ratios: OverheadResult['ratios'] = []
  for (const mode of ['json', 'stream'] as const) {
    for (const { c } of levels) {
      const get = (t: Target) => cells.find((x) => x.mode === mode && x.concurrency === c && x.target === t)
      const g = get('gateway'), b = get('bare'), p = get('portkey')
      // The sleep delays the first chunk only; the rest of the stream overlaps it, so it is taken out of TTFT only.
      const pTtftExcl = p?.addedTtftP50Ms != null ? p.addedTtftP50Ms - PORTKEY_SLEEP_MS : null
      ratios.push({
        mode, concurrency: c,
        gwOverBareAddedP50: div(g?.addedP50Ms ?? null, b?.addedP50Ms ?? null),
        gwOverBareRps: div(g?.load?.rps ?? null, b?.load?.rps ?? null),
        gwOverPortkeyAddedP50: div(g?.addedP50Ms ?? null, p?.addedP50Ms ?? null),
        gwOverPortkeyRps: div(g?.load?.rps ?? null, p?.load?.rps ?? null),
        gwOverBareTtftAddedP50: div(g?.addedTtftP50Ms ?? null, b?.addedTtftP50Ms ?? null),
        gwOverPortkeyTtftAddedP50: div(g?.addedTtftP50Ms ?? null, p?.addedTtftP50Ms ?? null),
        gwOverPortkeyTtftAddedP50ExclSleep: div(g?.addedTtftP50Ms ?? null, pTtftExcl),
      })
    }
  }

  // Server-Timing of the gateway: per mode+concurrency, each stage's p50/p99; the slowest stage that is the
  // gateway's own work (upstream_ttfb and stream are mostly waiting on the upstream).
  const gatewayStages: OverheadResult['gatewayStages'] = {}
  const own = new Map<string, number>()
  for (const cell of cells.filter((x) => x.target === 'gateway' && x.load)) {
    const st: Record<string, { p50: number; p99: number }> = {}
    for (const [k, v] of Object.entries(cell.load!.serverTiming)) {
      st[k] = { p50: v.p50, p99: v.p99 }
      if (!['total', 'upstream_ttfb', 'stream'].includes(k)) own.set(k, Math.max(own.get(k) ?? 0, v.p50))
    }
    gatewayStages[`${cell.mode} c=${cell.concurrency}`] = st
  }
  const slowestOwnStage = [...own].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null

  await gw.stop()
  if (!('unavailable' in peer)) await peer.child.stop()
  await bare.child.stop()
  await up.child.stop()
  return {
    upstream: upstreamMode, portkey: 'unavailable' in peer ? peer : { version: peer.version }, cells, ratios,
    portkeyStreamSleepMs: PORTKEY_SLEEP_MS, gatewayStages, slowestOwnStage,
  }
}
