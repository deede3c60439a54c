/**
 * In-memory tenant/key cache. Warmed at boot so the request path makes no database call for a known
 * tenant; a key or tenant created later is loaded on first use (once) and refreshed on change events.
 */
import type { ChangeEvent, Store } from '../store/types.ts'
import type { ApiKeyRecord, Tenant, TenantBundle } from './types.ts'

export interface CachedKey {
  key: ApiKeyRecord
  tenant: Tenant
}

/** Unknown hashes are remembered briefly so a flood of bad keys cannot turn into a flood of queries. */
const NEGATIVE_TTL_MS = 5_000
const NEGATIVE_MAX = 10_000

export class TenantCache {
  private tenants = new Map<string, Tenant>()
  private keysByHash = new Map<string, ApiKeyRecord>()
  private keyHashesByTenant = new Map<string, Set<string>>()
  private negative = new Map<string, number>()
  private inflight = new Map<string, Promise<CachedKey | null>>()
  /** The newest load per tenant; only it may write the cache. Entries are removed when it finishes. */
  private latestLoad = new Map<string, Promise<void>>()

  constructor(private readonly store: Store, private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.tenants.size
  }

  tenant(id: string): Tenant | undefined {
    return this.tenants.get(id)
  }

  put(bundle: TenantBundle): void {
    const id = bundle.tenant.id
    for (const h of this.keyHashesByTenant.get(id) ?? []) this.keysByHash.delete(h)
    const hashes = new Set<string>()
    for (const k of bundle.keys) {
      this.keysByHash.set(k.keyHash, k)
      hashes.add(k.keyHash)
      this.negative.delete(k.keyHash)
    }
    this.tenants.set(id, bundle.tenant)
    this.keyHashesByTenant.set(id, hashes)
  }

  drop(tenantId: string): void {
    for (const h of this.keyHashesByTenant.get(tenantId) ?? []) this.keysByHash.delete(h)
    this.keyHashesByTenant.delete(tenantId)
    this.tenants.delete(tenantId)
  }

  /**
   * The latest-started load wins: a slow first-use load that finishes after a change-triggered one must not
   * put back older data (e.g. a key that was just revoked).
   */
  async reload(tenantId: string): Promise<void> {
    const mine: Promise<void> = this.store.loadTenant(tenantId).then(
      (bundle) => {
        if (this.latestLoad.get(tenantId) !== mine) return
        this.latestLoad.delete(tenantId)
        if (bundle) this.put(bundle)
        else this.drop(tenantId)
      },
      (e) => {
        if (this.latestLoad.get(tenantId) === mine) this.latestLoad.delete(tenantId)
        throw e
      },
    )
    this.latestLoad.set(tenantId, mine)
    await mine
    // Superseded: the newer load decides. Wait for it, so a caller that reads the cache next sees its result.
    for (let next = this.latestLoad.get(tenantId); next; next = this.latestLoad.get(tenantId)) await next
  }

  /** Looks a key hash up; only a hash never seen costs a database round trip. */
  async lookup(hash: string): Promise<CachedKey | null> {
    const key = this.keysByHash.get(hash)
    if (key) {
      const tenant = this.tenants.get(key.tenantId)
      if (tenant) return { key, tenant }
    }
    const negUntil = this.negative.get(hash)
    if (negUntil !== undefined && negUntil > this.now()) return null
    let p = this.inflight.get(hash)
    if (!p) {
      p = this.loadByHash(hash).finally(() => this.inflight.delete(hash))
      this.inflight.set(hash, p)
    }
    return p
  }

  private async loadByHash(hash: string): Promise<CachedKey | null> {
    const key = await this.store.findKeyByHash(hash)
    if (!key) {
      if (this.negative.size >= NEGATIVE_MAX) this.negative.clear()
      this.negative.set(hash, this.now() + NEGATIVE_TTL_MS)
      return null
    }
    await this.reload(key.tenantId)
    const cached = this.keysByHash.get(hash)
    const tenant = this.tenants.get(key.tenantId)
    return cached && tenant ? { key: cached, tenant } : null
  }

  async onChange(e: ChangeEvent): Promise<void> {
    if (e.keyHash) this.negative.delete(e.keyHash)
    if (e.kind === 'key') this.negative.clear()
    await this.reload(e.tenantId)
  }
}

export interface WarmResult {
  tenants: number
  failed: number
  durationMs: number
}

/**
 * Loads every tenant that has keys with at most `limit` loads in flight; `prime` then readies whatever else
 * the first request would otherwise pay for (the budget period counter). A failed prime is not fatal: the
 * request path does the same work on first use.
 */
export async function warmTenants(store: Store, cache: TenantCache, limit: number, prime?: (t: Tenant) => Promise<unknown>): Promise<WarmResult> {
  const t0 = performance.now()
  const ids = await store.listTenantIdsWithKeys()
  let next = 0
  let failed = 0
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++]!
      try {
        await cache.reload(id)
      } catch {
        failed++
        continue
      }
      const t = cache.tenant(id)
      if (prime && t) await prime(t).catch(() => {})
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, ids.length) }, worker))
  return { tenants: ids.length - failed, failed, durationMs: performance.now() - t0 }
}
