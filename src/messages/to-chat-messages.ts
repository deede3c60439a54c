/**
 * Anthropic `messages` → OpenAI chat messages (the conversation part of to-chat-request.ts). Pure.
 *
 * - A user turn's tool_result blocks become role "tool" messages, in order, placed before the rest of the
 *   turn: OpenAI requires tool messages right after the assistant message that called the tools (Anthropic
 *   likewise requires tool results first in the turn). is_error is kept as an "Error: " prefix, since
 *   OpenAI tool messages have no error flag. Images inside a tool result move to the user message that
 *   follows (OpenAI tool messages carry text only); the tool message says so.
 * - An assistant turn's text blocks are joined into `content`, tool_use blocks become `tool_calls`
 *   (arguments = JSON.stringify(input)); thinking blocks are dropped; a turn left empty is skipped.
 *   A last assistant turn (Anthropic's "prefill") stays an ordinary turn: OpenAI has no prefill, so the
 *   model answers after it instead of continuing it.
 */
import type { ChatMessage, ToolCall } from '../wire/openai.ts'
import { invalid, isRecord, unsupported } from './checks.ts'

type Part = Record<string, unknown>

export function messagesToChatMessages(messages: unknown): ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) throw invalid('`messages` must be a non-empty array', 'messages')
  const out: ChatMessage[] = []
  messages.forEach((m: unknown, i) => {
    const param = `messages[${i}]`
    if (!isRecord(m)) throw invalid('each message must be an object', param)
    switch (m.role) {
      case 'user':
        out.push(...userTurn(m.content, `${param}.content`))
        break
      case 'assistant': {
        const turn = assistantTurn(m.content, `${param}.content`)
        if (turn) out.push(turn)
        break
      }
      case 'system': // recent API versions accept system messages between turns
        out.push({ role: 'system', content: systemText(m.content, `${param}.content`) })
        break
      default:
        throw invalid("`role` must be 'user' or 'assistant'", `${param}.role`)
    }
  })
  return out
}

/** `system` (top level, or a system message in `messages`): a string or text blocks, joined by a blank line. */
export function systemText(system: unknown, param: string): string {
  if (typeof system === 'string') return system
  if (!Array.isArray(system)) throw invalid('`system` must be a string or an array of text blocks', param)
  return system.map((b: unknown, i) => {
    if (!isRecord(b) || b.type !== 'text' || typeof b.text !== 'string') throw invalid('system blocks must be text blocks', `${param}[${i}]`)
    return b.text
  }).join('\n\n')
}

function userTurn(content: unknown, param: string): ChatMessage[] {
  if (typeof content === 'string') return [{ role: 'user', content }]
  if (!Array.isArray(content)) throw invalid('`content` must be a string or an array of content blocks', param)
  const tools: ChatMessage[] = []
  const parts: Part[] = []
  content.forEach((b: unknown, j) => {
    const p = `${param}[${j}]`
    if (!isRecord(b)) throw invalid('each content block must be an object', p)
    switch (b.type) {
      case 'text': parts.push(textPart(b, p)); break
      case 'image': parts.push(imagePart(b, p)); break
      case 'document': parts.push({ type: 'text', text: documentText(b, p) }); break
      case 'tool_result': tools.push(toolMessage(b, p, parts)); break
      default: throw unsupported(`content block type '${String(b.type)}' in a user message`, `${p}.type`)
    }
  })
  const out = [...tools]
  if (parts.length > 0 || tools.length === 0) out.push({ role: 'user', content: userContent(parts) })
  return out
}

/** One text block stays a plain string: the form every OpenAI-compatible server accepts. */
function userContent(parts: Part[]): ChatMessage['content'] {
  if (parts.length === 0) return ''
  if (parts.length === 1 && parts[0].type === 'text') return parts[0].text as string
  return parts
}

function textPart(b: Record<string, unknown>, param: string): Part {
  if (typeof b.text !== 'string') throw invalid('a text block needs `text`', `${param}.text`)
  return { type: 'text', text: b.text }
}

