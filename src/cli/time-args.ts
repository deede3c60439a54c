/**
 * Pure parsing of the CLI's time arguments: durations (`30d`, `24h`) and instants (`2026-01-31`, an ISO
 * date-time with a zone, or a duration meaning "that long ago"). Every result is epoch ms or an error message.
 */

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }
/** Ten years: longer than any sensible key lifetime or report window, and far from Date's range limits. */
const MAX_DURATION_MS = 3650 * UNIT_MS.d!

export type Parsed = { ok: true; ms: number } | { ok: false; error: string }

/** `90s`, `15m`, `24h`, `30d`, `2w`; `0` alone is zero. */
export function parseDuration(s: string): Parsed {
  if (s === '0') return { ok: true, ms: 0 }
  const m = /^(\d{1,7})([smhdw])$/.exec(s.trim())
  if (!m) return { ok: false, error: `"${s}" is not a duration (use a number and a unit: 90s, 15m, 24h, 30d, 2w)` }
  const ms = Number(m[1]) * UNIT_MS[m[2]!]!
  if (ms > MAX_DURATION_MS) return { ok: false, error: `"${s}" is longer than 3650d` }
  return { ok: true, ms }
}

/**
 * An absolute instant: `YYYY-MM-DD` (UTC midnight) or an ISO 8601 date-time with `Z` or an offset. A date-time
 * without a zone is refused: the same text would mean different instants on different servers.
 */
export function parseDate(s: string): Parsed {
  const t = s.trim()
  if (/^\d{4}-\d{2}-\d{2}$/.test(t)) {
    const ms = Date.parse(`${t}T00:00:00Z`)
    if (Number.isFinite(ms) && new Date(ms).toISOString().startsWith(t)) return { ok: true, ms }
  } else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(t)) {
    const ms = Date.parse(t)
    if (Number.isFinite(ms)) return { ok: true, ms }
  } else if (/^\d{4}-\d{2}-\d{2}T/.test(t)) {
    return { ok: false, error: `"${s}" has no time zone: add Z (UTC) or an offset such as +02:00` }
  }
  return { ok: false, error: `"${s}" is not a date (use YYYY-MM-DD or an ISO date-time such as 2026-01-31T12:00:00Z)` }
}

/** A report bound: a date (parseDate) or a duration meaning "that long before now". */
export function parseSince(s: string, now: number): Parsed {
  if (/^\d+[smhdw]$/.test(s.trim())) {
    const d = parseDuration(s)
    return d.ok ? { ok: true, ms: now - d.ms } : d
  }
  return parseDate(s)
}

/** "30d" for a whole number of days, else the largest unit that divides the duration ("36h", "90m"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0'
  for (const unit of ['w', 'd', 'h', 'm', 's'] as const) {
    const u = UNIT_MS[unit]!
    if (ms >= u && ms % u === 0) return `${ms / u}${unit}`
  }
  return `${ms}ms`
}
