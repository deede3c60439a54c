/**
 * Redis (the budget store) killed and restarted under load, with the gateway as a real process.
 * While Redis is down every new request fails fast and closed (503 budget_unavailable); the process never
 * crashes; once Redis is back (empty: no persistence) service resumes without restarting the gateway, and
 * when the in-flight requests are over nothing is left reserved.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { type FakeUpstream } from '../../helpers/fake-upstream.ts'
import { type GatewayProcess } from '../../helpers/gateway-process.ts'
import { type PgInstance } from '../../helpers/postgres.ts'
import { type TestRedis } from '../../helpers/redis.ts'
import {
  chatBody, type Env, postChat, reservedInRedis, sseData, type Stack, startStack, tenantShow, usageRows, waitUntil,
} from './lib.ts'

const TENANT = 'redis-fault'
let pg: PgInstance
let redis: TestRedis
let fake: FakeUpstream
let gw: GatewayProcess
let env: Env
let key: string

let stack: Stack

beforeAll(async () => {
  // Non-streamed replies take 30 ms, streams 5 chunks 20 ms apart: requests overlap the kill.
  stack = await startStack({ tenants: { [TENANT]: ['--budget-usd', '50'] }, toml: { timeoutMs: 2000 }, fake: { latencyMs: 30, intervalMs: 20, chunks: 5 }, ownRedis: true })
  ;({ pg, redis, fake, env, gw } = stack)
  key = stack.keys[TENANT]!
})

afterAll(async () => {
  await stack?.stop()
})

type Outcome = { phase: string; status: number; code: string | null; ms: number; message: string; streamOk: boolean | null }

/** `workers` clients in a loop until stop() (each request bounded by an abort timer), recording every outcome. */
function loadGenerator(workers: number) {
  const outcomes: Outcome[] = []
  let phase = 'before'
  let running = true
  const one = async (i: number, n: number) => {
    const stream = (i + n) % 2 === 0
    const t0 = performance.now()
    const res = await postChat(gw.url, key, chatBody(stream ? { stream: true } : {}), { signal: AbortSignal.timeout(10_000) })
    const text = await res.text()
    const ms = performance.now() - t0
    let code: string | null = null
    let message = ''
    let streamOk: boolean | null = null
    if (res.status !== 200) {
      const e = JSON.parse(text).error
      code = e.code
      message = e.message
    } else if (stream) {
      streamOk = sseData(text).at(-1) === '[DONE]'
    }
    outcomes.push({ phase, status: res.status, code, ms, message, streamOk })
    // Refusals come back in well under a millisecond: pace them so a long outage cannot exhaust the loop bound.
    if (res.status !== 200) await Bun.sleep(5)
  }
  const loops = Array.from({ length: workers }, async (_, i) => {
    for (let n = 0; running && n < 20_000; n++) {
      try {
        await one(i, n)
      } catch (e) {
        outcomes.push({ phase, status: -1, code: String(e), ms: 0, message: '', streamOk: null })
      }
    }
  })
  return {
    outcomes,
    setPhase: (p: string) => { phase = p },
    stop: async () => { running = false; await Promise.all(loops) },
  }
}

