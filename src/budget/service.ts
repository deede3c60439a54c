/**
 * Request-level budget flow: reserve before the upstream call, then exactly one of settle or release.
 * The reservation handle is idempotent so `finally` blocks and stream cancel paths can all call it safely.
 */
import type { AccessFacts } from './types.ts'
import { asGatewayError, GatewayError } from '../errors.ts'
import type { LogFn } from '../log.ts'
import type { ModelConfig } from '../config/types.ts'
import type { ChatRequest, Usage } from '../wire/openai.ts'
import type { Tenant } from '../tenants/types.ts'
import { formatUsd, periodKey } from './money.ts'
import { boundMicros, planRequest, type PricePlan, reserveMicros, usageCostMicros } from './pricing/index.ts'
import { usableUsage } from './settlement.ts'
import type { BudgetLedger, UsageRecord } from './types.ts'

/** A reservation outlives any sane request; after this a crashed gateway's hold is reclaimed. */
/**
 * After this a reservation counts as abandoned (crashed gateway) and the next reserve reclaims it. A live
 * stream must never outlive it, or its hold would be reclaimed while it still spends: the route ends streams
 * at MAX_REQUEST_MS, well inside this.
 */
export const RESERVATION_TTL_MS = 2 * 3_600_000
export const MAX_REQUEST_MS = 100 * 60_000
const UNLIMITED = Number.MAX_SAFE_INTEGER

export interface ReserveArgs {
  tenant: Tenant
  keyId: string
  model: ModelConfig
  provider: string
  req: ChatRequest
  ledgerId: string
  startedAt: number
  /**
   * The request's access-log facts (ctx.access): reserve fills tenant, key, model and provider, settle the cost,
   * tokens and outcome; its requestId (the client-visible x-request-id) goes into the usage record.
   */
  access?: AccessFacts
}

/** Called once per request actually settled in the ledger (metrics: per-tenant spend and tokens). */
export type SettleObserver = (record: UsageRecord) => void

export interface SettleOutcome {
  usage: Usage | null
  /** UTF-8 bytes of generated text/arguments seen; an upper bound on completion tokens when usage is missing. */
  completionBytes: number
  /** `shutdown`: ended by the gateway at its drain deadline (AppDeps.shutdown). */
  status: 'ok' | 'client_disconnect' | 'upstream_error' | 'upstream_timeout' | 'shutdown' | 'error'
}

export class Reservation {
  private done = false
  constructor(
    private readonly ledger: BudgetLedger,
    private readonly args: ReserveArgs,
    readonly periodKey: string,
    readonly amountMicros: number,
    /** What the request can make the provider bill (pricing/index.ts). */
    readonly plan: PricePlan,
    private readonly log: LogFn,
    private readonly observe: SettleObserver = () => {},
  ) {}

  get promptEstimate(): number {
    return this.plan.promptTokens
  }

  /** Cost of what was consumed: reported usage, else an upper estimate capped by the worst-case reservation. */
  costOf(o: SettleOutcome): { cost: number; prompt: number; completion: number } {
    const model = this.args.model
    // Usage an upstream reports is trusted only when well-formed; otherwise settle on the estimate below.
    if (usableUsage(o.usage)) {
      const priced = usageCostMicros(model, this.plan, o.usage)
      if (this.args.tenant.policy === 'strict' && priced.cost > this.amountMicros) {
        this.log({ level: 'warn', msg: 'actual cost above the strict reservation', request: this.args.ledgerId, cost_usd_micros: priced.cost, reserved_usd_micros: this.amountMicros })
      }
      return priced
    }
    // The upstream is held to the request's output cap (the route always sends one), so no estimate exceeds it.
    // Clamping also keeps a huge byte count from making a cost that is no safe integer, or a record whose
    // completion_tokens overflows usage_records' integer column.
    const completion = Math.min(o.completionBytes, this.plan.maxOutputTokens)
    const cost = boundMicros(model, this.plan, this.plan.promptTokens, completion)
    const capped = this.args.tenant.policy === 'strict' ? Math.min(cost, this.amountMicros) : cost
    return { cost: capped, prompt: this.plan.promptTokens, completion }
  }

  async settle(o: SettleOutcome, durationMs: number): Promise<number> {
    if (this.done) return 0
    this.done = true
    let priced: { cost: number; prompt: number; completion: number }
    try {
      priced = this.costOf(o)
    } catch (e) {
      // Never leave a reservation hanging over a pricing problem: charge the reservation itself.
      this.log({ level: 'error', msg: 'pricing failed; charging the reservation', request: this.args.ledgerId, error: String(e) })
      priced = { cost: this.amountMicros, prompt: 0, completion: 0 }
    }
    const { cost, prompt, completion } = priced
    const a = this.args
    const record: UsageRecord = {
      requestId: a.ledgerId, tenantId: a.tenant.id, keyId: a.keyId, model: a.model.name, provider: a.provider,
      promptTokens: prompt, completionTokens: completion, costUsdMicros: cost, status: o.status,
      startedAt: a.startedAt, durationMs: Math.round(durationMs),
      ...(a.access ? { clientRequestId: a.access.requestId } : {}),
    }
    if (a.access) Object.assign(a.access, { costMicros: cost, promptTokens: prompt, completionTokens: completion, outcome: o.status })
    try {
      const { settled } = await this.ledger.settle({ tenantId: a.tenant.id, periodKey: this.periodKey, requestId: a.ledgerId, costMicros: cost, record })
      if (settled) this.observe(record)
    } catch (e) {
      // The Redis ledger retries it until it goes through (redis-sweep.ts); the record is logged too.
      this.log({ level: 'error', msg: 'settle failed', request: a.ledgerId, tenant: a.tenant.id, cost_usd_micros: cost, error: String(e) })
    }
    return cost
  }

