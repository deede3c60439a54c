/** OpenAI and every OpenAI-compatible server (vLLM, Ollama, ...): `kind = "openai"`. */
import type { ProviderDescriptor } from '../types.ts'
import { openaiAdapter } from './adapter.ts'
import { OPENAI_CATALOG } from './catalog.ts'

export const openaiProvider: ProviderDescriptor = {
  kind: 'openai',
  adapter: openaiAdapter,
  builtin: { name: 'openai', when: 'always', baseUrl: 'https://api.openai.com/v1', baseUrlEnv: 'OPENAI_BASE_URL', apiKeyEnv: 'OPENAI_API_KEY' },
  catalog: OPENAI_CATALOG,
}