test('Redis killed and restarted under load: fail fast with 503, no crash, recovery without restart, no reservation left, no record lost', async () => {
  const load = loadGenerator(6)
  let probesServed = 0
  try {
    await Bun.sleep(800)
    expect(load.outcomes.filter((o) => o.phase === 'before').length).toBeGreaterThan(10)

    load.setPhase('down')
    await redis.kill()
    await Bun.sleep(2500)
    const ready = await fetch(`${gw.url}/readyz`)
    expect(ready.status).toBe(503)
    expect(await ready.text()).toContain('budget store')

    load.setPhase('restarting')
    await redis.restart()
    // Recovery without touching the gateway: the same process answers 200 again within a bounded wait.
    await waitUntil('a 200 after the Redis restart', async () => {
      const r = await postChat(gw.url, key, chatBody())
      await r.text()
      if (r.status === 200) probesServed++
      return r.status === 200
    }, 15_000, 100)
    load.setPhase('after')
    await Bun.sleep(1000)
  } finally {
    await load.stop()
  }

  const by = (p: string) => load.outcomes.filter((o) => o.phase === p)
  const summary = Object.fromEntries(['before', 'down', 'restarting', 'after'].map((p) => [p, {
    n: by(p).length, ok: by(p).filter((o) => o.status === 200).length, max_ms: Math.round(Math.max(0, ...by(p).map((o) => o.ms))),
  }]))
  console.log('redis fault load:', JSON.stringify(summary))
  // No transport-level failure anywhere: the gateway never dropped a connection or died.
  expect(load.outcomes.filter((o) => o.status === -1)).toEqual([])
  expect(gw.proc.exitCode).toBeNull()

  // Every admitted stream ran to [DONE], also those in flight while Redis died (their settle is logged, not fatal).
  expect(load.outcomes.filter((o) => o.streamOk === false)).toEqual([])

  // Before: all served.
  expect(by('before').every((o) => o.status === 200)).toBe(true)

  // Down: only successes (requests admitted just before the kill) or fast, closed 503 budget_unavailable.
  const down = by('down')
  const refused = down.filter((o) => o.status !== 200)
  expect(refused.length).toBeGreaterThan(10)
  for (const o of refused) expect({ status: o.status, code: o.code }).toEqual({ status: 503, code: 'budget_unavailable' })
  const slowest = Math.max(...refused.map((o) => o.ms))
  expect(slowest).toBeLessThan(2000) // fail fast: about the command timeout, not a hung queue

  // After the restart the tail of the run is served normally again (streams complete with [DONE]).
  const after = by('after')
  expect(after.length).toBeGreaterThan(10)
  expect(after.filter((o) => o.status !== 200)).toEqual([])
  expect(after.filter((o) => o.streamOk === false)).toEqual([])

  // In-flight requests are over: nothing reserved, per Redis and per the CLI. Requests that ended while Redis was
  // down had their reservations put back when it returned, until their settles are retried (every second).
  await waitUntil('reservations drained', async () => {
    const r = await reservedInRedis(redis.url, TENANT)
    return r.micros === 0 && r.open === 0
  }, 10_000)
  const show = await tenantShow(env, TENANT)
  expect(show.reservedMicros).toBe(0)
  expect(show.spentMicros).toBeGreaterThan(0)

  // Every served request is in usage_records once, also those settled just before the kill (lost with Redis: written
  // back by the gateway) and those that ended while Redis was down (settled when it returned); Σ cost = spent.
  const served = load.outcomes.filter((o) => o.status === 200).length + probesServed
  const rows = await waitUntil('every served request shipped', async () => {
    const r = await usageRows(pg.url, TENANT)
    return r.length >= served ? r : null
  }, 15_000)
  const spent = (await tenantShow(env, TENANT)).spentMicros
  console.log(`redis fault ledger: served=${served} rows=${rows.length} Σrows=${rows.reduce((n, r) => n + r.cost_usd_micros, 0)} spent=${spent}`)
  expect(rows.length).toBe(served)
  expect(rows.reduce((n, r) => n + r.cost_usd_micros, 0)).toBe(spent)
  expect((await fetch(`${gw.url}/readyz`)).status).toBe(200)
  expect(gw.output()).not.toContain('"unhandled error"')
}, 60_000)

test('the 503 refusal carries a fixed message, never the Redis client\'s internal error text', async () => {
  await redis.kill()
  try {
    const res = await postChat(gw.url, key, chatBody())
    expect(res.status).toBe(503)
    const body = (await res.json()) as { error: { code: string; message: string; request_id: string } }
    expect(body.error.code).toBe('budget_unavailable')
    expect(body.error.request_id).toBe(res.headers.get('x-request-id')!)
    // Internal topology (host:port of Redis) is for the logs, not for API clients.
    expect(body.error.message).not.toContain(String(redis.port))
    expect(body.error.message).not.toMatch(/ECONNREFUSED|enableOfflineQueue|Stream isn't writeable/)
  } finally {
    await redis.restart()
    await waitUntil('recovery', async () => (await fetch(`${gw.url}/readyz`)).status === 200, 15_000)
  }
}, 30_000)
