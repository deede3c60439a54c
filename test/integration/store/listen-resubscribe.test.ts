/**
 * After a Postgres restart the LISTEN subscription comes back as soon as Postgres does. postgres.js's default
 * reconnect backoff (3^n/100 s, up to 20 s) resubscribed ~18 s after a short restart, so a key revoked
 * meanwhile stayed usable that long; the store now retries from 50 ms up to every second.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createPostgresStore, reconnectDelaySec } from '../../../src/store/postgres.ts'
import type { ChangeEvent, Store } from '../../../src/store/types.ts'
import { startPostgres, type PgInstance } from '../../helpers/postgres.ts'
import { waitUntil } from '../reliability/lib.ts'

// Long enough for the default backoff to reach its 7-20 s steps; the new one never waits more than 1 s.
const OUTAGE_MS = 10_000
const RESUBSCRIBE_WITHIN_MS = 3_000

describe('reconnectDelaySec', () => {
  test.each([
    [0, 0.05], [1, 0.05], [2, 0.1], [3, 0.2], [4, 0.4], [5, 0.8], [6, 1], [20, 1], [1000, 1],
  ])('attempt %d waits %d s at most (half of it at least)', (retries, max) => {
    expect(reconnectDelaySec(retries, () => 1)).toBeCloseTo(max, 10)
    expect(reconnectDelaySec(retries, () => 0)).toBeCloseTo(max / 2, 10)
  })
})

let pg: PgInstance
let store: Store
beforeAll(async () => {
  pg = await startPostgres()
  store = await createPostgresStore(pg.url)
  await store.migrate()
})
afterAll(async () => {
  await store?.close().catch(() => {})
  await pg?.stop()
})

test('a Postgres restart: the subscription is back at once and a change made right after is delivered', async () => {
  const events: ChangeEvent[] = []
  let resubscribed = 0
  const unlisten = await store.listen((e) => events.push(e), () => resubscribed++)
  try {
    await pg.kill()
    await Bun.sleep(OUTAGE_MS)
    await pg.restart()
    await waitUntil('the LISTEN subscription to be re-established', async () => resubscribed > 0, RESUBSCRIBE_WITHIN_MS, 20)
    await store.createTenant({ id: 'after-restart', budgetUsdMicros: null, budgetPeriod: 'total', policy: 'strict', allowedModels: null, failOpen: false })
    await waitUntil('the change notification', async () => events.some((e) => e.tenantId === 'after-restart'), 2_000, 20)
    expect(resubscribed).toBe(1)
  } finally {
    await unlisten()
  }
}, 60_000)
