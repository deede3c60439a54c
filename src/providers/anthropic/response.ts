/**
 * Anthropic Messages response → OpenAI chat completion. Pure; the clock is a parameter.
 */
import type { ChatCompletion, FinishReason, ToolCall } from '../../wire/openai.ts'
import { type AnthropicResponse } from './wire.ts'
import { toOpenAIUsage } from '../../messages/usage.ts'

/**
 * https://docs.anthropic.com/en/api/handling-stop-reasons. `pause_turn` (a server tool paused a long turn)
 * has no OpenAI equivalent; `stop` tells the client the turn ended and it may continue it.
 * Unknown future reasons also map to `stop` so a new value never breaks clients.
 */
const STOP_REASONS: Readonly<Record<string, FinishReason>> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
  pause_turn: 'stop',
}

export function mapStopReason(reason: string | null | undefined): FinishReason {
  if (reason === null || reason === undefined) return null
  return Object.hasOwn(STOP_REASONS, reason) ? STOP_REASONS[reason] : 'stop'
}

export function fromAnthropicResponse(msg: AnthropicResponse, requestedModel: string, nowMs: number = Date.now()): ChatCompletion {
  let text = ''
  let sawText = false
  const toolCalls: ToolCall[] = []
  for (const block of msg.content) {
    if (block.type === 'text') {
      text += block.text
      sawText = true
    } else if (block.type === 'tool_use') {
      toolCalls.push({ id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } })
    }
    // thinking / redacted_thinking blocks have no place in the OpenAI message and are dropped.
  }
  // `refusal` is required (nullable) in OpenAI's schema; a refused turn carries its text there (issue 9 item 13).
  const message: ChatCompletion['choices'][number]['message'] = {
    role: 'assistant', content: sawText ? text : null, refusal: msg.stop_reason === 'refusal' ? refusalText(msg, text) : null,
  }
  if (toolCalls.length > 0) message.tool_calls = toolCalls
  return {
    id: `chatcmpl-${msg.id}`,
    object: 'chat.completion',
    created: Math.floor(nowMs / 1000),
    model: requestedModel,
    choices: [{ index: 0, message, finish_reason: mapStopReason(msg.stop_reason) ?? 'stop', logprobs: null }],
    usage: toOpenAIUsage(msg.usage),
  }
}

/** What the model said before it stopped, else Anthropic's explanation, else a plain sentence: never empty. */
function refusalText(msg: AnthropicResponse, text: string): string {
  if (text !== '') return text
  const explanation = msg.stop_details?.explanation
  return typeof explanation === 'string' && explanation !== '' ? explanation : 'The model declined to respond.'
}
