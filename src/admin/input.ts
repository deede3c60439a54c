/**
 * Pure parsing of admin inputs into the typed values src/admin/service.ts takes. The time arguments (key expiry,
 * rotation grace, the usage window) are shared by the CLI (flags such as `--expires-in`) and the HTTP API (JSON
 * fields such as `expires_in`): the caller names the inputs, so each front end's messages use its own names.
 * The tenant body is the HTTP API's (typed JSON, money in integer µUSD); the CLI's flags are in src/cli/tenant-flags.ts.
 * Every problem is collected; `invalid` turns them into one AdminError.
 */
import type { Period, Policy } from '../tenants/types.ts'
import { parseDate, parseDuration, parseSince } from '../cli/time-args.ts'
import type { UsageGroupBy, UsageQuery } from '../store/types.ts'
import type { TenantPatch } from '../tenants/types.ts'
import { AdminError, ID_SHAPE, unknownModels } from './service.ts'

export const PERIODS: readonly Period[] = ['total', 'day', 'month']
export const POLICIES: readonly Policy[] = ['strict', 'fixed']
export const USAGE_GROUPS: readonly UsageGroupBy[] = ['day', 'model', 'key']
export const DEFAULT_USAGE_SINCE = '7d'

/** Throws the collected problems as one `invalid` AdminError (nothing when there are none). */
export function invalid(errors: readonly string[]): void {
  if (errors.length) throw new AdminError('invalid', errors.join('; '))
}

/**
 * A key's expiry from `in` (a duration from now) or `at` (a date), never both: epoch ms, or null for a key
 * that never expires. `names` are how the caller calls the two inputs.
 */
export function expiryOf(raw: { in?: string; at?: string }, now: number, names: { in: string; at: string }, errors: string[]): number | null {
  if (raw.in !== undefined && raw.at !== undefined) {
    errors.push(`give ${names.in} or ${names.at}, not both`)
    return null
  }
  if (raw.in !== undefined) {
    const d = parseDuration(raw.in)
    if (!d.ok) errors.push(`${names.in}: ${d.error}`)
    else if (d.ms === 0) errors.push(`${names.in} must be longer than 0`)
    else return now + d.ms
    return null
  }
  if (raw.at !== undefined) {
    const d = parseDate(raw.at)
    if (!d.ok) errors.push(`${names.at}: ${d.error}`)
    else return d.ms
  }
  return null
}

/** The rotation grace (a duration; `0` ends the old key at once); `fallback` when not given. */
export function graceOf(raw: string | undefined, fallback: number, name: string, errors: string[]): number {
  if (raw === undefined) return fallback
  const g = parseDuration(raw)
  if (!g.ok) errors.push(`${name}: ${g.error}`)
  return g.ok ? g.ms : fallback
}

/** A usage report query: `since` defaults to 7 days ago, `by` to day; `until` open-ended when absent. */
export function usageQueryOf(
  raw: { tenant?: string; since?: string; until?: string; by?: string }, now: number,
  names: { since: string; until: string; by: string }, errors: string[],
): UsageQuery {
  const since = parseSince(raw.since ?? DEFAULT_USAGE_SINCE, now)
  if (!since.ok) errors.push(`${names.since}: ${since.error}`)
  const until = raw.until === undefined ? undefined : parseSince(raw.until, now)
  if (until && !until.ok) errors.push(`${names.until}: ${until.error}`)
  const by = (raw.by ?? 'day') as UsageGroupBy
  if (!USAGE_GROUPS.includes(by)) errors.push(`${names.by} must be day, model or key (got "${raw.by}")`)
  return { tenantId: raw.tenant, sinceMs: since.ok ? since.ms : 0, untilMs: until?.ok ? until.ms : undefined, by }
}

// ---- JSON bodies of the HTTP API ----

type Fields = Record<string, unknown>

const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v)

/** The body as an object: absent (undefined) is `{}`; anything but a JSON object is refused. */
function objectOf(body: unknown, errors: string[]): Fields {
  if (body === undefined) return {}
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    errors.push(`the request body must be a JSON object (got ${describe(body)})`)
    return {}
  }
  return body as Fields
}

/** Unknown fields are refused: a misspelt `budget_usd` must not be silently ignored (the CLI refuses unknown flags too). */
function onlyFields(o: Fields, allowed: readonly string[], errors: string[]): void {
  const unknown = Object.keys(o).filter((k) => !allowed.includes(k))
  if (unknown.length) errors.push(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')} (expected ${allowed.join(', ')})`)
}

function optionalString(o: Fields, field: string, errors: string[]): string | undefined {
  const v = o[field]
  if (v === undefined) return undefined
  if (typeof v !== 'string') errors.push(`${field} must be a string (got ${describe(v)})`)
  return typeof v === 'string' ? v : undefined
}

export const TENANT_FIELDS = ['budget_usd_micros', 'budget_period', 'policy', 'allowed_models', 'fail_open'] as const

function tenantFields(o: Fields, knownModels: readonly string[], errors: string[]): TenantPatch {
  const patch: TenantPatch = {}
  if ('budget_usd_micros' in o) {
    const v = o.budget_usd_micros
    if (v === null) patch.budgetUsdMicros = null
    else if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) patch.budgetUsdMicros = v
    else errors.push(`budget_usd_micros must be a non-negative integer (micro-USD: 1000000 = $1) or null for unlimited (got ${JSON.stringify(v)})`)
  }
  if ('budget_period' in o) {
    if (PERIODS.includes(o.budget_period as Period)) patch.budgetPeriod = o.budget_period as Period
    else errors.push(`budget_period must be total, day or month (got ${JSON.stringify(o.budget_period)})`)
  }
  if ('policy' in o) {
    if (POLICIES.includes(o.policy as Policy)) patch.policy = o.policy as Policy
    else errors.push(`policy must be strict or fixed (got ${JSON.stringify(o.policy)})`)
  }
  if ('allowed_models' in o) {
    const v = o.allowed_models
    if (v === null) patch.allowedModels = null
    else if (!Array.isArray(v) || v.length === 0 || !v.every((m) => typeof m === 'string' && m !== '')) {
      errors.push('allowed_models must be a non-empty array of model names, or null for every model')
    } else {
      // A typo would lock the tenant out of the model it meant, silently.
      const unknown = unknownModels(v as string[], knownModels)
      if (unknown.length === 0) patch.allowedModels = [...new Set(v as string[])]
      else errors.push(`allowed_models: unknown model${unknown.length > 1 ? 's' : ''} ${unknown.map((m) => `"${m}"`).join(', ')}; known models: ${[...knownModels].sort().join(', ')}`)
    }
  }
  if ('fail_open' in o) {
    if (typeof o.fail_open === 'boolean') patch.failOpen = o.fail_open
    else errors.push(`fail_open must be true or false (got ${JSON.stringify(o.fail_open)})`)
  }
  return patch
}

