import { describe, expect, test } from 'bun:test'
import {
  expiryOf, forceOf, graceOf, keyCreateOf, keyRotateOf, tenantCreateOf, tenantPatchOf, usageParamsOf, usageQueryOf,
} from '../../../src/admin/input.ts'
import { AdminError } from '../../../src/admin/service.ts'

const NOW = Date.parse('2026-05-10T12:00:00Z')
const DAY = 86_400_000
const MODELS = ['gpt-4o', 'gpt-4o-mini', 'mock-echo']

/** The AdminError a parse throws (its code must be `invalid`), as its message. */
function refusal(fn: () => unknown): string {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(AdminError)
    expect((e as AdminError).code).toBe('invalid')
    return (e as Error).message
  }
  throw new Error('expected a refusal')
}

describe('tenantCreateOf', () => {
  test.each([
    [{ id: 'acme' }, { id: 'acme', patch: {} }],
    [{ id: 'a.b:c-d_e', budget_usd_micros: 5_000_000, budget_period: 'day', policy: 'fixed', allowed_models: ['gpt-4o', 'gpt-4o'], fail_open: true },
      { id: 'a.b:c-d_e', patch: { budgetUsdMicros: 5_000_000, budgetPeriod: 'day', policy: 'fixed', allowedModels: ['gpt-4o'], failOpen: true } }],
    [{ id: 't', budget_usd_micros: null, allowed_models: null }, { id: 't', patch: { budgetUsdMicros: null, allowedModels: null } }],
    [{ id: 't', budget_usd_micros: 0 }, { id: 't', patch: { budgetUsdMicros: 0 } }],
  ])('%j → %j', (body, want) => {
    expect(tenantCreateOf(body, MODELS)).toEqual(want as never)
  })

  test.each([
    [undefined, 'id is required'],
    [[], 'must be a JSON object (got an array)'],
    ['acme', 'must be a JSON object (got string)'],
    [null, 'must be a JSON object (got null)'],
    [{ id: 'has space' }, 'id is required: letters, digits'],
    [{ id: 'x'.repeat(129) }, 'id is required'],
    [{ id: 7 }, 'id is required'],
    [{ id: 't', budget_usd: 3 }, 'unknown field "budget_usd"'],
    [{ id: 't', disabled: true }, 'unknown field "disabled"'],
    [{ id: 't', budget_usd_micros: -1 }, 'budget_usd_micros must be a non-negative integer'],
    [{ id: 't', budget_usd_micros: 1.5 }, 'budget_usd_micros must be a non-negative integer'],
    [{ id: 't', budget_usd_micros: '5' }, 'budget_usd_micros must be a non-negative integer'],
    [{ id: 't', budget_usd_micros: 2 ** 53 }, 'budget_usd_micros must be a non-negative integer'],
    [{ id: 't', budget_period: 'week' }, 'budget_period must be total, day or month (got "week")'],
    [{ id: 't', policy: 'loose' }, 'policy must be strict or fixed'],
    [{ id: 't', allowed_models: [] }, 'allowed_models must be a non-empty array'],
    [{ id: 't', allowed_models: 'gpt-4o' }, 'allowed_models must be a non-empty array'],
    [{ id: 't', allowed_models: ['gpt-4o', ''] }, 'allowed_models must be a non-empty array'],
    [{ id: 't', allowed_models: ['gpt-4o', 'gpt-5x', 'nope'] }, 'allowed_models: unknown models "gpt-5x", "nope"; known models: gpt-4o, gpt-4o-mini, mock-echo'],
    [{ id: 't', fail_open: 'true' }, 'fail_open must be true or false'],
  ])('%j is refused: %s', (body, message) => {
    expect(refusal(() => tenantCreateOf(body, MODELS))).toContain(message)
  })

  test('every problem is reported at once', () => {
    const m = refusal(() => tenantCreateOf({ id: '', policy: 'x', fail_open: 1, extra: 1 }, MODELS))
    for (const part of ['unknown field "extra"', 'id is required', 'policy must be', 'fail_open must be']) expect(m).toContain(part)
  })
})

describe('tenantPatchOf', () => {
  test('the tenant fields, as `tenant set`', () => {
    expect(tenantPatchOf({ budget_usd_micros: 1, fail_open: false }, MODELS)).toEqual({ budgetUsdMicros: 1, failOpen: false })
  })

  test.each([
    [{}, 'nothing to change: give at least one of budget_usd_micros, budget_period, policy, allowed_models, fail_open'],
    [undefined, 'nothing to change'],
    [{ id: 'other' }, 'unknown field "id"'],
    [{ disabled: true }, 'unknown field "disabled"'],
    [{ policy: 'strict', budget_period: 'year' }, 'budget_period must be'],
  ])('%j is refused: %s', (body, message) => {
    expect(refusal(() => tenantPatchOf(body, MODELS))).toContain(message)
  })
})

