/**
 * POST /v1/chat/completions: the OpenAI protocol on the shared admission and response paths.
 * What is specific here: the request's cap field, the usage chunk the client may not have asked for, and
 * OpenAI's stream end (`data: [DONE]`) and error event.
 */
import { errorBody } from '../http/errors.ts'
import { SSE_DONE_FRAME, sseDataFrame } from '../http/sse.ts'
import { validateChatRequest } from '../http/validate.ts'
import { adapterFor } from '../providers/registry.ts'
import type { ChatChunk, ChatRequest } from '../wire/openai.ts'
import { admit, type RequestProtocol } from './admission.ts'
import { completeResponse } from './complete-response.ts'
import type { AppDeps, RequestContext } from './context.ts'
import { chunkBytes, completionBytes } from './reply-bytes.ts'
import { type ReplyMeter, type StreamProtocol, streamResponse } from './stream-response.ts'

export { DEFAULT_STREAM_IDLE_TIMEOUT_MS } from './stream-response.ts'

export const chatProtocol: RequestProtocol<ChatRequest> = {
  validate: validateChatRequest,
  model: (req) => req.model,
  outputCap: (req) => req.max_completion_tokens ?? req.max_tokens ?? null,
  // max_completion_tokens: the current OpenAI field, also read by the other adapters.
  setOutputCap: (req, max) => {
    delete req.max_tokens
    req.max_completion_tokens = max
  },
  capParam: 'max_completion_tokens',
}

function chatStream(clientWantsUsage: boolean): StreamProtocol<ChatChunk> {
  return {
    frames(chunk, meter) {
      meter.completionBytes += chunkBytes(chunk)
      if (chunk.usage) meter.usage = chunk.usage
      const out = visibleChunk(chunk, clientWantsUsage)
      return out ? [sseDataFrame(out)] : []
    },
    end: () => [SSE_DONE_FRAME],
    error: (err, requestId) => sseDataFrame(errorBody(err, requestId)),
  }
}

export async function chatCompletions(ctx: RequestContext, deps: AppDeps): Promise<Response> {
  const adm = await admit(ctx, deps, chatProtocol)
  const { req, route } = adm
  const adapter = deps.adapters?.[route.provider.kind] ?? adapterFor(route.provider.kind)
  if (req.stream) {
    const clientWantsUsage = req.stream_options?.include_usage === true
    return streamResponse(ctx, deps, adm, (signal) => adapter.stream(req, route, signal), chatStream(clientWantsUsage))
  }
  return completeResponse(ctx, deps, adm, (signal) => adapter.complete(req, route, signal), (completion, meter: ReplyMeter) => {
    meter.usage = completion.usage ?? null
    meter.completionBytes = completionBytes(completion)
    return Response.json(completion)
  })
}

/** The usage chunk is always requested upstream (for settlement); the client sees it only if it asked. */
export function visibleChunk(c: ChatChunk, clientWantsUsage: boolean): ChatChunk | null {
  if (clientWantsUsage) return c
  if (c.usage && c.choices.length === 0) return null
  // Chunks are fresh objects owned by this request (adapters never share them), so the field goes in place: as
  // undefined, which JSON leaves out, not by `delete`, which makes the chunk a slower dictionary to serialise
  // (OpenAI's `"usage":null` is on every chunk: ~0.1 µs each in a loop).
  if (c.usage !== undefined) c.usage = undefined
  return c
}
