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
}

export function createLogger(write: (line: string) => void = (l) => process.stdout.write(l + '\n'), level: LogLevel = 'debug'): Logger {
  let min = RANK[level]!
  const log = ((fields: Record<string, unknown>) => {
    // An unknown level string still logs (as itself): a typo must never hide a line.
    const lvl = typeof fields.level === 'string' ? fields.level : 'info'
    if ((RANK[lvl] ?? RANK.error!) < min) return
    write(JSON.stringify({ ts: new Date().toISOString(), level: lvl, ...fields }))
  }) as Logger
  log.setLevel = (l) => {
    min = RANK[l]!
  }
  log.enabled = (l) => RANK[l]! >= min
  return log
}

export const silentLogger: LogFn = () => {}
