/** Pure parsing of `tenant create|set` flags into a tenant patch; every problem is reported at once. */
import { unknownModels } from '../admin/service.ts'
import { usdToMicros } from '../budget/money.ts'
import type { Period, Policy } from '../tenants/types.ts'
import type { TenantPatch } from '../tenants/types.ts'

const PERIODS = new Set<Period>(['total', 'day', 'month'])
const POLICIES = new Set<Policy>(['strict', 'fixed'])

export const TENANT_FLAG_NAMES = ['budget-usd', 'period', 'models', 'policy', 'fail-open'] as const

/**
 * `knownModels`: the names a request may use (built-in catalog plus the config file). A typo in --models would
 * otherwise lock the tenant out of the model it meant, silently.
 */
export function parseTenantFlags(flags: Record<string, string>, knownModels: readonly string[]): { patch: TenantPatch; errors: string[] } {
  const errors: string[] = []
  const patch: TenantPatch = {}
  const budget = flags['budget-usd']
  if (budget !== undefined) {
    if (budget === 'none' || budget === 'unlimited') patch.budgetUsdMicros = null
    else {
      const n = Number(budget)
      if (budget.trim() === '' || !Number.isFinite(n) || n < 0) errors.push(`--budget-usd must be a non-negative number or "none" (got "${budget}")`)
      else patch.budgetUsdMicros = usdToMicros(n)
    }
  }
  const period = flags.period
  if (period !== undefined) {
    if (PERIODS.has(period as Period)) patch.budgetPeriod = period as Period
    else errors.push(`--period must be total, day or month (got "${period}")`)
  }
  const policy = flags.policy
  if (policy !== undefined) {
    if (POLICIES.has(policy as Policy)) patch.policy = policy as Policy
    else errors.push(`--policy must be strict or fixed (got "${policy}")`)
  }
  const models = flags.models
  if (models !== undefined) {
    const list = models.split(',').map((m) => m.trim()).filter(Boolean)
    if (models === 'all' || models === '*') patch.allowedModels = null
    else if (list.length === 0) errors.push('--models must list at least one model, or be "all"')
    else {
      const unknown = unknownModels(list, knownModels)
      if (unknown.length === 0) patch.allowedModels = list
      else {
        errors.push(`--models: unknown model${unknown.length > 1 ? 's' : ''} ${unknown.map((m) => `"${m}"`).join(', ')}; known models: ` +
          `${[...knownModels].sort().join(', ')} (the built-in catalog plus the models of --config / GATEWAY_CONFIG)`)
      }
    }
  }
  const failOpen = flags['fail-open']
  if (failOpen !== undefined) {
    if (failOpen === 'true' || failOpen === 'false') patch.failOpen = failOpen === 'true'
    else errors.push(`--fail-open must be true or false (got "${failOpen}")`)
  }
  return { patch, errors }
}
