/** GET /v1/models: the models the caller's tenant may use, in the OpenAI list shape. */
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
  return Response.json({ object: 'list', data })
}
