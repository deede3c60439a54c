/**
 * SIGTERM with streams in flight (the fake upstream streams slowly): the listener closes at once (new
 * connections refused), every in-flight stream runs to [DONE], every reservation is settled, the ledger is
 * flushed to Postgres (rows == completed requests) and the process exits 0.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { type FakeUpstream } from '../../helpers/fake-upstream.ts'
import { type GatewayProcess } from '../../helpers/gateway-process.ts'
import { type PgInstance } from '../../helpers/postgres.ts'
import { type TestRedis } from '../../helpers/redis.ts'
import {
  acceptsConnections, chatBody, type Env, postChat, reservedInRedis, sseData, type Stack, startStack, tenantShow, usageRows, waitUntil,
} from './lib.ts'

const TENANT = `drain-${process.pid}`
const CHUNKS = 20
const INTERVAL_MS = 100 // each stream lasts about 2 s
const STREAMS = 6
const PLAIN = 4

let pg: PgInstance
let redis: TestRedis
let fake: FakeUpstream
let gw: GatewayProcess
let env: Env
let key: string

let stack: Stack

beforeAll(async () => {
  stack = await startStack({ tenants: { [TENANT]: ['--budget-usd', '5'] }, fake: { chunks: CHUNKS, intervalMs: INTERVAL_MS } })
  ;({ pg, redis, fake, env, gw } = stack)
  key = stack.keys[TENANT]!
})

afterAll(async () => {
  await stack?.stop()
})

test('SIGTERM drains in-flight streams, refuses new connections, settles and flushes everything, exits 0', async () => {
  for (let i = 0; i < PLAIN; i++) expect((await postChat(gw.url, key, chatBody())).status).toBe(200)

  // Open the streams and wait until each has delivered its first bytes: they are truly in flight.
  const dec = new TextDecoder()
  const streams = await Promise.all(Array.from({ length: STREAMS }, async () => {
    const res = await postChat(gw.url, key, chatBody({ stream: true }), { signal: AbortSignal.timeout(30_000) })
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    const first = await reader.read()
    return { reader, text: dec.decode(first.value!, { stream: true }) }
  }))

  const t0 = performance.now()
  gw.proc.kill('SIGTERM')
  await gw.waitForOutput('"msg":"shutting down"', 5000)

  // The listener is closed straight away: a fresh TCP connection is refused while the streams still run.
  await waitUntil('the listener to close', async () => !(await acceptsConnections(gw.port, 500)), 3000, 50)
  expect(performance.now() - t0).toBeLessThan(CHUNKS * INTERVAL_MS) // well before the streams could have ended
  await expect(fetch(`${gw.url}/healthz`, { keepalive: false, signal: AbortSignal.timeout(2000) })).rejects.toThrow()

  // Every in-flight stream completes: all content chunks, then [DONE].
  const bodies = await Promise.all(streams.map(async (s) => {
    let text = s.text
    for (;;) {
      const { done, value } = await s.reader.read()
      if (done) break
      text += dec.decode(value, { stream: true })
    }
    return text
  }))
  for (const text of bodies) {
    const data = sseData(text)
    expect(data.at(-1)).toBe('[DONE]')
    expect(data.filter((d) => d.startsWith('{"error"'))).toEqual([])
    const content = data.slice(0, -1).map((d) => JSON.parse(d).choices[0]?.delta?.content ?? '').join('')
    expect(content).toBe(Array.from({ length: CHUNKS }, (_, i) => `tok${i} `).join(''))
  }

  const code = await Promise.race([gw.proc.exited, Bun.sleep(20_000).then(() => 'still running after 20 s')])
  console.log(`graceful shutdown: exit ${code} after ${Math.round(performance.now() - t0)} ms`)
  expect(code).toBe(0)
  expect(gw.output()).toContain('"msg":"stopped"')
  expect(gw.output()).not.toMatch(/settle failed|release failed|ledger flush failed|deadline reached/)

  // Every reservation settled; the ledger reached Postgres before exit (no gateway left to ship anything).
  expect(await reservedInRedis(redis.url, TENANT)).toEqual({ micros: 0, open: 0 })
  const rows = await usageRows(pg.url, TENANT)
  expect(rows).toHaveLength(PLAIN + STREAMS)
  expect(rows.every((r) => r.status === 'ok')).toBe(true)
  const show = await tenantShow(env, TENANT)
  expect(show.reservedMicros).toBe(0)
  expect(show.spentMicros).toBe(rows.reduce((n, r) => n + r.cost_usd_micros, 0))
}, 60_000)
