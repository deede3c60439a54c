/** Schema checks for the chat request: reject what an upstream would reject, with the offending `param`. */
import type { ChatRequest } from '../wire/openai.ts'
import { GatewayError } from '../errors.ts'

export const MAX_MESSAGES = 4096
const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function'])

const bad = (message: string, param: string) => new GatewayError('invalid_request_error', message, { param })
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function optNumber(body: Record<string, unknown>, field: string, min: number, max: number, integer = false) {
  const v = body[field]
  if (v === undefined || v === null) return
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw bad(`\`${field}\` must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}.`, field)
  }
}

export function validateChatRequest(body: unknown): ChatRequest {
  if (!isObj(body)) throw bad('Request body must be a JSON object.', 'body')
  if (typeof body.model !== 'string' || body.model.length === 0 || body.model.length > 256) throw bad('`model` must be a non-empty string.', 'model')
  const messages = body.messages
  if (!Array.isArray(messages) || messages.length === 0) throw bad('`messages` must be a non-empty array.', 'messages')
  if (messages.length > MAX_MESSAGES) throw bad(`\`messages\` has more than ${MAX_MESSAGES} entries.`, 'messages')
  messages.forEach((m, i) => {
    if (!isObj(m)) throw bad(`messages[${i}] must be an object.`, `messages[${i}]`)
    if (typeof m.role !== 'string' || !ROLES.has(m.role)) throw bad(`messages[${i}].role is not a valid role.`, `messages[${i}].role`)
    const c = m.content
    const contentOk = typeof c === 'string' || c === null || (c === undefined && m.role === 'assistant') || (Array.isArray(c) && c.every(isObj))
    if (!contentOk) throw bad(`messages[${i}].content must be a string or an array of content parts.`, `messages[${i}].content`)
  })
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') throw bad('`stream` must be a boolean.', 'stream')
  if (body.stream_options !== undefined && body.stream_options !== null && !isObj(body.stream_options)) throw bad('`stream_options` must be an object.', 'stream_options')
  optNumber(body, 'max_tokens', 1, 10_000_000, true)
  optNumber(body, 'max_completion_tokens', 1, 10_000_000, true)
  optNumber(body, 'temperature', 0, 2)
  optNumber(body, 'top_p', 0, 1)
  optNumber(body, 'n', 1, 1, true)
  if (body.tools !== undefined && body.tools !== null && !Array.isArray(body.tools)) throw bad('`tools` must be an array.', 'tools')
  return body as ChatRequest
}
