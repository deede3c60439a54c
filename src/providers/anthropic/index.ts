/** Anthropic's API: `kind = "anthropic"`. Chat completions are translated; /v1/messages is spoken natively. */
import type { ProviderDescriptor } from '../types.ts'
import { anthropicAdapter } from './adapter.ts'
import { ANTHROPIC_CATALOG } from './catalog.ts'
import { anthropicMessages } from './messages.ts'

export const anthropicProvider: ProviderDescriptor = {
  kind: 'anthropic',
  adapter: anthropicAdapter,
  builtin: { name: 'anthropic', when: 'always', baseUrl: 'https://api.anthropic.com', baseUrlEnv: 'ANTHROPIC_BASE_URL', apiKeyEnv: 'ANTHROPIC_API_KEY' },
  catalog: ANTHROPIC_CATALOG,
  messages: anthropicMessages,
}
