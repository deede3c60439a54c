/**
 * The one SSE input parser: bytes → events, following the WHATWG event-stream interpretation
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
 *
 * Chunk boundaries may fall anywhere: inside a UTF-8 sequence (the streaming TextDecoder keeps the partial
 * sequence), inside a line (kept in `state.line`), or between the CR and LF of a CRLF (`state.skipLf`).
 * A read's line ends are found with indexOf, searching on from each one found: linear in the read; no regex ever
 * runs over raw stream text.
 */
export interface SseEvent {
  /** The `event:` field, `'message'` when absent. */
  event: string
  /** All `data:` lines of the event joined with "\n". */
  data: string
  /** The last event ID in effect when the event was dispatched (it persists across events, per spec). */
  id?: string
}

/** Typed per-stream state; exposed for tests and debugging, mutated only by the parser. */
export interface SseParserState {
  /** Partial line carried over from the previous read. */
  line: string
  /** The previous read ended with CR: a LF at the start of the next read belongs to the same line end. */
  skipLf: boolean
  /** Data lines of the event being built; `hasData` distinguishes `data:` (empty) from no data at all. */
  data: string[]
  /** Characters the data lines will make in the event: each line's value and the "\n" that joins it. */
  dataChars: number
  hasData: boolean
  eventType: string
  lastEventId: string
  /** Reconnection time from the last valid `retry:` field; the gateway does not reconnect, kept for completeness. */
  retryMs: number | null
}

const LF = 10
const STREAMING = { stream: true } as const

export class SseParser {
  readonly state: SseParserState = {
    line: '', skipLf: false, data: [], dataChars: 0, hasData: false, eventType: '', lastEventId: '', retryMs: null,
  }
  // ignoreBOM: false (the default) makes the decoder drop one leading U+FEFF, even when split across reads.
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: false })
  private out: SseEvent[] = []

  /** Feeds one read; returns the events it completed (possibly none). */
  feed(bytes: Uint8Array): SseEvent[] {
    this.scan(this.decoder.decode(bytes, STREAMING))
    return this.take()
  }

  /**
   * Ends the stream: flushes a trailing partial UTF-8 sequence. Per spec an event without its terminating
   * blank line is incomplete and is discarded, so this only returns events completed by the flush itself.
   */
  end(): SseEvent[] {
    this.scan(this.decoder.decode())
    const s = this.state
    s.line = ''
    s.data = []
    s.dataChars = 0
    s.hasData = false
    s.eventType = ''
    return this.take()
  }

  private take(): SseEvent[] {
    const events = this.out
    this.out = []
    return events
  }

  private scan(text: string): void {
    const s = this.state
    const n = text.length
    let start = 0
    if (s.skipLf && n > 0) {
      if (text.charCodeAt(0) === LF) start = 1
      s.skipLf = false
    }
    // Line ends are found with indexOf (a native scan, ~7× a charCodeAt loop over a stream's text), each of CR and
    // LF looked up again only once passed: one pass of each over the read, whatever its mix of line ends.
    let lf = text.indexOf('\n', start)
    let cr = text.indexOf('\r', start)
    while (lf !== -1 || cr !== -1) {
      let end: number
      let next: number
      if (cr === -1 || (lf !== -1 && lf < cr)) {
        end = lf
        next = lf + 1
      } else {
        end = cr
        next = cr + 1
        if (next === n) s.skipLf = true // the LF of this CRLF, if any, arrives with the next read
        else if (text.charCodeAt(next) === LF) next++
        cr = text.indexOf('\r', next)
      }
      if (lf !== -1 && lf < next) lf = text.indexOf('\n', next)
      if (s.line === '') {
        this.processLine(text, start, end)
      } else {
        const line = s.line + text.slice(start, end)
        s.line = ''
        this.processLine(line, 0, line.length)
      }
      start = next
    }
    if (start < n) s.line += text.slice(start)
  }

  /** The line text[start, end): matched in place, so that only a field's value becomes a string of its own. */
  private processLine(text: string, start: number, end: number): void {
    const s = this.state
    if (start === end) return this.dispatch()
    if (text.charCodeAt(start) === 58 /* ':' */) return // comment
    // The colon is looked for within the line only (indexOf could run on to the end of the read for every line
    // without one).
    let colon = start
    while (colon < end && text.charCodeAt(colon) !== 58) colon++
    // The value starts after the colon and one optional space.
    const valueStart = colon + 1 < end && text.charCodeAt(colon + 1) === 32 /* ' ' */ ? colon + 2 : colon + 1
    const value = colon === end ? '' : text.slice(valueStart, end)
    const nameLength = colon - start
    if (isField(text, start, nameLength, 'data')) {
      s.data.push(value)
      s.dataChars += value.length + 1
      s.hasData = true
    } else if (isField(text, start, nameLength, 'event')) {
      s.eventType = value
    } else if (isField(text, start, nameLength, 'id')) {
      if (!value.includes('\u0000')) s.lastEventId = value
    } else if (isField(text, start, nameLength, 'retry')) {
      if (value !== '' && isAsciiDigits(value)) s.retryMs = Number(value)
    }
    // unknown fields are ignored per spec
  }

  private dispatch(): void {
    const s = this.state
    if (!s.hasData) {
      // Spec: no data → reset the type and fire nothing (the id still persists).
      s.eventType = ''
      return
    }
    const event: SseEvent = { event: s.eventType === '' ? 'message' : s.eventType, data: s.data.length === 1 ? s.data[0]! : s.data.join('\n') }
    if (s.lastEventId !== '') event.id = s.lastEventId
    s.data.length = 0 // the event has its own string; the array is reused
    s.dataChars = 0
    s.hasData = false
    s.eventType = ''
    this.out.push(event)
  }
}

/** Whether the field name at text[start, start + length) is `name`. */
function isField(text: string, start: number, length: number, name: string): boolean {
  return length === name.length && text.startsWith(name, start)
}

function isAsciiDigits(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c < 48 || c > 57) return false
  }
  return true
}

/** Parses a whole in-memory stream (fixtures, tests). */
export function parseSse(bytes: Uint8Array | string): SseEvent[] {
  const parser = new SseParser()
  const input = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes
  return [...parser.feed(input), ...parser.end()]
}

/**
 * Far above any real event (a chunk is a few hundred bytes; a whole tool call's arguments a few MB at most):
 * an upstream that never ends its line or event must not grow the gateway's memory without bound.
 */
export const MAX_EVENT_CHARS = 16 * 1024 * 1024

/**
 * Characters of the event being built (its partial line and data lines): what an unended event holds. Kept as a
 * count, not summed over the lines on each read (quadratic in the lines of one long event), and each data line
 * counts its joining "\n", so that empty `data:` lines cannot pile up without bound either.
 */
export function pendingChars(s: SseParserState): number {
  return s.line.length + s.dataChars
}
