/** Writes bench/results.json (everything measured) and bench/RESULTS.md (tables + the exact command). */
import type { BudgetRaceResult } from './budget-race.ts'
import type { ColdStartResult } from './cold-start.ts'
import { CPU_TARGETS, type CpuResult } from './cpu.ts'
import { ROOT } from './lib/procs.ts'
import type { OverheadResult } from './overhead.ts'
import type { ProfileRun, ProfilesResult } from './profile.ts'
import { type StreamsResult, summarizeStreams } from './streams.ts'

export interface BenchResults {
  command: string
  startedAt: string
  quick: boolean
  machine: Record<string, unknown>
  scenarios: { overhead?: OverheadResult; 'cold-start'?: ColdStartResult; streams?: StreamsResult; 'budget-race'?: BudgetRaceResult; cpu?: CpuResult; profile?: ProfilesResult }
  /** Per scenario: the run that measured it (an `--only` run keeps the other scenarios of the previous results). */
  measuredBy?: Record<string, { command: string; startedAt: string; loadAvgBefore: unknown; loadAvgAfter: unknown }>
  skipped: Record<string, string>
  totalMs: number
  build?: { binary: string; via: string; buildShError?: string }
}

const f = (x: number | null | undefined, d = 2) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : String(Math.round(x * 10 ** d) / 10 ** d))
const x = (r: number | null | undefined) => (r === null || r === undefined ? '–' : `${r}×`)
const table = (head: string[], rows: (string | number)[][]) =>
  [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')

function overheadMd(o: OverheadResult): string {
  const out: string[] = ['## 1. Overhead', '',
    `Fake upstream: ${o.upstream.latencyMs} ms fixed latency; SSE = ${o.upstream.chunks} chunks at ${o.upstream.intervalMs} ms intervals. ` +
    'Targets: (a) direct to the upstream, (b) bare `Bun.serve` fetch-proxy, (c) our gateway (auth + budget reserve/settle in Redis + timing), ' +
    `(d) Portkey gateway ${'version' in o.portkey ? o.portkey.version : `— **unavailable**: ${o.portkey.unavailable}`} under Bun. ` +
    '"added" = percentile of the target minus the same percentile of (a) at the same concurrency (ms); a negative value is within run-to-run noise. ' +
    'Total = request start → body fully read; TTFT = first `data:` event.', '']
  for (const mode of ['json', 'stream'] as const) {
    const cells = o.cells.filter((c) => c.mode === mode)
    out.push(`### ${mode === 'json' ? 'Non-streaming (JSON)' : 'Streaming (SSE)'}`, '')
    const head = ['conc.', 'target', 'ok/sent', 'req/s', 'p50 ms', 'p99 ms', 'added p50', 'added p99']
    if (mode === 'stream') head.push('TTFT p50', 'TTFT added p50', 'TTFT added p99')
    out.push(table(head, cells.map((c) => {
      const l = c.load
      const row = [c.concurrency, c.target, l ? `${l.ok}/${l.sent}` : 'n/a', f(l?.rps, 0), f(l?.total.p50), f(l?.total.p99), f(c.addedP50Ms), f(c.addedP99Ms)]
      if (mode === 'stream') row.push(f(l?.ttfb.p50), f(c.addedTtftP50Ms), f(c.addedTtftP99Ms))
      return row
    })), '')
  }
  out.push('### Ratios', '', 'Added-latency ratios compare the p50 added over (a) (below 1× = our gateway adds less); throughput ratios compare req/s ' +
    '(above 1× = our gateway serves more). "–" where the denominator\'s added p50 is ≤ 0, i.e. within the noise of (a).', '')
  out.push(table(['mode', 'conc.', '(c)/(b) added p50', '(c)/(b) req/s', '(c)/(d) added p50', '(c)/(d) req/s',
    '(c)/(b) TTFT added p50', '(c)/(d) TTFT added p50', `(c)/(d) TTFT added p50, Portkey's ${o.portkeyStreamSleepMs} ms sleep removed`],
  o.ratios.map((r) => [r.mode, r.concurrency, x(r.gwOverBareAddedP50), x(r.gwOverBareRps), x(r.gwOverPortkeyAddedP50), x(r.gwOverPortkeyRps),
    x(r.gwOverBareTtftAddedP50), x(r.gwOverPortkeyTtftAddedP50), x(r.gwOverPortkeyTtftAddedP50ExclSleep)])), '')
  const pk = o.cells.filter((c) => c.mode === 'stream' && c.target === 'portkey' && c.load)
  if (pk.length) {
    out.push('### Portkey\'s first-chunk sleep, separately', '',
      `Portkey's stream transform awaits \`setTimeout(25)\` before the first chunk it forwards (a fixed ${o.portkeyStreamSleepMs} ms, not load-dependent). ` +
      'Its streamed TTFT added over (a), and the same with the sleep taken out:', '',
      table(['conc.', 'TTFT added p50', 'minus the sleep', 'TTFT added p99', 'minus the sleep'],
        pk.map((c) => [c.concurrency, f(c.addedTtftP50Ms), f((c.addedTtftP50Ms ?? NaN) - o.portkeyStreamSleepMs), f(c.addedTtftP99Ms), f((c.addedTtftP99Ms ?? NaN) - o.portkeyStreamSleepMs)])), '')
  }
  const stages = [...new Set(Object.values(o.gatewayStages).flatMap((s) => Object.keys(s)))]
  out.push('### Our gateway\'s stages (Server-Timing, p50 / p99 ms)', '',
    table(['run', ...stages], Object.entries(o.gatewayStages).map(([k, s]) => [k, ...stages.map((st) => (s[st] ? `${f(s[st]!.p50, 3)} / ${f(s[st]!.p99, 3)}` : '–'))])), '',
    `Slowest stage of the gateway's own work (excluding \`upstream_ttfb\` and \`stream\`, which wait on the upstream): **${o.slowestOwnStage ?? 'n/a'}**. ` +
    'Server-Timing is sent with the headers, so stages after them (`stream`, and `settle`, which follows every reply) are absent.', '')
  return out.join('\n')
}

function cpuMd(c: CpuResult): string {
  const targets = CPU_TARGETS
  const out: string[] = ['## 5. CPU-bound (wrk, upstream answering in 0 ms)', '',
    `wrk (one thread, ${c.durationS} s per cell after a 1 s warm-up${c.warmupS ? `; before its first cell in each mode every target served ${c.warmupS} s of load at c=32, to get past its JIT compiler's first seconds` : ''}) against: (a) direct to the fake upstream, (b) the bare \`Bun.serve\` fetch-proxy, ` +
    '(c) our gateway with strict budgets in Redis, (c\'\') the same with budget slices of $1 (`gateway-slices`, `--budget-slice-usd 1`), ' +
    '(c\') our gateway with the in-process ledger — all on the embedded store (bun:sqlite) — and ' +
    `(d) Portkey ${'version' in c.portkey ? c.portkey.version : `— **unavailable**: ${c.portkey.unavailable}`} under Bun, ` +
    'and five floors (`bench/floor-proxy.ts`): the least any gateway that reads what it forwards does — parse the request and send it ' +
    're-serialised, parse the JSON reply or every SSE event of the streamed one — as a bare `Bun.serve` handler (floor), as an Elysia route ' +
    '(floor-elysia), and as an Elysia route that also runs two Lua scripts per request through ioredis, before and after the upstream call ' +
    '(floor-elysia-redis: the round trips of a per-request atomic budget, two one-command scripts), or the gateway\'s own reserve.lua and ' +
    'settle.lua with the keys and arguments its ledger sends, the settle after the reply as the gateway does, and none of the ledger\'s ' +
    'bookkeeping (floor-elysia-budget: the most a gateway that reserves and settles each request with these scripts can do here), ' +
    'or, as with budget slices, draws each request from one slice leased at start and runs only settle.lua per request (floor-elysia-slice). ' +
    `The upstream answers at once (SSE: ${c.chunks} chunks back to back), so req/s is bounded by the proxies' own CPU. Latency = request start → whole ` +
    'response read, wrk\'s percentiles (with its coordinated-omission correction; at c=1 see also the requests as timed, below). CPU/1k = CPU time (user + system, /proc) of the serving process (the upstream for direct) per 1,000 requests: cost per request, ' +
    'independent of how the cores were shared. Each gateway serves its own tenant, and before each cell the usage records the Redis gateways ' +
    'left in Redis are let drain (shipped), so one target\'s shipping does not run during the next one\'s cell.', '']
  for (const mode of ['json', 'stream'] as const) {
    out.push(`### ${mode === 'json' ? 'JSON' : `SSE (${c.chunks} chunks)`}`, '')
    out.push(table(['conc.', 'target', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'CPU ms / 1k req', 'non-2xx', 'socket errors'],
      c.cells.filter((x) => x.mode === mode).map((x) => [x.concurrency, x.target, f(x.wrk?.rps, 0), f(x.wrk?.p50Ms, 3), f(x.wrk?.p99Ms, 3), f(x.wrk?.maxMs, 1),
        f(x.cpuMsPer1k, 1), x.wrk?.non2xx ?? '–', x.wrk?.socketErrors ?? '–'])), '')
  }
  out.push('### Ratios (req/s)', '', table(['mode', 'conc.', 'direct / bare (≥ 2× = wrk not the bottleneck)', 'gw Redis / bare', 'gw Redis + slices / bare', 'gw in-process / bare', 'Portkey / bare', 'gw Redis / Portkey', 'gw Redis + slices / Portkey', 'gw in-process / Portkey'],
    c.ratios.map((r) => [r.mode, r.concurrency, x(r.directOverBare), x(r.redisOverBare), x(r.slicesOverBare), x(r.memoryOverBare), x(r.portkeyOverBare), x(r.redisOverPortkey), x(r.slicesOverPortkey), x(r.memoryOverPortkey)])), '')
  out.push('### Against the floors (req/s)', '', table(['mode', 'conc.', 'floor / bare', 'floor-elysia / floor', 'floor-elysia-budget / bare', 'floor-elysia-slice / bare', 'gw in-process / floor-elysia', 'gw Redis / floor-elysia-redis', 'gw Redis / floor-elysia-budget', 'gw Redis + slices / floor-elysia-slice'],
    c.ratios.map((r) => [r.mode, r.concurrency, x(r.floorOverBare), x(r.elysiaOverFloor), x(r.budgetFloorOverBare), x(r.sliceFloorOverBare), x(r.memoryOverFloor), x(r.redisOverFloor), x(r.redisOverBudgetFloor), x(r.slicesOverSliceFloor)])), '')
  const added = (p50: 'addedP50Ms' | 'wrkAddedP50Ms', p99: 'addedP99Ms' | 'wrkAddedP99Ms') => table(['mode', ...targets.slice(1).map((t) => `${t} p50 / p99`)],
    ['json', 'stream'].map((m) => [m, ...targets.slice(1).map((t) => {
      const a = c.addedAtC1.find((y) => y.mode === m && y.target === t)
      return a ? `${f(a[p50], 3)} / ${f(a[p99], 3)}` : '–'
    })]))
  out.push('### Added latency at c=1 (target − direct, ms)', '',
    'Each request as the client saw it (timed in wrk\'s script, request to whole response; `bench/wrk.ts`):', '', added('addedP50Ms', 'addedP99Ms'), '',
    'wrk\'s own percentiles, as in the tables above: corrected for coordinated omission, so every slow request also adds made-up samples ' +
    'below it, one per mean request interval (a 5 ms pause among 0.3 ms requests counts ~15 times):', '', added('wrkAddedP50Ms', 'wrkAddedP99Ms'), '')
  out.push(c.loadGenSuspect.length
    ? `**Load generator check failed** (direct < 2× bare) at: ${c.loadGenSuspect.join('; ')} — there the upstream or wrk may limit the bare proxy's figure.`
    : 'Load generator check: direct ≥ 2× bare at every level.', '')
  return out.join('\n')
}

function coldMd(c: ColdStartResult): string {
  return ['## 2. Cold start', '',
    `The compiled binary, Postgres holding ${c.tenants.toLocaleString('en')} tenants and ${c.keys.toLocaleString('en')} keys (seeded by SQL in ${c.seedMs} ms), ` +
    `\`--warm-limit ${c.warmLimit}\`. Spawn → first \`/readyz\` 200 polled every 5 ms; \`boot_to_ready_ms\` and warm-up from the gateway's \`ready\` log line. ` +
    'The first 3 requests (3 tenants, non-streaming, 10 ms upstream) vs the median of the next requests to the same 3 tenants on the same connection ' +
    '(steady state), and the median of 20 more requests each to a tenant untouched since boot (in the warmed cache; its Redis period counter is created on first use).', '',
    table(['run', 'spawn→ready ms', 'gateway CPU until ready ms', 'boot_to_ready ms', 'warm-up ms (of which loading tenants+keys)', 'tenants warmed', 'req 1 ms', 'req 2 ms', 'req 3 ms', 'steady median ms (n)', 'first touch of a tenant, median ms', 'req 1 / steady', 'slowest stage of req 1 (besides upstream)'],
      c.runs.map((r, i) => [i + 1, f(r.spawnToReadyMs, 1), f(r.bootCpuMs, 0), f(r.bootToReadyMs, 0), `${f(r.warmupMs, 0)}${r.warmupLoadMs != null ? ` (${f(r.warmupLoadMs, 0)})` : ''}`, r.tenantsWarmed ?? '–', ...r.first3Ms.map((v) => f(v)),
        `${f(r.steadyMedianMs)} (${r.steadyN})`, f(r.newTenantMedianMs), x(r.firstOverSteady), r.slowestFirstStage ?? '–'])), '',
    'Stages of the first 3 requests (`[COLD-START]` log lines, ms):', '',
    table(['run', 'n', 'total', 'stages'], c.runs.flatMap((r, i) => r.first3Stages.map((s) => [i + 1, s.n, f(s.total_ms, 3),
      Object.entries(s.stages_ms).map(([k, v]) => `${k} ${f(v, 3)}`).join(', ')]))), ''].join('\n')
}

function streamsMd(s: StreamsResult): string {
  const rounds = s.rounds ?? 1
  const summary = s.summary ?? summarizeStreams(s.runs.map((r) => ({ ...r, round: r.round ?? 1, chunksVsDirect: r.chunksVsDirect ?? null })))
  const out = ['## 3. Streams', '',
    `${s.streams.toLocaleString('en')} concurrent SSE streams of ${s.chunksPerStream} chunks (upstream: ${s.upstream.latencyMs} ms to the first byte, ` +
    `${s.upstream.intervalMs} ms between chunks, so a stream lasts ≥ ${(s.upstream.latencyMs + s.upstream.chunks * s.upstream.intervalMs) / 1000} s). ` +
    'RSS of the proxy process sampled every 100 ms (before the load → peak). chunks/s = `data:` events received by the client per second of the run. ' +
    'Bun\'s `fetch` allows 256 concurrent requests per process unless `BUN_CONFIG_MAX_HTTP_REQUESTS` is set at process start; the first bare proxy runs with that default, the second with it lifted (what Bun itself holds for 1,000 proxied streams), the third also reads each reply in JavaScript (a reader and a pull stream, as any proxy that must see the bytes does), the metering floor (`bench/floor-proxy.ts` as an Elysia route) also splits the reply into events and parses each one, as a gateway that meters must (the floor under the gateway\'s RSS), the gateway raises it itself (it re-executes once with 65535), and the last row sets it from outside instead.', '']
  if (rounds > 1) {
    out.push(`Direct, the uncapped bare proxies, the metering floor and the gateway as shipped ran in ${rounds} interleaved rounds (each process started fresh; ` +
      'direct first in each round, the others in the order of a row of a balanced Latin square); the two other rows ran once. Each figure below is the median over ' +
      'the rounds (ok/sent and errors: their sums), "vs direct" the median of each round\'s ratio to that round\'s direct run; the rounds themselves follow.', '')
  }
  out.push(table(['target', 'rounds', 'ok/sent', 'chunks/s', 'vs direct', 'TTFT p50 ms', 'TTFT p99 ms', 'TTFT added p50', 'TTFT added p99', 'stream p50 ms', 'stream p99 ms', 'RSS MiB before → peak', 'peak each round', 'errors'],
    summary.map((m) => [m.target, m.rounds, `${m.ok}/${m.sent}`, m.chunksPerSec, x(m.chunksVsDirect), f(m.ttftP50Ms), f(m.ttftP99Ms), f(m.ttftAddedP50Ms), f(m.ttftAddedP99Ms),
      f(m.streamP50Ms), f(m.streamP99Ms), m.rssPeakMiB !== null ? `${f(m.rssBeforeMiB, 0)} → ${f(m.rssPeakMiB, 0)}` : '–', m.rssPeaksMiB.map((p) => f(p, 0)).join(' / ') || '–', m.errors])), '')
  if (rounds > 1) {
    out.push(table(['round', 'target', 'chunks/s', 'vs direct', 'TTFT p50 ms', 'RSS MiB before → peak'],
      s.runs.map((r) => [r.round, r.target, r.load.chunksPerSec, x(r.chunksVsDirect), f(r.load.ttfb.p50), r.rssPeakMiB !== null ? `${f(r.rssBeforeMiB, 0)} → ${f(r.rssPeakMiB, 0)}` : '–'])), '')
  }
  return out.join('\n')
}

function raceMd(b: BudgetRaceResult): string {
  return ['## 4. Budget race', '',
    `${b.requests} non-streaming requests sent at once (one connection each) to one tenant whose limit admits K = ${b.k} by actual cost ` +
    `(${b.costPerRequestMicros} µUSD per request: 10 prompt tokens × $1/Mtok + 20 completion tokens × $100/Mtok; limit ${b.k * b.costPerRequestMicros} µUSD). ` +
    `Upstream latency ${b.upstreamLatencyMs} ms so all requests overlap. \`strict\` reserves the worst case (prompt estimate + max_tokens); ` +
    '`fixed` reserves a flat 1,000 µUSD. Spent is the Redis counter once every response is in and the gateway has no request in flight ' +
    '(a reply goes out before its settle is answered); overrun = max(0, spent − limit). ' +
    'Reserve latency: the `budget_reserve` stage of Server-Timing on admitted requests.', '',
    table(['policy', 'round', 'admitted (K)', '402', 'other', 'spent µUSD', 'limit µUSD', 'overrun µUSD', 'usage_records µUSD', 'reserve p50/p99 ms', 'wall ms'],
      b.rounds.map((r) => [r.policy, r.round, `${r.admitted} (${b.k})`, r.rejected402, Object.entries(r.otherStatuses).map(([k, v]) => `${k}×${v}`).join(' ') || '–',
        r.spentMicros.toLocaleString('en'), r.limitMicros.toLocaleString('en'), r.overrunMicros.toLocaleString('en'), r.usageRecordsMicros?.toLocaleString('en') ?? '–',
        r.reserveMs ? `${f(r.reserveMs.p50, 3)} / ${f(r.reserveMs.p99, 3)}` : '–', r.wallMs])), '',
    'Under the 500-request burst those times are mostly queueing (every request is parsed and sent to Redis before the replies are read). ' +
    `One request at a time (${b.uncontended.requests} requests, a budgeted tenant far from its limit): reserve p50 / p99 ` +
    `${f(b.uncontended.reserveMs?.p50, 3)} / ${f(b.uncontended.reserveMs?.p99, 3)} ms.`,
    '', 'With `strict`, fewer than K can be admitted: the reservation is the worst case (the gateway\'s prompt estimate + max_tokens), which is above the actual cost.', ''].join('\n')
}

function profilesMd(after: ProfilesResult, before: ProfilesResult | null): string {
  const out: string[] = ['## 6. Where the CPU goes (profiles)', '',
    'The gateway run from source under `bun --cpu-prof-md` (embedded store; strict budgets in Redis, or the in-process ledger), ' +
    'behind the 0 ms upstream, with wrk at c=32 for 5 s after 1 s of warm-up (`bun bench/profile.ts`). Top 10 functions by self time; ' +
    '`[native code]` is Bun itself: `(anonymous)` at the root is the event loop\'s own work (HTTP parsing and writing, sockets, GC), ' +
    '`fetch` the upstream call. req/s under the profiler are slower than without it and come from separate runs: compare the shares, not the rates. ' +
    (before ? `"Before" is commit ${before.commit} (bench/profiles-before.json, recorded with the same code), "after" is ${after.commit}.` : ''), '']
  const key = (r: ProfileRun) => `${r.ledger}${r.slices ? '+slices' : ''} ${r.mode}`
  for (const a of after.runs) {
    const b = before?.runs.find((x) => key(x) === key(a))
    out.push(`### ${a.mode === 'json' ? 'JSON' : 'SSE (20 chunks)'}, ${a.ledger === 'redis' ? `strict budgets in Redis${a.slices ? ', budget slices of $1' : ''}` : 'in-process ledger'}`, '')
    const cell = (r: ProfileRun | undefined, i: number) => {
      const t = r?.top[i]
      return t ? `${t.selfPct}% \`${t.name}\` ${t.where === '[native code]' ? '(native)' : t.where}` : '–'
    }
    out.push(table(['#', b ? `before (${b.rps} req/s profiled)` : 'before', `after (${a.rps} req/s profiled)`],
      Array.from({ length: Math.max(a.top.length, b?.top.length ?? 0) }, (_, i) => [i + 1, cell(b, i), cell(a, i)])), '')
  }
  return out.join('\n')
}

export const NOTES_MARKER = '<!-- notes: written by hand, kept by bench/run.ts -->'

/**
 * With `--only`, the scenarios this run did not measure are taken from the previous results.json, each
 * still attributed to the run that measured it.
 */
export async function mergePrevious(r: BenchResults): Promise<void> {
  const stamp = { command: r.command, startedAt: r.startedAt, loadAvgBefore: r.machine.loadAvgBefore, loadAvgAfter: r.machine.loadAvgAfter }
  const prev = (await Bun.file(`${ROOT}bench/results.json`).json().catch(() => null)) as BenchResults | null
  r.measuredBy ??= {}
  for (const name of Object.keys(r.scenarios)) r.measuredBy[name] = stamp
  if (!prev) return
  for (const [name, value] of Object.entries(prev.scenarios ?? {})) {
    if (name in r.scenarios || name in r.skipped) continue
    ;(r.scenarios as Record<string, unknown>)[name] = value
    r.measuredBy[name] = prev.measuredBy?.[name] ?? { command: prev.command, startedAt: prev.startedAt, loadAvgBefore: prev.machine?.loadAvgBefore, loadAvgAfter: prev.machine?.loadAvgAfter }
  }
}

export async function writeReport(r: BenchResults): Promise<string[]> {
  const m = r.machine
  const md: string[] = ['# Benchmark results', '',
    `Produced by \`${r.command}\` (from the repository root; also \`npm run bench\`) on ${r.startedAt}, ` +
    `${m.cpus} × ${m.cpuModel}, ${m.memGiB} GiB, Bun ${m.bun}, Linux ${m.kernel}, load average ${m.loadAvgBefore} before and ${m.loadAvgAfter} after; ` +
    `the whole command took ${(r.totalMs / 1000).toFixed(0)} s` +
    `${r.quick ? ' (`--quick`: fewer requests, treat as a smoke run)' : ''}. ` +
    'Every server (fake upstream, bare proxy, our gateway, Portkey, Redis, Postgres) and the load generator run as separate processes on ' +
    'the same 2 cores, over 127.0.0.1; numbers include that contention. Machine-readable: `bench/results.json`.', '']
  if (r.build?.buildShError) {
    md.push(`> **Build note:** \`./build.sh\` failed (${r.build.buildShError}); this run used the same compile with \`--format=esm\` ` +
      `(\`${r.build.binary}\`). Rerun once \`./build.sh\` builds again.`, '')
  }
  if (r.scenarios.overhead) md.push(overheadMd(r.scenarios.overhead))
  if (r.scenarios['cold-start']) md.push(coldMd(r.scenarios['cold-start']))
  if (r.scenarios.streams) md.push(streamsMd(r.scenarios.streams))
  if (r.scenarios['budget-race']) md.push(raceMd(r.scenarios['budget-race']))
  if (r.scenarios.cpu) md.push(cpuMd(r.scenarios.cpu))
  if (r.scenarios.profile) md.push(profilesMd(r.scenarios.profile, await Bun.file(`${ROOT}bench/profiles-before.json`).json().catch(() => null)))
  const older = Object.entries(r.measuredBy ?? {}).filter(([, m]) => m.startedAt !== r.startedAt)
  if (older.length) {
    md.push('## Sections from earlier runs', '', ...older.map(([k, m]) => `- **${k}**: \`${m.command}\` on ${m.startedAt} (load average ${m.loadAvgBefore} before, ${m.loadAvgAfter} after)`), '')
  }
  if (Object.keys(r.skipped).length) {
    md.push('## Not measured', '', ...Object.entries(r.skipped).map(([k, v]) => `- **${k}**: ${v.split('\n')[0]}`), '')
  }
  const files = [`${ROOT}bench/results.json`, `${ROOT}bench/RESULTS.md`]
  // Notes written by hand (profiles, analysis) live below the marker and survive every rerun.
  const previous = await Bun.file(files[1]!).text().catch(() => '')
  const notes = previous.indexOf(NOTES_MARKER)
  if (notes !== -1) md.push(previous.slice(notes))
  await Bun.write(files[0]!, JSON.stringify(r, null, 2) + '\n')
  await Bun.write(files[1]!, md.join('\n'))
  return files.map((p) => p.replace(ROOT, ''))
}
