/**
 * The built-in `mock` provider (model `mock-echo`): echoes the last user message back, word by word when
 * streaming, with real usage numbers, so the demo and tests exercise auth, budgets and SSE end to end.
 */
import type { ModelRoute, ProviderAdapter } from '../types.ts'
import type { ChatChunk, ChatCompletion, ChatMessage, ChatRequest, Usage } from '../../wire/openai.ts'

function text(m: ChatMessage): string {
  if (typeof m.content === 'string') return m.content
  if (Array.isArray(m.content)) return m.content.map((p) => (typeof p.text === 'string' ? p.text : '')).join(' ')
  return ''
}

const words = (s: string) => s.split(/\s+/).filter(Boolean)

/** Pure: the reply and its usage for a request. One "token" is one whitespace-separated word. */
export function mockReply(req: ChatRequest): { pieces: string[]; usage: Usage; finish: 'stop' | 'length' } {
  const lastUser = [...req.messages].reverse().find((m) => m.role === 'user')
  const all = words(`Echo: ${lastUser ? text(lastUser) : ''}`)
  const limit = req.max_completion_tokens ?? req.max_tokens ?? Infinity
  const kept = all.slice(0, Math.max(0, Math.min(all.length, limit)))
  const prompt = req.messages.reduce((n, m) => n + words(text(m)).length + 1, 0)
  return {
    pieces: kept.map((w, i) => (i === 0 ? w : ` ${w}`)),
    usage: { prompt_tokens: prompt, completion_tokens: kept.length, total_tokens: prompt + kept.length },
    finish: kept.length < all.length ? 'length' : 'stop',
  }
}

let seq = 0
const nextId = () => `chatcmpl-mock${Date.now().toString(36)}${(seq++).toString(36)}`

export const mockAdapter: ProviderAdapter = {
  async complete(req: ChatRequest, _route: ModelRoute, signal: AbortSignal): Promise<ChatCompletion> {
    signal.throwIfAborted()
    const r = mockReply(req)
    return {
      id: nextId(),
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: req.model,
      choices: [{ index: 0, message: { role: 'assistant', content: r.pieces.join(''), refusal: null }, finish_reason: r.finish, logprobs: null }],
      usage: r.usage,
    }
  },

  async stream(req: ChatRequest, _route: ModelRoute, signal: AbortSignal): Promise<AsyncIterable<ChatChunk>> {
    signal.throwIfAborted()
    const r = mockReply(req)
    const id = nextId()
    const created = Math.floor(Date.now() / 1000)
    const chunk = (delta: ChatChunk['choices'][0]['delta'], finish: ChatChunk['choices'][0]['finish_reason'] = null): ChatChunk => ({
      id, object: 'chat.completion.chunk', created, model: req.model, choices: [{ index: 0, delta, finish_reason: finish }],
    })
    return (async function* () {
      yield chunk({ role: 'assistant', content: '' })
      for (const p of r.pieces) {
        signal.throwIfAborted()
        yield chunk({ content: p })
      }
      yield chunk({}, r.finish)
      yield { id, object: 'chat.completion.chunk', created, model: req.model, choices: [], usage: r.usage }
    })()
  },
}
