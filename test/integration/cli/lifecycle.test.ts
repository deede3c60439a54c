/**
 * Tenant and key lifecycle through the real CLI, on the embedded store and on Postgres: list (text and --json),
 * key expiry and rotation, disable/enable/delete, the usage report, and a running gateway that picks every
 * change up (Postgres NOTIFY; embedded: the data_version poll).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { UsageRecord } from '../../../src/budget/types.ts'
import { hashApiKey } from '../../../src/store/keys.ts'
import { createPostgresStore } from '../../../src/store/postgres.ts'
import { createSqliteStore } from '../../../src/store/sqlite.ts'
import type { Store } from '../../../src/store/types.ts'
import { runGateway, spawnGateway } from '../../helpers/gateway-process.ts'
import { startPostgres, type PgInstance } from '../../helpers/postgres.ts'

const DAY = 86_400_000
const HOUR = 3_600_000
let pg: PgInstance
const dirs: string[] = []
beforeAll(async () => {
  pg = await startPostgres()
})
afterAll(async () => {
  await pg?.stop()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

const usage = (requestId: string, tenantId: string, keyId: string, model: string, cost: number, startedAt: string): UsageRecord => ({
  requestId, tenantId, keyId, model, provider: 'openai', promptTokens: 100, completionTokens: 10, costUsdMicros: cost, status: 'ok',
  startedAt: Date.parse(startedAt), durationMs: 20,
})

describe.each(['sqlite', 'postgres'] as const)('on %s', (kind) => {
  let dir = ''
  const env = () => (kind === 'postgres' ? { DATABASE_URL: pg.url } : { GATEWAY_DATA_DIR: dir })
  const openStore = async (): Promise<Store> => (kind === 'postgres' ? createPostgresStore(pg.url) : createSqliteStore(join(dir, 'gateway.sqlite')))
  /** Runs the CLI; a non-zero exit fails the test with the output. */
  const cli = async (...args: string[]) => {
    const r = await runGateway(args, { env: env() })
    if (r.code !== 0) throw new Error(`gateway ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`)
    return r.stdout
  }
  const refused = async (...args: string[]) => {
    const r = await runGateway(args, { env: env() })
    expect(r.code).toBe(2)
    return r.stderr
  }
  const newKey = async (tenant: string, ...flags: string[]) => {
    const out = JSON.parse(await cli('key', 'create', tenant, '--json', ...flags))
    return { id: out.key.id as string, secret: out.api_key as string, view: out.key }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gw-cli-life-'))
    dirs.push(dir)
    await cli('migrate')
  })

  test('tenant list and key list, as text and as JSON; a key hash is never printed', async () => {
    await cli('tenant', 'create', 'list-b', '--budget-usd', '3', '--period', 'day', '--models', 'gpt-4o,gpt-4o-mini')
    await cli('tenant', 'create', 'list-a')
    const k1 = await newKey('list-b', '--name', 'ci')
    const k2 = await newKey('list-b')
    await cli('key', 'revoke', k2.id)
    const text = (await cli('tenant', 'list')).split('\n')
    expect(text[0]).toMatch(/^ID +BUDGET +PERIOD +POLICY +MODELS +FAIL_OPEN +STATUS +KEYS\(ACTIVE\/ALL\) +CREATED$/)
    expect(text.find((l) => l.startsWith('list-b'))).toMatch(/^list-b +\$3\.000000 +day +strict +gpt-4o,gpt-4o-mini +false +enabled +1\/2 +\d{4}-/)
    expect(text.find((l) => l.startsWith('list-a'))).toMatch(/^list-a +unlimited +month +strict +all +false +enabled +0\/0 /)
    const json = JSON.parse(await cli('tenant', 'list', '--json')) as Record<string, unknown>[]
    expect(json.find((t) => t.id === 'list-b')).toEqual({
      id: 'list-b', budget_usd_micros: 3_000_000, budget_period: 'day', policy: 'strict', allowed_models: ['gpt-4o', 'gpt-4o-mini'],
      fail_open: false, disabled: false, created_at: expect.stringMatching(/Z$/), keys: 2, active_keys: 1,
    })

    const keysText = await cli('key', 'list', 'list-b')
    expect(keysText.split('\n')[0]).toMatch(/^ID +PREFIX +NAME +CREATED +EXPIRES +REVOKED +STATUS$/)
    expect(keysText).toMatch(new RegExp(`${k1.id} +${k1.secret.slice(0, 10)}… +ci +\\S+Z +- +- +active`))
    expect(keysText).toMatch(new RegExp(`${k2.id} +\\S+ +- +\\S+Z +- +\\S+Z +revoked`))
    const keys = JSON.parse(await cli('key', 'list', 'list-b', '--json'))
    expect(keys).toEqual([
      { id: k1.id, tenant_id: 'list-b', prefix: k1.secret.slice(0, 10), name: 'ci', created_at: expect.any(String), expires_at: null, revoked_at: null, status: 'active' },
      { id: k2.id, tenant_id: 'list-b', prefix: k2.secret.slice(0, 10), name: null, created_at: expect.any(String), expires_at: null, revoked_at: expect.any(String), status: 'revoked' },
    ])
    const show = JSON.parse(await cli('tenant', 'show', 'list-b', '--json'))
    expect(show.tenant).toMatchObject({ id: 'list-b', budget_usd_micros: 3_000_000 })
    expect(show.budget).toMatchObject({ spent_usd_micros: 0, remaining_usd_micros: 3_000_000, source: 'recorded' })
    expect(show.keys.map((k: { id: string }) => k.id)).toEqual([k1.id, k2.id])
    for (const out of [keysText, JSON.stringify(keys), JSON.stringify(show)]) {
      expect(out).not.toContain(hashApiKey(k1.secret))
      expect(out).not.toContain(k1.secret)
    }
  })

  test('key expiry: --expires-in and --expires-at are stored and shown', async () => {
    await cli('tenant', 'create', 'exp')
    const before = Date.now()
    const a = await newKey('exp', '--expires-in', '30d')
    const expiresAt = Date.parse(a.view.expires_at)
    expect(expiresAt).toBeGreaterThanOrEqual(before + 30 * DAY)
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 30 * DAY)
    const text = await cli('key', 'create', 'exp', '--expires-at', '2099-12-31T23:00:00+01:00')
    expect(text).toContain('expires: 2099-12-31T22:00:00Z')
    expect(await cli('key', 'list', 'exp')).toContain('2099-12-31T22:00:00Z')
  })

  test('key rotate: a new key printed once, the old one expiring after the grace; a revoked key is not rotated', async () => {
    await cli('tenant', 'create', 'rot')
    const old = await newKey('rot', '--name', 'prod')
    const t0 = Date.now()
    const out = await cli('key', 'rotate', old.id, '--grace', '2h')
    const newId = /^key id: (\S+)$/m.exec(out)![1]!
    expect(out).toMatch(/^api key \(shown once, store it now\): gw_\S+$/m)
    expect(out).toMatch(new RegExp(`^old key ${old.id} stops working at \\S+Z \\(grace 2h\\)$`, 'm'))
    const keys = JSON.parse(await cli('key', 'list', 'rot', '--json')) as { id: string; name: string; expires_at: string | null; status: string }[]
    const oldView = keys.find((k) => k.id === old.id)!
    expect(oldView.status).toBe('active')
    expect(Date.parse(oldView.expires_at!)).toBeGreaterThanOrEqual(t0 + 2 * HOUR)
    expect(Date.parse(oldView.expires_at!)).toBeLessThanOrEqual(Date.now() + 2 * HOUR)
    expect(keys.find((k) => k.id === newId)).toMatchObject({ name: 'prod', expires_at: null, status: 'active' })

    const json = JSON.parse(await cli('key', 'rotate', newId, '--json', '--name', 'prod-2', '--expires-in', '90d'))
    expect(json.old_key).toMatchObject({ id: newId, status: 'active' })
    expect(json.key).toMatchObject({ tenant_id: 'rot', name: 'prod-2', status: 'active' })
    expect(json.api_key).toMatch(/^gw_/)
    await cli('key', 'revoke', json.key.id)
    expect(await refused('key', 'rotate', json.key.id)).toContain(`key "${json.key.id}" is revoked; create a new key instead`)
  })

  test('disable, enable, delete (refused with active keys, --force revokes them); usage records are kept', async () => {
    await cli('tenant', 'create', 'life')
    const k = await newKey('life')
    expect(await cli('tenant', 'disable', 'life')).toContain('tenant life is disabled: its keys are refused with 403 tenant_disabled')
    expect(await cli('tenant', 'show', 'life')).toContain('fail_open false, DISABLED')
    expect(JSON.parse(await cli('tenant', 'list', '--json')).find((t: { id: string }) => t.id === 'life').disabled).toBe(true)
    expect(await cli('tenant', 'enable', 'life')).toContain('tenant life is enabled')
    const store = await openStore()
    try {
      await store.insertUsage([usage('life-1', 'life', k.id, 'gpt-4o', 1234, '2026-04-02T10:00:00Z')])
    } finally {
      await store.close()
    }
    expect(await refused('tenant', 'delete', 'life')).toContain('tenant "life" has 1 active key(s): revoke them first, or pass --force to revoke them and delete')
    expect(await cli('tenant', 'delete', 'life', '--force')).toBe('deleted tenant life and revoked its 1 active key(s); its usage records are kept\n')
    expect(await refused('tenant', 'show', 'life')).toContain('tenant "life" does not exist')
    const report = JSON.parse(await cli('usage', 'life', '--since', '2026-04-01', '--until', '2026-05-01', '--json'))
    expect(report.total).toEqual({ requests: 1, prompt_tokens: 100, completion_tokens: 10, cost_usd_micros: 1234 })
    // Without active keys no --force is needed.
    await cli('tenant', 'create', 'empty')
    expect(await cli('tenant', 'delete', 'empty')).toBe('deleted tenant empty; its usage records are kept\n')
  })

  test('usage report by day, model and key, for one tenant or all, as text and JSON', async () => {
    const store = await openStore()
    try {
      await store.insertUsage([
        usage('rep-1', 'rep-a', 'key_a1', 'gpt-4o', 2_500, '2026-03-01T23:59:59Z'),
        usage('rep-2', 'rep-a', 'key_a2', 'gpt-4o-mini', 500, '2026-03-02T00:00:00Z'),
        usage('rep-3', 'rep-a', 'key_a1', 'gpt-4o', 1_000, '2026-03-02T12:00:00Z'),
        usage('rep-4', 'rep-b', 'key_b1', 'gpt-4o', 7, '2026-03-02T12:00:00Z'),
        usage('rep-5', 'rep-a', 'key_a1', 'gpt-4o', 99_999, '2026-02-28T23:59:59Z'), // before --since
      ])
    } finally {
      await store.close()
    }
    const window = ['--since', '2026-03-01', '--until', '2026-03-08']
    const byDay = JSON.parse(await cli('usage', 'rep-a', ...window, '--json'))
    expect(byDay).toEqual({
      tenant_id: 'rep-a', since: '2026-03-01T00:00:00.000Z', until: '2026-03-08T00:00:00.000Z', by: 'day',
      rows: [
        { tenant_id: 'rep-a', day: '2026-03-01', requests: 1, prompt_tokens: 100, completion_tokens: 10, cost_usd_micros: 2_500 },
        { tenant_id: 'rep-a', day: '2026-03-02', requests: 2, prompt_tokens: 200, completion_tokens: 20, cost_usd_micros: 1_500 },
      ],
      total: { requests: 3, prompt_tokens: 300, completion_tokens: 30, cost_usd_micros: 4_000 },
    })
    const byModel = JSON.parse(await cli('usage', 'rep-a', ...window, '--by', 'model', '--json'))
    expect(byModel.rows.map((r: { model: string; cost_usd_micros: number }) => [r.model, r.cost_usd_micros])).toEqual([['gpt-4o', 3_500], ['gpt-4o-mini', 500]])
    const byKey = JSON.parse(await cli('usage', 'rep-a', ...window, '--by', 'key', '--json'))
    expect(byKey.rows.map((r: { key_id: string; requests: number }) => [r.key_id, r.requests])).toEqual([['key_a1', 2], ['key_a2', 1]])
    const all = JSON.parse(await cli('usage', ...window, '--by', 'model', '--json'))
    expect(all.tenant_id).toBeNull()
    expect(all.rows.filter((r: { tenant_id: string }) => r.tenant_id.startsWith('rep-')).map((r: { tenant_id: string; model: string }) => `${r.tenant_id}/${r.model}`))
      .toEqual(['rep-a/gpt-4o', 'rep-a/gpt-4o-mini', 'rep-b/gpt-4o'])

    const text = (await cli('usage', 'rep-a', ...window)).split('\n')
    expect(text[0]).toBe('usage of tenant rep-a from 2026-03-01T00:00:00Z to 2026-03-08T00:00:00Z, by UTC day')
    expect(text[1]).toMatch(/^TENANT +DAY +REQUESTS +PROMPT_TOKENS +COMPLETION_TOKENS +COST_USD$/)
    expect(text[2]).toMatch(/^rep-a +2026-03-01 +1 +100 +10 +\$0\.002500$/)
    expect(text[4]).toMatch(/^TOTAL +3 +300 +30 +\$0\.004000$/)
    expect(await cli('usage', 'nobody', ...window)).toContain('no usage recorded in this window')
  })

  test('a running gateway picks up disable, enable, rotation with --grace 0 and a forced delete', async () => {
    await cli('tenant', 'create', 'live')
    const k = await newKey('live')
    const gw = await spawnGateway(['serve'], { env: env() })
    const status = async (key: string) => {
      const r = await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })
      await r.arrayBuffer()
      return r.status
    }
    const until = async (what: string, key: string, want: number) => {
      let last = 0
      for (let i = 0; i < 250; i++) {
        last = await status(key)
        if (last === want) return
        await Bun.sleep(20)
      }
      throw new Error(`${what}: still ${last}, wanted ${want}\n${gw.output()}`)
    }
    try {
      await gw.waitReady()
      expect(await status(k.secret)).toBe(200)
      await cli('tenant', 'disable', 'live')
      await until('disabled', k.secret, 403)
      await cli('tenant', 'enable', 'live')
      await until('enabled', k.secret, 200)
      const rotated = /store it now\): (\S+)/.exec(await cli('key', 'rotate', k.id, '--grace', '0'))![1]!
      await until('old key after a rotation without grace', k.secret, 401)
      expect(await status(rotated)).toBe(200)
      await cli('tenant', 'delete', 'live', '--force')
      await until('deleted tenant', rotated, 401)
    } finally {
      await gw.stop()
    }
  }, 60_000)
})
