/**
 * The repository documents itself: no product file points at the development-only ../shared folder (users who
 * clone the project do not have it), and the command reference in docs/ names exactly what `--help` offers.
 */
import { describe, expect, test } from 'bun:test'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { HELP_TEXT } from '../../../src/config/argv.ts'

const ROOT = join(import.meta.dir, '../../..')
/** What ships to users: the product, its docs, its build and CI entry points. */
const PRODUCT = ['README.md', 'docs', 'src', 'examples', 'package.json', 'build.sh', '.ci', 'bunfig.toml', 'tsconfig.json']

function filesUnder(path: string): string[] {
  if (!existsSync(path)) return []
  if (!statSync(path).isDirectory()) return [path]
  return readdirSync(path).flatMap((name) => filesUnder(join(path, name)))
}

/** A pointer at the development aid: its folder, its file, or the DESIGN.md contract by name. */
function pointsAtShared(text: string): string | null {
  const m = /\.\.\/shared|shared\/DESIGN|\bDESIGN\b/.exec(text)
  return m ? m[0] : null
}

describe('no product file depends on ../shared', () => {
  test.each([
    ['see ../shared/DESIGN.md', '../shared'],
    ['in /work/shared/DESIGN.md', 'shared/DESIGN'],
    ['atomically (DESIGN "Money and budgets")', 'DESIGN'],
    ['a design note, designed well', null],
  ])('pointsAtShared(%j) → %j', (text, hit) => {
    expect(pointsAtShared(text)).toBe(hit)
  })

  test('README.md, docs/, src/, examples/, package.json, build.sh and .ci/ do not mention it', () => {
    const files = PRODUCT.flatMap((p) => filesUnder(join(ROOT, p)))
    expect(files.length).toBeGreaterThan(50)
    const offenders = files.flatMap((f) => {
      const hit = pointsAtShared(readFileSync(f, 'utf8'))
      return hit ? [`${relative(ROOT, f)}: ${hit}`] : []
    })
    expect(offenders).toEqual([])
  })
})

describe('docs/ match the command line', () => {
  const cli = readFileSync(join(ROOT, 'docs/cli.md'), 'utf8')
  const configuration = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8')
  const helpFlags = [...new Set(HELP_TEXT.match(/--[a-z][a-z-]*/g))]
  // Variables named in the Environment section, and those that stand behind a flag ("(env GATEWAY_PORT").
  const envSection = HELP_TEXT.slice(HELP_TEXT.indexOf('Environment:')).split('\n\n')[0]!
  const helpEnv = [...new Set([
    ...(envSection.match(/\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b/g) ?? []),
    ...[...HELP_TEXT.matchAll(/\(env ([A-Z0-9_]+)/g)].map((m) => m[1]!),
  ])]

  test('every flag and environment variable of --help is documented', () => {
    expect(helpFlags.length).toBeGreaterThan(10)
    expect(helpFlags.filter((f) => !cli.includes(f) || !configuration.includes(f))).toEqual([])
    expect(helpEnv).toContain('GATEWAY_PORT')
    expect(helpEnv).toContain('ANTHROPIC_BASE_URL')
    expect(helpEnv.filter((v) => !configuration.includes(v))).toEqual([])
  })

  test('docs/cli.md documents no flag that --help does not offer', () => {
    expect([...new Set(cli.match(/--[a-z][a-z-]*/g))].filter((f) => !helpFlags.includes(f))).toEqual([])
  })

  test('every usage line of --help appears in docs/cli.md', () => {
    const usage = HELP_TEXT.split('\n').filter((l) => l.startsWith('  gateway ')).map((l) => l.trim().split(/\s{2,}/)[0]!)
    expect(usage.length).toBeGreaterThan(5)
    expect(usage.filter((u) => !cli.includes(u))).toEqual([])
  })
})

/** GitHub's heading anchor: lower case, punctuation dropped (letters, digits, `_`, `-` and spaces kept), spaces → `-`. */
function anchorOf(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replaceAll(' ', '-')
}

describe('links between README.md, docs/ and examples/ resolve', () => {
  test.each([
    ['`POST /v1/chat/completions`', 'post-v1chatcompletions'],
    ['Backup, and what is the source of truth', 'backup-and-what-is-the-source-of-truth'],
    ['`[models."NAME"]`', 'modelsname'],
    ['`usage_records`', 'usage_records'],
  ])('anchorOf(%j) → %s', (heading, anchor) => {
    expect(anchorOf(heading)).toBe(anchor)
  })

  test('every relative link names an existing file, and an existing heading when it has a #fragment', () => {
    const docs = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]
    const anchors = new Map<string, Set<string>>()
    for (const f of docs) {
      const headings = readFileSync(join(ROOT, f), 'utf8').split('\n').filter((l) => /^#{1,6} /.test(l))
      anchors.set(f, new Set(headings.map((h) => anchorOf(h.replace(/^#+ /, '')))))
    }
    const broken: string[] = []
    let links = 0
    for (const f of docs) {
      for (const m of readFileSync(join(ROOT, f), 'utf8').matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!
        if (/^[a-z]+:/.test(target)) continue // http(s), mailto
        links++
        const [path, fragment] = target.split('#') as [string, string | undefined]
        const file = path === '' ? f : relative(ROOT, join(ROOT, f, '..', path))
        if (!existsSync(join(ROOT, file))) broken.push(`${f}: ${target} (no file ${file})`)
        else if (fragment !== undefined && !anchors.get(file)?.has(fragment)) broken.push(`${f}: ${target} (no heading #${fragment} in ${file})`)
      }
    }
    expect(links).toBeGreaterThan(30)
    expect(broken).toEqual([])
  })
})
