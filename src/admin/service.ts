/**
 * Admin operations on tenants, keys and usage: the one implementation of their rules, called by the CLI and
 * meant for the admin HTTP API. Transport-free: inputs are typed values, failures are AdminError with a code
 * that each front end maps (the CLI: exit 2; HTTP: 404/409/400).
 */
import { periodKey, periodStartMs } from '../budget/money.ts'
import type { PeriodSnapshot } from '../budget/types.ts'
import { generateApiKey } from '../store/keys.ts'
import { DuplicateError, type Store, type TenantListing, type UsageQuery, type UsageRow } from '../store/types.ts'
import { type ApiKeyRecord, type NewTenant, type Tenant, type TenantBundle, type TenantPatch } from '../tenants/types.ts'

/** What a tenant id (and a key id) may look like: safe in a URL path segment, a log line and a shell. */
export const ID_SHAPE = /^[A-Za-z0-9._:\-]{1,128}$/

export type AdminErrorCode = 'not_found' | 'conflict' | 'invalid'

export class AdminError extends Error {
  constructor(readonly code: AdminErrorCode, message: string) {
    super(message)
  }
}

/** A new tenant: unlimited budget, period month, policy strict, every model, fail closed, enabled. */
export const TENANT_DEFAULTS: Omit<NewTenant, 'id'> = {
  budgetUsdMicros: null, budgetPeriod: 'month', policy: 'strict', allowedModels: null, failOpen: false,
}

/** Default grace of `key rotate`: the old key keeps working this long, so clients can be redeployed. */
export const DEFAULT_ROTATION_GRACE_MS = 24 * 3_600_000

/** Names in `models` that are not in `known` (the catalog plus the config file's models), in input order. */
export function unknownModels(models: readonly string[] | null | undefined, known: readonly string[]): string[] {
  if (!models) return []
  const set = new Set(known)
  return models.filter((m) => !set.has(m))
}

export async function createTenant(store: Store, id: string, patch: TenantPatch): Promise<Tenant> {
  const t: Tenant = { id, disabled: false, ...TENANT_DEFAULTS, ...patch }
  try {
    await store.createTenant(t)
  } catch (e) {
    if (e instanceof DuplicateError) throw new AdminError('conflict', `tenant "${id}" already exists`)
    throw e
  }
  return t
}

/** Every tenant, ordered by id, with its key counts (a key is active when keyStatus(k, now) is). */
export function listTenants(store: Store, now: number): Promise<TenantListing[]> {
  return store.listTenants(now)
}

export async function updateTenant(store: Store, id: string, patch: TenantPatch): Promise<Tenant> {
  const t = await store.updateTenant(id, patch)
  if (!t) throw new AdminError('not_found', `tenant "${id}" does not exist`)
  return t
}

export async function getTenant(store: Store, id: string): Promise<TenantBundle> {
  const bundle = await store.loadTenant(id)
  if (!bundle) throw new AdminError('not_found', `tenant "${id}" does not exist`)
  return bundle
}

/** Deletes the tenant and its keys (usage records are kept); refused while it has active keys unless `force`. */
export async function deleteTenant(store: Store, id: string, opts: { force: boolean; now: number }): Promise<{ activeKeys: number }> {
  const r = await store.deleteTenant(id, { force: opts.force, nowMs: opts.now })
  if (r.outcome === 'not_found') throw new AdminError('not_found', `tenant "${id}" does not exist`)
  if (r.outcome === 'has_active_keys') {
    throw new AdminError('conflict', `tenant "${id}" has ${r.activeKeys} active key(s)`)
  }
  return { activeKeys: r.activeKeys }
}

export interface NewKeyOptions {
  name: string | null
  /** Epoch ms; null = never expires. Must be after `now`. */
  expiresAt: number | null
  now: number
}

function checkExpiry(expiresAt: number | null, now: number): void {
  if (expiresAt !== null && expiresAt <= now) throw new AdminError('invalid', `the expiry ${new Date(expiresAt).toISOString()} is not in the future`)
}

/** Creates a key; `secret` is the only copy of the key there will ever be (the store keeps its sha256). */
export async function createKey(store: Store, tenantId: string, opts: NewKeyOptions): Promise<{ key: ApiKeyRecord; secret: string }> {
  checkExpiry(opts.expiresAt, opts.now)
  if (!(await store.loadTenant(tenantId))) throw new AdminError('not_found', `tenant "${tenantId}" does not exist`)
  const k = generateApiKey()
  try {
    await store.createKey({ id: k.id, tenantId, keyHash: k.hash, prefix: k.prefix, name: opts.name, expiresAt: opts.expiresAt })
  } catch (e) {
    // The tenant was deleted between the check and the insert.
    if (!(e instanceof DuplicateError) && /does not exist/.test(String((e as Error)?.message))) {
      throw new AdminError('not_found', `tenant "${tenantId}" does not exist`)
    }
    throw e
  }
  const key = await store.findKeyByHash(k.hash)
  if (!key) throw new Error(`key ${k.id} vanished right after it was created`)
  return { key, secret: k.key }
}

