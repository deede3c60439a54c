/** The Lua scripts are embedded by `bun build --compile` (text imports), so the single binary needs no files. */
import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { PRELUDE, SCRIPTS } from '../../../src/budget/scripts.ts'

const dir = mkdtempSync(join(tmpdir(), 'gw-compile-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

test('every script is its .lua file verbatim, after the one shared prelude', () => {
  const lua = (f: string) => readFileSync(resolve(import.meta.dir, `../../../src/budget/scripts/${f}.lua`), 'utf8')
  const names: Record<string, string> = { gwReserve: 'reserve', gwSettle: 'settle', gwRelease: 'release',
    gwRecover: 'recover', gwShipRead: 'ship-read', gwAck: 'ack', gwReleaseLease: 'release-lease', gwTrim: 'trim' }
  expect(Object.keys(SCRIPTS).sort()).toEqual(Object.keys(names).sort())
  expect(PRELUDE).toBe(lua('prelude'))
  for (const [name, s] of Object.entries(SCRIPTS)) expect(s.lua).toBe(PRELUDE + lua(names[name]))
  // The reservation-dropping code exists once, in the prelude.
  for (const f of ['reserve', 'settle', 'release', 'trim']) expect(lua(f)).not.toContain('DECRBY')
})

test('bun build --compile --minify --bytecode embeds the scripts', async () => {
  const entry = join(dir, 'entry.ts')
  const scriptsPath = resolve(import.meta.dir, '../../../src/budget/scripts.ts')
  writeFileSync(entry, `import { SCRIPTS } from ${JSON.stringify(scriptsPath)}\n` +
    `console.log(JSON.stringify(Object.fromEntries(Object.entries(SCRIPTS).map(([k, s]) => [k, s.lua]))))\n`)
  const out = join(dir, 'probe')
  const build = Bun.spawn([process.execPath, 'build', '--compile', '--minify', '--bytecode', entry, '--outfile', out], { stdout: 'pipe', stderr: 'pipe' })
  const buildErr = await new Response(build.stderr).text()
  expect({ code: await build.exited, buildErr: (await build.exited) === 0 ? '' : buildErr }).toEqual({ code: 0, buildErr: '' })
  // Run from an unrelated cwd: nothing may be read from the source tree at runtime.
  const run = Bun.spawn([out], { cwd: tmpdir(), stdout: 'pipe', stderr: 'pipe' })
  const printed = JSON.parse(await new Response(run.stdout).text()) as Record<string, string>
  expect(await run.exited).toBe(0)
  for (const [k, s] of Object.entries(SCRIPTS)) expect(printed[k]).toBe(s.lua)
}, 60_000)
