import { expect, test } from 'bun:test'
import { readJsonBody } from '../../../src/http/body.ts'
import { GatewayError } from '../../../src/errors.ts'
import { validateChatRequest } from '../../../src/http/validate.ts'

const ok = { model: 'm', messages: [{ role: 'user', content: 'hi' }] }

test.each([
  [null, 'body'],
  [[], 'body'],
  [{ messages: ok.messages }, 'model'],
  [{ model: 1, messages: ok.messages }, 'model'],
  [{ model: 'm' }, 'messages'],
  [{ model: 'm', messages: [] }, 'messages'],
  [{ model: 'm', messages: ['hi'] }, 'messages[0]'],
  [{ model: 'm', messages: [{ role: 'robot', content: 'x' }] }, 'messages[0].role'],
  [{ model: 'm', messages: [{ role: 'user', content: 5 }] }, 'messages[0].content'],
  [{ ...ok, stream: 'yes' }, 'stream'],
  [{ ...ok, max_tokens: 0 }, 'max_tokens'],
  [{ ...ok, max_tokens: 1.5 }, 'max_tokens'],
  [{ ...ok, temperature: 3 }, 'temperature'],
  [{ ...ok, n: 2 }, 'n'],
  [{ ...ok, tools: {} }, 'tools'],
  [{ ...ok, stream_options: 'x' }, 'stream_options'],
  [{ model: 'm', messages: Array.from({ length: 5000 }, () => ({ role: 'user', content: 'x' })) }, 'messages'],
])('%j is a 400 naming %s', (body, param) => {
  try {
    validateChatRequest(body)
    throw new Error('accepted')
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError)
    expect((e as GatewayError).status).toBe(400)
    expect((e as GatewayError).param).toBe(param)
  }
})

test('valid requests pass through with unknown fields intact', () => {
  const body = { ...ok, stream: true, seed: 7, response_format: { type: 'json_object' }, messages: [{ role: 'assistant', tool_calls: [] }, ...ok.messages] }
  expect(validateChatRequest(body)).toBe(body as never)
})

const post = (body: string | Uint8Array, headers: Record<string, string> = {}) =>
  new Request('http://localhost/x', { method: 'POST', body, headers })

test('body reader: JSON, bad JSON, invalid UTF-8, declared and actual oversize', async () => {
  expect(await readJsonBody(post('{"a":1}'), 100)).toEqual({ a: 1 })
  await expect(readJsonBody(post('{"a":'), 100)).rejects.toMatchObject({ status: 400 })
  await expect(readJsonBody(post(new Uint8Array([0x22, 0xff, 0x22])), 100)).rejects.toMatchObject({ status: 400, message: expect.stringContaining('UTF-8') })
  await expect(readJsonBody(post('x', { 'content-length': '1000' }), 100)).rejects.toMatchObject({ status: 413 })
  const stream = new ReadableStream({ pull(c) { c.enqueue(new Uint8Array(64)) } }) // endless: must stop reading
  await expect(readJsonBody(new Request('http://localhost/x', { method: 'POST', body: stream }), 1000)).rejects.toMatchObject({ status: 413 })
})

test.each([
  ['no body', () => new Request('http://localhost/x', { method: 'POST' })],
  ['content-length: 0', () => post('', { 'content-length': '0' })],
  ['an empty string', () => post('')],
  ['an empty stream', () => new Request('http://localhost/x', { method: 'POST', body: new ReadableStream({ start(c) { c.close() } }) })],
])('body reader: %s is an empty body, not bad JSON', async (_, request) => {
  await expect(readJsonBody(request(), 100)).rejects.toMatchObject({ status: 400, message: 'Request body is empty; expected JSON.' })
})
