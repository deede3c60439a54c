/**
 * Scenario 3 — streams. 1,000 concurrent SSE streams of 200 chunks: direct to the upstream (the baseline
 * for TTFT), through the bare proxy (Bun's default fetch cap of 256 concurrent requests, which queues upstream
 * streams) and with the cap lifted (the floor of what Bun holds for the streams), through the gateway as shipped (it re-executes itself with BUN_CONFIG_MAX_HTTP_REQUESTS=65535),
 * and through the gateway with the cap set by the caller instead (4096). Two floors under the gateway's memory: the
 * bare proxy reading each reply in JavaScript, and the metering floor (bench/floor-proxy.ts) parsing every event.
 * Gateway RSS is sampled from /proc every 100 ms. A single run's peak RSS and chunks/s move ±10–15% between runs of
 * the same binary, so the targets that the performance work is judged on (direct, the uncapped floors, the gateway
 * as shipped) run in 3 interleaved rounds, each started fresh, and are reported by their medians beside every round
 * (ok/sent and errors: their sums).
 */
import { seedTenants, startOurGateway, UPSTREAM_KEY, writeConfig, type GatewayHandle } from './lib/gateway.ts'
import { chatBody, jsonHeaders, type BenchCtx } from './lib/context.ts'
import { rssMiB } from './lib/procs.ts'
import { runLoad, type LoadResult } from './load.ts'
import { type Server, startBareProxy, startFloorProxy, startUpstream } from './lib/servers.ts'
import { median, round } from './lib/stats.ts'

export interface StreamRun {
  target: string
  /** 1-based; the targets measured once (the capped bare proxy, the caller-set cap) are in round 1. */
  round: number
  load: LoadResult
  /** Against the same round's direct run. */
  ttftAddedP50Ms: number | null
  ttftAddedP99Ms: number | null
  /** chunks/s over the same round's direct run. */
  chunksVsDirect: number | null
  rssBeforeMiB: number | null
  rssPeakMiB: number | null
}

/** One target over its rounds: the median of each figure (a single run's RSS peak moves ±15% between rounds). */
export interface StreamSummary {
  target: string
  rounds: number
  ok: number
  sent: number
  errors: number
  chunksPerSec: number
  chunksVsDirect: number | null
  ttftP50Ms: number
  ttftP99Ms: number
  ttftAddedP50Ms: number | null
  ttftAddedP99Ms: number | null
  streamP50Ms: number
  streamP99Ms: number
  rssBeforeMiB: number | null
  rssPeakMiB: number | null
  /** Every round's peak, in round order. */
  rssPeaksMiB: number[]
}

export interface StreamsResult {
  streams: number
  chunksPerStream: number
  upstream: { latencyMs: number; chunks: number; intervalMs: number }
  /** Rounds of the repeated targets (absent in results from before rounds: one). */
  rounds?: number
  runs: StreamRun[]
  summary?: StreamSummary[]
}

async function sampled<T>(pid: number | null, fn: () => Promise<T>): Promise<{ value: T; before: number | null; peak: number | null }> {
  if (pid === null) return { value: await fn(), before: null, peak: null }
  const before = rssMiB(pid)
  let peak = before
  const timer = setInterval(() => {
    const v = rssMiB(pid)
    if (v > peak) peak = v
  }, 100)
  try {
    return { value: await fn(), before: round(before, 1), peak: round(peak, 1) }
  } finally {
    clearInterval(timer)
  }
}

const TARGET = {
  direct: 'direct',
  capped: 'bare proxy (fetch cap 256)',
  bare: 'bare proxy (fetch cap 65535)',
  piped: 'bare proxy, body read in JS (cap 65535)',
  floor: 'metering floor, Elysia (cap 65535)',
  gateway: 'gateway as shipped (raises its own fetch cap to 65535)',
  callerCap: 'gateway (fetch cap 4096 set by the caller)',
} as const

/** The median of each figure over a target's runs (nulls left out; null if all are). */
export function summarizeStreams(runs: StreamRun[]): StreamSummary[] {
  const targets = [...new Set(runs.map((r) => r.target))]
  const med = (xs: (number | null)[]): number | null => {
    const v = xs.filter((x): x is number => x !== null && Number.isFinite(x))
    return v.length ? round(median(v), 2) : null
  }
  return targets.map((target) => {
    const rs = runs.filter((r) => r.target === target)
    return {
      target, rounds: rs.length,
      ok: rs.reduce((a, r) => a + r.load.ok, 0), sent: rs.reduce((a, r) => a + r.load.sent, 0), errors: rs.reduce((a, r) => a + r.load.errors, 0),
      chunksPerSec: med(rs.map((r) => r.load.chunksPerSec))!,
      chunksVsDirect: med(rs.map((r) => r.chunksVsDirect)),
      ttftP50Ms: med(rs.map((r) => r.load.ttfb.p50))!, ttftP99Ms: med(rs.map((r) => r.load.ttfb.p99))!,
      ttftAddedP50Ms: med(rs.map((r) => r.ttftAddedP50Ms)), ttftAddedP99Ms: med(rs.map((r) => r.ttftAddedP99Ms)),
      streamP50Ms: med(rs.map((r) => r.load.total.p50))!, streamP99Ms: med(rs.map((r) => r.load.total.p99))!,
      rssBeforeMiB: med(rs.map((r) => r.rssBeforeMiB)), rssPeakMiB: med(rs.map((r) => r.rssPeakMiB)),
      rssPeaksMiB: rs.map((r) => r.rssPeakMiB).filter((x): x is number => x !== null),
    }
  })
}

