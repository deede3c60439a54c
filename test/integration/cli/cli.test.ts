/** The command line as ops use it: subcommands against the embedded store and Postgres, and every refusal exits 2. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runGateway } from '../../helpers/gateway-process.ts'
import { startPostgres, type PgInstance } from '../../helpers/postgres.ts'
import { freePort } from '../../helpers/ports.ts'

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
afterAll(async () => {
  await pg?.stop()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('usage errors exit 2 with one clear message', () => {
  test.each([
    [['--bogus'], 'unknown flag --bogus'],
    [['--port', 'x', '--warm-limit', '-1'], '--warm-limit must be'],
    [['frobnicate'], 'unknown command "frobnicate"'],
    [['tenant', 'explode', 'x'], 'unknown tenant subcommand'],
    [['tenant', 'create'], 'missing tenant ID'],
    [['tenant', 'create', 'bad id!'], 'tenant ID may only contain'],
    [['tenant', 'create', 'x', '--period', 'week'], '--period must be total, day or month'],
    [['key', 'create', 'nobody'], 'tenant "nobody" does not exist'],
    [['key', 'revoke', 'nokey'], 'key "nokey" does not exist'],
  ])('%j', async (args, message) => {
    const r = await runGateway(args, { env: { GATEWAY_DATA_DIR: tempDir() } })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(message)
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

test('--help and --version tell the truth', async () => {
  const help = await runGateway(['--help'])
  expect(help.code).toBe(0)
  for (const s of ['migrate', 'tenant create', 'key revoke', 'demo', '--warm-limit', 'DATABASE_URL', 'REDIS_URL']) expect(help.stdout).toContain(s)
  const version = await runGateway(['--version'])
  expect(version.stdout).toMatch(/^gateway \d+\.\d+\.\d+/)
})

describe.each(['sqlite', 'postgres'] as const)('admin commands on %s', (kind) => {
  const env = () => (kind === 'postgres' ? { DATABASE_URL: pg.url } : { GATEWAY_DATA_DIR: sharedDir })
  let sharedDir = ''
  beforeAll(() => {
    sharedDir = tempDir()
  })

  test('migrate is idempotent', async () => {
    const first = await runGateway(['migrate'], { env: env() })
    expect(first.code).toBe(0)
    const second = await runGateway(['migrate'], { env: env() })
    expect(second.code).toBe(0)
    expect(second.stdout).toContain('schema is up to date')
  })

  test('tenant create / duplicate / set / show; key create / revoke', async () => {
    const created = await runGateway(['tenant', 'create', 'acme', '--budget-usd', '2.5', '--period', 'day', '--models', 'gpt-4o-mini'], { env: env() })
    expect(created.code).toBe(0)
    expect(created.stdout).toContain('tenant acme: budget $2.500000 per day, policy strict, models gpt-4o-mini')
    const dup = await runGateway(['tenant', 'create', 'acme'], { env: env() })
    expect(dup.code).toBe(2)
    expect(dup.stderr).toContain('tenant "acme" already exists')
    const set = await runGateway(['tenant', 'set', 'acme', '--policy', 'fixed', '--models', 'all'], { env: env() })
    expect(set.stdout).toContain('policy fixed, models all')
    const key = await runGateway(['key', 'create', 'acme', '--name', 'ci'], { env: env() })
    expect(key.code).toBe(0)
    const keyId = /key id: (\S+)/.exec(key.stdout)![1]!
    const secret = /shown once, store it now\): (\S+)/.exec(key.stdout)![1]!
    expect(secret).toMatch(/^gw_/)
    const show = await runGateway(['tenant', 'show', 'acme'], { env: env() })
    expect(show.code).toBe(0)
    expect(show.stdout).toMatch(/period day:\d{4}-\d{2}-\d{2}: spent \$0\.000000, reserved \$0\.000000, remaining \$2\.500000/)
    expect(show.stdout).toContain(keyId)
    expect(show.stdout).not.toContain(secret)
    const revoke = await runGateway(['key', 'revoke', keyId], { env: env() })
    expect(revoke.stdout).toContain(`revoked key ${keyId} of tenant acme`)
    expect((await runGateway(['tenant', 'show', 'acme'], { env: env() })).stdout).toContain('0 active, 1 revoked')
  })
})
