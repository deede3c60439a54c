/**
 * Usage records in the Redis ledger stream: written one field per column (what every gateway in service reads);
 * the optional client request id is written only when set.
 */
import { expect, test } from 'bun:test'
import { fieldsToRecord, parseFieldList, recordToFields } from '../../../src/budget/scripts.ts'
import { usage } from './ledger-contract.ts'

const entry = (fields: string[]) => ['period', 'total', 'cost', '5', ...fields]

test('a record with a client request id round-trips', () => {
  const r = { ...usage('t', 'r1', 5, 1000), clientRequestId: 'req_abc' }
  expect(fieldsToRecord(entry(recordToFields(r)))).toEqual({ periodKey: 'total', record: r })
})

test('what gateways write: one field per column, requestId first, every field a gateway before this one requires', () => {
  const fields = recordToFields(usage('t', 'r9', 5, 1000))
  expect(fields.slice(0, 2)).toEqual(['requestId', 'r9'])
  const names = fields.filter((_, i) => i % 2 === 0)
  expect(names).toEqual(['requestId', 'tenantId', 'keyId', 'model', 'provider', 'promptTokens', 'completionTokens',
    'costUsdMicros', 'status', 'startedAt', 'durationMs'])
  expect(names).not.toContain('rec')
})

test('no client request id: none written, none read back', () => {
  for (const clientRequestId of [undefined, null]) {
    const r = { ...usage('t', 'r2', 5, 1000), clientRequestId }
    const fields = recordToFields(r)
    expect(fields.join(' ')).not.toContain('clientRequestId')
    expect(fieldsToRecord(entry(fields))!.record).toEqual(usage('t', 'r2', 5, 1000))
  }
})

test.each([
  ['a missing required column', entry(recordToFields(usage('t', 'r4', 5, 1000)).slice(2))],
  ['no period', recordToFields(usage('t', 'r5', 5, 1000))],
  ['the record as one JSON field (a layout no gateway writes)', entry(['requestId', 'r6', 'rec', JSON.stringify(usage('t', 'r6', 5, 1000))])],
  ['a non-numeric cost', entry(recordToFields({ ...usage('t', 'r9', 5, 1000), costUsdMicros: 'x' as never }))],
])('not a usage record: %s', (_, fields) => {
  expect(fieldsToRecord(fields)).toBeNull()
})

test.each([
  ['a JSON array of strings', '["period","total","cost","5"]', ['period', 'total', 'cost', '5']],
  ['escaped characters as Redis cjson writes them', '["model","a\\/b \\"q\\" \\\\ \\u00e9"]', ['model', 'a/b "q" \\ é']],
  ['not JSON', '["period"', null],
  ['an object (cjson encodes an empty table as {})', '{}', null],
  ['a number among the strings', '["cost",5]', null],
  ['not an array', '"period"', null],
] as const)('the field list ship-read.lua sends: %s', (_, json, expected) => {
  expect(parseFieldList(json)).toEqual(expected as string[] | null)
})

test('field values are well-formed UTF-16: a lone surrogate becomes U+FFFD (Redis cjson refuses an escaped one)', () => {
  const fields = recordToFields({ ...usage('t', 'r1', 5, 1000), model: 'a\ud800b\udc00c' })
  expect(fields[fields.indexOf('model') + 1]).toBe('a\ufffdb\ufffdc')
  expect(JSON.stringify(fields)).not.toContain('\\ud')
})
