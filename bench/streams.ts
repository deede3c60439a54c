/**
 * Scenario 3 — streams. 1,000 concurrent SSE streams of 200 chunks: direct to the upstream (the baseline
 * for TTFT), through the bare proxy (Bun's default fetch cap of 256 concurrent requests, which queues upstream
 * streams) and with the cap lifted (the floor of what Bun holds for the streams), through the gateway as shipped (it re-executes itself with BUN_CONFIG_MAX_HTTP_REQUESTS=65535),
 * and through the gateway with the cap set by the caller instead (4096). Two floors under the gateway's memory: the
 * bare proxy reading each reply in JavaScript, and the metering floor (bench/floor-proxy.ts) parsing every event.
 * Gateway RSS is sampled from /proc every 100 ms.
 */
import { seedTenants, startOurGateway, UPSTREAM_KEY, writeConfig, type GatewayHandle } from './lib/gateway.ts'
import { chatBody, jsonHeaders, type BenchCtx } from './lib/context.ts'
import { rssMiB } from './lib/procs.ts'
import { runLoad, type LoadResult } from './load.ts'
import { startBareProxy, startFloorProxy, startUpstream } from './lib/servers.ts'
import { round } from './lib/stats.ts'

export interface StreamRun {
  target: string
  load: LoadResult
  ttftAddedP50Ms: number | null
  ttftAddedP99Ms: number | null
  rssBeforeMiB: number | null
  rssPeakMiB: number | null
}

export interface StreamsResult {
  streams: number
  chunksPerStream: number
  upstream: { latencyMs: number; chunks: number; intervalMs: number }
  runs: StreamRun[]
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

export async function streams(ctx: BenchCtx): Promise<StreamsResult> {
  const n = ctx.quick ? 300 : 1000
  const upstream = { latencyMs: 10, chunks: 200, intervalMs: 20 }
  const up = await startUpstream(upstream)
  const seeded = await seedTenants(ctx.databaseUrl, { prefix: 'sse', tenants: 1, keysPerTenant: 1, budgetUsdMicros: 1e15, policy: 'strict' })
  const config = writeConfig('streams', up.url)
  const body = chatBody({ stream: true, maxTokens: 300 })
  const runs: StreamRun[] = []
  let direct: LoadResult | null = null

  const run = async (target: string, url: string, bearer: string, pid: number | null) => {
    const s = await sampled(pid, () => runLoad({
      url: `${url}/v1/chat/completions`, headers: jsonHeaders(bearer), body, stream: true,
      concurrency: n, requests: n, warmup: 16, maxMs: 60_000, graceMs: 30_000, requestTimeoutMs: 90_000,
    }))
    const load = s.value
    if (target === 'direct') direct = load
    const d = direct as LoadResult | null
    const r: StreamRun = {
      target, load, rssBeforeMiB: s.before, rssPeakMiB: s.peak,
      ttftAddedP50Ms: d && target !== 'direct' ? round(load.ttfb.p50 - d.ttfb.p50, 2) : null,
      ttftAddedP99Ms: d && target !== 'direct' ? round(load.ttfb.p99 - d.ttfb.p99, 2) : null,
    }
    runs.push(r)
    ctx.log(`  ${target.padEnd(28)} ok=${load.ok}/${load.sent} chunks/s=${load.chunksPerSec} ttft p50=${load.ttfb.p50} p99=${load.ttfb.p99} ms` +
      ` stream p50=${load.total.p50} p99=${load.total.p99} ms${r.rssPeakMiB !== null ? ` rss ${r.rssBeforeMiB}→${r.rssPeakMiB} MiB` : ''}` +
      `${load.errors ? ` errors=${load.errors} ${load.errorSamples[0] ?? ''}` : ''}`)
  }

  await run('direct', up.url, UPSTREAM_KEY, null)
  const bare = await startBareProxy(up.url)
  await run('bare proxy (fetch cap 256)', bare.url, UPSTREAM_KEY, bare.pid)
  await bare.child.stop()
  // The same bare proxy with every stream in flight at once: what Bun itself holds for 1,000 proxied streams,
  // the floor under the gateway's figure.
  const bareUncapped = await startBareProxy(up.url, { BUN_CONFIG_MAX_HTTP_REQUESTS: '65535' })
  await run('bare proxy (fetch cap 65535)', bareUncapped.url, UPSTREAM_KEY, bareUncapped.pid)
  await bareUncapped.child.stop()
  // …and reading the reply in JavaScript, as any proxy that must see the bytes does (the gateway parses them too).
  const barePiped = await startBareProxy(up.url, { BUN_CONFIG_MAX_HTTP_REQUESTS: '65535' }, { jsPipe: true })
  await run('bare proxy, body read in JS (cap 65535)', barePiped.url, UPSTREAM_KEY, barePiped.pid)
  await barePiped.child.stop()
  // …and parsing every event on the way, in an Elysia route (bench/floor-proxy.ts): the least a metering gateway holds.
  const floor = await startFloorProxy(up.url, { elysia: true, env: { BUN_CONFIG_MAX_HTTP_REQUESTS: '65535' } })
  await run('metering floor, Elysia (cap 65535)', floor.url, UPSTREAM_KEY, floor.pid)
  await floor.child.stop()
  for (const variant of [
    { target: 'gateway as shipped (raises its own fetch cap to 65535)', env: {} as Record<string, string> },
    { target: 'gateway (fetch cap 4096 set by the caller)', env: { BUN_CONFIG_MAX_HTTP_REQUESTS: '4096' } },
  ]) {
    let gw: GatewayHandle | null = null
    try {
      gw = await startOurGateway({ name: variant.target, databaseUrl: ctx.databaseUrl, redisUrl: ctx.redisUrl, config, env: variant.env })
      await run(variant.target, gw.url, seeded.keyFor(1), gw.pid)
    } finally {
      await gw?.stop()
    }
  }
  await up.child.stop()
  return { streams: n, chunksPerStream: upstream.chunks, upstream, runs }
}
