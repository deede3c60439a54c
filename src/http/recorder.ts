/**
 * Records each finished /v1 request: metrics, stage histograms, the first 3 as [COLD-START] lines, and its
 * access-log line.
 */
import type { LogFn } from '../log.ts'
import { accessLine } from './access-log.ts'
import { type AccessFacts } from '../budget/types.ts'
import type { Metrics } from './metrics.ts'
import type { RequestTiming } from './timing.ts'

export const COLD_START_REQUESTS = 3

export interface AccessInfo {
  facts: AccessFacts
  stream: boolean
  errorCode?: string
}

export function createRecorder(metrics: Metrics, log: LogFn) {
  let n = 0
  return (route: string, status: number, timing: RequestTiming, access?: AccessInfo) => {
    const total = timing.finish()
    metrics.requests.inc({ route, status: String(status) })
    for (const [stage, ms] of Object.entries(timing.stages)) metrics.stageMs.observe({ stage }, ms)
    metrics.stageMs.observe({ stage: 'total' }, total)
    if (n < COLD_START_REQUESTS) {
      n++
      log({ msg: '[COLD-START]', n, route, status, stages_ms: timing.stagesMs(), total_ms: Math.round(total * 1000) / 1000 })
    }
    if (access) log(accessLine(access.facts, { route, status, stream: access.stream, durationMs: total, errorCode: access.errorCode }))
  }
}
