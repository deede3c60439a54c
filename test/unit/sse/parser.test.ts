import { describe, expect, test } from 'bun:test'
import { parseSse, pendingChars, SseParser, type SseEvent } from '../../../src/sse/parser.ts'
import fc from 'fast-check'

const enc = new TextEncoder()

/** Feeds the pieces as separate reads, collecting everything the parser emits. */
function feedAll(pieces: Array<string | Uint8Array>): SseEvent[] {
  const p = new SseParser()
  const out: SseEvent[] = []
  for (const piece of pieces) out.push(...p.feed(typeof piece === 'string' ? enc.encode(piece) : piece))
  out.push(...p.end())
  return out
}

const msg = (data: string, extra: Partial<SseEvent> = {}): SseEvent => ({ event: 'message', data, ...extra })

// Conformance cases from the WHATWG event-stream interpretation rules.
const cases: Array<[name: string, input: string, expected: SseEvent[]]> = [
  ['LF line ends', 'data: a\n\ndata: b\n\n', [msg('a'), msg('b')]],
  ['CRLF line ends', 'data: a\r\n\r\ndata: b\r\n\r\n', [msg('a'), msg('b')]],
  ['CR line ends', 'data: a\r\rdata: b\r\r', [msg('a'), msg('b')]],
  ['mixed line ends', 'data: a\r\n\rdata: b\n\r\n', [msg('a'), msg('b')]],
  ['leading BOM is stripped', '\uFEFFdata: a\n\n', [msg('a')]],
  ['only one BOM is stripped', '\uFEFF\uFEFFdata: a\n\n', []],
  ['comment lines are ignored', ': hello\n:\ndata: a\n: mid\n\n', [msg('a')]],
  ['multi-line data joined with LF', 'data: a\ndata: b\ndata:\ndata: c\n\n', [msg('a\nb\n\nc')]],
  ['no space after colon', 'data:x\n\n', [msg('x')]],
  ['only one leading space removed', 'data:  two\n\n', [msg(' two')]],
  ['field without colon has an empty value', 'data\n\n', [msg('')]],
  ['colon inside value is kept', 'data: {"a":"b:c"}\n\n', [msg('{"a":"b:c"}')]],
  ['event type', 'event: ping\ndata: {}\n\n', [{ event: 'ping', data: '{}' }]],
  ['event type resets after dispatch', 'event: x\ndata: 1\n\ndata: 2\n\n', [{ event: 'x', data: '1' }, msg('2')]],
  ['empty event type means message', 'event:\ndata: 1\n\n', [msg('1')]],
  ['event without data is not dispatched and resets type', 'event: x\n\ndata: 1\n\n', [msg('1')]],
  ['id persists across events', 'id: 7\ndata: a\n\ndata: b\n\n', [msg('a', { id: '7' }), msg('b', { id: '7' })]],
  ['empty id resets it', 'id: 7\ndata: a\n\nid\ndata: b\n\n', [msg('a', { id: '7' }), msg('b')]],
  ['id with NUL is ignored', 'id: 1\n\nid: a\u0000b\ndata: x\n\n', [msg('x', { id: '1' })]],
  ['retry is not an event', 'retry: 1000\n\ndata: a\n\n', [msg('a')]],
  ['unknown fields are ignored', 'foo: bar\ndata: a\n\n', [msg('a')]],
  ['field names are case sensitive', 'Data: a\n\n', []],
  ['a field named like a known one plus more is unknown', 'datum: x\ndatas: y\nids: 9\nevents: e\ndata: a\n\n', [msg('a')]],
  ['a known field name cut short is unknown', 'dat: x\nevent: e\nda\n\ndata: b\n\n', [msg('b')]],
  ['incomplete final event is discarded', 'data: a\n\ndata: b\n', [msg('a')]],
  ['final line without line end is discarded', 'data: a\n\ndata: b', [msg('a')]],
  ['blank lines alone produce nothing', '\n\n\r\n\r', []],
  ['multi-byte characters', 'data: héllo 日本 👋\n\n', [msg('héllo 日本 👋')]],
]

describe('SseParser conformance', () => {
  test.each(cases)('%s', (_name, input, expected) => {
    expect(parseSse(input)).toEqual(expected)
  })

  test.each(cases)('%s (one byte per read)', (_name, input, expected) => {
    const bytes = enc.encode(input)
    expect(feedAll([...bytes].map((b) => new Uint8Array([b])))).toEqual(expected)
  })

  test('retry field is recorded in state, non-digits ignored', () => {
    const p = new SseParser()
    p.feed(enc.encode('retry: 2500\n\nretry: 12a\n\n'))
    expect(p.state.retryMs).toBe(2500)
  })
})

