/**
 * POST /v1/chat/completions: auth → validate → route → reserve → upstream → (stream) → settle.
 * Settlement always runs exactly once, on success, failure and client disconnect alike.
 */
import { authenticate } from '../auth/api-key.ts'
import { MAX_REQUEST_MS, type Reservation, type SettleOutcome } from '../budget/service.ts'
import { readJsonBody } from '../http/body.ts'
import { asGatewayError, errorBody, GatewayError } from '../http/errors.ts'
import { encodeSse, SSE_DONE_FRAME, SSE_HEADERS, SSE_HEARTBEAT_FRAME, sseDataFrame } from '../http/sse.ts'
import { validateChatRequest } from '../http/validate.ts'
import { adapterFor, assertProviderUsable, resolveRoute } from '../providers/registry.ts'
import type { ChatChunk, ChatRequest, ModelRoute, Usage } from '../providers/types.ts'
import type { AppDeps, RequestContext } from './context.ts'

/** Default for providers without `idle_timeout_ms`: long enough for reasoning models that think silently. */
export const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 300_000
const HEARTBEAT_MS = 15_000

const utf8Bytes = (s: string | null | undefined) => (s ? Buffer.byteLength(s, 'utf8') : 0)

function chunkBytes(c: ChatChunk): number {
  let n = 0
  for (const ch of c.choices) {
    n += utf8Bytes(ch.delta.content) + utf8Bytes(ch.delta.refusal)
    for (const t of ch.delta.tool_calls ?? []) n += utf8Bytes(t.function?.arguments) + utf8Bytes(t.function?.name)
  }
  return n
}

export async function chatCompletions(ctx: RequestContext, deps: AppDeps): Promise<Response> {
  const { timing, request } = ctx
  const body = await readJsonBody(request, deps.config.maxBodyBytes)
  const req = validateChatRequest(body)
  timing.mark('request')

  const { key, tenant } = await authenticate(request.headers, deps.cache)
  timing.mark('auth')

  const route = resolveRoute(deps.config, req.model)
  if (tenant.allowedModels && !tenant.allowedModels.includes(req.model)) {
    throw new GatewayError('model_not_allowed', `This API key may not use the model \`${req.model}\`.`, { param: 'model' })
  }
  assertProviderUsable(route.provider)
  // Strict budgets reserve for the output cap, so the upstream must be held to it: send the model's max when
  // the client set none (max_completion_tokens: the current OpenAI field, also read by the other adapters).
  if (req.max_completion_tokens == null && req.max_tokens == null) {
    delete req.max_tokens
    req.max_completion_tokens = route.model.maxOutputTokens
  }
  const adapter = deps.adapters?.[route.provider.kind] ?? adapterFor(route.provider.kind)
  timing.mark('config')

  // The ledger id is ours, never the client's x-request-id: a replayed client id must not dodge a charge.
  const ledgerId = crypto.randomUUID()
  const reservation = await deps.budget.reserve({
    tenant, keyId: key.id, model: route.model, provider: route.provider.name, req, ledgerId, startedAt: timing.startedAtEpochMs,
  })
  timing.mark('budget_reserve')

  const abort = new AbortController()
  const onClientAbort = () => abort.abort(new DOMException('client disconnected', 'AbortError'))
  if (request.signal.aborted) onClientAbort()
  else request.signal.addEventListener('abort', onClientAbort, { once: true })

  if (req.stream) return streamResponse(ctx, deps, req, route, adapter.stream(req, route, abort.signal), reservation, abort)

  // upstreamFetch's timeout stops at the response headers; an upstream that then stalls its body must not hold
  // the request (and its reservation) forever, nor may any request outlive its reservation (MAX_REQUEST_MS).
  const totalMs = Math.max(0, Math.min(route.provider.timeoutMs, (deps.maxRequestMs ?? MAX_REQUEST_MS) - timing.elapsedMs()))
  const deadline = setTimeout(() => abort.abort(new GatewayError('upstream_timeout', `upstream ${route.provider.name} did not finish within ${Math.round(totalMs)} ms`)), totalMs)
  try {
    const upstream = await adapter.complete(req, route, abort.signal)
    timing.mark('upstream_ttfb')
    deps.metrics.upstreamMs.observe({ provider: route.provider.name }, timing.stages.upstream_ttfb ?? 0)
    const bytes = upstream.choices.reduce((n, c) => n + utf8Bytes(c.message.content), 0)
    await reservation.settle({ usage: upstream.usage ?? null, completionBytes: bytes, status: 'ok' }, timing.elapsedMs())
    timing.mark('settle')
    return Response.json(upstream)
  } catch (e) {
    // A non-streamed reply's headers come only after the whole generation, so a client that left or a timeout
    // says nothing about what the upstream already generated (and billed): charge the worst case, never release.
    const ours = abort.signal.reason instanceof GatewayError ? abort.signal.reason : null
    const err = ours ?? e
    const timedOut = err instanceof GatewayError && err.code === 'upstream_timeout'
    if (abort.signal.aborted || timedOut) {
      const status = timedOut ? 'upstream_timeout' : 'client_disconnect'
      await reservation.settle({ usage: null, completionBytes: Number.MAX_SAFE_INTEGER, status }, timing.elapsedMs())
    } else {
      await reservation.release()
    }
    throw err
  } finally {
    clearTimeout(deadline)
    request.signal.removeEventListener('abort', onClientAbort)
  }
}

