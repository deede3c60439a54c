/**
 * The non-streamed response every route shares: one upstream call bounded by the provider timeout and the
 * request deadline, cut by a shutdown, and exactly one closing of the reservation. A client that leaves does
 * not abort the call (see stream-response.ts): the reply is read for its usage and then discarded.
 */
import { MAX_REQUEST_MS } from '../budget/service.ts'
import { closeReservation } from '../budget/settlement.ts'
import { GatewayError, shutdownError } from '../errors.ts'
import type { Admission } from './admission.ts'
import type { AppDeps, RequestContext } from './context.ts'
import { newMeter, type ReplyMeter } from './stream-response.ts'

export async function completeResponse<T>(
  ctx: RequestContext,
  deps: AppDeps,
  adm: Pick<Admission<unknown>, 'route' | 'reservation'>,
  call: (signal: AbortSignal) => Promise<T>,
  /** Records the reply's usage and bytes, and renders it for the client. */
  reply: (body: T, meter: ReplyMeter) => Response,
): Promise<Response> {
  const { timing, request } = ctx
  const { route, reservation } = adm
  const upstream = new AbortController()
  let ours: { err: GatewayError; status: 'upstream_timeout' | 'shutdown' } | null = null
  const endByGateway = (err: GatewayError, status: 'upstream_timeout' | 'shutdown') => {
    ours ??= { err, status }
    upstream.abort(ours.err)
  }
  // One timer for the whole call, headers and body (upstreamFetch sets none): the provider's timeout_ms, cut
  // short so that no request outlives its reservation (MAX_REQUEST_MS).
  const totalMs = Math.max(0, Math.min(route.provider.timeoutMs, (deps.maxRequestMs ?? MAX_REQUEST_MS) - timing.elapsedMs()))
  const deadline = setTimeout(() => endByGateway(new GatewayError('upstream_timeout', `upstream ${route.provider.name} did not finish within ${Math.round(totalMs)} ms`), 'upstream_timeout'), totalMs)
  const onShutdown = () => endByGateway(shutdownError(deps.shutdown), 'shutdown')
  deps.shutdown.addEventListener('abort', onShutdown, { once: true })
  if (deps.shutdown.aborted) onShutdown()
  const meter = newMeter()
  try {
    const body = await call(upstream.signal)
    timing.mark('upstream_ttfb')
    deps.metrics.upstreamMs.observe({ provider: route.provider.name }, timing.stages.upstream_ttfb ?? 0)
    meter.started = true
    const res = reply(body, meter)
    const status = request.signal.aborted ? 'client_disconnect' : 'ok'
    // The reply goes out without waiting for the ledger's answer (a Redis round trip), as a stream's end does.
    // The charge is already on its way: the cost is computed and handed to the ledger before this returns (the
    // in-process ledger applies it at once; the Redis script is queued on the one connection, which runs
    // commands in order, ahead of anything a following request sends), so the client's next request through
    // this gateway sees it. The request stays in flight until the ledger answered, so a shutdown waits for it,
    // and a settle that fails is kept and retried by the ledger as before.
    const settled = closeReservation(reservation, { endedBy: 'completed', status, ...meter }, timing.elapsedMs())
      .then(() => timing.mark('settle'))
    if (ctx.onFinishing) ctx.onFinishing(settled, 'settle')
    else await settled
    return res
  } catch (e) {
    if (ours) {
      // A non-streamed reply's headers come only after the whole generation: a cut call may have generated
      // (and been billed for) everything.
      const { err, status } = ours as { err: GatewayError; status: 'upstream_timeout' | 'shutdown' }
      await closeReservation(reservation, { endedBy: 'gateway', status, ...meter }, timing.elapsedMs())
      throw err
    }
    // An upstream_timeout from the adapter itself is a cut as well: the generation may have run to its end.
    const timedOut = e instanceof GatewayError && e.code === 'upstream_timeout'
    await closeReservation(reservation, timedOut
      ? { endedBy: 'gateway', status: 'upstream_timeout', ...meter }
      : { endedBy: 'upstream_error', status: 'upstream_error', ...meter }, timing.elapsedMs())
    throw e
  } finally {
    clearTimeout(deadline)
    deps.shutdown.removeEventListener('abort', onShutdown)
  }
}
