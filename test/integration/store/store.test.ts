/**
 * One contract suite, run against both stores: what the gateway relies on must hold for Postgres and for
 * the embedded sqlite file alike. Postgres is a throwaway server from the harness, never the shared one.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, existsSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { UsageRecord } from '../../../src/budget/types.ts'
import { openStore } from '../../../src/store/index.ts'
import { postgresMigrations, sqliteMigrations } from '../../../src/store/migrations/index.ts'
import { generateApiKey } from '../../../src/store/keys.ts'
import { createPostgresStore } from '../../../src/store/postgres.ts'
import { createSqliteStore } from '../../../src/store/sqlite.ts'
import { DuplicateError, type ChangeEvent, type Store } from '../../../src/store/types.ts'
import { type Tenant } from '../../../src/tenants/types.ts'
import { startPostgres, type PgInstance } from '../../helpers/postgres.ts'
import { Database } from 'bun:sqlite'
import postgres from 'postgres'

interface Backend {
  name: 'sqlite' | 'postgres'
  start(): Promise<void>
  /** A brand-new empty database; the returned function opens another store instance on it. */
  fresh(): Promise<() => Promise<Store>>
  /** usage_records.client_request_id by request_id in the newest fresh() database (read raw: no Store method). */
  clientRequestIds(): Promise<Record<string, string | null>>
  stop(): Promise<void>
}

function sqliteBackend(): Backend {
  let dir = ''
  let n = 0
  return {
    name: 'sqlite',
    async start() { dir = mkdtempSync(join(tmpdir(), 'gateway-store-test-')) },
    async fresh() {
      // A file, not ':memory:', so two instances share one database like two Postgres connections do.
      const file = join(dir, `db${++n}`, 'gateway.sqlite')
      return async () => createSqliteStore(file)
    },
    async clientRequestIds() {
      const db = new Database(join(dir, `db${n}`, 'gateway.sqlite'), { readonly: true })
      try {
        const rows = db.query('select request_id, client_request_id from usage_records').all() as Array<{ request_id: string; client_request_id: string | null }>
        return Object.fromEntries(rows.map((r) => [r.request_id, r.client_request_id]))
      } finally {
        db.close()
      }
    },
    async stop() { rmSync(dir, { recursive: true, force: true }) },
  }
}

function postgresBackend(): Backend {
  // One harness instance per fresh database: a private server, or with DATABASE_URL a uniquely named
  // database that stop() drops, so the suite never leaves anything on a shared server.
  const instances: PgInstance[] = []
  return {
    name: 'postgres',
    async start() {},
    async fresh() {
      const pg = await startPostgres()
      instances.push(pg)
      return () => createPostgresStore(pg.url)
    },
    async clientRequestIds() {
      const sql = postgres(instances.at(-1)!.url, { max: 1, onnotice: () => {} })
      try {
        const rows = await sql<Array<{ request_id: string; client_request_id: string | null }>>`select request_id, client_request_id from usage_records`
        return Object.fromEntries(rows.map((r) => [r.request_id, r.client_request_id]))
      } finally {
        await sql.end({ timeout: 1 })
      }
    },
    async stop() { await Promise.all(instances.map((pg) => pg.stop())) },
  }
}

const versions = (kind: 'sqlite' | 'postgres'): string[] => (kind === 'postgres' ? postgresMigrations : sqliteMigrations).map((m) => m.version)

const tenant = (id: string, over: Partial<Tenant> = {}): Tenant => ({
  id, budgetUsdMicros: 5_000_000, budgetPeriod: 'month', policy: 'strict', allowedModels: ['gpt-4o-mini'], failOpen: false, disabled: false, ...over,
})

const usage = (requestId: string, tenantId: string, costUsdMicros: number, startedAt: number): UsageRecord => ({
  requestId, tenantId, keyId: 'key_x', model: 'gpt-4o-mini', provider: 'openai', promptTokens: 10,
  completionTokens: 20, costUsdMicros, status: 'ok', startedAt, durationMs: 123,
})

