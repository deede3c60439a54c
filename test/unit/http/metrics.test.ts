/** The Prometheus registry: label sets are the same series whatever their order; histograms render cumulative buckets. */
import { expect, test } from 'bun:test'
import { createMetrics } from '../../../src/http/metrics.ts'

test('one series per label set, whatever order the labels are given in', () => {
  const m = createMetrics()
  m.requests.inc({ route: 'models', status: '200' })
  m.requests.inc({ status: '200', route: 'models' })
  m.requests.inc({ route: 'models', status: '404' })
  expect(m.requests.get({ status: '200', route: 'models' })).toBe(2)
  expect(m.render()).toContain('gateway_requests_total{route="models",status="200"} 2')
  expect(m.render()).toContain('gateway_requests_total{route="models",status="404"} 1')
})

test('label values that contain the cache separators are neither merged with another set nor mis-rendered', () => {
  const m = createMetrics()
  m.requests.inc({ route: 'a\u0001status\u00002' })
  m.requests.inc({ route: 'a', status: '2' })
  expect(m.requests.get({ route: 'a', status: '2' })).toBe(1)
  expect(m.requests.get({ route: 'a\u0001status\u00002' })).toBe(1)
})

test('histogram buckets are cumulative, +Inf counts everything, sum and count add up', () => {
  const m = createMetrics()
  for (const v of [0.01, 0.3, 0.3, 7, 99_999]) m.stageMs.observe({ stage: 'auth' }, v)
  const text = m.render()
  const bucket = (le: string) => Number(new RegExp(`gateway_stage_duration_ms_bucket\\{stage="auth",le="${le.replace('+', '\\+')}"\\} (\\d+)`).exec(text)![1])
  expect([bucket('0.05'), bucket('0.25'), bucket('0.5'), bucket('5'), bucket('10'), bucket('30000'), bucket('+Inf')]).toEqual([1, 1, 3, 3, 4, 4, 5])
  expect(text).toContain('gateway_stage_duration_ms_count{stage="auth"} 5')
  expect(text).toContain(`gateway_stage_duration_ms_sum{stage="auth"} ${0.01 + 0.3 + 0.3 + 7 + 99_999}`)
})

test('a series handle counts into the same series as the labels it was made from', () => {
  const m = createMetrics()
  const h = m.requests.series({ status: '200', route: 'models' })
  h.inc()
  h.inc()
  m.requests.inc({ route: 'models', status: '200' })
  expect(m.requests.get({ route: 'models', status: '200' })).toBe(3)
  const s = m.stageMs.series({ stage: 'auth' })
  s.observe(0.3)
  m.stageMs.observe({ stage: 'auth' }, 7)
  expect(m.render()).toContain('gateway_stage_duration_ms_count{stage="auth"} 2')
})

test('a NaN observation is counted but falls in no bucket (as before buckets were counted once)', () => {
  const m = createMetrics()
  m.stageMs.observe({ stage: 'x' }, Number.NaN)
  m.stageMs.observe({ stage: 'x' }, 1)
  const text = m.render()
  expect(text).toContain('gateway_stage_duration_ms_bucket{stage="x",le="0.05"} 0')
  expect(text).toContain('gateway_stage_duration_ms_bucket{stage="x",le="1"} 1')
  expect(text).toContain('gateway_stage_duration_ms_bucket{stage="x",le="+Inf"} 2')
})
