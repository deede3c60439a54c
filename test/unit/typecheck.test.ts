/** The whole project (src, test, bench) type-checks under `strict`: bun runs TypeScript without checking it. */
import { expect, test } from 'bun:test'

const ROOT = new URL('../..', import.meta.url).pathname

test('tsc --noEmit reports no errors', () => {
  const r = Bun.spawnSync([`${ROOT}node_modules/.bin/tsc`, '--noEmit', '-p', ROOT], { stdout: 'pipe', stderr: 'pipe' })
  const out = r.stdout.toString() + r.stderr.toString()
  expect(out).toBe('')
  expect(r.exitCode).toBe(0)
}, 120_000)