function imagePart(b: Record<string, unknown>, param: string): Part {
  const src = b.source
  if (!isRecord(src)) throw invalid('an image block needs a `source` object', `${param}.source`)
  if (src.type === 'base64') {
    if (typeof src.media_type !== 'string' || typeof src.data !== 'string') throw invalid('a base64 image needs `media_type` and `data`', `${param}.source`)
    return { type: 'image_url', image_url: { url: `data:${src.media_type};base64,${src.data}` } }
  }
  if (src.type === 'url') {
    if (typeof src.url !== 'string') throw invalid('a url image needs `url`', `${param}.source.url`)
    return { type: 'image_url', image_url: { url: src.url } }
  }
  throw unsupported(`image source type '${String(src.type)}'`, `${param}.source.type`)
}

/** Plain-text documents are text; PDFs and uploaded files would need the upstream to read them. */
function documentText(b: Record<string, unknown>, param: string): string {
  const src = b.source
  if (!isRecord(src)) throw invalid('a document block needs a `source` object', `${param}.source`)
  let text: string
  if (src.type === 'text' && typeof src.data === 'string') text = src.data
  else if (src.type === 'content') text = typeof src.content === 'string' ? src.content : systemText(src.content, `${param}.source.content`)
  else throw unsupported(`document source type '${String(src.type)}' (only plain text documents can be translated)`, `${param}.source.type`)
  return typeof b.title === 'string' && b.title !== '' ? `${b.title}\n\n${text}` : text
}

function toolMessage(b: Record<string, unknown>, param: string, userParts: Part[]): ChatMessage {
  if (typeof b.tool_use_id !== 'string' || b.tool_use_id === '') throw invalid('a tool_result needs a `tool_use_id`', `${param}.tool_use_id`)
  const texts: string[] = []
  let images = 0
  const content = b.content
  if (typeof content === 'string') texts.push(content)
  else if (Array.isArray(content)) {
    content.forEach((c: unknown, k) => {
      const p = `${param}.content[${k}]`
      if (!isRecord(c)) throw invalid('each tool_result content block must be an object', p)
      if (c.type === 'text') texts.push(textPart(c, p).text as string)
      else if (c.type === 'image') {
        userParts.push(imagePart(c, p))
        images++
      } else throw unsupported(`content block type '${String(c.type)}' in a tool_result`, `${p}.type`)
    })
  } else if (content !== undefined && content !== null) throw invalid('`content` must be a string or an array of blocks', `${param}.content`)
  if (images > 0) texts.push(`[${images} image${images === 1 ? '' : 's'} attached in the next user message]`)
  const text = texts.join('\n')
  return { role: 'tool', tool_call_id: b.tool_use_id, content: b.is_error === true ? `Error: ${text}` : text }
}

function assistantTurn(content: unknown, param: string): ChatMessage | null {
  if (typeof content === 'string') return content === '' ? null : { role: 'assistant', content }
  if (!Array.isArray(content)) throw invalid('`content` must be a string or an array of content blocks', param)
  let text = ''
  const calls: ToolCall[] = []
  content.forEach((b: unknown, j) => {
    const p = `${param}[${j}]`
    if (!isRecord(b)) throw invalid('each content block must be an object', p)
    switch (b.type) {
      case 'text': text += textPart(b, p).text as string; break
      case 'tool_use': calls.push(toolCall(b, p)); break
      case 'thinking':
      case 'redacted_thinking':
        break // see the file comment: no OpenAI field carries them
      default: throw unsupported(`content block type '${String(b.type)}' in an assistant message`, `${p}.type`)
    }
  })
  if (text === '' && calls.length === 0) return null
  const msg: ChatMessage = { role: 'assistant', content: text === '' ? null : text }
  if (calls.length > 0) msg.tool_calls = calls
  return msg
}

function toolCall(b: Record<string, unknown>, param: string): ToolCall {
  if (typeof b.id !== 'string' || b.id === '') throw invalid('a tool_use block needs an `id`', `${param}.id`)
  if (typeof b.name !== 'string' || b.name === '') throw invalid('a tool_use block needs a `name`', `${param}.name`)
  if (b.input !== undefined && !isRecord(b.input)) throw invalid('`input` must be an object', `${param}.input`)
  return { id: b.id, type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) } }
}
