/**
 * UTF-8 bytes of what a chat reply generated (text, refusal, tool names and arguments): the bound on its
 * completion tokens when the upstream reports no usage. Shared by every route an OpenAI-shaped reply reaches.
 */
import type { ChatChunk, ChatCompletion } from '../wire/openai.ts'

/** Read-only: stands in for an absent list without allocating one per chunk. */
const NO_TOOL_CALLS: readonly never[] = []

export const utf8Bytes = (s: unknown): number => (typeof s === 'string' ? Buffer.byteLength(s, 'utf8') : 0)

export function chunkBytes(c: ChatChunk): number {
  let n = 0
  for (const ch of c.choices) {
    n += utf8Bytes(ch.delta.content) + utf8Bytes(ch.delta.refusal)
    for (const t of ch.delta.tool_calls ?? NO_TOOL_CALLS) n += utf8Bytes(t.function?.arguments) + utf8Bytes(t.function?.name)
  }
  return n
}

export function completionBytes(c: ChatCompletion): number {
  let n = 0
  for (const ch of c.choices ?? []) {
    const m = ch.message ?? {}
    n += utf8Bytes(m.content) + utf8Bytes(m.refusal)
    for (const t of m.tool_calls ?? NO_TOOL_CALLS) n += utf8Bytes(t.function?.arguments) + utf8Bytes(t.function?.name)
  }
  return n
}
