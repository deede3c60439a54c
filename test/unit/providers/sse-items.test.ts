/**
 * sseItems: an SSE body read straight into a BatchedIterator. Reads become batches, events become items through
 * `step`, and every way a stream ends (its last event, a clean or cut-off end of the body, a failed read, an abort,
 * an error from `step`, return()) comes out once, after the items before it, with the body released.
 */
import { describe, expect, test } from 'bun:test'
import { canTakeBuffered } from '../../../src/providers/batches.ts'
import { sseItems, type SseItemsSpec } from '../../../src/providers/sse-items.ts'
import { MAX_EVENT_CHARS, type SseEvent } from '../../../src/sse/parser.ts'

const enc = new TextEncoder()

interface BodyOpts { error?: Error; hang?: boolean }

/** A body that hands out `pieces` one read each, then ends (or fails, or never answers); records what happened to it. */
function bodyOf(pieces: string[], opts: BodyOpts = {}) {
  const seen = { reads: 0, cancelled: false }
  let i = 0
  const body = new ReadableStream<Uint8Array>({
    async pull(c) {
      seen.reads++
      if (i < pieces.length) return c.enqueue(enc.encode(pieces[i++]))
      if (opts.error) return c.error(opts.error)
      if (opts.hang) return new Promise<void>(() => {})
      c.close()
    },
    cancel() {
      seen.cancelled = true
    },
  }, new CountQueuingStrategy({ highWaterMark: 0 }))
  return { body, seen }
}

/** `data` of each event as a number; negative ones throw; 0 ends the stream. A body ending without a 0 is cut off. */
function numbers(over: Partial<SseItemsSpec<number>> = {}): SseItemsSpec<number> & { failures: unknown[] } {
  const failures: unknown[] = []
  return {
    step(event: SseEvent, out: number[]) {
      const n = Number(event.data)
      if (n < 0) throw new Error(`bad ${n}`)
      out.push(n)
      return n === 0
    },
    cutOff: () => new Error('cut off'),
    failure: (err) => {
      failures.push(err)
      return new Error(`mapped: ${(err as Error).message}`)
    },
    failures,
    ...over,
  }
}

const frames = (...ns: number[]) => ns.map((n) => `data: ${n}\n\n`).join('')

/** Every item through next(), then `error: <message>` if it ended in one. */
async function drain(it: AsyncIterator<number>): Promise<Array<number | string>> {
  const got: Array<number | string> = []
  for (;;) {
    try {
      const r = await it.next()
      if (r.done) return got
      got.push(r.value)
    } catch (e) {
      got.push(`error: ${(e as Error).message}`)
      return got
    }
  }
}

const iterate = (body: ReadableStream<Uint8Array>, spec: SseItemsSpec<number>, signal = new AbortController().signal) =>
  sseItems(body, signal, spec)[Symbol.asyncIterator]()

