/**
 * createApp(deps): the Elysia app with its routes and hooks. No module-level singletons: tests build an app
 * around real or fake stores and call app.handle(new Request(...)).
 */
import { Elysia } from 'elysia'
import { asGatewayError, errorResponse, errorResponseAs, type ErrorFormat, GatewayError } from './http/errors.ts'
import { createRecorder } from './http/recorder.ts'
import { RequestTiming } from './http/timing.ts'
import { chatCompletions } from './routes/chat-completions.ts'
import type { AppDeps, RequestContext } from './routes/context.ts'
import { countTokens } from './routes/count-tokens.ts'
import { messages } from './routes/messages.ts'
import { listModels } from './routes/models.ts'

const REQUEST_ID = /^[A-Za-z0-9._:\-]{1,128}$/

export function requestIdFor(request: Request): string {
  const sent = request.headers.get('x-request-id')
  return sent && REQUEST_ID.test(sent) ? sent : `req_${crypto.randomUUID().replaceAll('-', '')}`
}

export function createApp(deps: AppDeps) {
  const record = createRecorder(deps.metrics, deps.log)
  const contexts = new WeakMap<Request, RequestContext>()

  const v1 = (route: string, handler: (ctx: RequestContext, deps: AppDeps) => Promise<Response>, format: ErrorFormat | ((r: Request) => ErrorFormat) = 'openai') =>
    async ({ request }: { request: Request }): Promise<Response> => {
      const ctx = contexts.get(request) ?? { request, requestId: requestIdFor(request), timing: new RequestTiming() }
      let streamDone: Promise<void> | null = null
      ctx.onStreamDone = (p) => (streamDone = p)
      let res: Response
      const handled = handler(ctx, deps)
      // Shutdown waits for the whole request, a stream's end or a departed client's drained reply included.
      deps.track?.(handled.then(() => streamDone, () => {}))
      try {
        res = await handled
      } catch (e) {
        const err = asGatewayError(e)
        if (err.code === 'internal_error') deps.log({ level: 'error', msg: 'unhandled error', request_id: ctx.requestId, route, error: String(e), stack: (e as Error)?.stack })
        if (err.code === 'budget_exceeded') deps.metrics.budgetRejections.inc()
        deps.metrics.errors.inc({ code: err.code })
        res = errorResponseAs(typeof format === 'function' ? format(request) : format, err, ctx.requestId)
      }
      res.headers.set('x-request-id', ctx.requestId)
      res.headers.set('server-timing', ctx.timing.serverTimingHeader())
      if (streamDone) (streamDone as Promise<void>).then(() => record(route, res.status, ctx.timing))
      else record(route, res.status, ctx.timing)
      return res
    }

  /** Operational routes: not timed per stage, but they carry the same correlation headers. */
  const plain = (handler: () => Response | Promise<Response>) => async ({ request }: { request: Request }) => {
    const res = await handler()
    const ctx = contexts.get(request)
    res.headers.set('x-request-id', ctx?.requestId ?? requestIdFor(request))
    res.headers.set('server-timing', `total;dur=${(ctx?.timing.elapsedMs() ?? 0).toFixed(3)}`)
    return res
  }

  // precompile: Elysia otherwise compiles each route's handler on its first request (a cold-start cost).
  return new Elysia({ precompile: true })
    .onRequest(({ request }) => {
      // Stage timing starts at the first lifecycle hook so it includes Elysia's own routing and parsing.
      contexts.set(request, { request, requestId: requestIdFor(request), timing: new RequestTiming() })
    })
    .onError(({ code, request }) => {
      const ctx = contexts.get(request)
      const requestId = ctx?.requestId ?? requestIdFor(request)
      const err = code === 'NOT_FOUND'
        ? new GatewayError('not_found', 'Unknown route.')
        : code === 'PARSE' ? new GatewayError('invalid_request_error', 'Request body could not be parsed.') : asGatewayError(null)
      return errorResponse(err, requestId, { 'server-timing': `total;dur=${(ctx?.timing.elapsedMs() ?? 0).toFixed(3)}` })
    })
    .get('/healthz', plain(() => new Response('ok\n')))
    .get('/readyz', plain(async () => {
      const reason = await deps.notReadyReason()
      return reason === null ? new Response('ready\n') : new Response(`not ready: ${reason}\n`, { status: 503 })
    }))
    .get('/metrics', plain(() => new Response(deps.metrics.render(), { headers: { 'content-type': 'text/plain; version=0.0.4' } })))
    .post('/v1/chat/completions', v1('chat.completions', chatCompletions), { parse: 'none' })
    .post('/v1/messages', v1('messages', messages, 'anthropic'), { parse: 'none' })
    .post('/v1/messages/count_tokens', v1('messages.count_tokens', countTokens, 'anthropic'), { parse: 'none' })
    .get('/v1/models', v1('models', listModels, (r) => (r.headers.has('anthropic-version') ? 'anthropic' : 'openai')))
}

export type GatewayApp = ReturnType<typeof createApp>

/**
 * Bun.serve fetch handler. Elysia finds the path at `url.indexOf('/', 11)`, assuming a host of at least
 * 4 characters, so with `Host: x` the path shifts ("/xx/metrics" routed as "/metrics", real routes 404).
 * Such requests are re-addressed to a fixed host before routing.
 */
export function fetchHandler(app: GatewayApp): (req: Request) => Response | Promise<Response> {
  return (req) => {
    const url = req.url
    const pathStart = url.indexOf('/', url.indexOf('//') + 2)
    if (pathStart !== -1 && pathStart >= 11) return app.handle(req)
    const path = pathStart === -1 ? '/' : url.slice(pathStart)
    return app.handle(new Request(`http://gateway.invalid${path}`, req))
  }
}
