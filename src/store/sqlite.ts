/**
 * Embedded store on bun:sqlite, used when there is no DATABASE_URL (`gateway demo`, single-node setups).
 * There is no NOTIFY. Change events reach a listener two ways:
 * - writes made in this process are delivered in-process, to every store instance in this process that
 *   opened the same file, after the write has committed (like NOTIFY, which fires at commit);
 * - writes made by another process (the `gateway tenant|key …` CLI on the same file) are found by polling
 *   `PRAGMA data_version` while someone listens: it changes only when another connection commits. On a
 *   change the store diffs tenants and api_keys against a snapshot and emits one precise event per changed
 *   tenant or key. A store instance in the same process is another connection too, so its writes may arrive
 *   twice (in-process, then from the poll); an event only means "reload this tenant", so that is harmless.
 */
import { Database, type SQLQueryBindings } from 'bun:sqlite'
import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { bundlesOf } from './bundles.ts'
import { sqliteMigrations } from './migrations/index.ts'
import { sqliteAdminOps } from './sqlite-admin.ts'
import { configureConnection, insertUsageBatch } from './sqlite-usage.ts'
import { startUsageWriter } from './usage-writer.ts'
import { KEY_COLS, TENANT_COLS, toKey, toTenant, type KeyRow, type TenantRow } from './sqlite-rows.ts'
import { DuplicateError, type ChangeEvent, type Store } from './types.ts'

type Listener = (e: ChangeEvent) => void
/** Listeners per database file (absolute path); each ':memory:' database gets a channel of its own. */
const channels = new Map<string, Set<Listener>>()

/** How often a listening store checks whether another process committed to its file. */
const CHANGE_POLL_MS = 250

export interface SqliteStoreOptions {
  /** Interval of the cross-process change poll (ms); default 250. */
  changePollMs?: number
}

/** What the poll compares: every tenant's row (as JSON) and every key's revocation and expiry, by id. */
interface ConfigSnapshot {
  tenants: Map<string, string>
  keys: Map<string, { tenantId: string; keyHash: string; revokedAt: number | null; expiresAt: number | null }>
}

const sqliteCode = (err: unknown): string => String((err as { code?: unknown })?.code ?? '')

