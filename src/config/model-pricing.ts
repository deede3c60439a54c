/**
 * The pricing fields of a `[models."x"]` table beyond input/output prices: cache prices, the image formula,
 * service tiers, web search fees. Each field not given keeps the built-in catalog's value for that model.
 */
import type { ImagePricing, ModelConfig, TierRates } from './types.ts'
import { IMAGE_PRICING_PRESETS } from './image-pricing.ts'

type PricingFields = Pick<ModelConfig,
  'cachedInputUsdPerMtok' | 'cacheWriteUsdPerMtok' | 'cacheWrite1hUsdPerMtok' | 'imagePricing' | 'tiers'
  | 'webSearchUsdPerCall' | 'webSearchCallsPerRequest' | 'webSearchInputTokensPerCall'>

/** Tier names that mean the list price (the model's own top-level prices), so they cannot be configured. */
const LIST_TIERS = new Set(['auto', 'default', 'standard'])

const CACHE_FIELDS = [
  ['cached_input_usd_per_mtok', 'cachedInputUsdPerMtok'],
  ['cache_write_usd_per_mtok', 'cacheWriteUsdPerMtok'],
  ['cache_write_1h_usd_per_mtok', 'cacheWrite1hUsdPerMtok'],
] as const

export function parseModelPricing(errors: string[], where: string, m: Record<string, unknown>, base: ModelConfig | undefined): PricingFields {
  const price = (field: string, raw: unknown, at = where): number | undefined => {
    if (raw === undefined) return undefined
    if (typeof raw !== 'number' || !Number.isFinite(raw) || raw < 0) { errors.push(`${at}.${field} must be a non-negative number`); return undefined }
    return raw
  }
  const int = (field: string, max: number): number | undefined => {
    const raw = m[field]
    if (raw === undefined) return undefined
    if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 0 || raw > max) { errors.push(`${where}.${field} must be an integer from 0 to ${max}`); return undefined }
    return raw
  }
  const out: PricingFields = {}
  for (const [field, key] of CACHE_FIELDS) {
    const v = price(field, m[field]) ?? base?.[key]
    if (v !== undefined) out[key] = v
  }
  const image = m.image_pricing === undefined ? base?.imagePricing : imagePricing(errors, `${where}.image_pricing`, m.image_pricing)
  if (image) out.imagePricing = image
  const tiers = m.tiers === undefined ? base?.tiers : parseTiers(errors, `${where}.tiers`, m.tiers, price)
  if (tiers) out.tiers = tiers
  const fee = price('web_search_usd_per_call', m.web_search_usd_per_call) ?? base?.webSearchUsdPerCall
  if (fee !== undefined) out.webSearchUsdPerCall = fee
  const calls = int('web_search_calls_per_request', 100) ?? base?.webSearchCallsPerRequest
  if (calls !== undefined) out.webSearchCallsPerRequest = calls
  const tokens = int('web_search_input_tokens_per_call', 10_000_000) ?? base?.webSearchInputTokensPerCall
  if (tokens !== undefined) out.webSearchInputTokensPerCall = tokens
  return out
}

/**
 * `image_pricing = "gpt-4o-mini"` (a preset), `"none"` (no formula: images refused under strict), or a table:
 * `{ kind = "tiles", base_tokens, tile_tokens }`, `{ kind = "patches", multiplier }`,
 * `{ kind = "area", pixels_per_token, max_tokens }`.
 */
function imagePricing(errors: string[], where: string, raw: unknown): ImagePricing | undefined {
  const presets = Object.keys(IMAGE_PRICING_PRESETS).map((n) => `"${n}"`).join(', ')
  if (raw === 'none') return undefined
  if (typeof raw === 'string') {
    if (Object.hasOwn(IMAGE_PRICING_PRESETS, raw)) return IMAGE_PRICING_PRESETS[raw]
    errors.push(`${where} must be "none", one of ${presets}, or a table with kind = "tiles" | "patches" | "area" (got ${JSON.stringify(raw)})`)
    return undefined
  }
  const t = (raw ?? {}) as Record<string, unknown>
  const pos = (field: string, integer: boolean): number => {
    const v = t[field]
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
      errors.push(`${where}.${field} must be a positive ${integer ? 'integer' : 'number'}`)
      return 1
    }
    return v
  }
  if (typeof raw !== 'object' || raw === null) { errors.push(`${where} must be a string or a table`); return undefined }
  switch (t.kind) {
    case 'tiles': return { kind: 'tiles', baseTokens: pos('base_tokens', true), tileTokens: pos('tile_tokens', true) }
    case 'patches': return { kind: 'patches', multiplier: pos('multiplier', false) }
    case 'area': return { kind: 'area', pixelsPerToken: pos('pixels_per_token', true), maxTokens: pos('max_tokens', true) }
    default:
      errors.push(`${where}.kind must be "tiles", "patches" or "area" (got ${JSON.stringify(t.kind)})`)
      return undefined
  }
}

/** `[models."x".tiers.priority]` with input/output (required) and cache prices (optional). */
function parseTiers(
  errors: string[], where: string, raw: unknown, price: (field: string, raw: unknown, at?: string) => number | undefined,
): Record<string, TierRates> | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) { errors.push(`${where} must be a table of tiers`); return undefined }
  const out: Record<string, TierRates> = {}
  for (const [name, t] of Object.entries(raw as Record<string, unknown>)) {
    const at = `${where}.${name}`
    if (LIST_TIERS.has(name)) { errors.push(`${at}: "${name}" is the list price, set by the model's own input/output prices`); continue }
    if (typeof t !== 'object' || t === null) { errors.push(`${at} must be a table`); continue }
    const r = t as Record<string, unknown>
    const input = price('input_usd_per_mtok', r.input_usd_per_mtok, at)
    const output = price('output_usd_per_mtok', r.output_usd_per_mtok, at)
    if (input === undefined || output === undefined) {
      if (r.input_usd_per_mtok === undefined || r.output_usd_per_mtok === undefined) errors.push(`${at} needs input_usd_per_mtok and output_usd_per_mtok`)
      continue
    }
    const rates: TierRates = { inputUsdPerMtok: input, outputUsdPerMtok: output }
    for (const [field, key] of CACHE_FIELDS) {
      const v = price(field, r[field], at)
      if (v !== undefined) rates[key] = v
    }
    out[name] = rates
  }
  return out
}
