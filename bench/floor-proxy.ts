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
 *     of usage records is trimmed to about 1,000 entries once a second instead of shipped. With `--slice` as well, as the gateway
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
import { RESERVATION_TTL_MS } from '../src/budget/service.ts'

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
 * `slice`, reserve.lua once for a slice that outlasts any benchmark, and settle.lua naming it and the request's draw.
 * Its client is a plain auto-pipelined ioredis, without the gateway's per-command timeout: if anything a little
 * cheaper than the gateway's, which only makes the floor a higher bound.
 */
interface BudgetFloor {
  reserve(requestId: string, micros: number): Promise<void>
  /** Sent after the reply, as the gateway does; a failure is counted (and its first one logged), never thrown. */
  settle(requestId: string, costMicros: number, reservedMicros: number): void
}

let settleFailures = 0
process.on('exit', () => {
  if (settleFailures) console.error(`floor-proxy: ${settleFailures} settles failed`)
})

async function budgetScripts(client: Redis, slice: boolean): Promise<BudgetFloor> {
  const scripts = registerScripts(client)
  const tenantId = `floor-${process.pid}`
  const k = tenantKeys(tenantId)
  const period = 'total'
  const epoch = '1'
  const reserveKeys: [string, string, string, string, string] = [k.spent(period), k.reserved(period), k.resv, k.resvAmt, k.epoch]
  const settleKeys: [string, string, string, string, string, string, string] =
    [k.spent(period), k.reserved(period), k.resv, k.resvAmt, k.done, k.ledger, k.epoch]
  // Trimmed once a second to about 1,000 entries: the records are not shipped anywhere.
  setInterval(() => void client.xtrim(k.ledger, 'MAXLEN', '~', 1000).catch(() => {}), 1000).unref()
  await client.mset(k.epoch, epoch, k.spent(period), 0)
  const sliceId = slice ? `slice:${crypto.randomUUID()}` : ''
  if (slice) {
    const at = Date.now()
    const r = await scripts.reserve(reserveKeys, [sliceId, 1e12, -1, at, at + RESERVATION_TTL_MS, period, 60_000, epoch, 1])
    if (r[0] !== 1) throw new Error(`slice lease answered ${JSON.stringify(r)}`)
  }
  const settleNow = async (requestId: string, costMicros: number, reservedMicros: number) => {
    const now = Date.now()
    const record = { requestId, tenantId, keyId: 'key-floor', model: 'gpt-4o-mini', provider: 'openai', promptTokens: 12,
      completionTokens: costMicros / 10, costUsdMicros: costMicros, status: 'ok', startedAt: now, durationMs: 1, clientRequestId: requestId }
    // A request drawn from the slice names it and what it drew: its reservation, as the gateway's SliceBook records.
    const r = await scripts.settle(settleKeys,
      [requestId, costMicros, now, 86_400_000, period, epoch, JSON.stringify(recordToFields(record)), sliceId, slice ? reservedMicros : 0])
    if (r[0] !== 1) throw new Error(`settle answered ${JSON.stringify(r)}`)
  }
  return {
    async reserve(requestId, micros) {
      if (slice) return
      const now = Date.now()
      const r = await scripts.reserve(reserveKeys, [requestId, micros, -1, now, now + RESERVATION_TTL_MS, period, 60_000, epoch])
      if (r[0] !== 1) throw new Error(`reserve answered ${JSON.stringify(r)}`)
    },
    settle(requestId, costMicros, reservedMicros) {
      settleNow(requestId, costMicros, reservedMicros).catch((e: unknown) => {
        if (settleFailures++ === 0) console.error(`floor-proxy: settle failed: ${e instanceof Error ? e.message : String(e)}`)
      })
    },
  }
}
if (values.slice && !values['budget-scripts']) throw new Error('--slice needs --budget-scripts')
if (values['budget-scripts'] && !redis) throw new Error('--budget-scripts needs --redis URL')
const budget = redis && values['budget-scripts'] ? (await preloadScripts(redis), await budgetScripts(redis, values.slice!)) : null
/** µUSD per token in the budget floor's reservations and charges. */
const MICROS_PER_TOKEN = 10

interface Body { model?: string; stream?: boolean; max_tokens?: number; max_completion_tokens?: number }

async function handle(req: Request): Promise<Response> {
  const body = (await req.json()) as Body
  body.max_completion_tokens ??= body.max_tokens ?? 4096
  const requestId = budget ? crypto.randomUUID() : ''
  const reserved = body.max_completion_tokens * MICROS_PER_TOKEN
  if (budget) await budget.reserve(requestId, reserved)
  else await toyScript(0, body.max_completion_tokens)
  // The gateway settles after the reply is sent; the one-command floor waits for its script first.
  const settle = (tokens: number) => (budget ? budget.settle(requestId, tokens * MICROS_PER_TOKEN, reserved) : toyScript(1, tokens))
  const res = await fetch(upstream, {
    method: 'POST', body: JSON.stringify(body), signal: req.signal,
    headers: { 'content-type': 'application/json', authorization: req.headers.get('authorization') ?? '' },
  })
  if (!body.stream) {
    const reply = (await res.json()) as { usage?: { total_tokens?: number } }
    await settle(reply.usage?.total_tokens ?? 0)
    return Response.json(reply, { status: res.status })
  }
  return new Response(metered(res.body!, settle), { status: res.status, headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } })
}

/** Passes the upstream's bytes on, one enqueue per read, after parsing every event's payload (for its usage). */
function metered(body: ReadableStream<Uint8Array>, settle: (tokens: number) => unknown): ReadableStream<Uint8Array> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffered = ''
  let tokens = 0
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      const { done, value } = await reader.read()
      if (done) {
        await settle(tokens)
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
