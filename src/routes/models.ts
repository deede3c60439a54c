/** GET /v1/models: the models the caller's tenant may use, in OpenAI's list shape or, asked in Anthropic's protocol, Anthropic's. */
import { authenticate } from '../auth/api-key.ts'
import { providerUsable } from '../providers/registry.ts'
import type { AppDeps, RequestContext } from './context.ts'

const CREATED = 1_700_000_000 // stable: the catalog has no real creation dates

export async function listModels(ctx: RequestContext, deps: AppDeps): Promise<Response> {
  const { tenant } = await authenticate(ctx.request.headers, deps.cache)
  ctx.timing.mark('auth')
  const allowed = tenant.allowedModels
  const data = Object.values(deps.config.models)
    .filter((m) => {
      const p = deps.config.providers[m.provider]
      return p !== undefined && providerUsable(p) && (!allowed || allowed.includes(m.name))
    })
    .map((m) => ({ id: m.name, object: 'model', created: CREATED, owned_by: m.provider }))
  ctx.timing.mark('config')
  // Claude Code's model discovery (and the Anthropic SDK) send anthropic-version and expect Anthropic's shape.
  if (ctx.request.headers.has('anthropic-version')) {
    const models = data.map((m) => ({ type: 'model', id: m.id, display_name: m.id, created_at: new Date(CREATED * 1000).toISOString() }))
    return Response.json({ data: models, has_more: false, first_id: models[0]?.id ?? null, last_id: models.at(-1)?.id ?? null })
  }
  return Response.json({ object: 'list', data })
}
