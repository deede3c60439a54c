/**
 * A fake OpenAI / Anthropic upstream on 127.0.0.1:<random port>, programmed per test.
 *
 * `program(...replies)` queues the next replies (FIFO, one per request, any path). With the queue empty the
 * server answers in "default mode" (fixed latency JSON, or an SSE stream of N chunks at an interval, usage
 * included) in the wire format of the path: `.../chat/completions` → OpenAI, `.../messages` → Anthropic.
 * The benchmark uses default mode with `record: false`.
 */
export type FakeReply =
  | { kind: 'json'; status?: number; body: unknown; headers?: Record<string, string>; delayMs?: number }
  /** A raw body, e.g. an HTML error page or a truncated JSON document. */
  | { kind: 'text'; status?: number; body: string; contentType?: string; delayMs?: number }
  | {
      kind: 'sse'
      /** Raw bytes of the stream, already split where the test wants the reads to break. */
      chunks: Array<string | Uint8Array>
      status?: number
      headers?: Record<string, string>
      /** Delay before the response headers. */
      delayMs?: number
      /** Delay before each chunk. */
      chunkDelayMs?: number
      /** What happens after the last chunk: close cleanly, keep the connection open forever, or reset it. */
      after?: 'end' | 'hang' | 'reset'
    }
  /** Never send response headers (until the client gives up). */
  | { kind: 'hang' }
  /** A body the test builds itself, e.g. a pull stream that counts what the gateway read. */
  | { kind: 'stream'; body: ReadableStream<Uint8Array>; status?: number; contentType?: string }

export interface RecordedRequest {
  method: string
  path: string
  headers: Record<string, string>
  /** Parsed JSON body, or the raw text when it is not JSON. */
  body: unknown
  receivedAt: number
  /** performance.now() when the client went away before the response finished, else null. */
  abortedAt: number | null
}

export interface DefaultMode {
  /** Delay before the JSON reply or before the first SSE byte. */
  latencyMs: number
  /** Content chunks per stream. */
  chunks: number
  /** Delay between stream chunks; 0 sends them back to back. */
  intervalMs: number
  promptTokens: number
}

export interface FakeUpstream {
  url: string
  program(...replies: FakeReply[]): void
  requests: RecordedRequest[]
  setDefault(mode: Partial<DefaultMode>): void
  /** Resolves with abortedAt once request `index` is aborted by the client; rejects after `timeoutMs`. */
  waitForAbort(index: number, timeoutMs?: number): Promise<number>
  stop(): Promise<void>
}

const encoder = new TextEncoder()

export async function startFakeUpstream(opts: { record?: boolean; defaults?: Partial<DefaultMode> } = {}): Promise<FakeUpstream> {
  const record = opts.record ?? true
  const queue: FakeReply[] = []
  const requests: RecordedRequest[] = []
  const abortWaiters = new Map<number, Array<(at: number) => void>>()
  let mode: DefaultMode = { latencyMs: 0, chunks: 5, intervalMs: 0, promptTokens: 10, ...opts.defaults }

  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    idleTimeout: 0, // "hang" replies must outlive Bun's default 10 s idle timeout
    async fetch(req) {
      const path = new URL(req.url).pathname
      const raw = await req.text()
      let body: unknown = raw
      try {
        body = JSON.parse(raw)
      } catch {
        // keep the raw text
      }
      if (record) {
        const entry: RecordedRequest = {
          method: req.method, path, headers: Object.fromEntries(req.headers), body, receivedAt: performance.now(), abortedAt: null,
        }
        const index = requests.push(entry) - 1
        req.signal.addEventListener('abort', () => {
          entry.abortedAt = performance.now()
          for (const resolve of abortWaiters.get(index) ?? []) resolve(entry.abortedAt)
          abortWaiters.delete(index)
        })
      }
      const reply = queue.shift() ?? defaultReply(mode, path, body)
      return respond(reply)
    },
  })

  return {
    url: `http://127.0.0.1:${server.port}`,
    program(...replies) {
      queue.push(...replies)
    },
    requests,
    setDefault(next) {
      mode = { ...mode, ...next }
    },
    waitForAbort(index, timeoutMs = 2000) {
      const seen = requests[index]?.abortedAt
      if (seen !== undefined && seen !== null) return Promise.resolve(seen)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`request ${index} was not aborted within ${timeoutMs} ms`)), timeoutMs)
        const list = abortWaiters.get(index) ?? []
        list.push((at) => {
          clearTimeout(timer)
          resolve(at)
        })
        abortWaiters.set(index, list)
      })
    },
    async stop() {
      await server.stop(true)
    },
  }
}

