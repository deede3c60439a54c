/**
 * The gateway built with parts left out or done twice, for benchmarks only: the temporary switches of
 * bench/ablation.patch (set with GW_ABL=part+part or GW_DUP=part+part at run time) applied to a copy of src/ in
 * bench/.tmp, never to the product.
 *
 *   bun bench/lib/ablation.ts     builds it and prints the binary's path (for bench/threads.ts --bin)
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs'
import { dirname } from 'node:path'
import { ROOT, TMP } from './procs.ts'

/**
 * Applies bench/ablation.patch to the copy of src/ in `dir`; throws, with git's complaint, if it no longer fits.
 * Git is kept from looking above `dir`: inside a repository (bench/.tmp is in this one) `git apply` would patch paths
 * relative to its root and skip, without an error, those outside the current directory.
 */
export function applyAblationPatch(dir: string): void {
  const applied = Bun.spawnSync(['git', 'apply', `${ROOT}bench/ablation.patch`], { cwd: dir, env: { ...process.env, GIT_CEILING_DIRECTORIES: dirname(dir) } })
  if (applied.exitCode !== 0 || !readFileSync(`${dir}/src/app.ts`, 'utf8').includes('GW_ABL')) {
    throw new Error(`bench/ablation.patch no longer applies to src/ (update it): ${applied.stderr.toString().trim()}`)
  }
}

/** Copies src/ and the build files into `dir` (in bench/.tmp), applies the patch there and builds; returns the binary. */
export function buildPatched(dir: string): string {
  for (const f of ['src', 'build.sh', 'package.json', 'tsconfig.json', 'bunfig.toml']) cpSync(`${ROOT}${f}`, `${dir}/${f}`, { recursive: true })
  symlinkSync(`${ROOT}node_modules`, `${dir}/node_modules`)
  applyAblationPatch(dir)
  const out = `${dir}/gateway`
  const built = Bun.spawnSync(['bash', 'build.sh'], { cwd: dir, env: { ...process.env, OUT: out } })
  if (built.exitCode !== 0) throw new Error(`build of the patched tree failed:\n${built.stderr.toString()}`)
  return out
}

if (import.meta.main) {
  mkdirSync(TMP, { recursive: true })
  console.log(buildPatched(mkdtempSync(`${TMP}/ablation-`)))
}
