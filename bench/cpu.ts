/**
 * Scenario `cpu` — what each proxy costs in CPU. The upstream answers at once (0 ms, SSE = 20 chunks back
 * to back), so req/s measures the proxies' own work. wrk drives (a) direct, (b) the bare `Bun.serve`
 * fetch-proxy, (c) our gateway, strict budgets in Redis, (c'') the same with budget slices of $1 (`--budget-slice-usd 1`),
 * (c') our gateway with the in-process ledger,
 * (d) Portkey, and five floors (floor-proxy.ts: the least any body-inspecting gateway does, in Bun.serve, in
 * Elysia, in Elysia with two one-command Redis scripts per request, in Elysia with the gateway's own reserve.lua
 * and settle.lua per request, and in Elysia with only settle.lua per request, drawing from one budget slice),
 * at c = 1, 32, 256, JSON and SSE, interleaved per level; both gateways use the embedded store
 * (bun:sqlite). The load generator must not be the bottleneck: direct ≥ 2× bare is checked and reported.
 * CPU time of each proxy process during its run (from /proc) gives its cost per request independently of
 * how the 2 cores were shared. Before each cell, the usage records the Redis gateways left in Redis are let drain
 * (shipped to their stores), so one gateway's shipping does not run during the next target's cell.
 *
 * Every target first serves STEADY_WARMUP_S of load at c=32 in each mode, so the cells measure servers in their
 * steady state rather than their JIT compiler: a 1 s warm-up alone left the Redis gateway's c=32 cell inside its first
 * 5 s of load, when JavaScriptCore's compiler thread took 48–60 µs of CPU per request (3 µs after) on a 2-core machine
 * it shares with the gateway, Redis, the upstream and wrk, and its c=1 p99 fell from 3.7 to 1.9 ms over 40 s of load.
 * The same for every target, so no ratio is bent by it.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { Redis } from 'ioredis'
import { chatBody, jsonHeaders, type BenchCtx } from './lib/context.ts'
import { seedEmbedded, startOurGateway, TMP, UPSTREAM_KEY, usageShipped, writeConfig, type GatewayHandle } from './lib/gateway.ts'
import { portkeyHeaders, startBareProxy, startFloorProxy, startPortkey, startUpstream, type Server } from './lib/servers.ts'
import { cpuTimeMs } from './lib/procs.ts'
import { round } from './lib/stats.ts'
import { findWrk, runWrk, type WrkResult } from './wrk.ts'

export const CPU_TARGETS = ['direct', 'bare', 'floor', 'floor-elysia', 'floor-elysia-redis', 'floor-elysia-budget', 'floor-elysia-slice', 'gateway-redis', 'gateway-slices', 'gateway-memory', 'portkey'] as const
export type CpuTarget = (typeof CPU_TARGETS)[number]

export interface CpuCell {
  mode: 'json' | 'stream'
  concurrency: number
  target: CpuTarget
  wrk: WrkResult | null
  /** CPU time (user + system) of the process serving the target (the upstream for direct) per 1,000 requests, ms. */
  cpuMsPer1k: number | null
  error?: string
}

export interface CpuRatio {
  mode: string
  concurrency: number
  directOverBare: number | null
  redisOverBare: number | null
  /** The gateway on Redis with budget slices (docs/budgets.md#budget-slices). */
  slicesOverBare: number | null
  memoryOverBare: number | null
  portkeyOverBare: number | null
  /** The metering floor (floor-proxy.ts) over the bare proxy: what reading and parsing the bodies costs by itself. */
  floorOverBare: number | null
  /** The same floor served by Elysia over it served by Bun.serve: Elysia's share. */
  elysiaOverFloor: number | null
  /** Our gateway over the floor doing the same (in-process ledger vs the Elysia floor; Redis vs the Elysia floor with Redis). */
  memoryOverFloor: number | null
  redisOverFloor: number | null
  /**
   * The Elysia floor running the gateway's own budget scripts over the bare proxy: the most any gateway that reserves
   * and settles each request with them can reach here; and our Redis gateway over that floor.
   */
  budgetFloorOverBare: number | null
  redisOverBudgetFloor: number | null
  /** The same with budget slices: the floor drawing from one slice and running only settle.lua per request. */
  sliceFloorOverBare: number | null
  slicesOverSliceFloor: number | null
  redisOverPortkey: number | null
  slicesOverPortkey: number | null
  memoryOverPortkey: number | null
}

/** Seconds of load at c=32 each target serves in each mode before its first cell (see the module comment). */
export const STEADY_WARMUP_S = 10

export interface CpuResult {
  durationS: number
  /** Seconds of load at c=32 each target served per mode before its cells (STEADY_WARMUP_S; less with --quick). */
  warmupS: number
  chunks: number
  portkey: { version: string } | { unavailable: string }
  cells: CpuCell[]
  ratios: CpuRatio[]
  /**
   * Added over direct at c=1: `addedP50Ms`/`addedP99Ms` from each request as it was timed (wrk.ts `raw`), the
   * `wrk…` pair from wrk's own percentiles, which its coordinated-omission correction inflates (see wrk.ts).
   */
  addedAtC1: Array<{ mode: string; target: CpuTarget; addedP50Ms: number | null; addedP99Ms: number | null; wrkAddedP50Ms: number | null; wrkAddedP99Ms: number | null }>
  /** Levels where direct < 2× bare: there, the load generator or the upstream may be what limits. */
  loadGenSuspect: string[]
}