async function respond(reply: FakeReply): Promise<Response> {
  switch (reply.kind) {
    case 'hang':
      return new Promise<Response>(() => {})
    case 'stream':
      return new Response(reply.body, { status: reply.status ?? 200, headers: { 'content-type': reply.contentType ?? 'text/event-stream' } })
    case 'json':
      if (reply.delayMs) await Bun.sleep(reply.delayMs)
      return new Response(JSON.stringify(reply.body), {
        status: reply.status ?? 200, headers: { 'content-type': 'application/json', ...reply.headers },
      })
    case 'text':
      if (reply.delayMs) await Bun.sleep(reply.delayMs)
      return new Response(reply.body, { status: reply.status ?? 200, headers: { 'content-type': reply.contentType ?? 'text/plain' } })
    case 'sse': {
      if (reply.delayMs) await Bun.sleep(reply.delayMs)
      const chunks = reply.chunks.map((c) => (typeof c === 'string' ? encoder.encode(c) : c))
      let i = 0
      const stream = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (i < chunks.length) {
            if (reply.chunkDelayMs) await Bun.sleep(reply.chunkDelayMs)
            controller.enqueue(chunks[i++])
            return
          }
          const after = reply.after ?? 'end'
          if (after === 'end') controller.close()
          else if (after === 'reset') {
            // Erroring the body makes Bun drop the socket without the final chunk: the client sees ECONNRESET.
            // The pause lets the bytes already enqueued (and the headers) reach the client first.
            await Bun.sleep(20)
            controller.error(new Error('fake upstream: connection reset (expected in tests)'))
          }
          else await new Promise(() => {})
        },
      })
      return new Response(stream, {
        status: reply.status ?? 200,
        headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...reply.headers },
      })
    }
  }
}

/** Default mode: a well-formed reply in the wire format the path belongs to, usage always included. */
function defaultReply(mode: DefaultMode, path: string, body: unknown): FakeReply {
  const req = (typeof body === 'object' && body !== null ? body : {}) as { stream?: boolean; model?: string }
  const model = typeof req.model === 'string' ? req.model : 'fake-model'
  const anthropic = path.endsWith('/messages')
  const parts = Array.from({ length: mode.chunks }, (_, i) => `tok${i} `)
  if (req.stream === true) {
    const text = anthropic
      ? anthropicTextStream({ model, parts, inputTokens: mode.promptTokens })
      : openaiTextStream({ model, parts, promptTokens: mode.promptTokens })
    // One chunk per event so the interval applies between content chunks.
    const events = text.split('\n\n').filter((e) => e !== '').map((e) => `${e}\n\n`)
    return { kind: 'sse', chunks: events, delayMs: mode.latencyMs, chunkDelayMs: mode.intervalMs }
  }
  const json = anthropic
    ? anthropicMessage({ model, text: parts.join(''), inputTokens: mode.promptTokens, outputTokens: mode.chunks })
    : openaiCompletion({ model, text: parts.join(''), promptTokens: mode.promptTokens, completionTokens: mode.chunks })
  return { kind: 'json', body: json, delayMs: mode.latencyMs }
}

// ---- Builders: the real wire shapes of both APIs, as SSE text or JSON bodies. ----

export type LineEnding = '\n' | '\r\n' | '\r'

export interface SseEventSpec {
  event?: string
  data: string
}

/** Writes events as SSE text; every `data` here is single-line JSON or `[DONE]`. */
export function writeSse(events: SseEventSpec[], eol: LineEnding = '\n'): string {
  let out = ''
  for (const e of events) {
    if (e.event !== undefined) out += `event: ${e.event}${eol}`
    out += `data: ${e.data}${eol}${eol}`
  }
  return out
}

/** Splits at the given byte offsets (sorted, deduplicated), e.g. inside a CRLF or a UTF-8 sequence. */
export function splitBytes(text: string | Uint8Array, offsets: number[]): Uint8Array[] {
  const bytes = typeof text === 'string' ? encoder.encode(text) : text
  const cuts = [...new Set(offsets)].filter((o) => o > 0 && o < bytes.length).sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let start = 0
  for (const cut of cuts) {
    out.push(bytes.subarray(start, cut))
    start = cut
  }
  out.push(bytes.subarray(start))
  return out
}

export function chunkEvery(text: string | Uint8Array, size: number): Uint8Array[] {
  const bytes = typeof text === 'string' ? encoder.encode(text) : text
  const out: Uint8Array[] = []
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size))
  return out
}

/** An `sse` reply from a whole stream text, optionally cut every `chunkSize` bytes. */
export function sseReply(text: string, opts: Omit<Extract<FakeReply, { kind: 'sse' }>, 'kind' | 'chunks'> & { chunkSize?: number } = {}): FakeReply {
  const { chunkSize, ...rest } = opts
  return { kind: 'sse', chunks: chunkSize ? chunkEvery(text, chunkSize) : [text], ...rest }
}

export interface OpenAIStreamOpts {
  id?: string
  model?: string
  parts: string[]
  promptTokens?: number
  /** Defaults to parts.length. */
  completionTokens?: number
  /** Emit the include_usage chunk (default true). */
  usage?: boolean
  done?: boolean
  eol?: LineEnding
  created?: number
}

