import { describe, expect, test } from 'bun:test'
import { IMAGE_PRICING_PRESETS } from '../../../src/config/image-pricing.ts'
import { loadConfig } from '../../../src/config/index.ts'

const load = (toml: string) => loadConfig(['--config', 'g.toml'], {}, () => `[providers.local]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n${toml}`)
const model = (toml: string, name = 'm') => {
  const r = load(toml)
  if (!r.ok) throw new Error(r.errors.join('\n'))
  return r.config.models[name]!
}
const errorsOf = (toml: string) => {
  const r = load(toml)
  return r.ok ? [] : r.errors
}
const M = '[models."m"]\nprovider = "local"\ninput_usd_per_mtok = 2\noutput_usd_per_mtok = 8\n'

describe('per-model pricing fields', () => {
  test('cache prices, tiers, web search and an image preset, parsed', () => {
    const m = model(`${M}cached_input_usd_per_mtok = 0.5
cache_write_usd_per_mtok = 2.5
cache_write_1h_usd_per_mtok = 4
image_pricing = "gpt-4.1-mini"
web_search_usd_per_call = 0.01
web_search_calls_per_request = 1
web_search_input_tokens_per_call = 8000
[models."m".tiers.priority]
input_usd_per_mtok = 3.5
output_usd_per_mtok = 14
cached_input_usd_per_mtok = 0.875
[models."m".tiers.flex]
input_usd_per_mtok = 1
output_usd_per_mtok = 4
`)
    expect(m).toMatchObject({
      cachedInputUsdPerMtok: 0.5, cacheWriteUsdPerMtok: 2.5, cacheWrite1hUsdPerMtok: 4,
      imagePricing: { kind: 'patches', multiplier: 1.62 },
      webSearchUsdPerCall: 0.01, webSearchCallsPerRequest: 1, webSearchInputTokensPerCall: 8000,
      tiers: { priority: { inputUsdPerMtok: 3.5, outputUsdPerMtok: 14, cachedInputUsdPerMtok: 0.875 }, flex: { inputUsdPerMtok: 1, outputUsdPerMtok: 4 } },
    })
  })

  test.each([
    ['{ kind = "tiles", base_tokens = 85, tile_tokens = 170 }', { kind: 'tiles', baseTokens: 85, tileTokens: 170 }],
    ['{ kind = "patches", multiplier = 2.46 }', { kind: 'patches', multiplier: 2.46 }],
    ['{ kind = "area", pixels_per_token = 750, max_tokens = 1640 }', { kind: 'area', pixelsPerToken: 750, maxTokens: 1640 }],
    ...Object.entries(IMAGE_PRICING_PRESETS).map(([name, f]) => [`"${name}"`, f] as const),
  ])('image_pricing = %s', (value, want) => {
    expect(model(`${M}image_pricing = ${value}\n`).imagePricing).toEqual(want as never)
  })

  test('a catalog model overridden in the file keeps the catalog pricing it does not restate; "none" drops the image formula', () => {
    const m = model('[models."gpt-4o"]\ninput_usd_per_mtok = 2\n', 'gpt-4o')
    expect(m).toMatchObject({ inputUsdPerMtok: 2, cachedInputUsdPerMtok: 1.25, imagePricing: { kind: 'tiles', baseTokens: 85 }, tiers: { priority: { inputUsdPerMtok: 4.25 } } })
    expect(model('[models."gpt-4o"]\nimage_pricing = "none"\n', 'gpt-4o').imagePricing).toBeUndefined()
  })

  test('a model with none of them has none (images refused under strict, tiers and search refused)', () => {
    const m = model(M)
    for (const k of ['imagePricing', 'tiers', 'webSearchUsdPerCall', 'cachedInputUsdPerMtok']) expect(m).not.toHaveProperty(k)
  })

  test.each([
    ['cached_input_usd_per_mtok = -1', 'models."m".cached_input_usd_per_mtok must be a non-negative number'],
    ['image_pricing = "gpt-5"', 'models."m".image_pricing must be "none", one of'],
    ['image_pricing = { kind = "hexes" }', 'models."m".image_pricing.kind must be "tiles", "patches" or "area"'],
    ['image_pricing = { kind = "tiles", base_tokens = 85 }', 'models."m".image_pricing.tile_tokens must be a positive integer'],
    ['image_pricing = { kind = "patches", multiplier = 0 }', 'models."m".image_pricing.multiplier must be a positive number'],
    ['web_search_calls_per_request = 1.5', 'models."m".web_search_calls_per_request must be an integer from 0 to 100'],
    ['web_search_usd_per_call = "cheap"', 'models."m".web_search_usd_per_call must be a non-negative number'],
    ['tiers = 3', 'models."m".tiers must be a table of tiers'],
    ['[models."m".tiers.priority]\ninput_usd_per_mtok = 3', 'models."m".tiers.priority needs input_usd_per_mtok and output_usd_per_mtok'],
    ['[models."m".tiers.default]\ninput_usd_per_mtok = 3\noutput_usd_per_mtok = 3', 'models."m".tiers.default: "default" is the list price'],
    ['[models."m".tiers.flex]\ninput_usd_per_mtok = -3\noutput_usd_per_mtok = 3', 'models."m".tiers.flex.input_usd_per_mtok must be a non-negative number'],
  ])('%s → a clear error', (line, message) => {
    expect(errorsOf(`${M}${line}\n`).join('\n')).toContain(message)
  })
})
