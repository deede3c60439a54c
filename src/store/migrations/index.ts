/**
 * The ordered migration lists. Imported as text so `bun build --compile` embeds the SQL in the binary;
 * a migration is never edited once shipped: add the next numbered file instead. Applied versions are
 * looked up by name (schema_migrations), not counted, so a list may skip a number.
 */
import pg001 from './001_init.sql' with { type: 'text' }
import pg002 from './002_tenant_disabled_key_expiry.sql' with { type: 'text' }
import pg003 from './003_request_id.sql' with { type: 'text' }
import pg004 from './004_config_version.sql' with { type: 'text' }
import sqlite001 from './sqlite/001_init.sql' with { type: 'text' }
import sqlite002 from './sqlite/002_tenant_disabled_key_expiry.sql' with { type: 'text' }
import sqlite003 from './sqlite/003_request_id.sql' with { type: 'text' }
import sqlite004 from './sqlite/004_config_version.sql' with { type: 'text' }

export interface Migration {
  /** Recorded in schema_migrations.version. */
  version: string
  sql: string
}

export const postgresMigrations: readonly Migration[] = [
  { version: '001_init', sql: pg001 },
  { version: '002_tenant_disabled_key_expiry', sql: pg002 },
  { version: '003_request_id', sql: pg003 },
  { version: '004_config_version', sql: pg004 },
]

export const sqliteMigrations: readonly Migration[] = [
  { version: '001_init', sql: sqlite001 },
  { version: '002_tenant_disabled_key_expiry', sql: sqlite002 },
  { version: '003_request_id', sql: sqlite003 },
  { version: '004_config_version', sql: sqlite004 },
]
