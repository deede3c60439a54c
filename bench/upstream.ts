/**
 * The fake upstream in a process of its own (so its CPU shows up separately from the load generator's):
 * `bun bench/upstream.ts --latency-ms 10 --chunks 20 --interval-ms 1` → prints `LISTENING http://127.0.0.1:PORT`.
 * Default mode of test/helpers/fake-upstream.ts: fixed-latency JSON, or SSE of N chunks at an interval.
 *
 * `--fast`: answers at once from bytes built at start (model `bench-model`, usage included; SSE = the N
 * chunk events enqueued back to back), without parsing the request, so that the upstream costs far less
 * CPU per request than any proxy in front of it (the CPU-bound scenario measures the proxies).
 */
import { parseArgs } from 'node:util'
import { openaiCompletion, openaiTextStream, startFakeUpstream } from '../test/helpers/fake-upstream.ts'

const { values } = parseArgs({
  options: {
    'latency-ms': { type: 'string', default: '10' }, chunks: { type: 'string', default: '20' }, 'interval-ms': { type: 'string', default: '0' },
    fast: { type: 'boolean', default: false },
  },
})
const chunks = Number(values.chunks)
const up = values.fast ? startFast(chunks) : await startFakeUpstream({
  record: false,
  defaults: { latencyMs: Number(values['latency-ms']), chunks, intervalMs: Number(values['interval-ms']) },
})
console.log(`LISTENING ${up.url}`)
const quit = () => up.stop().finally(() => process.exit(0))
process.once('SIGTERM', quit)
process.once('SIGINT', quit)

function startFast(n: number): { url: string; stop: () => Promise<void> } {
  const enc = new TextEncoder()
  const parts = Array.from({ length: n }, (_, i) => `tok${i} `)
  const json = enc.encode(JSON.stringify(openaiCompletion({ model: 'bench-model', text: parts.join(''), promptTokens: 10, completionTokens: n })))
  const events = openaiTextStream({ model: 'bench-model', parts, promptTokens: 10 }).split('\n\n').filter((e) => e !== '').map((e) => enc.encode(`${e}\n\n`))
  const server = Bun.serve({
    port: 0, hostname: '127.0.0.1', idleTimeout: 0,
    async fetch(req) {
      const stream = (await req.text()).includes('"stream":true')
      if (!stream) return new Response(json, { headers: { 'content-type': 'application/json' } })
      return new Response(new ReadableStream<Uint8Array>({
        start(c) {
          for (const e of events) c.enqueue(e)
          c.close()
        },
      }), { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } })
    },
  })
  return { url: `http://127.0.0.1:${server.port}`, stop: async () => { await server.stop(true) } }
}
