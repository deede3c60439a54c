/** Chooses the store: Postgres when a URL is configured, else the embedded sqlite file. */
import { join } from 'node:path'
import { createPostgresStore } from './postgres.ts'
import { createSqliteStore } from './sqlite.ts'
import type { Store } from './types.ts'

export interface OpenStoreOptions {
  databaseUrl: string | null
  /** Directory of the embedded store (created if missing); unused with a database URL. */
  dataDir: string
  /** Migrate the embedded store on open (default true); `gateway migrate` opens without, to report what it applies. */
  migrate?: boolean
}

/** The embedded store's file under a data directory. */
export const sqliteFile = (dataDir: string): string => join(dataDir, 'gateway.sqlite')

/**
 * Postgres is connected eagerly and rejects with a clear message when unreachable; its schema is applied
 * by `gateway migrate` (an operator step). The embedded store has no such step, so it is migrated here.
 */
export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  if (opts.databaseUrl) return createPostgresStore(opts.databaseUrl)
  const store = createSqliteStore(sqliteFile(opts.dataDir))
  if (opts.migrate === false) return store
  try {
    await store.migrate()
  } catch (err) {
    await store.close()
    throw err
  }
  return store
}

export { createPostgresStore, createSqliteStore }
export { describePostgresUrl } from './postgres.ts'
export { generateApiKey, hashApiKey, timingSafeEqualHex } from './keys.ts'
