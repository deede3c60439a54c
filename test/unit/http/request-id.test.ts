import { expect, test } from 'bun:test'
import { requestIdFor } from '../../../src/http/request-id.ts'

const req = (id?: string) => new Request('http://gw.test/v1/models', { headers: id === undefined ? {} : { 'x-request-id': id } })

test.each([
  ['a well-formed client id is echoed', 'abc-123_X.y:z', 'abc-123_X.y:z'],
  ['an id with a space is replaced', 'a b', null],
  ['an id of 129 characters is replaced', 'x'.repeat(129), null],
  ['an empty id is replaced', '', null],
  ['no id: one is made', undefined, null],
] as const)('%s', (_, sent, echoed) => {
  const id = requestIdFor(req(sent))
  if (echoed !== null) expect(id).toBe(echoed)
  else expect(id).toMatch(/^req_[0-9a-f]{12}7[0-9a-f]{3}[89ab][0-9a-f]{15}$/) // UUID version 7, variant 10
})

test('made ids sort by the time they were made (they are an indexed column of the usage rows)', async () => {
  const ids: string[] = []
  for (let i = 0; i < 5; i++) {
    ids.push(requestIdFor(req()))
    await Bun.sleep(2)
  }
  expect([...ids].sort()).toEqual(ids)
  expect(new Set(ids).size).toBe(5)
})
