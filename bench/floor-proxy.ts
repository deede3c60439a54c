/**
 * The floor under any gateway that must see what it forwards: the least work a metering proxy does, with none of
 * ours (no auth, no config, no pricing, no timing, no logs). The bare proxy (bare-proxy.ts) never reads a body;
 * a gateway cannot skip any of this:
 *   - parse the request body (model, output cap) and send it re-serialised;
 *   - non-streamed: read and parse the reply (its usage), answer it as JSON;
 *   - streamed: read the reply in JavaScript, split it into SSE events and parse each `data:` payload (usage,
 *     translation), passing the bytes on;
 *   - with `--redis URL`: two Lua scripts per request through ioredis (auto-pipelined, as the gateway's ledger),
 *     one before the upstream call and one after the reply: the round trips of a per-request atomic budget.
 *     Two one-command scripts by default; with `--budget-scripts` the gateway's own reserve.lua and settle.lua
 *     (src/budget/scripts.ts) with the keys and arguments its ledger sends, the settle after the reply is sent as
 *     the gateway does, and none of the ledger's bookkeeping around them (holdings, recovery, retries). Its stream
 *     of usage records is cut to ~1,000 entries a second instead of shipped. With `--slice` as well, as the gateway
 *     with budget slices: one slice leased at start, requests drawn from it without a round trip, and only
 *     settle.lua per request, shrinking the slice by the draw.
 *
 *   bun bench/floor-proxy.ts --upstream URL [--elysia] [--redis URL [--budget-scripts [--slice]]] → prints `LISTENING http://127.0.0.1:PORT`
 *
 * `--elysia` serves the same handler as an Elysia route (as the gateway does) instead of a bare `Bun.serve` fetch:
 * the difference is Elysia's cost per request.
 */
import { parseArgs } from 'node:util'
import { Elysia } from 'elysia'
import { Redis } from 'ioredis'
import { preloadScripts, recordToFields, registerScripts, tenantKeys } from '../src/budget/scripts.ts'

const { values } = parseArgs({
  options: {
    upstream: { type: 'string' }, port: { type: 'string', default: '0' }, elysia: { type: 'boolean', default: false }, redis: { type: 'string' },
    'budget-scripts': { type: 'boolean', default: false }, slice: { type: 'boolean', default: false },
  },
})
if (!values.upstream) throw new Error('--upstream is required')
const upstream = values.upstream.replace(/\/$/, '') + '/v1/chat/completions'

const redis = values.redis ? new Redis(values.redis, { enableAutoPipelining: true }) : null
// A check-and-add and an add, each on one key: the shape (not the size) of reserve.lua and settle.lua.
const RESERVE = `local v = tonumber(redis.call('GET', KEYS[1]) or '0') if v + tonumber(ARGV[1]) > 1e15 then return -1 end return redis.call('INCRBY', KEYS[1], ARGV[1])`
const SETTLE = `return redis.call('INCRBY', KEYS[1], ARGV[1])`
const sha = redis ? await Promise.all([RESERVE, SETTLE].map((s) => redis.script('LOAD', s) as Promise<string>)) : []
const toyScript = (i: number, amount: number) => (redis ? redis.evalsha(sha[i]!, 1, 'bench:floor', amount) : null)

/**
 * The gateway's reserve.lua / settle.lua as its ledger calls them (redis-ledger.ts), for one tenant, no limit; with
 * `slice`, reserve.lua once for a slice that outlasts any benchmark, and settle.lua naming it.
 */