/** POST /tenants: `id` and any tenant fields (the rest take TENANT_DEFAULTS). */
export function tenantCreateOf(body: unknown, knownModels: readonly string[]): { id: string; patch: TenantPatch } {
  const errors: string[] = []
  const o = objectOf(body, errors)
  onlyFields(o, ['id', ...TENANT_FIELDS], errors)
  const id = o.id
  if (typeof id !== 'string' || !ID_SHAPE.test(id)) errors.push('id is required: letters, digits and . _ : - (1-128 chars)')
  const patch = tenantFields(o, knownModels, errors)
  invalid(errors)
  return { id: id as string, patch }
}

/** PATCH /tenants/{id}: at least one tenant field (what `gateway tenant set` changes). */
export function tenantPatchOf(body: unknown, knownModels: readonly string[]): TenantPatch {
  const errors: string[] = []
  const o = objectOf(body, errors)
  onlyFields(o, TENANT_FIELDS, errors)
  const patch = tenantFields(o, knownModels, errors)
  if (errors.length === 0 && Object.keys(patch).length === 0) errors.push(`nothing to change: give at least one of ${TENANT_FIELDS.join(', ')}`)
  invalid(errors)
  return patch
}

const EXPIRY_NAMES = { in: 'expires_in', at: 'expires_at' }

function nameOf(o: Fields, errors: string[]): string | null | undefined {
  const v = o.name
  if (v === undefined || v === null) return v
  if (typeof v !== 'string') errors.push(`name must be a string or null (got ${describe(v)})`)
  return typeof v === 'string' ? v : undefined
}

/** POST /tenants/{id}/keys: `name`, and `expires_in` (a duration) or `expires_at` (a date); all optional. */
export function keyCreateOf(body: unknown, now: number): { name: string | null; expiresAt: number | null } {
  const errors: string[] = []
  const o = objectOf(body, errors)
  onlyFields(o, ['name', ...Object.values(EXPIRY_NAMES)], errors)
  const name = nameOf(o, errors) ?? null
  const expiresAt = expiryOf({ in: optionalString(o, 'expires_in', errors), at: optionalString(o, 'expires_at', errors) }, now, EXPIRY_NAMES, errors)
  invalid(errors)
  return { name, expiresAt }
}

/** POST /keys/{id}/rotate: `grace` (default 24h), the new key's `name` (default: the old key's) and expiry. */
export function keyRotateOf(body: unknown, now: number, defaultGraceMs: number): { graceMs: number; name?: string | null; expiresAt: number | null } {
  const errors: string[] = []
  const o = objectOf(body, errors)
  onlyFields(o, ['grace', 'name', ...Object.values(EXPIRY_NAMES)], errors)
  const graceMs = graceOf(optionalString(o, 'grace', errors), defaultGraceMs, 'grace', errors)
  const name = nameOf(o, errors)
  const expiresAt = expiryOf({ in: optionalString(o, 'expires_in', errors), at: optionalString(o, 'expires_at', errors) }, now, EXPIRY_NAMES, errors)
  invalid(errors)
  return { graceMs, ...(name !== undefined ? { name } : {}), expiresAt }
}

/** GET /usage?tenant=&since=&until=&by=: each parameter at most once; `tenant` must be a valid id. */
export function usageParamsOf(params: URLSearchParams, now: number): UsageQuery {
  const errors: string[] = []
  const allowed = ['tenant', 'since', 'until', 'by']
  const raw: Record<string, string> = {}
  for (const [k, v] of params) {
    if (!allowed.includes(k)) errors.push(`unknown query parameter "${k}" (expected ${allowed.join(', ')})`)
    else if (k in raw) errors.push(`query parameter "${k}" is given more than once`)
    else raw[k] = v
  }
  if (raw.tenant !== undefined && !ID_SHAPE.test(raw.tenant)) errors.push('tenant may only contain letters, digits and . _ : - (1-128 chars)')
  const q = usageQueryOf(raw, now, { since: 'since', until: 'until', by: 'by' }, errors)
  invalid(errors)
  return q
}

/** DELETE /tenants/{id}?force=true|false (absent: false). */
export function forceOf(params: URLSearchParams): boolean {
  const errors: string[] = []
  for (const k of params.keys()) if (k !== 'force') errors.push(`unknown query parameter "${k}" (expected force)`)
  const v = params.getAll('force')
  if (v.length > 1 || (v.length === 1 && v[0] !== 'true' && v[0] !== 'false')) errors.push('force must be true or false, given once')
  invalid(errors)
  return v[0] === 'true'
}
