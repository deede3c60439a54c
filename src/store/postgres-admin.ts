/** The Postgres store's admin operations (list, delete, rotate, usage report), shared by the CLI and the admin API. */
import { keyColumns, tenantColumns, toKey, toTenant, type KeyRow, type Sql, type TenantRow } from './postgres-rows.ts'
import type { Store, UsageGroupBy } from './types.ts'

type AdminOps = Pick<Store, 'listTenants' | 'deleteTenant' | 'rotateKey' | 'usageReport' | 'appliedMigrations'>

/** `q` counts a query into the store's queryCount. */
export function postgresAdminOps(sql: Sql, q: <T>(p: T) => T): AdminOps {
  const keyCols = keyColumns(sql)
  const active = (nowMs: number) => sql`revoked_at is null and (expires_at is null or expires_at > ${new Date(nowMs)})`
  const groupExpr = (by: UsageGroupBy) => by === 'day'
    ? sql`to_char(started_at at time zone 'UTC', 'YYYY-MM-DD')`
    : by === 'model' ? sql`model` : sql`key_id`

  return {
    async listTenants(nowMs) {
      const rows = await q(sql<(TenantRow & { created_at: Date; keys: number; active_keys: number })[]>`
        select t.*, coalesce(k.keys, 0)::int8 as keys, coalesce(k.active_keys, 0)::int8 as active_keys
        from (select ${tenantColumns(sql)}, created_at from tenants) t
        left join (select tenant_id, count(*) as keys, count(*) filter (where ${active(nowMs)}) as active_keys
                   from api_keys group by tenant_id) k on k.tenant_id = t.id
        order by t.id`)
      return rows.map((r) => ({ tenant: toTenant(r), createdAt: r.created_at.getTime(), keys: r.keys, activeKeys: r.active_keys }))
    },

    async deleteTenant(id, { force, nowMs }) {
      return sql.begin(async (tx) => {
        // The row lock makes a concurrent key insert (which locks the tenant row through its foreign key)
        // wait for this transaction and then fail: no key can be added between the count and the delete.
        const found = await q(tx`select id from tenants where id = ${id} for update`)
        if (found.length === 0) return { outcome: 'not_found' as const }
        const [{ n }] = await q(tx<{ n: number }[]>`select count(*)::int8 as n from api_keys where tenant_id = ${id} and ${active(nowMs)}`)
        if (n > 0 && !force) return { outcome: 'has_active_keys' as const, activeKeys: n }
        await q(tx`delete from tenants where id = ${id}`)
        return { outcome: 'deleted' as const, activeKeys: n }
      })
    },

    async rotateKey(oldId, next, { oldExpiresAt, nowMs }) {
      return sql.begin(async (tx) => {
        const [old] = await q(tx<KeyRow[]>`select ${keyCols} from api_keys where id = ${oldId} for update`)
        if (!old) return { outcome: 'not_found' as const }
        if (old.revoked_at) return { outcome: 'revoked' as const }
        if (old.expires_at && old.expires_at.getTime() <= nowMs) return { outcome: 'expired' as const }
        const name = next.name === undefined ? old.name : next.name
        const expiresAt = next.expiresAt == null ? null : new Date(next.expiresAt)
        const [created] = await q(tx<KeyRow[]>`insert into api_keys (id, tenant_id, key_hash, prefix, name, expires_at)
          values (${next.id}, ${old.tenant_id}, ${next.keyHash}, ${next.prefix}, ${name}, ${expiresAt}) returning ${keyCols}`)
        // least() ignores a null: a key without an expiry gets the new one, an earlier expiry is kept.
        const [updated] = await q(tx<KeyRow[]>`update api_keys set expires_at = least(expires_at, ${new Date(oldExpiresAt)}::timestamptz)
          where id = ${oldId} returning ${keyCols}`)
        return { outcome: 'rotated' as const, old: toKey(updated!), created: toKey(created!) }
      })
    },

    async usageReport({ tenantId, sinceMs, untilMs, by }) {
      const rows = await q(sql<{ tenant_id: string; grp: string; requests: number; prompt: number; completion: number; cost: number }[]>`
        select tenant_id, ${groupExpr(by)} as grp, count(*)::int8 as requests,
          coalesce(sum(prompt_tokens), 0)::int8 as prompt, coalesce(sum(completion_tokens), 0)::int8 as completion,
          coalesce(sum(cost_usd_micros), 0)::int8 as cost
        from usage_records
        where started_at >= ${new Date(sinceMs)}
          ${untilMs === undefined ? sql`` : sql`and started_at < ${new Date(untilMs)}`}
          ${tenantId === undefined ? sql`` : sql`and tenant_id = ${tenantId}`}
        group by 1, 2 order by 1, 2`)
      return rows.map((r) => ({
        tenantId: r.tenant_id, group: r.grp, requests: r.requests, promptTokens: r.prompt, completionTokens: r.completion, costUsdMicros: r.cost,
      }))
    },

    async appliedMigrations() {
      const [{ exists }] = await q(sql<{ exists: boolean }[]>`select to_regclass('schema_migrations') is not null as exists`)
      if (!exists) return []
      const rows = await q(sql<{ version: string }[]>`select version from schema_migrations order by version`)
      return rows.map((r) => r.version)
    },
  }
}
