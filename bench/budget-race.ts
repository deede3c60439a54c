/**
 * Scenario 4 — budget race. 500 requests fired at once at a tenant whose limit admits K of them (by their
 * actual cost); after all have finished, spent − limit from the Redis counter is the overrun, for the
 * `strict` and the `fixed` policy. Reserve and settle latency come from the gateway's Server-Timing.
 */
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { tenantKeys } from '../src/budget/scripts.ts'
import { seedTenants, startOurGateway, writeConfig } from './lib/gateway.ts'
import { chatBody, jsonHeaders, type BenchCtx } from './lib/context.ts'
import { runLoad } from './load.ts'
import { startUpstream } from './lib/servers.ts'

export interface RaceRound {
  policy: 'strict' | 'fixed'
  round: number
  limitMicros: number
  admitted: number
  rejected402: number
  otherStatuses: Record<string, number>
  spentMicros: number
  overrunMicros: number
  /** Sum of usage_records in Postgres for the tenant (shipped from the Redis ledger), as a cross-check. */
  usageRecordsMicros: number | null
  reserveMs: { p50: number; p99: number } | null
  wallMs: number
}

export interface BudgetRaceResult {
  requests: number
  k: number
  costPerRequestMicros: number
  upstreamLatencyMs: number
  rounds: RaceRound[]
  /** The same stages with one request at a time (a budgeted tenant far from its limit): no queueing. */
  uncontended: { requests: number; reserveMs: { p50: number; p99: number } | null }
}

export async function budgetRace(ctx: BenchCtx): Promise<BudgetRaceResult> {
  const requests = 500
  const k = 50
  const rounds = ctx.quick ? 1 : 3
  // bench-race: $1/Mtok in, $100/Mtok out; the fake upstream reports 10 prompt + 20 completion tokens.
  const chunks = 20
  const costPerRequest = 10 * 1 + chunks * 100
  const limit = k * costPerRequest
  const up = await startUpstream({ latencyMs: 50, chunks, intervalMs: 0 })
  const seeded: Record<string, (i: number) => string> = {}
  for (const policy of ['strict', 'fixed'] as const) {
    const s = await seedTenants(ctx.databaseUrl, { prefix: `race-${policy}`, tenants: rounds, keysPerTenant: 1, budgetUsdMicros: limit, policy, period: 'total' })
    seeded[policy] = (i) => s.keyFor(i)
  }
  const gw = await startOurGateway({ name: 'gateway(race)', databaseUrl: ctx.databaseUrl, redisUrl: ctx.redisUrl, config: writeConfig('race', up.url) })
  const redis = new Redis(ctx.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1 })
  const sql = postgres(ctx.databaseUrl, { max: 1, onnotice: () => {} })
  const out: RaceRound[] = []
  let uncontended: BudgetRaceResult['uncontended'] = { requests: 0, reserveMs: null }
  try {
    // Warm the gateway's JIT and pools on a tenant without a limit, so round 1 is not also a cold start.
    const warm = await seedTenants(ctx.databaseUrl, { prefix: 'race-warm', tenants: 1, keysPerTenant: 1, budgetUsdMicros: null })
    await runLoad({ url: `${gw.url}/v1/chat/completions`, headers: jsonHeaders(warm.keyFor(1)), body: chatBody({ model: 'bench-race', maxTokens: chunks }),
      stream: false, concurrency: 50, requests: 500, maxMs: 20_000 }).catch(() => null)
    const seq = await seedTenants(ctx.databaseUrl, { prefix: 'race-seq', tenants: 1, keysPerTenant: 1, budgetUsdMicros: 1e12, policy: 'strict' })
    const one = await runLoad({ url: `${gw.url}/v1/chat/completions`, headers: jsonHeaders(seq.keyFor(1)), body: chatBody({ model: 'bench-race', maxTokens: chunks }),
      stream: false, concurrency: 1, requests: 60, warmup: 5, maxMs: 15_000 })
    const pick = (k: string) => (one.serverTiming[k] ? { p50: one.serverTiming[k]!.p50, p99: one.serverTiming[k]!.p99 } : null)
    uncontended = { requests: one.ok, reserveMs: pick('budget_reserve') }
    ctx.log(`  one at a time: reserve p50/p99 ${uncontended.reserveMs?.p50}/${uncontended.reserveMs?.p99} ms`)
    for (let r = 1; r <= rounds; r++) {
      for (const policy of ['strict', 'fixed'] as const) {
        const tenant = `race-${policy}-${r}`
        const load = await runLoad({
          url: `${gw.url}/v1/chat/completions`, headers: jsonHeaders(seeded[policy]!(r)),
          body: chatBody({ model: 'bench-race', maxTokens: chunks }), stream: false,
          concurrency: requests, requests, maxMs: 30_000, graceMs: 15_000,
        })
        // A reply goes out before its settle is answered: read the counter once the gateway has none in flight.
        await settled(gw.url)
        const spent = Number((await redis.get(tenantKeys(tenant).spent('total'))) ?? 0)
        // The usage shipper moves records to Postgres in batches; give it a moment, bounded.
        let usage: number | null = null
        for (let i = 0; i < 20; i++) {
          const [row] = await sql<{ n: string; s: string | null }[]>`select count(*) n, sum(cost_usd_micros) s from usage_records where tenant_id = ${tenant}`
          usage = row?.s == null ? 0 : Number(row.s)
          if (Number(row?.n ?? 0) >= (load.statuses['200'] ?? 0)) break
          await Bun.sleep(250)
        }
        const st = load.serverTiming
        const round: RaceRound = {
          policy, round: r, limitMicros: limit, admitted: load.statuses['200'] ?? 0, rejected402: load.statuses['402'] ?? 0,
          otherStatuses: Object.fromEntries(Object.entries(load.statuses).filter(([s]) => s !== '200' && s !== '402')),
          spentMicros: spent, overrunMicros: Math.max(0, spent - limit), usageRecordsMicros: usage,
          reserveMs: st.budget_reserve ? { p50: st.budget_reserve.p50, p99: st.budget_reserve.p99 } : null,
          wallMs: load.durationMs,
        }
        out.push(round)
        ctx.log(`  ${policy.padEnd(6)} round ${r}: admitted ${round.admitted} (K=${k}), 402 ×${round.rejected402}, spent ${spent} µUSD of ${limit}` +
          ` → overrun ${round.overrunMicros} µUSD; reserve p50/p99 ${round.reserveMs?.p50}/${round.reserveMs?.p99} ms`)
      }
    }
  } finally {
    redis.disconnect()
    await sql.end({ timeout: 1 })
    await gw.stop()
    await up.child.stop()
  }
  return { requests, k, costPerRequestMicros: costPerRequest, upstreamLatencyMs: 50, rounds: out, uncontended }
}

/** Waits (at most 10 s) until the gateway reports no request in flight: every settle has been answered. */
async function settled(url: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const text = await (await fetch(`${url}/metrics`)).text()
    if (/^gateway_inflight_requests 0$/m.test(text)) return
    await Bun.sleep(20)
  }
  throw new Error('requests still in flight 10 s after the load ended')
}
