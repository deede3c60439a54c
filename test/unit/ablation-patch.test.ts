/**
 * bench/decompose.ts and bench/burst-tail.ts build the gateway with bench/ablation.patch applied to a copy of src/:
 * a change to src/ that the patch no longer fits breaks those benchmarks without any of them running in CI (the
 * one-controller change did, unnoticed for a session). Checked here, on a copy, as the tools apply it.
 */
import { expect, test } from 'bun:test'
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'

const ROOT = new URL('../..', import.meta.url).pathname

test('bench/ablation.patch applies to src/', () => {
  const dir = mkdtempSync(`${tmpdir()}/ablation-`)
  try {
    cpSync(`${ROOT}src`, `${dir}/src`, { recursive: true })
    // Outside any repository, git apply patches the copy (inside one it would resolve paths from that root).
    const r = Bun.spawnSync(['git', 'apply', '--check', `${ROOT}bench/ablation.patch`], { cwd: dir, env: { ...process.env, GIT_CEILING_DIRECTORIES: tmpdir() }, stderr: 'pipe' })
    // The exit code alone: a user's core.whitespace setting may add warnings to stderr.
    expect({ exitCode: r.exitCode, stderr: r.exitCode === 0 ? '' : r.stderr.toString() }).toEqual({ exitCode: 0, stderr: '' })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
