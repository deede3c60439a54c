/**
 * Hostile and broken input: every answer is an OpenAI-shaped 4xx JSON error envelope (never a 500, never a
 * crash). In-process for the schema and fuzz runs; a real gateway process over raw TCP for what only a socket
 * can send (lying/absent content-length, endless chunked bodies, odd x-request-id bytes).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { MAX_MESSAGES } from '../../../src/http/validate.ts'
import { buildTestGateway, chat, testConfig, type TestGateway } from '../../helpers/app.ts'
import { spawnGateway, type GatewayProcess } from '../../helpers/gateway-process.ts'
import { cleanupTempDirs, createKey, createTenant, tempDir, writeToml } from '../reliability/lib.ts'
import { rawHttp } from './raw-http.ts'

const MAX_BODY = 64 * 1024
let g: TestGateway
let key: string

beforeAll(async () => {
  g = await buildTestGateway({ config: testConfig(`[server]\nmax_body_bytes = ${MAX_BODY}\n[providers.mock]\nkind = "mock"\n`) })
  key = await g.addTenant({ id: 'fuzz' })
  await g.warm()
})

const post = (body: string | Uint8Array | null, headers: Record<string, string> = {}) =>
  g.app.handle(new Request('http://localhost/v1/chat/completions', {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers }, body,
  }))

/** The OpenAI error envelope with our request id; returns the parsed error. */
async function expectEnvelope(res: Response, status: number, code?: string): Promise<Record<string, unknown>> {
  expect(res.status).toBe(status)
  expect(res.headers.get('content-type')).toContain('application/json')
  const body = (await res.json()) as { error: Record<string, unknown> }
  expect(Object.keys(body)).toEqual(['error'])
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'request_id', 'type'])
  expect(typeof body.error.message).toBe('string')
  expect(typeof body.error.type).toBe('string')
  expect(body.error.request_id).toBe(res.headers.get('x-request-id'))
  if (code) expect(body.error.code).toBe(code)
  return body.error
}

describe('invalid JSON → 400 invalid_request_error', () => {
  test.each(['', '{', '{"model":', 'null', '[]', '"a string"', '42', 'NaN', '{"a":1}{"b":2}', "{'model':'x'}", '\u0000', '{"model":"mock-echo","messages":[{"role":"user","content":"x"}],}'])('%j', async (text) => {
    await expectEnvelope(await post(text), 400, 'invalid_request_error')
  })
})

