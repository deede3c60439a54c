/**
 * Admission, shared by every model route: API key (from headers alone, before the body is read), body,
 * validation, model policy, output cap, budget reservation. A route supplies only its protocol's view of the
 * body; what it gets back is a request the gateway has agreed to pay for.
 */
import { authenticate } from '../auth/api-key.ts'
import { newLedgerId } from '../budget/ledger-id.ts'
import type { Reservation } from '../budget/service.ts'
import { readJsonBody } from '../http/body.ts'
import { GatewayError, shutdownError } from '../errors.ts'
import { assertProviderUsable, resolveRoute } from '../providers/registry.ts'
import type { ModelRoute } from '../providers/types.ts'
import type { ChatRequest } from '../wire/openai.ts'
import type { CachedKey } from '../tenants/cache.ts'
import type { AppDeps, RequestContext } from './context.ts'

/** A route's protocol, as admission needs to see it. */
export interface RequestProtocol<R> {
  /** Body → typed request; throws invalid_request_error with the offending param. */
  validate(body: unknown): R
  model(req: R): string
  /** The client's output cap, or null when it set none. */
  outputCap(req: R): number | null
  /** Holds the upstream to `max` when the client set no cap (a strict reservation is sized for it). */
  setOutputCap(req: R, max: number): void
  /** Name of the cap field in this protocol, for error messages. */
  capParam: string
}

export interface Admission<R> {
  req: R
  key: CachedKey['key']
  tenant: CachedKey['tenant']
  route: ModelRoute
  reservation: Reservation
}

/** Auth, body and model policy: everything before money is involved (count_tokens stops here). */
export async function authorize<R>(ctx: RequestContext, deps: AppDeps, protocol: RequestProtocol<R>) {
  const { timing, request } = ctx
  // A gateway past its drain deadline takes on nothing new (its listener is already closed to new connections).
  if (deps.shutdown.aborted) throw shutdownError(deps.shutdown)
  // The key is checked from the headers before any body byte is read: an anonymous client must not make the
  // gateway buffer its body (OpenAI, too, answers 401 before looking at the body).
  const { key, tenant } = await authenticate(request.headers, deps.cache)
  ctx.access.tenant = tenant.id
  ctx.access.keyId = key.id
  timing.mark('auth')
  const req = protocol.validate(await readJsonBody(request, deps.config.maxBodyBytes))
  timing.mark('request')
  const model = protocol.model(req)
  const route = resolveRoute(deps.config, model)
  if (tenant.allowedModels && !tenant.allowedModels.includes(model)) {
    throw new GatewayError('model_not_allowed', `This API key may not use the model \`${model}\`.`, { param: 'model' })
  }
  assertProviderUsable(route.provider)
  return { req, key, tenant, route }
}

export async function admit<R>(ctx: RequestContext, deps: AppDeps, protocol: RequestProtocol<R>): Promise<Admission<R>> {
  const { timing } = ctx
  const { req, key, tenant, route } = await authorize(ctx, deps, protocol)
  const cap = protocol.outputCap(req)
  const max = route.model.maxOutputTokens
  if (cap === null) protocol.setOutputCap(req, max)
  else if (cap > max) {
    throw new GatewayError('invalid_request_error', `\`${protocol.capParam}\` is ${cap}, above the ${max} output tokens the model \`${route.model.name}\` allows; lower it to at most ${max}.`, { param: protocol.capParam })
  }
  timing.mark('config')

  // The ledger id is ours, never the client's x-request-id: a replayed client id must not dodge a charge.
  const reservation = await deps.budget.reserve({
    tenant, keyId: key.id, model: route.model, provider: route.provider.name,
    // Budgeting reads messages, the output cap and every other field by its bytes, whatever the protocol.
    req: req as unknown as ChatRequest,
    ledgerId: newLedgerId(), startedAt: timing.startedAtEpochMs, access: ctx.access,
  })
  timing.mark('budget_reserve')
  return { req, key, tenant, route, reservation }
}
