/** Row shapes of the embedded store and their mapping (JSON text arrays, 0/1 booleans, epoch-ms integers). */
import type { Period, Policy } from '../tenants/types.ts'
import type { ApiKeyRecord, Tenant } from '../tenants/types.ts'

export interface TenantRow {
  id: string
  budget_usd_micros: number | null
  budget_period: Period
  policy: Policy
  allowed_models: string | null
  fail_open: number
  disabled: number
}

export interface KeyRow {
  id: string
  tenant_id: string
  key_hash: string
  prefix: string
  name: string | null
  created_at: number
  expires_at: number | null
  revoked_at: number | null
}

export const TENANT_COLS = 'id, budget_usd_micros, budget_period, policy, allowed_models, fail_open, disabled'
export const KEY_COLS = 'id, tenant_id, key_hash, prefix, name, created_at, expires_at, revoked_at'

export const toTenant = (r: TenantRow): Tenant => ({
  id: r.id,
  budgetUsdMicros: r.budget_usd_micros,
  budgetPeriod: r.budget_period,
  policy: r.policy,
  allowedModels: r.allowed_models === null ? null : (JSON.parse(r.allowed_models) as string[]),
  failOpen: r.fail_open === 1,
  disabled: r.disabled === 1,
})

export const toKey = (r: KeyRow): ApiKeyRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  keyHash: r.key_hash,
  prefix: r.prefix,
  name: r.name,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
})
