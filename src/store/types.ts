/** The tenant/key/usage store, implemented by Postgres (postgres.js) and embedded bun:sqlite. */
import type { UsageRecord } from '../budget/types.ts'
import type { ApiKeyRecord, NewApiKey, NewTenant, Tenant, TenantBundle, TenantPatch } from '../tenants/types.ts'

/** Payload of a config change: the gateway reloads that tenant (and, for a key, the key's tenant). */
export interface ChangeEvent {
  kind: 'tenant' | 'key'
  tenantId: string
  keyHash?: string
}

export interface TenantListing {
  tenant: Tenant
  /** Epoch ms. */
  createdAt: number
  keys: number
  /** Keys neither revoked nor expired at the time given to listTenants. */
  activeKeys: number
}

export type DeleteTenantResult =
  | { outcome: 'deleted'; activeKeys: number }
  | { outcome: 'not_found' }
  | { outcome: 'has_active_keys'; activeKeys: number }

/** The new key of a rotation: same tenant as the old one; `name` undefined keeps the old key's name. */
export type RotatedKey = Pick<ApiKeyRecord, 'id' | 'keyHash' | 'prefix'> & { name?: string | null; expiresAt?: number | null }

export type RotateKeyResult =
  | { outcome: 'rotated'; old: ApiKeyRecord; created: ApiKeyRecord }
  | { outcome: 'not_found' | 'revoked' | 'expired' }

export type UsageGroupBy = 'day' | 'model' | 'key'

export interface UsageQuery {
  /** Every tenant when undefined. */
  tenantId?: string
  /** Epoch ms, inclusive. */
  sinceMs: number
  /** Epoch ms, exclusive; no upper bound when undefined. */
  untilMs?: number
  /** day = UTC calendar day (YYYY-MM-DD) of started_at. */
  by: UsageGroupBy
}

export interface UsageRow {
  tenantId: string
  /** The day, model or key id, per UsageQuery.by. */
  group: string
  requests: number
  promptTokens: number
  completionTokens: number
  costUsdMicros: number
}

export interface Store {
  readonly kind: 'postgres' | 'sqlite'
  /** Number of queries issued; lets tests prove the warm request path touches no database. */
  readonly queryCount: number
  migrate(): Promise<string[]>
  /** `SELECT DISTINCT tenant_id FROM api_keys` */
  listTenantIdsWithKeys(): Promise<string[]>
  loadTenant(id: string): Promise<TenantBundle | null>
  /** Every tenant that has keys, with its keys (ordered as loadTenant orders them): the boot warm-up, in 2 queries. */
  loadAllTenants?(): Promise<TenantBundle[]>
  findKeyByHash(hash: string): Promise<ApiKeyRecord | null>
  createTenant(t: NewTenant): Promise<void>
  updateTenant(id: string, patch: TenantPatch): Promise<Tenant | null>
  /** Every tenant (ordered by id) with its key counts; a key is active when keyStatus(k, nowMs) is 'active'. */
  listTenants(nowMs: number): Promise<TenantListing[]>
  /**
   * Deletes a tenant and, through the foreign key, its keys; usage_records are kept (they have no foreign key).
   * Refused while the tenant has active keys unless `force`. Atomic: a key created meanwhile cannot survive.
   */
  deleteTenant(id: string, opts: { force: boolean; nowMs: number }): Promise<DeleteTenantResult>
  createKey(k: NewApiKey): Promise<void>
  revokeKey(id: string): Promise<ApiKeyRecord | null>
  /**
   * In one transaction: creates `next` for the old key's tenant and moves the old key's expiry to
   * `oldExpiresAt` (never later than an expiry it already had). A revoked or expired key is not rotated.
   */
  rotateKey(oldId: string, next: RotatedKey, opts: { oldExpiresAt: number; nowMs: number }): Promise<RotateKeyResult>
  /** usage_records summed per tenant and group, ordered by tenant then group. */
  usageReport(q: UsageQuery): Promise<UsageRow[]>
  /** Versions recorded in schema_migrations, oldest first; [] on a database never migrated. */
  appliedMigrations(): Promise<string[]>
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
