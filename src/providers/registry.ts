/** The provider kinds the gateway has, and model name → route. The only list of providers. */
import type { GatewayConfig } from '../config/index.ts'
import { GatewayError } from '../errors.ts'
import { anthropicProvider } from './anthropic/index.ts'
import { mockProvider } from './mock/index.ts'
import { openaiProvider } from './openai/index.ts'
import type { ModelRoute, ProviderAdapter, ProviderDescriptor } from './types.ts'
import type { ProviderConfig, ProviderKind } from '../config/types.ts'

export const PROVIDERS: readonly ProviderDescriptor[] = [openaiProvider, anthropicProvider, mockProvider]

const BY_KIND = new Map(PROVIDERS.map((d) => [d.kind, d]))

export function descriptorFor(kind: ProviderKind): ProviderDescriptor {
  const d = BY_KIND.get(kind)
  if (!d) throw new Error(`unknown provider kind ${kind}`) // config refuses unknown kinds, so this is a bug
  return d
}

export function adapterFor(kind: ProviderKind): ProviderAdapter {
  return descriptorFor(kind).adapter
}

export function resolveRoute(config: Pick<GatewayConfig, 'models' | 'providers'>, model: string): ModelRoute {
  const m = Object.hasOwn(config.models, model) ? config.models[model] : undefined
  if (!m) throw new GatewayError('model_not_found', `The model \`${model}\` does not exist or is not served by this gateway.`, { param: 'model' })
  const provider = config.providers[m.provider]
  if (!provider) throw new GatewayError('model_not_found', `The model \`${model}\` has no configured provider.`, { param: 'model' })
  return { model: m, provider }
}

/** A provider that needs a key and has none cannot serve; its models are hidden from /v1/models too. */
export function providerUsable(p: ProviderConfig): boolean {
  return descriptorFor(p.kind).local === true || !p.keyRequired || p.apiKey !== null
}

/**
 * Without this the upstream's 401 would reach the client, who would think its own gateway key was wrong.
 * A configuration error does not heal by retrying, so SDKs are told not to (they retry 502 otherwise).
 */
export function assertProviderUsable(p: ProviderConfig): void {
  if (!providerUsable(p)) {
    throw new GatewayError('upstream_error', `The gateway has no API key for provider \`${p.name}\`; ask its operator to configure one.`, {
      headers: { 'x-should-retry': 'false' },
    })
  }
}
