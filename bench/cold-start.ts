/**
 * Scenario 2 — cold start. The compiled binary against a Postgres holding 10,000 tenants and 20,000 keys:
 * spawn → `/readyz` 200, the gateway's own `ready` and `[COLD-START]` log lines, and the latency of the
 * first 3 requests against the steady-state median of the same client, same connection, same tenants.
 */
import postgres from 'postgres'
import { dbMigrate, logLines, seedTenants, startOurGateway, writeConfig } from './lib/gateway.ts'
import { chatBody, jsonHeaders, type BenchCtx } from './lib/context.ts'
import { startUpstream } from './lib/servers.ts'
import { cpuTimeMs } from './lib/procs.ts'
import { median, round } from './lib/stats.ts'

export interface ColdRun {
  spawnToReadyMs: number
  bootToReadyMs: number | null
  warmupMs: number | null
  /** Of warmupMs, the bulk load of tenants and keys (the rest primes budget counters and runs the request path once). */
  warmupLoadMs?: number | null
  tenantsWarmed: number | null
  /** CPU time of the gateway process from spawn to the first /readyz 200 (all threads). */
  bootCpuMs?: number | null
  first3Ms: number[]
  first3Stages: Array<{ n: number; total_ms: number; stages_ms: Record<string, number> }>
  steadyMedianMs: number
  steadyN: number
  /** Median of 20 requests each to a tenant not yet used since boot (in the warmed cache, new to Redis). */
  newTenantMedianMs: number
  /** first request latency / steady-state median */
  firstOverSteady: number
  slowestFirstStage: string | null
}

export interface ColdStartResult {
  tenants: number
  keys: number
  warmLimit: number
  seedMs: number
  runs: ColdRun[]
}

async function createDatabase(baseUrl: string, name: string): Promise<string> {
  const admin = postgres(baseUrl, { max: 1, onnotice: () => {} })
  try {
    await admin.unsafe(`drop database if exists "${name}" with (force)`)
    await admin.unsafe(`create database "${name}"`)
  } finally {
    await admin.end({ timeout: 1 })
  }
  const u = new URL(baseUrl)
  u.pathname = `/${name}`
  return u.toString()
}

export async function coldStart(ctx: BenchCtx): Promise<ColdStartResult> {
  const tenants = 10_000
  const keysPerTenant = 2
  const warmLimit = 50
  const runs = ctx.quick ? 1 : 3
  const steadyN = ctx.quick ? 100 : 200
  const up = await startUpstream({ latencyMs: 10, chunks: 20, intervalMs: 0 })
  const dbUrl = await createDatabase(ctx.databaseUrl, 'bench_cold_start')
  dbMigrate(dbUrl, ctx.redisUrl)
  const seeded = await seedTenants(dbUrl, { prefix: 'cold', tenants, keysPerTenant, budgetUsdMicros: 1e12, policy: 'strict', period: 'month' })
  ctx.log(`  seeded ${tenants} tenants / ${tenants * keysPerTenant} keys in ${Math.round(seeded.ms)} ms`)
  const config = writeConfig('cold-start', up.url)
  const body = chatBody()
  const out: ColdRun[] = []
  for (let r = 0; r < runs; r++) {
    const gw = await startOurGateway({ name: `gateway(cold ${r + 1})`, databaseUrl: dbUrl, redisUrl: ctx.redisUrl, config, warmLimit })
    const bootCpuMs = cpuTimeMs(gw.pid)
    try {
      // Tenants spread over the id range, a different set per run. The first 3 requests go to 3 tenants; the
      // steady state cycles over the same 3 (process warm, tenants touched); then first touches of new tenants
      // (warmed in memory, but their Redis period counter is created on first reserve).
      const tenantOf = (i: number) => 1 + ((i * 3331 + r * 977) % tenants)
      const timed = async (tenant: number, key: number): Promise<number> => {
        const t0 = performance.now()
        const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: jsonHeaders(seeded.keyFor(tenant, key)), body })
        await res.arrayBuffer()
        if (res.status !== 200) throw new Error(`cold-start request to tenant ${tenant} → ${res.status}`)
        return performance.now() - t0
      }
      const first3: number[] = []
      const steady: number[] = []
      const newTenant: number[] = []
      for (let i = 0; i < 3; i++) first3.push(await timed(tenantOf(i), 1))
      for (let i = 0; i < steadyN; i++) steady.push(await timed(tenantOf(i % 3), 1 + (i % 2)))
      for (let i = 0; i < 20; i++) newTenant.push(await timed(tenantOf(3 + i), 1))
      await Bun.sleep(100) // the log lines are written after the response
      const ready = logLines(gw.child, 'ready')[0]
      const cold = logLines(gw.child, '[COLD-START]').slice(0, 3).map((j) => ({ n: j.n, total_ms: j.total_ms, stages_ms: j.stages_ms }))
      const firstStages = cold[0]?.stages_ms ?? {}
      const slowest = Object.entries(firstStages as Record<string, number>).filter(([k]) => k !== 'upstream_ttfb').sort((a, b) => b[1] - a[1])[0]?.[0] ?? null
      const steadyMedian = median(steady)
      const run: ColdRun = {
        spawnToReadyMs: round(gw.readyMs, 1), bootToReadyMs: ready?.boot_to_ready_ms ?? null, warmupMs: ready?.warmup_ms ?? null, warmupLoadMs: ready?.warmup_load_ms ?? null,
        tenantsWarmed: ready?.tenants ?? null, bootCpuMs: Number.isFinite(bootCpuMs) ? bootCpuMs : null, first3Ms: first3.map((x) => round(x, 2)), first3Stages: cold,
        steadyMedianMs: round(steadyMedian, 3), steadyN, newTenantMedianMs: round(median(newTenant), 3), firstOverSteady: round(first3[0]! / steadyMedian, 2), slowestFirstStage: slowest,
      }
      out.push(run)
      ctx.log(`  run ${r + 1}: spawn→ready ${run.spawnToReadyMs} ms (boot_to_ready ${run.bootToReadyMs}, warm-up ${run.warmupMs} ms of which loading ${run.warmupLoadMs ?? '?'} ms, ${run.tenantsWarmed} tenants, CPU ${run.bootCpuMs ?? '?'} ms);` +
        ` first 3: ${run.first3Ms.join(' / ')} ms vs steady median ${run.steadyMedianMs} ms (first touch of a tenant: ${run.newTenantMedianMs} ms); slowest first-request stage besides upstream: ${slowest}`)
    } finally {
      await gw.stop()
    }
  }
  await up.child.stop()
  return { tenants, keys: tenants * keysPerTenant, warmLimit, seedMs: round(seeded.ms, 0), runs: out }
}
