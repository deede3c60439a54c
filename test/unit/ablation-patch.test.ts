/**
 * bench/decompose.ts, bench/burst-tail.ts and `bun bench/lib/ablation.ts` (for threads.ts) build the gateway with
 * bench/ablation.patch applied to a copy of src/: a change to src/ that the patch no longer fits breaks those
 * benchmarks without any of them running in CI (the one-controller change did, unnoticed for a session). Checked
 * here on a copy, by the step the tools run.
 */
import { expect, test } from 'bun:test'
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { applyAblationPatch } from '../../bench/lib/ablation.ts'

const ROOT = new URL('../..', import.meta.url).pathname

test('bench/ablation.patch applies to src/', () => {
  const dir = mkdtempSync(`${tmpdir()}/ablation-`)
  try {
    cpSync(`${ROOT}src`, `${dir}/src`, { recursive: true })
    expect(() => applyAblationPatch(dir)).not.toThrow()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
