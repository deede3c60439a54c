/**
 * POST /v1/messages: Anthropic's Messages API on the shared admission and response paths, so Claude Code and
 * the Anthropic SDK can use the gateway as their base URL. Same tenants, keys, model policy, strict budgets,
 * ledger and stage timing as chat completions; errors in Anthropic's envelope (app.ts).
 *
 * An Anthropic upstream gets the body unchanged but for the model name, and its events are re-emitted as
 * they came (names kept, payloads re-serialised by the one SSE writer). Any other upstream is reached through
 * its chat adapter, with the request and reply translated (src/messages/): one upstream request either way.
 */
import { anthropicErrorBody } from '../http/errors.ts'
import { GatewayError } from '../errors.ts'
import { sseEventFrame, sseRawEventFrame } from '../http/sse.ts'
import { chatCompletionToMessage, wantsThinking } from '../messages/from-chat-response.ts'
import { chatChunkToMessageEvents, createMessagesStreamState, finish } from '../messages/from-chat-stream.ts'
import { messagesToChatRequest } from '../messages/to-chat-request.ts'
import type { MessagesRequest, MessagesSseEvent, ReportedUsage } from '../wire/anthropic.ts'
import { gatewayUsage, mergeUsage } from '../messages/usage.ts'
import { adapterFor, descriptorFor } from '../providers/registry.ts'
import type { NativeMessages, RawMessagesEvent } from '../providers/types.ts'
import type { ChatChunk, ChatRequest } from '../wire/openai.ts'
import { type Admission, admit, type RequestProtocol } from './admission.ts'
import { completeResponse } from './complete-response.ts'
import { chunkBytes, completionBytes, utf8Bytes } from './reply-bytes.ts'
import type { AppDeps, RequestContext } from './context.ts'
import { type StreamProtocol, streamResponse } from './stream-response.ts'

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const bad = (message: string, param: string) => new GatewayError('invalid_request_error', message, { param })

/**
 * The fields Anthropic requires, checked the way it checks them; everything else passes through untouched
 * (a field the gateway does not know, such as a new `cache_control` option, must still reach the provider).
 */
export function validateMessagesRequest(body: unknown): MessagesRequest {
  if (!isObj(body)) throw bad('Request body must be a JSON object.', 'body')
  if (typeof body.model !== 'string' || body.model.length === 0 || body.model.length > 256) throw bad('model: Field required (a non-empty string).', 'model')
  const max = body.max_tokens
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) throw bad('max_tokens: Field required (a positive integer).', 'max_tokens')
  validateMessagesShape(body)
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') throw bad('stream: must be a boolean.', 'stream')
  return body as MessagesRequest
}

/** messages (and system, tools) as Anthropic requires them; shared with count_tokens. */
export function validateMessagesShape(body: Record<string, unknown>): void {
  const messages = body.messages
  if (!Array.isArray(messages) || messages.length === 0) throw bad('messages: Field required (a non-empty array).', 'messages')
  if (messages.length > 100_000) throw bad('messages: too many messages.', 'messages')
  messages.forEach((m, i) => {
    if (!isObj(m)) throw bad(`messages.${i}: must be an object.`, `messages.${i}`)
    if (m.role !== 'user' && m.role !== 'assistant') throw bad(`messages.${i}.role: must be "user" or "assistant".`, `messages.${i}.role`)
    const c = m.content
    if (!(typeof c === 'string' || (Array.isArray(c) && c.every(isObj)))) throw bad(`messages.${i}.content: must be a string or an array of content blocks.`, `messages.${i}.content`)
  })
  const system = body.system
  if (system !== undefined && system !== null && typeof system !== 'string' && !(Array.isArray(system) && system.every(isObj))) {
    throw bad('system: must be a string or an array of text blocks.', 'system')
  }
  if (body.tools !== undefined && body.tools !== null && !(Array.isArray(body.tools) && body.tools.every(isObj))) throw bad('tools: must be an array of tool objects.', 'tools')
}

export const messagesProtocol: RequestProtocol<MessagesRequest> = {
  validate: validateMessagesRequest,
  model: (req) => req.model,
  outputCap: (req) => req.max_tokens,
  setOutputCap: (req, max) => void (req.max_tokens = max), // never reached: Anthropic requires max_tokens
  capParam: 'max_tokens',
}

