import { expect, test } from 'bun:test'
import { kindModels } from '../../../src/config/catalog.ts'
import { mockAdapter, mockReply } from '../../../src/providers/mock/adapter.ts'
import type { ModelRoute } from '../../../src/providers/types.ts'
import type { ChatChunk } from '../../../src/wire/openai.ts'

const provider = { name: 'mock', kind: 'mock', baseUrl: 'mock:', apiKey: null, timeoutMs: 1000 }
const route: ModelRoute = { model: kindModels({ mock: provider }, {})['mock-echo']!, provider }
const req = (content: string, extra = {}) => ({ model: 'mock-echo', messages: [{ role: 'user' as const, content }], ...extra })

test.each([
  ['hello gateway', undefined, ['Echo:', ' hello', ' gateway'], 'stop'],
  ['a b c d', 2, ['Echo:', ' a'], 'length'],
  ['', undefined, ['Echo:'], 'stop'],
])('mockReply(%j, max %p)', (content, max, pieces, finish) => {
  const r = mockReply(req(content, max ? { max_tokens: max } : {}))
  expect(r.pieces).toEqual(pieces)
  expect(r.finish).toBe(finish as 'stop')
  expect(r.usage.completion_tokens).toBe(pieces.length)
  expect(r.usage.total_tokens).toBe(r.usage.prompt_tokens + pieces.length)
})

test('stream: role first, content, finish, then a usage chunk with empty choices', async () => {
  const chunks: ChatChunk[] = []
  for await (const c of await mockAdapter.stream(req('hi there'), route, new AbortController().signal)) chunks.push(c)
  expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' })
  expect(chunks.slice(1, -2).map((c) => c.choices[0]!.delta.content).join('')).toBe('Echo: hi there')
  expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('stop')
  expect(chunks.at(-1)!.choices).toEqual([])
  expect(chunks.at(-1)!.usage).toEqual({ prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 })
})

test('complete: one message with the echo and usage', async () => {
  const r = await mockAdapter.complete(req('yo'), route, new AbortController().signal)
  expect(r.choices[0]!.message.content).toBe('Echo: yo')
  expect(r.usage).toEqual({ prompt_tokens: 2, completion_tokens: 2, total_tokens: 4 })
})
