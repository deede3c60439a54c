/**
 * The shipped example config and every TOML snippet in the docs load through the real config loader, and the
 * catalog table in docs/configuration.md matches the built-in catalog: documentation that users copy must work.
 */
import { describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { builtinModels } from '../../../src/config/catalog.ts'
import { loadConfig } from '../../../src/config/index.ts'

const ROOT = join(import.meta.dir, '../../..')
const EXAMPLE = join(ROOT, 'examples/gateway.toml')

/** The fenced ```toml blocks of a Markdown file, with the line each starts on (for failure messages). */
function tomlBlocks(markdown: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = []
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```toml') continue
    const start = i + 1
    let end = start
    while (end < lines.length && lines[end]!.trim() !== '```') end++
    out.push({ line: start + 1, text: lines.slice(start, end).join('\n') })
    i = end
  }
  return out
}

describe('examples/gateway.toml', () => {
  test('loads through loadConfig (real file read) with no problem reported', () => {
    const r = loadConfig(['serve', '--config', EXAMPLE], {})
    expect(r.ok ? [] : r.errors).toEqual([])
  })

  test('means what its comments say', () => {
    const r = loadConfig(['serve', '--config', EXAMPLE], { OPENAI_API_KEY: 'sk-test-openai' })
    if (!r.ok) throw new Error(r.errors.join('\n'))
    const { config } = r
    expect([config.host, config.port, config.warmLimit, config.maxBodyBytes]).toEqual(['0.0.0.0', 8080, 50, 4_194_304])
    // An alias: the client's name, the upstream's model.
    expect(config.models.sonnet).toMatchObject({ provider: 'anthropic', upstreamModel: 'claude-sonnet-4-5' })
    // A partial override keeps the catalog's other fields.
    expect(config.models['gpt-4o']).toMatchObject({ provider: 'openai', inputUsdPerMtok: 2.5, outputUsdPerMtok: 10 })
    // A local server declared without api_key_env is called without a key and needs none.
    expect(config.providers.ollama).toMatchObject({ kind: 'openai', apiKey: null, keyRequired: false, timeoutMs: 120_000, idleTimeoutMs: 60_000 })
    expect(config.models['llama3.1:8b']!.provider).toBe('ollama')
    // Keys come from the environment variable the file names.
    expect(config.providers.openai!.apiKey).toBe('sk-test-openai')
    expect(config.providers.anthropic).toMatchObject({ apiKey: null, keyRequired: true, idleTimeoutMs: 600_000 })
    // The mock provider is commented out: mock-echo is not served outside `demo`.
    expect(config.models['mock-echo']).toBeUndefined()
  })

  test('a misspelt value is still caught (the test is not vacuous)', () => {
    const text = readFileSync(EXAMPLE, 'utf8').replace('timeout_ms = 120000', 'timeout_ms = 12')
    const r = loadConfig(['--config', 'gateway.toml'], {}, () => text)
    expect(r.ok ? [] : r.errors).toEqual(['providers.ollama.timeout_ms must be an integer from 100 to 3600000 (got 12)'])
  })
})

describe('TOML snippets in README.md and docs/', () => {
  const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]
  const cases = files.flatMap((f) => tomlBlocks(readFileSync(join(ROOT, f), 'utf8')).map((b) => [`${f}:${b.line}`, b.text] as const))

  test('the docs contain TOML snippets', () => {
    expect(cases.length).toBeGreaterThanOrEqual(5)
  })

  test.each(cases)('%s loads through loadConfig', (_where, text) => {
    const r = loadConfig(['--config', 'snippet.toml'], {}, () => text)
    expect(r.ok ? [] : r.errors).toEqual([])
  })

  test('tomlBlocks finds fenced blocks and only those', () => {
    const md = 'x\n```toml\na = 1\n```\n```sh\nb\n```\n```toml\n[c]\nd = 2\n```\n'
    expect(tomlBlocks(md)).toEqual([{ line: 3, text: 'a = 1' }, { line: 9, text: '[c]\nd = 2' }])
  })
})

describe('docs/configuration.md catalog table', () => {
  test('lists every built-in model with its provider, prices and max_output_tokens', () => {
    const md = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8')
    const rows = new Map<string, string[]>()
    for (const line of md.split('\n')) {
      const m = /^\| `([^`]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$/.exec(line)
      if (m) rows.set(m[1]!, [m[2]!, m[3]!, m[4]!, m[5]!].map((c) => c.trim()))
    }
    for (const m of Object.values(builtinModels())) {
      const row = rows.get(m.name)
      expect(row, `catalog model ${m.name} is missing from docs/configuration.md`).toBeDefined()
      expect([row![0], Number(row![1]), Number(row![2]), Number(row![3])]).toEqual([m.provider, m.inputUsdPerMtok, m.outputUsdPerMtok, m.maxOutputTokens])
    }
  })
})