const errorFrame = (err: GatewayError, requestId: string) => sseEventFrame('error', anthropicErrorBody(err, requestId))
const eventFrames = (events: MessagesSseEvent[]) => events.map((e) => sseEventFrame(e.event, e.data))

export async function messages(ctx: RequestContext, deps: AppDeps): Promise<Response> {
  const adm = await admit(ctx, deps, messagesProtocol)
  const native = descriptorFor(adm.route.provider.kind).messages
  return native ? passThrough(ctx, deps, adm, native) : translated(ctx, deps, adm)
}

/** A provider that speaks this protocol: the body goes through; the reply comes back as written, the model name set back. */
function passThrough(ctx: RequestContext, deps: AppDeps, adm: Admission<MessagesRequest>, native: NativeMessages): Promise<Response> {
  const { req, route } = adm
  const body = { ...req, model: route.model.upstreamModel }
  const headers = ctx.request.headers
  if (req.stream) return streamResponse(ctx, deps, adm, (signal) => native.stream(route, body, headers, signal), passthroughStream(req.model))
  return completeResponse(ctx, deps, adm, (signal) => native.complete(route, body, headers, signal), (msg, meter) => {
    meter.usage = gatewayUsage(isObj(msg.usage) ? (msg.usage as ReportedUsage) : {})
    meter.completionBytes = contentBytes(msg.content)
    msg.model = req.model
    return Response.json(msg)
  })
}

export function passthroughStream(requestedModel: string): StreamProtocol<RawMessagesEvent> {
  const usage: ReportedUsage = {}
  return {
    frames({ event, json }, meter) {
      const e = event as Record<string, any>
      if (e.type === 'message_start' && isObj(e.message)) {
        mergeUsage(usage, e.message.usage)
        e.message.model = requestedModel
        return [sseEventFrame(e.type, e)]
      }
      if (e.type === 'content_block_delta' && isObj(e.delta)) {
        meter.completionBytes += utf8Bytes(e.delta.text) + utf8Bytes(e.delta.partial_json) + utf8Bytes(e.delta.thinking)
      } else if (e.type === 'message_delta') {
        // Only the final (cumulative) usage settles: message_start's output count is a placeholder.
        mergeUsage(usage, e.usage)
        meter.usage = gatewayUsage(usage)
      }
      // Everything but the model name goes on exactly as the provider wrote it.
      return [sseRawEventFrame(e.type, json)]
    },
    end: () => [], // message_stop already ended the protocol
    error: errorFrame,
  }
}

function contentBytes(content: unknown): number {
  if (!Array.isArray(content)) return 0
  let n = 0
  for (const b of content) if (isObj(b)) n += utf8Bytes(b.text) + utf8Bytes(b.thinking) + (b.input !== undefined ? utf8Bytes(JSON.stringify(b.input)) : 0)
  return n
}

/** Any other upstream: one chat request through its adapter, the reply translated back. */
async function translated(ctx: RequestContext, deps: AppDeps, adm: Admission<MessagesRequest>): Promise<Response> {
  const { req, route } = adm
  let chatReq: ChatRequest
  try {
    chatReq = { ...messagesToChatRequest(req, route.model.upstreamModel), model: req.model }
  } catch (e) {
    // Untranslatable for this upstream (a 400): nothing was sent, so nothing is owed.
    await adm.reservation.release()
    throw e
  }
  const adapter = deps.adapters?.[route.provider.kind] ?? adapterFor(route.provider.kind)
  const opts = { stopSequences: req.stop_sequences, thinking: wantsThinking(req) }
  if (req.stream) {
    const state = createMessagesStreamState(req.model, opts)
    const protocol: StreamProtocol<ChatChunk> = {
      frames(chunk, meter) {
        meter.completionBytes += chunkBytes(chunk)
        if (chunk.usage) meter.usage = chunk.usage
        return eventFrames(chatChunkToMessageEvents(state, chunk))
      },
      end: () => eventFrames(finish(state)),
      error: errorFrame,
    }
    return streamResponse(ctx, deps, adm, (signal) => adapter.stream({ ...chatReq, stream: true }, route, signal), protocol)
  }
  return completeResponse(ctx, deps, adm, (signal) => adapter.complete({ ...chatReq, stream: false }, route, signal), (completion, meter) => {
    meter.usage = completion.usage ?? null
    meter.completionBytes = completionBytes(completion)
    return Response.json(chatCompletionToMessage(completion, req.model, opts))
  })
}
