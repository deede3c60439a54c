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
  // Series handles per stage and per route/status: building a label key ~10 times a request was ~4% of its CPU.
  const stages = new Map<string, { observe(ms: number): void }>()
  const stage = (name: string) => {
    let s = stages.get(name)
    if (!s) {
      s = metrics.stageMs.series({ stage: name })
      stages.set(name, s)
    }
    return s
  }
  const counts = new Map<string, { inc(): void }>()
  const requests = (route: string, status: number) => {
    const k = `${route} ${status}`
    let c = counts.get(k)
    if (!c) {
      c = metrics.requests.series({ route, status: String(status) })
      counts.set(k, c)
    }
    return c
  }
  return (route: string, status: number, timing: RequestTiming, access?: AccessInfo) => {
    const total = timing.finish()
    requests(route, status).inc()
    for (const name in timing.stages) stage(name).observe(timing.stages[name as keyof typeof timing.stages]!)
    stage('total').observe(total)
    if (n < COLD_START_REQUESTS) {
      n++
      log({ msg: '[COLD-START]', n, route, status, stages_ms: timing.stagesMs(), total_ms: Math.round(total * 1000) / 1000 })
    }
    if (access) log(accessLine(access.facts, { route, status, stream: access.stream, durationMs: total, errorCode: access.errorCode }))
  }
}
