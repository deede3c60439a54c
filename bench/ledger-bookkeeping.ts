/**
 * What the budget ledgers keep per request in memory, at the steady state where old entries go as new ones come:
 *   - the Redis ledger's outbox when it is full (the store down or slower than settles): each settle first forgets
 *     the oldest held record (`--max` records held, nothing confirmed);
 *   - the in-process ledger's exactly-once set once its retention window is full: each settle forgets the ids
 *     older than the retention (`--max` ids retained, one settle per clock tick).
 * Prints the cost per settle for each 20,000 settles: it should stay flat once the steady state is reached.
 *
 *   bun bench/ledger-bookkeeping.ts [--settles 200000] [--max 50000]
 */
import { parseArgs } from 'node:util'
import { Holdings } from '../src/budget/holdings.ts'
import { createMemoryLedger } from '../src/budget/memory-ledger.ts'
import type { UsageRecord } from '../src/budget/types.ts'

const { values } = parseArgs({ options: { settles: { type: 'string', default: '200000' }, max: { type: 'string', default: '50000' } } })
const settles = Number(values.settles)
const max = Number(values.max)
const WINDOW = 20_000
const record = (requestId: string): UsageRecord => ({
  requestId, tenantId: 't', keyId: 'k', model: 'm', provider: 'p', promptTokens: 1, completionTokens: 1, costUsdMicros: 1,
  status: 'ok', startedAt: 0, durationMs: 0,
})

async function windows(settle: (i: number, id: string) => unknown): Promise<string> {
  const perSettle: number[] = []
  let t0 = performance.now()
  for (let i = 1; i <= settles; i++) {
    await settle(i, Bun.randomUUIDv7())
    if (i % WINDOW === 0) {
      perSettle.push((performance.now() - t0) * 1000 / WINDOW)
      t0 = performance.now()
    }
  }
  return perSettle.map((v) => v.toFixed(2)).join(' ')
}

const holdings = new Holdings(max)
const outbox = await windows((i, id) => {
  holdings.reserved('t', { requestId: id, periodKey: 'total', amount: 1, expiry: Infinity, epoch: 'E' })
  holdings.settled('t', 'total', record(id), 'E', i)
})

let clock = 0
const ledger = createMemoryLedger({ rebuild: async () => 0, sink: () => {}, now: () => clock, doneRetentionMs: max })
const done = await windows((i, id) => {
  clock = i
  return ledger.settle({ tenantId: 't', periodKey: 'total', requestId: id, costMicros: 1, record: record(id) })
})
await ledger.close()

console.log(`µs per settle, each ${WINDOW.toLocaleString('en')} settles; steady from settle ${max.toLocaleString('en')}:`)
console.log(`  Redis ledger, full outbox:        ${outbox}`)
console.log(`  in-process ledger, exactly-once:  ${done}`)
