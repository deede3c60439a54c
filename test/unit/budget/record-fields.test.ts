/** Usage records in the Redis ledger stream: the optional client request id is written only when set and read when present. */
import { expect, test } from 'bun:test'
import { fieldsToRecord, recordToFields } from '../../../src/budget/scripts.ts'
import { usage } from './ledger-contract.ts'

const entry = (fields: string[]) => ['period', 'total', 'cost', '5', ...fields]

test('a record with a client request id round-trips', () => {
  const r = { ...usage('t', 'r1', 5, 1000), clientRequestId: 'req_abc' }
  expect(fieldsToRecord(entry(recordToFields(r)))).toEqual({ periodKey: 'total', record: r })
})

test.each([undefined, null])('no client request id (%p): no field written, none read back', (clientRequestId) => {
  const r = { ...usage('t', 'r2', 5, 1000), clientRequestId }
  const fields = recordToFields(r)
  expect(fields).not.toContain('clientRequestId')
  expect(fieldsToRecord(entry(fields))!.record).toEqual(usage('t', 'r2', 5, 1000))
})

test('an entry written by an older gateway (no such field) still parses; a missing required field does not', () => {
  const old = recordToFields(usage('t', 'r3', 5, 1000))
  expect(fieldsToRecord(entry(old))!.record.requestId).toBe('r3')
  expect(fieldsToRecord(entry(old.slice(2)))).toBeNull()
})