const cpuMs = cpuTimeMs

const div = (a: number | null | undefined, b: number | null | undefined) => (a == null || b == null || b <= 0 ? null : round(a / b, 2))

type Percentiles = { p50Ms: number; p99Ms: number }

/** p50 and p99 of a target minus those of direct, ms; nulls when either is missing. */
function addedOver(target: Percentiles | null | undefined, direct: Percentiles | null | undefined): [number | null, number | null] {
  return target && direct ? [round(target.p50Ms - direct.p50Ms, 3), round(target.p99Ms - direct.p99Ms, 3)] : [null, null]
}

export async function cpu(ctx: BenchCtx): Promise<CpuResult> {
  const wrk = findWrk()
  if ('missing' in wrk) throw new Error(wrk.missing)
  const durationS = ctx.quick ? 2 : 4
  const warmupS = ctx.quick ? 2 : STEADY_WARMUP_S
  const chunks = 20
  const up = await startUpstream({ latencyMs: 0, chunks, intervalMs: 0, fast: true })
  const config = writeConfig('cpu', up.url)
  const dirs: string[] = []
  const servers: Array<Server | GatewayHandle> = []
  let admin: Redis | null = null
  try {
    const bare = await startBareProxy(up.url)
    servers.push(bare)
    const floors = {
      floor: await startFloorProxy(up.url),
      'floor-elysia': await startFloorProxy(up.url, { elysia: true }),
      'floor-elysia-redis': await startFloorProxy(up.url, { elysia: true, redisUrl: ctx.redisUrl }),
      'floor-elysia-budget': await startFloorProxy(up.url, { elysia: true, redisUrl: ctx.redisUrl, budgetScripts: true }),
      'floor-elysia-slice': await startFloorProxy(up.url, { elysia: true, redisUrl: ctx.redisUrl, budgetScripts: true, slice: true }),
    }
    servers.push(...Object.values(floors))
    // Each gateway its own tenant: two gateways on one tenant's keys would ship each other's records.
    const gateway = async (name: string, redisUrl: string | null, env: Record<string, string> = {}) => {
      const dir = mkdtempSync(`${TMP}/cpu-${name}-`)
      dirs.push(dir)
      const key = seedEmbedded(dir, name)
      const gw = await startOurGateway({ name, databaseUrl: null, redisUrl, config, dataDir: dir, env })
      servers.push(gw)
      return { gw, key }
    }
    const redisGw = await gateway('gateway-redis', ctx.redisUrl)
    const slicesGw = await gateway('gateway-slices', ctx.redisUrl, { GATEWAY_BUDGET_SLICE_USD: '1' })
    const memGw = await gateway('gateway-memory', null)
    const peer = await startPortkey()
    if ('unavailable' in peer) ctx.log(`  portkey unavailable: ${peer.unavailable}`)
    else servers.push(peer)

    const path = '/v1/chat/completions'
    const target = (t: CpuTarget): { url: string; headers: Record<string, string>; pid: number } | null => {
      switch (t) {
        case 'direct': return { url: up.url + path, headers: jsonHeaders(UPSTREAM_KEY), pid: up.pid }
        case 'bare': return { url: bare.url + path, headers: jsonHeaders(UPSTREAM_KEY), pid: bare.pid }
        case 'floor': case 'floor-elysia': case 'floor-elysia-redis': case 'floor-elysia-budget': case 'floor-elysia-slice': return { url: floors[t].url + path, headers: jsonHeaders(UPSTREAM_KEY), pid: floors[t].pid }
        case 'gateway-redis': return { url: redisGw.gw.url + path, headers: jsonHeaders(redisGw.key), pid: redisGw.gw.pid }
        case 'gateway-slices': return { url: slicesGw.gw.url + path, headers: jsonHeaders(slicesGw.key), pid: slicesGw.gw.pid }
        case 'gateway-memory': return { url: memGw.gw.url + path, headers: jsonHeaders(memGw.key), pid: memGw.gw.pid }
        case 'portkey': return 'unavailable' in peer ? null : { url: peer.url + path, headers: jsonHeaders(UPSTREAM_KEY, portkeyHeaders(up.url)), pid: peer.pid }
      }
    }

    const redisAdmin = (admin = new Redis(ctx.redisUrl))
    const drained = () => usageShipped(redisAdmin, ['gateway-redis', 'gateway-slices'], (msg) => ctx.log(`  ${msg}`))

    const cells: CpuCell[] = []
    for (const mode of ['json', 'stream'] as const) {
      const body = chatBody({ stream: mode === 'stream' })
      // One request per target first: a proxy answering errors fast must not pass for a fast proxy.
      for (const t of CPU_TARGETS) {
        const tg = target(t)
        if (tg) await checkReply(tg.url, tg.headers, body, mode, chunks, t)
      }
      for (const t of CPU_TARGETS) {
        const tg = target(t)
        if (!tg) continue
        await drained()
        await runWrk(wrk.path, { url: tg.url, headers: tg.headers, body, connections: 32, durationS: warmupS })
      }
      for (const c of [1, 32, 256]) {
        for (const t of CPU_TARGETS) {
          const tg = target(t)
          if (!tg) {
            cells.push({ mode, concurrency: c, target: t, wrk: null, cpuMsPer1k: null })
            continue
          }
          const spec = { url: tg.url, headers: tg.headers, body, connections: c }
          await drained()
          await runWrk(wrk.path, { ...spec, durationS: 1 }) // this level's connections and pools
          const cpu0 = cpuMs(tg.pid)
          const r = await runWrk(wrk.path, { ...spec, durationS })
          const cpuUsed = cpuMs(tg.pid) - cpu0
          const cell: CpuCell = { mode, concurrency: c, target: t, wrk: r, cpuMsPer1k: r.requests ? round((cpuUsed / r.requests) * 1000, 1) : null }
          cells.push(cell)
          ctx.log(`  cpu ${mode.padEnd(6)} c=${String(c).padEnd(3)} ${t.padEnd(19)} rps=${r.rps} p50=${r.p50Ms} p99=${r.p99Ms} ms` +
            ` cpu/1k=${cell.cpuMsPer1k} ms${r.non2xx || r.socketErrors ? ` non2xx=${r.non2xx} socket=${r.socketErrors}` : ''}`)
        }
      }
    }

    const ratios: CpuRatio[] = []
    const addedAtC1: CpuResult['addedAtC1'] = []
    const loadGenSuspect: string[] = []
    for (const mode of ['json', 'stream'] as const) {
      for (const c of [1, 32, 256]) {
        const rps = (t: CpuTarget) => cells.find((x) => x.mode === mode && x.concurrency === c && x.target === t)?.wrk?.rps ?? null
        const r: CpuRatio = {
          mode, concurrency: c, directOverBare: div(rps('direct'), rps('bare')),
          redisOverBare: div(rps('gateway-redis'), rps('bare')), slicesOverBare: div(rps('gateway-slices'), rps('bare')), memoryOverBare: div(rps('gateway-memory'), rps('bare')),
          portkeyOverBare: div(rps('portkey'), rps('bare')),
          floorOverBare: div(rps('floor'), rps('bare')), elysiaOverFloor: div(rps('floor-elysia'), rps('floor')),
          memoryOverFloor: div(rps('gateway-memory'), rps('floor-elysia')), redisOverFloor: div(rps('gateway-redis'), rps('floor-elysia-redis')),
          budgetFloorOverBare: div(rps('floor-elysia-budget'), rps('bare')), redisOverBudgetFloor: div(rps('gateway-redis'), rps('floor-elysia-budget')),
          sliceFloorOverBare: div(rps('floor-elysia-slice'), rps('bare')), slicesOverSliceFloor: div(rps('gateway-slices'), rps('floor-elysia-slice')),
          redisOverPortkey: div(rps('gateway-redis'), rps('portkey')), slicesOverPortkey: div(rps('gateway-slices'), rps('portkey')), memoryOverPortkey: div(rps('gateway-memory'), rps('portkey')),
        }
        ratios.push(r)
        if (r.directOverBare !== null && r.directOverBare < 2) loadGenSuspect.push(`${mode} c=${c}: direct/bare ${r.directOverBare}×`)
      }
      const d = cells.find((x) => x.mode === mode && x.concurrency === 1 && x.target === 'direct')?.wrk
      for (const t of CPU_TARGETS.filter((t) => t !== 'direct')) {
        const w = cells.find((x) => x.mode === mode && x.concurrency === 1 && x.target === t)?.wrk
        const [addedP50Ms, addedP99Ms] = addedOver(w?.raw, d?.raw)
        const [wrkAddedP50Ms, wrkAddedP99Ms] = addedOver(w, d)
        addedAtC1.push({ mode, target: t, addedP50Ms, addedP99Ms, wrkAddedP50Ms, wrkAddedP99Ms })
      }
    }
    return { durationS, warmupS, chunks, portkey: 'unavailable' in peer ? peer : { version: peer.version }, cells, ratios, addedAtC1, loadGenSuspect }
  } finally {
    admin?.disconnect()
    for (const s of servers.reverse()) await ('stop' in s ? s.stop() : s.child.stop()).catch(() => {})
    await up.child.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  }
}

async function checkReply(url: string, headers: Record<string, string>, body: string, mode: 'json' | 'stream', chunks: number, t: string): Promise<void> {
  const r = await fetch(url, { method: 'POST', headers, body })
  const text = await r.text()
  const events = text.split('\n').filter((l) => l.startsWith('data: {') && !l.startsWith('data: {"error"')).length
  const ok = r.status === 200 && (mode === 'json' ? text.includes('"choices"') : events >= chunks && text.includes('data: [DONE]'))
  if (!ok) throw new Error(`${t} (${mode}) answered ${r.status} with an unexpected body: ${text.slice(0, 300)}`)
}
