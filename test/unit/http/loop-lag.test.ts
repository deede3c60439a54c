import { expect, test } from 'bun:test'
import { startLoopLagMonitor } from '../../../src/http/loop-lag.ts'

test('a blocked event loop shows up as lag of about the blocked time', async () => {
  const samples: number[] = []
  const stop = startLoopLagMonitor((ms) => samples.push(ms), 20)
  try {
    await Bun.sleep(50)
    const until = performance.now() + 200
    while (performance.now() < until) {} // block the loop
    await Bun.sleep(50)
  } finally {
    stop()
  }
  expect(samples.length).toBeGreaterThan(1)
  expect(Math.max(...samples)).toBeGreaterThanOrEqual(150) // the block, less at most one interval
  expect(samples.every((s) => s >= 0)).toBe(true)
})
