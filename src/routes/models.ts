/**
 * GET /v1/models: the models the caller's tenant may use, in OpenAI's list shape or, asked in Anthropic's
 * protocol (an anthropic-version header), Anthropic's.
 * GET /v1/models/{id}: one of them (the openai SDK's `models.retrieve`), or the error chat completions gives.
 */
import { authenticate } from '../auth/api-key.ts'
import { GatewayError } from '../errors.ts'
import { providerUsable } from '../providers/registry.ts'
import type { ModelConfig } from '../config/types.ts'
import type { AppDeps, RequestContext } from './context.ts'

const CREATED = 1_700_000_000 // stable: the catalog has no real creation dates
const PREFIX = '/v1/models/'

const modelObject = (m: ModelConfig) => ({ id: m.name, object: 'model', created: CREATED, owned_by: m.provider })

/** A model the gateway can serve: configured, with a provider that has what it needs (a key). */
function served(deps: AppDeps, m: ModelConfig | undefined): m is ModelConfig {
  const p = m && deps.config.providers[m.provider]
  return p !== undefined && providerUsable(p)
}

async function authenticated(ctx: RequestContext, deps: AppDeps) {
  const { key, tenant } = await authenticate(ctx.request.headers, deps.cache)
  ctx.access.tenant = tenant.id
  ctx.access.keyId = key.id
  ctx.timing.mark('auth')
  return tenant
}

export async function listModels(ctx: RequestContext, deps: AppDeps): Promise<Response> {
  const allowed = (await authenticated(ctx, deps)).allowedModels
  const data = Object.values(deps.config.models)
    .filter((m) => served(deps, m) && (!allowed || allowed.includes(m.name)))
    .map(modelObject)
  ctx.timing.mark('config')
  // Claude Code's model discovery (and the Anthropic SDK) send anthropic-version and expect Anthropic's shape.
  if (ctx.request.headers.has('anthropic-version')) {
    const models = data.map((m) => ({ type: 'model', id: m.id, display_name: m.id, created_at: new Date(CREATED * 1000).toISOString() }))
    return Response.json({ data: models, has_more: false, first_id: models[0]?.id ?? null, last_id: models.at(-1)?.id ?? null })
  }
  return Response.json({ object: 'list', data })
}

export async function retrieveModel(ctx: RequestContext, deps: AppDeps): Promise<Response> {
  const tenant = await authenticated(ctx, deps)
  const id = modelIdFromPath(ctx.request.url)
  ctx.access.model = id ?? undefined
  const m = id !== null && Object.hasOwn(deps.config.models, id) ? deps.config.models[id] : undefined
  // Same answers as a chat completion naming the model: 404 if this gateway cannot serve it, 403 if the key may not.
  if (id === null || !served(deps, m)) {
    throw new GatewayError('model_not_found', `The model \`${id ?? ''}\` does not exist or is not served by this gateway.`, { param: 'model' })
  }
  if (tenant.allowedModels && !tenant.allowedModels.includes(m.name)) {
    throw new GatewayError('model_not_allowed', `This API key may not use the model \`${m.name}\`.`, { param: 'model' })
  }
  ctx.timing.mark('config')
  return Response.json(modelObject(m))
}

/** The id after /v1/models/, percent-decoded (the SDK encodes a `/` in an id as %2F); null if malformed. */
export function modelIdFromPath(url: string): string | null {
  const path = new URL(url).pathname
  const raw = path.startsWith(PREFIX) ? path.slice(PREFIX.length) : ''
  try {
    const id = decodeURIComponent(raw)
    return id === '' ? null : id
  } catch {
    return null
  }
}
