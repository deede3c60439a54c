/**
 * The SSE response every streaming route shares: keep-alive comments, the upstream idle timeout, the request
 * deadline, the shutdown cut, one terminal error event, the protocol's own end, and exactly one closing of
 * the reservation. A route supplies only how an upstream item becomes frames and what its end and error look
 * like; frames come from src/http/sse.ts, the only SSE writer.
 *
 * A client that disconnects does not stop the upstream: the gateway reads the reply to its end (within the
 * reservation, which bounds its output, and the request deadline) so the provider's own usage report decides
 * the charge. Aborting instead would leave the gateway blind to tokens the provider generated and bills
 * (a reasoning model thinks before it writes), so it could only charge the worst case.
 *
 * A client that stops reading holds back the upstream instead of filling the gateway's memory: the body is a
 * direct stream whose one reader of the upstream (`pump`) waits on every write the client's socket cannot take
 * yet, and fetch stops reading the upstream socket once its own body buffer is full. What the gateway holds per
 * stalled stream is then about one upstream read (fetch's buffer and the events parsed from it) and one write;
 * the rest of the reply waits in the kernel's socket buffers and at the upstream. Keep-alive comments are not
 * written behind a waiting write, so they cannot pile up either.
 */
import { MAX_REQUEST_MS } from '../budget/service.ts'
import { closeReservation, type RequestEnding } from '../budget/settlement.ts'
import { asGatewayError, GatewayError, shutdownError } from '../errors.ts'
import { SSE_HEADERS, SSE_HEARTBEAT_FRAME } from '../http/sse.ts'
import { canTakeBuffered } from '../providers/batches.ts'
import { upstreamTimeout } from '../providers/upstream.ts'
import type { Usage } from '../wire/openai.ts'
import type { Admission } from './admission.ts'
import type { AppDeps, RequestContext } from './context.ts'

/** Default for providers without `idle_timeout_ms`: long enough for reasoning models that think silently. */
export const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 300_000
const HEARTBEAT_MS = 15_000

/** What the gateway has seen of a reply: settlement reads it whatever way the request ends. */
export interface ReplyMeter {
  usage: Usage | null
  /** UTF-8 bytes of generated text/arguments. */
  completionBytes: number
  /** Set once the upstream's reply began (its first event, or its body): from then on it may have billed. */
  started: boolean
}

export interface StreamProtocol<T> {
  /** SSE frames for one upstream item (none when it is not for the client); records usage and bytes in `meter`. */
  frames(item: T, meter: ReplyMeter): string[]
  /** Frames after the upstream ended cleanly (`data: [DONE]`, or nothing when the protocol ends itself). */
  end(meter: ReplyMeter): string[]
  /** The one event that ends a stream in error. */
  error(err: GatewayError, requestId: string): string
}

type Ending = Omit<RequestEnding, 'usage' | 'completionBytes' | 'started'> & { error?: GatewayError }

export function newMeter(): ReplyMeter {
  return { usage: null, completionBytes: 0, started: false }
}

