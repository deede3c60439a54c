import { describe, expect, spyOn, test } from 'bun:test'
import { isOfficialOpenAI, toOpenAIRequest } from '../../../src/providers/openai/request.ts'

const req = (extra: Record<string, unknown>) => ({ model: 'm', messages: [{ role: 'user' as const, content: 'hi' }], ...extra })

describe('the output cap in every field the upstream may read', () => {
  test.each([
    ['official API: max_completion_tokens only', { max_completion_tokens: 16 }, true, { max_completion_tokens: 16 }],
    ['compatible server: the cap also as max_tokens', { max_completion_tokens: 16 }, false, { max_completion_tokens: 16, max_tokens: 16 }],
    ['compatible server, client sent max_tokens itself: kept as sent', { max_tokens: 9 }, false, { max_tokens: 9 }],
  ] as const)('%s', (_what, extra, official, expected) => {
    const out = toOpenAIRequest(req(extra), 'up', false, official)
    expect({ max_tokens: out.max_tokens, max_completion_tokens: out.max_completion_tokens }).toEqual({ max_tokens: undefined, max_completion_tokens: undefined, ...expected })
  })

  test.each([
    ['https://api.openai.com/v1', true],
    ['http://127.0.0.1:11434/v1', false],
    ['https://openai.example.com/v1', false],
    ['not a url', false],
  ] as const)('%s is official: %s', (url, official) => expect(isOfficialOpenAI(url)).toBe(official))

  test('a base URL is parsed once, then answered from what that call kept; past 256 URLs, each time', () => {
    const parse = spyOn(URL, 'canParse')
    try {
      const url = 'https://api.openai.com/v1?once'
      expect([isOfficialOpenAI(url), isOfficialOpenAI(url), isOfficialOpenAI(url)]).toEqual([true, true, true])
      expect(parse).toHaveBeenCalledTimes(1)
      for (let i = 0; i < 300; i++) isOfficialOpenAI(`http://127.0.0.1:${10_000 + i}/v1`)
      parse.mockClear()
      expect(isOfficialOpenAI('http://127.0.0.1:10299/v1')).toBe(false) // one of the URLs past the bound
      expect(isOfficialOpenAI('http://127.0.0.1:10299/v1')).toBe(false)
      expect(parse).toHaveBeenCalledTimes(2)
    } finally {
      parse.mockRestore()
    }
  })
})
