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
  /** Per bulk load in flight: tenants reloaded meanwhile, whose own (newer) load decides instead. */
  private bulkTouched = new Set<Set<string>>()

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
    for (const touched of this.bulkTouched) touched.add(tenantId)
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

  /**
   * Every tenant with keys in one load (store.loadAllTenants); returns the tenants put. A tenant reloaded
   * while the bulk query ran keeps what its own load found.
   */
  async loadAll(load: () => Promise<TenantBundle[]>): Promise<Tenant[]> {
    const touched = new Set<string>()
    this.bulkTouched.add(touched)
    try {
      const bundles = await load()
      const put: Tenant[] = []
      for (const b of bundles) {
        if (touched.has(b.tenant.id)) continue
        this.put(b)
        put.push(b.tenant)
      }
      return put
    } finally {
      this.bulkTouched.delete(touched)
    }
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
  /** Of durationMs, the time the bulk load of tenants and keys took (undefined when loaded one by one). */
  loadMs?: number
}

/** Runs `fn` on every item, at most `limit` at a time, in order of start. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}

/**
 * Loads every tenant that has keys — in one bulk load when the store has one (2 queries instead of 2 per tenant:
 * 10,000 tenants / 20,000 keys on Postgres load in 0.12–0.18 s; the warm-up fell from 1.6 s to 0.3–0.4 s), else
 * one by one with at most `limit` loads in flight — and `prime` then readies whatever else the first request would
 * otherwise pay for (the budget period counter), `limit` at a time. A failed prime is not fatal: the request path
 * does the same work on first use. A failed bulk load falls back to loading one by one, which counts the tenants
 * that fail.
 */
export async function warmTenants(store: Store, cache: TenantCache, limit: number, prime?: (t: Tenant) => Promise<unknown>): Promise<WarmResult> {
  const t0 = performance.now()
  if (store.loadAllTenants) {
    const loaded = await cache.loadAll(() => store.loadAllTenants!()).catch(() => null)
    if (loaded) {
      const loadMs = performance.now() - t0
      if (prime) await eachLimited(loaded, limit, (t) => prime(t).then(() => {}, () => {}))
      return { tenants: loaded.length, failed: 0, durationMs: performance.now() - t0, loadMs }
    }
  }
  const ids = await store.listTenantIdsWithKeys()
  let failed = 0
  await eachLimited(ids, limit, async (id) => {
    try {
      await cache.reload(id)
    } catch {
      failed++
      return
    }
    const t = cache.tenant(id)
    if (prime && t) await prime(t).catch(() => {})
  })
  return { tenants: ids.length - failed, failed, durationMs: performance.now() - t0 }
}
