/**
 * The built-in model catalog, derived from the provider descriptors (each provider folder owns its models and
 * list prices). A config file overrides or extends it.
 */
import { PROVIDERS } from '../providers/registry.ts'
import type { CatalogModel } from '../providers/types.ts'
import type { ModelConfig, ProviderConfig } from './types.ts'

const model = (name: string, provider: string, e: CatalogModel): ModelConfig => ({ name, provider, ...e, upstreamModel: e.upstreamModel ?? name })

/** Models of the providers that exist without any config (the hosted APIs), at list prices. */
export function builtinModels(): Record<string, ModelConfig> {
  const out: Record<string, ModelConfig> = {}
  for (const d of PROVIDERS) {
    if (d.builtin?.when !== 'always') continue
    for (const [name, e] of Object.entries(d.catalog)) out[name] = model(name, d.builtin.name, e)
  }
  return out
}

/**
 * Models of kinds with no always-present provider (the mock), served by the first configured provider of
 * their kind. Added only where the config did not define the name itself.
 */
export function kindModels(providers: Readonly<Record<string, ProviderConfig>>, defined: Readonly<Record<string, ModelConfig>>): Record<string, ModelConfig> {
  const out: Record<string, ModelConfig> = {}
  for (const d of PROVIDERS) {
    if (d.builtin?.when === 'always') continue
    const p = Object.values(providers).find((x) => x.kind === d.kind)
    if (!p) continue
    for (const [name, e] of Object.entries(d.catalog)) if (!defined[name]) out[name] = model(name, p.name, e)
  }
  return out
}
