/**
 * The embedded store hears of writes made by ANOTHER process on the same sqlite file (the `gateway key|tenant`
 * CLI next to a running gateway): it polls `PRAGMA data_version` while someone listens and emits one precise
 * change event per changed tenant or key. Every wait here is bounded.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runGateway, spawnGateway, type GatewayProcess } from '../../helpers/gateway-process.ts'
import { generateApiKey } from '../../../src/store/keys.ts'
import { createSqliteStore } from '../../../src/store/sqlite.ts'
import type { ChangeEvent, Store } from '../../../src/store/types.ts'

/** Poll interval is 250 ms; a change must be seen well within this. */
const BOUND_MS = 2000

const dirs: string[] = []
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'gw-sqlite-xproc-'))
  dirs.push(d)
  return d
}
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

async function waitFor<T>(what: string, items: T[], pred: (x: T) => boolean, timeoutMs = BOUND_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const hit = items.find(pred)
    if (hit !== undefined) return hit
    if (Date.now() > deadline) throw new Error(`${what}: not received within ${timeoutMs} ms; got ${JSON.stringify(items)}`)
    await Bun.sleep(10)
  }
}

/** Another connection on the file, standing in for another process (same pragmas as the store). */
function otherConnection(file: string): Database {
  const db = new Database(file)
  db.exec('pragma journal_mode = WAL')
  db.exec('pragma busy_timeout = 5000')
  return db
}

describe('sqlite store: changes committed by another connection', () => {
  let file: string
  let store: Store
  let other: Database

  beforeAll(async () => {
    file = join(tempDir(), 'gateway.sqlite')
    store = createSqliteStore(file)
    await store.migrate()
    other = otherConnection(file)
  })
  afterAll(async () => {
    other?.close()
    await store?.close()
  })

  test('tenant create/update and key create/revoke each reach the listener as precise events', async () => {
    const events: ChangeEvent[] = []
    let reloads = 0
    const unlisten = await store.listen((e) => events.push(e), () => reloads++)
    try {
      const now = Date.now()
      other.query(`insert into tenants (id, budget_period, policy, fail_open, created_at, updated_at)
        values ('ext', 'month', 'strict', 0, ?, ?)`).run(now, now)
      await waitFor('tenant created', events, (e) => e.kind === 'tenant' && e.tenantId === 'ext')

      let seen = events.length
      other.query(`update tenants set budget_usd_micros = 1, updated_at = ? where id = 'ext'`).run(now + 1)
      await waitFor('tenant updated', events, (e) => e.kind === 'tenant' && e.tenantId === 'ext' && events.indexOf(e) >= seen)

      const k = generateApiKey()
      seen = events.length
      other.query(`insert into api_keys (id, tenant_id, key_hash, prefix, name, created_at) values (?, 'ext', ?, ?, null, ?)`)
        .run(k.id, k.hash, k.prefix, now)
      expect(await waitFor('key created', events, (e) => e.kind === 'key' && events.indexOf(e) >= seen))
        .toEqual({ kind: 'key', tenantId: 'ext', keyHash: k.hash })

      seen = events.length
      other.query('update api_keys set revoked_at = ? where id = ?').run(now + 2, k.id)
      expect(await waitFor('key revoked', events, (e) => e.kind === 'key' && events.indexOf(e) >= seen))
        .toEqual({ kind: 'key', tenantId: 'ext', keyHash: k.hash })

      // Only what changed is reported: no event for the untouched tenant in the key changes, no reload-all.
      expect(events.filter((e) => e.kind === 'tenant')).toHaveLength(2)
      expect(reloads).toBe(0)

      // A commit that touches no config (usage from another gateway on the file) emits nothing.
      seen = events.length
      other.query(`insert into usage_records (request_id, tenant_id, key_id, model, provider, prompt_tokens,
          completion_tokens, cost_usd_micros, status, started_at, duration_ms)
        values ('r-ext', 'ext', ?, 'm', 'p', 1, 1, 1, 'ok', ?, 1)`).run(k.id, now)
      await Bun.sleep(700)
      expect(events.length).toBe(seen)
    } finally {
      await unlisten()
    }

    // Unsubscribed: the poll stopped, nothing more arrives.
    const after = events.length
    other.query(`update tenants set budget_usd_micros = 2 where id = 'ext'`).run()
    await Bun.sleep(700)
    expect(events.length).toBe(after)
  })

  test('every listener of the instance is told, and a second subscription after the last unlisten works again', async () => {
    const a: ChangeEvent[] = []
    const b: ChangeEvent[] = []
    const ua = await store.listen((e) => a.push(e))
    const ub = await store.listen((e) => b.push(e))
    other.query(`update tenants set budget_usd_micros = 3 where id = 'ext'`).run()
    await waitFor('listener a', a, (e) => e.tenantId === 'ext')
    await waitFor('listener b', b, (e) => e.tenantId === 'ext')
    await ua()
    await ub()

    const c: ChangeEvent[] = []
    const uc = await store.listen((e) => c.push(e))
    other.query(`update tenants set budget_usd_micros = 4 where id = 'ext'`).run()
    await waitFor('listener c', c, (e) => e.tenantId === 'ext')
    await uc()
    expect(a.filter((e) => e.tenantId === 'ext')).toHaveLength(1)
  })

  test('the store\'s own writes are not reported twice by the poll', async () => {
    const events: ChangeEvent[] = []
    const unlisten = await store.listen((e) => events.push(e))
    await store.updateTenant('ext', { budgetUsdMicros: 5 })
    await waitFor('own write', events, (e) => e.tenantId === 'ext')
    await Bun.sleep(700) // several poll ticks: this connection's commits do not change its data_version
    expect(events).toEqual([{ kind: 'tenant', tenantId: 'ext' }])
    await unlisten()
  })
})