async function budgetScripts(client: Redis, slice: boolean) {
  const scripts = registerScripts(client)
  const tenantId = `floor-${process.pid}`
  const k = tenantKeys(tenantId)
  const period = 'total'
  const epoch = '1'
  setInterval(() => void client.xtrim(k.ledger, 'MAXLEN', '~', 1000), 1000).unref()
  await client.mset(k.epoch, epoch, k.spent(period), 0)
  const sliceId = slice ? `slice:${crypto.randomUUID()}` : ''
  if (slice) {
    const at = Date.now()
    const r = await scripts.reserve([k.spent(period), k.reserved(period), k.resv, k.resvAmt, k.epoch],
      [sliceId, 1e12, -1, at, at + 7_200_000, period, 60_000, epoch, 1])
    if (r[0] !== 1) throw new Error(`slice lease answered ${JSON.stringify(r)}`)
  }
  return async (i: number, amount: number, requestId: string) => {
    const now = Date.now()
    if (i === 0) {
      if (slice) return
      const r = await scripts.reserve([k.spent(period), k.reserved(period), k.resv, k.resvAmt, k.epoch],
        [requestId, amount * 10, -1, now, now + 7_200_000, period, 60_000, epoch])
      if (r[0] !== 1) throw new Error(`reserve answered ${JSON.stringify(r)}`)
      return
    }
    const record = { requestId, tenantId, keyId: 'key-floor', model: 'gpt-4o-mini', provider: 'openai', promptTokens: 12,
      completionTokens: amount, costUsdMicros: amount * 10, status: 'ok', startedAt: now, durationMs: 1, clientRequestId: requestId }
    const r = await scripts.settle([k.spent(period), k.reserved(period), k.resv, k.resvAmt, k.done, k.ledger, k.epoch],
      [requestId, amount * 10, now, 86_400_000, period, epoch, JSON.stringify(recordToFields(record)), sliceId, slice ? amount * 10 : 0])
    if (r[0] !== 1) throw new Error(`settle answered ${JSON.stringify(r)}`)
  }
}
const budget = redis && values['budget-scripts'] ? (await preloadScripts(redis), await budgetScripts(redis, values.slice!)) : null

interface Body { model?: string; stream?: boolean; max_tokens?: number; max_completion_tokens?: number }

async function handle(req: Request): Promise<Response> {
  const body = (await req.json()) as Body
  body.max_completion_tokens ??= body.max_tokens ?? 4096
  const requestId = budget ? crypto.randomUUID() : ''
  const script = (i: number, amount: number) => (budget ? budget(i, amount, requestId) : toyScript(i, amount))
  await script(0, body.max_completion_tokens)
  const res = await fetch(upstream, {
    method: 'POST', body: JSON.stringify(body), signal: req.signal,
    headers: { 'content-type': 'application/json', authorization: req.headers.get('authorization') ?? '' },
  })
  if (!body.stream) {
    const reply = (await res.json()) as { usage?: { total_tokens?: number } }
    // The gateway settles after the reply is sent.
    if (budget) void script(1, reply.usage?.total_tokens ?? 0)
    else await script(1, reply.usage?.total_tokens ?? 0)
    return Response.json(reply, { status: res.status })
  }
  return new Response(metered(res.body!, script), { status: res.status, headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } })
}

/** Passes the upstream's bytes on, one enqueue per read, after parsing every event's payload (for its usage). */
function metered(body: ReadableStream<Uint8Array>, script: (i: number, amount: number) => unknown): ReadableStream<Uint8Array> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffered = ''
  let tokens = 0
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      const { done, value } = await reader.read()
      if (done) {
        if (budget) void script(1, tokens)
        else await script(1, tokens)
        c.close()
        return
      }
      buffered += decoder.decode(value, { stream: true })
      let end: number
      while ((end = buffered.indexOf('\n\n')) !== -1) {
        const event = buffered.slice(0, end)
        buffered = buffered.slice(end + 2)
        if (event.startsWith('data: {')) {
          const chunk = JSON.parse(event.slice(6)) as { usage?: { total_tokens?: number } }
          if (chunk.usage) tokens = chunk.usage.total_tokens ?? 0
        }
      }
      c.enqueue(value)
    },
    cancel: (why) => reader.cancel(why),
  }, new CountQueuingStrategy({ highWaterMark: 1 }))
}

const fetchHandler = values.elysia
  ? (() => {
      const app = new Elysia({ precompile: true }).post('/v1/chat/completions', ({ request }) => handle(request), { parse: 'none' })
      return (req: Request) => app.handle(req)
    })()
  : handle

const server = Bun.serve({ hostname: '127.0.0.1', port: Number(values.port), idleTimeout: 120, fetch: fetchHandler })
console.log(`LISTENING http://127.0.0.1:${server.port}`)
const quit = () => server.stop(true).finally(() => process.exit(0))
process.once('SIGTERM', quit)
process.once('SIGINT', quit)
