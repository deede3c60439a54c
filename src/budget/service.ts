/**
 * Request-level budget flow: reserve before the upstream call, then exactly one of settle or release.
 * The reservation handle is idempotent so `finally` blocks and stream cancel paths can all call it safely.
 */
import type { AccessFacts } from '../http/access-log.ts'
import { asGatewayError, GatewayError } from '../http/errors.ts'
import type { LogFn } from '../log.ts'
import type { ChatRequest, ModelConfig, Usage } from '../providers/types.ts'
import type { Tenant } from '../store/types.ts'
import { costMicros, estimateRequestTokens, periodKey, reservationMicros } from './money.ts'
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
    readonly promptEstimate: number,
    private readonly log: LogFn,
    private readonly observe: SettleObserver = () => {},
  ) {}

  /** Cost of what was consumed: reported usage, else an upper estimate capped by the worst-case reservation. */
  costOf(o: SettleOutcome): { cost: number; prompt: number; completion: number } {
    const price = this.args.model
    // Usage an upstream reports is trusted only when well-formed; otherwise settle on the estimate below.
    if (o.usage && isTokenCount(o.usage.prompt_tokens) && isTokenCount(o.usage.completion_tokens)) {
      const cost = costMicros(o.usage, price)
      if (this.args.tenant.policy === 'strict' && cost > this.amountMicros) {
        this.log({ level: 'warn', msg: 'actual cost above the strict reservation', request: this.args.ledgerId, cost_usd_micros: cost, reserved_usd_micros: this.amountMicros })
      }
      return { cost, prompt: o.usage.prompt_tokens, completion: o.usage.completion_tokens }
    }
    // The upstream is held to the request's output cap (the route always sends one), so no estimate exceeds it.
    // Without this, a non-streamed disconnect (completionBytes = MAX_SAFE_INTEGER) under `fixed` made a cost
    // that is no safe integer (settle threw: never settled, reservation held for its TTL), and under `strict`
    // a record whose completion_tokens overflows usage_records' integer column (every shipping batch failed).
    const maxOut = this.args.req.max_completion_tokens ?? this.args.req.max_tokens ?? this.args.model.maxOutputTokens
    const est = { prompt_tokens: this.promptEstimate, completion_tokens: Math.min(o.completionBytes, maxOut), total_tokens: 0 }
    const cost = costMicros(est, price)
    const capped = this.args.tenant.policy === 'strict' ? Math.min(cost, this.amountMicros) : cost
    return { cost: capped, prompt: est.prompt_tokens, completion: est.completion_tokens }
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
      // The reservation stays in Redis and is reclaimed after its TTL; the record is logged for reconciliation.
      this.log({ level: 'error', msg: 'settle failed', request: a.ledgerId, tenant: a.tenant.id, cost_usd_micros: cost, error: String(e) })
    }
    return cost
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
    // Every field that can reach the model counts (tools, functions, schemas, predictions, pass-through fields).
    const { tokens: promptEstimate, unboundedParts } = estimateRequestTokens(a.req)
    if (unboundedParts > 0 && t.policy === 'strict') {
      throw new GatewayError('invalid_request_error', 'File and document inputs cannot be bounded before the call, so a strict budget cannot admit them; ask for policy "fixed" to use them.', { param: 'messages' })
    }
    // The client's own cap when given (even above the catalog's: the catalog may be wrong), else the model's max,
    // which the route also sends upstream so the worst case really is bounded.
    const maxOut = a.req.max_completion_tokens ?? a.req.max_tokens ?? a.model.maxOutputTokens
    const amount = reservationMicros(t.policy, { promptTokens: promptEstimate, maxOutputTokens: maxOut }, a.model)
    try {
      const r = await this.ledger.reserve({
        tenantId: t.id, periodKey: pk, limitMicros: t.budgetUsdMicros ?? UNLIMITED, requestId: a.ledgerId,
        amountMicros: amount, ttlMs: RESERVATION_TTL_MS,
      })
      if (!r.ok) throw new GatewayError('budget_exceeded', 'Budget exceeded for this API key\'s tenant in the current period.')
      return new Reservation(this.ledger, a, pk, amount, promptEstimate, this.log, this.observe)
    } catch (e) {
      const err = asGatewayError(e)
      if (err.code === 'budget_exceeded') throw err
      if (t.failOpen) {
        // Settlement is still attempted (settling without a reservation is allowed), so spend is kept if the store returns.
        this.log({ level: 'warn', msg: 'budget store unavailable; serving fail-open tenant without reservation', tenant: t.id })
        return new Reservation(this.ledger, a, pk, amount, promptEstimate, this.log, this.observe)
      }
      // The store's own error text (client internals, addresses) goes to the log, never to the client.
      this.log({ level: 'error', msg: 'budget reserve failed', tenant: t.id, error: String(e) })
      throw new GatewayError('budget_unavailable', 'The budget store is unavailable; request refused.')
    }
  }
}

const isTokenCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
