/** Store on PostgreSQL via postgres.js. Config changes reach every gateway through LISTEN/NOTIFY. */
import postgres from 'postgres'
import { bundlesOf } from './bundles.ts'
import { postgresMigrations } from './migrations/index.ts'
import { postgresAdminOps } from './postgres-admin.ts'
import { keyColumns, tenantColumns, toKey, toTenant, type KeyRow, type Sql, type TenantRow } from './postgres-rows.ts'
import { DuplicateError, type ChangeEvent, type Store } from './types.ts'
import { type TenantBundle, type TenantPatch } from '../tenants/types.ts'

export interface PostgresStoreOptions {
  /** Pool size (postgres.js default 10). */
  max?: number
  /** Give up connecting after this many seconds (default 3), so boot fails fast on a bad URL. */
  connectTimeoutSec?: number
}

const CHANNEL = 'gateway_config'
/** Rows per INSERT: 12 parameters each stays well under the protocol's 65535-parameter limit. */
const USAGE_BATCH = 1000

/** Host, port and database of a URL, never its password: this goes into boot error messages and the CLI's store line. */
export function describePostgresUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`
  } catch {
    return 'the configured URL'
  }
}

function reasonOf(err: unknown): string {
  const e = err as { code?: string; message?: string }
  return [e?.code, e?.message].filter(Boolean).join(': ') || String(err)
}

/** NOTIFY payloads are JSON from our triggers; anything else on the channel is ignored, not fatal. */
export function parseChangeEvent(payload: string): ChangeEvent | null {
  try {
    const v = JSON.parse(payload) as Partial<ChangeEvent>
    if ((v.kind !== 'tenant' && v.kind !== 'key') || typeof v.tenantId !== 'string') return null
    return typeof v.keyHash === 'string'
      ? { kind: v.kind, tenantId: v.tenantId, keyHash: v.keyHash }
      : { kind: v.kind, tenantId: v.tenantId }
  } catch {
    return null
  }
}

/**
 * Seconds before reconnect attempt `retries` (postgres.js counts failed attempts since the last success).
 * Its default, 3^n/100 s up to 20 s, made the LISTEN connection come back ~18 s after a Postgres restart of a
 * few seconds, and config changes (a revoked key) waited for it. From 50 ms, doubling, at most 1 s; the jitter
 * keeps a fleet of gateways from reconnecting in step.
 */
export function reconnectDelaySec(retries: number, random: () => number = Math.random): number {
  return Math.min(0.05 * 2 ** Math.max(0, retries - 1), 1) * (0.5 + random() / 2)
}

const pgCode = (err: unknown): string | undefined => (err as { code?: string })?.code

export async function createPostgresStore(url: string, opts: PostgresStoreOptions = {}): Promise<Store> {
  const connectTimeoutSec = opts.connectTimeoutSec ?? 3
  let sql: Sql
  try {
    sql = postgres(url, {
      max: opts.max ?? 10,
      connect_timeout: connectTimeoutSec,
      // Also used by the LISTEN connection (postgres.js passes these options on), which must resubscribe at once.
      backoff: reconnectDelaySec,
      // `create ... if not exists` notices are expected, not worth a console line.
      onnotice: () => {},
      // int8 arrives as a string by default; money and counts fit in 2^53 (9e15 µUSD = $9e9).
      types: { bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) } },
    })
  } catch (err) {
    throw new Error(`invalid Postgres URL (${describePostgresUrl(url)}): ${reasonOf(err)}`)
  }

  // Connect eagerly so a wrong URL or a down server is reported at boot, not on the first request.
  // The outer timer backs up connect_timeout in case the failure is somewhere it does not cover.
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    await Promise.race([
      sql`select 1`,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${connectTimeoutSec + 1} s`)), (connectTimeoutSec + 1) * 1000)
      }),
    ])
  } catch (err) {
    void sql.end({ timeout: 0 }).catch(() => {})
    throw new Error(`cannot connect to Postgres at ${describePostgresUrl(url)}: ${reasonOf(err)}`)
  } finally {
    clearTimeout(timer)
  }

  let queries = 0
  const q = <T>(p: T): T => {
    queries++
    return p
  }

  const tenantCols = tenantColumns(sql)
  const keyCols = keyColumns(sql)

  const store: Store = {
    kind: 'postgres',
    get queryCount() {
      return queries
    },

    async migrate() {
      const applied: string[] = []
      await sql.begin(async (tx) => {
        // Serialises concurrent migrators (two gateways booting at once); released at commit.
        await q(tx`select pg_advisory_xact_lock(hashtext('gateway:migrate'))`)
        await q(tx`create table if not exists schema_migrations (
          version text primary key, applied_at timestamptz not null default now())`)
        const done = new Set((await q(tx<{ version: string }[]>`select version from schema_migrations`)).map((r) => r.version))
        for (const m of postgresMigrations) {
          if (done.has(m.version)) continue
          // unsafe() without parameters uses the simple protocol, which runs a multi-statement file.
          await q(tx.unsafe(m.sql))
          await q(tx`insert into schema_migrations (version) values (${m.version})`)
          applied.push(m.version)
        }
      })
      return applied
    },

    async listTenantIdsWithKeys() {
      const rows = await q(sql<{ tenant_id: string }[]>`select distinct tenant_id from api_keys order by tenant_id`)
      return rows.map((r) => r.tenant_id)
    },

    async loadTenant(id) {
      // Two queries in flight together: one round trip of latency on a cold tenant.
      const [tenants, keys] = await Promise.all([
        q(sql<TenantRow[]>`select ${tenantCols} from tenants where id = ${id}`),
        q(sql<KeyRow[]>`select ${keyCols} from api_keys where tenant_id = ${id} order by created_at, id`),
      ])
      const t = tenants[0]
      if (!t) return null
      const bundle: TenantBundle = { tenant: toTenant(t), keys: keys.map(toKey) }
      return bundle
    },

    async loadAllTenants() {
      const [tenants, keys] = await Promise.all([
        q(sql<TenantRow[]>`select ${tenantCols} from tenants where id in (select tenant_id from api_keys)`),
        q(sql<KeyRow[]>`select ${keyCols} from api_keys order by tenant_id, created_at, id`),
      ])
      return bundlesOf(tenants.map(toTenant), keys.map(toKey))
    },

    async findKeyByHash(hash) {
      const rows = await q(sql<KeyRow[]>`select ${keyCols} from api_keys where key_hash = ${hash}`)
      return rows[0] ? toKey(rows[0]) : null
    },

    async createTenant(t) {
      try {
        await q(sql`insert into tenants (id, budget_usd_micros, budget_period, policy, allowed_models, fail_open, disabled)
          values (${t.id}, ${t.budgetUsdMicros}, ${t.budgetPeriod}, ${t.policy},
                  ${t.allowedModels === null ? null : sql.array(t.allowedModels)}::text[], ${t.failOpen}, ${t.disabled ?? false})`)
      } catch (err) {
        if (pgCode(err) === '23505') throw new DuplicateError(`tenant "${t.id}" already exists`)
        throw err
      }
    },

    async updateTenant(id, patch) {
      // One static statement for any patch: each column is either kept or set, chosen by a flag.
      const has = (k: keyof TenantPatch): boolean => patch[k] !== undefined
      const models = patch.allowedModels
      const rows = await q(sql<TenantRow[]>`update tenants set
          budget_usd_micros = case when ${has('budgetUsdMicros')} then ${patch.budgetUsdMicros ?? null}::int8 else budget_usd_micros end,
          budget_period = case when ${has('budgetPeriod')} then ${patch.budgetPeriod ?? null}::text else budget_period end,
          policy = case when ${has('policy')} then ${patch.policy ?? null}::text else policy end,
          allowed_models = case when ${has('allowedModels')} then ${models ? sql.array(models) : null}::text[] else allowed_models end,
          fail_open = case when ${has('failOpen')} then ${patch.failOpen ?? null}::boolean else fail_open end,
          disabled = case when ${has('disabled')} then ${patch.disabled ?? null}::boolean else disabled end,
          updated_at = now()
        where id = ${id}
        returning ${tenantCols}`)
      return rows[0] ? toTenant(rows[0]) : null
    },

    async createKey(k) {
      try {
        await q(sql`insert into api_keys (id, tenant_id, key_hash, prefix, name, expires_at)
          values (${k.id}, ${k.tenantId}, ${k.keyHash}, ${k.prefix}, ${k.name}, ${k.expiresAt == null ? null : new Date(k.expiresAt)})`)
      } catch (err) {
        if (pgCode(err) === '23505') throw new DuplicateError(`key "${k.id}" (or its hash) already exists`)
        if (pgCode(err) === '23503') throw new Error(`tenant "${k.tenantId}" does not exist`)
        throw err
      }
    },

    async revokeKey(id) {
      // coalesce keeps the first revocation time when a key is revoked twice.
      const rows = await q(sql<KeyRow[]>`update api_keys set revoked_at = coalesce(revoked_at, now())
        where id = ${id} returning ${keyCols}`)
      return rows[0] ? toKey(rows[0]) : null
    },

    async insertUsage(records) {
      for (let i = 0; i < records.length; i += USAGE_BATCH) {
        const rows = records.slice(i, i + USAGE_BATCH).map((r) => ({
          request_id: r.requestId,
          tenant_id: r.tenantId,
          key_id: r.keyId,
          model: r.model,
          provider: r.provider,
          prompt_tokens: r.promptTokens,
          completion_tokens: r.completionTokens,
          cost_usd_micros: r.costUsdMicros,
          status: r.status,
          started_at: new Date(r.startedAt),
          duration_ms: r.durationMs,
          client_request_id: r.clientRequestId ?? null,
        }))
        // The ledger is flushed at least once; request_id makes a replayed batch a no-op.
        await q(sql`insert into usage_records ${sql(rows)} on conflict (request_id) do nothing`)
      }
    },

    async sumUsageSince(tenantId, sinceMs, excludeRequestIds = []) {
      const since = new Date(sinceMs)
      if (excludeRequestIds.length === 0) {
        const rows = await q(sql<{ total: number }[]>`select coalesce(sum(cost_usd_micros), 0)::int8 as total
          from usage_records where tenant_id = ${tenantId} and started_at >= ${since}`)
        return rows[0]?.total ?? 0
      }
      // All rows minus the excluded ones, in one statement (one snapshot): the excluded ids are found through the
      // primary key instead of testing every row of the tenant against the whole list (`<> all(...)`).
      const rows = await q(sql<{ total: number }[]>`select (
          (select coalesce(sum(cost_usd_micros), 0) from usage_records
            where tenant_id = ${tenantId} and started_at >= ${since})
        - (select coalesce(sum(cost_usd_micros), 0) from usage_records
            where request_id = any(${sql.array([...excludeRequestIds])}::text[]) and tenant_id = ${tenantId} and started_at >= ${since})
        )::int8 as total`)
      return rows[0]?.total ?? 0
    },

    async countUsage(tenantId) {
      const rows = await q(tenantId === undefined
        ? sql<{ n: number }[]>`select count(*) as n from usage_records`
        : sql<{ n: number }[]>`select count(*) as n from usage_records where tenant_id = ${tenantId}`)
      return rows[0]?.n ?? 0
    },

    async storedUsageIds(requestIds) {
      if (requestIds.length === 0) return []
      const rows = await q(sql<{ request_id: string }[]>`select request_id from usage_records
        where request_id = any(${sql.array([...requestIds])}::text[])`)
      return rows.map((r) => r.request_id)
    },

    async listen(onChange: (e: ChangeEvent) => void, onResubscribed?: () => void) {
      // postgres.js keeps a dedicated connection for LISTEN and re-subscribes after a reconnect; its onlisten
      // callback runs on every subscription, so every call after the first one is a resubscription.
      let subscriptions = 0
      const meta = await q(sql.listen(CHANNEL, (payload) => {
        const e = parseChangeEvent(payload)
        if (e) onChange(e)
      }, () => {
        if (subscriptions++ > 0) onResubscribed?.()
      }))
      return () => meta.unlisten()
    },

    ...postgresAdminOps(sql, q),

    async ping() {
      await q(sql`select 1`)
    },

    async close() {
      await sql.end({ timeout: 5 })
    },
  }
  return store
}
