/**
 * OpenAI chat request → Anthropic Messages request. Pure: no I/O, no clock.
 * Anything Anthropic cannot express is rejected as invalid_request_error rather than silently dropped.
 */
import { GatewayError } from '../../errors.ts'
import type { ChatMessage, ChatRequest } from '../../wire/openai.ts'
import type { AnthropicContentBlock, AnthropicMessage, AnthropicRequest, AnthropicServerTool, AnthropicTool, AnthropicToolChoice } from './wire.ts'

export function toAnthropicRequest(req: ChatRequest, upstreamModel: string, maxOutputTokens: number): AnthropicRequest {
  const system: string[] = []
  const messages: AnthropicMessage[] = []
  req.messages.forEach((msg, i) => {
    switch (msg.role) {
      case 'system':
      case 'developer':
        // Anthropic has no system role inside `messages`; all instructions go to the top-level field.
        system.push(textOf(msg))
        break
      case 'user':
        messages.push({ role: 'user', content: userContent(msg) })
        break
      case 'assistant': {
        const content = assistantContent(msg, i)
        if (content.length > 0) messages.push({ role: 'assistant', content })
        break
      }
      case 'tool': {
        const block = toolResult(msg)
        const prev = messages[messages.length - 1]
        // Parallel tool results must arrive together in the one user turn that follows the tool_use turn.
        if (prev && prev.role === 'user' && Array.isArray(prev.content) && prev.content.every((b): boolean => b.type === 'tool_result')) {
          prev.content.push(block)
        } else {
          messages.push({ role: 'user', content: [block] })
        }
        break
      }
      default:
        throw invalid(`unsupported message role '${String((msg as { role: unknown }).role)}'`, 'messages')
    }
  })

  const out: AnthropicRequest = {
    model: upstreamModel,
    messages,
    max_tokens: req.max_completion_tokens ?? req.max_tokens ?? maxOutputTokens,
  }
  if (system.length > 0) out.system = system.join('\n\n')
  const tools = functionTools(req.tools)
  if (tools.length > 0) {
    out.tools = tools.map((fn) => {
      // The web search server tool passes through as written; the budget prices its searches (max_uses).
      if (isWebSearchTool(fn)) return { ...fn }
      const tool: AnthropicTool = {
        name: fn.name,
        input_schema: fn.parameters ?? { type: 'object', properties: {} },
      }
      if (fn.description !== undefined) tool.description = fn.description
      return tool
    })
  }
  const choice = toolChoice(req.tool_choice, req.parallel_tool_calls === false)
  if (choice) out.tool_choice = choice
  if (req.stop !== undefined && req.stop !== null) {
    const stops: unknown = typeof req.stop === 'string' ? [req.stop] : req.stop
    if (!Array.isArray(stops) || !stops.every((s) => typeof s === 'string')) throw invalid('`stop` must be a string or an array of strings', 'stop')
    if (stops.length > 0) out.stop_sequences = stops
  }
  if (req.temperature !== undefined && req.temperature !== null) out.temperature = req.temperature
  if (req.top_p !== undefined && req.top_p !== null) out.top_p = req.top_p
  if (req.stream === true) out.stream = true
  if (typeof req.user === 'string' && req.user !== '') out.metadata = { user_id: req.user }
  return out
}

/** https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/web-search-tool: `type: "web_search_<version>"`. */
function isWebSearchTool(t: unknown): t is AnthropicServerTool {
  const tool = t as { type?: unknown; name?: unknown }
  return typeof tool?.type === 'string' && tool.type.startsWith('web_search_') && typeof tool.name === 'string'
}

/** OpenAI tool_choice → Anthropic: auto→auto, none→none, required→any, {function:{name}}→tool. */
export function toolChoice(choice: unknown, noParallel: boolean): AnthropicToolChoice | undefined {
  let out: AnthropicToolChoice | undefined
  if (choice === undefined || choice === null) {
    out = noParallel ? { type: 'auto' } : undefined
  } else if (choice === 'auto') {
    out = { type: 'auto' }
  } else if (choice === 'none') {
    return { type: 'none' } // disable_parallel_tool_use is meaningless without tool use
  } else if (choice === 'required') {
    out = { type: 'any' }
  } else if (typeof choice === 'object' && typeof (choice as { function?: { name?: unknown } }).function?.name === 'string') {
    out = { type: 'tool', name: (choice as { function: { name: string } }).function.name }
  } else {
    throw invalid('unsupported tool_choice', 'tool_choice')
  }
  if (out && noParallel) out.disable_parallel_tool_use = true
  return out
}

function userContent(msg: ChatMessage): string | AnthropicContentBlock[] {
  if (typeof msg.content === 'string') return msg.content
  if (msg.content === null || msg.content === undefined) return ''
  return msg.content.map(userPart)
}

function userPart(part: Record<string, unknown>): AnthropicContentBlock {
  if (part.type === 'text' && typeof part.text === 'string') return { type: 'text', text: part.text }
  if (part.type === 'image_url') {
    const ref = part.image_url as { url?: unknown } | string | undefined
    const url = typeof ref === 'string' ? ref : ref?.url
    if (typeof url !== 'string') throw invalid('image_url part without a url', 'messages')
    return { type: 'image', source: imageSource(url) }
  }
  throw invalid(`unsupported content part type '${String(part.type)}' for this model`, 'messages')
}

