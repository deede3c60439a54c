/** BatchCursor and flattenBatches: items one at a time through next(), or the rest of the current batch through takeBuffered(). */
import { describe, expect, test } from 'bun:test'
import { BatchCursor, canTakeBuffered, flattenBatches } from '../../../src/providers/batches.ts'

async function* batches<T>(list: T[][], after?: Error): AsyncGenerator<T[]> {
  for (const b of list) yield b
  if (after) throw after
}

test('next() walks every item of every batch in order, then ends', async () => {
  const got: number[] = []
  for await (const x of flattenBatches(batches([[1, 2, 3], [4], [5, 6]]))) got.push(x)
  expect(got).toEqual([1, 2, 3, 4, 5, 6])
})

test('BatchCursor: next() an item at a time, takeRest() the rest at once, and nothing twice', () => {
  const c = new BatchCursor<number>()
  expect([c.next(), c.takeRest()]).toEqual([null, []])
  c.load([1, 2, 3])
  expect(c.next()).toEqual({ done: false, value: 1 })
  expect([c.takeRest(), c.takeRest(), c.next()]).toEqual([[2, 3], [], null])
  const whole = [4, 5]
  c.load(whole)
  expect(c.takeRest()).toBe(whole) // a batch nobody took from is handed over as it is, not copied
  c.load([6])
  c.clear()
  expect(c.next()).toBeNull()
})

test('flattenBatches: takeBuffered() hands over the rest of the current batch without waiting', async () => {
  const it = flattenBatches(batches([[1, 2, 3], [4, 5]]))[Symbol.asyncIterator]()
  expect(canTakeBuffered(it)).toBe(true)
  expect(it.takeBuffered()).toEqual([]) // nothing read yet
  expect((await it.next()).value).toBe(1)
  expect(it.takeBuffered()).toEqual([2, 3])
  expect((await it.next()).value).toBe(4)
  expect(await it.next()).toEqual({ done: false, value: 5 })
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
