/** The built-in `mock` provider: in-process, for the demo and tests. */
import type { ProviderDescriptor } from '../types.ts'
import { mockAdapter } from './adapter.ts'

/** Priced like a small real model so budget behaviour is visible in the demo. */
export const MOCK_MODEL_NAME = 'mock-echo'

export const mockProvider: ProviderDescriptor = {
  kind: 'mock',
  adapter: mockAdapter,
  builtin: { name: 'mock', when: 'demo', baseUrl: 'mock:' },
  defaultBaseUrl: 'mock:',
  local: true,
  catalog: { [MOCK_MODEL_NAME]: { inputUsdPerMtok: 1, outputUsdPerMtok: 2, maxOutputTokens: 4096 } },
}
