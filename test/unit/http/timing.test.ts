import { expect, test } from 'bun:test'
import { createLogger } from '../../../src/log.ts'
import { createMetrics } from '../../../src/http/metrics.ts'
import { createRecorder } from '../../../src/http/recorder.ts'
import { msDecimals, RequestTiming } from '../../../src/http/timing.ts'

test('stages accumulate in order and appear in Server-Timing', () => {
  const t = new RequestTiming()
  t.mark('auth')
  t.mark('config')
  t.mark('auth')
  const h = t.serverTimingHeader()
  expect(h).toMatch(/^auth;dur=\d+\.\d{3}, config;dur=\d+\.\d{3}, total;dur=\d+\.\d{3}$/)
  expect(Object.keys(t.stagesMs())).toEqual(['auth', 'config'])
})

test.each([
  [0, '0.000'], [0.0004, '0.000'], [0.0006, '0.001'], [0.001, '0.001'], [0.0999, '0.100'], [0.12, '0.120'], [0.999, '0.999'],
  [0.9996, '1.000'], [1, '1.000'], [7.05, '7.050'], [12.3456, '12.346'], [999.9999, '1000.000'], [123456.789, '123456.789'],
  [999999999.9996, '1000000000.000'], [1e9, (1e9).toFixed(3)], [-0, '0.000'], [5e-324, '0.000'], [-0.5, '-0.500'],
  [Number.NaN, 'NaN'], [Number.POSITIVE_INFINITY, 'Infinity'],
])('msDecimals(%p) = %p, as toFixed(3) writes it', (ms, text) => {
  expect(msDecimals(ms)).toBe(text)
  expect(msDecimals(ms)).toBe(ms.toFixed(3))
})

test('msDecimals agrees with toFixed(3) on stage durations of every size', () => {
  // Durations as performance.now() differences: microsecond fractions from 0 to minutes.
  let x = 0.000123
  for (let i = 0; i < 20_000; i++) {
    x = (x * 1.7 + 0.0137) % 250_000
    // A value within rounding error of a half thousandth may round either way (msDecimals' comment); none else may differ.
    const halfway = Math.abs(((x * 1000) % 1) - 0.5) < 1e-6
    if (!halfway) expect(msDecimals(x)).toBe(x.toFixed(3))
  }
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
