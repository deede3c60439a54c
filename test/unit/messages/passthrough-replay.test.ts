/**
 * Anthropic fixture streams through the /v1/messages passthrough (the provider's event reader and the
 * route's re-emission), split into two reads at every byte offset: the client gets the provider's events
 * byte for byte (but the model name in message_start), the same at every split, and usage only from the
 * final message_delta.
 */
import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { GatewayError } from '../../../src/errors.ts'
import { anthropicEvents } from '../../../src/providers/anthropic/messages.ts'
import type { ProviderConfig } from '../../../src/config/types.ts'
import { passthroughStream } from '../../../src/routes/messages.ts'
import { newMeter } from '../../../src/routes/stream-response.ts'

const FIXTURES = new URL('../../fixtures/', import.meta.url)
const provider: ProviderConfig = { name: 'ant', kind: 'anthropic', baseUrl: 'http://x', apiKey: 'k', timeoutMs: 1000 }

function responseOf(parts: Uint8Array[]): Response {
  return new Response(new ReadableStream<Uint8Array>({
    start(c) {
      for (const p of parts) c.enqueue(p)
      c.close()
    },
  }), { headers: { 'content-type': 'text/event-stream' } })
}

async function replay(parts: Uint8Array[]) {
  const protocol = passthroughStream('client-model')
  const meter = newMeter()
  let out = ''
  let error: unknown = null
  try {
    for await (const ev of anthropicEvents(responseOf(parts), provider, new AbortController().signal)) out += protocol.frames(ev, meter).join('')
  } catch (e) {
    error = e
  }
  return { out, usage: meter.usage, error }
}

/** What the client must get: the fixture's events with LF endings, the model name replaced. */
function expected(text: string): string {
  const lf = text.replace(/\r\n|\r/g, '\n')
  const events = lf.split('\n\n').filter((e) => e.trim() !== '' && !e.includes('"type":"error"'))
  return events.map((e) => `${e.replace(/"model":"[^"]*"/, '"model":"client-model"')}\n\n`).join('')
}

describe.each([
  ['anthropic-text.sse', { prompt_tokens: 25, completion_tokens: 15 }],
  ['anthropic-pings.sse', null],
  ['anthropic-thinking-text.sse', null],
  ['anthropic-tool-use.sse', null],
  ['anthropic-tool-no-input.sse', null],
  ['anthropic-overloaded-error.sse', null],
] as const)('%s', (file, knownUsage) => {
  const bytes = new Uint8Array(readFileSync(new URL(file, FIXTURES)))
  const text = new TextDecoder().decode(bytes)
  const isError = text.includes('overloaded_error')

  test('split at every byte offset: the same bytes out, usage from the final message_delta', async () => {
    const whole = await replay([bytes])
    if (isError) {
      expect(whole.error).toBeInstanceOf(GatewayError)
      expect((whole.error as GatewayError).status).toBe(529)
      expect(whole.usage).toBeNull() // no message_delta: nothing final to settle on
    } else {
      expect(whole.error).toBeNull()
      expect(whole.out).toBe(expected(text))
      expect(whole.usage).not.toBeNull()
      if (knownUsage) expect(whole.usage).toMatchObject(knownUsage)
    }
    for (let i = 1; i < bytes.length; i++) {
      const r = await replay([bytes.subarray(0, i), bytes.subarray(i)])
      if (r.out !== whole.out || JSON.stringify(r.usage) !== JSON.stringify(whole.usage) || String(r.error) !== String(whole.error)) {
        throw new Error(`split at ${i} differs`)
      }
    }
  })
})
