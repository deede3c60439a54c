/**
 * What the budget ledgers keep per request in memory, at the steady state where old entries go as new ones come:
 *   - the Redis ledger's outbox when it is full (the store down or slower than settles): each settle first forgets
 *     the oldest held record (`--max` records held, nothing confirmed);
 *   - the in-process ledger's exactly-once set once its retention window is full: each settle forgets the ids
 *     older than the retention (`--max` ids retained, one settle per clock tick);
 *   - the in-process ledger's reserve while `--in-flight` reservations of the tenant are held (long streams).
 * Prints the cost per settle (reserve and release) for each 20,000: it should stay flat, and not grow with what is held.
 *
 *   bun bench/ledger-bookkeeping.ts [--settles 200000] [--max 50000] [--in-flight 1000]
 */
import { parseArgs } from 'node:util'
import { Holdings } from '../src/budget/holdings.ts'
import { createMemoryLedger } from '../src/budget/memory-ledger.ts'
import type { UsageRecord } from '../src/budget/types.ts'

const { values } = parseArgs({
  options: { settles: { type: 'string', default: '200000' }, max: { type: 'string', default: '50000' }, 'in-flight': { type: 'string', default: '1000' } },
})
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

const inFlight = Number(values['in-flight'])
const held = createMemoryLedger({ rebuild: async () => 0, sink: () => {} })
await held.ensureCounter('t', 'total')
const reserve = (requestId: string) => held.reserve({ tenantId: 't', periodKey: 'total', limitMicros: -1, requestId, amountMicros: 1, ttlMs: 7_200_000 })
for (let i = 0; i < inFlight; i++) await reserve(`held${i}`)
const reserves = await windows(async (_i, id) => {
  await reserve(id)
  await held.release('t', 'total', id)
})
await held.close()

console.log(`µs per operation, each ${WINDOW.toLocaleString('en')}; steady from the ${max.toLocaleString('en')}th settle:`)
console.log(`  Redis ledger, settle into a full outbox:         ${outbox}`)
console.log(`  in-process ledger, settle (exactly-once set):    ${done}`)
console.log(`  in-process ledger, reserve + release, ${inFlight.toLocaleString('en')} held: ${reserves}`)