describe('wrong types → 400 with the offending param', () => {
  test.each([
    [{ model: 1, messages: [{ role: 'user', content: 'x' }] }, 'model'],
    [{ model: '', messages: [{ role: 'user', content: 'x' }] }, 'model'],
    [{ model: 'x'.repeat(300), messages: [{ role: 'user', content: 'x' }] }, 'model'],
    [{ model: 'mock-echo' }, 'messages'],
    [{ model: 'mock-echo', messages: {} }, 'messages'],
    [{ model: 'mock-echo', messages: [] }, 'messages'],
    [{ model: 'mock-echo', messages: [1] }, 'messages[0]'],
    [{ model: 'mock-echo', messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
    [{ model: 'mock-echo', messages: [{ role: 'user', content: 5 }] }, 'messages[0].content'],
    [{ model: 'mock-echo', messages: [{ role: 'user', content: [1, 2] }] }, 'messages[0].content'],
    [chat('x', { stream: 'yes' }), 'stream'],
    [chat('x', { stream_options: 'include' }), 'stream_options'],
    [chat('x', { max_tokens: -1 }), 'max_tokens'],
    [chat('x', { max_tokens: 1.5 }), 'max_tokens'],
    [chat('x', { max_tokens: '100' }), 'max_tokens'],
    [chat('x', { max_completion_tokens: 0 }), 'max_completion_tokens'],
    [chat('x', { temperature: 3 }), 'temperature'],
    [chat('x', { top_p: -0.1 }), 'top_p'],
    [chat('x', { n: 2 }), 'n'],
    [chat('x', { tools: {} }), 'tools'],
  ])('%j', async (body, param) => {
    const e = await expectEnvelope(await post(JSON.stringify(body)), 400, 'invalid_request_error')
    expect(e.param).toBe(param)
  })
})

describe('sizes and encodings', () => {
  test('too many messages → 400 (param messages); exactly the limit is served', async () => {
    // The default 4 MiB body limit, so the count (not the size) is what is refused.
    const big = await buildTestGateway()
    const bigKey = await big.addTenant({ id: 'many' })
    await big.warm()
    const post = (text: string) => big.request('/v1/chat/completions', { body: text, key: bigKey })
    const many = (n: number) => JSON.stringify({ model: 'mock-echo', messages: Array.from({ length: n }, () => ({ role: 'user', content: 'a' })) })
    const e = await expectEnvelope(await post(many(MAX_MESSAGES + 1)), 400, 'invalid_request_error')
    expect(e.param).toBe('messages')
    expect((await post(many(MAX_MESSAGES))).status).toBe(200)
  })

  test('huge body with an honest content-length → 413 request_too_large', async () => {
    const big = JSON.stringify(chat('x'.repeat(MAX_BODY * 4)))
    await expectEnvelope(await post(big, { 'content-length': String(big.length) }), 413, 'request_too_large')
  })

  test('huge streamed body without content-length → 413, and the gateway stops reading soon after the limit', async () => {
    let pulled = 0
    const piece = new Uint8Array(16 * 1024).fill(0x20)
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (pulled >= 64 * 1024 * 1024) return c.close()
        pulled += piece.byteLength
        c.enqueue(piece)
      },
    })
    const res = await g.app.handle(new Request('http://localhost/v1/chat/completions', {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: stream, duplex: 'half',
    } as RequestInit))
    await expectEnvelope(res, 413, 'request_too_large')
    expect(pulled).toBeLessThan(MAX_BODY + 4 * piece.byteLength)
  })

  test.each([
    ['lone continuation byte', [0x80]],
    ['overlong encoding', [0xc0, 0xaf]],
    ['truncated 3-byte sequence', [0xe2, 0x82]],
    ['UTF-16 surrogate encoded as UTF-8', [0xed, 0xa0, 0x80]],
    ['0xFF', [0xff, 0xfe]],
  ])('invalid UTF-8 (%s) inside a string → 400', async (_n, bytes) => {
    const pre = new TextEncoder().encode('{"model":"mock-echo","messages":[{"role":"user","content":"a')
    const post_ = new TextEncoder().encode('b"}]}')
    const body = new Uint8Array([...pre, ...bytes, ...post_])
    const e = await expectEnvelope(await post(body), 400, 'invalid_request_error')
    expect(String(e.message)).toContain('UTF-8')
  })
})

describe('models', () => {
  test.each(['no-such-model', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'mock-echo ', 'MOCK-ECHO', '../mock-echo'])('unknown model %j → 404 model_not_found', async (model) => {
    const e = await expectEnvelope(await post(JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }] })), 404, 'model_not_found')
    expect(e.param).toBe('model')
  })
})

describe('x-request-id (fetch-legal values)', () => {
  test('a well-formed id is echoed in the header and the error body', async () => {
    const res = await post('{', { 'x-request-id': 'client-id_1.2:3' })
    expect(res.headers.get('x-request-id')).toBe('client-id_1.2:3')
    expect((await expectEnvelope(res, 400)).request_id).toBe('client-id_1.2:3')
  })

  test.each([
    ['space', 'a b'], ['quote', 'a"b'], ['html', '<script>alert(1)</script>'], ['semicolon', 'a;b=c'], ['comma', 'a,b'],
    ['percent-encoded CRLF', 'abc%0d%0aSet-Cookie:%20x=1'], ['129 chars', 'a'.repeat(129)], ['8 KiB', 'b'.repeat(8192)], ['tab', 'a\tb'],
  ])('odd value (%s) is replaced by a generated id', async (_n, value) => {
    const res = await post('{', { 'x-request-id': value })
    const id = res.headers.get('x-request-id')!
    expect(id).toMatch(/^req_[0-9a-f]{32}$/)
    expect((await expectEnvelope(res, 400)).request_id).toBe(id)
  })
})

