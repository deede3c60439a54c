/**
 * JSON shapes of admin data (CLI `--json`, and the admin HTTP API): snake_case, money as integer µUSD,
 * times as ISO 8601 UTC. A key's hash never appears: it is all an attacker needs to match a stolen key.
 */
import type { TenantListing, UsageGroupBy, UsageQuery, UsageRow } from '../store/types.ts'
import type { ApiKeyRecord, Tenant } from '../tenants/types.ts'
import { keyStatus } from '../tenants/types.ts'
import type { PeriodStatus, UsageTotals } from './service.ts'

export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString())

export function tenantView(t: Tenant) {
  return {
    id: t.id,
    budget_usd_micros: t.budgetUsdMicros,
    budget_period: t.budgetPeriod,
    policy: t.policy,
    allowed_models: t.allowedModels,
    fail_open: t.failOpen,
    disabled: t.disabled,
  }
}

export function tenantListingView(l: TenantListing) {
  return { ...tenantView(l.tenant), created_at: iso(l.createdAt), keys: l.keys, active_keys: l.activeKeys }
}

export function keyView(k: ApiKeyRecord, now: number) {
  return {
    id: k.id,
    tenant_id: k.tenantId,
    prefix: k.prefix,
    name: k.name,
    created_at: iso(k.createdAt),
    expires_at: iso(k.expiresAt),
    revoked_at: iso(k.revokedAt),
    status: keyStatus(k, now),
  }
}

/** A key just created: `api_key` is the secret, in this one response only (the store keeps its sha256). */
export function createdKeyView(k: ApiKeyRecord, secret: string, now: number) {
  return { key: keyView(k, now), api_key: secret }
}

export function rotatedKeyView(r: { created: ApiKeyRecord; secret: string; old: ApiKeyRecord }, now: number) {
  return { ...createdKeyView(r.created, r.secret, now), old_key: keyView(r.old, now) }
}

/** `tenant show --json` and GET /admin/v1/tenants/{id}. */
export function tenantDetailView(t: Tenant, p: PeriodStatus, keys: readonly ApiKeyRecord[], now: number) {
  return { tenant: tenantView(t), budget: periodView(p), keys: keys.map((k) => keyView(k, now)) }
}

export function periodView(p: PeriodStatus) {
  return {
    period: p.periodKey,
    spent_usd_micros: p.spentUsdMicros,
    reserved_usd_micros: p.reservedUsdMicros,
    remaining_usd_micros: p.remainingUsdMicros,
    source: p.source,
    live_unavailable: p.liveUnavailable,
  }
}

const GROUP_FIELD: Record<UsageGroupBy, string> = { day: 'day', model: 'model', key: 'key_id' }

export function usageRowView(r: UsageRow, by: UsageGroupBy) {
  return {
    tenant_id: r.tenantId,
    [GROUP_FIELD[by]]: r.group,
    requests: r.requests,
    prompt_tokens: r.promptTokens,
    completion_tokens: r.completionTokens,
    cost_usd_micros: r.costUsdMicros,
  }
}

export function usageTotalsView(t: UsageTotals) {
  return { requests: t.requests, prompt_tokens: t.promptTokens, completion_tokens: t.completionTokens, cost_usd_micros: t.costUsdMicros }
}

/** `usage --json` and GET /admin/v1/usage. */
export function usageReportView(q: UsageQuery, r: { rows: UsageRow[]; total: UsageTotals }) {
  return {
    tenant_id: q.tenantId ?? null, since: iso(q.sinceMs), until: iso(q.untilMs ?? null),
    by: q.by, rows: r.rows.map((row) => usageRowView(row, q.by)), total: usageTotalsView(r.total),
  }
}
