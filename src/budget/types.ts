/** Budget ledger contract shared by the Redis (Lua/EVALSHA) and in-process implementations. Money is integer µUSD. */

export interface UsageRecord {
  requestId: string
  tenantId: string
  keyId: string
  model: string
  provider: string
  promptTokens: number
  completionTokens: number
  costUsdMicros: number
  /** 'ok' | 'client_disconnect' | 'upstream_error' | 'upstream_timeout' | 'shutdown' | … */
  status: string
  startedAt: number // epoch ms
  durationMs: number
  /** The client-visible x-request-id (sent by the client or made by the gateway); absent in older records. */
  clientRequestId?: string | null
}

export interface ReserveInput {
  tenantId: string
  /** Period key, e.g. 'total', 'day:2026-11-24', 'month:2026-11' (see periodKey in money.ts). */
  periodKey: string
  limitMicros: number
  requestId: string
  amountMicros: number
  /** After this the reservation is considered abandoned (crashed gateway) and reclaimed by the next reserve. */
  ttlMs: number
}

export type ReserveResult =
  | { ok: true }
  | { ok: false; reason: 'budget_exceeded'; spentMicros: number; reservedMicros: number }

export interface SettleInput {
  tenantId: string
  periodKey: string
  requestId: string
  costMicros: number
  record: UsageRecord
}

export interface PeriodSnapshot {
  spentMicros: number
  reservedMicros: number
}

export interface BudgetLedger {
  readonly kind: 'redis' | 'memory'
  reserve(input: ReserveInput): Promise<ReserveResult>
  /** Exactly once per requestId: later calls return { settled: false } and change nothing. */
  settle(input: SettleInput): Promise<{ settled: boolean }>
  /** Drops the reservation without spending; no-op if already settled/released. */
  release(tenantId: string, periodKey: string, requestId: string): Promise<void>
  snapshot(tenantId: string, periodKey: string): Promise<PeriodSnapshot>
  /** Makes sure the period's spent counter exists (rebuilt from the store if not); used to warm tenants at boot. */
  ensureCounter(tenantId: string, periodKey: string): Promise<number>
  close(): Promise<void>
}

/**
 * What one request was and cost, filled as it is learned (admission: tenant and key; reserve: model and
 * provider; settle: cost, tokens, outcome) and written as the request's access-log line when it ends.
 */
export interface AccessFacts {
  /** The client-visible x-request-id; it is also stored as usage_records.client_request_id. */
  readonly requestId: string
  tenant?: string
  keyId?: string
  model?: string
  provider?: string
  costMicros?: number
  promptTokens?: number
  completionTokens?: number
  /** How the reservation ended: a settle status (ok, client_disconnect, upstream_error, …, shutdown) or 'released'. */
  outcome?: string
}
