/**
 * POST /v1/messages/count_tokens: never billed. A model whose provider speaks the Messages API counts itself;
 * for any other model the gateway has no tokenizer, so it answers an estimate (documented as such): about
 * four bytes of text per token, plus a fixed allowance per image.
 */
import { GatewayError } from '../errors.ts'
import type { MessagesRequest } from '../wire/anthropic.ts'
import { descriptorFor } from '../providers/registry.ts'
import { upstreamTimeout } from '../providers/upstream.ts'
import { authorize, type RequestProtocol } from './admission.ts'
import type { AppDeps, RequestContext } from './context.ts'
import { validateMessagesShape } from './messages.ts'

const BYTES_PER_TOKEN = 4
/** Anthropic's own bound for one image after its resizing (~1.15 megapixels / 750). */
const IMAGE_TOKENS = 1_600

const countProtocol: RequestProtocol<MessagesRequest> = {
  validate(body) {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new GatewayError('invalid_request_error', 'Request body must be a JSON object.', { param: 'body' })
    const b = body as Record<string, unknown>
    if (typeof b.model !== 'string' || b.model.length === 0) throw new GatewayError('invalid_request_error', 'model: Field required (a non-empty string).', { param: 'model' })
    validateMessagesShape(b)
    return b as MessagesRequest
  },
  model: (req) => req.model,
  outputCap: () => null,
  setOutputCap: () => {},
  capParam: 'max_tokens',
}

export async function countTokens(ctx: RequestContext, deps: AppDeps): Promise<Response> {
  const { req, route } = await authorize(ctx, deps, countProtocol)
  ctx.timing.mark('config')
  const native = descriptorFor(route.provider.kind).messages
  if (native) {
    // timeout_ms bounds the whole call, headers and body: a 504 upstream_timeout, as on the model routes.
    const cut = new AbortController()
    const timer = setTimeout(() => cut.abort(upstreamTimeout(route.provider)), route.provider.timeoutMs)
    try {
      const counted = await native.countTokens(route, { ...req, model: route.model.upstreamModel }, ctx.request.headers, cut.signal)
      ctx.timing.mark('upstream_ttfb')
      return Response.json(counted)
    } finally {
      clearTimeout(timer)
    }
  }
  return Response.json({ input_tokens: estimateInputTokens(req) })
}

/** The estimate for models without a tokenizer here: text by its UTF-8 bytes / 4, images at a flat allowance. */
export function estimateInputTokens(req: Record<string, unknown>): number {
  let bytes = 0
  let images = 0
  const visit = (v: unknown): void => {
    if (typeof v === 'string') bytes += Buffer.byteLength(v, 'utf8')
    else if (Array.isArray(v)) v.forEach(visit)
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>
      if (o.type === 'image') { images++; return }
      for (const [k, x] of Object.entries(o)) if (k !== 'cache_control' && k !== 'type') visit(x)
    }
  }
  visit(req.system)
  visit(req.messages)
  visit(req.tools)
  return Math.ceil(bytes / BYTES_PER_TOKEN) + images * IMAGE_TOKENS
}
