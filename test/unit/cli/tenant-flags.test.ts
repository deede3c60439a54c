import { expect, test } from 'bun:test'
import { parseTenantFlags } from '../../../src/cli/tenant-flags.ts'

test.each([
  [{ 'budget-usd': '12.5' }, { budgetUsdMicros: 12_500_000 }],
  [{ 'budget-usd': 'none' }, { budgetUsdMicros: null }],
  [{ period: 'day', policy: 'fixed' }, { budgetPeriod: 'day', policy: 'fixed' }],
  [{ models: 'gpt-4o-mini, mock-echo' }, { allowedModels: ['gpt-4o-mini', 'mock-echo'] }],
  [{ models: 'all' }, { allowedModels: null }],
  [{ 'fail-open': 'true' }, { failOpen: true }],
])('%j → %j', (flags, patch) => {
  expect(parseTenantFlags(flags)).toEqual({ patch: patch as never, errors: [] })
})

test('all bad flags reported together', () => {
  const r = parseTenantFlags({ 'budget-usd': '-1', period: 'week', policy: 'loose', models: ',', 'fail-open': 'yes' })
  expect(r.errors.length).toBe(5)
})
