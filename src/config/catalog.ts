/**
 * Built-in model catalog with list prices (USD per million tokens). A config file overrides or extends it.
 * Prices move; operators pin their own in gateway.toml.
 */
import type { ModelConfig } from '../providers/types.ts'

type Entry = Omit<ModelConfig, 'name' | 'upstreamModel'> & { upstreamModel?: string }

const CATALOG: Record<string, Entry> = {
  'gpt-4o-mini': { provider: 'openai', inputUsdPerMtok: 0.15, outputUsdPerMtok: 0.6, maxOutputTokens: 16384 },
  'gpt-4o': { provider: 'openai', inputUsdPerMtok: 2.5, outputUsdPerMtok: 10, maxOutputTokens: 16384 },
  'gpt-4.1': { provider: 'openai', inputUsdPerMtok: 2, outputUsdPerMtok: 8, maxOutputTokens: 32768 },
  'gpt-4.1-mini': { provider: 'openai', inputUsdPerMtok: 0.4, outputUsdPerMtok: 1.6, maxOutputTokens: 32768 },
  'gpt-4.1-nano': { provider: 'openai', inputUsdPerMtok: 0.1, outputUsdPerMtok: 0.4, maxOutputTokens: 32768 },
  'claude-sonnet-4-5': { provider: 'anthropic', inputUsdPerMtok: 3, outputUsdPerMtok: 15, maxOutputTokens: 64000 },
  'claude-haiku-4-5': { provider: 'anthropic', inputUsdPerMtok: 1, outputUsdPerMtok: 5, maxOutputTokens: 64000 },
  'claude-opus-4-1': { provider: 'anthropic', inputUsdPerMtok: 15, outputUsdPerMtok: 75, maxOutputTokens: 32000 },
}

/** Mock model: priced like a small real model so budget behaviour is visible in the demo. */
export const MOCK_MODEL: ModelConfig = {
  name: 'mock-echo',
  provider: 'mock',
  upstreamModel: 'mock-echo',
  inputUsdPerMtok: 1,
  outputUsdPerMtok: 2,
  maxOutputTokens: 4096,
}

export function builtinModels(): Record<string, ModelConfig> {
  const out: Record<string, ModelConfig> = {}
  for (const [name, e] of Object.entries(CATALOG)) out[name] = { name, upstreamModel: e.upstreamModel ?? name, ...e }
  return out
}
