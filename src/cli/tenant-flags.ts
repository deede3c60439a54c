/** Pure parsing of `tenant create|set` flags into a tenant patch; every problem is reported at once. */
import { usdToMicros } from '../budget/money.ts'
import type { Period, Policy } from '../budget/types.ts'
import type { TenantPatch } from '../store/types.ts'

const PERIODS = new Set<Period>(['total', 'day', 'month'])
const POLICIES = new Set<Policy>(['strict', 'fixed'])

export function parseTenantFlags(flags: Record<string, string>): { patch: TenantPatch; errors: string[] } {
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
    else patch.allowedModels = list
  }
  const failOpen = flags['fail-open']
  if (failOpen !== undefined) {
    if (failOpen === 'true' || failOpen === 'false') patch.failOpen = failOpen === 'true'
    else errors.push(`--fail-open must be true or false (got "${failOpen}")`)
  }
  return { patch, errors }
}