export function openaiTextStream(o: OpenAIStreamOpts): string {
  const id = o.id ?? 'chatcmpl-fake123'
  const base = { id, object: 'chat.completion.chunk', created: o.created ?? 1700000000, model: o.model ?? 'gpt-4o-mini', system_fingerprint: 'fp_fake' }
  const withUsage = o.usage ?? true
  const chunk = (delta: unknown, finish: string | null) =>
    JSON.stringify({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...(withUsage ? { usage: null } : {}) })
  const events: SseEventSpec[] = [{ data: chunk({ role: 'assistant', content: '', refusal: null }, null) }]
  for (const p of o.parts) events.push({ data: chunk({ content: p }, null) })
  events.push({ data: chunk({}, 'stop') })
  if (withUsage) {
    const prompt = o.promptTokens ?? 10
    const completion = o.completionTokens ?? o.parts.length
    events.push({ data: JSON.stringify({ ...base, choices: [], usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion } }) })
  }
  if (o.done ?? true) events.push({ data: '[DONE]' })
  return writeSse(events, o.eol)
}

export function openaiCompletion(o: { model?: string; text: string; promptTokens?: number; completionTokens?: number; id?: string }): Record<string, unknown> {
  const prompt = o.promptTokens ?? 10
  const completion = o.completionTokens ?? 5
  return {
    id: o.id ?? 'chatcmpl-fake123', object: 'chat.completion', created: 1700000000, model: o.model ?? 'gpt-4o-mini',
    choices: [{ index: 0, message: { role: 'assistant', content: o.text, refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
    system_fingerprint: 'fp_fake',
  }
}

export interface AnthropicStreamOpts {
  id?: string
  model?: string
  inputTokens?: number
  /** Final cumulative output tokens (message_delta); defaults to the number of deltas. */
  outputTokens?: number
  /** Insert a ping after message_start and between blocks, as the real API does. */
  pings?: boolean
  eol?: LineEnding
  stopReason?: string
}

type Block = { kind: 'text'; parts: string[] } | { kind: 'tool'; id: string; name: string; jsonParts: string[] }

function anthropicStream(blocks: Block[], o: AnthropicStreamOpts): string {
  const model = o.model ?? 'claude-sonnet-4-5'
  const ev = (type: string, payload: Record<string, unknown>): SseEventSpec => ({ event: type, data: JSON.stringify({ type, ...payload }) })
  const ping = (): SseEventSpec[] => (o.pings ? [ev('ping', {})] : [])
  const events: SseEventSpec[] = [
    ev('message_start', {
      message: {
        id: o.id ?? 'msg_fake01', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null,
        usage: { input_tokens: o.inputTokens ?? 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 },
      },
    }),
    ...ping(),
  ]
  let deltas = 0
  blocks.forEach((b, index) => {
    if (b.kind === 'text') {
      events.push(ev('content_block_start', { index, content_block: { type: 'text', text: '' } }), ...ping())
      for (const text of b.parts) events.push(ev('content_block_delta', { index, delta: { type: 'text_delta', text } }))
      deltas += b.parts.length
    } else {
      events.push(ev('content_block_start', { index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } }))
      for (const partial_json of ['', ...b.jsonParts]) events.push(ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json } }))
      deltas += b.jsonParts.length
    }
    events.push(ev('content_block_stop', { index }), ...ping())
  })
  const stop = o.stopReason ?? (blocks.some((b) => b.kind === 'tool') ? 'tool_use' : 'end_turn')
  events.push(
    ev('message_delta', { delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: o.outputTokens ?? deltas } }),
    ev('message_stop', {}),
  )
  return writeSse(events, o.eol)
}

export function anthropicTextStream(o: AnthropicStreamOpts & { parts: string[] }): string {
  return anthropicStream([{ kind: 'text', parts: o.parts }], o)
}

export function anthropicToolUseStream(o: AnthropicStreamOpts & { text?: string[]; tools: Array<{ id: string; name: string; jsonParts: string[] }> }): string {
  const blocks: Block[] = o.text ? [{ kind: 'text', parts: o.text }] : []
  for (const t of o.tools) blocks.push({ kind: 'tool', ...t })
  return anthropicStream(blocks, o)
}

/** The `error` event Anthropic sends mid-stream, e.g. when overloaded. */
export function anthropicErrorEvent(type = 'overloaded_error', message = 'Overloaded', eol: LineEnding = '\n'): string {
  return writeSse([{ event: 'error', data: JSON.stringify({ type: 'error', error: { type, message } }) }], eol)
}

export function anthropicMessage(o: { model?: string; text: string; inputTokens?: number; outputTokens?: number; id?: string }): Record<string, unknown> {
  return {
    id: o.id ?? 'msg_fake01', type: 'message', role: 'assistant', model: o.model ?? 'claude-sonnet-4-5',
    content: [{ type: 'text', text: o.text }], stop_reason: 'end_turn', stop_sequence: null,
    usage: { input_tokens: o.inputTokens ?? 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: o.outputTokens ?? 5 },
  }
}
