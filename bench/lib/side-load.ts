/**
 * Background work in a process of its own, beside a gateway under load (bench/burst-tail.ts). One kind per process,
 * from the environment:
 *
 *   SIDE_KIND=ship   SIDE_REDIS=url SIDE_TENANT=id [SIDE_BATCH=100]  the usage shipper (src/budget/usage-shipper.ts)
 *                    shipping that tenant's records into a store that keeps nothing: its reads and acks as in the
 *                    gateway, out of the gateway's process
 *   SIDE_KIND=cpu    SIDE_PER_S=n SIDE_US=µs                          n bursts a second, each spinning µs on the CPU
 *   SIDE_KIND=redis  SIDE_REDIS=url SIDE_PER_S=n SIDE_US=µs          n scripts a second, each holding Redis µs
 *
 * Runs until it is stopped.
 */
import { Redis } from 'ioredis'
import { createUsageShipper } from '../../src/budget/usage-shipper.ts'

const env = (name: string): string => {
  const v = process.env[name]
  if (!v) throw new Error(`bench/lib/side-load.ts needs ${name}`)
  return v
}
const kind = env('SIDE_KIND')

if (kind === 'ship') {
  const client = new Redis(env('SIDE_REDIS'), { enableAutoPipelining: true })
  // sweepEvery 1: a pass over the one tenant every interval, as the gateway's hot passes (noteSettled) would.
  // claimIdleMs 1 s: a batch a stopped side shipper read but never acked goes to the next one within the bench's drain.
  const shipper = createUsageShipper({
    client, store: { insertUsage: async () => {} }, discover: false, sweepEvery: 1, claimIdleMs: 1_000,
    batchSize: Number(process.env.SIDE_BATCH ?? 100),
  })
  await shipper.addTenant(env('SIDE_TENANT'))
  shipper.start()
  // Stopped between passes, so no batch is left read and unacked.
  process.once('SIGTERM', () => void shipper.stop().finally(() => process.exit(0)))
} else if (kind === 'cpu' || kind === 'redis') {
  const perS = Number(env('SIDE_PER_S'))
  const us = Number(env('SIDE_US'))
  if (kind === 'cpu') {
    setInterval(() => {
      for (const end = performance.now() + us / 1000; performance.now() < end;);
    }, 1000 / perS)
  } else {
    const client = new Redis(env('SIDE_REDIS'))
    const hold = `local t0 = redis.call('TIME')
local start = t0[1] * 1000000 + t0[2]
repeat local t = redis.call('TIME') until t[1] * 1000000 + t[2] - start >= tonumber(ARGV[1])
return 1`
    setInterval(() => void client.eval(hold, 0, us).catch(() => {}), 1000 / perS)
  }
} else {
  throw new Error(`SIDE_KIND is ship, cpu or redis, not ${kind}`)
}
setInterval(() => {}, 2 ** 30) // stay alive until stopped
