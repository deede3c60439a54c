import { expect, test } from 'bun:test'
import { visibleChunk } from '../../../src/routes/chat-completions.ts'
import type { ChatChunk } from '../../../src/wire/openai.ts'

const base = { id: 'c', object: 'chat.completion.chunk' as const, created: 1, model: 'm' }
const usage = { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 }
const content: ChatChunk = { ...base, choices: [{ index: 0, delta: { content: 'x' }, finish_reason: null }] }
const usageOnly: ChatChunk = { ...base, choices: [], usage }
const nullUsage: ChatChunk = { ...content, usage: null }

test.each([
  ['content chunk, client did not ask', content, false, content],
  ['usage chunk, client did not ask: hidden', usageOnly, false, null],
  ['usage chunk, client asked: shown', usageOnly, true, usageOnly],
  ['usage:null field stripped when not asked', nullUsage, false, content],
  ['usage:null kept when asked (OpenAI sends it)', nullUsage, true, nullUsage],
])('%s', (_name, chunk, asked, expected) => {
  // visibleChunk may drop the field in place (chunks are per-request objects): give it its own copy. What counts is
  // the frame the client gets, so the JSON is compared, byte for byte.
  const out = visibleChunk(structuredClone(chunk), asked)
  expect(out === null ? null : JSON.stringify(out)).toBe(expected === null ? null : JSON.stringify(expected))
})