export async function revokeKey(store: Store, keyId: string): Promise<ApiKeyRecord> {
  const k = await store.revokeKey(keyId)
  if (!k) throw new AdminError('not_found', `key "${keyId}" does not exist`)
  return k
}

export interface RotateOptions {
  /** The old key stops working this long after `now` (or at its own earlier expiry). */
  graceMs: number
  now: number
  /** The new key's name; undefined keeps the old key's. */
  name?: string | null
  /** The new key's expiry; null/undefined = never. */
  expiresAt?: number | null
}

/** Replaces a key: a new key for the same tenant now, the old one expiring after the grace window. */
export async function rotateKey(store: Store, keyId: string, opts: RotateOptions): Promise<{ old: ApiKeyRecord; created: ApiKeyRecord; secret: string }> {
  checkExpiry(opts.expiresAt ?? null, opts.now)
  const k = generateApiKey()
  const r = await store.rotateKey(keyId, { id: k.id, keyHash: k.hash, prefix: k.prefix, name: opts.name, expiresAt: opts.expiresAt ?? null },
    { oldExpiresAt: opts.now + opts.graceMs, nowMs: opts.now })
  if (r.outcome !== 'rotated') {
    if (r.outcome === 'not_found') throw new AdminError('not_found', `key "${keyId}" does not exist`)
    throw new AdminError('conflict', `key "${keyId}" ${r.outcome === 'revoked' ? 'is revoked' : 'has expired'}; create a new key instead`)
  }
  return { old: r.old, created: r.created, secret: k.key }
}

export async function listKeys(store: Store, tenantId: string): Promise<ApiKeyRecord[]> {
  return (await getTenant(store, tenantId)).keys
}

export interface UsageTotals {
  requests: number
  promptTokens: number
  completionTokens: number
  costUsdMicros: number
}

export async function usageReport(store: Store, q: UsageQuery): Promise<{ rows: UsageRow[]; total: UsageTotals }> {
  if (q.untilMs !== undefined && q.untilMs <= q.sinceMs) throw new AdminError('invalid', 'the end of the report window must be after its start')
  const rows = await store.usageReport(q)
  const total: UsageTotals = { requests: 0, promptTokens: 0, completionTokens: 0, costUsdMicros: 0 }
  for (const r of rows) {
    total.requests += r.requests
    total.promptTokens += r.promptTokens
    total.completionTokens += r.completionTokens
    total.costUsdMicros += r.costUsdMicros
  }
  return { rows, total }
}

export interface PeriodStatus {
  periodKey: string
  spentUsdMicros: number
  /** null when only recorded usage could be read (reservations live in the budget store). */
  reservedUsdMicros: number | null
  /** null for an unlimited budget. */
  remainingUsdMicros: number | null
  /** live: the shared budget store (Redis); recorded: usage_records, which lag it by the shipping interval. */
  source: 'live' | 'recorded'
  /** Why live figures are missing: no shared budget store configured, or it did not answer. */
  liveUnavailable: string | null
}

/**
 * Spend of the tenant's current period. `live` reads the shared budget store; without one, or when it fails
 * (Redis down), the figures come from recorded usage and say so: the rest of `tenant show` must not need Redis.
 */
export async function periodStatus(
  store: Store, t: Tenant, now: number,
  live: ((tenantId: string, periodKey: string) => Promise<PeriodSnapshot>) | undefined,
): Promise<PeriodStatus> {
  const pk = periodKey(t.budgetPeriod, now)
  let snap: PeriodSnapshot | null = null
  let liveUnavailable: string | null = live ? null : 'no REDIS_URL is configured, so live reservations are not visible here'
  if (live) {
    try {
      snap = await live(t.id, pk)
    } catch (e) {
      liveUnavailable = (e as Error)?.message ?? String(e)
    }
  }
  const spent = snap ? snap.spentMicros : await store.sumUsageSince(t.id, periodStartMs(t.budgetPeriod, now))
  const reserved = snap ? snap.reservedMicros : null
  return {
    periodKey: pk,
    spentUsdMicros: spent,
    reservedUsdMicros: reserved,
    remainingUsdMicros: t.budgetUsdMicros === null ? null : Math.max(0, t.budgetUsdMicros - spent - (reserved ?? 0)),
    source: snap ? 'live' : 'recorded',
    liveUnavailable,
  }
}
