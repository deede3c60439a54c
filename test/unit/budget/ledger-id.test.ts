import { expect, test } from 'bun:test'
import { newLedgerId } from '../../../src/budget/ledger-id.ts'

test('ledger ids are UUIDs of version 7, unique, and sort by the time they were made', async () => {
  const ids: string[] = []
  for (let i = 0; i < 5; i++) {
    ids.push(newLedgerId())
    await Bun.sleep(2)
  }
  for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  expect([...ids].sort()).toEqual(ids)
  expect(new Set(ids).size).toBe(5)
})
