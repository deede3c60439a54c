/**
 * JSON-lines logger. Callers pass structured fields; secrets are never passed in (keys are logged by id/prefix only).
 * Every line carries `ts` and `level` (default `info`); lines below the configured level are dropped.
 */
export type LogFn = (fields: Record<string, unknown>) => void

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

const RANK: Record<string, number> = { debug: 0, info: 1, warn: 2, error: 3 }

export const isLogLevel = (s: unknown): s is LogLevel => typeof s === 'string' && Object.hasOwn(RANK, s)

/** A LogFn whose threshold can change while running (SIGHUP reloads `log_level`). */
export interface Logger extends LogFn {
  setLevel(level: LogLevel): void
  /** Whether a line of this level would be written: lets hot paths skip building it. */
  enabled(level: LogLevel): boolean
  /** Writes out lines still batched (before other output to the same stream, and at exit). */
  flush(): void
}

/**
 * Lines joined and written once per event-loop turn (or at 64 KiB): one write(2) per access-log line cost the
 * gateway ~13% of its CPU at c=32 (bun --cpu-prof-md). A line is never held past the current turn.
 */
export function batchedLines(write: (chunk: string) => void, maxBytes = 64 * 1024): { line: (l: string) => void; flush: () => void } {
  let buf = ''
  let scheduled = false
  const flush = () => {
    scheduled = false
    if (buf === '') return
    const chunk = buf
    buf = ''
    write(chunk)
  }
  return {
    line(l) {
      buf += l + '\n'
      if (buf.length >= maxBytes) flush()
      else if (!scheduled) {
        scheduled = true
        setImmediate(flush)
      }
    },
    flush,
  }
}

/** stdout, batched; whatever is left is written when the process exits. */
function stdoutLines(): { line: (l: string) => void; flush: () => void } {
  const b = batchedLines((chunk) => void process.stdout.write(chunk))
  process.on('exit', b.flush)
  return b
}

let isoMs = NaN
let iso = ''
/** `new Date().toISOString()`, made once per millisecond: a busy gateway logs several lines in each. */
function isoNow(): string {
  const ms = Date.now()
  if (ms !== isoMs) {
    isoMs = ms
    iso = new Date(ms).toISOString()
  }
  return iso
}

/**
 * The line `{ ts, level, ...fields }` serialises to (`level`: the fields' own when it is a string), without
 * building that object: copying every field of each line into a new object (the access log's ~16 a request) was
 * most of a line's cost. Plain fields whose first member is their level (the access log's, and most others) or
 * that have none are serialised as they are, behind `ts` (and the level); any other shape (a `ts` of their own,
 * the level further on, array-index names, which an object enumerates first, a prototype or a toJSON of their
 * own) the slow way, with the same result.
 */
export function lineOf(fields: Record<string, unknown>, level: string): string {
  const proto = Object.getPrototypeOf(fields)
  if ((proto === Object.prototype || proto === null) && !Object.hasOwn(fields, 'ts') && !Object.hasOwn(fields, 'toJSON')) {
    let first: string | undefined
    for (const k in fields) {
      first = k
      break
    }
    const code = first === undefined ? -1 : first.charCodeAt(0)
    if (!(code >= 0x30 && code <= 0x39)) { // not an array index (nor any name starting with a digit)
      if (first === 'level' && typeof fields.level === 'string') return `{"ts":"${isoNow()}",${JSON.stringify(fields).slice(1)}`
      if (!Object.hasOwn(fields, 'level')) {
        const body = JSON.stringify(fields)
        return `{"ts":"${isoNow()}","level":${JSON.stringify(level)}${body.length > 2 ? ',' : ''}${body.slice(1)}`
      }
    }
  }
  return JSON.stringify({ ts: isoNow(), level, ...fields })
}

export function createLogger(write?: (line: string) => void, level: LogLevel = 'debug'): Logger {
  const sink = write ? { line: write, flush: () => {} } : stdoutLines()
  let min = RANK[level]!
  const log = ((fields: Record<string, unknown>) => {
    // An unknown level string still logs (as itself): a typo must never hide a line.
    const lvl = typeof fields.level === 'string' ? fields.level : 'info'
    if ((RANK[lvl] ?? RANK.error!) < min) return
    sink.line(lineOf(fields, lvl))
  }) as Logger
  log.setLevel = (l) => {
    min = RANK[l]!
  }
  log.enabled = (l) => RANK[l]! >= min
  log.flush = sink.flush
  return log
}

export const silentLogger: LogFn = () => {}