describe('fast-check fuzz over request bodies', () => {
  /** Any outcome but a 5xx; a 4xx must be the envelope. A mutated body may be valid: then 200 is fine. */
  async function check(res: Response): Promise<void> {
    if (res.status >= 400) {
      expect(res.status).toBeLessThan(500)
      await expectEnvelope(res, res.status)
    } else {
      expect(res.status).toBe(200)
      await res.text()
    }
  }

  test('arbitrary JSON documents', async () => {
    await fc.assert(fc.asyncProperty(fc.json({ maxDepth: 4 }), async (text) => {
      await check(await post(text))
    }), { numRuns: 300 })
  })

  test('arbitrary JSON objects carrying chat-request field names', async () => {
    const field = fc.constantFrom('model', 'messages', 'stream', 'stream_options', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'n', 'tools', 'response_format', 'tool_choice', 'user', '__proto__', 'constructor')
    await fc.assert(fc.asyncProperty(fc.dictionary(field, fc.jsonValue({ maxDepth: 3 })), async (obj) => {
      await check(await post(JSON.stringify(obj)))
    }), { numRuns: 300 })
  })

  test('mutated valid bodies (a field replaced, removed or added, a message mangled)', async () => {
    const valid = () => ({ model: 'mock-echo', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello there' }], stream: false, max_tokens: 5 }) as Record<string, unknown>
    const keyArb = fc.constantFrom('model', 'messages', 'stream', 'max_tokens', 'stream_options', 'temperature', 'tools', 'n', 'top_p', 'max_completion_tokens')
    const mutation = fc.oneof(
      fc.record({ op: fc.constant('set' as const), key: keyArb, value: fc.jsonValue({ maxDepth: 3 }) }),
      fc.record({ op: fc.constant('delete' as const), key: keyArb, value: fc.constant(null) }),
      fc.record({ op: fc.constant('message' as const), key: fc.constantFrom('role', 'content', 'name', 'tool_calls', 'tool_call_id'), value: fc.jsonValue({ maxDepth: 3 }) }),
      fc.record({ op: fc.constant('stream' as const), key: fc.constant('stream'), value: fc.jsonValue({ maxDepth: 2 }) }),
    )
    await fc.assert(fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (muts) => {
      const body = valid()
      for (const m of muts) {
        if (m.op === 'set') body[m.key] = m.value
        else if (m.op === 'delete') delete body[m.key]
        else if (m.op === 'message') (body.messages as Record<string, unknown>[] | undefined)?.[1] && Array.isArray(body.messages) && typeof body.messages[1] === 'object' && body.messages[1] !== null && ((body.messages[1] as Record<string, unknown>)[m.key] = m.value)
        else { body.stream = true; body.stream_options = { include_usage: m.value } }
      }
      await check(await post(JSON.stringify(body)))
    }), { numRuns: 400 })
  })

  test('raw byte strings (not even JSON)', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 256 }), async (bytes) => {
      await check(await post(bytes))
    }), { numRuns: 200 })
  })
})

