/**
 * What the upstream receives and what comes back from it: the provider key (never the client's gateway key)
 * authenticates upstream, the client body passes through with the gateway's overrides, and no upstream error
 * body — even one that echoes the provider key — leaks that key to the client.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { anthropicTextStream, type FakeReply, openaiTextStream, sseReply } from '../../helpers/fake-upstream.ts'
import { ANTHROPIC_PROVIDER_KEY, auditSse, type Kind, MODELS, OPENAI_PROVIDER_KEY, type ProxyEnv, startProxyEnv } from './harness.ts'

let env: ProxyEnv

beforeAll(async () => {
  env = await startProxyEnv()
})

afterAll(async () => {
  await env.stop()
})

/** Sends one request through the gateway and returns it together with what the fake upstream recorded. */
async function roundTrip(body: Record<string, unknown>, headers: Record<string, string>) {
  const index = env.up.requests.length
  const res = await fetch(`${env.http.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body),
  })
  const text = await res.text()
  return { res, text, upstream: env.up.requests[index] }
}

describe('OpenAI upstream request shape', () => {
  const authVariants: Array<[string, (k: string) => Record<string, string>]> = [
    ['Authorization: Bearer', (k) => ({ authorization: `Bearer ${k}` })],
    ['x-api-key', (k) => ({ 'x-api-key': k })],
  ]

  test.each(authVariants)('client auth via %s: provider key upstream as Bearer; the gateway key appears nowhere upstream', async (_n, auth) => {
    for (const stream of [false, true]) {
      const { res, upstream } = await roundTrip({
        model: MODELS.openai.client,
        messages: [{ role: 'user', content: 'shape check' }],
        stream,
        metadata: { trace: 'abc' },
        some_future_param: { nested: [1, 2, 3] },
        temperature: 0.3,
        stream_options: stream ? { include_usage: false } : undefined,
      }, { ...auth(env.key), 'x-client-header': 'should-not-matter', cookie: 'session=client-cookie' })
      expect(res.status).toBe(200)
      expect(upstream).toBeDefined()
      const u = upstream!
      expect(u.path).toBe('/v1/chat/completions')
      expect(u.headers.authorization).toBe(`Bearer ${OPENAI_PROVIDER_KEY}`)
      const everything = JSON.stringify(u.headers) + JSON.stringify(u.body)
      expect(everything).not.toContain(env.key)
      expect(u.headers.cookie).toBeUndefined()
      const b = u.body as Record<string, any>
      expect(b.model).toBe(MODELS.openai.upstream)
      expect(b.some_future_param).toEqual({ nested: [1, 2, 3] })
      expect(b.metadata).toEqual({ trace: 'abc' })
      expect(b.temperature).toBe(0.3)
      expect(b.messages).toEqual([{ role: 'user', content: 'shape check' }])
      if (stream) {
        expect(b.stream).toBe(true)
        expect(b.stream_options).toEqual({ include_usage: true })
      } else {
        expect(b.stream).toBeUndefined()
        expect(b.stream_options).toBeUndefined()
      }
    }
  })

  test('anthropic upstream: provider key in x-api-key, version header, no gateway key, model mapped', async () => {
    const { res, upstream } = await roundTrip(
      { model: MODELS.anthropic.client, messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }], max_tokens: 50 },
      { authorization: `Bearer ${env.key}` },
    )
    expect(res.status).toBe(200)
    const u = upstream!
    expect(u.path).toBe('/v1/messages')
    expect(u.headers['x-api-key']).toBe(ANTHROPIC_PROVIDER_KEY)
    expect(u.headers['anthropic-version']).toBeString()
    expect(u.headers.authorization).toBeUndefined()
    expect(JSON.stringify(u.headers) + JSON.stringify(u.body)).not.toContain(env.key)
    expect(u.body).toMatchObject({ model: MODELS.anthropic.upstream, system: 'be brief', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] })
  })
})

describe('upstream error bodies never leak the provider key', () => {
  const secretOf = (kind: Exclude<Kind, 'mock'>) => (kind === 'openai' ? OPENAI_PROVIDER_KEY : ANTHROPIC_PROVIDER_KEY)
  const leaky = (kind: Exclude<Kind, 'mock'>) => `Incorrect API key provided: ${secretOf(kind)}. Authorization: Bearer ${secretOf(kind)}; key=${secretOf(kind)}`
  const errorBody = (kind: Exclude<Kind, 'mock'>) => kind === 'openai'
    ? { error: { message: leaky(kind), type: 'invalid_request_error', param: null, code: 'invalid_api_key' } }
    : { type: 'error', error: { type: 'authentication_error', message: leaky(kind) } }

  const cases: Array<[string, Exclude<Kind, 'mock'>, boolean, (k: Exclude<Kind, 'mock'>) => FakeReply]> = []
  for (const kind of ['openai', 'anthropic'] as const) {
    for (const stream of [false, true]) {
      for (const status of [400, 401, 403, 429, 500, 503]) {
        cases.push([`${kind} HTTP ${status} JSON (stream=${stream})`, kind, stream, (k) => ({ kind: 'json', status, body: errorBody(k) })])
      }
      cases.push([`${kind} HTTP 502 text (stream=${stream})`, kind, stream, (k) => ({ kind: 'text', status: 502, body: `<html>bad gateway ${leaky(k)}</html>`, contentType: 'text/html' })])
      cases.push([`${kind} HTTP 401 bare error string (stream=${stream})`, kind, stream, (k) => ({ kind: 'json', status: 401, body: { error: leaky(k) } })])
    }
    cases.push([`${kind} mid-stream error event`, kind, true, (k) => sseReply(
      k === 'openai'
        ? `${openaiTextStream({ parts: ['a'], done: false }).split('\n\n').slice(0, 2).join('\n\n')}\n\ndata: ${JSON.stringify(errorBody(k))}\n\n`
        : `${anthropicTextStream({ parts: ['a'] }).split('event: content_block_stop')[0]}event: error\ndata: ${JSON.stringify(errorBody(k))}\n\n`,
    )])
  }

  test.each(cases)('%s: the client body has no trace of the key', async (_n, kind, stream, reply) => {
    env.up.program(reply(kind))
    const { res, text } = await roundTrip({ model: MODELS[kind].client, messages: [{ role: 'user', content: 'x' }], stream }, { authorization: `Bearer ${env.key}` })
    const secret = secretOf(kind)
    expect(text).not.toContain(secret)
    // Not even a recognisable fragment of the secret's distinctive tail.
    expect(text).not.toContain(secret.slice(-12))
    for (const [, v] of res.headers) expect(v).not.toContain(secret)
    if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
      const audit = auditSse(text, res.headers.get('x-request-id'))
      expect(audit.problems).toEqual([])
      expect(audit.outcome).toBe('error')
    } else {
      expect(res.status).toBeGreaterThanOrEqual(400)
      const body = JSON.parse(text) as { error: { request_id: string; code: string } }
      expect(body.error.request_id).toBe(res.headers.get('x-request-id')!)
    }
  })
})
