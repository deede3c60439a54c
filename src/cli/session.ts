/**
 * What an admin command runs against. The store is opened for every command and named on stderr (a forgotten
 * DATABASE_URL must not go unnoticed); Redis is connected only when a command asks for live budget figures,
 * so revoking a key or changing a tenant works while Redis is down.
 */
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { periodKeyStartMs } from '../budget/money.ts'
import { createRedisLedger, type RedisLedger } from '../budget/redis-ledger.ts'
import { RESERVATION_TTL_MS } from '../budget/service.ts'
import type { PeriodSnapshot } from '../budget/types.ts'
import type { GatewayConfig } from '../config/index.ts'
import { describePostgresUrl, openStore, sqliteFile } from '../store/index.ts'
import type { Store } from '../store/types.ts'

export class StoreOpenError extends Error {}

export interface AdminSession {
  store: Store
  /** Set when REDIS_URL is; connects on first use and rejects with a password-free message if Redis is unreachable. */
  snapshot?: (tenantId: string, periodKey: string) => Promise<PeriodSnapshot>
  close(): Promise<void>
}

/** The store line (and a warning) every admin command prints first. Pure but for the file-existence check. */
export function describeAdminStore(
  config: Pick<GatewayConfig, 'databaseUrl' | 'dataDir' | 'dataDirDefaulted'>, exists: (path: string) => boolean = existsSync,
): { line: string; warning: string | null } {
  if (config.databaseUrl) return { line: `store: postgres ${describePostgresUrl(config.databaseUrl)}`, warning: null }
  const file = resolve(sqliteFile(config.dataDir))
  const line = `store: embedded sqlite ${file}${exists(file) ? '' : ' (new, empty: created now)'}`
  const warning = config.dataDirDefaulted
    ? `warning: DATABASE_URL is not set: using the embedded store in the default data directory ${config.dataDir} ` +
      '(export DATABASE_URL to manage a Postgres-backed gateway, or pass --data-dir to name the embedded store)'
    : null
  return { line, warning }
}

/** Host, port and database number of a Redis URL, never its password. */
export function describeRedisUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.hostname}:${u.port || '6379'}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`
  } catch {
    return 'the configured URL'
  }
}

export async function openAdminSession(config: GatewayConfig, note: (line: string) => void): Promise<AdminSession> {
  const { line, warning } = describeAdminStore(config)
  note(line)
  if (warning) note(warning)
  let store: Store
  try {
    store = await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, migrate: false })
  } catch (e) {
    throw new StoreOpenError(`database: ${(e as Error).message}`)
  }
  try {
    // `migrate` reports what it applies itself; every other command brings the schema up to date like `serve` does.
    if (config.command !== 'migrate') {
      const applied = await store.migrate()
      if (applied.length) note(`applied pending migrations: ${applied.join(', ')}`)
    }
  } catch (e) {
    await store.close().catch(() => {})
    throw new StoreOpenError(`database: ${(e as Error).message}`)
  }

  const redisUrl = config.redisUrl
  let ledger: Promise<RedisLedger> | null = null
  const snapshot = redisUrl
    ? async (tenantId: string, periodKey: string) => {
      ledger ??= createRedisLedger({
        url: redisUrl,
        rebuild: (t, pk, exclude) => store.sumUsageSince(t, periodKeyStartMs(pk), exclude),
        doneRetentionMs: RESERVATION_TTL_MS,
      }).catch((e: unknown) => {
        // The ledger's message names the URL as given, which may carry a password.
        throw new Error(String((e as Error)?.message ?? e).replaceAll(redisUrl, describeRedisUrl(redisUrl)))
      })
      return (await ledger).snapshot(tenantId, periodKey)
    }
    : undefined

  return {
    store,
    snapshot,
    async close() {
      if (ledger) await ledger.then((l) => l.close()).catch(() => {})
      await store.close().catch(() => {})
    },
  }
}
