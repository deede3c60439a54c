/**
 * The floor for our runtime: a bare `Bun.serve` fetch-proxy with no auth, budget or timing, forwarding
 * every request to the upstream and streaming the body back.
 * `bun bench/bare-proxy.ts --upstream http://127.0.0.1:PORT` → prints `LISTENING http://127.0.0.1:PORT`.
 *
 * `--js-pipe`: the reply body is read in JavaScript (a reader, one enqueue per read into a pull stream holding one
 * chunk, as the gateway's stream writer does) instead of being handed to Bun whole: the floor for any proxy that
 * must see the bytes it forwards (memory per stream, CPU per chunk).
 */
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { upstream: { type: 'string' }, port: { type: 'string', default: '0' }, 'js-pipe': { type: 'boolean', default: false } } })
if (!values.upstream) throw new Error('--upstream is required')
const upstream = values.upstream.replace(/\/$/, '')

// RFC 9110 §7.6.1: connection-specific fields are not forwarded by a proxy.
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length']

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(values.port),
  idleTimeout: 120,
  async fetch(req) {
    const url = new URL(req.url)
    const headers = new Headers(req.headers)
    for (const h of HOP_BY_HOP) headers.delete(h)
    const res = await fetch(upstream + url.pathname + url.search, {
      method: req.method, headers, body: req.method === 'GET' || req.method === 'HEAD' ? undefined : await req.arrayBuffer(),
      signal: req.signal, decompress: false,
    })
    const out = new Headers(res.headers)
    for (const h of HOP_BY_HOP) out.delete(h)
    return new Response(values['js-pipe'] && res.body ? piped(res.body) : res.body, { status: res.status, headers: out })
  },
})
function piped(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = body.getReader()
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      const { done, value } = await reader.read()
      if (done) c.close()
      else c.enqueue(value)
    },
    cancel: (why) => reader.cancel(why),
  }, new CountQueuingStrategy({ highWaterMark: 1 }))
}

console.log(`LISTENING http://127.0.0.1:${server.port}`)
const quit = () => server.stop(true).finally(() => process.exit(0))
process.once('SIGTERM', quit)
process.once('SIGINT', quit)
