/** Row shapes of the Postgres store and their mapping to the store's types (timestamps become epoch ms). */
import type postgres from 'postgres'
import type { Period, Policy } from '../tenants/types.ts'
import type { ApiKeyRecord, Tenant } from '../tenants/types.ts'

/** The client type of this store: int8 is parsed as a JS number (see createPostgresStore). */
export type Sql = postgres.Sql<{ bigint: number }>

export interface TenantRow {
  id: string
  budget_usd_micros: number | null
  budget_period: Period
  policy: Policy
  allowed_models: string[] | null
  fail_open: boolean
  disabled: boolean
}

export interface KeyRow {
  id: string
  tenant_id: string
  key_hash: string
  prefix: string
  name: string | null
  created_at: Date
  expires_at: Date | null
  revoked_at: Date | null
}

export const toTenant = (r: TenantRow): Tenant => ({
  id: r.id,
  budgetUsdMicros: r.budget_usd_micros,
  budgetPeriod: r.budget_period,
  policy: r.policy,
  allowedModels: r.allowed_models,
  failOpen: r.fail_open,
  disabled: r.disabled,
})

export const toKey = (r: KeyRow): ApiKeyRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  keyHash: r.key_hash,
  prefix: r.prefix,
  name: r.name,
  createdAt: r.created_at.getTime(),
  expiresAt: r.expires_at ? r.expires_at.getTime() : null,
  revokedAt: r.revoked_at ? r.revoked_at.getTime() : null,
})

export const tenantColumns = (sql: Sql) => sql`id, budget_usd_micros, budget_period, policy, allowed_models, fail_open, disabled`
export const keyColumns = (sql: Sql) => sql`id, tenant_id, key_hash, prefix, name, created_at, expires_at, revoked_at`
