/**
 * createApp(deps): the Elysia app with its routes and hooks. No module-level singletons: tests build an app
 * around real or fake stores and call app.handle(new Request(...)).
 */
import { Elysia } from 'elysia'
import { createAdminApi } from './admin/api.ts'
import type { AdminKeys } from './admin/auth.ts'
import { errorResponse, errorResponseAs, type ErrorFormat } from './http/errors.ts'
import { asGatewayError, GatewayError } from './errors.ts'
import { metricsResponse } from './http/metrics-server.ts'
import { createRecorder } from './http/recorder.ts'
import { requestIdFor } from './http/request-id.ts'
import { RequestTiming, totalTimingHeader } from './http/timing.ts'
import { chatCompletions } from './routes/chat-completions.ts'
import type { AppDeps, RequestContext } from './routes/context.ts'
import { countTokens } from './routes/count-tokens.ts'
import { messages } from './routes/messages.ts'
import { listModels, retrieveModel } from './routes/models.ts'

export { requestIdFor }

/** /v1/models speaks Anthropic's protocol to clients that send its version header (Claude Code, the SDK). */
const protocolOf = (r: Request): ErrorFormat => (r.headers.has('anthropic-version') ? 'anthropic' : 'openai')

/** HTTP status recorded for a request whose client left before its (non-streamed) response: nginx's 499. */
export const CLIENT_CLOSED_REQUEST = 499

const newContext = (request: Request): RequestContext => {
  const requestId = requestIdFor(request)
  return { request, requestId, timing: new RequestTiming(), access: { requestId } }
}

export interface AppOptions {
  /** false when /metrics is served on its own listener (`metrics_listen`) instead of the main port. */
  metricsRoute?: boolean
  /** Serve the admin API (/admin/v1) here with these keys; absent: /admin answers 404 like any unknown path. */
  admin?: AdminKeys
}

export function createApp(deps: AppDeps, opts: AppOptions = {}) {
  const record = createRecorder(deps.metrics, deps.log)
  const contexts = new WeakMap<Request, RequestContext>()
  const { inflightRequests, inflightStreams } = deps.metrics
  const adminApi = opts.admin ? createAdminApi(deps, opts.admin) : null

  const v1 = (route: string, handler: (ctx: RequestContext, deps: AppDeps) => Promise<Response>, format: ErrorFormat | ((r: Request) => ErrorFormat) = 'openai') =>
    async ({ request }: { request: Request }): Promise<Response> => {
      const ctx = contexts.get(request) ?? newContext(request)
      inflightRequests.inc()
      let finishing: Promise<void> | null = null
      let stream = false
      ctx.onFinishing = (p, kind) => {
        finishing = p
        stream = kind === 'stream'
      }
      let res: Response
      const handled = handler(ctx, deps)
      let errorCode: string | undefined
      try {
        res = await handled
      } catch (e) {
        if (request.signal.aborted && !(e instanceof GatewayError)) {
          // The client left before the response (the handler rethrew its abort): nobody reads this answer and
          // nothing failed in the gateway, so no error log or error metric.
          ctx.access.outcome ??= 'client_disconnect'
          res = new Response(null, { status: CLIENT_CLOSED_REQUEST })
        } else {
          const err = asGatewayError(e)
          if (err.code === 'internal_error') deps.log({ level: 'error', msg: 'unhandled error', request_id: ctx.requestId, route, error: String(e), stack: (e as Error)?.stack })
          if (err.code === 'budget_exceeded') deps.metrics.budgetRejections.inc()
          deps.metrics.errors.inc({ code: err.code })
          errorCode = err.code
          res = errorResponseAs(typeof format === 'function' ? format(request) : format, err, ctx.requestId)
        }
      }
      // A client that left before a non-streamed reply: the reply was read (and charged) but nobody gets it.
      if (request.signal.aborted && !stream && res.status < 400) res = new Response(null, { status: CLIENT_CLOSED_REQUEST })
      res.headers.set('x-request-id', ctx.requestId)
      res.headers.set('server-timing', ctx.timing.serverTimingHeader())
      const end = () => {
        inflightRequests.dec()
        record(route, res.status, ctx.timing, { facts: ctx.access, stream, errorCode })
      }
      if (finishing === null) end()
      else {
        if (stream) inflightStreams.inc()
        const finished = () => {
          if (stream) inflightStreams.dec()
          end()
        }
        ;(finishing as Promise<void>).then(finished, finished)
      }
      return res
    }

  /** Operational routes: not timed per stage, but they carry the same correlation headers. */
  const plain = (handler: (requestId: string) => Response | Promise<Response>) => async ({ request }: { request: Request }) => {
    const ctx = contexts.get(request)
    const requestId = ctx?.requestId ?? requestIdFor(request)
    const res = await handler(requestId)
    res.headers.set('x-request-id', requestId)
    res.headers.set('server-timing', totalTimingHeader(ctx?.timing))
    return res
  }

  const admin = async ({ request }: { request: Request }) => {
    const ctx = contexts.get(request)
    const requestId = ctx?.requestId ?? requestIdFor(request)
    const res = adminApi ? await adminApi(request, requestId) : errorResponse(new GatewayError('not_found', 'Unknown route.'), requestId)
    res.headers.set('server-timing', totalTimingHeader(ctx?.timing))
    return res
  }

  // precompile: Elysia otherwise compiles each route's handler on its first request (a cold-start cost).
  return new Elysia({ precompile: true })
    .onRequest(({ request }) => {
      // Stage timing starts at the first lifecycle hook so it includes Elysia's own routing and parsing.
      contexts.set(request, newContext(request))
    })
    .onError(({ code, request }) => {
      const ctx = contexts.get(request)
      const requestId = ctx?.requestId ?? requestIdFor(request)
      const err = code === 'NOT_FOUND'
        ? new GatewayError('not_found', 'Unknown route.')
        : code === 'PARSE' ? new GatewayError('invalid_request_error', 'Request body could not be parsed.') : asGatewayError(null)
      return errorResponse(err, requestId, { 'server-timing': totalTimingHeader(ctx?.timing) })
    })
    .get('/healthz', plain(() => new Response('ok\n')))
    .get('/readyz', plain(async () => {
      const reason = await deps.notReadyReason()
      return reason === null ? new Response('ready\n') : new Response(`not ready: ${reason}\n`, { status: 503 })
    }))
    .get('/metrics', plain((id) => (opts.metricsRoute === false ? errorResponse(new GatewayError('not_found', 'Unknown route.'), id) : metricsResponse(deps.metrics))))
    // Every method and path under /admin: the admin API checks the key before it routes (src/admin/api.ts).
    .all('/admin', admin, { parse: 'none' })
    .all('/admin/*', admin, { parse: 'none' })
    .post('/v1/chat/completions', v1('chat.completions', chatCompletions), { parse: 'none' })
    .post('/v1/messages', v1('messages', messages, 'anthropic'), { parse: 'none' })
    .post('/v1/messages/count_tokens', v1('messages.count_tokens', countTokens, 'anthropic'), { parse: 'none' })
    .get('/v1/models', v1('models', listModels, protocolOf))
    // A wildcard, not `:id`: model ids may contain slashes (`meta-llama/Llama-3.1-8B` on vLLM).
    .get('/v1/models/*', v1('models.retrieve', retrieveModel, protocolOf))
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
