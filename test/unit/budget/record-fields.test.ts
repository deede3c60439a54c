/**
 * Usage records in the Redis ledger stream: `requestId` plus the record as one JSON field; the optional client
 * request id is written only when set; entries in the older one-field-per-column layout still parse.
 */
import { expect, test } from 'bun:test'
import { fieldsToRecord, recordToFields } from '../../../src/budget/scripts.ts'
import { usage } from './ledger-contract.ts'

const entry = (fields: string[]) => ['period', 'total', 'cost', '5', ...fields]

/** The layout gateways wrote before `rec`: one field per column. */
const columns = (r: object) => Object.entries(r).flatMap(([k, v]) => [k, String(v)])

test('a record with a client request id round-trips', () => {
  const r = { ...usage('t', 'r1', 5, 1000), clientRequestId: 'req_abc' }
  expect(fieldsToRecord(entry(recordToFields(r)))).toEqual({ periodKey: 'total', record: r })
})

test('four fields: requestId first (the recovery reads it by name), then the record as JSON', () => {
  const fields = recordToFields(usage('t', 'r9', 5, 1000))
  expect(fields.length).toBe(4)
  expect(fields.slice(0, 3)).toEqual(['requestId', 'r9', 'rec'])
  expect(JSON.parse(fields[3]!)).toMatchObject({ requestId: 'r9', tenantId: 't', costUsdMicros: 5 })
})

test.each([undefined, null])('no client request id (%p): none written, none read back', (clientRequestId) => {
  const r = { ...usage('t', 'r2', 5, 1000), clientRequestId }
  const fields = recordToFields(r)
  expect(fields.join(' ')).not.toContain('clientRequestId')
  expect(fieldsToRecord(entry(fields))!.record).toEqual(usage('t', 'r2', 5, 1000))
})

test('an entry in the older per-column layout still parses, with or without the optional field', () => {
  const r = usage('t', 'r3', 5, 1000)
  expect(fieldsToRecord(entry(columns(r)))).toEqual({ periodKey: 'total', record: r })
  const withId = { ...r, clientRequestId: 'req_x' }
  expect(fieldsToRecord(entry(columns(withId)))!.record).toEqual(withId)
})

test.each([
  ['a missing required column', entry(columns(usage('t', 'r4', 5, 1000)).slice(2))],
  ['no period', columns(usage('t', 'r5', 5, 1000))],
  ['rec that is not JSON', entry(['requestId', 'r6', 'rec', '{nope'])],
  ['rec that is not an object', entry(['requestId', 'r7', 'rec', '42'])],
  ['rec missing a field', entry(['requestId', 'r8', 'rec', JSON.stringify({ requestId: 'r8' })])],
  ['a non-numeric cost', entry(['requestId', 'r9', 'rec', JSON.stringify({ ...usage('t', 'r9', 5, 1000), costUsdMicros: 'x' })])],
])('not a usage record: %s', (_, fields) => {
  expect(fieldsToRecord(fields)).toBeNull()
})