describe('items', () => {
  test('every item of every read in order; a read that completes no event adds nothing; the last event ends it', async () => {
    const { body, seen } = bodyOf([frames(1, 2) + 'da', 'ta: 3\n', '\n' + frames(4, 0)])
    expect(await drain(iterate(body, numbers()))).toEqual([1, 2, 3, 4, 0])
    await Bun.sleep(0)
    // Ended by its last event before the body ended: the rest is read to the body's end (the connection stays
    // usable), not cancelled.
    expect(seen).toEqual({ reads: 4, cancelled: false })
  })

  test('takeBuffered() hands over the rest of the current read without waiting, and never more', async () => {
    const { body } = bodyOf([frames(1, 2, 3), frames(4, 5), frames(0)])
    const it = iterate(body, numbers())
    expect(canTakeBuffered(it)).toBe(true)
    expect(it.takeBuffered()).toEqual([]) // nothing read yet
    expect(await it.next()).toEqual({ done: false, value: 1 })
    expect(it.takeBuffered()).toEqual([2, 3])
    expect(it.takeBuffered()).toEqual([])
    expect(await it.next()).toEqual({ done: false, value: 4 })
    expect(await it.next()).toEqual({ done: false, value: 5 })
    expect(it.takeBuffered()).toEqual([])
    expect(await it.next()).toEqual({ done: false, value: 0 })
    expect(await it.next()).toEqual({ done: true, value: undefined })
  })

  test('nothing is read before the first next(); after the event that ends the stream the rest is drained, not stepped', async () => {
    const { body, seen } = bodyOf([frames(1, 0, 7), frames(9)])
    const spec = numbers()
    const stepped: number[] = []
    const it = iterate(body, { ...spec, step: (e, out) => (stepped.push(Number(e.data)), spec.step(e, out)) })
    expect(seen.reads).toBe(0)
    expect(await drain(it)).toEqual([1, 0])
    await Bun.sleep(0)
    expect(stepped).toEqual([1, 0])
    expect(seen).toEqual({ reads: 3, cancelled: false })
  })

  test('the rest after the last event: read to its end, or cancelled past its bounds or on an abort', async () => {
    const small = { maxBytes: 100, maxMs: 50 }
    // Too much after the end: cancelled once past maxBytes.
    const long = bodyOf([frames(0), 'x'.repeat(60), 'x'.repeat(60), 'x'.repeat(60)])
    expect(await drain(sseItems(long.body, new AbortController().signal, numbers(), small)[Symbol.asyncIterator]())).toEqual([0])
    await Bun.sleep(0)
    expect(long.seen).toEqual({ reads: 3, cancelled: true })
    // A body that never ends after its last event: cancelled after maxMs.
    const hung = bodyOf([frames(0)], { hang: true })
    expect(await drain(sseItems(hung.body, new AbortController().signal, numbers(), small)[Symbol.asyncIterator]())).toEqual([0])
    expect(hung.seen.cancelled).toBe(false)
    await Bun.sleep(small.maxMs + 30)
    expect(hung.seen.cancelled).toBe(true)
    // An abort of the signal while the rest is read: cancelled at once.
    const ac = new AbortController()
    const aborted = bodyOf([frames(0)], { hang: true })
    expect(await drain(sseItems(aborted.body, ac.signal, numbers())[Symbol.asyncIterator]())).toEqual([0])
    ac.abort(new Error('shutdown'))
    expect(aborted.seen.cancelled).toBe(true)
  })

  test('a long run of reads that complete nothing (comments, parts of an event) is waited out by one answer', async () => {
    const pieces = [frames(1), ...Array.from({ length: 1_998 }, () => ': ping\n\n'), 'da', 'ta: 2\n', '\n', frames(0)]
    const { body, seen } = bodyOf(pieces)
    const it = iterate(body, numbers())
    expect(await it.next()).toEqual({ done: false, value: 1 })
    const second = it.next()
    const overlapping = it.next() // asked while the reads are still going on: answered after the second
    expect(await second).toEqual({ done: false, value: 2 })
    expect(await overlapping).toEqual({ done: false, value: 0 })
    // 2,003 reads for the events, and one after the end event, the drain's, which finds the body's end.
    expect(seen.reads).toBe(2_004)
  })

  test('an abort, or return(), in the middle of such a run ends it', async () => {
    // Pings as a network body delivers them: each read answered by a later turn of the event loop.
    const pings = () => new ReadableStream<Uint8Array>({
      async pull(c) {
        await Bun.sleep(0)
        c.enqueue(enc.encode(': ping\n\n'))
      },
    }, new CountQueuingStrategy({ highWaterMark: 0 }))
    const ac = new AbortController()
    const pending = iterate(pings(), numbers(), ac.signal).next()
    setTimeout(() => ac.abort(new Error('deadline')), 20)
    await expect(pending).rejects.toThrow('mapped: deadline')

    const it = iterate(pings(), numbers())
    const waiting = it.next()
    await Bun.sleep(20)
    await it.return!()
    expect(await waiting).toEqual({ done: true, value: undefined })
  })

  test('calls to next() that overlap are answered in order', async () => {
    const { body } = bodyOf([frames(1), frames(2), frames(3, 0)])
    const it = iterate(body, numbers())
    const got = await Promise.all([it.next(), it.next(), it.next(), it.next(), it.next()])
    expect(got.map((r) => (r.done ? 'done' : r.value))).toEqual([1, 2, 3, 0, 'done'])
  })

  test('the items of a body are iterated once', () => {
    const items = sseItems(bodyOf([]).body, new AbortController().signal, numbers())
    items[Symbol.asyncIterator]()
    expect(() => items[Symbol.asyncIterator]()).toThrow('iterated once')
  })
})

