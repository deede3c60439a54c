/**
 * The one insert of usage records into the embedded store, shared by the store (':memory:' databases) and the
 * usage writer thread (files).
 */
import type { Database } from 'bun:sqlite'
import type { UsageRecord } from '../budget/types.ts'

const INSERT_USAGE = `insert into usage_records (request_id, tenant_id, key_id, model, provider, prompt_tokens,
    completion_tokens, cost_usd_micros, status, started_at, duration_ms, client_request_id)
  values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict (request_id) do nothing`

/** One transaction: a batch lands whole or not at all; request_id makes a replay a no-op. */
export function insertUsageBatch(db: Database, records: readonly UsageRecord[]): void {
  if (records.length === 0) return
  const insert = db.query(INSERT_USAGE)
  db.transaction(() => {
    for (const r of records) {
      insert.run(r.requestId, r.tenantId, r.keyId, r.model, r.provider, r.promptTokens, r.completionTokens,
        r.costUsdMicros, r.status, r.startedAt, r.durationMs, r.clientRequestId ?? null)
    }
  })()
}

/** The connection settings every embedded-store connection uses (see sqlite.ts). */
export function configureConnection(db: Database): void {
  // busy_timeout first: it makes a concurrent writer wait instead of failing with SQLITE_BUSY, the journal_mode
  // switch included. WAL lets readers (another CLI process, a second gateway on the same disk, the usage writer
  // thread) run beside the writer.
  db.exec('pragma busy_timeout = 5000')
  db.exec('pragma journal_mode = WAL')
  db.exec('pragma synchronous = NORMAL')
  db.exec('pragma foreign_keys = ON')
}
