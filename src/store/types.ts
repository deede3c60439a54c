/** The tenant/key/usage store, implemented by Postgres (postgres.js) and embedded bun:sqlite. */
import type { Period, Policy, UsageRecord } from '../budget/types.ts'

export interface Tenant {
  id: string
  /** null = unlimited */
  budgetUsdMicros: number | null
  budgetPeriod: Period
  policy: Policy
  /** null = every model in the catalog */
  allowedModels: string[] | null
  failOpen: boolean
}

export interface ApiKeyRecord {
  id: string
  tenantId: string
  keyHash: string
  prefix: string
  name: string | null
  revokedAt: number | null
}

export interface TenantBundle {
  tenant: Tenant
  keys: ApiKeyRecord[]
}

export type TenantPatch = Partial<Omit<Tenant, 'id'>>

/** Payload of a config change: the gateway reloads that tenant (and, for a key, the key's tenant). */
export interface ChangeEvent {
  kind: 'tenant' | 'key'
  tenantId: string
  keyHash?: string
}

export interface Store {
  readonly kind: 'postgres' | 'sqlite'
  /** Number of queries issued; lets tests prove the warm request path touches no database. */
  readonly queryCount: number
  migrate(): Promise<string[]>
  /** `SELECT DISTINCT tenant_id FROM api_keys` */
  listTenantIdsWithKeys(): Promise<string[]>
  loadTenant(id: string): Promise<TenantBundle | null>
  findKeyByHash(hash: string): Promise<ApiKeyRecord | null>
  createTenant(t: Tenant): Promise<void>
  updateTenant(id: string, patch: TenantPatch): Promise<Tenant | null>
  createKey(k: Omit<ApiKeyRecord, 'revokedAt'>): Promise<void>
  revokeKey(id: string): Promise<ApiKeyRecord | null>
  insertUsage(records: UsageRecord[]): Promise<void>
  /**
   * Sum of cost over usage_records for a tenant since `sinceMs` (epoch ms; 0 for total), leaving out the records
   * whose request id is in `excludeRequestIds` (a counter rebuild counts those from the Redis ledger stream).
   */
  sumUsageSince(tenantId: string, sinceMs: number, excludeRequestIds?: readonly string[]): Promise<number>
  countUsage(tenantId?: string): Promise<number>
  /** Which of these request ids usage_records holds (a gateway stops holding a settled record once it is there). */
  storedUsageIds(requestIds: readonly string[]): Promise<string[]>
  /**
   * Subscribe to config changes from any process (Postgres LISTEN/NOTIFY; sqlite: in-process writes at once,
   * other processes' commits (the CLI) by polling PRAGMA data_version).
   * `onResubscribed` runs after the subscription was re-established following a lost connection: changes
   * made meanwhile were not delivered, so the caller must reload what it caches.
   */
  listen(onChange: (e: ChangeEvent) => void, onResubscribed?: () => void): Promise<() => Promise<void>>
  ping(): Promise<void>
  close(): Promise<void>
}

export class DuplicateError extends Error {}