describe('how it ends', () => {
  test('a clean end of the body: cutOff decides whether it was cut off', async () => {
    expect(await drain(iterate(bodyOf([frames(1, 2)]).body, numbers({ cutOff: () => null })))).toEqual([1, 2])
    const spec = numbers()
    expect(await drain(iterate(bodyOf([frames(1, 2)]).body, spec))).toEqual([1, 2, 'error: mapped: cut off'])
    expect(spec.failures.map(String)).toEqual(['Error: cut off'])
  })

  test('an error from step comes after the items of the events before it in the same read, once', async () => {
    const spec = numbers()
    const { body, seen } = bodyOf([frames(1), frames(2, -1, 3), frames(4)])
    const it = iterate(body, spec)
    expect(await drain(it)).toEqual([1, 2, 'error: mapped: bad -1'])
    expect(await it.next()).toEqual({ done: true, value: undefined })
    expect(seen.cancelled).toBe(true)
    expect(spec.failures.length).toBe(1)
  })

  test('calls that overlap a failure: it goes to the one it answers, the calls after it see the end', async () => {
    const it = iterate(bodyOf([frames(1)], { error: new Error('reset') }).body, numbers())
    const got = await Promise.allSettled([it.next(), it.next(), it.next()])
    expect(got.map((r) => (r.status === 'rejected' ? String(r.reason) : r.value.done ? 'done' : r.value.value)))
      .toEqual([1, 'Error: mapped: reset', 'done'])
  })

  test('a failed read comes after the items already read, mapped by failure', async () => {
    const { body } = bodyOf([frames(1, 2)], { error: new Error('reset') })
    const it = iterate(body, numbers())
    expect((await it.next()).value).toBe(1)
    expect(it.takeBuffered()).toEqual([2])
    await expect(it.next()).rejects.toThrow('mapped: reset')
  })

  test('an abort during a pending read ends it at once with the abort reason, and cancels the body', async () => {
    const ac = new AbortController()
    const { body, seen } = bodyOf([frames(1)], { hang: true })
    const it = iterate(body, numbers(), ac.signal)
    expect((await it.next()).value).toBe(1)
    const pending = it.next()
    const t0 = performance.now()
    ac.abort(new Error('client gone'))
    await expect(pending).rejects.toThrow('mapped: client gone')
    expect(performance.now() - t0).toBeLessThan(50)
    expect(seen.cancelled).toBe(true)
  })

  test('a signal aborted before the first read: the reason, and the body is cancelled unread', async () => {
    const ac = new AbortController()
    ac.abort(new Error('too late'))
    const { body, seen } = bodyOf([frames(1, 0)])
    expect(await drain(iterate(body, numbers(), ac.signal))).toEqual(['error: mapped: too late'])
    expect(seen).toEqual({ reads: 0, cancelled: true })
  })

  test('return() stops reading and cancels the body; later calls see the end', async () => {
    const { body, seen } = bodyOf([frames(1, 2), frames(3)])
    const it = iterate(body, numbers())
    expect((await it.next()).value).toBe(1)
    expect(await it.return!()).toEqual({ done: true, value: undefined })
    expect(seen.cancelled).toBe(true)
    expect(it.takeBuffered()).toEqual([])
    expect(await it.next()).toEqual({ done: true, value: undefined })
  })

  test('for await … break releases the body', async () => {
    const { body, seen } = bodyOf([frames(1, 2), frames(3)])
    for await (const n of sseItems(body, new AbortController().signal, numbers())) if (n === 1) break
    expect(seen.cancelled).toBe(true)
  })

  test('an event that never ends is an error once it passes MAX_EVENT_CHARS, not unbounded memory', async () => {
    const chunk = enc.encode('data: ' + 'x'.repeat(1024 * 1024))
    let sent = 0
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        sent += chunk.length
        c.enqueue(chunk)
      },
    })
    expect(await drain(iterate(body, numbers()))).toEqual([`error: mapped: SSE event larger than ${MAX_EVENT_CHARS} characters`])
    expect(sent).toBeLessThan(MAX_EVENT_CHARS + 4 * chunk.length)
  })
})
