/**
 * Key revocation across instances: two gateway processes on one Postgres; `gateway key revoke` on the command
 * line → both refuse the key within a short bounded wait (LISTEN/NOTIFY, no polling, no restart), while the
 * tenant's other key keeps working on both.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { spawnGateway, type GatewayProcess } from '../../helpers/gateway-process.ts'
import { startPostgres, type PgInstance } from '../../helpers/postgres.ts'
import { cleanupTempDirs, cli, createKey, createTenant, waitUntil, writeToml, type Env } from '../reliability/lib.ts'

const REVOKE_BOUND_MS = 3000
let pg: PgInstance
let gws: GatewayProcess[] = []
let env: Env

beforeAll(async () => {
  pg = await startPostgres()
  env = { DATABASE_URL: pg.url }
  await createTenant(env, 'rev')
  const toml = writeToml('[providers.mock]\nkind = "mock"\n')
  gws = await Promise.all([0, 1].map(() => spawnGateway(['serve', '--config', toml], { env })))
  await Promise.all(gws.map((g) => g.waitReady()))
})

afterAll(async () => {
  await Promise.all(gws.map((g) => g.stop('SIGKILL')))
  await pg?.stop()
  cleanupTempDirs()
})

const call = async (g: GatewayProcess, key: string) => {
  const res = await fetch(`${g.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mock-echo', messages: [{ role: 'user', content: 'hi' }] }),
  })
  const body = await res.text()
  return { status: res.status, body }
}

async function revokeAndWait(keyId: string, key: string): Promise<number[]> {
  const out = await cli(['key', 'revoke', keyId], env)
  expect(out).toContain(`revoked key ${keyId}`)
  const t0 = performance.now()
  return Promise.all(gws.map(async (g) => {
    await waitUntil(`instance ${g.port} to refuse the revoked key`, async () => (await call(g, key)).status === 401, REVOKE_BOUND_MS, 20)
    return Math.round(performance.now() - t0)
  }))
}

test('a key warmed at boot: revoked via CLI → refused by both instances within the bound; the other key still works', async () => {
  // Keys made after boot reach both instances through NOTIFY; use them once on each so they are cached.
  const victim = await createKey(env, 'rev')
  const keeper = await createKey(env, 'rev')
  for (const g of gws) {
    await waitUntil('the new key to be accepted', async () => (await call(g, victim.key)).status === 200, REVOKE_BOUND_MS, 20)
    expect((await call(g, keeper.key)).status).toBe(200)
  }
  const ms = await revokeAndWait(victim.keyId, victim.key)
  console.log(`revocation seen by both instances after ${JSON.stringify(ms)} ms`)
  for (const g of gws) {
    const r = await call(g, victim.key)
    expect(r.status).toBe(401)
    expect(JSON.parse(r.body).error.code).toBe('invalid_api_key')
    expect(r.body).not.toContain(victim.key)
    const models = await fetch(`${g.url}/v1/models`, { headers: { 'x-api-key': victim.key } })
    expect(models.status).toBe(401)
    expect((await call(g, keeper.key)).status).toBe(200)
  }
})

test('a key never used on one instance (not in its cache yet) is refused there too after revocation', async () => {
  const k = await createKey(env, 'rev')
  // Used on instance 0 only; instance 1 has it only through the NOTIFY reload (or not at all).
  await waitUntil('the key on instance 0', async () => (await call(gws[0]!, k.key)).status === 200, REVOKE_BOUND_MS, 20)
  await revokeAndWait(k.keyId, k.key)
  expect((await call(gws[1]!, k.key)).status).toBe(401)
})

test('revocation stays in force: repeated use after the bound is refused every time on both', async () => {
  const k = await createKey(env, 'rev')
  for (const g of gws) await waitUntil('accepted', async () => (await call(g, k.key)).status === 200, REVOKE_BOUND_MS, 20)
  await revokeAndWait(k.keyId, k.key)
  for (let i = 0; i < 10; i++) for (const g of gws) expect((await call(g, k.key)).status).toBe(401)
})