export async function streamResponse<T>(
  ctx: RequestContext,
  deps: AppDeps,
  adm: Pick<Admission<unknown>, 'route' | 'reservation'>,
  start: (signal: AbortSignal) => Promise<AsyncIterable<T>>,
  protocol: StreamProtocol<T>,
): Promise<Response> {
  const { timing } = ctx
  const { route, reservation } = adm
  const meter = newMeter()
  // Aborted only by the gateway (timeouts, deadline, shutdown): a client that leaves is drained, not aborted.
  const upstream = new AbortController()
  let gatewayEnd: { err: GatewayError; status: RequestEnding['status'] } | null = null
  let onGatewayEnd: (() => void) | null = null
  const endByGateway = (err: GatewayError, status: RequestEnding['status'] = 'upstream_timeout'): GatewayError => {
    if (!gatewayEnd) {
      gatewayEnd = { err, status }
      upstream.abort(err)
      onGatewayEnd?.()
    }
    return gatewayEnd.err
  }
  const maxMs = deps.maxRequestMs ?? MAX_REQUEST_MS
  const deadline = setTimeout(
    () => endByGateway(new GatewayError('upstream_timeout', `request exceeded the gateway's limit of ${Math.round(maxMs / 60_000)} minutes`)),
    Math.max(0, maxMs - timing.elapsedMs()),
  )
  const onShutdown = () => endByGateway(shutdownError(deps.shutdown), 'shutdown')
  deps.shutdown.addEventListener('abort', onShutdown, { once: true })
  const detach = () => {
    clearTimeout(deadline)
    deps.shutdown.removeEventListener('abort', onShutdown)
  }
  if (deps.shutdown.aborted) onShutdown()

  // The provider's timeout_ms bounds the wait for the reply's headers (upstreamFetch sets no timer of its own);
  // the idle timer below takes over once the stream has begun, so a long stream is never cut by it.
  const headersDue = setTimeout(() => endByGateway(upstreamTimeout(route.provider)), route.provider.timeoutMs)
  let iterable: AsyncIterable<T>
  try {
    iterable = await start(upstream.signal)
  } catch (e) {
    clearTimeout(headersDue)
    detach()
    // Refused or unreachable before anything was generated: nothing to pay for.
    await closeReservation(reservation, { endedBy: 'upstream_error', status: 'upstream_error', usage: null, completionBytes: 0, started: false }, timing.elapsedMs())
    throw gatewayEnd ? (gatewayEnd as { err: GatewayError }).err : e
  }
  clearTimeout(headersDue)
  timing.mark('upstream_ttfb')
  deps.metrics.upstreamMs.observe({ provider: route.provider.name }, timing.stages.upstream_ttfb ?? 0)

  const it = iterable[Symbol.asyncIterator]()
  let resolveDone!: () => void
  ctx.onFinishing?.(new Promise<void>((r) => (resolveDone = r)), 'stream')

  let finished = false
  let heartbeat: ReturnType<typeof setInterval> | undefined
  const finish = async (e: Ending) => {
    if (finished) return
    finished = true
    clearInterval(heartbeat)
    clearTimeout(idle)
    detach()
    timing.mark('stream')
    await closeReservation(reservation, { ...e, usage: meter.usage, completionBytes: meter.completionBytes, started: meter.started }, timing.elapsedMs())
    timing.mark('settle')
    if (e.error) deps.metrics.errors.inc({ code: e.error.code })
    resolveDone()
  }
  /** How a failed read ends the request: ours (timeout, shutdown) or the upstream's. */
  const failure = (e: unknown): Ending & { error: GatewayError } => {
    if (gatewayEnd) return { endedBy: 'gateway', status: gatewayEnd.status, error: gatewayEnd.err }
    const error = asGatewayError(e)
    if (error.code === 'internal_error') deps.log({ level: 'error', msg: 'stream failed', request_id: ctx.requestId, error: String(e) })
    return { endedBy: 'upstream_error', status: error.code === 'upstream_timeout' ? 'upstream_timeout' : 'upstream_error', error }
  }

  // An upstream that goes silent after its headers would hold the client (and the reservation) forever. It is
  // timed only while a read waits on it (a client that stops reading is not the upstream's silence), with one
  // timer per stream re-armed (refresh) by each read: a timer and a race per item cost ~5% of a streaming
  // gateway's CPU. On expiry the gateway ends the request (closing the client's stream, settling, aborting the
  // upstream read), whether or not the upstream iterator heeds the abort.
  const idleMs = route.provider.idleTimeoutMs ?? DEFAULT_STREAM_IDLE_TIMEOUT_MS
  let waiting = false
  const idle = setTimeout(() => {
    if (!waiting) return // no read waiting: the next one re-arms the timer
    endByGateway(new GatewayError('upstream_timeout', `upstream ${route.provider.name} sent nothing for ${idleMs} ms`))
  }, idleMs)
  const nextItem = (): Promise<IteratorResult<T>> => {
    waiting = true
    idle.refresh()
    return it.next()
  }

  // The body is one of Bun's direct streams: frames go into the response as strings, which Bun.serve encodes
  // straight into the socket (a reader of the Response gets bytes, as the Fetch standard has it), with no queue, no
  // encoded copy of each frame and no pull per chunk. 1,000 concurrent streams peaked ~20 MiB lower for it
  // (bench/RESULTS.md). Backpressure: a write answers with a promise once the client's socket buffers are full, and
  // nothing more is read from the upstream until it settles.
  let sink: ReadableStreamDirectController | null = null
  let cancelled = false
  let closed = false
  /** A write waits on a client that does not read: keep-alive comments must not pile up behind it. */
  let held = false
  const send = async (frame: string): Promise<void> => {
    if (cancelled || closed || sink === null) return
    const written = sink.write(frame)
    void sink.flush()
    if (typeof written === 'number') return
    held = true
    try {
      await written
    } finally {
      held = false
    }
  }
  /** The protocol's end, or its one error event, then the end of the body. */
  const close = (lastFrames: () => string[]) => {
    if (closed || cancelled || sink === null) return
    closed = true
    try {
      const frames = lastFrames()
      if (frames.length > 0) sink.write(frames.join(''))
    } catch {}
    try {
      sink.close()
    } catch {}
  }
  const closeWithError = (err: GatewayError) => close(() => [protocol.error(err, ctx.requestId)])

  // The one reader of the upstream: it writes what it reads while the client is there and, after the client
  // left, reads the rest for its usage (frames discarded). `finished` is checked after every await.
  const pump = async (): Promise<void> => {
    try {
      for (;;) {
        const { done, value } = await nextItem()
        waiting = false
        if (finished) return
        if (done) {
          const end = protocol.end(meter) // a throw here is the pump's failure, as any other
          close(() => end)
          return await finish({ endedBy: 'completed', status: cancelled ? 'client_disconnect' : 'ok' })
        }
        meter.started = true
        const frames = protocol.frames(value, meter)
        // The rest of the upstream read this item came in: one write to the client for all of it.
        // Items already metered reach the client even if a later one of the batch fails.
        let failed: { error: unknown } | null = null
        if (canTakeBuffered(it)) {
          for (const more of it.takeBuffered()) {
            try {
              frames.push(...protocol.frames(more, meter))
            } catch (error) {
              failed = { error }
              break
            }
          }
        }
        if (frames.length > 0) await send(frames.length === 1 ? frames[0]! : frames.join(''))
        if (failed) throw failed.error
      }
    } catch (e) {
      waiting = false
      if (finished) return
      const f = failure(e)
      if (cancelled) return await finish({ ...f, status: f.status === 'shutdown' ? 'shutdown' : 'client_disconnect' })
      closeWithError(f.error)
      await finish(f)
    }
  }
  let pumping: Promise<void> | null = null
  const startPump = () => (pumping ??= pump())

  // A gateway end must close the stream even when nothing reads it (a client that stopped reading).
  onGatewayEnd = () => {
    if (!gatewayEnd || finished) return
    const { err, status } = gatewayEnd
    closeWithError(err)
    void finish({ endedBy: 'gateway', status: cancelled && status !== 'shutdown' ? 'client_disconnect' : status, error: err })
  }
  if (gatewayEnd) onGatewayEnd()

  const body = new ReadableStream({
    type: 'direct',
    // Called once, by Bun.serve or by the first read of a reader (whose reads resolve as the writes happen): the
    // stream lasts as long as the promise it returns.
    pull(controller) {
      sink = controller
      // Ended by the gateway before the client began to read: just the error event.
      if (gatewayEnd) return closeWithError(gatewayEnd.err)
      // A comment line every 15 s keeps proxies and idle-socket timers from cutting a silent stream (a model
      // that reasons before writing); SSE clients ignore comments. Not behind a held write: a client that
      // stopped reading must not collect comments.
      // A comment the socket cannot take holds back the next ones as any held write does (send).
      heartbeat = setInterval(() => {
        if (!held) send(SSE_HEARTBEAT_FRAME).catch(() => clearInterval(heartbeat))
      }, deps.heartbeatMs ?? HEARTBEAT_MS)
      return startPump()
    },
    cancel() {
      cancelled = true
      clearInterval(heartbeat)
      // A pump in progress carries on as the drain (a held write settles when the client goes); otherwise start one.
      if (!finished) void startPump()
    },
  })
  return new Response(body as ReadableStream<Uint8Array>, { status: 200, headers: SSE_HEADERS })
}
