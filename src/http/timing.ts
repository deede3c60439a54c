/**
 * Per-request stage timing with performance.now() marks: cheap enough to be always on (Elysia's .trace()
 * costs ~15 µs/request here). A stage's duration is the time since the previous mark.
 */
export const STAGES = ['request', 'auth', 'config', 'budget_reserve', 'upstream_ttfb', 'stream', 'settle'] as const
export type Stage = (typeof STAGES)[number]

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
    const parts: string[] = []
    for (const s of STAGES) {
      const d = this.stages[s]
      if (d !== undefined) parts.push(`${s};dur=${d.toFixed(3)}`)
    }
    parts.push(`total;dur=${(this.totalMs ?? this.elapsedMs()).toFixed(3)}`)
    return parts.join(', ')
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
