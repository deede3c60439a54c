/**
 * The usage writer thread: inserts usage records into the embedded store's file over a connection of its own,
 * so that the commits (and the WAL checkpoints they trigger, which write the database file) never run on the
 * thread that serves requests. Messages are handled one at a time, in order.
 */
import { Database } from 'bun:sqlite'
import { configureConnection, insertUsageBatch } from './sqlite-usage.ts'
import type { UsageRecord } from '../budget/types.ts'
import type { WriterReply, WriterRequest } from './usage-writer.ts'

declare const self: Worker

let path: string | null = null
let db: Database | null = null

/** The connection, opened on first need: an open that failed (the file busy, say) is tried again by the next insert. */
function connection(): Database {
  if (db) return db
  if (path === null) throw new Error('usage writer: no database path')
  const opened = new Database(path)
  try {
    configureConnection(opened)
  } catch (e) {
    opened.close()
    throw e
  }
  db = opened
  return db
}

self.onmessage = (event: MessageEvent<WriterRequest>) => {
  const m = event.data
  let reply: WriterReply
  try {
    if (m.type === 'open') {
      path = m.path
      connection()
    } else if (m.type === 'insert') {
      insertUsageBatch(connection(), JSON.parse(m.json) as UsageRecord[])
    } else {
      db?.close()
      db = null
    }
    reply = { id: m.id, ok: true }
  } catch (e) {
    reply = { id: m.id, ok: false, message: e instanceof Error ? e.message : String(e), code: String((e as { code?: unknown })?.code ?? '') }
  }
  self.postMessage(reply)
}