export async function streams(ctx: BenchCtx): Promise<StreamsResult> {
  const n = ctx.quick ? 300 : 1000
  const rounds = ctx.quick ? 1 : 3
  const upstream = { latencyMs: 10, chunks: 200, intervalMs: 20 }
  const up = await startUpstream(upstream)
  const seeded = await seedTenants(ctx.databaseUrl, { prefix: 'sse', tenants: 1, keysPerTenant: 1, budgetUsdMicros: 1e15, policy: 'strict' })
  const config = writeConfig('streams', up.url)
  const body = chatBody({ stream: true, maxTokens: 300 })
  const runs: StreamRun[] = []
  let direct: LoadResult | null = null

  const run = async (roundNo: number, target: string, url: string, bearer: string, pid: number | null) => {
    const s = await sampled(pid, () => runLoad({
      url: `${url}/v1/chat/completions`, headers: jsonHeaders(bearer), body, stream: true,
      concurrency: n, requests: n, warmup: 16, maxMs: 60_000, graceMs: 30_000, requestTimeoutMs: 90_000,
    }))
    const load = s.value
    if (target === TARGET.direct) direct = load
    const d = direct as LoadResult | null
    const vs = d && target !== TARGET.direct
    const r: StreamRun = {
      target, round: roundNo, load, rssBeforeMiB: s.before, rssPeakMiB: s.peak,
      ttftAddedP50Ms: vs ? round2(load.ttfb.p50 - d.ttfb.p50) : null,
      ttftAddedP99Ms: vs ? round2(load.ttfb.p99 - d.ttfb.p99) : null,
      chunksVsDirect: vs && d.chunksPerSec > 0 ? round2(load.chunksPerSec / d.chunksPerSec) : null,
    }
    runs.push(r)
    ctx.log(`  r${roundNo} ${target.padEnd(28)} ok=${load.ok}/${load.sent} chunks/s=${load.chunksPerSec}${r.chunksVsDirect !== null ? ` (${r.chunksVsDirect}× direct)` : ''} ttft p50=${load.ttfb.p50} p99=${load.ttfb.p99} ms` +
      ` stream p50=${load.total.p50} p99=${load.total.p99} ms${r.rssPeakMiB !== null ? ` rss ${r.rssBeforeMiB}→${r.rssPeakMiB} MiB` : ''}` +
      `${load.errors ? ` errors=${load.errors} ${load.errorSamples[0] ?? ''}` : ''}`)
  }
  const viaServer = async (roundNo: number, target: string, start: () => Promise<Server>) => {
    const server = await start()
    try {
      await run(roundNo, target, server.url, UPSTREAM_KEY, server.pid)
    } finally {
      await server.child.stop()
    }
  }
  const viaGateway = async (roundNo: number, target: string, env: Record<string, string>) => {
    let gw: GatewayHandle | null = null
    try {
      gw = await startOurGateway({ name: target, databaseUrl: ctx.databaseUrl, redisUrl: ctx.redisUrl, config, env })
      await run(roundNo, target, gw.url, seeded.keyFor(1), gw.pid)
    } finally {
      await gw?.stop()
    }
  }
  const uncapped = { BUN_CONFIG_MAX_HTTP_REQUESTS: '65535' }

  // Each round measures direct first (each ratio is against its own round's direct), then the others in the order of
  // one row of a balanced Latin square (ORDERS): over three rounds no target runs right after the same one twice.
  const repeated: ((roundNo: number) => Promise<void>)[] = [
    // Every stream in flight at once: what Bun itself holds for 1,000 proxied streams, the floor under the gateway's figure.
    (r) => viaServer(r, TARGET.bare, () => startBareProxy(up.url, uncapped)),
    // …and reading the reply in JavaScript, as any proxy that must see the bytes does (the gateway parses them too).
    (r) => viaServer(r, TARGET.piped, () => startBareProxy(up.url, uncapped, { jsPipe: true })),
    // …and parsing every event on the way, in an Elysia route (bench/floor-proxy.ts): the least a metering gateway holds.
    (r) => viaServer(r, TARGET.floor, () => startFloorProxy(up.url, { elysia: true, env: uncapped })),
    (r) => viaGateway(r, TARGET.gateway, {}),
  ]
  for (let roundNo = 1; roundNo <= rounds; roundNo++) {
    await run(roundNo, TARGET.direct, up.url, UPSTREAM_KEY, null)
    if (roundNo === 1) {
      // Measured once: Bun's default fetch cap queues the streams (seconds of TTFT), and a cap set from outside.
      await viaServer(roundNo, TARGET.capped, () => startBareProxy(up.url))
      await viaGateway(roundNo, TARGET.callerCap, { BUN_CONFIG_MAX_HTTP_REQUESTS: '4096' })
    }
    for (const i of ORDERS[(roundNo - 1) % ORDERS.length]!) await repeated[i]!(roundNo)
  }
  await up.child.stop()
  const order: string[] = Object.values(TARGET)
  const summary = summarizeStreams(runs).sort((a, b) => order.indexOf(a.target) - order.indexOf(b.target))
  return { streams: n, chunksPerStream: upstream.chunks, upstream, rounds, runs, summary }
}

const round2 = (x: number) => round(x, 2)

/**
 * The order of the four repeated targets in each round: the rows of a balanced Latin square (Williams design), so over
 * all four rows each target runs right after each other one exactly once (a rotation kept the same neighbours).
 */
const ORDERS = [[0, 1, 3, 2], [1, 2, 0, 3], [2, 3, 1, 0], [3, 0, 2, 1]] as const