  /**
   * Charges what the reservation was sized for: every allowed output token (the upstream is held to that cap)
   * on top of the prompt bound. For a request that may have generated tokens nobody saw.
   */
  chargeWorstCase(status: SettleOutcome['status'], durationMs: number): Promise<number> {
    return this.settle({ usage: null, completionBytes: this.maxOutputTokens, status }, durationMs)
  }

  /** The output cap the upstream is held to: the client's, else the model's (the route sends it upstream). */
  get maxOutputTokens(): number {
    return this.plan.maxOutputTokens
  }

  async release(): Promise<void> {
    if (this.done) return
    this.done = true
    if (this.args.access) Object.assign(this.args.access, { costMicros: 0, outcome: 'released' })
    try {
      await this.ledger.release(this.args.tenant.id, this.periodKey, this.args.ledgerId)
    } catch (e) {
      this.log({ level: 'error', msg: 'release failed', request: this.args.ledgerId, error: String(e) })
    }
  }
}

export class BudgetService {
  constructor(
    readonly ledger: BudgetLedger,
    private readonly log: LogFn,
    private readonly now: () => number = Date.now,
    private readonly observe: SettleObserver = () => {},
  ) {}

  /**
   * Runs the reserve and release scripts once at boot on a tenant id no key can have, so the first real
   * request does not pay for their first-call costs. A release never spends and writes no usage record.
   */
  async warmup(): Promise<void> {
    const tenantId = '__gateway_warmup__'
    const requestId = crypto.randomUUID()
    const r = await this.ledger.reserve({ tenantId, periodKey: 'total', limitMicros: UNLIMITED, requestId, amountMicros: 0, ttlMs: 1_000 })
    if (r.ok) await this.ledger.release(tenantId, 'total', requestId)
  }

  /** Readies the tenant's current period counter so its first request does not pay for a rebuild. */
  prime(t: Tenant): Promise<number> {
    return this.ledger.ensureCounter(t.id, periodKey(t.budgetPeriod, this.now()))
  }

  async reserve(a: ReserveArgs): Promise<Reservation> {
    const t = a.tenant
    if (a.access) Object.assign(a.access, { tenant: t.id, keyId: a.keyId, model: a.model.name, provider: a.provider })
    const pk = periodKey(t.budgetPeriod, this.now())
    // Every field that can reach the model counts (tools, functions, schemas, predictions, pass-through fields),
    // images by their model family's formula, tiers, cache writes and per-call search fees (pricing/index.ts).
    // The output cap is the client's own when given (even above the catalog's: the catalog may be wrong), else
    // the model's max, which the route also sends upstream so the worst case really is bounded.
    const planned = planRequest(a.model, a.req, t.policy)
    if (!planned.ok) throw new GatewayError('invalid_request_error', planned.message, { param: planned.param })
    const plan = planned.plan
    const amount = reserveMicros(a.model, plan, t.policy)
    try {
      const r = await this.ledger.reserve({
        tenantId: t.id, periodKey: pk, limitMicros: t.budgetUsdMicros ?? UNLIMITED, requestId: a.ledgerId,
        amountMicros: amount, ttlMs: RESERVATION_TTL_MS,
      })
      if (!r.ok) throw budgetExceeded(amount, t.budgetUsdMicros ?? UNLIMITED, r.spentMicros, r.reservedMicros, plan.maxOutputTokens)
      return new Reservation(this.ledger, a, pk, amount, plan, this.log, this.observe)
    } catch (e) {
      const err = asGatewayError(e)
      if (err.code === 'budget_exceeded') throw err
      if (t.failOpen) {
        // Settlement is still attempted (settling without a reservation is allowed), so spend is kept if the store returns.
        this.log({ level: 'warn', msg: 'budget store unavailable; serving fail-open tenant without reservation', tenant: t.id })
        return new Reservation(this.ledger, a, pk, amount, plan, this.log, this.observe)
      }
      // The store's own error text (client internals, addresses) goes to the log, never to the client.
      this.log({ level: 'error', msg: 'budget reserve failed', tenant: t.id, error: String(e) })
      throw new GatewayError('budget_unavailable', 'The budget store is unavailable; request refused.')
    }
  }
}

/** A 402 that says what the request needed, what is left, and what the client can do about it. */
function budgetExceeded(needed: number, limit: number, spent: number, reserved: number, maxOut: number): GatewayError {
  const left = Math.max(0, limit - spent - reserved)
  const held = reserved > 0 ? ` (${formatUsd(reserved)} of it held by requests in flight)` : ''
  return new GatewayError('budget_exceeded',
    `Budget exceeded: this request needs up to ${formatUsd(needed)} (its prompt and up to ${maxOut} output tokens), ` +
    `and the tenant has ${formatUsd(left)} left of ${formatUsd(limit)} in the current period${held}. ` +
    'Lower max_tokens (or max_completion_tokens) to need less, or ask for a larger budget.')
}
