/**
 * Every recorded-shape fixture goes through parser + transform whole, split at every byte offset, split at
 * every pair of offsets near line ends, and split at random offsets (fast-check): the chunks must be identical.
 */
import { describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { GatewayError } from '../../../src/errors.ts'
import { parseEvent } from '../../../src/providers/anthropic/adapter.ts'
import { anthropicEventToChunks, createAnthropicStreamState } from '../../../src/providers/anthropic/stream.ts'
import { openAIEventToChunk } from '../../../src/providers/openai/adapter.ts'
import type { ProviderConfig } from '../../../src/config/types.ts'
import type { ChatChunk } from '../../../src/wire/openai.ts'
import { SseParser } from '../../../src/sse/parser.ts'
import { splitBytes } from '../../helpers/fake-upstream.ts'

const FIXTURES = new URL('../../fixtures/', import.meta.url)
const provider: ProviderConfig = { name: 'fixture', kind: 'openai', baseUrl: 'http://x', apiKey: 'sk-fixture-secret-key', timeoutMs: 1000 }

interface Outcome {
  chunks: ChatChunk[]
  error?: { code: string; message: string }
  done: boolean
}

/** The same event → chunk steps the adapters run on live streams, over the given reads. */
function replay(kind: 'openai' | 'anthropic', reads: Uint8Array[]): Outcome {
  const parser = new SseParser()
  const state = createAnthropicStreamState({ requestedModel: 'client-model', now: () => 1_700_000_000_000, secret: provider.apiKey })
  const out: Outcome = { chunks: [], done: false }
  try {
    const events = [...reads.flatMap((r) => parser.feed(r)), ...parser.end()]
    for (const e of events) {
      if (kind === 'openai') {
        const c = openAIEventToChunk(e.data, provider, 'client-model')
        if (c === 'done') {
          out.done = true
          break
        }
        out.chunks.push(c)
      } else {
        out.chunks.push(...anthropicEventToChunks(state, parseEvent(e.event, e.data, provider)))
        if (state.stopped) {
          out.done = true
          break
        }
      }
    }
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err
    out.error = { code: err.code, message: err.message }
  }
  return out
}

const fixtures: Array<[file: string, kind: 'openai' | 'anthropic']> = [
  ['openai-text-usage.sse', 'openai'],
  ['openai-text-crlf.sse', 'openai'],
  ['openai-tool-calls-parallel.sse', 'openai'],
  ['bom-comments.sse', 'openai'],
  ['anthropic-text.sse', 'anthropic'],
  ['anthropic-tool-use.sse', 'anthropic'],
  ['anthropic-tool-no-input.sse', 'anthropic'],
  ['anthropic-thinking-text.sse', 'anthropic'],
  ['anthropic-pings.sse', 'anthropic'],
  ['anthropic-overloaded-error.sse', 'anthropic'],
]

async function load(file: string): Promise<Uint8Array> {
  return new Uint8Array(await Bun.file(new URL(file, FIXTURES)).arrayBuffer())
}

describe('fixture replay is independent of read boundaries', () => {
  for (const [file, kind] of fixtures) {
    test(`${file}: split at every byte offset`, async () => {
      const bytes = await load(file)
      const whole = replay(kind, [bytes])
      expect(whole.chunks.length).toBeGreaterThan(0)
      for (let i = 1; i < bytes.length; i++) {
        const got = replay(kind, splitBytes(bytes, [i]))
        if (!Bun.deepEquals(got, whole)) expect({ offset: i, got }).toEqual({ offset: i, got: whole })
      }
    })

    test(`${file}: one byte per read`, async () => {
      const bytes = await load(file)
      const reads = Array.from(bytes, (b) => new Uint8Array([b]))
      expect(replay(kind, reads)).toEqual(replay(kind, [bytes]))
    })

    test(`${file}: random chunkings (fast-check)`, async () => {
      const bytes = await load(file)
      const whole = replay(kind, [bytes])
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 40 }), (offsets) => {
          expect(replay(kind, splitBytes(bytes, offsets))).toEqual(whole)
        }),
        { numRuns: 200 },
      )
    })
  }
})

describe('fixture outcomes', () => {
  test('openai CRLF and LF fixtures give the same chunks', async () => {
    expect(replay('openai', [await load('openai-text-crlf.sse')])).toEqual(replay('openai', [await load('openai-text-usage.sse')]))
  })

  test('openai text: ends at [DONE], keeps the usage chunk, multi-byte text intact', async () => {
    const out = replay('openai', [await load('openai-text-usage.sse')])
    expect(out.done).toBe(true)
    const last = out.chunks[out.chunks.length - 1]
    expect(last.choices).toEqual([])
    expect(last.usage).toMatchObject({ prompt_tokens: 19, completion_tokens: 10, total_tokens: 29 })
    expect(out.chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Hello! How can I help you today? héllo wörld 👋 日本')
    expect(out.chunks.every((c) => c.model === 'client-model')).toBe(true)
  })

  test('BOM + comments fixture parses to three chunks and [DONE]', async () => {
    const out = replay('openai', [await load('bom-comments.sse')])
    expect(out.done).toBe(true)
    expect(out.chunks.map((c) => c.choices[0].delta.content ?? null)).toEqual(['', 'BOM ok', null])
  })

  test('anthropic tool use: three tool calls indexed 0..2 after the text block', async () => {
    const out = replay('anthropic', [await load('anthropic-tool-use.sse')])
    const starts = out.chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []).filter((t) => t.id !== undefined)
    expect(starts.map((t) => [t.index, t.function?.name])).toEqual([[0, 'get_weather'], [1, 'get_time'], [2, 'get_weather']])
    const args = (i: number) => out.chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []).filter((t) => t.index === i).map((t) => t.function?.arguments ?? '').join('')
    expect(JSON.parse(args(0))).toEqual({ location: 'San Francisco, CA', unit: 'fahrenheit' })
    expect(JSON.parse(args(2))).toEqual({ location: 'Tokyo' })
    expect(out.chunks.at(-2)?.choices[0].finish_reason).toBe('tool_calls')
    expect(out.chunks.at(-1)?.usage).toMatchObject({ prompt_tokens: 572, completion_tokens: 89, total_tokens: 661 })
  })

  test('regression (issue 9 item 12): tools without input stream arguments "{}", never ""', async () => {
    const out = replay('anthropic', [await load('anthropic-tool-no-input.sse')])
    const calls = out.chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? [])
    const args = (i: number) => calls.filter((t) => t.index === i).map((t) => t.function?.arguments ?? '').join('')
    expect(calls.filter((t) => t.id !== undefined).map((t) => [t.index, t.function?.name])).toEqual([[0, 'get_current_time'], [1, 'list_time_zones']])
    expect([args(0), args(1)]).toEqual(['{}', '{}'])
    expect(out.chunks.at(-2)?.choices[0].finish_reason).toBe('tool_calls')
  })

  test('anthropic thinking + text: thinking dropped, text kept', async () => {
    const out = replay('anthropic', [await load('anthropic-thinking-text.sse')])
    const text = out.chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')
    expect(text).toBe('27 * 453 = 12,231.')
    expect(JSON.stringify(out.chunks)).not.toContain('signature')
  })

  test('anthropic overloaded_error: chunks before the error, then upstream_error', async () => {
    const out = replay('anthropic', [await load('anthropic-overloaded-error.sse')])
    expect(out.chunks.map((c) => c.choices[0]?.delta.content)).toEqual(['', 'Partial', ' answer'])
    expect(out.error).toEqual({ code: 'upstream_error', message: 'overloaded_error: Overloaded' })
    expect(out.done).toBe(false)
  })
})
