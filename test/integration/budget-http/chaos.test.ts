/**
 * Concurrent requests with client disconnects (mid-stream, and while a non-streamed call is pending) and
 * upstream failures (before any token, and mid-stream) mixed in, on both ledgers and both policies: totals stay
 * exact. spent == Σ settled costs read back from usage_records; every request that produced tokens (or whose
 * client left while the upstream worked) is settled, never released; only failures before any token are
 * released; reserved returns to 0; strict never exceeds the limit.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Store } from '../../../src/store/types.ts'
import { type PgInstance } from '../../helpers/postgres.ts'
import { type TestRedis } from '../../helpers/redis.ts'
import {
  body, chat, count, eventually, EXACT_COST, expectedCost, startHttpGateway, uid, usageRows,
  type HttpGateway, type LedgerKind, type Outcome, startStores, type Stores,
} from './harness.ts'

const N = 300
let pg: PgInstance
let redis: TestRedis
let store: Store
let stores: Stores
let rows: ReturnType<typeof usageRows>
const gateways: Partial<Record<LedgerKind, HttpGateway>> = {}

beforeAll(async () => {
  stores = await startStores()
  ;({ pg, redis, store, rows } = stores)
})

afterAll(async () => {
  for (const g of Object.values(gateways)) await g?.close()
  await stores?.stop()
})

type Plan = { words: string; stream: boolean; abortOnFirstContent?: boolean; abortAfterMs?: number }

/** Request i's role, by i mod 10: 5 plain, 2 upstream failures, 1 mid-stream failure, 2 disconnects. */
function plan(i: number): Plan {
  switch (i % 10) {
    case 4: return { words: 'fail-early a b', stream: true }
    case 5: return { words: 'fail-early a b', stream: false }
    case 6: return { words: 'fail-mid a b c', stream: true }
    case 7: return { words: 'slow a b c', stream: true, abortOnFirstContent: true }
    case 8: return { words: 'slow a b c', stream: false, abortAfterMs: 60 }
    default: return { words: `ok ${i} b`, stream: i % 2 === 1 }
  }
}

for (const kind of ['redis', 'slices', 'memory'] as const) {
  for (const policy of ['strict', 'fixed'] as const) {
    describe(`${kind} ledger, ${policy}`, () => {
      test(`${N} concurrent requests with disconnects and upstream errors: exact totals`, async () => {
        const g = (gateways[kind] ??= await startHttpGateway(kind, store, kind === 'memory' ? undefined : redis.url))
        const before = { ...g.calls }
        const limit = 120 * EXACT_COST + 1234
        const t = uid(`chaos-${kind}-${policy}`)
        const key = await g.addTenant({ id: t, budgetUsdMicros: limit, policy })

        const plans = Array.from({ length: N }, (_, i) => plan(i))
        const out: Outcome[] = await Promise.all(plans.map((p) =>
          chat(g.url, key, body('exact', p.words, p.stream), { abortOnFirstContent: p.abortOnFirstContent, abortAfterMs: p.abortAfterMs })))
        const calls = Object.fromEntries(Object.entries(g.calls).map(([k, v]) => [k, v - before[k as keyof typeof before]])) as typeof g.calls

        // What the client saw matches what the upstream was asked to do.
        const of = (w: string, o: (x: Outcome, p: Plan) => boolean) => count(out.map((x, i) => [x, plans[i]] as const), ([x, p]) => p.words.startsWith(w) && o(x, p))
        expect(of('ok', (x) => x.status === 200 && x.usage !== null && !x.streamError)).toBe(calls.ok)
        expect(of('fail-early', (x) => x.status === 502)).toBe(calls['fail-early'])
        expect(of('fail-mid', (x) => x.status === 200 && x.streamError && x.error?.code === 'upstream_error')).toBe(calls['fail-mid'])
        expect(of('slow', (x, p) => p.stream && x.status === 200 && x.aborted)).toBeGreaterThan(0)
        for (const o of out) {
          if (o.status === 402) expect(o.shouldRetry).toBe('false')
          else if (!o.aborted) expect([200, 502]).toContain(o.status)
        }

        // Server-side settles of abandoned requests finish after the clients left.
        const snap = await eventually('reserved back to 0', () => g.ledger.snapshot(t, 'total'), (s) => s.reservedMicros === 0)
        await g.ship([t])
        const recs = await eventually('every settle shipped', () => rows.of(t), (r) => r.length >= calls.ok + calls['fail-mid'] + calls.slow)
        const byStatus = (s: string) => recs.filter((r) => r.status === s)

        // Settled: every completed request, every mid-stream failure, every disconnect. Released: failures before a token.
        // A disconnect the server notices only after the stream completed is settled as 'ok' with the real usage
        // (prompt 5 = "slow a b c"; the plain requests have prompt 4): still settled, never released.
        const lateOk = byStatus('ok').filter((r) => r.prompt_tokens === 5).length
        expect(byStatus('ok').length - lateOk).toBe(calls.ok)
        expect(byStatus('upstream_error').length).toBe(calls['fail-mid'])
        expect(byStatus('client_disconnect').length + lateOk).toBe(calls.slow)
        expect(recs.length).toBe(calls.ok + calls['fail-mid'] + calls.slow)
        expect(recs.length).toBe(count(out, (o) => o.status === 200 && !o.aborted) + calls.slow)
        expect(calls.producedTokens).toBeLessThanOrEqual(recs.length)

        // Exact totals: ledger spent == Σ of the settled records; completed ones cost exactly what their usage says.
        const settled = recs.reduce((n, r) => n + r.cost, 0)
        const okCost = out.filter((o, i) => plans[i].words.startsWith('ok') && o.status === 200).reduce((n, o) => n + expectedCost('exact', o.usage!), 0)
        expect(byStatus('ok').filter((r) => r.prompt_tokens === 4).reduce((n, r) => n + r.cost, 0)).toBe(okCost)
        // Without usage the charge is an upper estimate, but never above the request's own worst case (max_tokens 3).
        for (const r of recs) expect(r.cost).toBeLessThanOrEqual(EXACT_COST)
        const final = await g.ledger.snapshot(t, 'total')
        console.log(`[${kind} ${policy}] limit=${limit} calls=${JSON.stringify(calls)} records=${recs.length} lateOk=${lateOk} ` +
          `spent=${final.spentMicros} Σrecords=${settled} reserved=${snap.reservedMicros} overrun=${final.spentMicros - limit}`)
        expect(final.spentMicros).toBe(settled)
        expect(final.reservedMicros).toBe(0)
        if (policy === 'strict') expect(final.spentMicros).toBeLessThanOrEqual(limit)
      }, 30_000)
    })
  }
}