test('listening before the schema exists: the first readable change asks for a full reload (onResubscribed)', async () => {
  const file = join(tempDir(), 'gateway.sqlite')
  const store = createSqliteStore(file)
  const migrator = createSqliteStore(file)
  try {
    const events: ChangeEvent[] = []
    let reloads = 0
    const unlisten = await store.listen((e) => events.push(e), () => reloads++)
    await migrator.migrate() // another connection: no baseline could be taken, so precise events are impossible
    const deadline = Date.now() + BOUND_MS
    while (reloads === 0 && Date.now() < deadline) await Bun.sleep(10)
    expect(reloads).toBe(1)
    // From then on the snapshot exists and changes are precise again.
    await migrator.createTenant({ id: 'late', budgetUsdMicros: null, budgetPeriod: 'month', policy: 'strict', allowedModels: null, failOpen: false })
    await waitFor('precise event after the reload', events, (e) => e.kind === 'tenant' && e.tenantId === 'late')
    expect(reloads).toBe(1)
    await unlisten()
  } finally {
    await store.close()
    await migrator.close()
  }
})

test('the real CLI in another process: `gateway key revoke` and `tenant set` reach a listening store', async () => {
  const dir = tempDir()
  const env = { GATEWAY_DATA_DIR: dir }
  const cli = async (args: string[]): Promise<string> => {
    const r = await runGateway(args, { env })
    if (r.code !== 0) throw new Error(`gateway ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`)
    return r.stdout
  }
  await cli(['tenant', 'create', 'acme'])
  const keyId = /key id: (\S+)/.exec(await cli(['key', 'create', 'acme']))![1]!

  const store = createSqliteStore(join(dir, 'gateway.sqlite'))
  try {
    const events: ChangeEvent[] = []
    await store.listen((e) => events.push(e))
    const hash = (await store.loadTenant('acme'))!.keys[0]!.keyHash
    await cli(['key', 'revoke', keyId])
    expect(await waitFor('revocation', events, (e) => e.kind === 'key')).toEqual({ kind: 'key', tenantId: 'acme', keyHash: hash })
    await cli(['tenant', 'set', 'acme', '--budget-usd', '3'])
    await waitFor('tenant set', events, (e) => e.kind === 'tenant' && e.tenantId === 'acme')
  } finally {
    await store.close() // also stops the poll
  }
}, 30_000)

