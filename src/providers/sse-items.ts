/**
 * A provider's stream items read straight off its SSE body: each read of the body is parsed into events, each
 * event stepped into items, and the items handed out through one BatchedIterator (next, or takeBuffered for the
 * rest of the read). One promise chain per read of the body, with no async generator in between: a reader, an
 * event generator, a mapping generator and a flattening iterator stacked up cost each read of each stream a
 * promise, a result object and resolving functions per layer, which is garbage 1,000 concurrent streams leave
 * for the collector on every chunk (bench/RESULTS.md, "the ninth VM").
 */
import { MAX_EVENT_CHARS, pendingChars, SseParser, type SseEvent } from '../sse/parser.ts'
import { BatchCursor, type BatchedIterable, type BatchedIterator } from './batches.ts'

export interface SseItemsSpec<T> {
  /**
   * Appends the items of one event to `out`; returns true when the event ends the stream (no event after it is
   * stepped; the rest of the body is drained, see DRAIN_AFTER_END). May throw (an upstream error event, a malformed
   * one): the items of the events before it in the same read still come out first, then the error.
   */
  step(event: SseEvent, out: T[]): boolean
  /** The body ended without an event that ended the stream: the error to end it with, or null for a clean end. */
  cutOff(): unknown
  /** Any failure (a failed read, an abort of the signal, an error from step or cutOff) as the consumer sees it. */
  failure(err: unknown): unknown
}

/** What is used of the body's reader (Bun's and Node's typings of it differ). */
interface Reader {
  read(): Promise<{ done: true; value?: undefined } | { done: false; value: Uint8Array }>
  cancel(reason?: unknown): Promise<void>
}

const DONE: IteratorResult<never, undefined> = Object.freeze({ done: true, value: undefined })
const OK = Symbol('no failure')

/**
 * After the event that ends the stream, what is left of the body is normally just its end (HTTP/1.1's last chunk),
 * which may come in a later read. It is read and discarded in the background, up to these bounds, so that fetch
 * keeps the connection for the next call; cancelling the body instead closes the connection, and the next call to
 * the provider pays a new one (with a real provider, a TLS handshake). More than this is cancelled.
 */
export const DRAIN_AFTER_END = { maxBytes: 64 * 1024, maxMs: 1_000 }

/**
 * The body is read from the first next() on (a stream nobody reads is never locked). An abort of `signal`
 * cancels the read in progress and ends the items with the signal's reason (through `failure`), so a cut
 * stream is never taken for a clean end. However the items end (a failure, return()), the body is cancelled if it
 * was not read to its end; after the event that ends the stream, its rest is drained instead (DRAIN_AFTER_END).
 */
