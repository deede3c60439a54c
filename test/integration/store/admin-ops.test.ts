/**
 * The store's admin operations (src/store/{postgres,sqlite}-admin.ts), one contract run against both stores:
 * tenant disable/list/delete, key expiry and rotation, the usage report, migration status, and the change
 * events that carry disable and expiry to running gateways.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { UsageRecord } from '../../../src/budget/types.ts'
import { generateApiKey } from '../../../src/store/keys.ts'
import { postgresMigrations, sqliteMigrations } from '../../../src/store/migrations/index.ts'
import { createPostgresStore } from '../../../src/store/postgres.ts'
import { createSqliteStore } from '../../../src/store/sqlite.ts'
import type { ChangeEvent, Store } from '../../../src/store/types.ts'
import type { NewTenant } from '../../../src/tenants/types.ts'
import { startPostgres, type PgInstance } from '../../helpers/postgres.ts'

const DAY = 86_400_000
const T0 = Date.parse('2026-05-10T00:00:00Z')

const tenant = (id: string, over: Partial<NewTenant> = {}): NewTenant => ({
  id, budgetUsdMicros: 1_000_000, budgetPeriod: 'month', policy: 'strict', allowedModels: null, failOpen: false, ...over,
})

const usage = (requestId: string, tenantId: string, keyId: string, model: string, cost: number, startedAt: number): UsageRecord => ({
  requestId, tenantId, keyId, model, provider: 'openai', promptTokens: 10, completionTokens: 5, costUsdMicros: cost, status: 'ok',
  startedAt, durationMs: 50,
})

async function addKey(store: Store, tenantId: string, over: { name?: string | null; expiresAt?: number | null } = {}) {
  const k = generateApiKey()
  await store.createKey({ id: k.id, tenantId, keyHash: k.hash, prefix: k.prefix, name: over.name ?? null, expiresAt: over.expiresAt ?? null })
  return k
}

async function waitFor<T>(items: T[], pred: (x: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const hit = items.find(pred)
    if (hit !== undefined) return hit
    if (Date.now() > deadline) throw new Error(`not received within ${timeoutMs} ms; got ${JSON.stringify(items)}`)
    await Bun.sleep(10)
  }
}

let pg: PgInstance
let dir: string
beforeAll(async () => {
  pg = await startPostgres()
  dir = mkdtempSync(join(tmpdir(), 'gateway-admin-ops-'))
})
afterAll(async () => {
  await pg?.stop()
  rmSync(dir, { recursive: true, force: true })
})

const backends = {
  sqlite: () => createSqliteStore(join(dir, 'gateway.sqlite')),
  postgres: () => createPostgresStore(pg.url),
}

describe.each(['sqlite', 'postgres'] as const)('admin operations on %s', (kind) => {
  let store: Store
  const opened: Store[] = []
  const open = async () => {
    const s = await backends[kind]()
    opened.push(s)
    return s
  }
  beforeAll(async () => {
    store = await open()
  })
  afterAll(async () => {
    for (const s of opened) await s.close().catch(() => {})
  })

  test('appliedMigrations: [] before the first migrate, then every version in order', async () => {
    expect(await store.appliedMigrations()).toEqual([])
    const applied = await store.migrate()
    expect(applied).toEqual((kind === 'postgres' ? postgresMigrations : sqliteMigrations).map((m) => m.version))
    expect(applied).toContain('002_tenant_disabled_key_expiry')
    expect(await store.appliedMigrations()).toEqual(applied)
  })

  test('a tenant is created enabled (or disabled when asked); updateTenant toggles it and keeps the rest', async () => {
    await store.createTenant(tenant('dis', { budgetUsdMicros: 7 }))
    await store.createTenant(tenant('born-off', { disabled: true }))
    expect((await store.loadTenant('dis'))?.tenant.disabled).toBe(false)
    expect((await store.loadTenant('born-off'))?.tenant.disabled).toBe(true)
    expect(await store.updateTenant('dis', { disabled: true })).toMatchObject({ id: 'dis', disabled: true, budgetUsdMicros: 7 })
    expect(await store.updateTenant('dis', { budgetUsdMicros: 8 })).toMatchObject({ disabled: true, budgetUsdMicros: 8 })
    expect(await store.updateTenant('dis', { disabled: false })).toMatchObject({ disabled: false, budgetUsdMicros: 8 })
  })

  test('keys carry createdAt and an optional expiry', async () => {
    await store.createTenant(tenant('exp'))
    const before = Date.now() - 1000
    const never = await addKey(store, 'exp')
    const later = await addKey(store, 'exp', { expiresAt: T0 + 30 * DAY, name: 'ci' })
    const a = await store.findKeyByHash(never.hash)
    expect(a).toMatchObject({ expiresAt: null, revokedAt: null })
    expect(a!.createdAt).toBeGreaterThanOrEqual(before)
    expect(a!.createdAt).toBeLessThanOrEqual(Date.now() + 1000)
    expect(await store.findKeyByHash(later.hash)).toMatchObject({ expiresAt: T0 + 30 * DAY, name: 'ci' })
  })

  test('listTenants: every tenant in id order with total and active key counts at the given time', async () => {
    await store.createTenant(tenant('list-b'))
    await store.createTenant(tenant('list-a', { allowedModels: ['gpt-4o'], disabled: true }))
    const now = Date.now()
    await addKey(store, 'list-b')
    await addKey(store, 'list-b', { expiresAt: now + DAY })
    await addKey(store, 'list-b', { expiresAt: now - 1 }) // expired
    const revoked = await addKey(store, 'list-b')
    await store.revokeKey(revoked.id)
    const all = await store.listTenants(now)
    expect(all.map((l) => l.tenant.id)).toEqual([...all.map((l) => l.tenant.id)].sort())
    const byId = new Map(all.map((l) => [l.tenant.id, l]))
    expect(byId.get('list-a')).toMatchObject({ keys: 0, activeKeys: 0, tenant: { allowedModels: ['gpt-4o'], disabled: true } })
    expect(byId.get('list-b')).toMatchObject({ keys: 4, activeKeys: 2 })
    expect(byId.get('list-b')!.createdAt).toBeGreaterThan(now - 60_000)
    // A day later the second key has expired too.
    expect((await store.listTenants(now + DAY)).find((l) => l.tenant.id === 'list-b')).toMatchObject({ keys: 4, activeKeys: 1 })
  })

  test('deleteTenant: refused while active keys exist, forced deletes the tenant and its keys, usage is kept', async () => {
    expect(await store.deleteTenant('ghost', { force: true, nowMs: Date.now() })).toEqual({ outcome: 'not_found' })
    await store.createTenant(tenant('gone'))
    const k = await addKey(store, 'gone')
    await addKey(store, 'gone', { expiresAt: Date.now() - 1 })
    await store.insertUsage([usage('del-1', 'gone', k.id, 'gpt-4o', 42, T0)])
    expect(await store.deleteTenant('gone', { force: false, nowMs: Date.now() })).toEqual({ outcome: 'has_active_keys', activeKeys: 1 })
    expect(await store.loadTenant('gone')).not.toBeNull()
    expect(await store.deleteTenant('gone', { force: true, nowMs: Date.now() })).toEqual({ outcome: 'deleted', activeKeys: 1 })
    expect(await store.loadTenant('gone')).toBeNull()
    expect(await store.findKeyByHash(k.hash)).toBeNull()
    expect(await store.countUsage('gone')).toBe(1)
    // Revoked or expired keys do not hold a delete back.
    await store.createTenant(tenant('gone2'))
    await store.revokeKey((await addKey(store, 'gone2')).id)
    expect(await store.deleteTenant('gone2', { force: false, nowMs: Date.now() })).toEqual({ outcome: 'deleted', activeKeys: 0 })
  })

  test('rotateKey: a new key for the same tenant, the old one expiring at the grace (never later than before)', async () => {
    await store.createTenant(tenant('rot'))
    const now = Date.now()
    const old = await addKey(store, 'rot', { name: 'prod' })
    const next = generateApiKey()
    const r = await store.rotateKey(old.id, { id: next.id, keyHash: next.hash, prefix: next.prefix }, { oldExpiresAt: now + DAY, nowMs: now })
    expect(r.outcome).toBe('rotated')
    if (r.outcome !== 'rotated') return
    expect(r.created).toMatchObject({ id: next.id, tenantId: 'rot', keyHash: next.hash, name: 'prod', expiresAt: null, revokedAt: null })
    expect(r.old).toMatchObject({ id: old.id, expiresAt: now + DAY, revokedAt: null })
    expect(await store.findKeyByHash(next.hash)).toEqual(r.created)

    // Rotating again with a longer grace keeps the earlier expiry; a new name and expiry apply to the new key.
    const third = generateApiKey()
    const r2 = await store.rotateKey(old.id, { id: third.id, keyHash: third.hash, prefix: third.prefix, name: 'prod-2', expiresAt: now + 90 * DAY },
      { oldExpiresAt: now + 7 * DAY, nowMs: now })
    expect(r2).toMatchObject({ outcome: 'rotated', old: { expiresAt: now + DAY }, created: { name: 'prod-2', expiresAt: now + 90 * DAY } })

    const fresh = () => { const k = generateApiKey(); return { id: k.id, keyHash: k.hash, prefix: k.prefix } }
    expect(await store.rotateKey('key_missing', fresh(), { oldExpiresAt: now, nowMs: now })).toEqual({ outcome: 'not_found' })
    expect(await store.rotateKey(old.id, fresh(), { oldExpiresAt: now, nowMs: now + DAY })).toEqual({ outcome: 'expired' })
    await store.revokeKey(next.id)
    expect(await store.rotateKey(next.id, fresh(), { oldExpiresAt: now, nowMs: now })).toEqual({ outcome: 'revoked' })
    expect((await store.loadTenant('rot'))!.keys).toHaveLength(3) // refused rotations created nothing
  })

  test('usageReport groups by UTC day, model or key, per tenant, within [since, until)', async () => {
    await store.insertUsage([
      usage('u1', 'rep-a', 'key_1', 'gpt-4o', 100, T0 + 1000),
      usage('u2', 'rep-a', 'key_1', 'gpt-4o-mini', 20, T0 + DAY - 1), // last ms of the UTC day
      usage('u3', 'rep-a', 'key_2', 'gpt-4o', 3, T0 + DAY), // first ms of the next
      usage('u4', 'rep-b', 'key_3', 'gpt-4o', 1_000_000_000_000, T0 + 5000),
      usage('u5', 'rep-a', 'key_1', 'gpt-4o', 7, T0 - 1), // before the window
      usage('u6', 'rep-a', 'key_1', 'gpt-4o', 9, T0 + 2 * DAY), // at `until`: excluded
    ])
    const row = (tenantId: string, group: string, requests: number, cost: number) =>
      ({ tenantId, group, requests, promptTokens: 10 * requests, completionTokens: 5 * requests, costUsdMicros: cost })
    const window = { sinceMs: T0, untilMs: T0 + 2 * DAY }
    expect(await store.usageReport({ ...window, tenantId: 'rep-a', by: 'day' })).toEqual([row('rep-a', '2026-05-10', 2, 120), row('rep-a', '2026-05-11', 1, 3)])
    expect(await store.usageReport({ ...window, tenantId: 'rep-a', by: 'model' })).toEqual([row('rep-a', 'gpt-4o', 2, 103), row('rep-a', 'gpt-4o-mini', 1, 20)])
    expect(await store.usageReport({ ...window, tenantId: 'rep-a', by: 'key' })).toEqual([row('rep-a', 'key_1', 2, 120), row('rep-a', 'key_2', 1, 3)])
    const everyone = (await store.usageReport({ ...window, by: 'model' })).filter((r) => r.tenantId.startsWith('rep-'))
    expect(everyone).toEqual([row('rep-a', 'gpt-4o', 2, 103), row('rep-a', 'gpt-4o-mini', 1, 20), row('rep-b', 'gpt-4o', 1, 1_000_000_000_000)])
    // No upper bound: u6 is in; a tenant without usage gets no rows.
    expect(await store.usageReport({ sinceMs: T0, tenantId: 'rep-a', by: 'day' })).toContainEqual(row('rep-a', '2026-05-12', 1, 9))
    expect(await store.usageReport({ sinceMs: T0, tenantId: 'nobody', by: 'day' })).toEqual([])
  })

  test('disable, rotation (both keys) and delete reach a listener on another store instance', async () => {
    const listener = await open()
    const writer = await open()
    const events: ChangeEvent[] = []
    const unlisten = await listener.listen((e) => events.push(e))
    try {
      await writer.createTenant(tenant('live'))
      const k = await addKey(writer, 'live')
      await waitFor(events, (e) => e.kind === 'key' && e.keyHash === k.hash)
      let seen = events.length
      const after = (pred: (e: ChangeEvent) => boolean) => waitFor(events, (e) => events.indexOf(e) >= seen && pred(e))

      await writer.updateTenant('live', { disabled: true })
      await after((e) => e.kind === 'tenant' && e.tenantId === 'live')
      seen = events.length
      const next = generateApiKey()
      await writer.rotateKey(k.id, { id: next.id, keyHash: next.hash, prefix: next.prefix }, { oldExpiresAt: Date.now(), nowMs: Date.now() })
      await after((e) => e.kind === 'key' && e.keyHash === next.hash)
      await after((e) => e.kind === 'key' && e.keyHash === k.hash)
      seen = events.length
      await writer.deleteTenant('live', { force: true, nowMs: Date.now() })
      await after((e) => e.tenantId === 'live')
    } finally {
      await unlisten()
    }
  })
})

test('sqlite: an expiry written by another process (another connection) reaches a listener through the poll', async () => {
  const file = join(dir, 'poll', 'gateway.sqlite')
  const store = createSqliteStore(file)
  await store.migrate()
  await store.createTenant(tenant('polled'))
  const k = await addKey(store, 'polled')
  const events: ChangeEvent[] = []
  const unlisten = await store.listen((e) => events.push(e))
  const other = new Database(file)
  try {
    other.exec('pragma busy_timeout = 5000')
    other.query('update api_keys set expires_at = ? where id = ?').run(Date.now(), k.id)
    expect(await waitFor(events, (e) => e.kind === 'key')).toEqual({ kind: 'key', tenantId: 'polled', keyHash: k.hash })
    other.query('update tenants set disabled = 1 where id = ?').run('polled')
    await waitFor(events, (e) => e.kind === 'tenant' && e.tenantId === 'polled')
  } finally {
    other.close()
    await unlisten()
    await store.close()
  }
})