test('a listening store never keeps its process alive (the poll timer is unref\'d)', async () => {
  const file = join(tempDir(), 'gateway.sqlite')
  const script = `
    const { createSqliteStore } = await import(${JSON.stringify(new URL('../../../src/store/sqlite.ts', import.meta.url).pathname)})
    const s = createSqliteStore(${JSON.stringify(file)})
    await s.migrate()
    await s.listen(() => {})
    console.log('listening')
  `
  const t0 = performance.now()
  const proc = Bun.spawn([process.execPath, '-e', script], { stdout: 'pipe', stderr: 'pipe' })
  const killer = setTimeout(() => proc.kill('SIGKILL'), 5000)
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited])
  clearTimeout(killer)
  expect(out).toContain('listening')
  expect(code).toBe(0)
  expect(performance.now() - t0).toBeLessThan(4000)
})

describe('a running gateway on the embedded store and the CLI in another process', () => {
  let dir: string
  let gw: GatewayProcess
  let victim: { key: string; keyId: string }
  const env = () => ({ GATEWAY_DATA_DIR: dir })
  const cli = async (args: string[]): Promise<string> => {
    const r = await runGateway(args, { env: env() })
    if (r.code !== 0) throw new Error(`gateway ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`)
    return r.stdout
  }
  const createKey = async (tenant: string) => {
    const out = await cli(['key', 'create', tenant])
    return { key: /store it now\): (\S+)/.exec(out)![1]!, keyId: /key id: (\S+)/.exec(out)![1]! }
  }
  const call = async (key: string, model = 'mock-echo') => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    })
    await res.text()
    return res.status
  }
  /** Polls until `call` returns the wanted status; returns how long it took. */
  const until = async (what: string, want: number, f: () => Promise<number>, timeoutMs = BOUND_MS): Promise<number> => {
    const t0 = performance.now()
    let last = 0
    while (performance.now() - t0 < timeoutMs) {
      last = await f()
      if (last === want) return performance.now() - t0
      await Bun.sleep(20)
    }
    throw new Error(`${what}: still ${last} after ${timeoutMs} ms (wanted ${want})\n${gw.output()}`)
  }

  beforeAll(async () => {
    dir = tempDir()
    const toml = join(dir, 'gateway.toml')
    writeFileSync(toml, '[providers.mock]\nkind = "mock"\n')
    await cli(['tenant', 'create', 'acme'])
    victim = await createKey('acme')
    gw = await spawnGateway(['serve', '--config', toml], { env: env() })
    await gw.waitReady()
  }, 60_000)
  afterAll(async () => {
    await gw?.stop('SIGKILL')
  })

  test('a key revoked with `gateway key revoke` is refused by the running gateway within the bound', async () => {
    expect(await call(victim.key)).toBe(200)
    await cli(['key', 'revoke', victim.keyId])
    const ms = await until('revoked key refused', 401, () => call(victim.key))
    console.log(`revocation seen by the running gateway after ${Math.round(ms)} ms`)
    for (let i = 0; i < 5; i++) expect(await call(victim.key)).toBe(401)
  }, 30_000)

  test('`gateway tenant set` (allowed models) and a new key created after a refused attempt take effect live', async () => {
    const k = await createKey('acme')
    expect(await call(k.key)).toBe(200)
    await cli(['tenant', 'set', 'acme', '--models', 'gpt-4o-mini']) // a known model, but not the one called
    await until('model no longer allowed', 403, () => call(k.key))
    await cli(['tenant', 'set', 'acme', '--models', 'all'])
    await until('model allowed again', 200, () => call(k.key))

    // A hash the gateway refused is remembered for a few seconds; the key event clears that at once.
    const fresh = generateApiKey()
    expect(await call(fresh.key)).toBe(401)
    const db = otherConnection(join(dir, 'gateway.sqlite'))
    try {
      db.query(`insert into api_keys (id, tenant_id, key_hash, prefix, name, created_at) values (?, 'acme', ?, ?, null, ?)`)
        .run(fresh.id, fresh.hash, fresh.prefix, Date.now())
    } finally {
      db.close()
    }
    await until('new key accepted', 200, () => call(fresh.key))
  }, 30_000)
})
