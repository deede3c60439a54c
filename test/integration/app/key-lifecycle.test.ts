/**
 * Key expiry, rotation grace and a disabled tenant as the request path sees them, in-process, on both stores.
 * The clock is moved with setSystemTime: an expiry is decided at authentication time against the cached key,
 * with no database round trip and no change event.
 */
import { afterAll, afterEach, beforeAll, describe, expect, setSystemTime, test } from 'bun:test'
import * as admin from '../../../src/admin/service.ts'
import { createPostgresStore } from '../../../src/store/postgres.ts'
import { createSqliteStore } from '../../../src/store/sqlite.ts'
import type { Store } from '../../../src/store/types.ts'
import { buildTestGateway, type TestGateway } from '../../helpers/app.ts'
import { startPostgres, type PgInstance } from '../../helpers/postgres.ts'

const HOUR = 3_600_000
let pg: PgInstance
beforeAll(async () => {
  pg = await startPostgres()
})
afterAll(async () => {
  await pg?.stop()
})
afterEach(() => {
  setSystemTime() // back to the real clock
})

const STORES: [string, () => Promise<Store>][] = [
  ['sqlite', async () => createSqliteStore(':memory:')],
  ['postgres', () => createPostgresStore(pg.url)],
]

describe.each(STORES)('on %s', (_kind, makeStore) => {
  let g: TestGateway
  let unlisten: () => Promise<void>
  const changes: Promise<void>[] = []
  beforeAll(async () => {
    g = await buildTestGateway({ store: await makeStore() })
    // As runtime.ts does: change events reload the cached tenant.
    unlisten = await g.store.listen((e) => { changes.push(g.cache.onChange(e)) })
  })
  afterAll(async () => {
    await unlisten?.()
    await g?.store.close()
  })

  const status = async (key: string) => {
    const res = await g.request('/v1/models', { key })
    return { status: res.status, code: res.ok ? null : ((await res.json()) as { error: { code: string } }).error.code }
  }
  /** Waits until the cache reflects a change (the event arrives asynchronously). */
  const until = async (key: string, want: number) => {
    for (let i = 0; i < 200; i++) {
      await Promise.all(changes)
      if ((await status(key)).status === want) return
      await Bun.sleep(10)
    }
    throw new Error(`still not ${want}`)
  }

  test('an expired key is refused though it is cached, without touching the database', async () => {
    const id = `exp-${_kind}`
    const now = Date.now()
    await admin.createTenant(g.store, id, {})
    const { secret } = await admin.createKey(g.store, id, { name: null, expiresAt: now + HOUR, now })
    await g.warm()
    expect(await status(secret)).toEqual({ status: 200, code: null })
    const queries = g.store.queryCount
    setSystemTime(new Date(now + HOUR))
    expect(await status(secret)).toEqual({ status: 401, code: 'invalid_api_key' })
    expect(g.store.queryCount).toBe(queries)
  })

  test('rotation: old and new key both work during the grace, only the new one after it', async () => {
    const id = `rot-${_kind}`
    const now = Date.now()
    await admin.createTenant(g.store, id, {})
    const old = await admin.createKey(g.store, id, { name: 'prod', expiresAt: null, now })
    await g.warm()
    const r = await admin.rotateKey(g.store, old.key.id, { graceMs: 24 * HOUR, now })
    expect(r.created.name).toBe('prod')
    expect(r.old.expiresAt).toBe(now + 24 * HOUR)
    await until(r.secret, 200)
    expect(await status(old.secret)).toEqual({ status: 200, code: null })
    setSystemTime(new Date(now + 24 * HOUR + 1))
    expect(await status(old.secret)).toEqual({ status: 401, code: 'invalid_api_key' })
    expect(await status(r.secret)).toEqual({ status: 200, code: null })
  })

  test('a disabled tenant\'s keys get 403 tenant_disabled; enabled again, they work', async () => {
    const id = `dis-${_kind}`
    await admin.createTenant(g.store, id, {})
    const { secret } = await admin.createKey(g.store, id, { name: null, expiresAt: null, now: Date.now() })
    await g.warm()
    expect(await status(secret)).toEqual({ status: 200, code: null })
    await admin.updateTenant(g.store, id, { disabled: true })
    await until(secret, 403)
    expect(await status(secret)).toEqual({ status: 403, code: 'tenant_disabled' })
    const res = await g.request('/v1/chat/completions', { key: secret, body: { model: 'mock-echo', messages: [{ role: 'user', content: 'x' }] } })
    expect(res.status).toBe(403)
    await admin.updateTenant(g.store, id, { disabled: false })
    await until(secret, 200)
  })
})