async function waitFor<T>(items: T[], pred: (x: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const hit = items.find(pred)
    if (hit !== undefined) return hit
    if (Date.now() > deadline) throw new Error(`not received within ${timeoutMs} ms; got ${JSON.stringify(items)}`)
    await Bun.sleep(10)
  }
}

for (const backend of [sqliteBackend(), postgresBackend()]) {
  describe(`store contract: ${backend.name}`, () => {
    let open: () => Promise<Store>
    let store: Store
    const others: Store[] = []
    let firstMigration: string[] = []

    beforeAll(async () => {
      await backend.start()
      open = await backend.fresh()
      store = await open()
      firstMigration = await store.migrate()
    })
    afterAll(async () => {
      for (const s of [store, ...others]) await s?.close().catch(() => {})
      await backend.stop()
    })
    const another = async (): Promise<Store> => {
      const s = await open()
      others.push(s)
      return s
    }

    test('migrate applies every version once; a second run applies nothing', async () => {
      expect(store.kind).toBe(backend.name)
      expect(firstMigration).toEqual(versions(backend.name))
      expect(await store.appliedMigrations()).toEqual(versions(backend.name))
      expect(await store.migrate()).toEqual([])
      expect(await (await another()).migrate()).toEqual([])
    })

    test('two instances migrating one empty database at once apply each version exactly once', async () => {
      const openFresh = await backend.fresh()
      const [a, b] = [await openFresh(), await openFresh()]
      try {
        const [ra, rb] = await Promise.all([a.migrate(), b.migrate()])
        expect([...ra, ...rb].sort()).toEqual(versions(backend.name))
      } finally {
        await a.close()
        await b.close()
      }
    })

    test('create, show and update a tenant', async () => {
      await store.createTenant(tenant('acme', { allowedModels: ['a', 'b,c', 'd"e'], budgetPeriod: 'day' }))
      await store.createTenant(tenant('free', { budgetUsdMicros: null, allowedModels: null, policy: 'fixed', failOpen: true }))
      expect((await store.loadTenant('acme'))?.tenant).toEqual(tenant('acme', { allowedModels: ['a', 'b,c', 'd"e'], budgetPeriod: 'day' }))
      expect((await store.loadTenant('free'))?.tenant).toEqual(tenant('free', { budgetUsdMicros: null, allowedModels: null, policy: 'fixed', failOpen: true }))

      // A patch changes only the fields it names; null means "unlimited" / "every model".
      const updated = await store.updateTenant('acme', { budgetUsdMicros: 9_007_199_254_740_991, policy: 'fixed' })
      expect(updated).toEqual(tenant('acme', { allowedModels: ['a', 'b,c', 'd"e'], budgetPeriod: 'day', budgetUsdMicros: 9_007_199_254_740_991, policy: 'fixed' }))
      expect(await store.updateTenant('acme', { allowedModels: [], budgetUsdMicros: null, failOpen: true, budgetPeriod: 'total' }))
        .toEqual(tenant('acme', { allowedModels: [], budgetUsdMicros: null, failOpen: true, budgetPeriod: 'total', policy: 'fixed' }))
      expect(await store.updateTenant('acme', { allowedModels: null })).toMatchObject({ allowedModels: null, policy: 'fixed' })
      expect(await store.updateTenant('nobody', { policy: 'fixed' })).toBeNull()
      expect(await store.loadTenant('nobody')).toBeNull()
    })

    test('a duplicate tenant id throws DuplicateError', async () => {
      await store.createTenant(tenant('dup'))
      const err = await store.createTenant(tenant('dup', { budgetUsdMicros: 1 })).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(DuplicateError)
      expect((await store.loadTenant('dup'))?.tenant.budgetUsdMicros).toBe(5_000_000)
    })

    test('create, find and revoke keys; loadTenant returns revoked keys too', async () => {
      await store.createTenant(tenant('keyed'))
      const k1 = generateApiKey()
      const k2 = generateApiKey()
      await store.createKey({ id: k1.id, tenantId: 'keyed', keyHash: k1.hash, prefix: k1.prefix, name: 'ci' })
      await store.createKey({ id: k2.id, tenantId: 'keyed', keyHash: k2.hash, prefix: k2.prefix, name: null })
      expect(await store.findKeyByHash(k1.hash)).toEqual({
        id: k1.id, tenantId: 'keyed', keyHash: k1.hash, prefix: k1.prefix, name: 'ci', createdAt: expect.any(Number), expiresAt: null, revokedAt: null,
      })
      expect(await store.findKeyByHash(generateApiKey().hash)).toBeNull()

      const before = Date.now() - 1000 // clocks of the test and the database server may differ slightly
      const revoked = await store.revokeKey(k2.id)
      expect(revoked?.revokedAt).toBeGreaterThanOrEqual(before)
      expect(revoked?.revokedAt).toBeLessThanOrEqual(Date.now() + 1000)
      expect((await store.revokeKey(k2.id))?.revokedAt).toBe(revoked!.revokedAt) // first revocation time kept
      expect(await store.revokeKey('key_missing')).toBeNull()

      const q0 = store.queryCount
      const bundle = await store.loadTenant('keyed')
      expect(store.queryCount - q0).toBeLessThanOrEqual(2)
      expect(bundle?.keys.map((k) => [k.id, k.revokedAt === null]).sort()).toEqual([[k1.id, true], [k2.id, false]].sort())
      expect((await store.findKeyByHash(k2.hash))?.revokedAt).toBe(revoked!.revokedAt)
    })

    test('createKey refuses an unknown tenant and a duplicate hash', async () => {
      const k = generateApiKey()
      await expect(store.createKey({ id: k.id, tenantId: 'ghost', keyHash: k.hash, prefix: k.prefix, name: null })).rejects.toThrow(/ghost.*does not exist/)
      await store.createTenant(tenant('hashes'))
      await store.createKey({ id: k.id, tenantId: 'hashes', keyHash: k.hash, prefix: k.prefix, name: null })
      const err = await store.createKey({ id: 'key_other', tenantId: 'hashes', keyHash: k.hash, prefix: k.prefix, name: null }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(DuplicateError)
    })

    test('listTenantIdsWithKeys lists each tenant with keys once, and no keyless tenant', async () => {
      await store.createTenant(tenant('many'))
      await store.createTenant(tenant('keyless'))
      for (let i = 0; i < 3; i++) {
        const k = generateApiKey()
        await store.createKey({ id: k.id, tenantId: 'many', keyHash: k.hash, prefix: k.prefix, name: null })
      }
      const ids = await store.listTenantIdsWithKeys()
      expect(ids.filter((id) => id === 'many')).toEqual(['many'])
      expect(ids).not.toContain('keyless')
      expect(new Set(ids).size).toBe(ids.length)
    })

    test('loadAllTenants: every tenant with keys, each as loadTenant loads it; no keyless tenant', async () => {
      await store.createTenant(tenant('bulk-a', { allowedModels: ['x'] }))
      await store.createTenant(tenant('bulk-keyless'))
      for (let i = 0; i < 2; i++) {
        const k = generateApiKey()
        await store.createKey({ id: k.id, tenantId: 'bulk-a', keyHash: k.hash, prefix: k.prefix, name: `n${i}` })
      }
      const all = await store.loadAllTenants!()
      expect(all.map((b) => b.tenant.id).sort()).toEqual((await store.listTenantIdsWithKeys()).sort())
      for (const id of ['bulk-a', 'many', 'keyed']) {
        expect(all.find((b) => b.tenant.id === id)).toEqual((await store.loadTenant(id))!)
      }
      expect(all.some((b) => b.tenant.id === 'bulk-keyless')).toBe(false)
    })

    test('insertUsage is idempotent per request id; sumUsageSince and countUsage', async () => {
      const t0 = Date.parse('2026-11-24T10:00:00Z')
      await store.insertUsage([])
      await store.insertUsage([usage('r1', 'bill', 100, t0), usage('r2', 'bill', 250, t0 + 60_000), usage('r3', 'other', 7, t0)])
      // A replayed batch (crash after flush, before ack) must not double-count.
      await store.insertUsage([usage('r1', 'bill', 100, t0), usage('r2', 'bill', 999, t0), usage('r4', 'bill', 1_000_000_000_000, t0 + 120_000)])
      expect(await store.countUsage('bill')).toBe(3)
      expect(await store.countUsage()).toBe(4)
      expect(await store.sumUsageSince('bill', 0)).toBe(1_000_000_000_350)
      expect(await store.sumUsageSince('bill', t0 + 60_000)).toBe(1_000_000_000_250)
      expect(await store.sumUsageSince('bill', t0 + 200_000)).toBe(0)
      expect(await store.sumUsageSince('nobody', 0)).toBe(0)
    })

    test('sumUsageSince leaves out the excluded request ids (a counter rebuild counts those from the stream)', async () => {
      const t0 = Date.parse('2026-11-25T10:00:00Z')
      await store.insertUsage([usage('x1', 'excl', 100, t0), usage('x2', 'excl', 20, t0 + 1), usage('x3', 'excl', 3, t0 + 2),
        usage('x4', 'excl-other', 1000, t0)])
      expect(await store.sumUsageSince('excl', 0, [])).toBe(123)
      expect(await store.sumUsageSince('excl', 0, ['x2'])).toBe(103)
      // Ids not in the table, of another tenant, or before `since` change nothing; duplicates count once.
      expect(await store.sumUsageSince('excl', 0, ['x1', 'x1', 'nope', 'x4'])).toBe(23)
      expect(await store.sumUsageSince('excl', t0 + 1, ['x1', 'x3'])).toBe(20)
      expect(await store.sumUsageSince('excl', 0, ['x1', 'x2', 'x3'])).toBe(0)
      const many = Array.from({ length: 5000 }, (_, i) => `missing-${i}`)
      expect(await store.sumUsageSince('excl', 0, [...many, 'x3'])).toBe(120)
    })

    test('storedUsageIds answers which request ids usage_records holds (the ledger stops holding those)', async () => {
      await store.insertUsage([usage('s1', 'stored', 1, Date.now()), usage('s2', 'stored-other', 2, Date.now())])
      expect(await store.storedUsageIds([])).toEqual([])
      expect((await store.storedUsageIds(['s1', 'nope', 's2', 's1'])).sort()).toEqual(['s1', 's2'])
      const many = Array.from({ length: 3000 }, (_, i) => `absent-${i}`)
      expect(await store.storedUsageIds([...many, 's2'])).toEqual(['s2'])
    })


    test('insertUsage keeps the client-visible request id; records without one store null', async () => {
      const own = await (await backend.fresh())() // clientRequestIds() reads the newest fresh database
      try {
        await own.migrate()
        const t0 = Date.now()
        await own.insertUsage([{ ...usage('cr1', 'crid', 1, t0), clientRequestId: 'req_from_client-1' }, usage('cr2', 'crid', 1, t0),
          { ...usage('cr3', 'crid', 1, t0), clientRequestId: null }])
        expect(await backend.clientRequestIds()).toEqual({ cr1: 'req_from_client-1', cr2: null, cr3: null })
      } finally {
        await own.close()
      }
    })

    test('insertUsage takes batches larger than one statement', async () => {
      const t0 = Date.now()
      const batch = Array.from({ length: 2500 }, (_, i) => usage(`big-${i}`, 'big', 2, t0))
      await store.insertUsage(batch)
      await store.insertUsage(batch)
      expect(await store.countUsage('big')).toBe(2500)
      expect(await store.sumUsageSince('big', t0)).toBe(5000)
    })

    test('queryCount counts every query', async () => {
      const q0 = store.queryCount
      await store.ping()
      await store.findKeyByHash('nope')
      await store.listTenantIdsWithKeys()
      expect(store.queryCount - q0).toBe(3)
    })

    test('listen receives changes written by another store instance', async () => {
      const writer = await another()
      const events: ChangeEvent[] = []
      const unlisten = await store.listen((e) => events.push(e))
      await writer.createTenant(tenant('live'))
      await waitFor(events, (e) => e.kind === 'tenant' && e.tenantId === 'live')
      await writer.updateTenant('live', { budgetUsdMicros: 1 })
      await waitFor(events, (e) => e.kind === 'tenant' && e.tenantId === 'live' && events.indexOf(e) > 0)

      const k = generateApiKey()
      await writer.createKey({ id: k.id, tenantId: 'live', keyHash: k.hash, prefix: k.prefix, name: null })
      expect(await waitFor(events, (e) => e.kind === 'key')).toEqual({ kind: 'key', tenantId: 'live', keyHash: k.hash })
      const seen = events.length
      await writer.revokeKey(k.id)
      await waitFor(events, (e) => e.kind === 'key' && events.indexOf(e) >= seen)

      await unlisten()
      const after = events.length
      await writer.updateTenant('live', { budgetUsdMicros: 2 })
      await writer.ping() // a round trip after the write, so a stray event would have arrived
      await Bun.sleep(100)
      expect(events.length).toBe(after)
    })
  })
}

test('postgres: queries and LISTEN resume after the server crashes and restarts, and the listener is told', async () => {
  const pg = await startPostgres({ own: true })
  const [a, b] = [await createPostgresStore(pg.url), await createPostgresStore(pg.url)]
  try {
    await a.migrate()
    const events: ChangeEvent[] = []
    let resubscribed = 0
    await a.listen((e) => events.push(e), () => resubscribed++)
    expect(resubscribed).toBe(0)
    await pg.kill()
    await pg.restart()
    // The pooled connection died with the server: the first query may fail, later ones reconnect.
    await a.ping().catch(() => {})
    await a.ping()
    // postgres.js re-issues LISTEN on its own after reconnecting; keep writing until an event arrives.
    for (let i = 0; i < 50 && events.length === 0; i++) {
      await b.ping().catch(() => {})
      await b.createTenant(tenant(`after-restart-${i}`)).catch(() => {})
      await Bun.sleep(100)
    }
    expect(events[0]?.tenantId).toStartWith('after-restart-')
    // Changes made while the connection was down were never delivered: the caller must be told to reload.
    expect(resubscribed).toBe(1)
  } finally {
    await a.close()
    await b.close()
    await pg.stop()
  }
})

describe('createPostgresStore when Postgres is unreachable', () => {
  const servers: Server[] = []
  afterAll(() => { for (const s of servers) s.close() })

  const listen = (onConn: (s: import('node:net').Socket) => void): Promise<number> => new Promise((resolve) => {
    const srv = createServer(onConn)
    servers.push(srv)
    srv.listen(0, '127.0.0.1', () => resolve((srv.address() as { port: number }).port))
  })

  test('a refused connection rejects quickly with a clear message and no password', async () => {
    const port = await listen(() => {})
    servers.pop()!.close() // nothing listens on the port any more
    await Bun.sleep(20)
    const t0 = performance.now()
    const err = (await createPostgresStore(`postgres://gw:s3cret@127.0.0.1:${port}/gw`).catch((e: unknown) => e)) as Error
    expect(performance.now() - t0).toBeLessThan(4000)
    expect(err).toBeInstanceOf(Error)
    expect(err.message).toContain(`cannot connect to Postgres at 127.0.0.1:${port}/gw`)
    expect(err.message).not.toContain('s3cret')
  })

  test('a server that never answers the handshake times out after connectTimeoutSec', async () => {
    const port = await listen(() => {}) // accepts the TCP connection, then says nothing
    const t0 = performance.now()
    const err = (await createPostgresStore(`postgres://gw@127.0.0.1:${port}/gw`, { connectTimeoutSec: 1 }).catch((e: unknown) => e)) as Error
    expect(performance.now() - t0).toBeLessThan(3500)
    expect(err.message).toContain('cannot connect to Postgres')
  })
})

describe('openStore', () => {
  test('without a database URL: a migrated sqlite file under dataDir, creating the directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gateway-open-'))
    try {
      const dataDir = join(dir, 'nested', 'gateway-data')
      const store = await openStore({ databaseUrl: null, dataDir })
      expect(store.kind).toBe('sqlite')
      expect(existsSync(join(dataDir, 'gateway.sqlite'))).toBe(true)
      expect(await store.migrate()).toEqual([])
      await store.createTenant(tenant('demo'))
      await store.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