/** `data:image/png;base64,XXXX` becomes an inline base64 source; anything else is fetched by Anthropic. */
function imageSource(url: string): { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string } {
  if (!url.startsWith('data:')) return { type: 'url', url }
  const comma = url.indexOf(',')
  const meta = comma === -1 ? '' : url.slice(5, comma)
  if (comma === -1 || !meta.endsWith(';base64')) throw invalid('image data URLs must be base64 encoded', 'messages')
  return { type: 'base64', media_type: meta.slice(0, -';base64'.length), data: url.slice(comma + 1) }
}

function assistantContent(msg: ChatMessage, i: number): AnthropicContentBlock[] {
  const blocks: AnthropicContentBlock[] = []
  const text = textOf(msg)
  // Anthropic rejects empty text blocks, and an assistant turn that only calls tools has null content.
  if (text !== '') blocks.push({ type: 'text', text })
  const calls: unknown = msg.tool_calls
  if (calls === undefined || calls === null) return blocks
  if (!Array.isArray(calls)) throw invalid('`tool_calls` must be an array', `messages[${i}].tool_calls`)
  calls.forEach((call: unknown, j) => {
    const param = `messages[${i}].tool_calls[${j}]`
    if (!isRecord(call)) throw invalid('each tool call must be an object', param)
    if (call.type !== undefined && call.type !== 'function') throw invalid('only function tool calls are supported for this model', `${param}.type`)
    if (typeof call.id !== 'string' || call.id === '') throw invalid('a tool call needs a non-empty string `id`', `${param}.id`)
    const fn = call.function
    if (!isRecord(fn)) throw invalid('a tool call needs a `function` object', `${param}.function`)
    if (typeof fn.name !== 'string' || fn.name === '') throw invalid('a tool call needs a non-empty `function.name`', `${param}.function.name`)
    if (typeof fn.arguments !== 'string') throw invalid('`function.arguments` must be a JSON string', `${param}.function.arguments`)
    blocks.push({ type: 'tool_use', id: call.id, name: fn.name, input: parseArguments(fn.arguments, `${param}.function.arguments`) })
  })
  return blocks
}

function parseArguments(args: string, param: string): unknown {
  if (args.trim() === '') return {}
  try {
    return JSON.parse(args)
  } catch {
    throw invalid('assistant tool_calls arguments must be valid JSON', param)
  }
}

interface FunctionTool { name: string; description?: string; parameters?: unknown }

/**
 * The client's `tools`, checked shape by shape: the route only knows it is an array, and a `{}` or `null`
 * entry must be the client's 400, not a TypeError here (issue 9 item 10).
 */
function functionTools(tools: unknown): Array<FunctionTool | AnthropicServerTool> {
  if (tools === undefined || tools === null) return []
  if (!Array.isArray(tools)) throw invalid('`tools` must be an array', 'tools')
  return tools.map((t: unknown, i): FunctionTool | AnthropicServerTool => {
    if (!isRecord(t)) throw invalid('each tool must be an object', `tools[${i}]`)
    if (isWebSearchTool(t)) return t
    if (t.type !== 'function') throw invalid("only tools of type 'function' are supported for this model", `tools[${i}].type`)
    const fn = t.function
    if (!isRecord(fn)) throw invalid('a function tool needs a `function` object', `tools[${i}].function`)
    if (typeof fn.name !== 'string' || fn.name === '') throw invalid('a function tool needs a non-empty `function.name`', `tools[${i}].function.name`)
    if (fn.description !== undefined && fn.description !== null && typeof fn.description !== 'string') {
      throw invalid('`function.description` must be a string', `tools[${i}].function.description`)
    }
    if (fn.parameters !== undefined && fn.parameters !== null && !isRecord(fn.parameters)) {
      throw invalid('`function.parameters` must be a JSON Schema object', `tools[${i}].function.parameters`)
    }
    const out: FunctionTool = { name: fn.name }
    if (typeof fn.description === 'string') out.description = fn.description
    if (isRecord(fn.parameters)) out.parameters = fn.parameters
    return out
  })
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function toolResult(msg: ChatMessage): AnthropicContentBlock {
  if (typeof msg.tool_call_id !== 'string' || msg.tool_call_id === '') {
    throw invalid('tool messages need a tool_call_id', 'messages')
  }
  return { type: 'tool_result', tool_use_id: msg.tool_call_id, content: textOf(msg) }
}

/** Text of a message whose content is a string or an array of text parts. */
function textOf(msg: ChatMessage): string {
  if (typeof msg.content === 'string') return msg.content
  if (msg.content === null || msg.content === undefined) return ''
  return msg.content
    .map((part) => {
      if (part.type === 'text' && typeof part.text === 'string') return part.text
      throw invalid(`unsupported content part type '${String(part.type)}' in a ${msg.role} message`, 'messages')
    })
    .join('')
}

function invalid(message: string, param: string): GatewayError {
  return new GatewayError('invalid_request_error', message, { param })
}
