/**
 * Usage records into the embedded store's file from a worker thread (usage-writer-worker.ts). Measured with
 * bun --cpu-prof-md at c=32: inserting on the request thread was 13–27% of the gateway's CPU, and a WAL
 * checkpoint inside a commit stalled every request behind it for up to ~5 ms.
 *
 * A call resolves once its batch has committed and rejects with the worker's error otherwise (the callers
 * keep the records and retry). If the thread itself dies, every pending call rejects and the next call
 * starts a new one.
 */
import type { UsageRecord } from '../budget/types.ts'

export type WriterRequest =
  | { id: number; type: 'open'; path: string }
  /** The records as JSON: one string crosses threads ~3× cheaper than the structured clone of the objects. */
  | { id: number; type: 'insert'; json: string }
  | { id: number; type: 'close' }

export type WriterReply = { id: number; ok: true } | { id: number; ok: false; message: string; code: string }

export interface UsageWriter {
  insert(records: UsageRecord[]): Promise<void>
  /** Waits for every insert already asked for, then ends the thread. */
  close(): Promise<void>
}

// A literal path next to this module: `bun build --compile` bundles it as a second entrypoint (build.sh).
const WORKER_URL = new URL('./usage-writer-worker.ts', import.meta.url)

interface Waiting { records: UsageRecord[]; resolve: () => void; reject: (e: Error) => void }

/**
 * A batch goes at once when this many records wait. The usage shipper reads passes of this size (runtime.ts), so a
 * pass is one batch and never waits on the window, which would cap shipping at one pass per window.
 */
export const MAX_GROUP_RECORDS = 100

export interface UsageWriterOptions {
  /**
   * A batch goes at most this often (ms) while inserts keep coming; an insert after a quiet spell goes at once.
   * Each commit costs ~20 µs of the thread's CPU whatever its size (WAL frames, the index's edge pages): at
   * 12,000 rows/s, one-row batches cost ~20 µs a row, 50-row batches ~5 µs. A longer window saves the thread more
   * (16 ms: the in-process gateway used 7% less CPU a request at c=32, bench/RESULTS.md) but holds records that much
   * longer in a process a SIGKILL can end: the in-process ledger's records exist nowhere else until written.
   */
  groupWindowMs?: number
  /** A batch goes at once when this many records wait, window or not (default MAX_GROUP_RECORDS). */
  maxGroupRecords?: number
  /** Told the size of each batch sent (tests, metrics). */
  onBatch?: (records: number) => void
}

/**
 * One batch in flight at a time; inserts asked for meanwhile go together as the next one (group commit), and
 * under a steady flow a batch waits for the group window unless maxGroupRecords wait (an insert of that many, a
 * shipper pass, goes at once), so small inserts commit at most ~250 times a second. If a grouped batch fails, each
 * caller's records are retried alone, so one bad record fails only its own caller.
 */
export function startUsageWriter(path: string, opts: UsageWriterOptions = {}): UsageWriter {
  const windowMs = opts.groupWindowMs ?? 4
  const maxGroup = opts.maxGroupRecords ?? MAX_GROUP_RECORDS
  let worker: Worker | null = null
  let nextId = 1
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>()
  let queued: Waiting[] = []
  let queuedRecords = 0
  let inFlight = false
  let lastSentAt = -Infinity
  let windowTimer: ReturnType<typeof setTimeout> | null = null
  let closed = false
  const idle: Array<() => void> = []

  const failAll = (err: Error) => {
    for (const p of pending.values()) p.reject(err)
    pending.clear()
  }

  const send = (w: Worker, req: WriterRequest): Promise<void> => new Promise<void>((resolve, reject) => {
    pending.set(req.id, { resolve, reject })
    w.ref() // an unsaved batch keeps the process alive
    w.postMessage(req)
  })

  const ensure = (): Worker => {
    if (worker) return worker
    const w = new Worker(WORKER_URL)
    worker = w
    w.onmessage = (event: MessageEvent<WriterReply>) => {
      const r = event.data
      const p = pending.get(r.id)
      pending.delete(r.id)
      if (pending.size === 0) w.unref()
      if (!p) return
      if (r.ok) p.resolve()
      else p.reject(Object.assign(new Error(r.message), r.code ? { code: r.code } : {}))
    }
    w.onerror = (event: ErrorEvent) => {
      if (worker === w) worker = null
      w.terminate()
      failAll(new Error(`usage writer thread failed: ${event.message}`))
    }
    // A thread that ends without an error event (it exited) answers nothing more: fail what waits on it.
    w.addEventListener('close', () => {
      if (worker === w) worker = null
      failAll(new Error('usage writer thread ended'))
    })
    // The open is answered like any request; an insert sent after it waits behind it in the thread's queue.
    send(w, { id: nextId++, type: 'open', path }).catch(() => {})
    return w
  }

  const write = (records: UsageRecord[]): Promise<void> => {
    try {
      return send(ensure(), { id: nextId++, type: 'insert', json: JSON.stringify(records) })
    } catch (e) {
      return Promise.reject(e) // a thread that cannot start, or a record that cannot be serialised
    }
  }

  const pump = (): void => {
    if (inFlight || windowTimer) return
    if (queued.length === 0) {
      for (const done of idle.splice(0)) done()
      return
    }
    const wait = lastSentAt + windowMs - performance.now()
    if (wait > 0 && !closed && queuedRecords < maxGroup) {
      windowTimer = setTimeout(() => {
        windowTimer = null
        pump()
      }, wait)
      return
    }
    const group = queued
    const size = queuedRecords
    queued = []
    queuedRecords = 0
    inFlight = true
    lastSentAt = performance.now()
    try {
      opts.onBatch?.(size)
    } catch {} // an observer never holds up a batch
    write(group.length === 1 ? group[0]!.records : group.flatMap((g) => g.records)).then(
      () => { for (const g of group) g.resolve() },
      async (err: Error) => {
        if (group.length === 1) return group[0]!.reject(err)
        for (const g of group) await write(g.records).then(g.resolve, g.reject)
      },
    ).finally(() => {
      inFlight = false
      pump()
    })
  }

  /** Whatever waits for the window goes now. */
  const sendNow = (): void => {
    if (windowTimer) {
      clearTimeout(windowTimer)
      windowTimer = null
    }
    pump()
  }

  return {
    insert(records) {
      if (records.length === 0) return Promise.resolve()
      if (closed) return Promise.reject(new Error('usage writer closed'))
      return new Promise<void>((resolve, reject) => {
        queued.push({ records, resolve, reject })
        queuedRecords += records.length
        if (queuedRecords >= maxGroup) sendNow()
        else pump()
      })
    },
    async close() {
      closed = true // inserts asked for from now on are refused: none can be posted behind the close
      sendNow()
      if (inFlight || queued.length > 0) await new Promise<void>((resolve) => idle.push(resolve))
      const w = worker
      if (!w) return
      await send(w, { id: nextId++, type: 'close' }).catch(() => {})
      worker = null
      failAll(new Error('usage writer closed'))
      w.terminate()
    },
  }
}