// ---- Over a real socket: what fetch cannot send. ----
describe('raw TCP against a gateway process', () => {
  let gw: GatewayProcess
  let pkey: string
  beforeAll(async () => {
    const env = { GATEWAY_DATA_DIR: tempDir() }
    await createTenant(env, 'raw')
    pkey = (await createKey(env, 'raw')).key
    gw = await spawnGateway(['serve', '--config', writeToml(`[server]\nmax_body_bytes = ${MAX_BODY}\n[providers.mock]\nkind = "mock"\n`)], { env })
    await gw.waitReady()
  })
  afterAll(async () => {
    await gw?.stop('SIGKILL')
    cleanupTempDirs()
  })

  const head = (extra: string[] = []) => ['POST /v1/chat/completions HTTP/1.1', `host: 127.0.0.1:${gw.port}`, `authorization: Bearer ${pkey}`, 'content-type: application/json', 'connection: close', ...extra]
  const good = JSON.stringify(chat('hello raw'))
  const envelope = (body: string) => JSON.parse(body) as { error: { code: string; message: string; request_id: string } }

  test('sanity: an honest request over the raw socket is served', async () => {
    const r = await rawHttp({ port: gw.port, head: head([`content-length: ${good.length}`]), body: good })
    expect(r.status).toBe(200)
    expect(r.body).toContain('Echo: hello raw')
  })

  test('content-length claims more than the limit, no body follows: 413 at once, without waiting for the body', async () => {
    const t0 = performance.now()
    const r = await rawHttp({ port: gw.port, head: head(['content-length: 104857600']), timeoutMs: 5000 })
    expect(r.status).toBe(413)
    expect(performance.now() - t0).toBeLessThan(2000)
    expect(envelope(r.body).error.code).toBe('request_too_large')
  })

  test('content-length claims less than is sent: only the declared bytes are the body (400), the rest is not obeyed', async () => {
    const r = await rawHttp({ port: gw.port, head: head(['content-length: 20']), body: good + 'GET /v1/models HTTP/1.1\r\n\r\n' })
    expect(r.status).toBe(400)
    expect(envelope(r.body).error.code).toBe('invalid_request_error')
  })

  test.each([
    ['content-length: 0', ['content-length: 0']],
    ['no content-length and no body', []],
    ['an empty chunked body', ['transfer-encoding: chunked']],
  ])('%s: 400, the body is empty', async (_, extra) => {
    const r = await rawHttp({ port: gw.port, head: head(extra), body: extra[0] === 'transfer-encoding: chunked' ? '0\r\n\r\n' : undefined })
    expect(r.status).toBe(400)
    const { error } = envelope(r.body)
    expect(error.code).toBe('invalid_request_error')
    expect(error.message).toBe('Request body is empty; expected JSON.')
  })

  test('content-length larger than the limit while the body is streamed: refused before the body is all sent', async () => {
    const total = 32 * 1024 * 1024
    const chunk = new Uint8Array(64 * 1024).fill(0x20)
    const r = await rawHttp({ port: gw.port, head: head([`content-length: ${total}`]), endless: { chunk, maxBytes: total }, timeoutMs: 10_000 })
    expect(r.status).toBe(413)
    expect(r.bodyBytesSentAtResponse).toBeLessThan(total)
  })

  test('absent content-length (chunked, endless): 413 while the client is still sending, far below the total', async () => {
    const total = 64 * 1024 * 1024
    const payload = new Uint8Array(16 * 1024).fill(0x20)
    const framed = new Uint8Array([...new TextEncoder().encode(`${payload.byteLength.toString(16)}\r\n`), ...payload, 13, 10])
    const r = await rawHttp({ port: gw.port, head: head(['transfer-encoding: chunked']), endless: { chunk: framed, maxBytes: total }, timeoutMs: 15_000 })
    expect(r.status).toBe(413)
    expect(r.head.toLowerCase()).toContain('content-type: application/json')
    expect(envelope(r.body).error.code).toBe('request_too_large')
    // "Refuse before buffering everything": the answer came while at most a few MB had been pushed.
    expect(r.bodyBytesSentAtResponse).toBeLessThan(8 * 1024 * 1024)
  }, 30_000)

  test('x-request-id with a "header injection" (CRLF + Set-Cookie): the second line is just another request header; nothing is reflected', async () => {
    const r = await rawHttp({ port: gw.port, head: head([`content-length: 1`, 'x-request-id: abc', 'set-cookie: injected=1', 'x-evil: yes']), body: '{' })
    expect(r.status).toBe(400)
    expect(r.head.toLowerCase()).not.toContain('set-cookie')
    expect(r.head.toLowerCase()).not.toContain('x-evil')
  })

  test('x-request-id with a bare CR inside the value: rejected by the parser or replaced; never reflected', async () => {
    const headBytes = new TextEncoder().encode(head(['content-length: 1']).join('\r\n') + '\r\nx-request-id: abc\rSet-Cookie: injected=1\r\n\r\n{')
    const r = await rawHttp({ port: gw.port, head: headBytes })
    expect(r.status === null || (r.status >= 400 && r.status < 500)).toBe(true)
    expect(r.head.toLowerCase()).not.toContain('set-cookie')
    expect(r.head).not.toContain('injected')
  })

  test.each([
    ['latin-1 byte', new Uint8Array([0x61, 0xe9, 0x62])],
    ['UTF-8 emoji', new TextEncoder().encode('id-😀')],
    ['NUL byte', new Uint8Array([0x61, 0x00, 0x62])],
    ['DEL byte', new Uint8Array([0x61, 0x7f, 0x62])],
  ])('x-request-id with a %s: a generated id (or a parser 400), the process stays up', async (_n, value) => {
    const pre = new TextEncoder().encode(head(['content-length: 1']).join('\r\n') + '\r\nx-request-id: ')
    const r = await rawHttp({ port: gw.port, head: new Uint8Array([...pre, ...value, ...new TextEncoder().encode('\r\n\r\n{')]) })
    expect(r.status === null || (r.status >= 400 && r.status < 500)).toBe(true)
    if (r.status === 400 && r.headers['x-request-id']) expect(r.headers['x-request-id']).toMatch(/^req_[0-9a-f]{32}$/)
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200)
  })

  test('x-request-id of 64 KiB: refused or replaced, never echoed; the process stays up', async () => {
    const r = await rawHttp({ port: gw.port, head: head(['content-length: 1', `x-request-id: ${'x'.repeat(64 * 1024)}`]), body: '{' })
    expect(r.status === null || (r.status >= 400 && r.status < 500)).toBe(true)
    expect(r.head.length).toBeLessThan(4096)
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200)
  })

  test('after all of it: the process is alive and serves normally', async () => {
    expect(gw.proc.exitCode).toBeNull()
    const r = await rawHttp({ port: gw.port, head: head([`content-length: ${good.length}`]), body: good })
    expect(r.status).toBe(200)
    expect(gw.output()).not.toContain('"unhandled error"')
  })
})
