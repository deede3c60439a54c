/** flattenBatches: items one at a time through next(), or the rest of the current batch through takeBuffered(). */
import { describe, expect, test } from 'bun:test'
import { canTakeBuffered, flattenBatches, mapBatches } from '../../../src/providers/batches.ts'

async function* batches<T>(list: T[][], after?: Error): AsyncGenerator<T[]> {
  for (const b of list) yield b
  if (after) throw after
}

test('next() walks every item of every batch in order, then ends', async () => {
  const got: number[] = []
  for await (const x of flattenBatches(batches([[1, 2, 3], [4], [5, 6]]))) got.push(x)
  expect(got).toEqual([1, 2, 3, 4, 5, 6])
})

test('takeBuffered() hands over the rest of the current batch without waiting, and never more', async () => {
  const it = flattenBatches(batches([[1, 2, 3], [4, 5]]))[Symbol.asyncIterator]()
  expect(canTakeBuffered(it)).toBe(true)
  expect(it.takeBuffered()).toEqual([]) // nothing read yet
  expect(await it.next()).toEqual({ done: false, value: 1 })
  expect(it.takeBuffered()).toEqual([2, 3])
  expect(it.takeBuffered()).toEqual([])
  expect(await it.next()).toEqual({ done: false, value: 4 })
  expect(await it.next()).toEqual({ done: false, value: 5 })
  expect(it.takeBuffered()).toEqual([])
  expect(await it.next()).toEqual({ done: true, value: undefined })
})

test('an error after a batch comes after its items', async () => {
  const it = flattenBatches(batches([[1, 2]], new Error('cut')))[Symbol.asyncIterator]()
  expect((await it.next()).value).toBe(1)
  expect(it.takeBuffered()).toEqual([2])
  await expect(it.next()).rejects.toThrow('cut')
})

test('return() stops the source (its finally runs: the upstream body is released)', async () => {
  let released = false
  async function* source(): AsyncGenerator<number[]> {
    try {
      yield [1, 2]
      yield [3]
    } finally {
      released = true
    }
  }
  for await (const x of flattenBatches(source())) if (x === 1) break
  expect(released).toBe(true)
})

test('a plain async iterator cannot take buffered items', () => {
  expect(canTakeBuffered((async function* () {})())).toBe(false)
})

describe('mapBatches', () => {
  /** The batches, then `error: <message>` if the generator threw. */
  const collect = async (g: AsyncGenerator<number[]>) => {
    const got: Array<number[] | string> = []
    try {
      for await (const b of g) got.push(b)
    } catch (e) {
      got.push(`error: ${(e as Error).message}`)
    }
    return got
  }
  const double = (e: number, out: number[]) => {
    if (e < 0) throw new Error(`bad ${e}`)
    out.push(e, e)
    return e === 0
  }

  test('one batch out per batch in; an event that makes nothing leaves no empty batch', async () => {
    expect(await collect(mapBatches(batches([[1, 2], [3]]), double))).toEqual([[1, 1, 2, 2], [3, 3]])
    expect(await collect(mapBatches(batches([[5]]), (_: number, _out: number[]) => false))).toEqual([])
  })

  test('an error comes after the items of the events before it in its batch', async () => {
    expect(await collect(mapBatches(batches([[1], [2, -1, 3]]), double))).toEqual([[1, 1], [2, 2], 'error: bad -1'])
    expect(await collect(mapBatches(batches([[-2, 4]]), double))).toEqual(['error: bad -2'])
  })

  test('an event that ends the stream: its items are the last, nothing after it is read, the source is released', async () => {
    let released = false
    let readAfter = false
    async function* source(): AsyncGenerator<number[]> {
      try {
        yield [1, 0, 7]
        readAfter = true
        yield [9]
      } finally {
        released = true
      }
    }
    expect(await collect(mapBatches(source(), double))).toEqual([[1, 1, 0, 0]])
    expect([readAfter, released]).toEqual([false, true])
  })
})