export function createSqliteStore(path: string, opts: SqliteStoreOptions = {}): Store {
  const inMemory = path === ':memory:'
  if (!inMemory) mkdirSync(dirname(resolve(path)), { recursive: true })
  const db = new Database(path, { create: true })
  configureConnection(db)
  // Files: usage rows are written by a thread of their own (usage-writer.ts), started on the first insert.
  const usageWriter = inMemory ? null : startUsageWriter(resolve(path))

  const channelKey = inMemory ? `:memory:${crypto.randomUUID()}` : resolve(path)
  /** This instance's subscriptions: the wrapped listener → its onResubscribed. */
  const mine = new Map<Listener, (() => void) | undefined>()
  let queries = 0

  /** A cached prepared statement (db.query caches by SQL text), counted per execution. */
  const all = <T>(sql: string, ...params: SQLQueryBindings[]): T[] => {
    queries++
    return db.query<T, SQLQueryBindings[]>(sql).all(...params)
  }
  const run = (sql: string, ...params: SQLQueryBindings[]): number => {
    queries++
    return db.query(sql).run(...params).changes
  }

  const emit = (e: ChangeEvent): void => {
    const listeners = channels.get(channelKey)
    if (!listeners) return
    // Asynchronous like a notification: a listener never runs inside the writer's call.
    queueMicrotask(() => {
      for (const l of listeners) l(e)
    })
  }

  // Cross-process changes. Runs only while this instance has a listener, never for ':memory:' (no other
  // connection can reach it). Its queries are not counted in queryCount: they are background work, not
  // something a caller issued (tests use queryCount to prove the warm request path touches no database).
  const pollMs = opts.changePollMs ?? CHANGE_POLL_MS
  let poll: ReturnType<typeof setInterval> | null = null
  /** data_version the snapshot corresponds to (read before the snapshot, so a commit in between is seen again). */
  let seenVersion = 0
  /** null: the last scan failed (e.g. a table missing before migrate); the next good scan reloads everything. */
  let snapshot: ConfigSnapshot | null = null

  const dataVersion = (): number => db.query<{ data_version: number }, []>('pragma data_version').get()!.data_version
  /** Moves on every tenant or key change (migration 004's triggers); null before that migration. */
  const configVersion = (): number | null => {
    try {
      return db.query<{ version: number }, []>('select version from config_version').get()?.version ?? null
    } catch {
      return null
    }
  }
  let seenConfig: number | null = null

  const scan = (): ConfigSnapshot => db.transaction(() => {
    const tenants = new Map<string, string>()
    for (const r of db.query<TenantRow, []>(`select ${TENANT_COLS} from tenants`).all()) tenants.set(r.id, JSON.stringify(r))
    const keys: ConfigSnapshot['keys'] = new Map()
    for (const r of db.query<KeyRow, []>(`select ${KEY_COLS} from api_keys`).all()) {
      keys.set(r.id, { tenantId: r.tenant_id, keyHash: r.key_hash, revokedAt: r.revoked_at, expiresAt: r.expires_at })
    }
    return { tenants, keys }
  })()

  const diff = (before: ConfigSnapshot, after: ConfigSnapshot): ChangeEvent[] => {
    const events: ChangeEvent[] = []
    for (const [id, row] of after.tenants) if (before.tenants.get(id) !== row) events.push({ kind: 'tenant', tenantId: id })
    for (const id of before.tenants.keys()) if (!after.tenants.has(id)) events.push({ kind: 'tenant', tenantId: id })
    for (const [id, k] of after.keys) {
      const was = before.keys.get(id)
      if (!was || was.revokedAt !== k.revokedAt || was.expiresAt !== k.expiresAt) events.push({ kind: 'key', tenantId: k.tenantId, keyHash: k.keyHash })
    }
    for (const [id, k] of before.keys) if (!after.keys.has(id)) events.push({ kind: 'key', tenantId: k.tenantId, keyHash: k.keyHash })
    return events
  }

  const tryScan = (): ConfigSnapshot | null => {
    try {
      return scan()
    } catch {
      return null
    }
  }

  const checkForeignChanges = (): void => {
    let version: number
    try {
      version = dataVersion()
    } catch {
      return // busy or closing: try again on the next tick
    }
    if (version === seenVersion) return
    // Usage rows committed by the writer thread move data_version too; only a config change warrants a scan.
    const config = configVersion()
    if (config !== null && config === seenConfig && snapshot) {
      seenVersion = version
      return
    }
    const next = tryScan()
    if (!next) return // keep seenVersion: the next tick scans again
    const before = snapshot
    seenVersion = version
    seenConfig = config
    snapshot = next
    // Delivered like the in-process events: asynchronously, and a throwing listener cannot stop the poll.
    const subs = [...mine]
    if (!before) {
      // No baseline to compare with: what changed is unknown, so ask for a full reload.
      queueMicrotask(() => {
        for (const [l, onResubscribed] of subs) if (mine.has(l)) onResubscribed?.()
      })
      return
    }
    const events = diff(before, next)
    if (events.length === 0) return // e.g. only usage_records changed
    queueMicrotask(() => {
      for (const e of events) for (const [l] of subs) if (mine.has(l)) l(e)
    })
  }

  const startPolling = (): void => {
    if (inMemory || poll) return
    seenVersion = dataVersion()
    seenConfig = configVersion()
    snapshot = tryScan()
    poll = setInterval(checkForeignChanges, pollMs)
    poll.unref() // never keeps a process alive
  }

  const stopPolling = (): void => {
    if (poll) clearInterval(poll)
    poll = null
    snapshot = null
  }

  const store: Store = {
    kind: 'sqlite',
    get queryCount() {
      return queries
    },

    async migrate() {
      const applied: string[] = []
      // BEGIN IMMEDIATE takes the write lock first, so two processes migrating at once serialise.
      db.transaction(() => {
        run('create table if not exists schema_migrations (version text primary key, applied_at integer not null)')
        const done = new Set(all<{ version: string }>('select version from schema_migrations').map((r) => r.version))
        for (const m of sqliteMigrations) {
          if (done.has(m.version)) continue
          queries++
          db.exec(m.sql)
          run('insert into schema_migrations (version, applied_at) values (?, ?)', m.version, Date.now())
          applied.push(m.version)
        }
      }).immediate()
      return applied
    },

    async listTenantIdsWithKeys() {
      return all<{ tenant_id: string }>('select distinct tenant_id from api_keys order by tenant_id').map((r) => r.tenant_id)
    },

    async loadTenant(id) {
      const t = all<TenantRow>(`select ${TENANT_COLS} from tenants where id = ?`, id)[0]
      if (!t) return null
      // rowid breaks ties in insertion order: created_at is in milliseconds, two keys can share one.
      const keys = all<KeyRow>(`select ${KEY_COLS} from api_keys where tenant_id = ? order by created_at, rowid`, id)
      return { tenant: toTenant(t), keys: keys.map(toKey) }
    },

    async loadAllTenants() {
      // One read transaction: tenants and keys from the same snapshot.
      return db.transaction(() => bundlesOf(
        all<TenantRow>(`select ${TENANT_COLS} from tenants where id in (select tenant_id from api_keys)`).map(toTenant),
        all<KeyRow>(`select ${KEY_COLS} from api_keys order by tenant_id, created_at, rowid`).map(toKey),
      ))()
    },

    async findKeyByHash(hash) {
      const r = all<KeyRow>(`select ${KEY_COLS} from api_keys where key_hash = ?`, hash)[0]
      return r ? toKey(r) : null
    },

    async createTenant(t) {
      const now = Date.now()
      try {
        run(`insert into tenants (id, budget_usd_micros, budget_period, policy, allowed_models, fail_open, disabled, created_at, updated_at)
          values (?, ?, ?, ?, ?, ?, ?, ?, ?)`, t.id, t.budgetUsdMicros, t.budgetPeriod, t.policy,
          t.allowedModels === null ? null : JSON.stringify(t.allowedModels), t.failOpen ? 1 : 0, t.disabled ? 1 : 0, now, now)
      } catch (err) {
        if (sqliteCode(err) === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new DuplicateError(`tenant "${t.id}" already exists`)
        throw err
      }
      emit({ kind: 'tenant', tenantId: t.id })
    },

    async updateTenant(id, patch) {
      // One statement for any patch: each column is either kept or set, chosen by a flag.
      const has = (k: keyof typeof patch): number => (patch[k] !== undefined ? 1 : 0)
      const models = patch.allowedModels
      const r = all<TenantRow>(`update tenants set
          budget_usd_micros = case when ? then ? else budget_usd_micros end,
          budget_period = case when ? then ? else budget_period end,
          policy = case when ? then ? else policy end,
          allowed_models = case when ? then ? else allowed_models end,
          fail_open = case when ? then ? else fail_open end,
          disabled = case when ? then ? else disabled end,
          updated_at = ?
        where id = ? returning ${TENANT_COLS}`,
        has('budgetUsdMicros'), patch.budgetUsdMicros ?? null,
        has('budgetPeriod'), patch.budgetPeriod ?? null,
        has('policy'), patch.policy ?? null,
        has('allowedModels'), models ? JSON.stringify(models) : null,
        has('failOpen'), patch.failOpen ? 1 : 0,
        has('disabled'), patch.disabled ? 1 : 0,
        Date.now(), id)[0]
      if (!r) return null
      emit({ kind: 'tenant', tenantId: id })
      return toTenant(r)
    },

    async createKey(k) {
      try {
        run(`insert into api_keys (id, tenant_id, key_hash, prefix, name, created_at, expires_at) values (?, ?, ?, ?, ?, ?, ?)`,
          k.id, k.tenantId, k.keyHash, k.prefix, k.name, Date.now(), k.expiresAt ?? null)
      } catch (err) {
        const code = sqliteCode(err)
        if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') {
          throw new DuplicateError(`key "${k.id}" (or its hash) already exists`)
        }
        if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') throw new Error(`tenant "${k.tenantId}" does not exist`)
        throw err
      }
      emit({ kind: 'key', tenantId: k.tenantId, keyHash: k.keyHash })
    },

    async revokeKey(id) {
      // coalesce keeps the first revocation time when a key is revoked twice.
      const r = all<KeyRow>(`update api_keys set revoked_at = coalesce(revoked_at, ?) where id = ? returning ${KEY_COLS}`,
        Date.now(), id)[0]
      if (!r) return null
      emit({ kind: 'key', tenantId: r.tenant_id, keyHash: r.key_hash })
      return toKey(r)
    },

    async insertUsage(records) {
      if (records.length === 0) return
      queries += records.length
      if (usageWriter) await usageWriter.insert(records)
      else insertUsageBatch(db, records)
    },

    async sumUsageSince(tenantId, sinceMs, excludeRequestIds = []) {
      const r = excludeRequestIds.length === 0
        ? all<{ total: number }>(`select coalesce(sum(cost_usd_micros), 0) as total from usage_records
          where tenant_id = ? and started_at >= ?`, tenantId, sinceMs)[0]
        : all<{ total: number }>(`select coalesce(sum(cost_usd_micros), 0) as total from usage_records
          where tenant_id = ? and started_at >= ? and request_id not in (select value from json_each(?))`,
          tenantId, sinceMs, JSON.stringify(excludeRequestIds))[0]
      return r?.total ?? 0
    },

    async countUsage(tenantId) {
      const r = tenantId === undefined
        ? all<{ n: number }>('select count(*) as n from usage_records')[0]
        : all<{ n: number }>('select count(*) as n from usage_records where tenant_id = ?', tenantId)[0]
      return r?.n ?? 0
    },

    async storedUsageIds(requestIds) {
      if (requestIds.length === 0) return []
      return all<{ request_id: string }>('select request_id from usage_records where request_id in (select value from json_each(?))',
        JSON.stringify(requestIds)).map((r) => r.request_id)
    },

    async listen(onChange, onResubscribed) {
      let set = channels.get(channelKey)
      if (!set) channels.set(channelKey, (set = new Set()))
      // Wrap so the same callback subscribed twice gets two independent subscriptions, like LISTEN.
      const l: Listener = (e) => onChange(e)
      set.add(l)
      mine.set(l, onResubscribed)
      startPolling()
      return async () => {
        mine.delete(l)
        set.delete(l)
        if (set.size === 0 && channels.get(channelKey) === set) channels.delete(channelKey)
        if (mine.size === 0) stopPolling()
      }
    },

    ...sqliteAdminOps(db, { all, run, emit }),

    async ping() {
      all('select 1')
    },

    async close() {
      stopPolling()
      await usageWriter?.close()
      const set = channels.get(channelKey)
      for (const l of mine.keys()) set?.delete(l)
      if (set && set.size === 0) channels.delete(channelKey)
      mine.clear()
      db.close()
    },
  }
  return store
}
