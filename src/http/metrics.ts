/** A minimal Prometheus text-format registry: counters, gauges, fixed-bucket histograms, labels as sorted pairs. */
import type { UsageRecord } from '../budget/types.ts'
type Labels = Record<string, string>

const LATENCY_BUCKETS_MS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000]

const UNSAFE = /["\\\n]/ // no `g`: a global regex's test() is stateful
const labelPair = (k: string, v: string) => `${k}="${UNSAFE.test(v) ? v.replace(/["\\\n]/g, '_') : v}"`

function sortedKey(labels: Labels): string {
  return Object.keys(labels).sort().map((k) => labelPair(k, labels[k]!)).join(',')
}

/** Label sets seen so far (their number is bounded by the label values in use: routes, statuses, stages, codes). */
const keyCache = new Map<string, string>()
const KEY_CACHE_MAX = 10_000

/**
 * Called about ten times per request: the sorted, escaped key is built once per distinct label set and then
 * found by a plain concatenation of the labels as given (sorting and escaping were ~5% of the gateway's CPU).
 */
function labelKey(labels: Labels): string {
  let raw = ''
  for (const k in labels) {
    const v = labels[k]!
    // A value holding a separator could pass for another label set: such a set is never cached.
    if (v.includes('\u0000') || v.includes('\u0001')) return sortedKey(labels)
    raw += `${k}\u0000${v}\u0001`
  }
  if (raw === '') return ''
  let key = keyCache.get(raw)
  if (key === undefined) {
    key = sortedKey(labels)
    if (keyCache.size < KEY_CACHE_MAX) keyCache.set(raw, key)
  }
  return key
}

class Counter {
  private values = new Map<string, number>()
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels)
    this.values.set(k, (this.values.get(k) ?? 0) + by)
  }
  /** One label set's handle, for a caller that counts it often (no key to build per increment). */
  series(labels: Labels): { inc(by?: number): void } {
    const k = labelKey(labels)
    return { inc: (by = 1) => void this.values.set(k, (this.values.get(k) ?? 0) + by) }
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`]
    for (const [k, v] of this.values) lines.push(k ? `${this.name}{${k}} ${v}` : `${this.name} ${v}`)
    return lines.join('\n')
  }
}

class Gauge extends Counter {
  set(labels: Labels, v: number): void {
    this.inc(labels, v - this.get(labels))
  }
  dec(labels: Labels = {}): void {
    this.inc(labels, -1)
  }
  override render(): string {
    return super.render().replace(' counter', ' gauge')
  }
}

class Histogram {
  private bySet = new Map<string, { counts: number[]; sum: number; count: number }>()
  constructor(readonly name: string, readonly help: string, readonly buckets = LATENCY_BUCKETS_MS) {}
  observe(labels: Labels, value: number): void {
    this.record(this.at(labelKey(labels)), value)
  }
  /** One label set's handle, for a caller that observes it often (no key to build per observation). */
  series(labels: Labels): { observe(value: number): void } {
    const s = this.at(labelKey(labels))
    return { observe: (value) => this.record(s, value) }
  }
  private at(k: string): { counts: number[]; sum: number; count: number } {
    let s = this.bySet.get(k)
    if (!s) this.bySet.set(k, (s = { counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 }))
    return s
  }
  private record(s: { counts: number[]; sum: number; count: number }, value: number): void {
    // Per bucket, not cumulative: one increment per observation; render() adds them up.
    let i = 0
    while (i < this.buckets.length && !(value <= this.buckets[i]!)) i++ // NaN: in no bucket
    if (i < this.buckets.length) s.counts[i]!++
    s.sum += value
    s.count++
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`]
    for (const [k, s] of this.bySet) {
      const pre = k ? `${k},` : ''
      let cumulative = 0
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket{${pre}le="${b}"} ${(cumulative += s.counts[i]!)}`))
      lines.push(`${this.name}_bucket{${pre}le="+Inf"} ${s.count}`)
      lines.push(`${this.name}_sum${k ? `{${k}}` : ''} ${s.sum}`)
      lines.push(`${this.name}_count${k ? `{${k}}` : ''} ${s.count}`)
    }
    return lines.join('\n')
  }
}

/** A value read when scraped (process figures), rendered as one unlabelled sample. */
class Sampled {
  constructor(readonly name: string, readonly help: string, readonly type: 'gauge' | 'counter', readonly read: () => number) {}
  render(): string {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.type}\n${this.name} ${this.read()}`
  }
}

const LOOP_LAG_BUCKETS_MS = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
const processStartSeconds = Math.round(Date.now() / 1000 - process.uptime())