describe('SseParser chunk boundaries', () => {
  test('regression: CR at the end of one read and LF at the start of the next is one line end', () => {
    // Without the skipLf state the LF would read as an empty line and dispatch "a" early, twice over.
    expect(feedAll(['data: a\r', '\ndata: b\r', '\n\r', '\n'])).toEqual([msg('a\nb')])
  })

  test('CR at the end of a read followed by a non-LF is still a line end', () => {
    expect(feedAll(['data: a\r', '\r'])).toEqual([msg('a')])
  })

  test('UTF-8 sequence split across reads', () => {
    const bytes = enc.encode('data: 👋é\n\n')
    // Split inside the 4-byte emoji and inside the 2-byte é.
    expect(feedAll([bytes.subarray(0, 7), bytes.subarray(7, 9), bytes.subarray(9, 11), bytes.subarray(11)])).toEqual([msg('👋é')])
  })

  test('BOM split across reads', () => {
    const bytes = enc.encode('\uFEFFdata: a\n\n')
    expect(feedAll([bytes.subarray(0, 1), bytes.subarray(1, 2), bytes.subarray(2)])).toEqual([msg('a')])
  })

  test('field name split across reads', () => {
    expect(feedAll(['da', 'ta', ':', ' x', '\n', '\n'])).toEqual([msg('x')])
  })

  test('feed returns events as soon as they complete', () => {
    const p = new SseParser()
    expect(p.feed(enc.encode('data: a\n'))).toEqual([])
    expect(p.feed(enc.encode('\ndata: b'))).toEqual([msg('a')])
    expect(p.end()).toEqual([])
  })
})

/**
 * The event-stream rules read straight off the spec, over the whole decoded text at once (no reads, no state across
 * them): what the streaming parser must produce however the bytes are split. Also the last event id and retry time.
 */
function specParse(text: string): { events: SseEvent[]; lastEventId: string; retryMs: number | null } {
  const lines = text.split(/\r\n|\r|\n/)
  lines.pop() // the text after the last line end is no line yet
  const events: SseEvent[] = []
  let data: string[] | null = null
  let type = ''
  let id = ''
  let retryMs: number | null = null
  for (const line of lines) {
    if (line === '') {
      if (data) events.push({ event: type || 'message', data: data.join('\n'), ...(id ? { id } : {}) })
      data = null
      type = ''
      continue
    }
    if (line.startsWith(':')) continue
    const colon = line.indexOf(':')
    const name = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (name === 'data') (data ??= []).push(value)
    else if (name === 'event') type = value
    else if (name === 'id' && !value.includes('\u0000')) id = value
    else if (name === 'retry' && /^[0-9]+$/.test(value)) retryMs = Number(value)
  }
  return { events, lastEventId: id, retryMs }
}

describe('SseParser against the spec, any text split anywhere', () => {
  const piece = fc.constantFrom('data', 'event', 'id', 'retry', 'dat', ':', ': ', ' ', '\r', '\n', '\r\n', 'a', '7', '12', 'é', '👋', '\uFEFF', '\u0000', '{"k":"v"}')
  test('every split of the bytes, empty reads included, gives the events and state of the whole text', () => {
    fc.assert(fc.property(fc.array(piece, { maxLength: 60 }), fc.array(fc.nat(), { maxLength: 8 }), (pieces, cuts) => {
      const bytes = enc.encode(pieces.join(''))
      // Repeated cut points make empty reads, between a CR and its LF too.
      const at = cuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b)
      const reads = [0, ...at].map((from, i) => bytes.subarray(from, at[i] ?? bytes.length))
      const p = new SseParser()
      const events = reads.flatMap((r) => p.feed(r))
      events.push(...p.end())
      expect({ events, lastEventId: p.state.lastEventId, retryMs: p.state.retryMs }).toEqual(specParse(new TextDecoder().decode(bytes)))
    }), { numRuns: 2000 })
  })

  test('an empty read between a CR and its LF keeps them one line end', () => {
    expect(feedAll(['data: a\r', '', '\ndata: b\n\n'])).toEqual([msg('a\nb')])
  })
})

describe('pendingChars: what an unended event holds', () => {
  test('counts the partial line and every data line with its joining LF, empty ones too', () => {
    const p = new SseParser()
    p.feed(enc.encode('data: abc\n' + 'data:\n'.repeat(1000) + 'data: par'))
    expect(pendingChars(p.state)).toBe(4 + 1000 + 'data: par'.length)
    p.feed(enc.encode('tial\n\n'))
    expect(pendingChars(p.state)).toBe(0)
  })
})
