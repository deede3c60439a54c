/** The collector is asked to run only when RSS grew by the set amount since the last request (or since it shrank). */
import { expect, test } from 'bun:test'
import { startGcPacer } from '../../src/gc-pacer.ts'

const MiB = 2 ** 20

test('collects on growth, not while steady; growth is measured from the lowest point since', async () => {
  let rss = 100 * MiB
  const collected: number[] = []
  const pacer = startGcPacer({ everyMs: 5, growthMiB: 16, rss: () => rss, collect: () => void collected.push(rss) })
  try {
    await Bun.sleep(30)
    expect(collected).toEqual([]) // steady: nothing
    rss = 110 * MiB
    await Bun.sleep(30)
    expect(collected).toEqual([]) // +10 MiB: below the threshold
    rss = 117 * MiB
    await Bun.sleep(30)
    expect(collected).toEqual([117 * MiB]) // +17 MiB: one request, then measured from there
    rss = 90 * MiB // the collection (or the collector on its own) gave memory back
    await Bun.sleep(30)
    rss = 100 * MiB
    await Bun.sleep(30)
    expect(collected.length).toBe(1) // +10 from the low point
    rss = 107 * MiB
    await Bun.sleep(30)
    expect(collected).toEqual([117 * MiB, 107 * MiB])
    expect(pacer.requested).toBe(2)
  } finally {
    pacer.stop()
  }
})

test('stop() ends the checks', async () => {
  let rss = 0
  let n = 0
  const pacer = startGcPacer({ everyMs: 5, growthMiB: 1, rss: () => rss, collect: () => void n++ })
  pacer.stop()
  rss = 100 * MiB
  await Bun.sleep(30)
  expect(n).toBe(0)
})