export function sseItems<T>(
  body: ReadableStream<Uint8Array>, signal: AbortSignal, spec: SseItemsSpec<T>, drainAfterEnd = DRAIN_AFTER_END,
): BatchedIterable<T> {
  let reader: Reader | null = null
  const parser = new SseParser()
  const cursor = new BatchCursor<T>()
  let ended = false
  let failed: unknown = OK
  let reading: Promise<IteratorResult<T, undefined>> | null = null

  /** The reader of a body whose rest is being drained after the stream's last event (drainRest). */
  let draining: Reader | null = null
  const onAbort = (): void => {
    ;(reader ?? draining)?.cancel(signal.reason).catch(() => {})
  }
  /**
   * Stops reading: the body is cancelled unless it was read to its end. The reader is dropped without releaseLock:
   * nothing reads the body after it, and releasing a fetch body's lock cost ~2 µs a stream (bench/RESULTS.md).
   */
  const close = (readToEnd: boolean): void => {
    if (reader === null) return
    signal.removeEventListener('abort', onAbort)
    const r = reader
    reader = null
    if (!readToEnd) r.cancel().catch(() => {})
  }
  /** The stream's last event came before the body's end: the rest is read and dropped, within drainAfterEnd. */
  const drainRest = (): void => {
    const r = reader
    if (r === null) return
    reader = null
    draining = r // an abort of the signal still cancels it (onAbort); the routes no longer abort once the items end
    let left = drainAfterEnd.maxBytes
    let timer: ReturnType<typeof setTimeout> | undefined
    const stop = (cancel: boolean): void => {
      clearTimeout(timer)
      if (draining !== r) return
      draining = null
      signal.removeEventListener('abort', onAbort)
      if (cancel) r.cancel().catch(() => {})
    }
    timer = setTimeout(() => stop(true), drainAfterEnd.maxMs)
    timer.unref?.()
    const readOn = (): void => void r.read().then((x) => {
      if (x.done) return stop(false)
      left -= x.value.byteLength
      if (left >= 0) readOn()
      else stop(true)
    }, () => stop(false))
    readOn()
  }
  const fail = (err: unknown): void => {
    if (failed === OK && !ended) failed = spec.failure(err)
    ended = true
    close(false)
  }
  /** The items of `events` into a new batch; stops at the event that ends the stream or at the first error. */
  const stepAll = (events: SseEvent[]): void => {
    if (events.length === 0) return
    const out: T[] = []
    for (const event of events) {
      try {
        if (spec.step(event, out)) {
          ended = true
          drainRest()
          break
        }
      } catch (err) {
        fail(err)
        break
      }
    }
    cursor.load(out)
  }
  /** What next() can answer without reading: an item, the failure, the end; null when it must read. Throws the failure. */
  const ready = (): IteratorResult<T, undefined> | null => {
    const item = cursor.next()
    if (item) return item
    if (failed !== OK) {
      const err = failed
      failed = OK // reported once; later calls see the end
      throw err
    }
    return ended ? DONE : null
  }
  /** Takes in one read of the body: its items, or how the stream ended. */
  const absorb = (r: Awaited<ReturnType<Reader['read']>>): void => {
    if (ended) return // return() while the read was in flight
    if (signal.aborted) return fail(signal.reason)
    if (r.done) {
      stepAll(parser.end())
      if (ended) return
      let cut: unknown = null
      try {
        cut = spec.cutOff()
      } catch (err) {
        cut = err
      }
      if (cut !== null) return fail(cut)
      ended = true
      close(true)
      return
    }
    stepAll(parser.feed(r.value))
    if (!ended && pendingChars(parser.state) > MAX_EVENT_CHARS) fail(new Error(`SSE event larger than ${MAX_EVENT_CHARS} characters`))
  }
  const absorbError = (err: unknown): void => fail(signal.aborted ? signal.reason : err)

  /** Reads until next() has its answer: an item, the end or the failure. */
  const read = (): Promise<IteratorResult<T, undefined>> => {
    let r = reader
    if (r === null) {
      r = reader = body.getReader() as unknown as Reader
      if (signal.aborted) {
        fail(signal.reason)
        return iterator.next()
      }
      signal.addEventListener('abort', onAbort, { once: true })
    }
    reading = r.read().then(onRead, onReadError)
    return reading
  }
  // The first read's handlers return the answer itself (not a promise of it): one promise per read, not two.
  const onRead = (r: Awaited<ReturnType<Reader['read']>>): IteratorResult<T, undefined> | Promise<IteratorResult<T, undefined>> => {
    absorb(r)
    return answer()
  }
  const onReadError = (err: unknown): IteratorResult<T, undefined> | Promise<IteratorResult<T, undefined>> => {
    absorbError(err)
    return answer()
  }
  /** ready() after a read was taken in, ending the wait of calls that overlap once there is an answer. */
  const answered = (): IteratorResult<T, undefined> | null => {
    let a: IteratorResult<T, undefined> | null
    try {
      a = ready()
    } catch (err) {
      reading = null
      throw err
    }
    if (a) reading = null
    return a
  }
  const answer = (): IteratorResult<T, undefined> | Promise<IteratorResult<T, undefined>> =>
    // A read that completed no item (part of an event, a comment, a ping): the reads after it settle this one
    // promise through callbacks. Returning each next read's promise instead would chain a promise per such read,
    // held until an item comes.
    answered() ?? new Promise((resolve, reject) => readOn(resolve, reject))
  const readOn = (resolve: (a: IteratorResult<T, undefined>) => void, reject: (err: unknown) => void): void => {
    const settle = (): void => {
      let a: IteratorResult<T, undefined> | null
      try {
        a = answered()
      } catch (err) {
        return reject(err)
      }
      if (a === null) readOn(resolve, reject)
      else resolve(a)
    }
    reader!.read().then((r) => {
      absorb(r)
      settle()
    }, (err: unknown) => {
      absorbError(err)
      settle()
    })
  }

  const iterator: BatchedIterator<T> = {
    next(): Promise<IteratorResult<T, undefined>> {
      // After the call before it is answered, whichever way (its failure is reported to it alone).
      if (reading) return reading.then(() => iterator.next(), () => iterator.next())
      let r: IteratorResult<T, undefined> | null
      try {
        r = ready()
      } catch (err) {
        return Promise.reject(err)
      }
      return r ? Promise.resolve(r) : read()
    },
    takeBuffered: () => cursor.takeRest(),
    async return(): Promise<IteratorResult<T, undefined>> {
      cursor.clear()
      failed = OK
      ended = true
      close(false)
      return DONE
    },
  }
  let handedOut = false
  return {
    [Symbol.asyncIterator](): BatchedIterator<T> {
      // One body, read once: a second iteration would only see what the first left.
      if (handedOut) throw new TypeError('sseItems: the items of a body can be iterated once')
      handedOut = true
      return iterator
    },
  }
}
