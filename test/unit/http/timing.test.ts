import { expect, test } from 'bun:test'
import { createLogger } from '../../../src/log.ts'
import { createMetrics } from '../../../src/http/metrics.ts'
import { createRecorder } from '../../../src/http/recorder.ts'
import { RequestTiming } from '../../../src/http/timing.ts'

test('stages accumulate in order and appear in Server-Timing', () => {
  const t = new RequestTiming()
  t.mark('auth')
  t.mark('config')
  t.mark('auth')
  const h = t.serverTimingHeader()
  expect(h).toMatch(/^auth;dur=\d+\.\d{3}, config;dur=\d+\.\d{3}, total;dur=\d+\.\d{3}$/)
  expect(Object.keys(t.stagesMs())).toEqual(['auth', 'config'])
})

test('only the first 3 requests log a [COLD-START] line; all feed the metrics', () => {
  const lines: string[] = []
  const metrics = createMetrics()
  const record = createRecorder(metrics, createLogger((l) => lines.push(l)))
  for (let i = 0; i < 5; i++) {
    const t = new RequestTiming()
    t.mark('auth')
    record('models', 200, t)
  }
  expect(lines.length).toBe(3)
  const first = JSON.parse(lines[0]!)
  expect(first).toMatchObject({ msg: '[COLD-START]', n: 1, route: 'models', status: 200 })
  expect(typeof first.total_ms).toBe('number')
  expect(Object.keys(first.stages_ms)).toEqual(['auth'])
  expect(JSON.parse(lines[2]!).n).toBe(3)
  expect(metrics.requests.get({ route: 'models', status: '200' })).toBe(5)
  expect(metrics.render()).toContain('gateway_stage_duration_ms_count{stage="auth"} 5')
})

test('metric label values are escaped, one and several labels alike', () => {
  const metrics = createMetrics()
  for (let i = 0; i < 3; i++) metrics.errors.inc({ code: 'a"b\\c\nd' })
  metrics.requests.inc({ status: '200', route: 'models' })
  const text = metrics.render()
  expect(text).toContain('gateway_errors_total{code="a_b_c_d"} 3')
  expect(text).toContain('gateway_requests_total{route="models",status="200"} 1')
})
