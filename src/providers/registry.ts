/** Model name → provider route and adapter. The only place that maps a provider kind to its code. */
import type { GatewayConfig } from '../config/index.ts'
import { GatewayError } from '../http/errors.ts'
import { anthropicAdapter } from './anthropic/adapter.ts'
import { mockAdapter } from './mock/adapter.ts'
import { openaiAdapter } from './openai/adapter.ts'
import type { ModelRoute, ProviderAdapter, ProviderConfig, ProviderKind } from './types.ts'

const ADAPTERS: Record<ProviderKind, ProviderAdapter> = {
  openai: openaiAdapter,
  anthropic: anthropicAdapter,
  mock: mockAdapter,
}

export function adapterFor(kind: ProviderKind): ProviderAdapter {
  return ADAPTERS[kind]
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
  return p.kind === 'mock' || !p.keyRequired || p.apiKey !== null
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
