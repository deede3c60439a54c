/**
 * The one SSE input parser: bytes → events, following the WHATWG event-stream interpretation
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
 *
 * Chunk boundaries may fall anywhere: inside a UTF-8 sequence (the streaming TextDecoder keeps the partial
 * sequence), inside a line (kept in `state.line`), or between the CR and LF of a CRLF (`state.skipLf`).
 * Lines are found by a linear character scan; no regex ever runs over raw stream text.
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
  hasData: boolean
  eventType: string
  lastEventId: string
  /** Reconnection time from the last valid `retry:` field; the gateway does not reconnect, kept for completeness. */
  retryMs: number | null
}

const LF = 10
const CR = 13
const STREAMING = { stream: true } as const

export class SseParser {
  readonly state: SseParserState = {
    line: '', skipLf: false, data: [], hasData: false, eventType: '', lastEventId: '', retryMs: null,
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
    let start = 0
    let i = 0
    if (s.skipLf && text.length > 0) {
      if (text.charCodeAt(0) === LF) start = i = 1
      s.skipLf = false
    }
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i)
      if (c !== LF && c !== CR) continue
      const piece = text.slice(start, i)
      const line = s.line === '' ? piece : s.line + piece
      s.line = ''
      if (c === CR) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === LF) i++
        } else {
          s.skipLf = true // the LF of this CRLF, if any, arrives with the next read
        }
      }
      start = i + 1
      this.processLine(line)
    }
    if (start < text.length) s.line += text.slice(start)
  }

  private processLine(line: string): void {
    const s = this.state
    if (line === '') return this.dispatch()
    if (line.charCodeAt(0) === 58 /* ':' */) return // comment
    const colon = line.indexOf(':')
    // The value starts after the colon and one optional space; the field is matched in place (no substring for
    // it: this runs for every line of every stream).
    const value = colon === -1 ? '' : line.slice(line.charCodeAt(colon + 1) === 32 /* ' ' */ ? colon + 2 : colon + 1)
    const nameLength = colon === -1 ? line.length : colon
    if (isField(line, nameLength, 'data')) {
      s.data.push(value)
      s.hasData = true
    } else if (isField(line, nameLength, 'event')) {
      s.eventType = value
    } else if (isField(line, nameLength, 'id')) {
      if (!value.includes('\u0000')) s.lastEventId = value
    } else if (isField(line, nameLength, 'retry')) {
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
    s.hasData = false
    s.eventType = ''
    this.out.push(event)
  }
}

/** Whether the line's field name (its first `length` characters) is `name`. */
function isField(line: string, length: number, name: string): boolean {
  return length === name.length && line.startsWith(name)
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

/** Characters of the event being built (its partial line and data lines): what an unended event holds. */
export function pendingChars(s: SseParserState): number {
  let n = s.line.length
  for (const d of s.data) n += d.length
  return n
}