async function streamResponse(
  ctx: RequestContext,
  deps: AppDeps,
  req: ChatRequest,
  route: ModelRoute,
  started: Promise<AsyncIterable<ChatChunk>>,
  reservation: Reservation,
  abort: AbortController,
): Promise<Response> {
  const { timing } = ctx
  // Ended by us (idle upstream, or the request's total deadline) rather than by the client.
  let serverAbort: GatewayError | null = null
  let onDeadline: (() => void) | null = null
  const maxMs = deps.maxRequestMs ?? MAX_REQUEST_MS
  const endByServer = (message: string): GatewayError => {
    serverAbort = new GatewayError('upstream_timeout', message)
    abort.abort(serverAbort)
    return serverAbort
  }
  const deadline = setTimeout(() => {
    endByServer(`request exceeded the gateway's limit of ${Math.round(maxMs / 60_000)} minutes`)
    onDeadline?.()
  }, Math.max(0, maxMs - timing.elapsedMs()))
  let iterable: AsyncIterable<ChatChunk>
  try {
    iterable = await started
  } catch (e) {
    clearTimeout(deadline)
    await reservation.release()
    throw serverAbort ?? e
  }
  timing.mark('upstream_ttfb')
  deps.metrics.upstreamMs.observe({ provider: route.provider.name }, timing.stages.upstream_ttfb ?? 0)

  const clientWantsUsage = req.stream_options?.include_usage === true
  const it = iterable[Symbol.asyncIterator]()
  const seen: { usage: Usage | null; bytes: number } = { usage: null, bytes: 0 }
  let resolveDone!: () => void
  ctx.onStreamDone?.(new Promise<void>((r) => (resolveDone = r)))

  let finished = false
  let heartbeat: ReturnType<typeof setInterval> | undefined
  const finish = async (status: SettleOutcome['status'], error?: GatewayError) => {
    if (finished) return
    finished = true
    clearInterval(heartbeat)
    clearTimeout(deadline)
    timing.mark('stream')
    try {
      // A timeout is ours, not the upstream's: it may have generated (and billed) what we never read, e.g. a
      // model reasoning silently; charge the worst case. An upstream error before any token is released.
      if (status === 'upstream_timeout' && seen.usage === null) {
        await reservation.settle({ usage: null, completionBytes: Number.MAX_SAFE_INTEGER, status }, timing.elapsedMs())
      } else if (error && seen.usage === null && seen.bytes === 0) await reservation.release()
      else await reservation.settle({ usage: seen.usage, completionBytes: seen.bytes, status }, timing.elapsedMs())
    } catch (e) {
      deps.log({ level: 'error', msg: 'stream settlement failed', request_id: ctx.requestId, error: String(e) })
    }
    timing.mark('settle')
    if (error) deps.metrics.errors.inc({ code: error.code })
    resolveDone()
  }

  // An upstream that goes silent after its headers would hold the client (and the reservation) forever.
  const idleMs = route.provider.idleTimeoutMs ?? DEFAULT_STREAM_IDLE_TIMEOUT_MS
  const nextChunk = (): Promise<IteratorResult<ChatChunk>> => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const idle = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(endByServer(`upstream ${route.provider.name} sent nothing for ${idleMs} ms`)), idleMs)
    })
    return Promise.race([it.next(), idle]).finally(() => clearTimeout(timer))
  }

  /** After a stream has started, an error is one error event and the end of the stream. */
  const closeWithError = (controller: ReadableStreamDefaultController<Uint8Array>, err: GatewayError) => {
    if (finished) return
    try {
      controller.enqueue(encodeSse(sseDataFrame(errorBody(err, ctx.requestId))))
      controller.close()
    } catch {}
  }

  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      // The deadline must end the stream even when nothing pulls (a client that stopped reading).
      onDeadline = () => {
        closeWithError(controller, serverAbort!)
        void finish('upstream_timeout', serverAbort!)
      }
      // A comment line every 15 s keeps proxies and idle-socket timers from cutting a silent stream (a model
      // that reasons before writing); SSE clients ignore comments.
      heartbeat = setInterval(() => {
        try {
          controller.enqueue(encodeSse(SSE_HEARTBEAT_FRAME))
        } catch {
          clearInterval(heartbeat)
        }
      }, deps.heartbeatMs ?? HEARTBEAT_MS)
    },
    async pull(controller) {
      try {
        for (;;) {
          const { done, value } = await nextChunk()
          if (done) {
            controller.enqueue(encodeSse(SSE_DONE_FRAME))
            controller.close()
            await finish('ok')
            return
          }
          seen.bytes += chunkBytes(value)
          if (value.usage) seen.usage = value.usage
          const out = visibleChunk(value, clientWantsUsage)
          if (out) {
            controller.enqueue(encodeSse(sseDataFrame(out)))
            return
          }
        }
      } catch (e) {
        if (abort.signal.aborted && !serverAbort) return finish('client_disconnect')
        const err = asGatewayError(serverAbort ?? e)
        if (err.code === 'internal_error') deps.log({ level: 'error', msg: 'stream failed', request_id: ctx.requestId, error: String(e) })
        closeWithError(controller, err)
        await finish(err.code === 'upstream_timeout' ? 'upstream_timeout' : 'upstream_error', err)
      }
    },
    async cancel() {
      abort.abort(new DOMException('client disconnected', 'AbortError'))
      await it.return?.().catch(() => {})
      await finish('client_disconnect')
    },
  })
  return new Response(body, { status: 200, headers: SSE_HEADERS })
}

/** The usage chunk is always requested upstream (for settlement); the client sees it only if it asked. */
export function visibleChunk(c: ChatChunk, clientWantsUsage: boolean): ChatChunk | null {
  if (clientWantsUsage) return c
  if (c.usage && c.choices.length === 0) return null
  // Chunks are fresh objects owned by this request (adapters never share them), so drop the field in place.
  if (c.usage !== undefined) delete c.usage
  return c
}
