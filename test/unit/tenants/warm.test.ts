import { expect, test } from 'bun:test'
import type { Store } from '../../../src/store/types.ts'
import type { TenantBundle } from '../../../src/tenants/types.ts'
import { TenantCache, warmTenants } from '../../../src/tenants/cache.ts'

function slowStore(ids: string[], failing = new Set<string>()) {
  let inFlight = 0
  let maxInFlight = 0
  const store = {
    async listTenantIdsWithKeys() {
      return ids
    },
    async loadTenant(id: string): Promise<TenantBundle | null> {
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      await Bun.sleep(1)
      inFlight--
      if (failing.has(id)) throw new Error('boom')
      return {
        tenant: { id, budgetUsdMicros: null, budgetPeriod: 'total', policy: 'strict', allowedModels: null, failOpen: false, disabled: false },
        keys: [{ id: `k-${id}`, tenantId: id, keyHash: `h-${id}`, prefix: 'gw_', name: null, createdAt: 0, expiresAt: null, revokedAt: null }],
      }
    },
  } as unknown as Store
  return { store, max: () => maxInFlight }
}

test.each([1, 7, 50])('at most %d tenant loads in flight', async (limit) => {
  const ids = Array.from({ length: 120 }, (_, i) => `t${i}`)
  const { store, max } = slowStore(ids)
  const cache = new TenantCache(store)
  const r = await warmTenants(store, cache, limit)
  expect(max()).toBe(limit)
  expect(r).toMatchObject({ tenants: 120, failed: 0 })
  expect(cache.size).toBe(120)
})

test('a tenant that fails to load is counted, the rest are warmed', async () => {
  const { store } = slowStore(['a', 'b', 'c'], new Set(['b']))
  const cache = new TenantCache(store)
  expect(await warmTenants(store, cache, 2)).toMatchObject({ tenants: 2, failed: 1 })
  expect(cache.tenant('a')).toBeDefined()
  expect(cache.tenant('b')).toBeUndefined()
})

test('every warmed tenant is primed; a failing prime does not fail the warm-up', async () => {
  const { store } = slowStore(['a', 'b', 'c'])
  const primed: string[] = []
  const r = await warmTenants(store, new TenantCache(store), 2, async (t) => {
    primed.push(t.id)
    if (t.id === 'b') throw new Error('redis down')
  })
  expect(primed.sort()).toEqual(['a', 'b', 'c'])
  expect(r).toMatchObject({ tenants: 3, failed: 0 })
})

test('regression: a slow reload that finishes last cannot put back a revoked key', async () => {
  const bundle = (revokedAt: number | null): TenantBundle => ({
    tenant: { id: 't', budgetUsdMicros: null, budgetPeriod: 'total', policy: 'strict', allowedModels: null, failOpen: false, disabled: false },
    keys: [{ id: 'k', tenantId: 't', keyHash: 'h', prefix: 'gw_', name: null, createdAt: 0, expiresAt: null, revokedAt }],
  })
  const pending: Array<(b: TenantBundle) => void> = []
  const store = { loadTenant: () => new Promise<TenantBundle>((r) => pending.push(r)) } as unknown as Store
  const cache = new TenantCache(store)
  const slow = cache.reload('t') // started before the revoke, answers with the old row
  const fresh = cache.reload('t') // triggered by the change event
  pending[1]!(bundle(123))
  await fresh
  pending[0]!(bundle(null))
  await slow
  expect((await cache.lookup('h'))?.key.revokedAt).toBe(123)
})

test('regression: a first-use load superseded by a change-triggered one still finds the new key', async () => {
  const bundle: TenantBundle = {
    tenant: { id: 't', budgetUsdMicros: null, budgetPeriod: 'total', policy: 'strict', allowedModels: null, failOpen: false, disabled: false },
    keys: [{ id: 'k', tenantId: 't', keyHash: 'new', prefix: 'gw_', name: null, createdAt: 0, expiresAt: null, revokedAt: null }],
  }
  const pending: Array<(b: TenantBundle) => void> = []
  const store = {
    findKeyByHash: async () => bundle.keys[0],
    loadTenant: () => new Promise<TenantBundle>((r) => pending.push(r)),
  } as unknown as Store
  const cache = new TenantCache(store)
  const firstUse = cache.lookup('new') // the client uses the key at once …
  await Bun.sleep(1)
  const onChange = cache.reload('t') // … while the key-created notification reloads the tenant
  pending[0]!(bundle) // the first-use load answers first and is superseded
  await Bun.sleep(1)
  pending[1]!(bundle)
  await onChange
  expect((await firstUse)?.key.id).toBe('k')
})

const bundleOf = (id: string, keyHash = `h-${id}`, revokedAt: number | null = null): TenantBundle => ({
  tenant: { id, budgetUsdMicros: null, budgetPeriod: 'total', policy: 'strict', allowedModels: null, failOpen: false, disabled: false },
  keys: [{ id: `k-${id}`, tenantId: id, keyHash, prefix: 'gw_', name: null, createdAt: 0, expiresAt: null, revokedAt }],
})

test('with a bulk load: one call loads every tenant, and at most `limit` primes run at once', async () => {
  const ids = Array.from({ length: 120 }, (_, i) => `t${i}`)
  let bulkCalls = 0
  let perTenant = 0
  const store = {
    async loadAllTenants() {
      bulkCalls++
      return ids.map((id) => bundleOf(id))
    },
    async loadTenant() {
      perTenant++
      return null
    },
  } as unknown as Store
  let inFlight = 0
  let max = 0
  const cache = new TenantCache(store)
  const r = await warmTenants(store, cache, 7, async () => {
    max = Math.max(max, ++inFlight)
    await Bun.sleep(1)
    inFlight--
  })
  expect(r).toMatchObject({ tenants: 120, failed: 0 })
  expect([bulkCalls, perTenant, max, cache.size]).toEqual([1, 0, 7, 120])
  expect((await cache.lookup('h-t5'))?.tenant.id).toBe('t5')
})

test('a tenant reloaded while the bulk load runs keeps what its own load found (a key revoked meanwhile)', async () => {
  let answerBulk!: (b: TenantBundle[]) => void
  const store = {
    loadAllTenants: () => new Promise<TenantBundle[]>((r) => (answerBulk = r)),
    loadTenant: async (id: string) => bundleOf(id, `h-${id}`, 123),
  } as unknown as Store
  const cache = new TenantCache(store)
  const warm = warmTenants(store, cache, 4)
  await Bun.sleep(1)
  await cache.onChange({ kind: 'key', tenantId: 'a', keyHash: 'h-a' }) // the revocation's event, during the bulk query
  answerBulk([bundleOf('a'), bundleOf('b')]) // read before the revocation
  await warm
  expect((await cache.lookup('h-a'))?.key.revokedAt).toBe(123)
  expect((await cache.lookup('h-b'))?.key.revokedAt).toBeNull()
})

test('a failed bulk load falls back to loading tenants one by one', async () => {
  const { store } = slowStore(['a', 'b', 'c'], new Set(['b']))
  ;(store as unknown as { loadAllTenants: () => Promise<never> }).loadAllTenants = async () => {
    throw new Error('statement timeout')
  }
  const cache = new TenantCache(store)
  expect(await warmTenants(store, cache, 2)).toMatchObject({ tenants: 2, failed: 1 })
  expect(cache.tenant('a')).toBeDefined()
})
