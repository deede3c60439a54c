/**
 * A client that stops reading (issue 9, item 9) holds back the upstream instead of making the gateway buffer
 * the reply: the gateway reads the upstream only as fast as the client's socket takes the frames, adds no
 * keep-alive comments while frames are waiting, and once the client reads again (or leaves) the reply is
 * delivered whole (or drained) and settled exactly. The gateway is served as the runtime serves it
 * (Bun.serve + fetchHandler); the upstream is an endless pull stream that counts every byte read from it.
 *
 * Bounds are stated against what loopback itself holds for a stalled reader, measured first:
 *   clientHop   Bun.serve + kernel send buffer + the paused client's receive buffer (about 4 MB here);
 *   upstreamHop the gateway's receive buffer from the upstream (Linux autotunes it up to tcp_rmem max) and
 *               the upstream's send buffer (tcp_wmem max): kernel memory, not the gateway's heap.
 * Measured on a 4 MB tcp_wmem / 32 MB tcp_rmem box: the route reads ~4.0 MB (the client hop), the upstream
 * gives 11-17 MB (its own send queue ~4 MB and the gateway's receive queue 3-8 MB included).
 * Nothing here is timed: the waits are for a counter to stop moving, and the bounds are in bytes.
 */
import { heapStats } from 'bun:jsc'
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { createParser } from 'eventsource-parser'
import { fetchHandler } from '../../../src/app.ts'
import { costMicros } from '../../../src/budget/money.ts'
import { openaiAdapter } from '../../../src/providers/openai/adapter.ts'
import type { ProviderAdapter } from '../../../src/providers/types.ts'
import type { ChatChunk } from '../../../src/wire/openai.ts'
import { buildTestGateway, type TestGateway } from '../../helpers/app.ts'
import { startFakeUpstream, type FakeUpstream } from '../../helpers/fake-upstream.ts'
import { pausedClientCapacity, pausedRequest, tcpBufferLimit, whenSteady } from '../../helpers/paused-client.ts'
import { MODELS, proxyConfig } from './harness.ts'

const MiB = 1024 * 1024
/** Text per upstream event: ~4 KB frames keep the number of events (and the test's time) low. */
const CONTENT = 'a'.repeat(4000)
/** The "endless" upstream stops producing here (an unbounded reader fails the bounds long before). */
const UPSTREAM_CAP = 256 * MiB
/**
 * What the gateway itself may hold per stalled stream, on top of the kernel: one upstream read (fetch's body
 * buffer, up to ~1 MB in Bun 1.4, and the events parsed from it) and one item's frames in the body queue.
 */
const GATEWAY_SLACK = 2 * MiB
/**
 * The test process's live memory may differ by ~2 MB between two looks (allocator and GC noise); a gateway
 * that buffered what the kernel holds here, or kept a finished reply, would show tens of MB.
 */
const HEAP_NOISE = 8 * MiB
/** Keep-alive period: a stall of half a second would queue ~50 of them if they ignored backpressure. */
const HEARTBEAT_MS = 10
const USAGE = { prompt: 10, completion: 500 }

let up: FakeUpstream
let gw: TestGateway
let server: ReturnType<typeof Bun.serve>
let key: string
let clientHop: number
let upstreamHop: number
/** Bytes of the items the route took from the OpenAI adapter (what it read, as frames). */
let routeBytes = 0

/** The real OpenAI adapter, counting what the route pulls from it. */
const countingOpenAI: ProviderAdapter = {
  ...openaiAdapter,
  async stream(...args) {
    const inner = await openaiAdapter.stream(...args)
    return (async function* () {
      for await (const chunk of inner) {
        routeBytes += JSON.stringify(chunk).length + 8
        yield chunk as ChatChunk
      }
    })()
  },
}

