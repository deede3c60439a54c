/**
 * Postgres (tenants, keys, usage_records) down at boot and after boot, with the gateway as a real process.
 * Down at boot: one clear message and exit code 2. Down after boot: warmed tenants keep being served from
 * memory, their usage records wait in the Redis ledger streams and are flushed to usage_records once
 * Postgres is back (counted row by row).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Redis } from 'ioredis'
import { startFakeUpstream, type FakeUpstream } from '../../helpers/fake-upstream.ts'
import { runGateway, spawnGateway, type GatewayProcess } from '../../helpers/gateway-process.ts'
import { startPostgres, type PgInstance } from '../../helpers/postgres.ts'
import { freePort } from '../../helpers/ports.ts'
import { startRedis, type TestRedis } from '../../helpers/redis.ts'
import {
  chatBody, cleanupTempDirs, createKey, createTenant, gatewayToml, postChat, PROVIDER_KEY, sseData, tempDir,
  usageRows, waitUntil, writeToml, type Env,
} from './lib.ts'

let redis: TestRedis
let fake: FakeUpstream

beforeAll(async () => {
  ;[redis, fake] = await Promise.all([startRedis(), startFakeUpstream()])
})
afterAll(async () => {
  await Promise.all([fake?.stop(), redis?.stop()])
  cleanupTempDirs()
})

describe('Postgres down at boot', () => {
  test('serve exits 2 with one clear message naming the database, without the password, within a bounded time', async () => {
    const pg = await startPostgres({ own: true })
    const url = new URL(pg.url)
    await pg.stop() // the port is now closed: nothing listens there
    url.password = 'hunter2-do-not-print'
    const t0 = performance.now()
    const r = await runGateway(['serve', '--port', String(await freePort()), '--host', '127.0.0.1'], {
      env: { DATABASE_URL: url.toString(), REDIS_URL: redis.url, GATEWAY_DATA_DIR: tempDir() },
    })
    const ms = performance.now() - t0
    expect(r.code).toBe(2)
    expect(ms).toBeLessThan(10_000)
    const lines = r.stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^gateway: database: cannot connect to Postgres at /)
    expect(r.stderr).not.toContain('hunter2-do-not-print')
    expect(r.stderr).not.toMatch(/\n\s+at /) // no stack trace
    expect(r.stdout).not.toContain('"msg":"ready"')
  })

  test('a port that accepts TCP but never speaks Postgres: still exit 2, bounded by the connect timeout', async () => {
    const silent = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
    try {
      const t0 = performance.now()
      const r = await runGateway(['serve', '--port', String(await freePort()), '--host', '127.0.0.1'], {
        env: { DATABASE_URL: `postgres://postgres@127.0.0.1:${silent.port}/x`, GATEWAY_DATA_DIR: tempDir() },
      })
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('gateway: database:')
      expect(performance.now() - t0).toBeLessThan(15_000)
    } finally {
      silent.stop(true)
    }
  }, 30_000)
})

describe('Postgres down after boot', () => {
  const TENANT = 'pg-outage'
  let pg: PgInstance
  let gw: GatewayProcess
  let env: Env
  let key: string

  beforeAll(async () => {
    pg = await startPostgres({ own: true })
    env = { DATABASE_URL: pg.url, REDIS_URL: redis.url, UP_KEY: PROVIDER_KEY }
    await createTenant(env, TENANT, ['--budget-usd', '5'])
    key = (await createKey(env, TENANT)).key
    gw = await spawnGateway(['serve', '--config', writeToml(gatewayToml({ upstreamUrl: fake.url }))], { env })
    await gw.waitReady()
  })
  afterAll(async () => {
    await gw?.stop('SIGKILL')
    await pg?.stop()
  })

  test('warmed tenants keep working; usage waits in Redis and reaches usage_records once Postgres is back', async () => {
    // Before the outage: the spent counter exists in Redis and the first records are shipped.
    for (let i = 0; i < 3; i++) expect((await postChat(gw.url, key, chatBody())).status).toBe(200)
    await waitUntil('3 rows before the outage', async () => (await usageRows(pg.url, TENANT)).length === 3, 15_000)

    await pg.kill()
    const during = 12
    const statuses: number[] = []
    for (let i = 0; i < during; i++) {
      const stream = i % 2 === 1
      const res = await postChat(gw.url, key, chatBody(stream ? { stream: true } : {}), { signal: AbortSignal.timeout(10_000) })
      const text = await res.text()
      statuses.push(res.status)
      if (stream && res.status === 200) expect(sseData(text).at(-1)).toBe('[DONE]')
    }
    expect(statuses).toEqual(Array(during).fill(200))
    expect((await fetch(`${gw.url}/readyz`)).status).toBe(503) // honest: a store is down

    // The records are buffered in the tenant's Redis ledger stream, not lost.
    const r = new Redis(redis.url)
    try {
      expect(await r.xlen(`gw:{t:${TENANT}}:ledger`)).toBe(during)
    } finally {
      r.disconnect()
    }

    await pg.restart()
    // The shipper backs off while Postgres is down (up to 30 s between tries); wait for it, bounded.
    const rows = await waitUntil(`${3 + during} rows after the outage`, async () => {
      const rows = await usageRows(pg.url, TENANT)
      return rows.length === 3 + during ? rows : null
    }, 45_000, 250)
    expect(new Set(rows.map((x) => x.request_id)).size).toBe(3 + during)
    expect(rows.every((x) => x.status === 'ok')).toBe(true)
    expect(gw.proc.exitCode).toBeNull()
    await waitUntil('readyz 200 again', async () => (await fetch(`${gw.url}/readyz`)).status === 200, 10_000)
  }, 90_000)

  test('an unknown key while Postgres is down is refused with 503 store_unavailable, not a 500', async () => {
    await pg.kill()
    try {
      const t0 = performance.now()
      const res = await postChat(gw.url, 'gw_this-key-is-not-in-the-warm-cache-0000000000', chatBody(), { signal: AbortSignal.timeout(15_000) })
      const body = (await res.json()) as { error: { code: string; type: string } }
      expect(performance.now() - t0).toBeLessThan(10_000)
      expect(res.status).toBe(503)
      expect(body.error.code).toBe('store_unavailable')
      // The warmed key still works in the same outage.
      expect((await postChat(gw.url, key, chatBody())).status).toBe(200)
    } finally {
      await pg.restart()
    }
  }, 60_000)
})