describe('keyCreateOf', () => {
  test.each([
    [undefined, { name: null, expiresAt: null }],
    [{}, { name: null, expiresAt: null }],
    [{ name: 'ci', expires_in: '30d' }, { name: 'ci', expiresAt: NOW + 30 * DAY }],
    [{ name: null, expires_at: '2026-12-31' }, { name: null, expiresAt: Date.parse('2026-12-31T00:00:00Z') }],
    [{ expires_at: '2026-06-01T10:00:00+02:00' }, { name: null, expiresAt: Date.parse('2026-06-01T08:00:00Z') }],
  ])('%j → %j', (body, want) => {
    expect(keyCreateOf(body, NOW)).toEqual(want)
  })

  test.each([
    [{ expires_in: '1d', expires_at: '2030-01-01' }, 'give expires_in or expires_at, not both'],
    [{ expires_in: '30' }, 'expires_in: "30" is not a duration'],
    [{ expires_in: 30 }, 'expires_in must be a string (got number)'],
    [{ expires_in: '0' }, 'expires_in must be longer than 0'],
    [{ expires_at: '2026-06-01T10:00:00' }, 'expires_at: "2026-06-01T10:00:00" has no time zone'],
    [{ name: 5 }, 'name must be a string or null'],
    [{ tenant: 'x' }, 'unknown field "tenant" (expected name, expires_in, expires_at)'],
  ])('%j is refused: %s', (body, message) => {
    expect(refusal(() => keyCreateOf(body, NOW))).toContain(message)
  })
})

describe('keyRotateOf', () => {
  const G = 24 * 3_600_000
  test.each([
    [undefined, { graceMs: G, expiresAt: null }],
    [{ grace: '0' }, { graceMs: 0, expiresAt: null }],
    [{ grace: '2h', name: 'prod-2', expires_in: '90d' }, { graceMs: 2 * 3_600_000, name: 'prod-2', expiresAt: NOW + 90 * DAY }],
    [{ name: null }, { graceMs: G, name: null, expiresAt: null }],
  ])('%j → %j (no name: the old key keeps its own)', (body, want) => {
    expect(keyRotateOf(body, NOW, G)).toEqual(want)
  })

  test.each([
    [{ grace: 'forever' }, 'grace: "forever" is not a duration'],
    [{ grace: 3600 }, 'grace must be a string'],
    [{ force: true }, 'unknown field "force"'],
  ])('%j is refused: %s', (body, message) => {
    expect(refusal(() => keyRotateOf(body, NOW, G))).toContain(message)
  })
})

describe('usageParamsOf', () => {
  const q = (s: string) => usageParamsOf(new URLSearchParams(s), NOW)
  test.each([
    ['', { tenantId: undefined, sinceMs: NOW - 7 * DAY, untilMs: undefined, by: 'day' }],
    ['tenant=acme&since=2026-04-01&until=2026-05-01&by=model',
      { tenantId: 'acme', sinceMs: Date.parse('2026-04-01T00:00:00Z'), untilMs: Date.parse('2026-05-01T00:00:00Z'), by: 'model' }],
    ['since=30d&by=key', { tenantId: undefined, sinceMs: NOW - 30 * DAY, untilMs: undefined, by: 'key' }],
  ])('?%s → %j', (s, want) => {
    expect(q(s)).toEqual(want as never)
  })

  test.each([
    ['by=week', 'by must be day, model or key (got "week")'],
    ['since=last%20tuesday', 'since: "last tuesday" is not a date'],
    ['until=soon', 'until: "soon" is not a date'],
    ['tenant=a%20b', 'tenant may only contain'],
    ['tenant=a&tenant=b', 'query parameter "tenant" is given more than once'],
    ['limit=5', 'unknown query parameter "limit"'],
  ])('?%s is refused: %s', (s, message) => {
    expect(refusal(() => q(s))).toContain(message)
  })
})

describe('forceOf', () => {
  test.each([['', false], ['force=false', false], ['force=true', true]])('?%s → %p', (s, want) => {
    expect(forceOf(new URLSearchParams(s))).toBe(want)
  })
  test.each(['force=yes', 'force=1', 'force=true&force=true', 'forse=true'])('?%s is refused', (s) => {
    refusal(() => forceOf(new URLSearchParams(s)))
  })
})

describe('the time arguments name their inputs as each front end calls them', () => {
  test('CLI flag names', () => {
    const errors: string[] = []
    expiryOf({ in: '1d', at: '2030-01-01' }, NOW, { in: '--expires-in', at: '--expires-at' }, errors)
    graceOf('soon', 0, '--grace', errors)
    usageQueryOf({ by: 'week', since: 'x' }, NOW, { since: '--since', until: '--until', by: '--by' }, errors)
    expect(errors).toEqual([
      'give --expires-in or --expires-at, not both',
      '--grace: "soon" is not a duration (use a number and a unit: 90s, 15m, 24h, 30d, 2w)',
      '--since: "x" is not a date (use YYYY-MM-DD or an ISO date-time such as 2026-01-31T12:00:00Z)',
      '--by must be day, model or key (got "week")',
    ])
  })
})