beforeAll(async () => {
  up = await startFakeUpstream()
  gw = await buildTestGateway({ config: proxyConfig(up.url), heartbeatMs: HEARTBEAT_MS, adapters: { openai: countingOpenAI } })
  key = await gw.addTenant({ id: 't1', budgetUsdMicros: 100_000_000 })
  await gw.warm()
  server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: fetchHandler(gw.app), idleTimeout: 255 })
  // The socket buffers may autotune past what one measurement saw: take the larger of it and the limits.
  const wmemMax = await tcpBufferLimit('tcp_wmem', 'max', 4 * MiB)
  clientHop = Math.max(await pausedClientCapacity(4096), wmemMax + (await tcpBufferLimit('tcp_rmem', 'default', 128 * 1024)))
  upstreamHop = (await tcpBufferLimit('tcp_rmem', 'max', 8 * MiB)) + wmemMax
  // One ordinary stream first, so the memory checks compare like with like (code compiled, pools made).
  const res = await fetch(`http://127.0.0.1:${server.port}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODELS.openai.client, messages: [{ role: 'user', content: 'warm up' }], stream: true }),
  })
  await res.text()
})

afterAll(async () => {
  await server?.stop(true)
  await up?.stop()
})

const enc = new TextEncoder()

/** An upstream reply that produces content as fast as it is read, up to the cap, and ends when released. */
function endlessReply(wire: 'openai' | 'anthropic') {
  const openai = (payload: Record<string, unknown>) =>
    `data: ${JSON.stringify({ id: 'chatcmpl-bp', object: 'chat.completion.chunk', created: 1, model: MODELS.openai.upstream, ...payload })}\n\n`
  const anthropic = (type: string, payload: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`
  const [prelude, content, tail] = wire === 'openai'
    ? [
        [openai({ choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] })],
        openai({ choices: [{ index: 0, delta: { content: CONTENT }, finish_reason: null }] }),
        [
          openai({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }),
          openai({ choices: [], usage: { prompt_tokens: USAGE.prompt, completion_tokens: USAGE.completion, total_tokens: USAGE.prompt + USAGE.completion } }),
          'data: [DONE]\n\n',
        ],
      ]
    : [
        [
          anthropic('message_start', { message: { id: 'msg_bp', type: 'message', role: 'assistant', model: MODELS.anthropic.upstream, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: USAGE.prompt, output_tokens: 1 } } }),
          anthropic('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
        ],
        anthropic('content_block_delta', { index: 0, delta: { type: 'text_delta', text: CONTENT } }),
        [
          anthropic('content_block_stop', { index: 0 }),
          anthropic('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: USAGE.completion } }),
          anthropic('message_stop', {}),
        ],
      ]
  let release!: () => void
  const released = new Promise<void>((r) => (release = r))
  const src = {
    pulled: 0,
    contentEvents: 0,
    isReleased: false,
    release() {
      src.isReleased = true
      release()
    },
    body: new ReadableStream<Uint8Array>({
      async pull(c) {
        const send = (s: string) => {
          const b = enc.encode(s)
          src.pulled += b.byteLength
          c.enqueue(b)
        }
        if (src.pulled === 0) prelude.forEach(send)
        if (!src.isReleased && src.pulled >= UPSTREAM_CAP) await released
        if (src.isReleased) {
          tail.forEach(send)
          c.close()
          return
        }
        send(content)
        src.contentEvents++
      },
    }),
  }
  return src
}

/** Live JS heap plus the memory it holds outside (array buffers), after a full collection. */
function heldBytes(): number {
  Bun.gc(true)
  const s = heapStats()
  return s.heapSize + s.extraMemorySize
}

/** The tenant's spend since `before`, once the request's reservation has been settled and its stream ended. */
async function settled(before: number): Promise<number> {
  const deadline = performance.now() + 10_000
  for (;;) {
    const s = await gw.ledger.snapshot('t1', 'total')
    if (s.reservedMicros === 0 && s.spentMicros > before && gw.metrics.inflightStreams.get() === 0) return s.spentMicros - before
    if (performance.now() > deadline) throw new Error(`reservation not settled: ${JSON.stringify(s)}`)
    await Bun.sleep(10)
  }
}

