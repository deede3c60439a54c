/**
 * The command line as ops use it: subcommands against the embedded store and Postgres, every refusal exits 2,
 * every admin command names its store on stderr, Redis is needed only for live figures, pipes are safe.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { adminCommandNames } from '../../../src/cli/admin.ts'
import { describePostgresUrl } from '../../../src/store/index.ts'
import { postgresMigrations, sqliteMigrations } from '../../../src/store/migrations/index.ts'
import { createPostgresStore } from '../../../src/store/postgres.ts'
import { createSqliteStore } from '../../../src/store/sqlite.ts'
import type { Store } from '../../../src/store/types.ts'
import { childEnv, runGateway } from '../../helpers/gateway-process.ts'
import { startPostgres, type PgInstance } from '../../helpers/postgres.ts'
import { freePort } from '../../helpers/ports.ts'

const ROOT = new URL('../../..', import.meta.url).pathname
const VERSIONS = postgresMigrations.map((m) => m.version)
const dirs: string[] = []
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'gw-cli-'))
  dirs.push(d)
  return d
}
let pg: PgInstance
beforeAll(async () => {
  pg = await startPostgres()
})
test('both stores have the same migration versions (one version string names the schema)', () => {
  expect(sqliteMigrations.map((m) => m.version)).toEqual(VERSIONS)
})

afterAll(async () => {
  await pg?.stop()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('usage errors exit 2 with one clear message', () => {
  test.each([
    [['--bogus'], 'unknown flag --bogus'],
    [['--port', 'x', '--warm-limit', '-1'], '--warm-limit must be'],
    [['frobnicate'], 'unknown command "frobnicate"'],
    [['tenant', 'explode', 'x'], 'unknown tenant subcommand "explode" (expected create, set, show, list, disable, enable or delete)'],
    [['tenant', 'create'], 'missing tenant ID'],
    [['tenant', 'create', 'bad id!'], 'tenant ID may only contain'],
    [['tenant', 'create', 'x', '--period', 'week'], '--period must be total, day or month'],
    [['tenant', 'create', 'x', '--models', 'gpt-4o-mini,gpt-5-ultra'], '--models: unknown model "gpt-5-ultra"; known models: claude-haiku-4-5,'],
    [['tenant', 'set', 'x'], 'nothing to change'],
    [['tenant', 'list', 'extra'], 'unexpected argument "extra" for "tenant list"'],
    [['tenant', 'show', 'x', '--force'], 'flag --force does not apply to "tenant show"'],
    [['tenant', 'list', '--json=yes'], 'flag --json takes no value'],
    [['key', 'create', 'nobody'], 'tenant "nobody" does not exist'],
    [['key', 'revoke', 'nokey'], 'key "nokey" does not exist'],
    [['key', 'rotate', 'nokey'], 'key "nokey" does not exist'],
    [['key', 'list', 'nobody'], 'tenant "nobody" does not exist'],
    [['key', 'create', 't', '--expires-in', '30'], '--expires-in: "30" is not a duration'],
    [['key', 'create', 't', '--expires-in', '1d', '--expires-at', '2030-01-01'], 'give --expires-in or --expires-at, not both'],
    [['key', 'create', 't', '--expires-at', '2030-01-01T00:00:00'], '--expires-at: "2030-01-01T00:00:00" has no time zone'],
    [['key', 'rotate', 'k', '--grace', 'forever'], '--grace: "forever" is not a duration'],
    [['tenant', 'disable', 'nobody'], 'tenant "nobody" does not exist'],
    [['tenant', 'delete', 'nobody'], 'tenant "nobody" does not exist'],
    [['usage', '--by', 'week'], '--by must be day, model or key'],
    [['usage', '--since', 'last tuesday'], '--since: "last tuesday" is not a date'],
    [['usage', '--since', '2026-02-01', '--until', '2026-01-01'], 'the end of the report window must be after its start'],
  ])('%j', async (args, message) => {
    const r = await runGateway(args, { env: { GATEWAY_DATA_DIR: tempDir() } })
    expect(r.stderr).toContain(message)
    expect(r.code).toBe(2)
  })

  test('a key cannot be created already expired', async () => {
    const env = { GATEWAY_DATA_DIR: tempDir() }
    expect((await runGateway(['tenant', 'create', 't'], { env })).code).toBe(0)
    const r = await runGateway(['key', 'create', 't', '--expires-at', '2020-01-01'], { env })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('the expiry 2020-01-01T00:00:00.000Z is not in the future')
  })

  test('models of the --config file are known to --models', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'g.toml'), '[providers.local]\nkind = "openai"\nbase_url = "http://127.0.0.1:1/v1"\n[models."llama-3"]\nprovider = "local"\ninput_usd_per_mtok = 0\noutput_usd_per_mtok = 0\n')
    const r = await runGateway(['tenant', 'create', 'x', '--models', 'llama-3', '--config', join(dir, 'g.toml')], { env: { GATEWAY_DATA_DIR: dir } })
    expect(r.stdout).toContain('models llama-3')
    expect(r.code).toBe(0)
  })

  test('bad TOML names the file and the problem', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'g.toml'), '[server\nport = 1')
    const r = await runGateway(['--config', join(dir, 'g.toml')])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(`config file ${join(dir, 'g.toml')}: invalid TOML`)
  })

  test('unreachable Postgres at boot: exit 2 naming the database', async () => {
    const port = await freePort()
    const r = await runGateway(['serve'], { env: { DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/x` } })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('database:')
  })

  test('unreachable Redis at boot: exit 2 naming Redis', async () => {
    const port = await freePort()
    const r = await runGateway(['serve'], { env: { GATEWAY_DATA_DIR: tempDir(), REDIS_URL: `redis://127.0.0.1:${port}` } })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('redis:')
  })
})

test.each([[['--help']], [['help']], [['-h']], [['help', 'tenant']]])('%j prints the help, which names every admin command', async (args) => {
  const help = await runGateway(args)
  expect(help.code).toBe(0)
  for (const s of ['demo', '--warm-limit', 'DATABASE_URL', 'REDIS_URL', '--json', '--expires-in', '--grace', '--force', '--since']) expect(help.stdout).toContain(s)
  for (const cmd of adminCommandNames()) expect(help.stdout).toContain(`gateway ${cmd}`)
})

test.each([[['--version']], [['version']], [['-v']]])('%j prints the version', async (args) => {
  const version = await runGateway(args)
  expect(version.code).toBe(0)
  expect(version.stdout).toMatch(/^gateway \d+\.\d+\.\d+ \(bun \d/)
})

test('without DATABASE_URL and data dir: the default ./gateway-data is named, with a warning', async () => {
  const cwd = tempDir()
  const r = await runGateway(['tenant', 'list'], { cwd })
  expect(r.code).toBe(0)
  const file = resolve(cwd, 'gateway-data', 'gateway.sqlite')
  expect(r.stderr).toContain(`gateway: store: embedded sqlite ${file} (new, empty: created now)\n`)
  expect(r.stderr).toContain('gateway: warning: DATABASE_URL is not set: using the embedded store in the default data directory ./gateway-data')
  const again = await runGateway(['tenant', 'list'], { cwd })
  expect(again.stderr).toContain(`gateway: store: embedded sqlite ${file}\n`)
  // A named data directory is a choice, not an accident: no warning.
  const named = await runGateway(['tenant', 'list'], { cwd, env: { GATEWAY_DATA_DIR: join(cwd, 'elsewhere') } })
  expect(named.stderr).not.toContain('warning')
})

describe.each(['sqlite', 'postgres'] as const)('admin commands on %s', (kind) => {
  let sharedDir = ''
  const env = (extra: Record<string, string> = {}) => ({ ...(kind === 'postgres' ? { DATABASE_URL: pg.url } : { GATEWAY_DATA_DIR: sharedDir }), ...extra })
  const storeLine = () => kind === 'postgres'
    ? `gateway: store: postgres ${describePostgresUrl(pg.url)}\n`
    : `gateway: store: embedded sqlite ${join(sharedDir, 'gateway.sqlite')}`
  const openStore = async (): Promise<Store> => (kind === 'postgres' ? createPostgresStore(pg.url) : createSqliteStore(join(sharedDir, 'gateway.sqlite')))
  const gw = (args: string[], extra: Record<string, string> = {}) => runGateway(args, { env: env(extra) })
  beforeAll(() => {
    sharedDir = tempDir()
  })

  test('migrate lists what it applied on a fresh store, then names the current version; the store is on stderr', async () => {
    const first = await gw(['migrate'])
    expect(first.code).toBe(0)
    expect(first.stdout).toBe(`applied migrations: ${VERSIONS.join(', ')}\nschema is now at version ${VERSIONS.at(-1)}\n`)
    expect(first.stderr).toStartWith(storeLine())
    expect(first.stderr).not.toContain('warning')
    const second = await gw(['migrate'])
    expect(second.code).toBe(0)
    expect(second.stdout).toBe(`schema is up to date at version ${VERSIONS.at(-1)}: no migrations pending\n`)
  })

  test('tenant create / duplicate / set / show; key create / revoke', async () => {
    const created = await gw(['tenant', 'create', 'acme', '--budget-usd', '2.5', '--period', 'day', '--models', 'gpt-4o-mini'])
    expect(created.code).toBe(0)
    expect(created.stdout).toContain('tenant acme: budget $2.500000 per day, policy strict, models gpt-4o-mini')
    expect(created.stderr).toStartWith(storeLine())
    const dup = await gw(['tenant', 'create', 'acme'])
    expect(dup.code).toBe(2)
    expect(dup.stderr).toContain('tenant "acme" already exists')
    const set = await gw(['tenant', 'set', 'acme', '--policy', 'fixed', '--models', 'all'])
    expect(set.stdout).toContain('policy fixed, models all')
    const key = await gw(['key', 'create', 'acme', '--name', 'ci'])
    expect(key.code).toBe(0)
    const keyId = /key id: (\S+)/.exec(key.stdout)![1]!
    const secret = /shown once, store it now\): (\S+)/.exec(key.stdout)![1]!
    expect(secret).toMatch(/^gw_/)
    const show = await gw(['tenant', 'show', 'acme'])
    expect(show.code).toBe(0)
    expect(show.stdout).toMatch(/period day:\d{4}-\d{2}-\d{2}: spent \$0\.000000, reserved \$0\.000000, remaining \$2\.500000/)
    expect(show.stdout).toContain(keyId)
    expect(show.stdout).not.toContain(secret)
    const revoke = await gw(['key', 'revoke', keyId])
    expect(revoke.stdout).toContain(`revoked key ${keyId} of tenant acme`)
    expect((await gw(['tenant', 'show', 'acme'])).stdout).toContain('0 active, 1 revoked')
  })

  test('with Redis unreachable every store-only command works; tenant show degrades to recorded usage and exits 0', async () => {
    const redis = { REDIS_URL: `redis://:r3dispass@127.0.0.1:${await freePort()}` }
    const ok = async (args: string[]) => {
      const r = await gw(args, redis)
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: expect.any(String) })
      expect(r.stderr).not.toContain('r3dispass')
      return r
    }
    await ok(['migrate'])
    await ok(['tenant', 'create', 'outage', '--budget-usd', '1'])
    await ok(['tenant', 'set', 'outage', '--period', 'day'])
    const keyId = /key id: (\S+)/.exec((await ok(['key', 'create', 'outage'])).stdout)![1]!
    await ok(['key', 'rotate', keyId])
    await ok(['key', 'revoke', keyId])
    await ok(['key', 'list', 'outage'])
    await ok(['tenant', 'disable', 'outage'])
    await ok(['tenant', 'enable', 'outage'])
    await ok(['tenant', 'list'])
    await ok(['usage', 'outage'])
    const show = await ok(['tenant', 'show', 'outage'])
    expect(show.stdout).toContain('tenant outage: budget $1.000000 per day')
    expect(show.stdout).toMatch(/period day:\S+: spent \$0\.000000, reserved \$0\.000000, remaining \$1\.000000 \(from recorded usage: live spent\/reserved figures are unavailable: cannot reach Redis at 127\.0\.0\.1:\d+/)
    expect(show.stderr).toContain('gateway: warning: live budget figures unavailable (cannot reach Redis at 127.0.0.1:')
    const json = JSON.parse((await ok(['tenant', 'show', 'outage', '--json'])).stdout)
    expect(json.budget).toMatchObject({ source: 'recorded', spent_usd_micros: 0, reserved_usd_micros: null, remaining_usd_micros: 1_000_000 })
    expect(json.budget.live_unavailable).toContain('cannot reach Redis')
    await ok(['tenant', 'delete', 'outage', '--force'])
  }, 60_000)

  test('piped into `head -1`: exits 0 without an EPIPE trace; a slow reader still gets every line', async () => {
    const store = await openStore()
    try {
      await store.migrate()
      const ids = Array.from({ length: 1500 }, (_, i) => `pipe-${String(i).padStart(4, '0')}`)
      for (let i = 0; i < ids.length; i += 50) {
        await Promise.all(ids.slice(i, i + 50).map((id) => store.createTenant({
          id, budgetUsdMicros: null, budgetPeriod: 'month', policy: 'strict', allowedModels: ['gpt-4o-mini', 'gpt-4o', 'claude-haiku-4-5'], failOpen: false,
        })))
      }
    } finally {
      await store.close()
    }
    const gateway = `'${process.execPath}' '${ROOT}src/main.ts'`
    const sh = (script: string) => Bun.spawn(['bash', '-c', script], { env: childEnv(env()), stdout: 'pipe', stderr: 'pipe' })
    const head = sh(`${gateway} tenant list | head -1; echo "exit=\${PIPESTATUS[0]}"`)
    const [out, err] = await Promise.all([new Response(head.stdout).text(), new Response(head.stderr).text(), head.exited])
    expect(out).toMatch(/^ID +BUDGET +PERIOD/)
    expect(out).toContain('exit=0')
    expect(err).not.toMatch(/EPIPE|fatal|error/i)
    // process.exit() must not cut off what a slow reader has not taken yet (the output is well over a pipe buffer).
    const slow = sh(`${gateway} tenant list --json | (sleep 1; cat)`)
    const [json] = await Promise.all([new Response(slow.stdout).text(), slow.exited])
    expect(json.length).toBeGreaterThan(256 * 1024)
    expect((JSON.parse(json) as { id: string }[]).filter((t) => t.id.startsWith('pipe-'))).toHaveLength(1500)
  }, 60_000)
})
