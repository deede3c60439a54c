import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { estimatePromptTokens, estimateRequestTokens, UNPRICED_IMAGE_TOKENS } from '../../../src/budget/pricing/prompt.ts'
import { IMAGE_PRICING_PRESETS as P } from '../../../src/config/image-pricing.ts'

const png2048x768 = `data:image/png;base64,${readFileSync(join(import.meta.dir, '../../fixtures/images/2048x768.png')).toString('base64')}`
const image = (url: string, detail?: string) => ({ type: 'image_url', image_url: { url, ...(detail ? { detail } : {}) } })
const user = (...content: unknown[]) => [{ role: 'user', content }]
const FRAME = 3 + 4 + 4 // priming + one message + 'user'

describe('estimatePromptTokens', () => {
  test.each([
    ['empty', [], 3],
    ['one short message', [{ role: 'user', content: 'hi' }], FRAME + 2], // one token per UTF-8 byte: 'user' 4, 'hi' 2
    ['CJK: 3 bytes per char, 3 tokens bound per char', [{ role: 'user', content: '你好世界' }], FRAME + 12],
    ['text parts', user({ type: 'text', text: 'abcdef' }), FRAME + 6 + 1],
  ])('%s', (_name, messages, want) => {
    expect(estimatePromptTokens(messages)).toBe(want)
  })
  test('a hard bound: never below one token per byte, whatever the text (regression: bytes/3 undercounted rare symbols)', () => {
    const adversarial = '\u00a7\u00b6~^`|'.repeat(500)
    expect(estimatePromptTokens([{ role: 'user', content: adversarial }])).toBeGreaterThanOrEqual(Buffer.byteLength(adversarial))
  })
  test('at or above a 4-bytes-per-token English rule of thumb', () => {
    const text = 'The quick brown fox jumps over the lazy dog. '.repeat(200)
    expect(estimatePromptTokens([{ role: 'user', content: text }])).toBeGreaterThanOrEqual(Math.ceil(text.length / 4))
  })
  test('tool calls and odd shapes are counted, never throw', () => {
    const msgs = [{ role: 'assistant', content: null, tool_calls: [{ id: 'x', function: { name: 'f', arguments: '{}' } }] }, 42, null]
    expect(estimatePromptTokens(msgs)).toBeGreaterThan(3 + 3 * 4)
  })
})

describe('images count by the model family formula, never by data URL bytes', () => {
  test.each([
    // [case, content, image formula, image tokens]
    ['regression (issue 9): 2048×768 high detail on gpt-4o-mini, read from the PNG header', [image(png2048x768, 'high')], 'gpt-4o-mini', 48_169],
    ['the same image at low detail', [image(png2048x768, 'low')], 'gpt-4o-mini', 2833],
    ['"auto" is bounded as high', [image(png2048x768, 'auto')], 'gpt-4o-mini', 48_169],
    ['a URL: unknown size, worst case (8 tiles)', [image('https://example.com/a.png')], 'gpt-4o', 1445],
    ['a tiny PNG header claiming a small size is still bounded as enlarged (4 tiles)', [image('data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC')], 'gpt-4o', 765],
    ['patches: 2048×768 = 64 × 24 patches = 1,536 × 1.62', [image(png2048x768)], 'gpt-4.1-mini', 2489],
    ['Anthropic-style base64 source, Claude area formula: 2048×768 resized, capped', [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: png2048x768.split(',')[1] } }], 'claude', 1640],
    ['Responses-style input_image string URL', [{ type: 'input_image', image_url: 'https://x/y.jpg', detail: 'low' }], 'gpt-4o-mini', 2833],
    ['500 images: every one counts', Array.from({ length: 500 }, () => image('https://example.com/a.png')), 'gpt-4o-mini', 500 * 48_169],
  ] as const)('%s', (_name, content, family, want) => {
    const req = { model: 'm', messages: [{ role: 'user', content }] }
    const r = estimateRequestTokens(req, P[family])
    expect(r.tokens).toBe(FRAME + want)
    expect(r.images).toBe(content.length)
  })

  test('a model without an image formula counts each image at the flat estimate (used only under fixed)', () => {
    const r = estimateRequestTokens({ model: 'm', messages: user(image(png2048x768)) }, undefined)
    expect(r).toEqual({ tokens: FRAME + UNPRICED_IMAGE_TOKENS, images: 1, unboundedParts: 0 })
  })
})

describe('estimateRequestTokens over the whole request', () => {
  test('pass-through fields count by bytes, call options do not, tools add the hidden-prompt allowance', () => {
    const base = estimateRequestTokens({ model: 'm', messages: user({ type: 'text', text: 'x' }), temperature: 1, service_tier: 'priority' }).tokens
    const withTools = estimateRequestTokens({ model: 'm', messages: user({ type: 'text', text: 'x' }), tools: [] }).tokens
    expect(withTools).toBe(base + 2 + 1_000) // "[]" + allowance
  })
  test('a message or request counts its own fields only, not ones it inherits', () => {
    const inherit = <T extends object>(own: T) => Object.assign(Object.create({ extra: 'y'.repeat(1_000) }), own) as T
    const plain = { model: 'm', messages: [{ role: 'user', content: 'hi' }], prediction: 'abc' }
    const inherited = inherit({ ...plain, messages: [inherit({ role: 'user', content: 'hi' })] })
    expect(estimateRequestTokens(inherited)).toEqual(estimateRequestTokens(plain))
    expect(estimateRequestTokens(plain).tokens).toBe(3 + 4 + 4 + 2 + 3) // priming, framing, "user", "hi", "abc"
  })
  test('file/document parts are counted as unbounded', () => {
    const r = estimateRequestTokens({ model: 'm', messages: user({ type: 'file', file: { file_id: 'f' } }, { type: 'document' }) })
    expect(r.unboundedParts).toBe(2)
  })
})
