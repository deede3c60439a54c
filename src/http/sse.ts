/**
 * The only SSE writer. Every `data:` payload goes through sseJsonStringify, which guarantees the frame
 * cannot be split by a bare CR or LF (https://html.spec.whatwg.org/multipage/server-sent-events.html:
 * CR, LF and CRLF all end a line, so one inside a payload would cut the event in two).
 */
export function sseJsonStringify(value: unknown): string {
  const json = JSON.stringify(value)
  if (json === undefined) throw new TypeError('sseJsonStringify: value is not serializable')
  // JSON.stringify escapes CR/LF inside strings; this guards against a future change (e.g. pretty printing).
  if (json.includes('\n') || json.includes('\r')) throw new Error('sseJsonStringify: payload would contain CR or LF')
  return json
}

export function sseDataFrame(value: unknown): string {
  return `data: ${sseJsonStringify(value)}\n\n`
}

const EVENT_NAME = /^[A-Za-z0-9_.\-]{1,64}$/

/** A named event (Anthropic's protocol names every event); the name is checked like the payload. */
export function sseEventFrame(event: string, value: unknown): string {
  if (!EVENT_NAME.test(event)) throw new Error('sseEventFrame: invalid event name')
  return `event: ${event}\ndata: ${sseJsonStringify(value)}\n\n`
}

/**
 * A named event whose payload is already JSON text (an upstream's own event, passed on byte for byte). The
 * SSE parser never leaves a CR or LF inside a data line, but this is the writer: it checks again.
 */
export function sseRawEventFrame(event: string, json: string): string {
  if (!EVENT_NAME.test(event)) throw new Error('sseRawEventFrame: invalid event name')
  if (json.includes('\n') || json.includes('\r')) throw new Error('sseRawEventFrame: payload would contain CR or LF')
  return `event: ${event}\ndata: ${json}\n\n`
}

export const SSE_DONE_FRAME = 'data: [DONE]\n\n'

/** A comment line: keeps the connection visibly alive; every SSE client ignores it. */
export const SSE_HEARTBEAT_FRAME = ': keep-alive\n\n'

export const SSE_HEADERS: Record<string, string> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
}
