/**
 * The fake upstream in a process of its own (so its CPU shows up separately from the load generator's):
 * `bun bench/upstream.ts --latency-ms 10 --chunks 20 --interval-ms 1` → prints `LISTENING http://127.0.0.1:PORT`.
 * Default mode of test/helpers/fake-upstream.ts: fixed-latency JSON, or SSE of N chunks at an interval.
 */
import { parseArgs } from 'node:util'
import { startFakeUpstream } from '../test/helpers/fake-upstream.ts'

const { values } = parseArgs({
  options: { 'latency-ms': { type: 'string', default: '10' }, chunks: { type: 'string', default: '20' }, 'interval-ms': { type: 'string', default: '0' } },
})
const up = await startFakeUpstream({
  record: false,
  defaults: { latencyMs: Number(values['latency-ms']), chunks: Number(values.chunks), intervalMs: Number(values['interval-ms']) },
})
console.log(`LISTENING ${up.url}`)
const quit = () => up.stop().finally(() => process.exit(0))
process.once('SIGTERM', quit)
process.once('SIGINT', quit)