export function createMetrics() {
  const m = {
    requests: new Counter('gateway_requests_total', 'Requests by route and status'),
    errors: new Counter('gateway_errors_total', 'Error responses and stream errors by code'),
    budgetRejections: new Counter('gateway_budget_rejections_total', 'Requests refused for budget'),
    stageMs: new Histogram('gateway_stage_duration_ms', 'Per-stage request latency in ms'),
    upstreamMs: new Histogram('gateway_upstream_ttfb_ms', 'Upstream time to first byte in ms by provider'),
    warmupMs: new Gauge('gateway_warmup_duration_ms', 'Duration of the boot warm-up in ms'),
    warmTenants: new Gauge('gateway_warm_tenants', 'Tenants in the warmed cache'),
    ledgerOutboxDropped: new Counter('gateway_ledger_outbox_dropped_total',
      'Settled usage records no longer held for re-delivery because the ledger outbox was full'),
    inflightRequests: new Gauge('gateway_inflight_requests', '/v1 requests in progress (streams included, until their end)'),
    inflightStreams: new Gauge('gateway_inflight_streams', 'SSE streams in progress'),
    budgetSlices: new Gauge('gateway_budget_slices', 'Budget slices this gateway holds in Redis (0 when slices are off)'),
    budgetSlicesHeld: new Gauge('gateway_budget_slices_held_usd_micros', 'Micro-USD of tenants\' budgets that this gateway\'s slices hold in Redis'),
    // One series per tenant that spent through this instance (sum over instances for a tenant's total). Tenant
    // ids are label values here, so these are rendered only for the private metrics listener (see render).
    tenantSpend: new Counter('gateway_tenant_spend_usd_micros_total', 'Settled cost by tenant in micro-USD'),
    tenantTokens: new Counter('gateway_tenant_tokens_total', 'Settled tokens by tenant and type (prompt, completion)'),
    loopLagMs: new Histogram('gateway_event_loop_lag_ms', 'Event-loop delay of a periodic timer in ms', LOOP_LAG_BUCKETS_MS),
    rss: new Sampled('process_resident_memory_bytes', 'Resident set size in bytes', 'gauge', () => process.memoryUsage.rss()),
    cpu: new Sampled('process_cpu_seconds_total', 'User and system CPU time in seconds', 'counter', () => {
      const c = process.cpuUsage()
      return (c.user + c.system) / 1e6
    }),
    started: new Sampled('process_start_time_seconds', 'Start time of the process since the Unix epoch in seconds', 'gauge', () => processStartSeconds),
  }
  m.inflightRequests.set({}, 0)
  m.inflightStreams.set({}, 0)
  m.budgetSlices.set({}, 0)
  m.budgetSlicesHeld.set({}, 0)
  const perTenant = new Set<unknown>([m.tenantSpend, m.tenantTokens])
  return {
    ...m,
    /**
     * `tenants: true` adds the per-tenant series. /metrics on the main port answers anyone who can reach the API,
     * so it never lists tenant ids; the `metrics_listen` listener (meant for a private interface) does.
     */
    render(opts: { tenants?: boolean } = {}): string {
      return Object.values(m).filter((x) => opts.tenants === true || !perTenant.has(x)).map((x) => x.render()).join('\n') + '\n'
    },
  }
}

export type Metrics = ReturnType<typeof createMetrics>

/** Per-tenant spend and tokens, fed by every settled request (BudgetService's settle observer). */
export function observeSettled(metrics: Metrics): (r: UsageRecord) => void {
  // A tenant's three series found once, not by their label keys on every settle (~10% of a settle's CPU in a loop).
  // Bounded like the label-key cache: past it the handles are made again, which only costs time.
  type Series = ReturnType<Counter['series']>
  const byTenant = new Map<string, { spend: Series; prompt: Series; completion: Series }>()
  return (r) => {
    let h = byTenant.get(r.tenantId)
    if (h === undefined) {
      if (byTenant.size >= KEY_CACHE_MAX) byTenant.clear()
      h = {
        spend: metrics.tenantSpend.series({ tenant: r.tenantId }),
        prompt: metrics.tenantTokens.series({ tenant: r.tenantId, type: 'prompt' }),
        completion: metrics.tenantTokens.series({ tenant: r.tenantId, type: 'completion' }),
      }
      byTenant.set(r.tenantId, h)
    }
    h.spend.inc(r.costUsdMicros)
    h.prompt.inc(r.promptTokens)
    h.completion.inc(r.completionTokens)
  }
}
