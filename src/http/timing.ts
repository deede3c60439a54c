/**
 * Per-request stage timing with performance.now() marks: cheap enough to be always on (Elysia's .trace()
 * costs ~15 µs/request here). A stage's duration is the time since the previous mark.
 */
export const STAGES = ['request', 'auth', 'config', 'budget_reserve', 'upstream_ttfb', 'stream', 'settle'] as const
export type Stage = (typeof STAGES)[number]

/**
 * `ms` with three decimals, as `ms.toFixed(3)` writes it: every response carries ~6 of these, and toFixed was
 * 1–1.3% of the gateway's samples at c=32 (bun --cpu-prof-md), ~6× this in a loop. The one difference: a value
 * within rounding error of a half thousandth (0.0045) may round up where toFixed, rounding the exact binary value,
 * rounds down, as `stagesMs()` does. Beyond 1e9 ms, or not a finite non-negative number, it is toFixed's own output.
 */
export function msDecimals(ms: number): string {
  if (!(ms >= 0 && ms < 1e9)) return ms.toFixed(3)
  const n = Math.round(ms * 1000)
  const whole = Math.floor(n / 1000)
  const frac = n - whole * 1000
  return `${whole}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`
}

/** The Server-Timing of a response timed as a whole only (operational routes, errors before a route): its total. */
export function totalTimingHeader(timing: RequestTiming | undefined): string {
  return `total;dur=${msDecimals(timing?.elapsedMs() ?? 0)}`
}

export class RequestTiming {
  readonly startedAt = performance.now()
  readonly startedAtEpochMs = Date.now()
  readonly stages: Partial<Record<Stage, number>> = {}
  private last = this.startedAt
  totalMs: number | null = null

  mark(stage: Stage): void {
    const now = performance.now()
    this.stages[stage] = (this.stages[stage] ?? 0) + (now - this.last)
    this.last = now
  }

  /** Re-bases the next stage without charging the gap to any stage (e.g. time waiting on the client). */
  skip(): void {
    this.last = performance.now()
  }

  finish(): number {
    this.totalMs ??= performance.now() - this.startedAt
    return this.totalMs
  }

  elapsedMs(): number {
    return performance.now() - this.startedAt
  }

  /** https://www.w3.org/TR/server-timing/ — only the stages known when headers are sent. */
  serverTimingHeader(): string {
    let out = ''
    for (const s of STAGES) {
      const d = this.stages[s]
      if (d !== undefined) out += `${s};dur=${msDecimals(d)}, `
    }
    return `${out}total;dur=${msDecimals(this.totalMs ?? this.elapsedMs())}`
  }

  stagesMs(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const s of STAGES) {
      const d = this.stages[s]
      if (d !== undefined) out[s] = Math.round(d * 1000) / 1000
    }
    return out
  }
}
