/** Tenants and their API keys as the gateway knows them, whatever store holds them. */

/** Budget period; periods are UTC. */
export type Period = 'total' | 'day' | 'month'
/** strict: reserve the worst case (never overrun); fixed: reserve a flat amount. */
export type Policy = 'strict' | 'fixed'

export interface Tenant {
  id: string
  /** null = unlimited */
  budgetUsdMicros: number | null
  budgetPeriod: Period
  policy: Policy
  /** null = every model in the catalog */
  allowedModels: string[] | null
  failOpen: boolean
  /** A disabled tenant keeps its config, keys and usage, but every one of its keys is refused (403 tenant_disabled). */
  disabled: boolean
}

/** What createTenant takes: a new tenant is enabled unless it says otherwise. */
export type NewTenant = Omit<Tenant, 'disabled'> & { disabled?: boolean }

export interface ApiKeyRecord {
  id: string
  tenantId: string
  keyHash: string
  prefix: string
  name: string | null
  /** Epoch ms. */
  createdAt: number
  /** Epoch ms from which the key is refused; null = never. Compared at every authentication, so a cached key expires too. */
  expiresAt: number | null
  revokedAt: number | null
}

/** What createKey takes; the store sets createdAt (and revokedAt stays null). */
export type NewApiKey = Pick<ApiKeyRecord, 'id' | 'tenantId' | 'keyHash' | 'prefix' | 'name'> & { expiresAt?: number | null }

export type KeyStatus = 'active' | 'expired' | 'revoked'

/** The one definition of a usable key: not revoked and not past its expiry at `nowMs`. */
export function keyStatus(k: Pick<ApiKeyRecord, 'revokedAt' | 'expiresAt'>, nowMs: number): KeyStatus {
  if (k.revokedAt !== null) return 'revoked'
  if (k.expiresAt != null && k.expiresAt <= nowMs) return 'expired'
  return 'active'
}

export interface TenantBundle {
  tenant: Tenant
  keys: ApiKeyRecord[]
}

export type TenantPatch = Partial<Omit<Tenant, 'id'>>