test('a client that stops reading: the upstream is read only as far as the sockets hold, then the whole reply arrives', async () => {
  const before = (await gw.ledger.snapshot('t1', 'total')).spentMicros
  const held0 = heldBytes()
  const src = endlessReply('openai')
  up.program({ kind: 'stream', body: src.body })
  routeBytes = 0
  const body = JSON.stringify({ model: MODELS.openai.client, messages: [{ role: 'user', content: 'write a lot' }], stream: true, max_tokens: 1000 })
  const client = pausedRequest(server.port!, '/v1/chat/completions', { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body)

  const pulled = await whenSteady(() => src.pulled)
  // What the route read is what the client's socket took, plus at most the gateway's own slack.
  expect(routeBytes).toBeLessThanOrEqual(clientHop + GATEWAY_SLACK)
  // What the upstream gave is that plus the kernel buffers between the upstream and the gateway: far from the
  // whole (endless) reply.
  expect(pulled).toBeLessThanOrEqual(routeBytes + upstreamHop + GATEWAY_SLACK)
  expect(pulled).toBeLessThan(UPSTREAM_CAP)
  // And none of it piled up in memory on the way (parsed ahead, or in a queue).
  expect(heldBytes() - held0).toBeLessThan(HEAP_NOISE)

  src.release()
  let events = 0
  let text = 0
  let last = ''
  let run = 0
  let maxRun = 0
  let usage: unknown = null
  const parser = createParser({
    onEvent(e) {
      events++
      run = 0
      last = e.data
      if (e.data === '[DONE]') return
      const chunk = JSON.parse(e.data) as ChatChunk
      text += chunk.choices[0]?.delta?.content?.length ?? 0
      if (chunk.usage) usage = chunk.usage
    },
    onComment() {
      maxRun = Math.max(maxRun, ++run)
    },
  })
  const dec = new TextDecoder()
  const head = await client.resume((bytes) => parser.feed(dec.decode(bytes, { stream: true })))
  expect(head.status).toBe(200)
  // Every content event the upstream produced reached the client, in one well-formed stream.
  expect(text).toBe(src.contentEvents * CONTENT.length)
  expect(last).toBe('[DONE]')
  expect(usage).toBeNull() // the client did not ask for usage
  expect(events).toBe(src.contentEvents + 3) // role, contents, finish, [DONE]
  // Keep-alives are not queued behind waiting frames. One between two events means the upstream read took a
  // whole period while the client was reading; 20 in a row would take a 200 ms pause of a flowing stream.
  expect(maxRun).toBeLessThan(20)

  const charged = await settled(before)
  expect(charged).toBe(costMicros({ prompt_tokens: USAGE.prompt, completion_tokens: USAGE.completion }, { inputUsdPerMtok: 1, outputUsdPerMtok: 2 }))
  // The stream's buffers went with it.
  expect(heldBytes() - held0).toBeLessThan(HEAP_NOISE)
}, 60_000)

test('a stalled client that then leaves: the gateway drains the reply for its usage and settles exactly', async () => {
  const before = (await gw.ledger.snapshot('t1', 'total')).spentMicros
  const src = endlessReply('anthropic')
  const index = up.requests.length
  up.program({ kind: 'stream', body: src.body })
  const body = JSON.stringify({ model: MODELS.anthropic.client, max_tokens: 1000, messages: [{ role: 'user', content: 'write a lot' }], stream: true })
  const client = pausedRequest(server.port!, '/v1/messages', { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body)

  const pulled = await whenSteady(() => src.pulled)
  expect(pulled).toBeLessThanOrEqual(clientHop + upstreamHop + 2 * GATEWAY_SLACK)
  expect(pulled).toBeLessThan(UPSTREAM_CAP)

  client.close()
  src.release()
  const charged = await settled(before)
  expect(up.requests[index]!.abortedAt).toBeNull()
  expect(charged).toBe(costMicros({ prompt_tokens: USAGE.prompt, completion_tokens: USAGE.completion }, { inputUsdPerMtok: 3, outputUsdPerMtok: 15 }))
}, 60_000)
