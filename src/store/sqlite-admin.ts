/** The embedded store's admin operations (list, delete, rotate, usage report), shared by the CLI and the admin API. */
import type { Database, SQLQueryBindings } from 'bun:sqlite'
import { KEY_COLS, TENANT_COLS, toKey, toTenant, type KeyRow, type TenantRow } from './sqlite-rows.ts'
import type { ChangeEvent, DeleteTenantResult, RotateKeyResult, Store, UsageGroupBy } from './types.ts'

type AdminOps = Pick<Store, 'listTenants' | 'deleteTenant' | 'rotateKey' | 'usageReport' | 'appliedMigrations'>

export interface SqliteHelpers {
  /** Counted queries (queryCount). */
  all: <T>(sql: string, ...params: SQLQueryBindings[]) => T[]
  run: (sql: string, ...params: SQLQueryBindings[]) => number
  /** Tells this process's listeners; call only after the write committed. */
  emit: (e: ChangeEvent) => void
}

const ACTIVE = '(revoked_at is null and (expires_at is null or expires_at > ?))'

/** Fixed SQL per grouping; nothing from the caller is spliced into a statement. */
const GROUP_EXPR: Record<UsageGroupBy, string> = {
  day: `strftime('%Y-%m-%d', started_at / 1000, 'unixepoch')`,
  model: 'model',
  key: 'key_id',
}

export function sqliteAdminOps(db: Database, { all, run, emit }: SqliteHelpers): AdminOps {
  return {
    async listTenants(nowMs) {
      const rows = all<TenantRow & { created_at: number; keys: number; active_keys: number }>(`
        select t.*, coalesce(k.keys, 0) as keys, coalesce(k.active_keys, 0) as active_keys
        from (select ${TENANT_COLS}, created_at from tenants) t
        left join (select tenant_id, count(*) as keys, sum(case when ${ACTIVE} then 1 else 0 end) as active_keys
                   from api_keys group by tenant_id) k on k.tenant_id = t.id
        order by t.id`, nowMs)
      return rows.map((r) => ({ tenant: toTenant(r), createdAt: r.created_at, keys: r.keys, activeKeys: r.active_keys }))
    },

    async deleteTenant(id, { force, nowMs }) {
      // BEGIN IMMEDIATE: the write lock is held from the count to the delete, so no key slips in between.
      const result = db.transaction((): DeleteTenantResult => {
        if (all(`select id from tenants where id = ?`, id).length === 0) return { outcome: 'not_found' }
        const n = all<{ n: number }>(`select count(*) as n from api_keys where tenant_id = ? and ${ACTIVE}`, id, nowMs)[0]!.n
        if (n > 0 && !force) return { outcome: 'has_active_keys', activeKeys: n }
        run('delete from tenants where id = ?', id) // api_keys go with it (on delete cascade)
        return { outcome: 'deleted', activeKeys: n }
      }).immediate()
      if (result.outcome === 'deleted') emit({ kind: 'tenant', tenantId: id })
      return result
    },

    async rotateKey(oldId, next, { oldExpiresAt, nowMs }) {
      const result = db.transaction((): RotateKeyResult => {
        const old = all<KeyRow>(`select ${KEY_COLS} from api_keys where id = ?`, oldId)[0]
        if (!old) return { outcome: 'not_found' }
        if (old.revoked_at !== null) return { outcome: 'revoked' }
        if (old.expires_at !== null && old.expires_at <= nowMs) return { outcome: 'expired' }
        const name = next.name === undefined ? old.name : next.name
        const created = all<KeyRow>(`insert into api_keys (id, tenant_id, key_hash, prefix, name, created_at, expires_at)
          values (?, ?, ?, ?, ?, ?, ?) returning ${KEY_COLS}`,
        next.id, old.tenant_id, next.keyHash, next.prefix, name, Date.now(), next.expiresAt ?? null)[0]!
        // Never later than an expiry the old key already had (sqlite's two-argument min() is null if either is).
        const updated = all<KeyRow>(`update api_keys set expires_at = min(coalesce(expires_at, ?), ?) where id = ? returning ${KEY_COLS}`,
          oldExpiresAt, oldExpiresAt, oldId)[0]!
        return { outcome: 'rotated', old: toKey(updated), created: toKey(created) }
      }).immediate()
      if (result.outcome === 'rotated') {
        emit({ kind: 'key', tenantId: result.created.tenantId, keyHash: result.created.keyHash })
        emit({ kind: 'key', tenantId: result.old.tenantId, keyHash: result.old.keyHash })
      }
      return result
    },

    async usageReport({ tenantId, sinceMs, untilMs, by }) {
      const where = ['started_at >= ?']
      const params: SQLQueryBindings[] = [sinceMs]
      if (untilMs !== undefined) { where.push('started_at < ?'); params.push(untilMs) }
      if (tenantId !== undefined) { where.push('tenant_id = ?'); params.push(tenantId) }
      const rows = all<{ tenant_id: string; grp: string; requests: number; prompt: number; completion: number; cost: number }>(`
        select tenant_id, ${GROUP_EXPR[by]} as grp, count(*) as requests, coalesce(sum(prompt_tokens), 0) as prompt,
          coalesce(sum(completion_tokens), 0) as completion, coalesce(sum(cost_usd_micros), 0) as cost
        from usage_records where ${where.join(' and ')}
        group by 1, 2 order by 1, 2`, ...params)
      return rows.map((r) => ({
        tenantId: r.tenant_id, group: r.grp, requests: r.requests, promptTokens: r.prompt, completionTokens: r.completion, costUsdMicros: r.cost,
      }))
    },

    async appliedMigrations() {
      const exists = all(`select name from sqlite_master where type = 'table' and name = 'schema_migrations'`).length > 0
      return exists ? all<{ version: string }>('select version from schema_migrations order by version').map((r) => r.version) : []
    },
  }
}
