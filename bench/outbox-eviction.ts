/**
 * The Redis ledger's outbox when it is full (the store down or slower than settles): every settle first forgets
 * the oldest held record. Prints the cost per settle for each 20,000 settles into a 50,000-record outbox (the
 * default cap) that nothing confirms, so the cost shows whether it stays flat while the outbox stays full.
 *
 *   bun bench/outbox-eviction.ts [--settles 200000] [--max 50000]
 */
import { parseArgs } from 'node:util'
import { Holdings } from '../src/budget/holdings.ts'
import type { UsageRecord } from '../src/budget/types.ts'

const { values } = parseArgs({ options: { settles: { type: 'string', default: '200000' }, max: { type: 'string', default: '50000' } } })
const settles = Number(values.settles)
const holdings = new Holdings(Number(values.max))
const WINDOW = 20_000
const record = (requestId: string): UsageRecord => ({
  requestId, tenantId: 't', keyId: 'k', model: 'm', provider: 'p', promptTokens: 1, completionTokens: 1, costUsdMicros: 1,
  status: 'ok', startedAt: 0, durationMs: 0,
})
const perSettle: number[] = []
let t0 = performance.now()
for (let i = 1; i <= settles; i++) {
  const id = Bun.randomUUIDv7()
  holdings.reserved('t', { requestId: id, periodKey: 'total', amount: 1, expiry: Infinity, epoch: 'E' })
  holdings.settled('t', 'total', record(id), 'E', i)
  if (i % WINDOW === 0) {
    perSettle.push((performance.now() - t0) * 1000 / WINDOW)
    t0 = performance.now()
  }
}
console.log(`µs per settle, each ${WINDOW.toLocaleString('en')} settles (outbox full from settle ${Number(values.max).toLocaleString('en')}, ${holdings.dropped.toLocaleString('en')} forgotten):`)
console.log(perSettle.map((v) => v.toFixed(2)).join(' '))
