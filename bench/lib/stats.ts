/** Order statistics for latency samples (ms). Nearest-rank percentiles: no interpolation, no smoothing. */
export interface Summary {
  n: number
  min: number
  p50: number
  p90: number
  p99: number
  max: number
  mean: number
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!
}

export function summarize(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b)
  const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN
  const r = (x: number) => Math.round(x * 1000) / 1000
  return {
    n: s.length, min: r(s[0] ?? NaN), p50: r(percentile(s, 50)), p90: r(percentile(s, 90)),
    p99: r(percentile(s, 99)), max: r(s[s.length - 1] ?? NaN), mean: r(mean),
  }
}

export const median = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50)

export const round = (x: number, digits = 2) => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : x)
