/**
 * Every recorded-shape fixture stream, served by the fake upstream over real HTTP split at random byte offsets
 * (seeded) and with LF, CRLF and CR line endings: what the client receives from the gateway (after
 * normalising the per-request `created` and `request_id`, and the chunk id) must be identical every time,
 * and well-formed by an independent SSE parser.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { buildTestGateway, type TestGateway } from '../../helpers/app.ts'
import { type FakeReply, type FakeUpstream, splitBytes, startFakeUpstream } from '../../helpers/fake-upstream.ts'
import { prng } from '../../helpers/prng.ts'
import { auditResponse, type Kind, MODELS, proxyConfig, type StreamAudit } from './harness.ts'

const FIXTURES = new URL('../../fixtures/', import.meta.url)

const fixtures: Array<[file: string, kind: Exclude<Kind, 'mock'>, outcome: 'done' | 'error']> = [
  ['openai-text-usage.sse', 'openai', 'done'],
  ['openai-text-crlf.sse', 'openai', 'done'],
  ['openai-tool-calls-parallel.sse', 'openai', 'done'],
  ['bom-comments.sse', 'openai', 'done'],
  ['anthropic-text.sse', 'anthropic', 'done'],
  ['anthropic-tool-use.sse', 'anthropic', 'done'],
  ['anthropic-thinking-text.sse', 'anthropic', 'done'],
  ['anthropic-pings.sse', 'anthropic', 'done'],
  ['anthropic-overloaded-error.sse', 'anthropic', 'error'],
]

const SEEDS = [1, 7, 42, 1337, 9001]
const EOLS = { lf: '\n', crlf: '\r\n', cr: '\r' } as const

function randomOffsets(length: number, seed: number): number[] {
  const rnd = prng(seed)
  const n = 1 + Math.floor(rnd() * 24)
  return Array.from({ length: n }, () => 1 + Math.floor(rnd() * (length - 1)))
}

/** The stream with every line ending (LF, CRLF or CR in the fixture) rewritten to `eol`. */
const withEol = (text: string, eol: string) => text.replace(/\r\n|\r|\n/g, eol)

/** Client-visible events with the per-request fields replaced, as one comparable string. */
function normalise(a: StreamAudit): string {
  return a.events.map((e) => {
    if (e.data === '[DONE]') return e.data
    const v = JSON.parse(e.data) as Record<string, any>
    if (v.error) return JSON.stringify({ error: { ...v.error, request_id: 'REQ' } })
    return JSON.stringify({ ...v, id: 'ID', created: 0 })
  }).join('\n')
}

let up: FakeUpstream
let gw: TestGateway
let key: string

beforeAll(async () => {
  up = await startFakeUpstream()
  gw = await buildTestGateway({ config: proxyConfig(up.url) })
  key = await gw.addTenant({ id: 'fx' })
  await gw.warm()
})

afterAll(async () => {
  await up.stop()
})

async function run(kind: Exclude<Kind, 'mock'>, reply: FakeReply, includeUsage = true): Promise<StreamAudit> {
  up.program(reply)
  const res = await gw.request('/v1/chat/completions', {
    key,
    body: { model: MODELS[kind].client, messages: [{ role: 'user', content: 'fixture' }], stream: true, stream_options: { include_usage: includeUsage } },
  })
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toStartWith('text/event-stream')
  return auditResponse(res)
}

describe.each(fixtures)('%s through the gateway', (file, kind, outcome) => {
  let text: string
  let baseline: StreamAudit

  beforeAll(async () => {
    text = withEol(await Bun.file(new URL(file, FIXTURES)).text(), '\n')
    baseline = await run(kind, { kind: 'sse', chunks: [text] })
  })

  test('whole stream: well-formed, expected outcome, one id per stream, model rewritten', () => {
    expect(baseline.problems).toEqual([])
    expect(baseline.outcome).toBe(outcome)
    expect(baseline.chunks.length).toBeGreaterThan(0)
    expect(new Set(baseline.chunks.map((c) => c.id)).size).toBe(1)
    expect(baseline.chunks.every((c) => c.model === MODELS[kind].client)).toBe(true)
    if (outcome === 'error') expect(baseline.events.filter((e) => e.data === '[DONE]')).toEqual([])
  })

  for (const [eolName, eol] of Object.entries(EOLS)) {
    test(`${eolName}: split at random offsets (seeds ${SEEDS.join(',')}) → identical client output`, async () => {
      const bytes = new TextEncoder().encode(withEol(text, eol))
      const expected = normalise(baseline)
      const whole = await run(kind, { kind: 'sse', chunks: [bytes] })
      expect(whole.problems).toEqual([])
      expect(normalise(whole)).toBe(expected)
      for (const seed of SEEDS) {
        const offsets = randomOffsets(bytes.length, seed * 31 + eol.length)
        const got = await run(kind, { kind: 'sse', chunks: splitBytes(bytes, offsets), chunkDelayMs: 1 })
        const label = { file, eol: eolName, seed, offsets: [...new Set(offsets)].sort((x, y) => x - y) }
        if (got.problems.length > 0 || normalise(got) !== expected) {
          expect({ ...label, problems: got.problems, out: normalise(got) }).toEqual({ ...label, problems: [], out: expected })
        }
      }
    })
  }

  test('every byte split pair near each event boundary (LF and CRLF)', async () => {
    const expected = normalise(baseline)
    for (const eol of ['\n', '\r\n']) {
      const bytes = new TextEncoder().encode(withEol(text, eol))
      // Cut right before, inside and after each blank-line terminator.
      const offsets: number[] = []
      for (let i = 0; i < bytes.length - 1; i++) if (bytes[i] === 10 && (bytes[i + 1] === 10 || bytes[i + 1] === 13)) offsets.push(i, i + 1, i + 2)
      const got = await run(kind, { kind: 'sse', chunks: splitBytes(bytes, offsets), chunkDelayMs: 1 })
      expect(got.problems).toEqual([])
      expect(normalise(got)).toBe(expected)
    }
  })

  test('without include_usage: same stream minus any usage, still well-formed', async () => {
    const got = await run(kind, { kind: 'sse', chunks: [text] }, false)
    expect(got.problems).toEqual([])
    expect(got.outcome).toBe(outcome)
    expect(got.chunks.filter((c) => 'usage' in c || (c.choices as unknown[]).length === 0)).toEqual([])
    const strip = (a: StreamAudit) => a.chunks.filter((c) => (c.choices as unknown[]).length > 0).map((c) => JSON.stringify(c.choices))
    expect(strip(got)).toEqual(strip(baseline))
  })
})
