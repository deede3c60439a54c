import { expect, test } from 'bun:test'
import { parseTenantFlags } from '../../../src/cli/tenant-flags.ts'

const KNOWN = ['gpt-4o-mini', 'mock-echo', 'claude-haiku-4-5']

test.each([
  [{ 'budget-usd': '12.5' }, { budgetUsdMicros: 12_500_000 }],
  [{ 'budget-usd': 'none' }, { budgetUsdMicros: null }],
  [{ period: 'day', policy: 'fixed' }, { budgetPeriod: 'day', policy: 'fixed' }],
  [{ models: 'gpt-4o-mini, mock-echo' }, { allowedModels: ['gpt-4o-mini', 'mock-echo'] }],
  [{ models: 'all' }, { allowedModels: null }],
  [{ 'fail-open': 'true' }, { failOpen: true }],
])('%j → %j', (flags, patch) => {
  expect(parseTenantFlags(flags, KNOWN)).toEqual({ patch: patch as never, errors: [] })
})

test('all bad flags reported together', () => {
  const r = parseTenantFlags({ 'budget-usd': '-1', period: 'week', policy: 'loose', models: ',', 'fail-open': 'yes' }, KNOWN)
  expect(r.errors.length).toBe(5)
})

test('unknown model names are refused, each named, with the known models listed', () => {
  const r = parseTenantFlags({ models: 'gpt-4o-mini,gpt-4o-mni,mock-ecko' }, KNOWN)
  expect(r.patch).toEqual({})
  expect(r.errors).toEqual([
    '--models: unknown models "gpt-4o-mni", "mock-ecko"; known models: claude-haiku-4-5, gpt-4o-mini, mock-echo ' +
    '(the built-in catalog plus the models of --config / GATEWAY_CONFIG)',
  ])
})
